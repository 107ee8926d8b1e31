/*
 * rest.c -- the /api/ dispatcher and what every API handler shares: the
 * route table, authentication of the request (Bearer token, service
 * token, session cookie), JSON body parsing and field getters, answers
 * and errors, the plumbing of asynchronous steps (store calls and
 * thread-pool work that hold the connection while they run), token
 * minting, the session cookie, the access log line, and the pure
 * validators.
 *
 * The handlers themselves live in rest_auth.c and rest_rooms.c; each is a
 * chain of short steps on one ch_rest (rest.h) that ends in exactly one
 * ch_rest_reply / ch_rest_fail.  A path none of the routes below knows is
 * looked up among the plugins' endpoints (rest_plugins.c) and, if found,
 * goes through the same authentication, access check and body parsing.
 */
#include "rest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app.h"
#include "auth.h"
#include "chanhost_kit.h" /* chk_utf8_chars, shared with the plugins */
#include "conn.h"
#include "django_auth.h"
#include "endpoints.h"
#include "http.h"
#include "log.h"
#include "store.h"

/* Who may call a route. */
enum {
    A_ANY,     /* anyone */
    A_USER,    /* a user token (the service token has no user: 403) */
    A_MEMBER,  /* a user token or the service token */
    A_SERVICE, /* the service token or a user with role admin */
    A_ADMIN,   /* a user with role admin (plugin endpoints) */
    A_TOKEN,   /* the service token only */
};

/* What a route does with the request body. */
enum { B_NONE, B_NEEDED, B_IF_SENT, B_LIST_OK };

typedef struct rest_route {
    const char *pattern; /* after "/api/"; '#' is a positive id */
    const char *method;
    int access;
    int body; /* B_*: B_NEEDED needs a JSON object body, B_LIST_OK one or a list */
    void (*fn)(ch_rest *r);
} rest_route;

