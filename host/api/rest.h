/*
 * rest.h -- the JSON HTTP API under /api/ (docs/api.md): accounts,
 * tokens, rooms, participants, history, and the service endpoints an
 * application backend uses (users, tokens); the endpoints that plugins
 * declare are served under it too.
 *
 * Every handler answers asynchronously when it needs the store or a
 * password hash (thread pool): the connection's HTTP parsing is
 * suspended meanwhile (ch_http_suspend / ch_http_resume), so requests on
 * one connection are answered in order.
 *
 * Files: rest.c (dispatch, authentication of the request, body parsing,
 * answers, the store / thread-pool plumbing, validators), rest_auth.c
 * (register, login, logout, me, users, tokens), rest_login.c (the login
 * limiter and the password-hash queue), rest_rooms.c (rooms,
 * participants, messages, threads).  The part below
 * ch_rest_serve is shared by those three files and rest_plugins.c (the
 * endpoints plugins declare: a path no host route knows is looked up
 * there, then goes through the same checks; rest.c writes the access log
 * line of both) only.
 */
#ifndef CH_REST_H
#define CH_REST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "request.h"

typedef struct ch_conn ch_conn;
typedef struct chanhost_http chanhost_http;

/* Answer a request whose path starts with /api/ (req borrowed). */
void ch_rest_serve(ch_conn *c, const ch_req *req);

/* ---- pure validators (unit-tested) --------------------------------------- */

/* 1..150 characters of [A-Za-z0-9@.+_-]. */
int ch_rest_valid_username(const char *s);

/* At most 254 bytes, one '@' with text before it, a domain after it
 * holding a dot that is neither its first nor its last character, no
 * blanks or control characters. */
int ch_rest_valid_email(const char *s);

/* 8..128 characters (UTF-8 code points) in s[0..len), no NUL. */
int ch_rest_valid_password(const char *s, size_t len);

/* 1..100 characters of [-a-zA-Z0-9_] (Django's slug). */
int ch_rest_valid_slug(const char *s);

/* Format t (seconds since the epoch) as "YYYY-MM-DDTHH:MM:SSZ" into
 * out[21].  Returns out. */
char *ch_rest_iso8601(int64_t t, char out[21]);

/* Parse a positive decimal id (no sign, no leading zero, <= INT64_MAX)
 * from s[0..len).  Returns the id or 0. */
int64_t ch_rest_parse_id(const char *s, size_t len);

/* Copy the media type of a Content-Type value v (before any ';', lower
 * case) into out[outlen]: 0, or -1 when it is not "type/subtype" of token
 * characters (or NULL, or too long). */
int ch_rest_media_type(const char *v, char *out, size_t outlen);

/* The attachment types allowed when attachment_types is not set. */
#define CH_REST_ATTACH_TYPES "image/*,application/pdf,text/plain"

/* Does list (comma-separated "a/b" entries, or a family as "a/" and a
 * star, "*" alone: any; NULL: CH_REST_ATTACH_TYPES) allow the media type? */
int ch_rest_type_allowed(const char *list, const char *type);

/* The longest attachment name kept, in bytes (its Content-Disposition
 * line, percent-encoded, must fit an answer's head). */
#define CH_REST_FILE_NAME_MAX 120

/* An upload's name into out[CH_REST_FILE_NAME_MAX + 1]: the query's
 * name= (percent-decoded), else Content-Disposition's filename="..." (or
 * filename=token), else "file"; only what follows the last '/' or '\\',
 * control characters as '_', cut at a UTF-8 character boundary; "." and
 * ".." give "file".  query, disposition borrowed, may be NULL. */
void ch_rest_file_name(const char *query, const char *disposition, char *out);

/* ---- shared by rest*.c ------------------------------------------------------ */

typedef struct ch_rest ch_rest;

/* A continuation: the result of a store call (status 0 or CH_STORE_E*,
 * result borrowed for the call) or of thread-pool work (status 0,
 * result NULL). */
typedef void (*ch_rest_step)(ch_rest *r, int status, json_t *result, const char *error);

/*
 * One API request being answered.  Allocated by ch_rest_serve, freed when
 * the answer is sent (ch_rest_reply / ch_rest_fail) or when the
 * connection went away before it (the answer is dropped).  Every pointer
 * member is owned and freed with it; password is cleansed first.
 */
struct ch_rest {
    ch_conn *conn;
    struct ch_app *app;
    const ch_req *req;    /* only during the first, synchronous step */
    json_t *body;         /* the request's JSON object, or NULL */
    int64_t uid;          /* the calling user, 0 for anonymous / service */
    json_t *claims;       /* the caller's verified token claims, or NULL */
    int64_t id;           /* the <id> of the path, 0 if none */
    unsigned service : 1; /* called with the service token */
    unsigned admin : 1;   /* service token or role admin */
    unsigned async : 1;   /* suspended and holding the connection */
    unsigned created : 1; /* per handler: the store created the room */

