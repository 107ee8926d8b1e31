/*
 * sdk_double.c -- a test double of the host's SDK table (sdk/chanhost.h)
 * driving one chat plugin, compiled with the plugin's own sources and
 * sdk/ alone (the plugin's descriptor is the only symbol it uses).  One
 * input is one connection's life:
 *
 *   byte 0    the route parameters (a room id, a thread, a chat, a group
 *             slug, the lobby, a task, an ad, a support room), the room
 *             kind the store answers, the user's role (or none);
 *   byte 1    whether the query says ?since=3 (odd);
 *   then      records [op][len][len bytes]: a text message (only when
 *             valid UTF-8, as the host guarantees), a binary message, a
 *             JSON object completed with one of the plugins' frame types,
 *             a layer message (a JSON object with a "type"), the oldest
 *             store call answered (canned result) or failed (a status the
 *             store returns), every store call answered, the client gone.
 *
 * The double behaves as the host does where the plugins rely on it:
 * store callbacks and group deliveries run later, never inside the call
 * that queued them; a callback for a connection that went runs with
 * c == NULL; disconnect comes exactly once, after connect, never inside
 * close.  It checks that the plugin never uses a connection after its
 * disconnect and never sends before accepting.  At the end every store
 * call is answered and the plugin unloaded, so ASan sees any leak.
 * Owns the connection, the store queue and the deliveries of one input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"
#include "fuzz.h"

extern const chanhost_plugin chanhost_plugin_descriptor;

#define MAX_CALLS 64
#define MAX_GROUPS 8

struct chanhost_conn {
    int alive; /* between connect and disconnect */
    int accepted, closing, refused, gone;
    int close_code;
    void *data;
    json_t *user;
    const char *const *params; /* name, value, ... NULL */
    int since;
    int released; /* api->release_request was called */
    char groups[MAX_GROUPS][100];
    void (*drain_cb)(chanhost_conn *c, void *arg); /* api->on_drain's */
    void *drain_arg;
    int64_t room_id; /* api->bind_room's */
};

struct chanhost_msg {
    json_t *msg;
};

typedef struct call {
    chanhost_conn *c; /* NULL: store_exec, or the client left */
    char op[64];
    json_t *params;
    void (*cb)(chanhost_conn *, int, const json_t *, const char *, void *);
    void (*exec_cb)(int, const json_t *, const char *, void *);
    void *arg;
} call;

static chanhost_conn conn;
static call calls[MAX_CALLS];
static size_t n_calls;
static json_t *deliveries; /* layer messages for conn, in order */
static uint64_t clock_ms;
static const char *room_kind;
static void *state;

/* ---- the table's functions ------------------------------------------ */

/* The plugin's log line (FUZZ_VERBOSE set: on stderr, as sent frames). */
static void d_log(int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "plugin log %d: %s\n", level, line);
}

/* c must be the live connection: never one the plugin was told is gone. */
static chanhost_conn *live(chanhost_conn *c)
{
    FZ_CHECK(c == &conn && conn.alive);
    return c;
}

static int d_accept(chanhost_conn *c, const char *subprotocol)
{
    live(c);
    if (subprotocol)
        return CHANHOST_ERR_INVALID;
    if (c->accepted || c->closing)
        return CHANHOST_ERR_STATE;
    c->accepted = 1;
    return CHANHOST_OK;
}

static int d_select_subprotocol(chanhost_conn *c, const char *subprotocol)
{
    live(c);
    (void)subprotocol;
    return CHANHOST_ERR_INVALID; /* the client offered none */
}

static int d_close(chanhost_conn *c, int code, const char *reason)
{
    live(c);
    (void)reason;
    if (!(code == 1000 || code == 1001 || code == 1002 || code == 1003 ||
          (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)))
        return CHANHOST_ERR_INVALID;
    if (c->closing)
        return CHANHOST_ERR_CLOSED;
    c->accepted = 1;
    c->closing = 1;
    c->close_code = code;
    return CHANHOST_OK;
}

/* What every send checks: accepted, not closing. */
static int can_send(chanhost_conn *c, const void *data)
{
    live(c);
    if (!data)
        return CHANHOST_ERR_INVALID;
    if (!c->accepted)
        return CHANHOST_ERR_STATE;
    return c->closing ? CHANHOST_ERR_CLOSED : CHANHOST_OK;
}

