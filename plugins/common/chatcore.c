/*
 * chatcore.c -- the chat logic shared by the chatroom, taskcomments and
 * support plugins (see chatcore.h for what it owns).  Compiled into each
 * plugin, so every loaded copy has its own; no static state lives here.
 *
 * Store calls go through cc_call, which pairs each call with its own data
 * (a JSON object) and a continuation; a continuation whose client left
 * gets c == NULL and cc == NULL, and only broadcasts what committed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatcore.h"

#define HISTORY_PAGE 500     /* the store's largest page */
#define CATCHUP_MAX 10000000 /* the largest catchup_max setting */
#define STREAM_KEEP 10000000 /* the largest stream_retention setting */
#define BACKLOG_MAX 5000     /* layer messages held before the history */
#define CONTENT_MAX 65536    /* the store's limit, in bytes */

/* A borrowed value, or JSON null for a missing one (json_pack "O"). */
#define OR_NULL(v) ((v) ? (v) : json_null())
#define GET(o, k) json_object_get(o, k)

/* ---- settings and plugin state ------------------------------------------ */

/* Read the plugin_setting values, with the documented defaults. */
static void read_settings(cc_settings *s, const json_t *settings)
{
    double limit = chk_setting_num(settings, "history_limit", 50);

    s->history_limit = limit > HISTORY_PAGE ? HISTORY_PAGE : (unsigned)limit;
    s->max_chars = (size_t)chk_setting_num(settings, "max_message_chars", 4000);
    s->rate = chk_setting_num(settings, "rate", 10);
    s->burst = chk_setting_num(settings, "burst", 20);
    s->abuse_close_after = (unsigned)chk_setting_num(settings, "abuse_close_after", 30);
    limit = chk_setting_num(settings, "catchup_max", 50000);
    s->catchup_max = limit < 1 ? 1 : limit > CATCHUP_MAX ? CATCHUP_MAX : (unsigned)limit;
    s->presence = json_is_string(json_object_get(settings, "presence")) &&
                  strcmp(json_string_value(json_object_get(settings, "presence")), "on") == 0;
    limit = chk_setting_num(settings, "stream_retention", 10000);
    s->stream_keep = limit < 1 ? 1 : limit > STREAM_KEEP ? STREAM_KEEP : (unsigned)limit;
}

/* See chatcore.h. */
void cc_stream_params(const cc_plugin *p, json_t *params)
{
    json_object_set_new(params, "stream", json_true());
    json_object_set_new(params, "stream_keep", json_integer(p->set.stream_keep));
}

/* The group_prefix setting into s (the kind's default when absent): at
 * most 31 of Channels' group characters [A-Za-z0-9._-].  Returns 0, or -1
 * after logging why. */
static int read_group_prefix(cc_settings *s, const chanhost_api *api, const json_t *settings,
                             const cc_kind *kind)
{
    const char *v = json_string_value(json_object_get(settings, "group_prefix"));
    size_t n;

    if (!v)
        v = kind->group_prefix ? kind->group_prefix : "";
    n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    if (v[n] || n >= sizeof s->group_prefix) {
        api->log(CHANHOST_LOG_ERROR,
                 "plugin_setting group_prefix '%s': use at most %zu of A-Z a-z 0-9 . _ -", v,
                 sizeof s->group_prefix - 1);
        return -1;
    }
    memcpy(s->group_prefix, v, n + 1);
    return 0;
}

/* The plugin's state: the api, its kind and settings.  Refuses a host
 * without the store and user functions (ABI 1.1). */
int cc_init(const chanhost_api *api, const json_t *settings, const cc_kind *kind, void **state)
{
    cc_plugin *p;

    if (!api->store_call || !api->user || !api->now_ms) {
        api->log(CHANHOST_LOG_ERROR, "this host has no message store api (ABI 1.1 needed)");
        return -1;
    }
    p = calloc(1, sizeof *p);
    if (!p || !(p->rooms = json_object()) || !(p->lobby_wait = json_object())) {
        if (p)
            json_decref(p->rooms);
        free(p);
        return -1;
    }
    p->api = api;
    p->kind = kind;
    read_settings(&p->set, settings);
    if (read_group_prefix(&p->set, api, settings, kind) != 0) {
        json_decref(p->rooms);
        json_decref(p->lobby_wait);
        free(p);
        return -1;
    }
    *state = p;
    return 0;
}

