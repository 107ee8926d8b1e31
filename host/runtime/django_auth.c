/*
 * django_auth.c -- owns the Django login state (the Django database as a
 * foreign store, SECRET_KEY, the JWT key, the session settings, the ids
 * already mirrored) and each login in flight: which credential a request
 * carries, the database reads, the checks (auth/django.h), the mirror of
 * the user into chanhost's store (see django_auth.h).
 */
#include "django_auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "django.h"
#include "hmap.h"
#include "log.h"
#include "secret.h"
#include "store.h"

#define KEY_MAX ((size_t)4096) /* the largest SECRET_KEY file */
#define MIRRORED_MAX 100000    /* ids remembered as mirrored, then forgotten */

struct ch_django_auth {
    struct ch_store *db; /* the Django database (foreign) */
    char *secret;        /* SECRET_KEY */
    char *jwt_key;       /* SimpleJWT's SIGNING_KEY */
    char *cookie;        /* SESSION_COOKIE_NAME */
    int signed_cookies;  /* SESSION_ENGINE signed_cookies, else db */
    int64_t session_age; /* SESSION_COOKIE_AGE, seconds */
    ch_hmap mirrored;    /* "<id>" -> malloc'd username already in our store */
    void (*done)(void *);
    void *done_arg;
};

/* What a call is waiting for. */
enum { K_SESSION_DB, K_SESSION_COOKIE, K_DRF, K_JWT };

struct ch_django_call {
    ch_django_auth *d;
    struct ch_store *own;
    int kind;
    char *hash;   /* the session's _auth_user_hash (K_SESSION_*) */
    json_t *user; /* the identity, once known */
    ch_django_done done;
    void *arg;
    int cancelled;
    int starting;         /* inside ch_django_begin: no callback yet */
    const char *sync_why; /* settled while starting: the refusal */
    int settled;
};

/* A secret from env (if set) or file: new malloc'd string without
 * trailing newlines, or NULL (*err set when one was named and failed). */
