/*
 * support -- seed 003's two chats as a chanhost plugin: a client and the
 * publisher of an ad talk about the ad (/ws/chat/ad/<int:ad_id>/), and a
 * publisher talks with the admins (/ws/chat/support/<str:room_name>/,
 * room names publisher_<id>).  Wire protocol, settings and close codes:
 * plugins/support/README.md.
 *
 * Rooms (docs/api.md): ad:<ad_id>, registered by the application backend,
 * whose participants are the ad's publishers; ad:<ad_id>:client:<uid>
 * (kind ad_chat), one client's conversation about the ad, created by its
 * first connect, with the client and the publishers as participants;
 * support:publisher_<id> (kind support), with that publisher.  Groups:
 * ad_<ad_id> (the publishers' sockets: every conversation of the ad),
 * adchat_<room id> (one client's sockets), support_<room id>.  An ad
 * conversation's message goes to adchat_<room> and ad_<ad_id>, which no
 * connection joins both, so everybody gets it once.
 *
 * Everything goes through the store (api->store_call) and the channel
 * layer, so hosts behind Redis share the rooms.  Connect is asynchronous
 * (CHANHOST_PENDING): store calls check and set up, then accept, group_add
 * and the history; group messages that arrive before the history went out
 * wait in a backlog, so the history comes first and nothing twice.  A
 * store callback with c == NULL (the client left) frees only its
 * argument: the connection's state belongs to disconnect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"
#include "chanhost_kit.h"

#define GROUP_LEN 48
#define KEY_LEN 96
#define CMID_MAX 100
#define BACKLOG_MAX 5000 /* group messages held while the history loads */

static const chanhost_api *api;

/* The plugin's settings (plugin_setting support KEY VALUE). */
typedef struct settings {
    json_int_t history_limit;   /* messages per room sent on connect */
    size_t max_chars;           /* longest message, in characters */
    double rate, burst;         /* the token bucket of a connection */
    unsigned abuse_close_after; /* refusals in a row before 1008 */
} settings;

enum route { ROUTE_AD, ROUTE_SUPPORT };

/* One connection's state (api->set_data); freed in disconnect. */
typedef struct sconn {
    const settings *set;
    enum route route;
    int is_publisher;      /* the ad's / the support room's publisher */
    int loading;           /* accepted, history not sent yet */
    int failed;            /* connect failed: the connection is closing */
    int waiting;           /* participant.add calls still running */
    const char *role;      /* sender_role: "admin", "publisher", "client" */
    json_int_t uid;
    json_int_t ad_id;      /* ad route */
    json_int_t owner;      /* support route: the room's publisher */
    json_int_t room_id;    /* the client's conversation, the support room */
    json_t *convs;         /* ad publisher: {"<client id>": room id} */
    json_t *backlog;       /* group messages received while loading */
    chk_bucket bucket;
    char group[GROUP_LEN]; /* the group this connection joins */
} sconn;

typedef void store_cb(chanhost_conn *c, int status, const json_t *result, const char *error,
                      void *arg);

/* ---- small helpers ------------------------------------------------------ */

/* A positive decimal id (at most 18 digits; strict: no leading zero), or
 * 0 when s is not one. */
static json_int_t parse_id(const char *s, int strict)
{
    size_t n;

    if (!s)
        return 0;
    if (!strict)
        s += strspn(s, "0");
    n = strspn(s, "0123456789");
    if (n == 0 || n > 18 || s[n] || s[0] == '0')
        return 0;
    return strtoll(s, NULL, 10);
}

/* Number of UTF-8 characters of a (valid UTF-8) string. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Nothing but blanks? */
static int blank(const char *s) { return s[strspn(s, " \t\r\n")] == '\0'; }

/* The close code for a store failure: 1013 when the store is busy. */
static int store_close_code(int status) { return status == CHANHOST_STORE_EBUSY ? 1013 : 1011; }

static void group_name(char *buf, const char *prefix, json_int_t id)
{
    snprintf(buf, GROUP_LEN, "%s_%lld", prefix, (long long)id);
}

/* The ad route's key of client's conversation. */
static void conv_key(char *buf, json_int_t ad_id, json_int_t client)
{
    snprintf(buf, KEY_LEN, "ad:%lld:client:%lld", (long long)ad_id, (long long)client);
}

/* Run op for c; data (owned, may be NULL) becomes cb's argument.
 * Returns 0, or the store's refusal (data freed). */