/* The plugin's state goes; connections' rooms hold their own references.
 * Lobby notifications still waiting for their counts (only after an
 * append that was to bring them failed, in the turn of the loop before)
 * go with it. */
void cc_fini(void *state)
{
    cc_plugin *p = state;

    if (p->lobby_timer)
        p->api->timer_stop(p->lobby_timer);
    json_decref(p->lobby_wait);
    json_decref(p->rooms);
    free(p);
}

/* ---- store calls ---------------------------------------------------------- */

typedef struct cc_pending {
    cc_plugin *p;
    const char *op;
    cc_done_fn done;
    json_t *data;
} cc_pending;

/* The store answered: run the continuation with the connection's state
 * (NULL when the client left) and free the call's data. */
static void on_store(chanhost_conn *c, int status, const json_t *result, const char *error,
                     void *arg)
{
    cc_pending *pc = arg;
    cc_conn *cc = c ? pc->p->api->get_data(c) : NULL;

    if (status != 0)
        pc->p->api->log(status == CHANHOST_STORE_EIO ? CHANHOST_LOG_WARN : CHANHOST_LOG_DEBUG,
                        "%s: %d %s", pc->op, status, error ? error : "");
    pc->done(cc ? c : NULL, cc, pc->p, status, result, pc->data);
    json_decref(pc->data);
    free(pc);
}

/* Pair the call with its data and continuation (see chatcore.h). */
int cc_call(chanhost_conn *c, cc_plugin *p, const char *op, json_t *params, cc_done_fn done,
            json_t *data)
{
    cc_pending *pc = malloc(sizeof *pc);
    int rc;

    if (!pc || !params) {
        free(pc);
        json_decref(params);
        json_decref(data);
        return CHANHOST_STORE_EIO;
    }
    *pc = (cc_pending){p, op, done, data};
    rc = p->api->store_call(c, op, params, on_store, pc);
    if (rc != 0) {
        json_decref(data);
        free(pc);
    }
    return rc;
}

/* A refusal is told to the client with the fields of data's "tag". */
void cc_call_or_error(chanhost_conn *c, cc_plugin *p, const char *op, json_t *params,
                      cc_done_fn done, json_t *data)
{
    json_t *tag = json_incref(GET(data, "tag"));
    int rc = cc_call(c, p, op, params, done, data);

    if (rc != 0)
        cc_store_error(c, p, rc, tag);
    json_decref(tag);
}

/* ---- error frames and small helpers -------------------------------------- */

/* {"type":"error","code","message"} plus extra's fields. */
void cc_error(chanhost_conn *c, cc_plugin *p, const char *code, const char *message,
              const json_t *extra)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);

    if (!e)
        return;
    if (json_is_object(extra))
        json_object_update(e, (json_t *)extra);
    p->api->send_json(c, e);
    json_decref(e);
}

/* A store status as the client's error code. */
void cc_store_error(chanhost_conn *c, cc_plugin *p, int status, const json_t *extra)
{
    switch (status) {
    case CHANHOST_STORE_ENOENT:
        cc_error(c, p, "not_found", "no such message or room", extra);
        break;
    case CHANHOST_STORE_EPERM:
        cc_error(c, p, "forbidden", "only the author may change a message", extra);
        break;
    case CHANHOST_STORE_EINVAL:
        cc_error(c, p, "bad_request", "the store refused the parameters", extra);
        break;
    case CHANHOST_STORE_EBUSY:
        cc_error(c, p, "busy", "the server is busy; retry later", extra);
        break;
    default:
        cc_error(c, p, "store_unavailable", "the message store failed; retry later", extra);
    }
}