static char *load_key(const char *file, const char *env, char *err, size_t errlen)
{
    const char *v = env ? getenv(env) : NULL;
    char *text = NULL, *out;
    size_t len = 0, n;

    if (v && *v)
        return strdup(v);
    if (env && !file) {
        snprintf(err, errlen, "django: the variable %s is not set", env);
        return NULL;
    }
    if (!file)
        return NULL;
    if (ch_secret_read(file, KEY_MAX, &text, &len, err, errlen) < 0)
        return NULL;
    for (n = len; n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'); n--)
        ;
    out = n ? strndup(text, n) : NULL;
    ch_secret_free(text, len);
    if (!out)
        snprintf(err, errlen, "django: %s is empty", file);
    return out;
}

/* Wipe and free a secret string (NULL is fine). */
static void free_key(char *k) { ch_secret_free(k, k ? strlen(k) : 0); }

/* Free the remembered usernames and the table m itself. */
static void mirrored_free(ch_hmap *m)
{
    size_t pos = 0;
    const char *k;
    void *v;

    while (ch_hmap_next(m, &pos, &k, &v))
        free(v);
    ch_hmap_free(m);
}

/* Free d's memory (its store is closed already or never opened). */
static void django_free(ch_django_auth *d)
{
    mirrored_free(&d->mirrored);
    free_key(d->secret);
    free_key(d->jwt_key);
    free(d->cookie);
    free(d);
}

int ch_django_open(uv_loop_t *loop, const ch_config *cfg, ch_django_auth **out, char *err,
                   size_t errlen)
{
    ch_django_auth *d;
    ch_store_opts o = {0};

    *out = NULL;
    if (!cfg->django_database || strcmp(cfg->django_database, "none") == 0)
        return 0;
    if (!(d = calloc(1, sizeof *d))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ch_hmap_init(&d->mirrored);
    err[0] = '\0';
    d->secret = load_key(cfg->django_secret_key_file, cfg->django_secret_key_env, err, errlen);
    if (d->secret && (cfg->django_jwt_key_file || cfg->django_jwt_key_env))
        d->jwt_key = load_key(cfg->django_jwt_key_file, cfg->django_jwt_key_env, err, errlen);
    else if (d->secret)
        d->jwt_key = strdup(d->secret);
    d->cookie = strdup(cfg->django_session_cookie ? cfg->django_session_cookie : "sessionid");
    d->signed_cookies = cfg->django_session_engine &&
                        strcmp(cfg->django_session_engine, "signed_cookies") == 0;
    d->session_age = (int64_t)(cfg->django_session_age / 1000);
    if (!d->secret || !d->jwt_key || !d->cookie) {
        if (!err[0])
            snprintf(err, errlen,
                     "django_database needs django_secret_key_file or "
                     "django_secret_key_env (the project's SECRET_KEY)");
        django_free(d);
        return -1;
    }
    o.url = cfg->django_database;
    o.foreign = 1;
    if (!(d->db = ch_store_open(loop, &o, err, errlen))) {
        django_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

/* The Django store is closed: free d, then tell the caller. */
static void on_closed(void *arg)
{
    ch_django_auth *d = arg;
    void (*done)(void *) = d->done;
    void *done_arg = d->done_arg;

    django_free(d);
    if (done)
        done(done_arg);
}

void ch_django_close(ch_django_auth *d, void (*done)(void *arg), void *arg)
{
    d->done = done;
    d->done_arg = arg;
    ch_store_close(d->db, on_closed, d);
}

/* ---- one login ------------------------------------------------------------ */

static void call_free(ch_django_call *call)
{
    if (call->hash)
        free_key(call->hash);
    json_decref(call->user);
    free(call);
}

/* The end: tell the caller (unless cancelled), free the call. */
static void finish(ch_django_call *call, json_t *user, const char *why)
{
    if (call->starting) { /* only refusals settle at once (reads come later) */
        call->settled = 1;
        call->sync_why = why ? why : "refused";
        return;
    }
    if (!call->cancelled)
        call->done(call->arg, user, why);
    call_free(call);
}

void ch_django_cancel(ch_django_call *call)
{
    if (call)
        call->cancelled = 1;
}

/* user.mirror answered: the login is complete (a failure refuses it:
 * the user could not be made with the Django id). */
static void mirrored(int status, json_t *result, const char *error, void *arg)
{
    ch_django_call *call = arg;
    ch_django_auth *d = call->d;
    json_t *id = json_object_get(call->user, "id");
    char key[24], *name;

    (void)result;
    if (status != 0) {
        ch_log(CH_LOG_WARN, "django: user %lld (%s) cannot be mirrored: %s",
               (long long)json_integer_value(id),
               json_string_value(json_object_get(call->user, "username")), error);
        finish(call, NULL, "the user cannot be mirrored");
        return;
    }
    snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
    if (ch_hmap_count(&d->mirrored) >= MIRRORED_MAX) {
        mirrored_free(&d->mirrored);
        ch_hmap_init(&d->mirrored);
    }
    free(ch_hmap_remove(&d->mirrored, key));
    name = strdup(json_string_value(json_object_get(call->user, "username")));
    if (name && ch_hmap_put(&d->mirrored, key, name) != 0)
        free(name);
    finish(call, call->user, NULL);
}

/* The identity is known: mirror it into chanhost's store unless it is
 * there already with that username. */
static void mirror(ch_django_call *call)
{
    json_t *id = json_object_get(call->user, "id"), *name = json_object_get(call->user, "username");
    const char *known;
    char key[24];

    snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
    known = ch_hmap_get(&call->d->mirrored, key);
    if (!call->own || (known && strcmp(known, json_string_value(name)) == 0)) {
        finish(call, call->user, NULL);
        return;
    }
    if (ch_store_call(call->own, "user.mirror", json_pack("{s:O, s:O}", "id", id, "username", name),
                      mirrored, call) != 0)
        finish(call, NULL, "the store is busy");
}

/* A store read failed: ENOENT is a refusal, anything else is logged. */
static void read_failed(ch_django_call *call, int status, const char *error, const char *what)
{
    if (status != CH_STORE_ENOENT)
        ch_log(CH_LOG_WARN, "django: reading %s failed: %s", what, error ? error : "?");
    finish(call, NULL, status == CH_STORE_ENOENT ? "unknown" : "the database failed");
}

/* The auth_user row: active, and for a session the hash of its password
 * field must be the session's. */
static void user_read(int status, json_t *result, const char *error, void *arg)
{
    ch_django_call *call = arg;
    json_t *u = json_object_get(result, "user");
    const char *password = json_string_value(json_object_get(u, "password"));

    if (status != 0) {
        read_failed(call, status, error, "auth_user");
        return;
    }
    if (!json_is_true(json_object_get(u, "is_active"))) {
        finish(call, NULL, "inactive user");
        return;
    }
    if ((call->kind == K_SESSION_DB || call->kind == K_SESSION_COOKIE) &&
        !ch_django_session_hash_ok(call->hash, password, call->d->secret)) {
        finish(call, NULL, "the password changed since the login");
        return;
    }
    call->user = json_pack("{s:O, s:O, s:[s]}", "id", json_object_get(u, "id"), "username",
                           json_object_get(u, "username"), "roles", "user");
    if (!call->user) {
        finish(call, NULL, "out of memory");
        return;
    }
    mirror(call);
}

/* Read user id's row (then user_read); on a refused call, finish. */
static void read_user(ch_django_call *call, int64_t id)
{
    if (ch_store_call(call->d->db, "django.user", json_pack("{s:I}", "id", (json_int_t)id),
                      user_read, call) != 0)
        finish(call, NULL, "the database is busy");
}

/* A decoded session (borrowed): its user, then read_user. */
static void session_decoded(ch_django_call *call, json_t *session, const char *why)
{
    const char *hash = NULL;
    int64_t id = session ? ch_django_session_user(session, &hash, &why) : 0;

    if (!id) {
        finish(call, NULL, why);
        return;
    }
    if (!hash || !(call->hash = strdup(hash))) {
        finish(call, NULL, "the session has no auth hash");
        return;
    }
    read_user(call, id);
}

/* The django_session row: decode its session_data. */
static void session_read(int status, json_t *result, const char *error, void *arg)
{
    ch_django_call *call = arg;
    const char *why = NULL;
    json_t *session;

    if (status != 0) {
        read_failed(call, status, error, "django_session");
        return;
    }
    session = ch_django_loads(json_string_value(json_object_get(result, "data")), call->d->secret,
                              CH_DJ_SALT_DB, -1, (int64_t)time(NULL), &why);
    session_decoded(call, json_is_object(session) ? session : NULL,
                    session && !json_is_object(session) ? "bad payload" : why);
    json_decref(session);
}

/* The DRF token's user (the same checks as a user read). */
static void token_read(int status, json_t *result, const char *error, void *arg)
{
    if (status != 0) {
        read_failed(arg, status, error, "authtoken_token");
        return;
    }
    user_read(status, result, error, arg);
}

/* "Authorization: Token <key>" (DRF's keyword, any case): new malloc'd
 * key or NULL. */
static char *drf_header_key(const char *authz)
{
    const char *t;
    size_t n;

    if (!authz || strncasecmp(authz, "Token", 5) != 0 || (authz[5] != ' ' && authz[5] != '\t'))
        return NULL;
    t = authz + 5 + strspn(authz + 5, " \t");
    n = strcspn(t, " \t");
    return n ? strndup(t, n) : NULL;
}

/* Start the reads for a token (new malloc'd, wiped and freed here):
 * a SimpleJWT when it has dots, else a DRF key.  0, or -1 when it is
 * neither (no Django credential). */
static int begin_token(ch_django_call *call, char *token)
{
    const char *why = NULL;
    int rc = 0;

    if (strchr(token, '.')) {
        int64_t id = ch_django_jwt_user(token, (const unsigned char *)call->d->jwt_key,
                                        strlen(call->d->jwt_key), (int64_t)time(NULL), &why);

        call->kind = K_JWT;
        if (id)
            read_user(call, id);
        else
            finish(call, NULL, why);
    } else if (ch_django_is_drf_key(token)) {
        call->kind = K_DRF;
        if (ch_store_call(call->d->db, "django.token", json_pack("{s:s}", "key", token), token_read,
                          call) != 0)
            finish(call, NULL, "the database is busy");
    } else {
        rc = -1;
    }
    free_key(token);
    return rc;
}

/* Start the reads for a session cookie value (new malloc'd, wiped and
 * freed here).  0, or -1 when it cannot be a session. */
static int begin_session(ch_django_call *call, char *value)
{
    const char *why = NULL;
    json_t *session;
    int rc = 0;

    if (call->d->signed_cookies) {
        call->kind = K_SESSION_COOKIE;
        session = ch_django_loads(value, call->d->secret, CH_DJ_SALT_COOKIE, call->d->session_age,
                                  (int64_t)time(NULL), &why);
        session_decoded(call, json_is_object(session) ? session : NULL,
                        session && !json_is_object(session) ? "bad payload" : why);
        json_decref(session);
    } else if (ch_django_is_session_key(value)) {
        call->kind = K_SESSION_DB;
        if (ch_store_call(call->d->db, "django.session", json_pack("{s:s}", "key", value),
                          session_read, call) != 0)
            finish(call, NULL, "the database is busy");
    } else {
        rc = -1;
    }
    free_key(value);
    return rc;
}

ch_django_call *ch_django_begin(ch_django_auth *d, struct ch_store *own,
                                const char *(*header)(void *ctx, const char *name), void *ctx,
                                const char *query, ch_django_done done, void *arg,
                                const char **refused)
{
    ch_django_call *call = calloc(1, sizeof *call);
    const char *via = NULL;
    char *token, *cookie;
    int rc = -1;

    *refused = NULL;
    if (!call)
        return NULL;
    *call = (ch_django_call){.d = d, .own = own, .done = done, .arg = arg, .starting = 1};
    token = ch_auth_find_token(header, ctx, query, &via);
    if (token && strcmp(via, "cookie") == 0) {
        free_key(token);
        token = NULL;
    }
    if (!token)
        token = drf_header_key(header(ctx, "authorization"));
    if (token)
        rc = begin_token(call, token);
    else if ((cookie = ch_cookie_get(header(ctx, "cookie"), d->cookie)))
        rc = begin_session(call, cookie);
    call->starting = 0;
    if (rc == 0 && !call->settled)
        return call;
    if (rc == 0)
        *refused = call->sync_why;
    call_free(call);
    return NULL;
}
