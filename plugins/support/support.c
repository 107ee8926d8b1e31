/*
 * support -- seed 003's two chats as a chanhost plugin: a client and the
 * publisher of an ad talk about the ad (/ws/chat/ad/<int:ad_id>/), and a
 * publisher talks with the admins (/ws/chat/support/<str:room_name>/,
 * room names publisher_<id>).  Wire protocol, settings and close codes:
 * plugins/support/README.md.
 *
 * Rooms (docs/api.md): ad:<ad_id>, registered by the application backend
 * through this plugin's endpoint POST /api/ads/ (support_http.c), whose
 * participants are the ad's publishers; ad:<ad_id>:client:<uid>
 * (kind ad_chat), one client's conversation about the ad, created by its
 * first connect, with the client and the publishers as participants;
 * support:publisher_<id> (kind support), with that publisher.  Groups:
 * ad_<ad_id> (the publishers' sockets: every conversation of the ad),
 * adchat_<room id> (one client's sockets), support_<room id>.  An ad
 * conversation's message goes to adchat_<room> and ad_<ad_id>, which no
 * connection joins both, so everybody gets it once.
 *
 * Built on plugins/common/chatcore: its settings, store calls (cc_call:
 * a continuation whose client left gets c == NULL and frees only its
 * data), rate limit, frame parsing and dispatch, the backlog that holds
 * group messages until the history went out (cc_go_live: history first,
 * nothing twice), delivery without the typist's own typing, and the
 * per-connection state, which this file extends (sconn).  What is this
 * plugin's own: the routes' set-up steps (connect is asynchronous,
 * CHANHOST_PENDING), the payloads with sender_name and sender_role, and
 * the ad publisher's conversations (client_id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/chatcore.h"
#include "support_http.h"

#define GROUP_LEN 48
#define KEY_LEN 96
#define CMID_MAX 100

static const chanhost_api *api;

enum route { ROUTE_AD, ROUTE_SUPPORT };

/* One connection's state: chatcore's, then this plugin's fields (freed in
 * sp_conn_free). */
typedef struct sconn {
    cc_conn cc; /* first: a cc_conn * of this plugin is an sconn * */
    enum route route;
    int is_publisher; /* the ad's / the support room's publisher */
    int failed;       /* connect failed: the connection is closing */
    int waiting;      /* participant.add calls still running */
    const char *role; /* sender_role: "admin", "publisher", "client" */
    json_int_t ad_id; /* ad route */
    json_int_t owner; /* support route: the room's publisher */
    json_t *convs;    /* ad publisher: {"<client id>": room id} */
    json_int_t cur;   /* ad publisher: the client of frames without one */
    int fixed;        /* cur was given with ?client_id= */
    char group[CC_GROUP_MAX]; /* its layer group (cc_kind's group_offset) */
} sconn;

static void on_message(chanhost_conn *c, cc_conn *cc, const json_t *in);
static void on_typing(chanhost_conn *c, cc_conn *cc, const json_t *in);
static void on_read(chanhost_conn *c, cc_conn *cc, const json_t *in);
static void read_send(chanhost_conn *c, sconn *s, json_t *act);
static void on_unknown(chanhost_conn *c, cc_conn *cc, const json_t *in);
static void sp_conn_free(cc_conn *cc);

static const cc_handler handlers[] = {
    {"message", on_message},   {"typing", on_typing},
    {"read_receipt", on_read}, /* plugins/common/receipts.c's, */
    {"bulk_read", on_read},    /* in the frame's conversation */
    {"ping", cc_on_ping},      {NULL, on_unknown},
};

static const cc_kind support_kind = {
    .msg_type = "message",
    .handlers = handlers,
    .conn_size = sizeof(sconn),
    .group_offset = offsetof(sconn, group),
    .conn_free = sp_conn_free,
};

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

/* The state of c in a store continuation (cc: chatcore's, NULL when the
 * client left), or NULL when the client left or a failed connect is
 * closing it. */
static sconn *alive(cc_conn *cc)
{
    sconn *s = (sconn *)cc;

    return s && !s->failed ? s : NULL;
}

/* An error frame that names the client_msg_id it is about (if any). */
static void error_about(chanhost_conn *c, cc_plugin *p, const char *code, const char *message,
                        const json_t *cmid)
{
    json_t *extra = json_is_string(cmid) ? json_pack("{s:O}", "client_msg_id", cmid) : NULL;

    cc_error(c, p, code, message, extra);
    json_decref(extra);
}