static const rest_route routes[] = {
    {"auth/register/", "POST", A_ANY, 1, ch_rest_register},
    {"auth/login/", "POST", A_ANY, 1, ch_rest_login},
    {"auth/logout/", "POST", A_ANY, 0, ch_rest_logout},
    {"auth/me/", "GET", A_USER, 0, ch_rest_me},
    {"users/", "GET", A_MEMBER, 0, ch_rest_users_list},
    {"users/", "POST", A_SERVICE, 1, ch_rest_users_create},
    {"users/#/", "PATCH", A_SERVICE, 1, ch_rest_user_update},
    {"tokens/", "POST", A_SERVICE, 1, ch_rest_tokens},
    {"rooms/", "GET", A_USER, 0, ch_rest_rooms_list},
    {"rooms/", "POST", A_MEMBER, 1, ch_rest_rooms_create},
    {"rooms/#/participants/", "POST", A_MEMBER, 1, ch_rest_participant_add},
    {"rooms/#/participants/", "DELETE", A_MEMBER, 1, ch_rest_participant_remove},
    {"rooms/#/messages/", "GET", A_MEMBER, 0, ch_rest_messages},
    {"rooms/#/attachments/", "POST", A_USER, 0, ch_rest_attach_upload},
    {"attachments/#/", "GET", A_USER, 0, ch_rest_attach_get},
    {"threads/", "POST", A_USER, 1, ch_rest_threads},
    {"publish/", "POST", A_TOKEN, B_LIST_OK, ch_rest_publish},
    {"admin/status/", "GET", A_SERVICE, 0, ch_rest_admin_status},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

const char *ch_rest_route_at(size_t i, const char **method)
{
    if (i >= N_ROUTES)
        return NULL;
    *method = routes[i].method;
    return routes[i].pattern;
}

/* ---- validators ------------------------------------------------------------ */

int ch_rest_valid_username(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.+_-";
    size_t n = s ? strlen(s) : 0;

    return n >= 1 && n <= 150 && strspn(s, ok) == n;
}

int ch_rest_valid_email(const char *s)
{
    const char *at, *domain, *p;
    size_t n = s ? strlen(s) : 0;

    if (n < 3 || n > 254 || !(at = strchr(s, '@')) || at == s || strchr(at + 1, '@'))
        return 0;
    for (p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0;
    domain = at + 1;
    return domain[0] && domain[0] != '.' && strchr(domain, '.') &&
           domain[strlen(domain) - 1] != '.';
}

int ch_rest_valid_password(const char *s, size_t len)
{
    size_t chars;

    if (!s || memchr(s, '\0', len))
        return 0;
    chars = chk_utf8_chars(s, len);
    return chars >= 8 && chars <= 128;
}

char *ch_rest_iso8601(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 21, "1970-01-01T00:00:00Z");
    return out;
}

int64_t ch_rest_parse_id(const char *s, size_t len)
{
    int64_t v = 0;
    size_t i;

    if (len == 0 || len > 19 || s[0] == '0')
        return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* ---- answers ---------------------------------------------------------------- */

/* Has the connection gone away (or been upgraded) since the request? */
static int gone(const ch_conn *c) { return c->closing || !c->http; }

int ch_rest_gone(const ch_rest *r) { return gone(r->conn); }

/* Free r and everything it owns (rest.h). */
static void rest_free(ch_rest *r)
{
    ch_rest_login_end(r, 0); /* a login dropped unanswered counts as failed */
    ch_endpoint_request_free(r->call);
    json_decref(r->early_body);
    free(r->what);
    json_decref(r->body);
    json_decref(r->claims);
    json_decref(r->room);
    json_decref(r->user);
    json_decref(r->ids);
    if (r->kept_req) {
        free((char *)r->kept_req->query);
        free(r->kept_req);
    }
    if (r->password) {
        OPENSSL_cleanse(r->password, strlen(r->password));
        free(r->password);
    }
    free(r->hash);
    free(r->scratch);
    free(r);
}

/* Free r; if it was asynchronous, let the connection read again and drop
 * the hold.  r is freed first: resuming may dispatch the next request. */
static void rest_done(ch_rest *r)
{
    ch_conn *c = r->conn;
    int async = r->async;

    rest_free(r);
    if (!async)
        return;
    if (!gone(c))
        ch_http_resume(c);
    ch_conn_release(c);
}

/* Send status with body (stolen: any JSON value; NULL: the text
 * `empty`, "" for no body) and the extra header lines, log the access
 * line (Daphne's: "HTTP POST /api/rooms/ 201 [0.004, ip:port]"), then
 * free r.  Dropped if the connection has gone away. */
static void send_answer(ch_rest *r, int status, json_t *body, const char *empty,
                        const char *extra_headers)
{
    ch_conn *c = r->conn;
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : strdup(empty);
    char *headers = NULL;

    json_decref(body);
    if (!gone(c)) {
        if (!text || asprintf(&headers, "Cache-Control: no-store\r\n%s",
                              extra_headers ? extra_headers : "") < 0) {
            headers = NULL;
            status = 500;
            ch_http_error(c, status, NULL);
        } else {
            ch_http_respond(c, status, "application/json", headers, text, strlen(text));
        }
        ch_log(CH_LOG_INFO, "HTTP %s %d [%.3f, %s]", r->what ? r->what : "?", status,
               (double)(uv_hrtime() - r->started_ns) / 1e9, ch_conn_peer(c));
    }
    free(text);
    free(headers);
    rest_done(r);
}

void ch_rest_reply(ch_rest *r, int status, json_t *body, const char *extra_headers)
{
    send_answer(r, status, body, "{}", extra_headers);
}

void ch_rest_answer(ch_rest *r, int status, json_t *body)
{
    send_answer(r, status, body, "", status == 503 ? "Retry-After: 1\r\n" : NULL);
}

/* Shared by ch_rest_fail and ch_rest_invalid. */
static void vfail(ch_rest *r, int status, const char *code, const char *field, const char *fmt,
                  va_list ap)
{
    char msg[512];
    json_t *body;

    vsnprintf(msg, sizeof msg, fmt, ap);
    body = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (body && field)
        json_object_set_new(body, "field", json_string(field));
    ch_rest_reply(r, status, body,
                  status == 401   ? "WWW-Authenticate: Bearer realm=\"chanhost\"\r\n"
                  : status == 503 ? "Retry-After: 1\r\n"
                                  : NULL);
}

void ch_rest_fail(ch_rest *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(r, status, code, NULL, fmt, ap);
    va_end(ap);
}

void ch_rest_invalid(ch_rest *r, const char *field, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(r, 400, "invalid", field, fmt, ap);
    va_end(ap);
}

void ch_rest_store_failed(ch_rest *r, int status, const char *error)
{
    const char *why = error ? error : "the message store refused the call";

    switch (status) {
    case CH_STORE_ENOENT:
        ch_rest_fail(r, 404, "not_found", "%s", why);
        break;
    case CH_STORE_EEXIST:
        ch_rest_fail(r, 409, "exists", "%s", why);
        break;
    case CH_STORE_EINVAL:
        ch_rest_fail(r, 400, "invalid", "%s", why);
        break;
    case CH_STORE_EPERM:
        ch_rest_fail(r, 403, "forbidden", "%s", why);
        break;
    case CH_STORE_EBUSY:
        ch_rest_fail(r, 503, "busy", "the message store is busy");
        break;
    default:
        ch_rest_fail(r, 503, "store_unavailable", "the message store is unavailable");
    }
}

/* ---- asynchronous steps ------------------------------------------------------ */

/* From now on the answer comes later: hold the connection, stop parsing. */
void ch_rest_async(ch_rest *r)
{
    if (r->async)
        return;
    r->async = 1;
    ch_conn_hold(r->conn);
    ch_http_suspend(r->conn);
}

/* The connection went away while a step ran: drop the answer. */
void ch_rest_drop(ch_rest *r)
{
    ch_conn *c = r->conn;

    rest_free(r);
    ch_conn_release(c);
}

/* A store call finished: continue the chain, or drop it if the
 * connection went away meanwhile. */
static void store_done(int status, json_t *result, const char *error, void *arg)
{
    ch_rest *r = arg;

    if (gone(r->conn))
        ch_rest_drop(r);
    else
        r->next(r, status, result, error);
}

void ch_rest_store(ch_rest *r, const char *op, json_t *params, ch_rest_step next)
{
    int rc;

    if (!params) {
        ch_rest_fail(r, 500, "internal", "out of memory");
        return;
    }
    if (!r->app->store) {
        json_decref(params);
        ch_rest_fail(r, 503, "store_unavailable", "no message store is configured");
        return;
    }
    ch_rest_async(r);
    r->next = next;
    rc = ch_store_call(r->app->store, op, params, store_done, r);
    if (rc != 0)
        ch_rest_store_failed(r, rc, NULL);
}

/* Thread pool: the work, then free OpenSSL's per-thread state (random
 * generator, error queue) that it set up in this pool thread: the pool's
 * threads outlive OpenSSL's own cleanup at exit, so it would be lost. */
static void work_run(uv_work_t *w)
{
    ch_rest *r = w->data;

    r->work_fn(r);
    OPENSSL_thread_stop();
}

/* Loop thread, after work_run: continue, or drop r if the connection
 * went away. */
static void work_done(uv_work_t *w, int status)
{
    ch_rest *r = w->data;

    ch_rest_hash_finished(r);
    if (gone(r->conn))
        ch_rest_drop(r);
    else if (status != 0)
        ch_rest_fail(r, 500, "internal", "the work was cancelled");
    else
        r->next(r, 0, NULL, NULL);
}

void ch_rest_work(ch_rest *r, void (*fn)(ch_rest *r), ch_rest_step next)
{
    ch_rest_async(r);
    r->work_fn = fn;
    r->next = next;
    r->work.data = r;
    ch_rest_hash_submit(r);
}

int ch_rest_work_start(ch_rest *r)
{
    return uv_queue_work(r->app->loop, &r->work, work_run, work_done) == 0 ? 0 : -1;
}

/* ---- bodies --------------------------------------------------------------------- */

int ch_rest_body_id(ch_rest *r, const char *field, int required, int64_t *out)
{
    json_t *v = json_object_get(r->body, field);

    *out = 0;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        ch_rest_invalid(r, field, "%s: required", field);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        ch_rest_invalid(r, field, "%s: must be a positive integer", field);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int ch_rest_body_str(ch_rest *r, const char *field, int required, size_t max, const char **out)
{
    json_t *v = json_object_get(r->body, field);

    *out = NULL;
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        if (!required)
            return 0;
        ch_rest_invalid(r, field, "%s: required", field);
        return -1;
    }
    if (!json_is_string(v)) {
        ch_rest_invalid(r, field, "%s: must be a string", field);
        return -1;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        ch_rest_invalid(r, field, "%s: at most %zu bytes, no NUL characters", field, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* Parse the request body into r->body.  Returns 0, or answers 400 and
 * returns -1. */
static int parse_body(ch_rest *r, const ch_req *req, int list_ok)
{
    const char *ctype = ch_req_header(req, "content-type");
    json_error_t err;

    if (req->body_len == 0) {
        ch_rest_fail(r, 400, "invalid_json", "a JSON object body is required");
        return -1;
    }
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0 ||
        (ctype[16] && ctype[16] != ';' && ctype[16] != ' ')) {
        ch_rest_fail(r, 400, "invalid_content_type",
                     "send the body as Content-Type: application/json");
        return -1;
    }
    r->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!r->body) {
        ch_rest_fail(r, 400, "invalid_json", "invalid JSON at line %d, column %d: %s", err.line,
                     err.column, err.text);
        return -1;
    }
    if (!json_is_object(r->body) && !(list_ok && json_is_array(r->body))) {
        ch_rest_fail(r, 400, "invalid_json",
                     list_ok ? "the body must be a JSON object or list"
                             : "the body must be a JSON object");
        return -1;
    }
    return 0;
}

/* ---- users, tokens, cookies ------------------------------------------------------ */

json_t *ch_rest_public_user(const json_t *row, int with_email)
{
    json_t *email = json_object_get(row, "email");

    return json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(row, "id"), "username",
                     json_object_get(row, "username"), "email",
                     with_email && email ? email : json_null(), "role",
                     json_object_get(row, "role"));
}

json_t *ch_rest_mint(ch_rest *r, const json_t *user, const char **token_out)
{
    int64_t now = (int64_t)time(NULL);
    uint64_t ttl = r->app->cfg.auth_token_ttl / 1000;
    int64_t exp = now + (int64_t)(ttl ? ttl : 1);
    const char *role = json_string_value(json_object_get(user, "role"));
    char sub[24], when[21], *token;
    json_t *claims, *out;

    snprintf(sub, sizeof sub, "%lld", (long long)json_integer_value(json_object_get(user, "id")));
    claims = json_pack("{s:s, s:O, s:[s], s:I, s:I}", "sub", sub, "username",
                       json_object_get(user, "username"), "roles", role ? role : "user", "iat",
                       (json_int_t)now, "exp", (json_int_t)exp);
    token = claims ? ch_jwt_sign(claims, r->app->auth_secret, r->app->auth_secret_len) : NULL;
    json_decref(claims);
    if (!token)
        return NULL;
    out = json_pack("{s:s, s:s, s:O}", "token", token, "expires_at", ch_rest_iso8601(exp, when),
                    "user", user);
    OPENSSL_cleanse(token, strlen(token));
    free(token);
    if (out && token_out)
        *token_out = json_string_value(json_object_get(out, "token"));
    return out;
}

char *ch_rest_cookie_header(ch_rest *r, const char *token)
{
    uint64_t ttl = r->app->cfg.auth_token_ttl / 1000;
    char *line;

    if (asprintf(&line, "Set-Cookie: %s=%s; HttpOnly;%s SameSite=Lax; Path=/; Max-Age=%llu\r\n",
                 CH_AUTH_COOKIE, token ? token : "", r->conn->https ? " Secure;" : "",
                 token ? (unsigned long long)(ttl ? ttl : 1) : 0ull) < 0)
        return NULL;
    return line;
}

/* Is a the service token?  Constant time in the token's bytes. */
static int is_service_token(const ch_app *app, const char *a)
{
    size_t n = strlen(a);

    return app->service_token && n == strlen(app->service_token) &&
           CRYPTO_memcmp(a, app->service_token, n) == 0;
}

/* The caller's identity from verified claims (stolen): r->uid, r->admin,
 * and r->claims when they name a user (else they are freed). */
static void take_claims(ch_rest *r, json_t *claims)
{
    json_t *user = ch_auth_user(claims), *v;
    size_t i;

    r->uid = json_integer_value(json_object_get(user, "id"));
    if (!user) {
        json_decref(claims);
        return;
    }
    r->claims = claims;
    json_array_foreach(json_object_get(user, "roles"), i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "admin") == 0)
            r->admin = 1;
    }
    json_decref(user);
}