json_int_t cc_id_field(const json_t *in, const char *key)
{
    const json_t *v = GET(in, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

void cc_group_send_id(cc_plugin *p, const char *prefix, json_int_t id, const json_t *msg)
{
    char group[CC_GROUP_MAX];

    cc_name_id(group, sizeof group, prefix, id);
    p->api->group_send(group, msg);
}

/* Is text a message this plugin takes?  If not, the client is told (the
 * error frame carries tag's fields). */
static int check_text(chanhost_conn *c, cc_plugin *p, const json_t *text, const json_t *tag)
{
    const char *s = json_string_value(text);
    size_t len = json_string_length(text);
    char why[96];

    if (!s || len == 0) {
        cc_error(c, p, "bad_request", "\"message\" must be a non-empty string", tag);
        return 0;
    }
    if (len > CONTENT_MAX || chk_utf8_chars(s, len) > p->set.max_chars) {
        snprintf(why, sizeof why, "the message is longer than %zu characters", p->set.max_chars);
        cc_error(c, p, "too_long", why, tag);
        return 0;
    }
    return 1;
}

/* A message's payload from the store's shape (chatcore.h: the names the
 * REST history uses too), with type first when given (new reference). */
json_t *cc_msg_json(const cc_conn *cc, const json_t *m, const char *type)
{
    json_t *o = type ? json_pack("{s:s}", "type", type) : json_object();
    json_t *extra = GET(m, "extra");

    json_object_set(o, "id", OR_NULL(GET(m, "id")));
    json_object_set(o, "message", OR_NULL(GET(m, "content")));
    json_object_set(o, "username", OR_NULL(GET(extra, "username")));
    json_object_set(o, "user_id", OR_NULL(GET(m, "sender_id")));
    json_object_set(o, "timestamp", OR_NULL(GET(m, "created_at")));
    json_object_set(o, "client_msg_id", OR_NULL(GET(m, "client_msg_id")));
    json_object_set_new(o, "room_id", json_integer(cc->room_id));
    json_object_set(o, "edited_at", OR_NULL(GET(m, "edited_at")));
    json_object_set(o, "is_deleted",
                    json_is_true(GET(m, "is_deleted")) ? json_true() : json_false());
    if (json_is_array(GET(m, "read_by")))
        json_object_set(o, "read_by", GET(m, "read_by"));
    else
        json_object_set_new(o, "read_by", json_array());
    if (cc->p->kind->id_field)
        json_object_set_new(o, cc->p->kind->id_field, json_integer(cc->public_id));
    if (json_array_size(GET(extra, "attachments")))
        json_object_set(o, "attachments", GET(extra, "attachments"));
    return o;
}

/* ---- opening a room ------------------------------------------------------- */

/* The connection's state, for a user the handshake authenticated. */
cc_conn *cc_attach(chanhost_conn *c, cc_plugin *p, int *code)
{
    json_int_t uid = chk_user_id(p->api, c);
    cc_conn *cc;

    *code = 4001;
    if (uid <= 0 || !chk_username(p->api, c))
        return NULL;
    *code = 1011;
    cc = calloc(1, p->kind->conn_size > sizeof *cc ? p->kind->conn_size : sizeof *cc);
    if (!cc)
        return NULL;
    cc->p = p;
    cc->handlers = p->kind->handlers;
    cc->deliver = cc_deliver_room;
    cc->user_id = uid;
    chk_bucket_init(&cc->bucket, p->set.rate, p->set.burst, p->api->now_ms());
    p->api->set_data(c, cc);
    return cc;
}

/* Accept a pending connection, answering the "Bearer" subprotocol when
 * the client offered its token that way (browsers insist). */
static int accept_pending(chanhost_conn *c, cc_plugin *p)
{
    const char *sp = p->api->subprotocol_offered(c, "Bearer") ? "Bearer" : NULL;

    return p->api->accept(c, sp);
}

/* A participant: accept, join the room's group, send the history, then
 * free the request (query and headers: nothing reads them after ?since=;
 * SDK 1.3). */
static void member_open(chanhost_conn *c, cc_conn *cc, cc_plugin *p)
{
    char group[CC_GROUP_MAX];

    if (accept_pending(c, p) != CHANHOST_OK)
        return;
    if (p->api->group_add(c, cc_group(cc, group)) != CHANHOST_OK) {
        p->api->close(c, 1011, "channel layer refused the group");
        return;
    }
    cc_load_history(c, cc);
    p->api->release_request(c); /* ?since= was read: the token goes */
}

/* participant.add answered for a user joining an open room (added or
 * already in: a participant either way). */
static void on_joined(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    (void)result, (void)data;
    if (!cc)
        return;
    if (status != 0)
        p->api->close(c, 1011, "message store unavailable");
    else
        member_open(c, cc, p);
}

/* participant.check answered: a participant goes on; a stranger joins an
 * open room when the connection may (cc_join_room), else gets 4003. */
static void on_member(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    json_t *params;

    (void)data;
    if (!cc)
        return;
    if (status != 0) {
        p->api->close(c, 1011, "message store unavailable");
        return;
    }
    if (json_is_true(GET(result, "is_participant"))) {
        member_open(c, cc, p);
        return;
    }
    if (!cc->join_open || !json_is_true(GET(cc->room, "is_open"))) {
        p->api->close(c, 4003, "not a participant of this room");
        return;
    }
    params = json_pack("{s:I, s:I}", "room_id", cc->room_id, "user_id", cc->user_id);
    cc_stream_params(p, params);
    if (cc_call(c, p, "participant.add", params, on_joined, NULL) != 0)
        p->api->close(c, 1011, "message store unavailable");
}

/* Is the room there, active, and one this plugin serves? */
static int room_usable(const cc_plugin *p, const json_t *room)
{
    return json_is_object(room) && json_is_true(GET(room, "is_active")) &&
           (!p->kind->room_ok || p->kind->room_ok(room));
}

/* The room's JSON for a connection (new reference, NULL out of memory):
 * the copy the connections to room id share when it equals room, else a
 * new copy, which becomes the shared one.  A room of N members costs one
 * copy, not N. */
static json_t *room_share(cc_plugin *p, json_int_t id, const json_t *room)
{
    char key[24];
    json_t *have, *copy;

    snprintf(key, sizeof key, "%lld", (long long)id);
    have = json_object_get(p->rooms, key);
    if (have && json_equal(have, room))
        return json_incref(have);
    copy = json_deep_copy(room);
    if (copy)
        json_object_set(p->rooms, key, copy);
    return copy;
}

/* cc lets go of its room's JSON; the shared copy goes with the last
 * connection holding it (only p->rooms refers to it then). */
static void room_unshare(cc_plugin *p, cc_conn *cc)
{
    char key[24];
    json_t *have;

    if (!cc->room)
        return;
    snprintf(key, sizeof key, "%lld", (long long)cc->room_id);
    have = json_object_get(p->rooms, key);
    if (have == cc->room && have->refcount == 2)
        json_object_del(p->rooms, key);
    json_decref(cc->room);
    cc->room = NULL;
}

/* room.get answered: keep the room, bind the connection to it (the host
 * closes it with 4003 when its user is removed; bound before the check,
 * so no removal falls between), then check the user's membership. */
static void on_room(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                    json_t *data)
{
    const json_t *room = GET(result, "room");
    json_t *params;

    (void)data;
    if (!cc)
        return;
    if (status == CHANHOST_STORE_ENOENT || (status == 0 && !room_usable(p, room))) {
        p->api->close(c, 4004, "no such room");
        return;
    }
    if (status != 0) {
        p->api->close(c, 1011, "message store unavailable");
        return;
    }
    cc->room_id = json_integer_value(GET(room, "id"));
    cc->room = room_share(p, cc->room_id, room);
    if (CHANHOST_API_HAS(p->api, bind_room) && p->api->bind_room(c, cc->room_id) != CHANHOST_OK) {
        p->api->close(c, 1011, "cannot follow the room's membership");
        return;
    }
    params = json_pack("{s:I, s:I}", "room_id", cc->room_id, "user_id", cc->user_id);
    if (cc_call(c, p, "participant.check", params, on_member, NULL) != 0)
        p->api->close(c, 1011, "message store unavailable");
}

/* The first step of a room connection: room.get; on_room goes on. */
int cc_open_room(chanhost_conn *c, cc_conn *cc, json_t *query, json_int_t public_id)
{
    cc->public_id = public_id;
    if (cc_call(c, cc->p, "room.get", query, on_room, NULL) != 0)
        return 1011;
    return CHANHOST_PENDING;
}

/* The first step of a connection that joins open rooms:
 * room.get_or_create (one room per key however many connect at once);
 * on_room and on_member go on, on_member adding the user to an open
 * room (participant.add is idempotent, so concurrent joins all land). */
int cc_join_room(chanhost_conn *c, cc_conn *cc, json_t *params)
{
    cc->join_open = 1;
    if (cc_call(c, cc->p, "room.get_or_create", params, on_room, NULL) != 0)
        return 1011;
    return CHANHOST_PENDING;
}

/* The connection is gone: free its state (pending calls get c NULL). */
void cc_disconnect(chanhost_conn *c, void *state, int code)
{
    cc_plugin *p = state;
    cc_conn *cc = p->api->get_data(c);

    (void)code;
    if (!cc)
        return;
    p->api->set_data(c, NULL);
    if (p->kind->conn_free)
        p->kind->conn_free(cc);
    room_unshare(p, cc);
    json_decref(cc->backlog);
    cc_catchup_free(cc->catchup);
    free(cc);
}

/* ---- client frames --------------------------------------------------------- */

/* Take a token from the connection's bucket.  Refused: an error frame,
 * or after abuse_close_after refusals in a row a close with 1008. */
static int rate_ok(chanhost_conn *c, cc_conn *cc)
{
    cc_plugin *p = cc->p;

    if (p->set.rate <= 0 || chk_bucket_take(&cc->bucket, p->api->now_ms()))
        return 1;
    if (p->set.abuse_close_after && cc->bucket.refused >= p->set.abuse_close_after) {
        p->api->close(c, 1008, "rate limit exceeded");
        return 0;
    }
    chk_error(p->api, c, "rate_limited", "too many messages; slow down");
    return 0;
}

/* A client frame: rate limit, parse (cc_parse_flat, else chk_parse), then
 * the handler of its type. */
void cc_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    cc_plugin *p = state;
    cc_conn *cc = p->api->get_data(c);
    const cc_handler *h;
    const char *type;
    json_t *in;

    if (!cc || !rate_ok(c, cc))
        return;
    in = is_binary ? NULL : cc_parse_flat(data, len);
    if (!(type = json_string_value(GET(in, "type")))) {
        json_decref(in);
        if (!(in = chk_parse(p->api, c, data, len, is_binary, &type)))
            return;
    }
    for (h = cc->handlers; h->type; h++) {
        if (strcmp(h->type, type) == 0)
            break;
    }
    if (h->fn)
        h->fn(c, cc, in);
    else
        chk_error(p->api, c, "unknown_type", "unknown message type");
    json_decref(in);
}

/* ---- layer messages --------------------------------------------------------- */

/* A layer message: delivered when live, else held (bounded). */
void cc_group_message(chanhost_conn *c, void *state, const char *type, const json_t *msg,
                      const chanhost_msg *m)
{
    cc_plugin *p = state;
    cc_conn *cc = p->api->get_data(c);

    if (!cc)
        return;
    if (cc->live) {
        cc->deliver(c, cc, type, msg, m);
        return;
    }
    if (!cc->backlog)
        cc->backlog = json_array();
    if (json_array_size(cc->backlog) >= BACKLOG_MAX) {
        p->api->close(c, 1013, "too far behind");
        return;
    }
    json_array_append_new(cc->backlog, json_deep_copy(msg));
}

/* Forward, but not this user's own typing and receipts back to them. */
void cc_deliver_room(chanhost_conn *c, cc_conn *cc, const char *type, const json_t *msg,
                     const chanhost_msg *m)
{
    static const char *const own_echo[] = {"typing", "read_receipt", "bulk_read", NULL};
    const chanhost_api *api = cc->p->api;

    for (size_t i = 0; own_echo[i]; i++) {
        if (strcmp(type, own_echo[i]) == 0 &&
            json_integer_value(GET(msg, "user_id")) == cc->user_id)
            return;
    }
    if (m)
        api->forward(c, m);
    else
        api->send_json(c, msg);
}

/* ---- a new message ------------------------------------------------------------ */

/* The message committed (or was a retry of one that did): ack it to the
 * sender, and broadcast it unless it is a duplicate. */
static void on_appended(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                        const json_t *result, json_t *data)
{
    json_t *out = GET(data, "out"), *tag = GET(data, "tag");

    (void)cc;
    if (status == CHANHOST_STORE_EPERM && c) {
        cc_error(c, p, "not_participant", "you are not a participant of this room", tag);
        p->api->close(c, 4003, "not a participant of this room");
        return;
    }
    if (status != 0) {
        if (c)
            cc_store_error(c, p, status, tag);
        return;
    }
    json_object_set(out, "id", OR_NULL(GET(result, "id")));
    json_object_set(out, "timestamp", OR_NULL(GET(result, "created_at")));
    json_object_set(out, "client_msg_id", OR_NULL(GET(result, "client_msg_id")));
    if (GET(result, "pos"))
        json_object_set(out, "pos", GET(result, "pos"));
    if (c && json_object_size(tag))
        cc_send_ack(c, p, GET(tag, "client_msg_id"), GET(result, "id"));
    if (json_is_true(GET(result, "duplicate")))
        return;
    cc_attach_link(c, p, data, GET(result, "id"));
    p->api->group_send(json_string_value(GET(data, "group")), out);
    if (p->kind->committed)
        p->kind->committed(p, GET(data, "room"), out, result);
}

/* The client's client_msg_id as the store's string (*id, new reference;
 * NULL when none was given).  -1 after an error frame when malformed. */
static int client_msg_id(const json_t *v, json_t **id)
{
    char buf[32];

    *id = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        *id = json_string(buf);
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 100) {
        *id = json_incref((json_t *)v);
        return 0;
    }
    return -1;
}

