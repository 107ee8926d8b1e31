/*
 * upgrade.c -- owns the life of a WebSocket connection around its frames:
 * the upgrade request (route, handshake checks, the token), the plugin's
 * connect decision, the handler table through which ws.c hands frames to
 * the plugin, and the end (the plugin's disconnect, groups left, memory
 * freed).  The 101 answer and the frames are ws.c's.
 *
 * Log lines follow Daphne's runserver: HANDSHAKING, CONNECT, REJECT,
 * DISCONNECT with the path and [ip:port].
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upgrade.h"

#include "api_store.h"
#include "app.h"
#include "auth.h"
#include "climit.h"
#include "django_auth.h"
#include "handshake.h"
#include "http.h"
#include "ident.h"
#include "layer.h"
#include "log.h"
#include "membership.h"
#include "metrics.h"
#include "plugins.h"
#include "presence.h"
#include "session.h"
#include "ws.h"

/* Refuse the handshake with an HTTP status, counted under reason. */
static void upgrade_fail(ch_conn *c, const char *path, int status, const char *reason,
                         const char *extra)
{
    ch_metric_handshake_failure(reason);
    ch_log(CH_LOG_INFO, "WebSocket REJECT %s [%s] %d %s", path, ch_conn_peer(c), status, reason);
    ch_http_close_after(c);
    ch_http_error(c, status, extra);
}

/* Seconds of a Retry-After for a wait of ms (at least 1). */
static uint64_t retry_seconds(uint64_t ms) { return ms / 1000 + (ms % 1000 != 0) + (ms == 0); }

/* The Retry-After header of a wait of ms, into buf (48 bytes). */
static const char *retry_after(char buf[48], uint64_t ms)
{
    snprintf(buf, 48, "Retry-After: %" PRIu64 "\r\n", retry_seconds(ms));
    return buf;
}

/* How long a client over a connection count is told to wait. */
#define LIMIT_RETRY_MS 5000

#define IP_KEY_LEN (CH_CONN_PEER_LEN + 2)

/* The limit table's key of c's client address, "i:<address>" (the
 * client behind trusted_proxies too; no port), into key (IP_KEY_LEN
 * bytes, the caller's); returns key. */
static char *ip_key(char *key, const ch_conn *c)
{
    char peer[CH_CONN_PEER_LEN], *colon;

    ch_conn_peer_format(c, peer);
    if ((colon = strrchr(peer, ':')))
        *colon = '\0'; /* the port */
    snprintf(key, IP_KEY_LEN, "i:%s", peer);
    return key;
}

/* The per-address limits (climit.h) of w's client: its handshake rate,
 * then its connection count (w->lim_ip, counted from here; ch_ws_gone
 * finds the entry again by the address, which no request changes after
 * the upgrade).  0, or -1
 * after answering 429 (counted under the limit's reason; the caller then
 * drops w). */
static int limit_ip(ch_ws *w, const ch_req *req)
{
    ch_app *app = w->conn->app;
    const ch_config *cfg = &app->cfg;
    uint64_t now = uv_now(app->loop), retry = LIMIT_RETRY_MS;
    char key[IP_KEY_LEN], hdr[48];
    const char *reason = NULL;
    ch_climit *e;

    if (!cfg->max_connections_per_ip && !cfg->handshake_rate_per_ip)
        return 0;
    if (!(e = ch_climit_get(&app->conn_limits, ip_key(key, w->conn), now)))
        return 0; /* memory short: not limited rather than refused */
    if (ch_climit_take(e, cfg->handshake_rate_per_ip, now, &retry) != 0)
        reason = "limit_rate";
    else if (cfg->max_connections_per_ip && e->conns >= cfg->max_connections_per_ip)
        reason = "limit_ip";
    if (!reason) {
        e->conns++;
        w->lim_ip = 1;
        return 0;
    }
    upgrade_fail(w->conn, req->path, 429, reason, retry_after(hdr, retry));
    ch_climit_forget(&app->conn_limits, e, cfg->handshake_rate_per_ip, now);
    return -1;
}