static int d_send_text(chanhost_conn *c, const char *data, size_t len)
{
    int rc = can_send(c, data);

    if (rc == CHANHOST_OK)
        FZ_CHECK(len == 0 || data[0] != '\0' || data[len - 1] != '\0');
    return rc;
}

static int d_send_binary(chanhost_conn *c, const void *data, size_t len)
{
    (void)len;
    return can_send(c, data);
}

static int d_send_json(chanhost_conn *c, const json_t *msg)
{
    int rc = can_send(c, msg);
    char *text;

    if (rc != CHANHOST_OK)
        return rc;
    text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return CHANHOST_ERR_INVALID;
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "sent: %s\n", text);
    free(text);
    return CHANHOST_OK;
}

static int d_forward(chanhost_conn *c, const chanhost_msg *m)
{
    FZ_CHECK(m != NULL && json_is_object(m->msg));
    return d_send_json(c, m->msg);
}

#define CHANNEL "chanhost.00000000000000000000000000000000!fuzz"

static const char *d_channel_name(chanhost_conn *c)
{
    live(c);
    return CHANNEL;
}

static const char *d_route_param(chanhost_conn *c, const char *name)
{
    live(c);
    for (const char *const *p = c->params; p && p[0]; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

/* The request, as the host has it: gone once released and accepted. */
static int request_gone(chanhost_conn *c) { return live(c)->released && c->accepted; }

static const char *d_query_string(chanhost_conn *c)
{
    return c->since && !request_gone(c) ? "since=3" : "";
}

static const char *d_query_param(chanhost_conn *c, const char *name)
{
    return c->since && !request_gone(c) && strcmp(name, "since") == 0 ? "3" : NULL;
}

static const char *d_header(chanhost_conn *c, const char *name)
{
    live(c);
    (void)name;
    return NULL;
}

static const char *d_path(chanhost_conn *c)
{
    live(c);
    return "/ws/fuzz/";
}

static const char *d_peer(chanhost_conn *c)
{
    live(c);
    return "192.0.2.1:4242";
}

static int d_subprotocol_offered(chanhost_conn *c, const char *name)
{
    live(c);
    (void)name;
    return 0;
}

static void d_set_data(chanhost_conn *c, void *data) { live(c)->data = data; }

static void *d_get_data(chanhost_conn *c) { return live(c)->data; }

/* A channels group name: ASCII letters, digits, '-', '_', '.', < 100. */
static int group_ok(const char *g)
{
    size_t n = g ? strspn(g, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789-_.")
                 : 0;

    return n > 0 && n < 100 && g[n] == '\0';
}

static int d_group_add(chanhost_conn *c, const char *group)
{
    live(c);
    if (!group_ok(group) || c->closing)
        return CHANHOST_ERR_INVALID;
    for (int i = 0; i < MAX_GROUPS; i++)
        if (strcmp(c->groups[i], group) == 0)
            return CHANHOST_OK;
    for (int i = 0; i < MAX_GROUPS; i++)
        if (!c->groups[i][0]) {
            snprintf(c->groups[i], sizeof c->groups[i], "%s", group);
            return CHANHOST_OK;
        }
    return CHANHOST_ERR_NOMEM;
}

static int d_group_discard(chanhost_conn *c, const char *group)
{
    live(c);
    if (!group_ok(group))
        return CHANHOST_ERR_INVALID;
    for (int i = 0; i < MAX_GROUPS; i++)
        if (strcmp(c->groups[i], group) == 0)
            c->groups[i][0] = '\0';
    return CHANHOST_OK;
}

/* A layer message: checked as the host does, delivered later to conn if
 * it is a member (is_member) and still there. */
static int layer_send(const json_t *msg, int is_member)
{
    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "type")))
        return CHANHOST_ERR_INVALID;
    if (is_member && conn.alive && !conn.closing)
        json_array_append_new(deliveries, json_deep_copy(msg));
    return CHANHOST_OK;
}