static int scall(chanhost_conn *c, const char *op, json_t *params, store_cb *cb, json_t *data)
{
    int rc = api->store_call(c, op, params, cb, data);

    if (rc != 0)
        json_decref(data);
    return rc;
}

/* The state of c in a store callback, or NULL when the client left
 * (c == NULL) or a failed connect is closing it. */
static sconn *alive(chanhost_conn *c)
{
    sconn *s = c ? api->get_data(c) : NULL;

    return s && !s->failed ? s : NULL;
}

/* An error frame that names the client_msg_id it is about (if any). */
static void error_about(chanhost_conn *c, const char *code, const char *message,
                        const json_t *cmid)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);

    if (e && json_is_string(cmid))
        json_object_set(e, "client_msg_id", (json_t *)cmid);
    if (e)
        api->send_json(c, e);
    json_decref(e);
}

/* ---- payloads ------------------------------------------------------------ */

/* A message as clients see it (new reference); client_id 0: none. */
static json_t *payload(json_int_t id, const char *text, json_int_t sender, const char *name,
                       const char *role, json_int_t ts, const char *cmid, json_int_t client_id)
{
    json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:s?}", "type", "message", "id",
                          id, "message", text ? text : "", "sender_id", sender, "sender_name",
                          name ? name : "", "sender_role", role, "timestamp", ts,
                          "client_msg_id", cmid);

    if (o && client_id)
        json_object_set_new(o, "client_id", json_integer(client_id));
    return o;
}

/* sender_role for a stored message without one in its extra. */
static const char *fallback_role(const sconn *s, json_int_t sender, json_int_t client_id)
{
    if (s->route == ROUTE_SUPPORT)
        return sender == s->owner ? "publisher" : "admin";
    return sender == client_id ? "client" : "publisher";
}

/* A stored message (message.history's shape) as a payload. */
static json_t *stored_payload(const sconn *s, const json_t *m, json_int_t client_id)
{
    const json_t *extra = json_object_get(m, "extra");
    json_int_t sender = json_integer_value(json_object_get(m, "sender_id"));
    const char *role = json_string_value(json_object_get(extra, "sender_role"));

    return payload(json_integer_value(json_object_get(m, "id")),
                   json_string_value(json_object_get(m, "content")), sender,
                   json_string_value(json_object_get(extra, "sender_name")),
                   role ? role : fallback_role(s, sender, client_id),
                   json_integer_value(json_object_get(m, "created_at")),
                   json_string_value(json_object_get(m, "client_msg_id")), client_id);
}

/* Send msg to everybody who follows act's room: the support room's group
 * (act's ad_id 0), or an ad conversation's client sockets and the ad's
 * publishers. */
static void broadcast(const json_t *act, const json_t *msg)
{
    json_int_t room = json_integer_value(json_object_get(act, "room_id"));
    json_int_t ad_id = json_integer_value(json_object_get(act, "ad_id"));
    char g[GROUP_LEN];

    group_name(g, ad_id ? "adchat" : "support", room);
    api->group_send(g, msg);
    if (ad_id) {
        group_name(g, "ad", ad_id);
        api->group_send(g, msg);
    }
}

/* ---- history --------------------------------------------------------------- */

/* Send {"type":"history","messages":msgs} (msgs stolen, oldest first),
 * then what the group brought meanwhile that is not in it; from here on
 * group messages go straight to the client. */
static void send_history(chanhost_conn *c, sconn *s, json_t *msgs)
{
    json_t *h = json_pack("{s:s, s:O}", "type", "history", "messages", msgs), *m, *old;
    size_t i, j, seen;

    if (h)
        api->send_json(c, h);
    json_array_foreach(s->backlog, i, m) {
        seen = 0;
        json_array_foreach(msgs, j, old) seen |= json_equal(json_object_get(old, "id"),
                                                            json_object_get(m, "id"));
        if (!seen)
            api->send_json(c, m);
    }
    json_decref(h);
    json_decref(msgs);
    json_decref(s->backlog);
    s->backlog = NULL;
    s->loading = 0;
}

/* Close a connection whose set-up or history failed (once): code, and
 * a log line when it is the store's fault. */
static void end_connect(chanhost_conn *c, sconn *s, int code, const char *reason,
                        const char *error)
{
    if (s->failed)
        return;
    s->failed = 1;
    if (code == 1011 || code == 1013)
        api->log(CHANHOST_LOG_WARN, "connect to %s: %s", api->path(c), error ? error : reason);
    api->close(c, code, reason);
}