/* Size of the strings block kept with the connection: the path, then
 * the route parameters' name/value pairs. */
static size_t strings_size(const ch_req *req, const ch_route_params *params)
{
    size_t n = strlen(req->path) + 1, i;

    for (i = 0; i < params->n; i++)
        n += strlen(params->names[i]) + strlen(params->values[i]) + 2;
    return n;
}

/* Size of the request block: the query, then the headers' pairs. */
static size_t request_size(const ch_req *req)
{
    size_t n = strlen(req->query) + 1, i;

    for (i = 0; i < req->n_headers; i++)
        n += (ch_ws_name_code(req->names[i]) ? 1 : strlen(req->names[i])) + strlen(req->values[i]) +
             2;
    return n;
}

static char *put(char *p, const char *s)
{
    size_t n = strlen(s) + 1;

    memcpy(p, s, n);
    return p + n;
}

/* Wipe and free w's request block (the query and the headers, with the
 * Authorization and Cookie headers: tokens included) and the query
 * values decoded from it; from then on w has an empty query and no
 * headers.  Idempotent. */
static void free_request(ch_ws *w)
{
    ch_ws_req *r = w->req;
    char *p;

    if (!r)
        return;
    ch_query_cache_free(&r->qcache);
    free(r->subprotocol);
    p = r->query;
    for (uint32_t i = 0; i < 1 + 2 * (uint32_t)r->n_headers; i++)
        p += strlen(p) + 1;
    OPENSSL_cleanse(r, (size_t)(p - (char *)r));
    free(r);
    w->req = NULL;
}

void ch_ws_release_request(ch_ws *w)
{
    w->release_request = 1;
    if (w->accepted)
        free_request(w);
}

/* ---- the plugin as ws.c's consumer (ch_ws_handler) ------------------ */

/* A message from the client for the plugin (text borrowed); a token
 * refresh is the host's (session.h). */
static void plugin_message(ch_ws *w, const char *text, size_t len, int binary)
{
    if (!binary && ch_session_message(w, text, len))
        return;
    ch_plugin_receive(w->plugin, w, text, len, binary);
}

/* The host's membership, session and presence messages are taken here
 * (membership.h, session.h, presence.h); else
 * the plugin's group_message callback, if it has one, takes the message. */
static int plugin_group_message(ch_ws *w, ch_msg *msg)
{
    if (ch_membership_message(w, msg) || ch_session_group_message(w, msg) ||
        ch_presence_message(w, msg))
        return 1;
    if (!ch_plugin_has_group_message(w->plugin))
        return 0;
    ch_plugin_group_message(w->plugin, w, msg->type, msg->json, (const chanhost_msg *)msg);
    return 1;
}

/* Accepted: count the connection on its route and plugin version; a
 * token user's connection joins its user's group (session.h); the
 * request block goes now if the plugin released it (ch_ws_accept reads
 * no header after this). */
static void plugin_opened(ch_ws *w)
{
    w->route->connections++;
    w->plugin->connections++;
    if (w->release_request)
        free_request(w);
    if (w->token_tag && ch_membership_join_user(w->conn->app, w) != 0)
        ch_log(CH_LOG_WARN,
               "WebSocket CONNECT %s [%s] its user's group was refused: a revocation or a "
               "deactivation will not close it",
               w->path, ch_conn_peer(w->conn));
}

/* Run the waiting api->on_drain callback (arg: the connection); it is
 * cleared first, so the callback may ask again. */
static void drain_fire(void *arg)
{
    ch_ws *w = arg;
    void (*cb)(chanhost_conn * c, void *arg) = w->rare->drain_cb;
    void *cb_arg = w->rare->drain_arg;

    w->rare->drain_cb = NULL;
    w->rare->drain_arg = NULL;
    cb(w, cb_arg);
}

/* The output queue emptied: the plugin's api->on_drain callback runs in
 * the version serving the connection, if that version asked for it (one
 * that asked before a reload's adopt is not called: its code may be
 * gone; adopt starts over). */