static int d_group_send(const char *group, const json_t *msg)
{
    int member = 0;

    if (!group_ok(group))
        return CHANHOST_ERR_INVALID;
    for (int i = 0; i < MAX_GROUPS; i++)
        member |= strcmp(conn.groups[i], group) == 0;
    return layer_send(msg, member);
}

static int d_channel_send(const char *channel, const json_t *msg)
{
    if (!channel || !*channel)
        return CHANHOST_ERR_INVALID;
    return layer_send(msg, strcmp(channel, CHANNEL) == 0);
}

static size_t d_group_size(const char *group)
{
    size_t n = 0;

    for (int i = 0; i < MAX_GROUPS && group; i++)
        n += strcmp(conn.groups[i], group) == 0;
    return n;
}

/* Queue a store call (params stolen): answered later by the input. */
static int queue_call(chanhost_conn *c, const char *op, json_t *params, call *proto)
{
    if (!op || !json_is_object(params) || strlen(op) >= sizeof calls[0].op) {
        json_decref(params);
        return CHANHOST_STORE_EINVAL;
    }
    if (n_calls == MAX_CALLS) {
        json_decref(params);
        return CHANHOST_STORE_EBUSY;
    }
    *proto = (call){.c = c,
                    .params = params,
                    .cb = proto->cb,
                    .exec_cb = proto->exec_cb,
                    .arg = proto->arg};
    snprintf(proto->op, sizeof proto->op, "%s", op);
    calls[n_calls++] = *proto;
    return 0;
}

static int d_store_call(chanhost_conn *c, const char *op, json_t *params,
                        void (*cb)(chanhost_conn *, int, const json_t *, const char *, void *),
                        void *arg)
{
    call k = {.cb = cb, .arg = arg};

    if (c)
        live(c);
    if (!cb) {
        json_decref(params);
        return CHANHOST_STORE_EINVAL;
    }
    return queue_call(c, op, params, &k);
}

static int d_store_exec(const char *op, json_t *params,
                        void (*cb)(int, const json_t *, const char *, void *), void *arg)
{
    call k = {.exec_cb = cb, .arg = arg};

    if (!cb) {
        json_decref(params);
        return CHANHOST_STORE_EINVAL;
    }
    return queue_call(NULL, op, params, &k);
}

static uint64_t d_now_ms(void) { return clock_ms += 150; }

static const json_t *d_user(chanhost_conn *c) { return live(c)->user; }

/* The 1.3 user calls, read from the same JSON as d_user. */
static int64_t d_user_id(chanhost_conn *c)
{
    return json_integer_value(json_object_get(live(c)->user, "id"));
}

static const char *d_username(chanhost_conn *c)
{
    return json_string_value(json_object_get(live(c)->user, "username"));
}

static int d_user_has_role(chanhost_conn *c, const char *role)
{
    const json_t *roles = json_object_get(live(c)->user, "roles");

    for (size_t i = 0; role && i < json_array_size(roles); i++) {
        const char *r = json_string_value(json_array_get(roles, i));

        if (r && strcmp(r, role) == 0)
            return 1;
    }
    return 0;
}

/* api->release_request: the query goes once accepted (request_gone). */
static int d_release_request(chanhost_conn *c)
{
    live(c)->released = 1;
    return CHANHOST_OK;
}

static const char *d_http_str(chanhost_http *req)
{
    (void)req;
    return NULL;
}
static const char *d_http_named(chanhost_http *req, const char *name)
{
    (void)req;
    (void)name;
    return NULL;
}
static const json_t *d_http_json(chanhost_http *req)
{
    (void)req;
    return NULL;
}
static int d_http_is_service(chanhost_http *req)
{
    (void)req;
    return 0;
}
static int d_http_reply(chanhost_http *req, int status, json_t *body)
{
    (void)req;
    (void)status;
    json_decref(body);
    return CHANHOST_ERR_INVALID;
}

static chanhost_timer *d_timer_start(uint64_t ms, uint64_t repeat_ms,
                                     void (*cb)(chanhost_timer *t, void *arg), void *arg)
{
    (void)ms;
    (void)repeat_ms;
    (void)cb;
    (void)arg;
    return NULL; /* as the host out of memory: plugins must cope */
}
static void d_timer_stop(chanhost_timer *t) { FZ_CHECK(t == NULL); }
static chanhost_poster *d_poster_new(void) { return NULL; }
static void d_poster_free(chanhost_poster *p) { FZ_CHECK(p == NULL); }
static int d_loop_post(chanhost_poster *p, void (*cb)(void *), void (*drop)(void *), void *arg)
{
    (void)p;
    (void)cb;
    (void)drop;
    (void)arg;
    return CHANHOST_ERR_INVALID;
}