/*
 * Who is calling: Authorization: Bearer (the service token or a user
 * token) or else the session cookie.  Sets r->uid / service / admin /
 * claims.  Returns NULL, or why a credential that was sent is refused
 * (static text).
 */
static const char *authenticate(ch_rest *r, const ch_req *req)
{
    const char *authz = ch_req_header(req, "authorization"), *why = NULL;
    char *token = NULL;
    json_t *claims;

    if (authz && !(token = ch_auth_bearer(authz, &why)))
        return why;
    if (!authz)
        token = ch_cookie_get(ch_req_header(req, "cookie"), CH_AUTH_COOKIE);
    if (!token || !*token) {
        free(token);
        return NULL;
    }
    if (is_service_token(r->app, token)) {
        r->service = r->admin = 1;
    } else {
        claims = ch_jwt_verify(token, r->app->auth_secret, r->app->auth_secret_len,
                               (int64_t)time(NULL), &why);
        if (claims)
            take_claims(r, claims);
        if (r->uid)
            ch_rest_token_seen(r, token);
        if (!r->uid && !why)
            why = "the token names no user";
    }
    OPENSSL_cleanse(token, strlen(token));
    free(token);
    return r->uid || r->service ? NULL : why;
}

/* ---- dispatch ------------------------------------------------------------------- */