/* ---- payloads ------------------------------------------------------------ */

/* A message as clients see it (new reference); client_id 0: none. */
static json_t *payload(json_int_t id, const char *text, json_int_t sender, const char *name,
                       const char *role, json_int_t ts, const char *cmid, json_int_t client_id)
{
    json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:s?}", "type", "message", "id", id,
                          "message", text ? text : "", "sender_id", sender, "sender_name",
                          name ? name : "", "sender_role", role, "timestamp", ts, "client_msg_id",
                          cmid);

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

/* The groups that follow act's room (new reference): the support room's
 * group (act's ad_id 0), or an ad conversation's client sockets and the
 * ad's publishers. */
static json_t *act_groups(const json_t *act)
{
    json_int_t room = json_integer_value(json_object_get(act, "room_id"));
    json_int_t ad_id = json_integer_value(json_object_get(act, "ad_id"));
    json_t *groups = json_array();
    char g[GROUP_LEN];

    group_name(g, ad_id ? "adchat" : "support", room);
    json_array_append_new(groups, json_string(g));
    if (ad_id) {
        group_name(g, "ad", ad_id);
        json_array_append_new(groups, json_string(g));
    }
    return groups;
}

/* Send msg to everybody who follows act's room. */
static void broadcast(const json_t *act, const json_t *msg)
{
    json_t *groups = act_groups(act), *g;
    size_t i;

    json_array_foreach(groups, i, g) { api->group_send(json_string_value(g), msg); }
    json_decref(groups);
}

/* ---- history --------------------------------------------------------------- */

/* Close a connection whose set-up or history failed (once): code, and
 * a log line when it is the store's fault. */
static void end_connect(chanhost_conn *c, sconn *s, int code, const char *reason)
{
    if (s->failed)
        return;
    s->failed = 1;
    if (code == 1011 || code == 1013)
        api->log(CHANHOST_LOG_WARN, "connect to %s: %s", api->path(c), reason);
    api->close(c, code, reason);
}

/* The state of c for the answer of a set-up step, or NULL when the client
 * left or the step failed (the connection is then closed: 4004 for
 * ENOENT when not_found says so, else 1011 / 1013). */
static sconn *step_ok(chanhost_conn *c, cc_conn *cc, int status, int not_found)
{
    sconn *s = alive(cc);
    int missing = status == CHANHOST_STORE_ENOENT && not_found;

    if (s && status) {
        end_connect(c, s, missing ? 4004 : store_close_code(status),
                    missing ? "not found" : "store unavailable");
        return NULL;
    }
    return s;
}

/* Queue the next set-up step (params and data stolen); close the
 * connection if the store refuses. */
static void next_step(chanhost_conn *c, sconn *s, const char *op, json_t *params, cc_done_fn done,
                      json_t *data)
{
    int rc = cc_call(c, s->cc.p, op, params, done, data);

    if (rc != 0)
        end_connect(c, s, store_close_code(rc), "store unavailable");
}

/* The history answered: message.history of the connection's room, or
 * for an ad's publisher (s->convs set) room.conversations: remember
 * each conversation's room by its client, and give each message the
 * client_id of its conversation.  Then the history frame goes out, and
 * what the group brought meanwhile (cc_go_live). */
static void on_history(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                       const json_t *result, json_t *data)
{
    sconn *s = step_ok(c, cc, status, 0);
    json_t *out, *by_room, *room, *m, *cid, *frame;
    const char *key, *tail;
    char rid[24];
    size_t i;

    (void)p;
    (void)data;
    if (!s)
        return;
    out = json_array();
    by_room = json_object();
    json_array_foreach(json_object_get(result, "rooms"), i, room)
    {
        key = json_string_value(json_object_get(room, "key"));
        tail = key ? strrchr(key, ':') : NULL;
        if (!tail || parse_id(tail + 1, 1) <= 0)
            continue;
        json_object_set(s->convs, tail + 1, json_object_get(room, "id"));
        snprintf(rid, sizeof rid, "%lld", json_integer_value(json_object_get(room, "id")));
        json_object_set_new(by_room, rid, json_integer(parse_id(tail + 1, 1)));
    }
    json_array_foreach(json_object_get(result, "messages"), i, m)
    {
        snprintf(rid, sizeof rid, "%lld", json_integer_value(json_object_get(m, "room_id")));
        cid = json_object_get(by_room, rid);
        if (s->convs && !cid)
            continue;
        if (cid && !s->fixed)
            s->cur = json_integer_value(cid); /* oldest first: the newest wins */
        json_array_append_new(out, stored_payload(s, m,
                                                  cid                    ? json_integer_value(cid)
                                                  : s->route == ROUTE_AD ? cc->user_id
                                                                         : 0));
    }
    json_decref(by_room);
    frame = json_pack("{s:s, s:o}", "type", "history", "messages", out);
    cc_go_live(c, cc, frame);
    json_decref(frame);
}