/* api->on_drain: the double writes everything at once, so the callback
 * runs at the next settle(), never inside this call (as the host's). */
static int d_on_drain(chanhost_conn *c, void (*cb)(chanhost_conn *c, void *arg), void *arg)
{
    live(c);
    if (!cb)
        return CHANHOST_ERR_INVALID;
    if (c->closing)
        return CHANHOST_ERR_CLOSED;
    if (!c->accepted || c->drain_cb)
        return CHANHOST_ERR_STATE;
    c->drain_cb = cb;
    c->drain_arg = arg;
    return CHANHOST_OK;
}

/* api->bind_room: remembered; the double removes nobody. */
static int d_bind_room(chanhost_conn *c, int64_t room_id)
{
    live(c);
    if (room_id <= 0 || c->closing || !c->user)
        return CHANHOST_ERR_INVALID;
    c->room_id = room_id;
    return CHANHOST_OK;
}

static const chanhost_api api = {
    .struct_size = sizeof(chanhost_api),
    .abi_major = CHANHOST_ABI_MAJOR,
    .abi_minor = CHANHOST_ABI_MINOR,
    .log = d_log,
    .accept = d_accept,
    .select_subprotocol = d_select_subprotocol,
    .close = d_close,
    .send_text = d_send_text,
    .send_binary = d_send_binary,
    .send_json = d_send_json,
    .forward = d_forward,
    .channel_name = d_channel_name,
    .route_param = d_route_param,
    .query_string = d_query_string,
    .query_param = d_query_param,
    .header = d_header,
    .path = d_path,
    .peer = d_peer,
    .subprotocol_offered = d_subprotocol_offered,
    .set_data = d_set_data,
    .get_data = d_get_data,
    .group_add = d_group_add,
    .group_discard = d_group_discard,
    .group_send = d_group_send,
    .channel_send = d_channel_send,
    .group_size = d_group_size,
    .store_call = d_store_call,
    .now_ms = d_now_ms,
    .user = d_user,
    .http_method = d_http_str,
    .http_path = d_http_str,
    .http_param = d_http_named,
    .http_query = d_http_named,
    .http_body = d_http_json,
    .http_user = d_http_json,
    .http_is_service = d_http_is_service,
    .http_peer = d_http_str,
    .http_reply = d_http_reply,
    .store_exec = d_store_exec,
    .timer_start = d_timer_start,
    .timer_stop = d_timer_stop,
    .poster_new = d_poster_new,
    .poster_free = d_poster_free,
    .loop_post = d_loop_post,
    .on_drain = d_on_drain,
    .bind_room = d_bind_room,
    .user_id = d_user_id,
    .username = d_username,
    .user_has_role = d_user_has_role,
    .release_request = d_release_request,
};

/* ---- the connection's life ------------------------------------------ */

/* What the store answers to any operation: one object with the fields
 * every result the plugins read has (a room of the chosen kind, an
 * active membership, a page of history, counts, a message by this user,
 * the id and time of a new message, participants, conversations); new
 * reference. */
static json_t *canned(const call *k)
{
    json_int_t uid = json_integer_value(json_object_get(conn.user, "id"));
    const json_t *cmid = json_object_get(k->params, "client_msg_id");

    return json_pack("{s:{s:i, s:s, s:s, s:b, s:b, s:s}, s:b, s:[{s:i, s:I, s:s, s:s, s:i}],"
                     " s:{s:i, s:i}, s:[i, i], s:i, s:I, s:O, s:b,"
                     " s:{s:i, s:I, s:s, s:s, s:i}, s:[i, I], s:[{s:i, s:i}], s:[]}",
                     "room", "id", 7, "kind", room_kind, "name", "general", "is_active", 1,
                     "is_private", 0, "key", "group:general", "is_participant", 1, "messages", "id",
                     4, "user_id", uid, "username", "alice", "content", "hi", "created_at", 1000,
                     "counts", "2", 3, "9", 1, "marked", 4, 5, "id", 42, "created_at",
                     (json_int_t)clock_ms, "client_msg_id", cmid ? (json_t *)cmid : json_null(),
                     "duplicate", 0, "message", "id", 4, "user_id", uid, "username", "alice",
                     "content", "hi", "room_id", 7, "user_ids", 2, uid, "rooms", "id", 7,
                     "client_id", 3, "conversations");
}