static void plugin_drained(ch_ws *w)
{
    if (!w->rare || !w->rare->drain_cb)
        return;
    if (w->drain_gen != w->plugin->generation) {
        w->rare->drain_cb = NULL;
        w->rare->drain_arg = NULL;
        return;
    }
    ch_plugin_call(w->plugin, drain_fire, w);
}

static const ch_ws_handler plugin_handler = {
    .message = plugin_message,
    .group_message = plugin_group_message,
    .opened = plugin_opened,
    .gone = ch_ws_gone,
    .drained = plugin_drained,
};

/* ws.h: 168 bytes, so that with a path and route parameters of up to 32
 * bytes the connection is one 208-byte heap chunk; a field more costs
 * every connection 16 bytes. */
_Static_assert(sizeof(ch_ws) <= 168, "chanhost_conn must stay at 168 bytes");

/* Make the connection's plugin-facing state from the request: the path
 * and the route parameters are copied into one block allocated with w
 * itself; the query and the headers (common names as one-byte codes,
 * ws.h) into the request block, apart, which api->release_request can
 * free (params stays the caller's). */
static ch_ws *ws_new(ch_conn *c, const ch_req *req, ch_route *route, const ch_route_params *params)
{
    ch_ws *w = calloc(1, sizeof *w + strings_size(req, params));
    char *p;
    size_t i;

    if (!w)
        return NULL;
    if (!(w->req = malloc(offsetof(ch_ws_req, query) + request_size(req)))) {
        free(w);
        return NULL;
    }
    w->req->qcache = NULL;
    w->req->auth_call = NULL;
    w->req->subprotocol = NULL;
    p = put(w->req->query, req->query);
    for (i = 0; i < req->n_headers; i++) {
        char code[2] = {(char)ch_ws_name_code(req->names[i]), '\0'};

        p = put(p, code[0] ? code : req->names[i]);
        p = put(p, req->values[i]);
    }
    w->req->n_headers = (uint16_t)req->n_headers;
    w->path = (char *)(w + 1);
    p = put(w->path, req->path);
    for (i = 0; i < params->n; i++) {
        p = put(p, params->names[i]);
        p = put(p, params->values[i]);
    }
    w->n_params = (uint16_t)params->n;
    w->conn = c;
    ch_ws_set_handler(&plugin_handler); /* the same table for every connection */
    w->route = route;
    ch_route_ref(route);
    w->plugin = route->plugin;
    ch_plugin_ref(w->plugin);
    return w;
}

/* A decoded query value kept for the connection's lifetime. */
struct ch_qval {
    struct ch_qval *next;
    char *value;
    char name[];
};

/* Decode one raw query value ('+' is a blank, then %XX). */
static char *query_decode(const char *v, size_t len)
{
    char *raw = strndup(v, len), *out, *s;

    if (!raw)
        return NULL;
    for (s = raw; *s; s++)
        if (*s == '+')
            *s = ' ';
    out = ch_percent_decode(raw, len);
    free(raw);
    return out;
}

/* Find the raw value of name in the query; sets *len. */
static const char *query_find(const char *q, const char *name, size_t *len)
{
    size_t nlen = strlen(name);

    while (q && *q) {
        size_t seg = strcspn(q, "&");
        const char *eq = memchr(q, '=', seg);
        size_t klen = eq ? (size_t)(eq - q) : seg;

        if (klen == nlen && memcmp(q, name, nlen) == 0) {
            *len = eq ? seg - klen - 1 : 0;
            return eq ? eq + 1 : q + seg;
        }
        q = q[seg] ? q + seg + 1 : NULL;
    }
    return NULL;
}