/* Append text (borrowed) for cc's user: the store call and what
 * on_appended needs (chatcore.h).  Out of memory, cc_call answers the
 * client "store_unavailable". */
void cc_append(chanhost_conn *c, cc_conn *cc, const json_t *text, json_t *cmid, json_t *tag,
               const json_t *attachments)
{
    cc_plugin *p = cc->p;
    const char *name = chk_username(p->api, c);
    json_t *extra = json_object(), *params = NULL, *data = NULL;

    if (extra && name && json_object_set_new_nocheck(extra, "username", json_string(name)) == 0) {
        if (attachments)
            json_object_set(extra, "attachments", (json_t *)attachments);
        if ((params = cc_append_params(cc, text, cmid, extra)) != NULL)
            cc_stream_params(p, params);
        data = params ? cc_append_data(cc, cc_new_msg_json(cc, text, extra), tag) : NULL;
    }
    if (!data) {
        json_decref(params);
        params = NULL;
    }
    if (attachments)
        json_object_set_new(data, "link",
                            json_pack("{s:I, s:I}", "room_id", cc->room_id, "uploader_id",
                                      cc->user_id));
    json_decref(extra);
    cc_call_or_error(c, p, "message.append", params, on_appended, data);
}

/* {"type": msg, "message", "client_msg_id"?, "attachments"?}: append
 * with the user's id and name (a "username" sent by the client is
 * ignored), stored only while the user is a participant (checked in the
 * append's transaction); on_appended acks and broadcasts after the
 * commit.  Attachments are checked first (attach.c). */