/* ---- connect ------------------------------------------------------------- */

/* The checks passed and the room is ready: accept (the host answers the
 * Bearer subprotocol when the token came that way), join the group, load
 * the history. */
static void start_session(chanhost_conn *c, sconn *s)
{
    const cc_settings *set = &s->cc.p->set;
    char prefix[KEY_LEN];

    if (api->accept(c, NULL) != CHANHOST_OK)
        return;
    if (api->group_add(c, s->group) != CHANHOST_OK) {
        end_connect(c, s, 1011, "group unavailable");
        return;
    }
    if (s->route == ROUTE_AD && s->is_publisher) {
        s->convs = json_object();
        snprintf(prefix, sizeof prefix, "ad:%lld:client:", (long long)s->ad_id);
        next_step(c, s, "room.conversations",
                  json_pack("{s:I, s:s, s:s, s:I}", "user_id", s->cc.user_id, "kind", "ad_chat",
                            "key_prefix", prefix, "limit", (json_int_t)set->history_limit),
                  on_history, NULL);
    } else {
        next_step(c, s, "message.history",
                  json_pack("{s:I, s:I}", "room_id", s->cc.room_id, "limit",
                            (json_int_t)set->history_limit),
                  on_history, NULL);
    }
}

/* One participant.add of the set-up answered; the last starts the
 * session. */
static void on_added(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                     json_t *data)
{
    sconn *s = step_ok(c, cc, status, 0);

    (void)p;
    (void)result;
    (void)data;
    if (s && --s->waiting == 0)
        start_session(c, s);
}

/* Make user a participant of the connection's room (counted in waiting). */
static void add_participant(chanhost_conn *c, sconn *s, json_int_t user)
{
    s->waiting++;
    next_step(c, s, "participant.add",
              json_pack("{s:I, s:I}", "room_id", s->cc.room_id, "user_id", user), on_added, NULL);
}

/* The client's conversation exists: make the client and the ad's
 * publishers (data, borrowed) its participants, every time (idempotent,
 * so a set-up cut short is completed by the next connect). */
static void on_conv_room(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                         const json_t *result, json_t *data)
{
    sconn *s = step_ok(c, cc, status, 0);
    json_t *id;
    size_t i;

    (void)p;
    if (!s)
        return;
    cc->room_id = json_integer_value(json_object_get(json_object_get(result, "room"), "id"));
    group_name(s->group, "adchat", cc->room_id);
    add_participant(c, s, cc->user_id);
    json_array_foreach(data, i, id)
    {
        if (!s->failed)
            add_participant(c, s, json_integer_value(id));
    }
}

/* Delivery to an ad's publisher: as chatcore's, and unless ?client_id=
 * fixed it, the conversation of the newest message becomes the one its
 * frames without client_id are about. */
static void publisher_deliver(chanhost_conn *c, cc_conn *cc, const char *type, const json_t *msg,
                              const chanhost_msg *m)
{
    sconn *s = (sconn *)cc;
    json_int_t cid = json_integer_value(json_object_get(msg, "client_id"));

    if (!s->fixed && cid > 0 && strcmp(type, "message") == 0)
        s->cur = cid;
    cc_deliver_room(c, cc, type, msg, m);
}

/* The ad's participants (its publishers): the user is one of them, or a
 * client whose conversation is found or created. */
static void on_ad_people(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                         const json_t *result, json_t *data)
{
    sconn *s = step_ok(c, cc, status, 1);
    json_t *ids = json_object_get(result, "user_ids"), *id;
    char key[KEY_LEN];
    size_t i;

    (void)p;
    (void)data;
    if (!s)
        return;
    json_array_foreach(ids, i, id) { s->is_publisher |= json_integer_value(id) == cc->user_id; }
    if (s->is_publisher) {
        if (strcmp(s->role, "admin") != 0)
            s->role = "publisher";
        s->cur = parse_id(api->query_param(c, "client_id"), 1);
        s->fixed = s->cur > 0;
        cc->deliver = publisher_deliver;
        group_name(s->group, "ad", s->ad_id);
        start_session(c, s);
        return;
    }
    conv_key(key, s->ad_id, cc->user_id);
    next_step(c, s, "room.get_or_create",
              json_pack("{s:s, s:s, s:s, s:b}", "key", key, "kind", "ad_chat", "name", key,
                        "is_private", 1),
              on_conv_room, json_deep_copy(ids));
}