const char *ch_query_cached(struct ch_qval **cache, const char *query, const char *name)
{
    struct ch_qval *qv;
    const char *raw;
    size_t len = 0;

    for (qv = *cache; qv; qv = qv->next)
        if (strcmp(qv->name, name) == 0)
            return qv->value;
    raw = query_find(query, name, &len);
    if (!raw || !(qv = malloc(sizeof *qv + strlen(name) + 1)))
        return NULL;
    strcpy(qv->name, name);
    qv->value = query_decode(raw, len);
    if (!qv->value) {
        free(qv);
        return NULL;
    }
    qv->next = *cache;
    *cache = qv;
    return qv->value;
}

void ch_query_cache_free(struct ch_qval **cache)
{
    while (*cache) {
        struct ch_qval *next = (*cache)->next;

        OPENSSL_cleanse((*cache)->value, strlen((*cache)->value));
        free((*cache)->value);
        free(*cache);
        *cache = next;
    }
}

const char *ch_ws_query_param(ch_ws *w, const char *name)
{
    return w->req ? ch_query_cached(&w->req->qcache, w->req->query, name) : NULL;
}

/* The handshake checks that come before the plugin sees anything.
 * Returns the route, or NULL after answering. */
static ch_route *upgrade_check(ch_conn *c, const ch_req *req, ch_route_params *params)
{
    ch_app *app = c->app;
    ch_origin_policy policy = {app->cfg.allowed_origins, app->cfg.n_allowed_origins,
                               app->cfg.require_origin};
    ch_route *route = ch_routes_match(&app->routes, req->path, params);
    ch_handshake hs;

    if (!route) {
        upgrade_fail(c, req->path, 404, "not_found", NULL);
        return NULL;
    }
    if (ch_handshake_check(req, &policy, &hs) != 0) {
        const char *extra = hs.status == 405 ? "Allow: GET\r\n"
                            : hs.status == 426
                                ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                : NULL;
        upgrade_fail(c, req->path, hs.status, hs.reason, extra);
        return NULL;
    }
    if (!route->plugin || app->stopping) {
        upgrade_fail(c, req->path, 503, "unavailable", NULL);
        return NULL;
    }
    return route;
}

static const char *header_of(void *ctx, const char *name) { return ch_ws_header(ctx, name); }

/* The user from the token the handshake carries (a new ch_ident, owned
 * by the caller) or NULL.  A token offered as the "Bearer"
 * subprotocol makes the host answer with that subprotocol.  Returns
 * CHANHOST_ERR_NOMEM in *rc when memory is short (else 0). */
static ch_ident *authenticate(ch_ws *w, int *rc, char hex[65])
{
    ch_app *app = w->conn->app;
    const char *via = NULL, *why = NULL;
    char *token = ch_auth_find_token(header_of, w, ch_ws_query(w), &via);
    json_t *claims, *user;
    ch_ident *ident;

    *rc = 0;
    if (!token)
        return NULL;
    if (strcmp(via, "subprotocol") == 0 && !(w->req->subprotocol = strdup("Bearer")))
        *rc = CHANHOST_ERR_NOMEM;
    claims = ch_jwt_verify(token, app->auth_secret, app->auth_secret_len, time(NULL), &why);
    if (claims)
        w->token_tag = ch_session_token_hash(token, hex);
    OPENSSL_cleanse(token, strlen(token));
    free(token);
    if (!claims) {
        ch_log(CH_LOG_DEBUG, "WebSocket AUTH %s [%s] token (%s) refused: %s", w->path,
               ch_conn_peer(w->conn), via, why);
        return NULL;
    }
    user = ch_auth_user(claims);
    if (user)
        ch_session_start(w, claims);
    else
        w->token_tag = 0;
    json_decref(claims);
    ident = user ? ch_ident_new(user) : NULL;
    if (user && !ident)
        *rc = CHANHOST_ERR_NOMEM;
    json_decref(user);
    return ident;
}

static int django_begin(ch_ws *w);
static void plugin_connect(ch_ws *w);

/* The upgrade's matcher for the HTTP handler list (upgrade.h). */
int ch_ws_upgrade_wanted(ch_conn *c, const ch_req *req)
{
    return ch_routes_match(&c->app->routes, req->path, NULL) || req->upgrade;
}