/* The state of c for the answer of a set-up step, or NULL when the client
 * left or the step failed (the connection is then closed: 4004 for
 * ENOENT when not_found says so, else 1011 / 1013). */
static sconn *step_ok(chanhost_conn *c, int status, const char *error, int not_found)
{
    sconn *s = alive(c);
    int missing = status == CHANHOST_STORE_ENOENT && not_found;

    if (s && status) {
        end_connect(c, s, missing ? 4004 : store_close_code(status),
                    missing ? "not found" : "store unavailable", error);
        return NULL;
    }
    return s;
}

/* Queue the next set-up step; close the connection if the store refuses. */
static void next_step(chanhost_conn *c, sconn *s, const char *op, json_t *params, store_cb *cb,
                      json_t *data)
{
    int rc = scall(c, op, params, cb, data);

    if (rc != 0)
        end_connect(c, s, store_close_code(rc), "store unavailable", NULL);
}

/* The history answered: message.history of the connection's room, or
 * for an ad's publisher (s->convs set) support.conversations: remember
 * each conversation's room by its client, and give each message the
 * client_id of its conversation. */
static void on_history(chanhost_conn *c, int status, const json_t *result, const char *error,
                       void *arg)
{
    sconn *s = step_ok(c, status, error, 0);
    json_t *out, *by_room, *room, *m, *cid;
    const char *key, *tail;
    char rid[24];
    size_t i;

    (void)arg;
    if (!s)
        return;
    out = json_array();
    by_room = json_object();
    json_array_foreach(json_object_get(result, "rooms"), i, room) {
        key = json_string_value(json_object_get(room, "key"));
        tail = key ? strrchr(key, ':') : NULL;
        if (!tail || parse_id(tail + 1, 1) <= 0)
            continue;
        json_object_set(s->convs, tail + 1, json_object_get(room, "id"));
        snprintf(rid, sizeof rid, "%lld", json_integer_value(json_object_get(room, "id")));
        json_object_set_new(by_room, rid, json_integer(parse_id(tail + 1, 1)));
    }
    json_array_foreach(json_object_get(result, "messages"), i, m) {
        snprintf(rid, sizeof rid, "%lld", json_integer_value(json_object_get(m, "room_id")));
        cid = json_object_get(by_room, rid);
        if (s->convs && !cid)
            continue;
        json_array_append_new(out, stored_payload(s, m, cid ? json_integer_value(cid)
                                                  : s->route == ROUTE_AD ? s->uid : 0));
    }
    json_decref(by_room);
    send_history(c, s, out);
}

/* ---- connect ------------------------------------------------------------- */

/* The checks passed and the room is ready: accept (the host answers the
 * Bearer subprotocol when the token came that way), join the group, load
 * the history. */
static void start_session(chanhost_conn *c, sconn *s)
{
    char prefix[KEY_LEN];

    if (api->accept(c, NULL) != CHANHOST_OK)
        return;
    if (api->group_add(c, s->group) != CHANHOST_OK) {
        end_connect(c, s, 1011, "group unavailable", NULL);
        return;
    }
    s->loading = 1;
    s->backlog = json_array();
    if (s->route == ROUTE_AD && s->is_publisher) {
        s->convs = json_object();
        snprintf(prefix, sizeof prefix, "ad:%lld:client:", (long long)s->ad_id);
        next_step(c, s, "support.conversations",
                  json_pack("{s:I, s:s, s:s, s:I}", "user_id", s->uid, "kind", "ad_chat",
                            "key_prefix", prefix, "limit", s->set->history_limit),
                  on_history, NULL);
    } else {
        next_step(c, s, "message.history",
                  json_pack("{s:I, s:I}", "room_id", s->room_id, "limit", s->set->history_limit),
                  on_history, NULL);
    }
}

/* One participant.add of the set-up answered; the last starts the
 * session. */
static void on_added(chanhost_conn *c, int status, const json_t *result, const char *error,
                     void *arg)
{
    sconn *s = step_ok(c, status, error, 0);

    (void)result;
    (void)arg;
    if (s && --s->waiting == 0)
        start_session(c, s);
}

/* Make user a participant of the connection's room (counted in waiting). */
static void add_participant(chanhost_conn *c, sconn *s, json_int_t user)
{
    s->waiting++;
    next_step(c, s, "participant.add",
              json_pack("{s:I, s:I}", "room_id", s->room_id, "user_id", user), on_added, NULL);
}