/* Answer the oldest store call: canned when status is 0. */
static void answer(int status)
{
    call k;
    json_t *result;

    if (n_calls == 0)
        return;
    k = calls[0];
    memmove(calls, calls + 1, --n_calls * sizeof *calls);
    result = status == 0 ? canned(&k) : NULL;
    FZ_CHECK(status != 0 || result != NULL);
    if (k.cb)
        k.cb(k.c && conn.alive ? k.c : NULL, status, result, status ? "fuzz says no" : NULL, k.arg);
    else
        k.exec_cb(status, result, status ? "fuzz says no" : NULL, k.arg);
    json_decref(result);
    json_decref(k.params);
}

/* The client is gone (or the plugin closed it): disconnect, once. */
static void disconnect(int code)
{
    if (!conn.alive)
        return;
    if (chanhost_plugin_descriptor.disconnect)
        chanhost_plugin_descriptor.disconnect(&conn, state,
                                              conn.close_code ? conn.close_code : code);
    conn.alive = 0;
}

/* After each step, as the loop would: deliver layer messages, and hear
 * of a close the plugin asked for. */
static void settle(void)
{
    while (json_array_size(deliveries) > 0 && conn.alive && !conn.closing) {
        json_t *msg = json_incref(json_array_get(deliveries, 0));
        chanhost_msg m = {msg};

        json_array_remove(deliveries, 0);
        if (chanhost_plugin_descriptor.group_message)
            chanhost_plugin_descriptor.group_message(&conn, state,
                                                     json_string_value(
                                                         json_object_get(msg, "type")),
                                                     msg, &m);
        else
            d_forward(&conn, &m);
        json_decref(msg);
    }
    json_array_clear(deliveries);
    for (int turns = 0; conn.drain_cb && conn.alive && !conn.closing && turns < 64; turns++) {
        void (*cb)(chanhost_conn *, void *) = conn.drain_cb;

        conn.drain_cb = NULL; /* one-shot: cb may ask again */
        cb(&conn, conn.drain_arg);
    }
    if (conn.closing)
        disconnect(conn.close_code);
}