/* The ad's room: 4004 when the backend never registered the ad. */
static void on_ad_room(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                       const json_t *result, json_t *data)
{
    sconn *s = step_ok(c, cc, status, 1);
    json_t *room = json_object_get(json_object_get(result, "room"), "id");

    (void)p;
    (void)data;
    if (s)
        next_step(c, s, "participant.list", json_pack("{s:O}", "room_id", room), on_ad_people,
                  NULL);
}

/* The support room exists: its publisher becomes a participant. */
static void on_support_room(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                            const json_t *result, json_t *data)
{
    sconn *s = step_ok(c, cc, status, 0);

    (void)p;
    (void)data;
    if (!s)
        return;
    cc->room_id = json_integer_value(json_object_get(json_object_get(result, "room"), "id"));
    group_name(s->group, "support", cc->room_id);
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
    return pending_or(
        cc_call(c, s->cc.p, "room.get", json_pack("{s:s}", "key", key), on_ad_room, NULL));
}

/* /ws/chat/support/publisher_<id>/: that publisher or an admin. */
static int support_connect(chanhost_conn *c, sconn *s)
{
    const char *name = api->route_param(c, "room_name");
    char key[KEY_LEN];

    s->route = ROUTE_SUPPORT;
    if (strncmp(name, "publisher_", 10) != 0 || (s->owner = parse_id(name + 10, 1)) <= 0)
        return 4004;
    s->is_publisher = s->cc.user_id == s->owner && chk_has_role(api, c, "publisher");
    if (!s->is_publisher && strcmp(s->role, "admin") != 0)
        return 4003;
    if (s->is_publisher && strcmp(s->role, "admin") != 0)
        s->role = "publisher";
    snprintf(key, sizeof key, "support:%s", name);
    return pending_or(cc_call(c, s->cc.p, "room.get_or_create",
                              json_pack("{s:s, s:s, s:s, s:b}", "key", key, "kind", "support",
                                        "name", name, "is_private", 1),
                              on_support_room, NULL));
}

/* A client connects: 4001 without a user, then the route's checks. */
static int sp_connect(chanhost_conn *c, void *state)
{
    int code;
    sconn *s = (sconn *)cc_attach(c, state, &code);

    if (!s)
        return code;
    s->role = chk_has_role(api, c, "admin") ? "admin" : "client";
    if (api->route_param(c, "ad_id"))
        return ad_connect(c, s);
    if (api->route_param(c, "room_name"))
        return support_connect(c, s);
    api->log(CHANHOST_LOG_WARN, "route of %s has neither <ad_id> nor <room_name>", api->path(c));
    return 4004;
}

/* What disconnect frees besides chatcore's part. */
static void sp_conn_free(cc_conn *cc) { json_decref(((sconn *)cc)->convs); }

/* ---- messages and typing -------------------------------------------------- */

/* A new message of act (borrowed) with id committed: the other
 * participants' lobbies are notified, and a sender still connected (but
 * an admin in a support room) has read everything up to its own message
 * (seed 003's clients send no receipts: answering clears the count). */
static void after_commit(chanhost_conn *c, sconn *s, cc_plugin *p, const json_t *act, json_int_t id)
{
    json_t *room = json_pack("{s:O, s:b}", "id", json_object_get(act, "room_id"), "is_private", 1);
    json_t *read;

    cc_notify_lobbies(p, room, json_integer_value(json_object_get(act, "sender_id")),
                      json_string_value(json_object_get(act, "sender_name")), NULL);
    json_decref(room);
    if (!s || (s->route == ROUTE_SUPPORT && !s->is_publisher) || !(read = json_copy((json_t *)act)))
        return; /* an admin is no participant of a support room: nothing to count */
    json_object_set_new(read, "do", json_string("read"));
    json_object_set_new(read, "up_to_id", json_integer(id));
    json_object_set_new(read, "quiet", json_true());
    read_send(c, s, read);
}

/* message.append answered: broadcast a new message (even when its
 * sender has left meanwhile), ack the sender when it gave a client_msg_id
 * (a retry is acked again, never broadcast), then after_commit.  data:
 * the action. */
