/*
 * rest.h -- the JSON HTTP API under /api/ (docs/api.md): accounts,
 * tokens, rooms, participants, history, and the service endpoints an
 * application backend uses (users, tokens, ads, task members).
 *
 * Every handler answers asynchronously when it needs the store or a
 * password hash (thread pool): the connection's HTTP parsing is
 * suspended meanwhile (ch_http_suspend / ch_http_resume), so requests on
 * one connection are answered in order.
 *
 * Files: rest.c (dispatch, authentication of the request, body parsing,
 * answers, the store / thread-pool plumbing, validators), rest_auth.c
 * (register, login, logout, me, users, tokens), rest_rooms.c (rooms,
 * participants, messages, threads, ads, task members).  The part below
 * ch_rest_serve is shared by those three files only.
 */
#ifndef CH_REST_H
#define CH_REST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "request.h"

typedef struct ch_conn ch_conn;

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
    const ch_req *req;        /* only during the first, synchronous step */
    json_t *body;             /* the request's JSON object, or NULL */
    int64_t uid;              /* the calling user, 0 for anonymous / service */
    json_t *claims;           /* the caller's verified token claims, or NULL */
    int64_t id;               /* the <id> of the path, 0 if none */
    unsigned service : 1;     /* called with the service token */
    unsigned admin : 1;       /* service token or role admin */
    unsigned async : 1;       /* suspended and holding the connection */
    unsigned created : 1;     /* per handler: the store created the room */

    /* per-handler state */
    json_t *room;             /* the room being worked on */
    json_t *user;             /* a user (public JSON or store row) */
    json_t *ids;              /* user ids still to go through */
    size_t i;                 /* position in ids */
    int64_t other;            /* a second user id, ad or task id */
    char *password;           /* plain text, cleansed on free */
    char *hash;               /* Django hash: computed or stored */
    unsigned iterations;      /* PBKDF2 iterations for the thread pool */
    int ok;                   /* result of thread-pool work */

    ch_rest_step then;        /* where a multi-step part goes when done */
    ch_rest_step next;        /* continuation of the call in flight */
    void (*work_fn)(ch_rest *r);
    uv_work_t work;
};

/* Send the JSON answer body (stolen; NULL gives {}) with status and
 * optional extra header lines (each ending "\r\n"), then free r (and
 * resume reading if the request was asynchronous).  If the connection
 * has gone away the answer is dropped. */
void ch_rest_reply(ch_rest *r, int status, json_t *body, const char *extra_headers);

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

/* Run fn(r) on the thread pool (it may touch r's own fields only), then
 * next(r, 0, NULL, NULL) on the loop. */
void ch_rest_work(ch_rest *r, void (*fn)(ch_rest *r), ch_rest_step next);

/* Body field getters.  Each returns 0 with the value, or answers 400
 * (and frees r) and returns -1.  The strings are borrowed from r->body;
 * an optional missing (or null) field gives NULL / 0. */
int ch_rest_body_id(ch_rest *r, const char *field, int required, int64_t *out);
int ch_rest_body_str(ch_rest *r, const char *field, int required, size_t max,
                     const char **out);

/* The public JSON of a store user row: {"id","username","email","role"}
 * (new reference); email is null unless with_email. */
json_t *ch_rest_public_user(const json_t *row, int with_email);

/* A token for user (public JSON, borrowed): {"token","expires_at",
 * "user"} (new reference), or NULL.  *token_out: the token (borrowed from
 * the result). */
json_t *ch_rest_mint(ch_rest *r, const json_t *user, const char **token_out);

/* The Set-Cookie header line carrying token (NULL: clearing the cookie),
 * malloc'd; NULL if out of memory. */
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
void ch_rest_ads(ch_rest *r);
void ch_rest_task_add(ch_rest *r);
void ch_rest_task_remove(ch_rest *r);

#endif