/* Is s[0..n) valid UTF-8 (what the host lets through as text)? */
static int utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], need, cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        need = (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 0;
        if (!need || n - i <= need)
            return 0;
        cp = c & (0x3fu >> need);
        for (unsigned j = 1; j <= need; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* A text message: NUL-terminated as the host's are. */
static void receive(const uint8_t *d, size_t n, int binary)
{
    char *copy;

    if (!conn.alive || !conn.accepted || conn.closing || (!binary && !utf8_ok(d, n)))
        return;
    copy = malloc(n + 1);
    FZ_CHECK(copy != NULL);
    memcpy(copy, d, n);
    copy[n] = '\0';
    chanhost_plugin_descriptor.receive(&conn, state, copy, n, binary);
    free(copy);
}

/* A JSON object from the input, its "type" one of the plugins' frame
 * types (picked by the first byte), sent as a text message. */
static void typed_frame(const uint8_t *d, size_t n)
{
    static const char *const types[] = {"chat_message", "message",        "comment",
                                        "typing",       "ping",           "read_receipt",
                                        "bulk_read",    "edit_message",   "delete_message",
                                        "edit_comment", "delete_comment", "unknown"};
    json_t *obj = n ? json_loadb((const char *)d + 1, n - 1, 0, NULL) : NULL;
    char *text;

    if (!json_is_object(obj))
        obj = (json_decref(obj), json_object());
    json_object_set_new(obj, "type", json_string(types[n ? d[0] % 12 : 0]));
    text = json_dumps(obj, JSON_COMPACT);
    if (text)
        receive((const uint8_t *)text, strlen(text), 0);
    free(text);
    json_decref(obj);
}

/* A layer message from elsewhere (another process, the backend). */
static void layer_message(const uint8_t *d, size_t n)
{
    json_t *obj = json_loadb((const char *)d, n, 0, NULL);

    if (conn.alive && conn.accepted)
        layer_send(obj, 1);
    json_decref(obj);
}

/* Set up the connection from bytes b (route, room kind, role) and q
 * (?since=3 when odd), and call connect. */
static void connect_conn(uint8_t b, uint8_t q)
{
    static const char *const routes[][3] = {
        {"room_id", "7", NULL}, {"thread_id", "7", NULL},
        {"chat_id", "7", NULL}, {"room_name", "general", NULL},
        {NULL, NULL, NULL},     {"task_id", "7", NULL},
        {"ad_id", "7", NULL},   {"room_name", "publisher_7", NULL},
    };
    static const char *const kinds[] = {"group", "private", "thread",  "task",
                                        "ad",    "ad_chat", "support", "lobby"};
    static const char *const roles[] = {"user", "admin", "publisher", NULL};
    int rc;

    memset(&conn, 0, sizeof conn);
    conn.params = routes[b & 7];
    room_kind = kinds[(b >> 3) & 7];
    conn.since = q & 1;
    if (roles[b >> 6])
        conn.user = json_pack("{s:i, s:s, s:[s]}", "id", 9, "username", "alice", "roles",
                              roles[b >> 6]);
    conn.alive = 1;
    rc = chanhost_plugin_descriptor.connect ? chanhost_plugin_descriptor.connect(&conn, state)
                                            : CHANHOST_ACCEPT;
    if (rc == CHANHOST_ACCEPT)
        conn.accepted = 1;
    else if (rc == CHANHOST_DENY || (rc >= 1000 && rc <= 4999)) {
        conn.closing = 1;
        conn.close_code = rc == CHANHOST_DENY ? 1006 : rc;
    } else
        FZ_CHECK(rc == CHANHOST_PENDING);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = {CHANHOST_STORE_ENOENT,   CHANHOST_STORE_EPERM,
                                   CHANHOST_STORE_EINVAL,   CHANHOST_STORE_EBUSY,
                                   CHANHOST_STORE_EIO,      CHANHOST_STORE_EEXIST,
                                   CHANHOST_STORE_ECANCELED};
    json_t *settings = json_pack("{s:s, s:s}", "history_limit", "5", "max_message_chars", "200");
    size_t i = 2;

    if (size < 2) {
        json_decref(settings);
        return 0;
    }
    deliveries = json_array();
    n_calls = 0;
    clock_ms = 1000000;
    state = NULL;
    FZ_CHECK(chanhost_plugin_descriptor.init(&api, settings, &state) == 0);
    json_decref(settings);
    connect_conn(data[0], data[1]);
    settle();
    while (i + 2 <= size) {
        uint8_t op = data[i];
        size_t n = data[i + 1] < size - i - 2 ? data[i + 1] : size - i - 2;
        const uint8_t *d = data + i + 2;

        i += 2 + n;
        switch (op % 8) {
        case 0:
            receive(d, n, 0);
            break;
        case 1:
            receive(d, n, 1);
            break;
        case 2:
            typed_frame(d, n);
            break;
        case 3:
            layer_message(d, n);
            break;
        case 4:
            answer(0);
            break;
        case 5:
            answer(statuses[(n ? d[0] : 0) % 7]);
            break;
        case 6:
            while (n_calls) {
                answer(0);
                settle();
            }
            break;
        default:
            disconnect(1006);
            break;
        }
        settle();
    }
    for (int rounds = 0; n_calls > 0 && rounds < 256; rounds++) {
        answer(0);
        settle();
    }
    disconnect(1000);
    for (int rounds = 0; n_calls > 0; rounds++) {
        FZ_CHECK(rounds < 1024); /* a plugin calling the store forever */
        answer(CHANHOST_STORE_ECANCELED);
    }
    if (chanhost_plugin_descriptor.fini)
        chanhost_plugin_descriptor.fini(state);
    json_decref(conn.user);
    json_decref(deliveries);
    return 0;
}