/* The client's conversation exists: make the client and the ad's
 * publishers (arg) its participants, every time (idempotent, so a
 * set-up cut short is completed by the next connect). */
static void on_conv_room(chanhost_conn *c, int status, const json_t *result, const char *error,
                         void *arg)
{
    sconn *s = step_ok(c, status, error, 0);
    json_t *publishers = arg, *id;
    size_t i;

    if (s) {
        s->room_id = json_integer_value(json_object_get(json_object_get(result, "room"), "id"));
        group_name(s->group, "adchat", s->room_id);
        add_participant(c, s, s->uid);
        json_array_foreach(publishers, i, id) {
            if (!s->failed)
                add_participant(c, s, json_integer_value(id));
        }
    }
    json_decref(publishers);
}

/* The ad's participants (its publishers): the user is one of them, or a
 * client whose conversation is found or created. */
static void on_ad_people(chanhost_conn *c, int status, const json_t *result, const char *error,
                         void *arg)
{
    sconn *s = step_ok(c, status, error, 1);
    json_t *ids = json_object_get(result, "user_ids"), *id;
    char key[KEY_LEN];
    size_t i;

    (void)arg;
    if (!s)
        return;
    json_array_foreach(ids, i, id) {
        s->is_publisher |= json_integer_value(id) == s->uid;
    }
    if (s->is_publisher) {
        if (strcmp(s->role, "admin") != 0)
            s->role = "publisher";
        group_name(s->group, "ad", s->ad_id);
        start_session(c, s);
        return;
    }
    conv_key(key, s->ad_id, s->uid);
    next_step(c, s, "room.get_or_create",
              json_pack("{s:s, s:s, s:s, s:b}", "key", key, "kind", "ad_chat", "name", key,
                        "is_private", 1),
              on_conv_room, json_deep_copy(ids));
}

/* The ad's room: 4004 when the backend never registered the ad. */
static void on_ad_room(chanhost_conn *c, int status, const json_t *result, const char *error,
                       void *arg)
{
    sconn *s = step_ok(c, status, error, 1);
    json_t *room = json_object_get(json_object_get(result, "room"), "id");

    (void)arg;
    if (s)
        next_step(c, s, "participant.list", json_pack("{s:O}", "room_id", room), on_ad_people,
                  NULL);
}

/* The support room exists: its publisher becomes a participant. */
static void on_support_room(chanhost_conn *c, int status, const json_t *result,
                            const char *error, void *arg)
{
    sconn *s = step_ok(c, status, error, 0);

    (void)arg;
    if (!s)
        return;
    s->room_id = json_integer_value(json_object_get(json_object_get(result, "room"), "id"));
    group_name(s->group, "support", s->room_id);
    add_participant(c, s, s->owner);
}

/* 0 -> CHANHOST_PENDING, a refusal -> its close code. */
static int pending_or(int rc) { return rc == 0 ? CHANHOST_PENDING : store_close_code(rc); }

/* /ws/chat/ad/<ad_id>/: look the ad up. */
static int ad_connect(chanhost_conn *c, sconn *s)
{
    char key[KEY_LEN];

    s->route = ROUTE_AD;
    s->ad_id = parse_id(api->route_param(c, "ad_id"), 0);
    if (s->ad_id <= 0)
        return 4004;
    snprintf(key, sizeof key, "ad:%lld", (long long)s->ad_id);
    return pending_or(scall(c, "room.get", json_pack("{s:s}", "key", key), on_ad_room, NULL));
}

/* /ws/chat/support/publisher_<id>/: that publisher or an admin. */
static int support_connect(chanhost_conn *c, sconn *s)
{
    const char *name = api->route_param(c, "room_name");
    char key[KEY_LEN];

    s->route = ROUTE_SUPPORT;
    if (strncmp(name, "publisher_", 10) != 0 || (s->owner = parse_id(name + 10, 1)) <= 0)
        return 4004;
    s->is_publisher = s->uid == s->owner && chk_has_role(api, c, "publisher");
    if (!s->is_publisher && strcmp(s->role, "admin") != 0)
        return 4003;
    if (s->is_publisher && strcmp(s->role, "admin") != 0)
        s->role = "publisher";
    snprintf(key, sizeof key, "support:%s", name);
    return pending_or(scall(c, "room.get_or_create",
                            json_pack("{s:s, s:s, s:s, s:b}", "key", key, "kind", "support",
                                      "name", name, "is_private", 1),
                            on_support_room, NULL));
}