void ch_ws_upgrade(ch_conn *c, const ch_req *req)
{
    ch_route_params params = {0};
    ch_route *route = upgrade_check(c, req, &params);
    ch_ws *w;
    char hex[65];
    int rc;

    if (!route) {
        ch_route_params_free(&params);
        return;
    }
    w = ws_new(c, req, route, &params);
    ch_route_params_free(&params);
    if (!w || ch_layer_attach(c->app->layer, &w->ep) != 0) {
        if (w) {
            ch_plugin_unref(w->plugin);
            ch_route_unref(w->route);
            free_request(w);
        }
        free(w);
        upgrade_fail(c, req->path, 500, "internal", NULL);
        return;
    }
    c->ws = w;
    if (limit_ip(w, req) != 0) {
        ch_ws_gone(c); /* connect has not run: the plugin never sees it */
        return;
    }
    w->ident = authenticate(w, &rc, hex);
    if (rc != 0) {
        ch_ws_gone(c); /* connect has not run: the plugin never sees it */
        upgrade_fail(c, req->path, 500, "internal", NULL);
        return;
    }
    c->proto = &ch_ws_proto;
    c->state = CH_CONN_WS_PENDING;
    c->since_ms = uv_now(c->app->loop);
    ch_log(CH_LOG_INFO, "WebSocket HANDSHAKING %s [%s]", w->path, ch_conn_peer(c));
    if (!w->ident && django_begin(w))
        return;
    if (w->ident && ch_session_check(w, hex, plugin_connect))
        return;
    plugin_connect(w);
}

/* A Django login finished (django_auth.h): user (borrowed) or NULL with
 * why; the plugin decides as for any other connection. */
static void django_done(void *arg, json_t *user, const char *why)
{
    ch_ws *w = arg;

    w->req->auth_call = NULL;
    if (user && !(w->ident = ch_ident_new(user)))
        ch_log(CH_LOG_WARN, "WebSocket AUTH %s [%s] django login: no memory for the user",
               w->path, ch_conn_peer(w->conn));
    else if (!user)
        ch_log(CH_LOG_DEBUG, "WebSocket AUTH %s [%s] django login refused: %s", w->path,
               ch_conn_peer(w->conn), why);
    plugin_connect(w);
}

/* Start the Django login the handshake carries, if Django logins are on
 * and it carries one: 1 when it is in flight (reading stops; the
 * handshake timeout runs), 0 to go on without it. */
static int django_begin(ch_ws *w)
{
    ch_conn *c = w->conn;
    const char *refused = NULL;

    if (!c->app->django)
        return 0;
    w->req->auth_call = ch_django_begin(c->app->django, c->app->store, header_of, w,
                                        w->req->query, django_done, w, &refused);
    if (refused)
        ch_log(CH_LOG_DEBUG, "WebSocket AUTH %s [%s] django login refused: %s", w->path,
               ch_conn_peer(c), refused);
    if (!w->req->auth_call)
        return 0;
    ch_conn_read_stop(c);
    ch_conn_arm_timer(c);
    return 1;
}

static void refuse(ch_ws *w, int status, const char *reason, const char *extra);

/* The key of user id's entry in the limits' table, into key (32 bytes);
 * returns key. */
static const char *user_key(char key[32], int64_t id)
{
    snprintf(key, 32, "u:%lld", (long long)id);
    return key;
}

/* The per-user limit (climit.h) of w's user, if it has one: w counts on
 * it from here (w->lim_user; ch_ws_gone finds the entry again by the
 * user's id, which stays w's from here on).  0, or -1 after answering 429
 * (the connection is then gone). */