void cc_on_message(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    cc_plugin *p = cc->p;
    const json_t *text = GET(in, "message"), *orig = GET(in, "client_msg_id");
    json_t *tag = json_object(), *cmid;

    if (orig && !json_is_null(orig))
        json_object_set(tag, "client_msg_id", (json_t *)orig);
    if (client_msg_id(orig, &cmid) != 0)
        cc_error(c, p, "bad_request", "\"client_msg_id\" must be a string of 1 to 100 bytes", tag);
    else if (check_text(c, p, text, tag) && !cc_attach_check(c, cc, in, cmid, tag))
        cc_append(c, cc, text, cmid, tag, NULL);
    json_decref(cmid);
    json_decref(tag);
}

/* ---- edit and delete -------------------------------------------------------- */

/* The change committed: tell the room. */
static void on_edited(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    const json_t *m = GET(result, "message");
    json_t *out;

    (void)cc;
    if (status != 0) {
        if (c)
            cc_store_error(c, p, status, NULL);
        return;
    }
    if (json_is_true(GET(data, "delete")))
        cc_attach_purge(c, p, GET(data, "id"));
    if (json_is_true(GET(data, "delete")))
        out = json_pack("{s:s, s:O}", "type", p->kind->deleted_type, "id", GET(data, "id"));
    else
        out = json_pack("{s:s, s:O, s:O, s:O}", "type", p->kind->edited_type, "id", GET(data, "id"),
                        "message", GET(data, "content"), "edited_at", OR_NULL(GET(m, "edited_at")));
    if (GET(result, "pos"))
        json_object_set(out, "pos", GET(result, "pos"));
    p->api->group_send(json_string_value(GET(data, "group")), out);
    json_decref(out);
}