/* A client connects: 4001 without a user, then the route's checks. */
static int sp_connect(chanhost_conn *c, void *state)
{
    const settings *set = state;
    sconn *s;

    if (!api->user(c) || chk_user_id(api, c) <= 0)
        return 4001;
    s = calloc(1, sizeof *s);
    if (!s)
        return 1011;
    s->set = set;
    s->uid = chk_user_id(api, c);
    s->role = chk_has_role(api, c, "admin") ? "admin" : "client";
    chk_bucket_init(&s->bucket, set->rate, set->burst, api->now_ms());
    api->set_data(c, s);
    if (api->route_param(c, "ad_id"))
        return ad_connect(c, s);
    if (api->route_param(c, "room_name"))
        return support_connect(c, s);
    api->log(CHANHOST_LOG_WARN, "route of %s has neither <ad_id> nor <room_name>", api->path(c));
    return 4004;
}

/* ---- messages and typing -------------------------------------------------- */

/* message.append answered: broadcast a new message (even when its
 * sender has left meanwhile), ack the sender when it gave a client_msg_id
 * (a retry is acked again, never broadcast). */
static void on_appended(chanhost_conn *c, int status, const json_t *result, const char *error,
                        void *arg)
{
    json_t *act = arg, *out, *cmid = json_object_get(act, "client_msg_id");
    json_int_t id = json_integer_value(json_object_get(result, "id"));
    sconn *s = alive(c);

    if (status) {
        api->log(CHANHOST_LOG_WARN, "append to room %lld: %s",
                 json_integer_value(json_object_get(act, "room_id")), error);
        if (s)
            error_about(c, "store_error", "the message was not saved; send it again", cmid);
    } else if (!json_is_true(json_object_get(result, "duplicate"))) {
        out = payload(id, json_string_value(json_object_get(act, "message")),
                      json_integer_value(json_object_get(act, "sender_id")),
                      json_string_value(json_object_get(act, "sender_name")),
                      json_string_value(json_object_get(act, "sender_role")),
                      json_integer_value(json_object_get(result, "created_at")),
                      json_string_value(json_object_get(result, "client_msg_id")),
                      json_integer_value(json_object_get(act, "client_id")));
        broadcast(act, out);
        json_decref(out);
    }
    if (s && !status && json_is_string(cmid)) {
        out = json_pack("{s:s, s:O, s:I}", "type", "ack", "client_msg_id", cmid, "id", id);
        api->send_json(c, out);
        json_decref(out);
    }
    json_decref(act);
}

/* Store act's message in act's room, with sender_role and sender_name in
 * the message's extra (and in act, for the broadcast). */
static void append(chanhost_conn *c, sconn *s, json_t *act)
{
    const char *name = chk_username(api, c);
    json_t *cmid = json_incref(json_object_get(act, "client_msg_id"));
    json_t *p = json_pack("{s:O, s:I, s:O, s:O?, s:{s:s, s:s}}", "room_id",
                          json_object_get(act, "room_id"), "sender_id", s->uid, "content",
                          json_object_get(act, "message"), "client_msg_id", cmid, "extra",
                          "sender_role", s->role, "sender_name", name ? name : "");

    json_object_set_new(act, "sender_id", json_integer(s->uid));
    json_object_set_new(act, "sender_name", json_string(name ? name : ""));
    json_object_set_new(act, "sender_role", json_string(s->role));
    if (scall(c, "message.append", p, on_appended, act) != 0)
        error_about(c, "store_error", "the store is busy; send the message again", cmid);
    json_decref(cmid);
}

/* Tell the followers of act's room that the user is (not) typing. */
static void typing_send(chanhost_conn *c, sconn *s, json_t *act)
{
    const char *name = chk_username(api, c);
    json_t *msg = json_pack("{s:s, s:s, s:I, s:O}", "type", "typing", "user_name",
                            name ? name : "", "user_id", s->uid, "is_typing",
                            json_object_get(act, "is_typing"));

    if (msg && s->route == ROUTE_AD)
        json_object_set(msg, "client_id", json_object_get(act, "client_id"));
    if (msg)
        broadcast(act, msg);
    json_decref(msg);
    json_decref(act);
}

/* Do act ({"do": "message" | "typing", "room_id", "client_id", ...};
 * stolen). */