    /* per-handler state */
    json_t *room;        /* the room being worked on */
    json_t *user;        /* a user (public JSON or store row) */
    json_t *ids;         /* user ids still to go through */
    size_t i;            /* position in ids */
    int64_t other;       /* a second user id, or a message id */
    char *password;      /* plain text, cleansed on free */
    char *hash;          /* Django hash: computed or stored */
    unsigned iterations; /* PBKDF2 iterations for the thread pool */
    int ok;              /* result of thread-pool work */
    char *login_key;     /* the account key of a login being limited
                                 (rest_login.c), until it is settled */
    ch_rest *hash_next;  /* the hash queue or running list (rest_login.c) */

    ch_rest_step then; /* where a multi-step part goes when done */
    ch_rest_step next; /* continuation of the call in flight */
    void (*work_fn)(ch_rest *r);
    uv_work_t work;

    char *what;          /* "METHOD /path" for the access log line */
    uint64_t started_ns; /* uv_hrtime() when the request came */

    /* plugin endpoints (rest_plugins.c) */
    chanhost_http *call;     /* made for the plugin, not yet handed over */
    chanhost_http *awaiting; /* handed over: its answer is awaited */
    void (*handler)(chanhost_http *req, void *state);
    ch_rest *wait_next, *wait_prev; /* awaiting, oldest first */
    uint64_t deadline;              /* loop ms: 504 after it */
    int early_status;               /* answered inside the handler: status ... */
    json_t *early_body;             /* ... and body (owned) */
    unsigned calling : 1;           /* the handler is running */

    char token_hash[65]; /* the caller's user token's (session.h), "" if none */

    /* a route waiting for a Django login or a token check (rest.c) */
    int route_access;
    void (*route_fn)(ch_rest *r);
    ch_req *kept_req; /* its query, for the handler (owned) */

    void *scratch; /* a handler's own memory, one block (rest_attach.c) */
};

/* Send the JSON answer body (stolen; NULL gives {}) with status and
 * optional extra header lines (each ending "\r\n"), then free r (and
 * resume reading if the request was asynchronous).  If the connection
 * has gone away the answer is dropped. */
void ch_rest_reply(ch_rest *r, int status, json_t *body, const char *extra_headers);

/* A plugin's answer: as ch_rest_reply without extra headers (but a 503
 * gets Retry-After: 1, as the host's own do), and body (stolen) may be
 * any JSON value and NULL sends no body; dropped (r freed) if the
 * connection went away. */
void ch_rest_answer(ch_rest *r, int status, json_t *body);

/* Answer {"error": code, "message": <printf text>} with status, then free
 * r.  A 401 gets WWW-Authenticate: Bearer. */