/* Does path (after /api/) match pattern?  The trailing slash may be left
 * out.  A '#' takes a positive id into *id. */
static int match(const char *pat, const char *path, int64_t *id)
{
    while (*pat) {
        if (*path == '\0')
            return pat[0] == '/' && pat[1] == '\0';
        if (*pat == '#') {
            size_t n = strspn(path, "0123456789");

            if (!(*id = ch_rest_parse_id(path, n)))
                return 0;
            path += n;
            pat++;
        } else if (*pat++ != *path++) {
            return 0;
        }
    }
    return *path == '\0';
}

void ch_rest_allow_add(char *allow, size_t len, const char *method)
{
    size_t used = strlen(allow);

    snprintf(allow + used, len - used, "%s%s", allow[0] ? ", " : "Allow: ", method);
}

/* Does the caller have the route's access?  Answers 401 / 403 if not. */
static int allowed(ch_rest *r, const rest_route *rt, const char *why)
{
    int anonymous = !r->uid && !r->service;

    if (rt->access == A_ANY)
        return 1;
    if (anonymous) {
        ch_rest_fail(r, 401, "not_authenticated", "%s", why ? why : "authentication required");
        return 0;
    }
    if (rt->access == A_USER && !r->uid) {
        ch_rest_fail(r, 403, "forbidden", "the service token has no user; use a user's token");
        return 0;
    }
    if (rt->access == A_SERVICE && !r->admin) {
        ch_rest_fail(r, 403, "forbidden", "only the service token or an admin may do this");
        return 0;
    }
    if (rt->access == A_TOKEN && !r->service) {
        ch_rest_fail(r, 403, "forbidden", "only the service token may do this");
        return 0;
    }
    if (rt->access == A_ADMIN && !(r->uid && r->admin)) {
        ch_rest_fail(r, 403, "forbidden", "only an admin user may do this");
        return 0;
    }
    return 1;
}