/* message.get answered: only the author's live messages of this room may
 * change; then edit or delete. */
static void on_edit_checked(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                            const json_t *result, json_t *data)
{
    const json_t *m = GET(result, "message");
    int del = json_is_true(GET(data, "delete"));
    json_t *params;

    if (!cc)
        return;
    if (status != 0) {
        cc_store_error(c, p, status, NULL);
        return;
    }
    if (json_integer_value(GET(m, "room_id")) != cc->room_id ||
        json_is_true(GET(m, "is_deleted"))) {
        cc_store_error(c, p, CHANHOST_STORE_ENOENT, NULL);
        return;
    }
    if (json_integer_value(GET(m, "sender_id")) != cc->user_id) {
        cc_store_error(c, p, CHANHOST_STORE_EPERM, NULL);
        return;
    }
    /* room_id: the store checks it again in the edit's transaction, and
     * PostgreSQL runs the call on its room's connection */
    params = json_pack("{s:O, s:I, s:I}", "id", GET(data, "id"), "sender_id", cc->user_id,
                       "room_id", cc->room_id);
    if (!del)
        json_object_set(params, "content", GET(data, "content"));
    cc_stream_params(p, params);
    cc_call_or_error(c, p, del ? "message.delete" : "message.edit", params, on_edited,
                     json_incref(data));
}