void ch_rest_fail(ch_rest *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 400 {"error": "invalid", "field": field, "message": ...}. */
void ch_rest_invalid(ch_rest *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answer for a failed store call: ENOENT 404, EEXIST 409, EINVAL 400,
 * EBUSY / EIO / ECANCELED 503 (error: the store's text, may be NULL). */
void ch_rest_store_failed(ch_rest *r, int status, const char *error);

/* Run store op with params (stolen); next runs on the loop with the
 * result, unless the connection went away (then r is freed).  If the
 * call cannot be queued, r is answered with the error. */
void ch_rest_store(ch_rest *r, const char *op, json_t *params, ch_rest_step next);

/* After the caller's identity was settled asynchronously: the access
 * check (why: a credential that was sent is refused, may be NULL) and
 * the route kept in r (rest.c). */
void ch_rest_resume(ch_rest *r, const char *why);

/* rest_auth.c: keep the hash of the caller's user token (borrowed) in
 * r->token_hash, for its check and a logout's revocation. */
void ch_rest_token_seen(ch_rest *r, const char *token);

/* rest_auth.c: is the caller's user token (r->token_hash) revoked or its
 * user inactive?  Asks the store, then ch_rest_resume (r->uid cleared
 * when it is). */
void ch_rest_session_check(ch_rest *r);

/* The answer comes later: hold the connection, stop parsing (once). */
void ch_rest_async(ch_rest *r);

/* Non-zero if r's connection went away (or was upgraded) meanwhile. */
int ch_rest_gone(const ch_rest *r);

/* Drop r without an answer (its connection went away). */
void ch_rest_drop(ch_rest *r);

/* Append method to the 405 answer's header line in allow[len] ("Allow:
 * GET, POST"; "" at first). */
void ch_rest_allow_add(char *allow, size_t len, const char *method);

/* The host's API routes, for overlap checks: the i-th pattern after
 * "/api/" ('#' a positive id) and its method, or NULL past the end. */
const char *ch_rest_route_at(size_t i, const char **method);

/* Run fn(r) on the thread pool (it may touch r's own fields only), then
 * next(r, 0, NULL, NULL) on the loop.  It waits its turn behind the
 * password hashes running (rest_login.c): beyond auth_hash_queue waiting,
 * r is answered 503 at once. */
void ch_rest_work(ch_rest *r, void (*fn)(ch_rest *r), ch_rest_step next);

/* rest_auth.c: PATCH /api/users/<id>/ {"is_active"} (service or admin). */
void ch_rest_user_update(ch_rest *r);

/* rest_publish.c: POST /api/publish/ (r->body an object or a list). */
void ch_rest_publish(ch_rest *r);

/* rest_admin.c: GET /api/admin/status/ (service token or admin): the
 * operator's status through app->status. */
void ch_rest_admin_status(ch_rest *r);

/* rest_login.c: the password-hash queue and the login limiter */

/* Queue r's work (r->work_fn, r->next, r->work.data set): started now if
 * a slot is free and r's client address runs no hash, else when one
 * ends; answered 503 busy when auth_hash_queue are waiting already. */
void ch_rest_hash_submit(ch_rest *r);

/* r's work ended (work_done calls it first): free its slot and start the
 * waiting hashes that may go. */
void ch_rest_hash_finished(ch_rest *r);

/* Hand r's work to the thread pool now (rest.c).  0, or -1 (not
 * queued; r is not answered). */
int ch_rest_work_start(ch_rest *r);

/* A login by account_key ("u:NAME" or "e:EMAIL") from r's client
 * address: 0 and the attempt is counted as pending on both (settle it
 * with ch_rest_login_end), or -1 after answering 429 too_many_attempts
 * with Retry-After (nothing hashed, nothing counted). */
int ch_rest_login_begin(ch_rest *r, const char *account_key);

/* Settle r's login attempt, if one is pending: ok 1 a success (clears
 * the account), 0 a failure, -1 undecided (the store failed: only the
 * pending count drops).  rest_free settles a dropped one as a failure. */
void ch_rest_login_end(ch_rest *r, int ok);

/* Body field getters.  Each returns 0 with the value, or answers 400
 * (and frees r) and returns -1.  The strings are borrowed from r->body;
 * an optional missing (or null) field gives NULL / 0. */
int ch_rest_body_id(ch_rest *r, const char *field, int required, int64_t *out);
int ch_rest_body_str(ch_rest *r, const char *field, int required, size_t max, const char **out);

/* The public JSON of a store user row: {"id","username","email","role"}
 * (new reference); email is null unless with_email. */
json_t *ch_rest_public_user(const json_t *row, int with_email);

/* A token for user (public JSON, borrowed): {"token","expires_at",
 * "user"} (new reference), or NULL.  *token_out: the token (borrowed from
 * the result). */
json_t *ch_rest_mint(ch_rest *r, const json_t *user, const char **token_out);

/* The Set-Cookie header line carrying token (NULL: clearing the cookie),
 * malloc'd; NULL if out of memory.  Secure when a trusted proxy said the
 * client spoke https (X-Forwarded-Proto, net/conn.h's c->https). */
char *ch_rest_cookie_header(ch_rest *r, const char *token);

/* rest_auth.c */
void ch_rest_register(ch_rest *r);
void ch_rest_login(ch_rest *r);
void ch_rest_logout(ch_rest *r);
void ch_rest_me(ch_rest *r);
void ch_rest_users_list(ch_rest *r);
void ch_rest_users_create(ch_rest *r);
void ch_rest_tokens(ch_rest *r);

/* rest_rooms.c */
void ch_rest_rooms_list(ch_rest *r);
void ch_rest_rooms_create(ch_rest *r);
void ch_rest_participant_add(ch_rest *r);
void ch_rest_participant_remove(ch_rest *r);
void ch_rest_messages(ch_rest *r);
void ch_rest_threads(ch_rest *r);

/* rest_attach.c: POST /api/rooms/<id>/attachments/ (an upload, its body
 * streamed) and GET /api/attachments/<id>/ (a download). */
void ch_rest_attach_upload(ch_rest *r);
void ch_rest_attach_get(ch_rest *r);

/* rest_attach.c: app->http_streamed (core/app.h): an upload's request. */
int ch_rest_streamed(int method, const char *url, size_t len);

/* rest_plugins.c */

/* For a request no host route matched: the plugin endpoint for its path
 * and method.  Returns the endpoint's CHANHOST_HTTP_* access with r->call
 * and r->handler set; -1 if none (allow gets the methods of endpoints the
 * path matches, for a 405); -2 after answering (503 for an endpoint of a
 * plugin that is not running, 500 out of memory). */
int ch_rest_endpoint_find(ch_rest *r, const ch_req *req, char *allow, size_t len);

/* Hand r->call to the plugin's handler and see the answer through (the
 * route function of plugin endpoints). */
void ch_rest_endpoint_call(ch_rest *r);

#endif