/* The access level of rest.c for a plugin endpoint's CHANHOST_HTTP_*. */
static int plugin_access(int access)
{
    switch (access) {
    case CHANHOST_HTTP_ANY:
        return A_ANY;
    case CHANHOST_HTTP_USER:
        return A_USER;
    case CHANHOST_HTTP_ADMIN:
        return A_ADMIN;
    default:
        return A_SERVICE;
    }
}

/* The route for the request into *out (a host route, else a plugin
 * endpoint: rest_plugins.c), or -1 after answering (404 / 405 ...). */
static int find_route(ch_rest *r, const ch_req *req, rest_route *out)
{
    char allow[160] = "";
    size_t i;
    int64_t id = 0;
    int access;

    for (i = 0; i < N_ROUTES; i++) {
        if (!match(routes[i].pattern, req->path + 5, &id))
            continue;
        if (strcmp(routes[i].method, req->method_name) == 0) {
            r->id = id;
            *out = routes[i];
            return 0;
        }
        ch_rest_allow_add(allow, sizeof allow, routes[i].method);
    }
    if (!allow[0] && (access = ch_rest_endpoint_find(r, req, allow, sizeof allow)) != -1) {
        if (access < 0)
            return -1;
        *out = (rest_route){NULL, req->method_name, plugin_access(access), B_IF_SENT,
                            ch_rest_endpoint_call};
        return 0;
    }
    if (!allow[0]) {
        ch_rest_fail(r, 404, "not_found", "no such API endpoint");
        return -1;
    }
    strcat(allow, "\r\n");
    ch_rest_reply(r, 405,
                  json_pack("{s:s, s:s}", "error", "method_not_allowed", "message",
                            "method not allowed on this endpoint (see Allow)"),
                  allow);
    return -1;
}