/* Edit (del 0) or delete a message: {"message_id" (or "id"), "message"}. */
static void edit_or_delete(chanhost_conn *c, cc_conn *cc, const json_t *in, int del)
{
    cc_plugin *p = cc->p;
    json_int_t id = cc_id_field(in, "message_id");
    const json_t *text = GET(in, "message");
    json_t *data;
    char group[CC_GROUP_MAX];

    if (!id)
        id = cc_id_field(in, "id");
    if (!id) {
        cc_error(c, p, "bad_request", "\"message_id\" must be a message id", NULL);
        return;
    }
    if (!del && !check_text(c, p, text, NULL))
        return;
    data = json_pack("{s:s, s:I, s:b}", "group", cc_group(cc, group), "id", id, "delete", del);
    if (!del)
        json_object_set(data, "content", (json_t *)text);
    cc_call_or_error(c, p, "message.get", json_pack("{s:I}", "id", id), on_edit_checked, data);
}

void cc_on_edit(chanhost_conn *c, cc_conn *cc, const json_t *in) { edit_or_delete(c, cc, in, 0); }

void cc_on_delete(chanhost_conn *c, cc_conn *cc, const json_t *in) { edit_or_delete(c, cc, in, 1); }

/* ---- typing and heartbeat ------------------------------------------------------ */

/* {"type":"typing","is_typing"?}: to the room, not stored. */
void cc_on_typing(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    cc_plugin *p = cc->p;
    const json_t *t = GET(in, "is_typing");
    json_t *out;
    char group[CC_GROUP_MAX];

    if (t && !json_is_boolean(t)) {
        cc_error(c, p, "bad_request", "\"is_typing\" must be true or false", NULL);
        return;
    }
    out = json_pack("{s:s, s:s, s:I, s:b}", "type", "typing", "username", chk_username(p->api, c),
                    "user_id", cc->user_id, "is_typing", !t || json_is_true(t));
    p->api->group_send(cc_group(cc, group), out);
    json_decref(out);
}

/* Seed 001's heartbeat: {"type":"ping"} -> {"type":"pong"} (fixed text). */
void cc_on_ping(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    static const char pong[] = "{\"type\":\"pong\"}";

    (void)in;
    cc->p->api->send_text(c, pong, sizeof pong - 1);
}