static void run_action(chanhost_conn *c, sconn *s, json_t *act)
{
    if (strcmp(json_string_value(json_object_get(act, "do")), "message") == 0)
        append(c, s, act);
    else
        typing_send(c, s, act);
}

/* room.get of the conversation a publisher named: remember it and do the
 * action, or refuse when the client never opened that conversation. */
static void on_conv_found(chanhost_conn *c, int status, const json_t *result, const char *error,
                          void *arg)
{
    sconn *s = alive(c);
    json_t *act = arg, *room = json_object_get(json_object_get(result, "room"), "id");
    char key[24];

    if (s && status == CHANHOST_STORE_ENOENT) {
        error_about(c, "forbidden", "no conversation with this client_id about this ad",
                    json_object_get(act, "client_msg_id"));
    } else if (s && status) {
        api->log(CHANHOST_LOG_WARN, "conversation lookup: %s", error);
        error_about(c, "store_error", "the store failed; send it again",
                    json_object_get(act, "client_msg_id"));
    } else if (s) {
        snprintf(key, sizeof key, "%lld", json_integer_value(json_object_get(act, "client_id")));
        json_object_set(s->convs, key, room);
        json_object_set(act, "room_id", room);
        run_action(c, s, json_incref(act));
    }
    json_decref(act);
}

/* Do act (stolen) in the conversation the frame is about: the
 * connection's own room, or for an ad's publisher the conversation of
 * "client_id" (an integer or digits; looked up the first time). */
static void target(chanhost_conn *c, sconn *s, const json_t *in, json_t *act)
{
    const json_t *v = json_object_get(in, "client_id");
    json_int_t cid = json_is_integer(v) ? json_integer_value(v) : parse_id(json_string_value(v), 1);
    char key[KEY_LEN];

    if (!act)
        return;
    json_object_set_new(act, "ad_id", json_integer(s->route == ROUTE_AD ? s->ad_id : 0));
    if (!(s->route == ROUTE_AD && s->is_publisher)) {
        json_object_set_new(act, "room_id", json_integer(s->room_id));
        json_object_set_new(act, "client_id", json_integer(s->route == ROUTE_AD ? s->uid : 0));
        run_action(c, s, act);
        return;
    }
    if (cid <= 0) {
        error_about(c, "client_id_required", "say which conversation: \"client_id\": <id>",
                    json_object_get(act, "client_msg_id"));
        json_decref(act);
        return;
    }
    json_object_set_new(act, "client_id", json_integer(cid));
    snprintf(key, sizeof key, "%lld", (long long)cid);
    if (json_object_get(s->convs, key)) {
        json_object_set(act, "room_id", json_object_get(s->convs, key));
        run_action(c, s, act);
        return;
    }
    conv_key(key, s->ad_id, cid);
    if (scall(c, "room.get", json_pack("{s:s}", "key", key), on_conv_found, act) != 0)
        chk_error(api, c, "store_error", "the store is busy; send it again");
}

/* A client_msg_id: absent, null, or a string of 1 to 100 characters. */
static int cmid_ok(const json_t *v)
{
    const char *t = json_string_value(v);

    return !v || json_is_null(v) ||
           (t && *t && strlen(t) == json_string_length(v) && utf8_chars(t) <= CMID_MAX);
}

/* {"type":"message","message":M,"client_msg_id"?,"client_id"?}. */
static void on_message(chanhost_conn *c, sconn *s, const json_t *in)
{
    const json_t *text = json_object_get(in, "message");
    const json_t *cmid = json_object_get(in, "client_msg_id");
    char why[64];

    if (!json_is_string(text)) {
        chk_error(api, c, "bad_message", "\"message\" must be a string");
    } else if (blank(json_string_value(text))) {
        chk_error(api, c, "empty_message", "the message is empty");
    } else if (utf8_chars(json_string_value(text)) > s->set->max_chars) {
        snprintf(why, sizeof why, "at most %zu characters", s->set->max_chars);
        error_about(c, "message_too_long", why, cmid);
    } else if (!cmid_ok(cmid)) {
        chk_error(api, c, "bad_client_msg_id", "client_msg_id: a string of 1 to 100 characters");
    } else {
        target(c, s, in,
               json_pack("{s:s, s:O, s:O?}", "do", "message", "message", text, "client_msg_id",
                         json_is_string(cmid) ? cmid : NULL));
    }
}