static int limit_user(ch_ws *w)
{
    ch_app *app = w->conn->app;
    uint64_t max = app->cfg.max_connections_per_user, now = uv_now(app->loop);
    json_int_t id = (w->ident ? w->ident->id : 0);
    char key[32], hdr[48];
    ch_climit *e;

    if (!max || id <= 0)
        return 0;
    if (!(e = ch_climit_get(&app->conn_limits, user_key(key, id), now)))
        return 0; /* memory short: not limited rather than refused */
    if (e->conns < max) {
        e->conns++;
        w->lim_user = 1;
        return 0;
    }
    ch_climit_forget(&app->conn_limits, e, 0, now);
    refuse(w, 429, "limit_user", retry_after(hdr, LIMIT_RETRY_MS));
    return -1;
}

/* Ask the plugin's connect and act on its answer. */
static void plugin_connect(ch_ws *w)
{
    ch_conn *c = w->conn;
    int rc;

    if (limit_user(w) != 0)
        return;
    w->connect_called = 1;
    rc = ch_plugin_connect(w->plugin, w);
    if (c->closing || c->ws != w)
        return;
    if (rc == CHANHOST_ACCEPT) {
        if (!w->accepted)
            ch_ws_accept(w, NULL); /* the request block's subprotocol, if any */
    } else if (rc == CHANHOST_PENDING) {
        if (!w->accepted) {
            ch_conn_read_stop(c);
            ch_conn_arm_timer(c);
        }
    } else if (rc == CHANHOST_DENY && !w->accepted) {
        ch_ws_deny(w);
    } else {
        if (rc < 1000 || rc > 4999)
            rc = 1011;
        ch_metric_handshake_failure("denied");
        ch_log(CH_LOG_INFO, "WebSocket REJECT %s [%s] code=%d", w->path, ch_conn_peer(c), rc);
        ch_ws_close(w, rc, NULL);
    }
}

/* Refuse a pending connection with an HTTP status (extra: more header
 * lines, may be NULL), counted under reason: w is gone after. */
static void refuse(ch_ws *w, int status, const char *reason, const char *extra)
{
    ch_conn *c = w->conn;

    ch_metric_handshake_failure(reason);
    ch_log(CH_LOG_INFO, "WebSocket REJECT %s [%s] %d", w->path, ch_conn_peer(c), status);
    w->close_code = 1006;
    ch_ws_gone(c);
    c->state = CH_CONN_HTTP;
    c->proto = &ch_http_proto;
    ch_http_close_after(c);
    ch_http_error(c, status, extra);
}

/* Refuse with HTTP 403 as Daphne does for close() before accept(). */
void ch_ws_deny(ch_ws *w) { refuse(w, 403, "denied", NULL); }

/* The connection ends: tell the plugin, leave groups, free the state. */
void ch_ws_gone(ch_conn *c)
{
    ch_ws *w = c->ws;
    int code = w->close_code ? w->close_code : 1006;

    c->ws = NULL; /* nothing may reach it through c from here on */
    if (w->req && w->req->auth_call)
        ch_django_cancel(w->req->auth_call);
    if (w->connect_called)
        ch_plugin_disconnect(w->plugin, w, code);
    ch_api_store_detach(w);
    ch_presence_gone(w);
    if (w->accepted) {
        ch_log(CH_LOG_INFO, "WebSocket DISCONNECT %s [%s] code=%d", w->path, ch_conn_peer(c), code);
        w->route->connections--;
        w->plugin->connections--;
        c->app->n_ws--;
    }
    if (w->lim_ip) {
        char key[IP_KEY_LEN];

        ch_climit_release(&c->app->conn_limits,
                          ch_climit_find(&c->app->conn_limits, ip_key(key, c)),
                          c->app->cfg.handshake_rate_per_ip, uv_now(c->app->loop));
    }
    if (w->lim_user && w->ident) {
        char key[32];

        ch_climit_release(&c->app->conn_limits,
                          ch_climit_find(&c->app->conn_limits, user_key(key, w->ident->id)), 0,
                          uv_now(c->app->loop));
    }
    ch_layer_detach(c->app->layer, &w->ep);
    ch_ws_free_wslay(w);
    ch_plugin_unref(w->plugin);
    ch_route_unref(w->route);
    free_request(w);
    ch_ws_rare_free(w);
    ch_ident_free(w->ident);
    free(w);
}