static void on_appended(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                        const json_t *result, json_t *data)
{
    json_t *act = data, *out, *cmid = json_object_get(act, "client_msg_id");
    json_int_t id = json_integer_value(json_object_get(result, "id"));
    sconn *s = alive(cc);

    if (status) {
        if (s)
            error_about(c, p, "store_error", "the message was not saved; send it again", cmid);
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
    if (!status && !json_is_true(json_object_get(result, "duplicate")))
        after_commit(c, s, p, act, id);
}

/* Store act's message in act's room (act stolen), with sender_role and
 * sender_name in the message's extra (and in act, for the broadcast). */
static void append(chanhost_conn *c, sconn *s, json_t *act)
{
    const char *name = chk_username(api, c);
    json_t *cmid = json_incref(json_object_get(act, "client_msg_id"));
    json_t *p = json_pack("{s:O, s:I, s:O, s:O?, s:{s:s, s:s}}", "room_id",
                          json_object_get(act, "room_id"), "sender_id", s->cc.user_id, "content",
                          json_object_get(act, "message"), "client_msg_id", cmid, "extra",
                          "sender_role", s->role, "sender_name", name ? name : "");

    json_object_set_new(act, "sender_id", json_integer(s->cc.user_id));
    json_object_set_new(act, "sender_name", json_string(name ? name : ""));
    json_object_set_new(act, "sender_role", json_string(s->role));
    if (cc_call(c, s->cc.p, "message.append", p, on_appended, act) != 0)
        error_about(c, s->cc.p, "store_error", "the store is busy; send the message again", cmid);
    json_decref(cmid);
}

/* Tell the followers of act's room (act stolen) that the user is (not)
 * typing. */
static void typing_send(chanhost_conn *c, sconn *s, json_t *act)
{
    const char *name = chk_username(api, c);
    json_t *msg = json_pack("{s:s, s:s, s:I, s:O}", "type", "typing", "user_name", name ? name : "",
                            "user_id", s->cc.user_id, "is_typing",
                            json_object_get(act, "is_typing"));

    if (msg && s->route == ROUTE_AD)
        json_object_set(msg, "client_id", json_object_get(act, "client_id"));
    if (msg)
        broadcast(act, msg);
    json_decref(msg);
    json_decref(act);
}

/* Mark act's read (act stolen: "message_id" or "up_to_id", "quiet") in
 * act's room; the room's followers get the receipt (with the client_id of
 * an ad conversation), the reader's lobby its new unread count. */
static void read_send(chanhost_conn *c, sconn *s, json_t *act)
{
    json_t *groups = act_groups(act), *extra = NULL;
    cc_read r = {
        .room_id = json_integer_value(json_object_get(act, "room_id")),
        .message_id = json_integer_value(json_object_get(act, "message_id")),
        .up_to_id = json_integer_value(json_object_get(act, "up_to_id")),
        .groups = groups,
        .quiet = json_is_true(json_object_get(act, "quiet")),
    };

    if (s->route == ROUTE_AD)
        extra = json_pack("{s:O}", "client_id", json_object_get(act, "client_id"));
    r.extra = extra;
    cc_mark_read(c, &s->cc, &r);
    json_decref(extra);
    json_decref(groups);
    json_decref(act);
}

/* Do act ({"do": "message" | "typing" | "read", "room_id", "client_id",
 * ...}; stolen). */
static void run_action(chanhost_conn *c, sconn *s, json_t *act)
{
    const char *what = json_string_value(json_object_get(act, "do"));

    if (strcmp(what, "message") == 0)
        append(c, s, act);
    else if (strcmp(what, "read") == 0)
        read_send(c, s, act);
    else
        typing_send(c, s, act);
}

/* room.get of the conversation a publisher named: remember it and do the
 * action (data, borrowed), or refuse when the client never opened that
 * conversation. */
static void on_conv_found(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                          const json_t *result, json_t *data)
{
    sconn *s = alive(cc);
    json_t *act = data, *room = json_object_get(json_object_get(result, "room"), "id");
    char key[24];

    if (s && status == CHANHOST_STORE_ENOENT) {
        error_about(c, p, "forbidden", "no conversation with this client_id about this ad",
                    json_object_get(act, "client_msg_id"));
    } else if (s && status) {
        error_about(c, p, "store_error", "the store failed; send it again",
                    json_object_get(act, "client_msg_id"));
    } else if (s) {
        snprintf(key, sizeof key, "%lld", json_integer_value(json_object_get(act, "client_id")));
        json_object_set(s->convs, key, room);
        json_object_set(act, "room_id", room);
        run_action(c, s, json_incref(act));
    }
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
        json_object_set_new(act, "room_id", json_integer(s->cc.room_id));
        json_object_set_new(act, "client_id",
                            json_integer(s->route == ROUTE_AD ? s->cc.user_id : 0));
        run_action(c, s, act);
        return;
    }
    if (cid <= 0 && !v)
        cid = s->cur;
    if (cid <= 0) {
        error_about(c, s->cc.p, "client_id_required", "say which conversation: \"client_id\": <id>",
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
    if (cc_call(c, s->cc.p, "room.get", json_pack("{s:s}", "key", key), on_conv_found, act) != 0)
        chk_error(api, c, "store_error", "the store is busy; send it again");
}

/* A client_msg_id: absent, null, or a string of 1 to 100 characters. */
static int cmid_ok(const json_t *v)
{
    const char *t = json_string_value(v);
    size_t n = json_string_length(v);

    return !v || json_is_null(v) || (t && *t && strlen(t) == n && chk_utf8_chars(t, n) <= CMID_MAX);
}

/* {"type":"message","message":M,"client_msg_id"?,"client_id"?}. */
static void on_message(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    sconn *s = alive(cc);
    const json_t *text = json_object_get(in, "message");
    const json_t *cmid = json_object_get(in, "client_msg_id");
    char why[64];

    if (!s) {
        return;
    } else if (!json_is_string(text)) {
        chk_error(api, c, "bad_message", "\"message\" must be a string");
    } else if (blank(json_string_value(text))) {
        chk_error(api, c, "empty_message", "the message is empty");
    } else if (chk_utf8_chars(json_string_value(text), json_string_length(text)) >
               cc->p->set.max_chars) {
        snprintf(why, sizeof why, "at most %zu characters", cc->p->set.max_chars);
        error_about(c, cc->p, "message_too_long", why, cmid);
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
static void on_typing(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    sconn *s = alive(cc);
    int typing = !json_is_false(json_object_get(in, "is_typing"));

    if (s)
        target(c, s, in, json_pack("{s:s, s:b}", "do", "typing", "is_typing", typing));
}

/* {"type":"read_receipt","message_id"} or {"type":"bulk_read",
 * "up_to_id"?}, with "client_id" for the ad's publisher (as message). */
static void on_read(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    sconn *s = alive(cc);
    cc_read r = {0};

    if (s && cc_read_ids(c, cc, in, &r) == 0)
        target(c, s, in,
               json_pack("{s:s, s:I, s:I}", "do", "read", "message_id", r.message_id, "up_to_id",
                         r.up_to_id));
}

/* Any other frame type. */
static void on_unknown(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    (void)cc;
    (void)in;
    chk_error(api, c, "unknown_type",
              "type must be message, typing, read_receipt, bulk_read or ping");
}

/* ---- loading -------------------------------------------------------------- */

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* chatcore's settings, within this plugin's bounds (README), logged. */
static int sp_init(const chanhost_api *host, const json_t *conf, void **state)
{
    cc_settings *set;

    if (host->struct_size < offsetof(chanhost_api, user) + sizeof host->user ||
        cc_init(host, conf, &support_kind, state) != 0)
        return -1;
    api = host;
    set = &((cc_plugin *)*state)->set;
    set->history_limit = (unsigned)clamp(chk_setting_num(conf, "history_limit", 50), 1, 500);
    set->max_chars = (size_t)clamp(chk_setting_num(conf, "max_message_chars", 4000), 1, 16384);
    set->abuse_close_after = (unsigned)clamp(chk_setting_num(conf, "abuse_close_after", 30), 1,
                                             1e9);
    api->log(CHANHOST_LOG_INFO,
             "history_limit=%u max_message_chars=%zu rate=%g/s burst=%g abuse_close_after=%u",
             set->history_limit, set->max_chars, set->rate, set->burst, set->abuse_close_after);
    return 0;
}

/* The backend registers ads here (support_http.c). */
static const chanhost_endpoint endpoints[] = {
    {"POST", "/api/ads/", CHANHOST_HTTP_SERVICE, sp_ads_register},
};

CC_PLUGIN_DESCRIPTOR_HTTP("support", sp_init, sp_connect, endpoints);