/* Is a body to be parsed for route rt? */
static int wants_body(const rest_route *rt, const ch_req *req)
{
    return rt->body == B_NEEDED || rt->body == B_LIST_OK ||
           (rt->body == B_IF_SENT && req->body_len > 0);
}

/* A Django login ended (django_auth.h): the identity as claims, then the
 * access check and the route kept in r. */
static void django_done(void *arg, json_t *user, const char *why)
{
    ch_rest *r = arg;
    char sub[24];

    if (gone(r->conn)) {
        ch_rest_drop(r);
        return;
    }
    r->req = r->kept_req;
    if (user) {
        snprintf(sub, sizeof sub, "%lld",
                 (long long)json_integer_value(json_object_get(user, "id")));
        take_claims(r, json_pack("{s:s, s:O, s:O}", "sub", sub, "username",
                                 json_object_get(user, "username"), "roles",
                                 json_object_get(user, "roles")));
    }
    ch_rest_resume(r, user ? NULL : why);
}

void ch_rest_resume(ch_rest *r, const char *why)
{
    if (allowed(r, &(rest_route){.access = r->route_access, .fn = r->route_fn}, why))
        r->route_fn(r);
}

/* A request header for django_auth.h (ctx: the ch_req). */
static const char *req_header(void *ctx, const char *name) { return ch_req_header(ctx, name); }

/* The caller's identity settles later: the store's check of a user token
 * (session.h), or a Django login when there is no chanhost credential;
 * the body is parsed first.  1: r is in flight or answered; 0: go on
 * (*why set when the credential was refused). */
static int identity_later(ch_rest *r, const ch_req *req, const rest_route *rt, const char **why)
{
    ch_django_call *call = NULL;
    const char *refused = NULL;

    if (!r->token_hash[0] || !r->app->store) {
        if (!r->uid && !r->service && r->app->django)
            call = ch_django_begin(r->app->django, r->app->store, req_header, (void *)req,
                                   req->query, django_done, r, &refused);
        if (!call) {
            *why = *why ? *why : refused; /* a chanhost token's reason comes first */
            return 0;
        }
    }
    if (wants_body(rt, req) && parse_body(r, req, rt->body == B_LIST_OK) != 0) {
        ch_django_cancel(call);
        return 1;
    }
    r->kept_req = calloc(1, sizeof *r->kept_req);
    if (!r->kept_req || !(r->kept_req->query = strdup(req->query))) {
        ch_django_cancel(call);
        ch_rest_fail(r, 500, "internal", "out of memory");
        return 1;
    }
    r->route_access = rt->access;
    r->route_fn = rt->fn;
    r->req = NULL;
    ch_rest_async(r);
    if (!call)
        ch_rest_session_check(r);
    return 1;
}

void ch_rest_serve(ch_conn *c, const ch_req *req)
{
    ch_rest *r = calloc(1, sizeof *r);
    rest_route rt;
    const char *why;

    if (!r) {
        ch_http_error(c, 500, NULL);
        return;
    }
    r->conn = c;
    r->app = c->app;
    r->req = req;
    r->started_ns = uv_hrtime();
    if (asprintf(&r->what, "%s %s", req->method_name, req->path) < 0)
        r->what = NULL;
    if (find_route(r, req, &rt) != 0)
        return;
    why = authenticate(r, req);
    if (identity_later(r, req, &rt, &why))
        return;
    if (!allowed(r, &rt, why))
        return;
    if (wants_body(&rt, req) && parse_body(r, req, rt.body == B_LIST_OK) != 0)
        return;
    rt.fn(r);
}