/* {"type":"typing","is_typing"?,"client_id"?}: anything but false is
 * true. */
static void on_typing(chanhost_conn *c, sconn *s, const json_t *in)
{
    int typing = !json_is_false(json_object_get(in, "is_typing"));

    target(c, s, in, json_pack("{s:s, s:b}", "do", "typing", "is_typing", typing));
}

/* A frame from the client: the rate limit first (an error frame, 1008
 * when the excess persists), then its type. */
static void sp_receive(chanhost_conn *c, void *state, const char *data, size_t len,
                       int is_binary)
{
    sconn *s = api->get_data(c);
    const char *type;
    json_t *in;

    (void)state;
    if (!s || s->failed)
        return;
    if (!chk_bucket_take(&s->bucket, api->now_ms())) {
        if (s->bucket.refused >= s->set->abuse_close_after)
            api->close(c, 1008, "rate limit exceeded");
        else
            chk_error(api, c, "rate_limited", "too many messages; slow down");
        return;
    }
    in = chk_parse(api, c, data, len, is_binary, &type);
    if (!in)
        return;
    if (strcmp(type, "message") == 0)
        on_message(c, s, in);
    else if (strcmp(type, "typing") == 0)
        on_typing(c, s, in);
    else if (strcmp(type, "ping") == 0)
        api->send_text(c, "{\"type\":\"pong\"}", 15);
    else
        chk_error(api, c, "unknown_type", "type must be message, typing or ping");
    json_decref(in);
}

/* ---- the channel layer ---------------------------------------------------- */

/* A group message: chat messages go to the client as they are (after the
 * history: before it they wait in the backlog, and 1013 closes a client
 * that falls too far behind); typing goes to all but the typist. */
static void sp_group_message(chanhost_conn *c, void *state, const char *type, const json_t *msg,
                             const chanhost_msg *m)
{
    sconn *s = api->get_data(c);

    (void)state;
    if (!s)
        return;
    if (strcmp(type, "message") == 0 && s->loading && json_array_size(s->backlog) >= BACKLOG_MAX)
        api->close(c, 1013, "too far behind");
    else if (strcmp(type, "message") == 0 && s->loading)
        json_array_append_new(s->backlog, json_deep_copy(msg));
    else if (strcmp(type, "message") == 0)
        api->forward(c, m);
    else if (strcmp(type, "typing") == 0 &&
             json_integer_value(json_object_get(msg, "user_id")) != s->uid)
        api->forward(c, m);
}

static void sp_disconnect(chanhost_conn *c, void *state, int code)
{
    sconn *s = api->get_data(c);

    (void)state;
    (void)code;
    if (!s)
        return;
    api->set_data(c, NULL);
    json_decref(s->convs);
    json_decref(s->backlog);
    free(s);
}

/* ---- loading -------------------------------------------------------------- */

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Read the settings; refuse a host without the store and user API. */
static int sp_init(const chanhost_api *host, const json_t *conf, void **state)
{
    settings *set;

    if (host->struct_size < offsetof(chanhost_api, user) + sizeof host->user || !host->user ||
        !host->store_call) {
        host->log(CHANHOST_LOG_ERROR, "this host lacks api->store_call or api->user");
        return -1;
    }
    set = malloc(sizeof *set);
    if (!set)
        return -1;
    api = host;
    set->history_limit = (json_int_t)clamp(chk_setting_num(conf, "history_limit", 50), 1, 500);
    set->max_chars = (size_t)clamp(chk_setting_num(conf, "max_message_chars", 4000), 1, 16384);
    set->rate = chk_setting_num(conf, "rate", 10);
    set->burst = chk_setting_num(conf, "burst", 20);
    set->abuse_close_after =
        (unsigned)clamp(chk_setting_num(conf, "abuse_close_after", 30), 1, 1e9);
    api->log(CHANHOST_LOG_INFO,
             "history_limit=%lld max_message_chars=%zu rate=%g/s burst=%g abuse_close_after=%u",
             (long long)set->history_limit, set->max_chars, set->rate, set->burst,
             set->abuse_close_after);
    *state = set;
    return 0;
}

static void sp_fini(void *state) { free(state); }

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
    .name = "support",
    .version = "1.0.0",
    .init = sp_init,
    .fini = sp_fini,
    .connect = sp_connect,
    .receive = sp_receive,
    .group_message = sp_group_message,
    .disconnect = sp_disconnect,
);
