/*
 * rest_auth.c -- the account endpoints of the API (docs/api.md):
 * register, login, logout, me, the user list, and the service's user
 * creation and token minting.
 *
 * Password hashing and checking run on the thread pool, behind the hash
 * queue of rest_login.c.  Login does the same PBKDF2 work whether the
 * user exists or not (an unknown user's password is hashed and thrown
 * away), so answer times do not tell which usernames exist; its attempts
 * are limited per account and per client address (rest_login.c).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "rest.h"
#include "session.h"
#include "store.h"

/* An email with its domain in lower case (as Django's normalize_email),
 * malloc'd, or NULL. */
static char *normal_email(const char *email)
{
    char *e = email ? strdup(email) : NULL;
    char *p = e ? strchr(e, '@') : NULL;

    for (; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return e;
}

/* Keep a copy of password in r for the thread pool.  Returns 0, or
 * answers 500 and returns -1. */
static int keep_password(ch_rest *r, const char *password)
{
    r->iterations = (unsigned)r->app->cfg.auth_pbkdf2_iterations;
    if (!(r->password = strdup(password))) {
        ch_rest_fail(r, 500, "internal", "out of memory");
        return -1;
    }
    return 0;
}

/* Thread pool: hash r->password into r->hash. */
static void hash_work(ch_rest *r) { r->hash = ch_password_hash(r->password, r->iterations); }

/* Thread pool: r->ok = does r->password match the stored r->hash?  A
 * missing or unusable hash costs one hash of the same work, then fails. */
static void check_work(ch_rest *r)
{
    if (r->hash && strncmp(r->hash, "pbkdf2_sha256$", 14) == 0) {
        r->ok = ch_password_check(r->password, r->hash);
        return;
    }
    free(ch_password_hash(r->password, r->iterations));
    r->ok = 0;
}

/* A Django "unusable password" ("!" and 40 random characters) into
 * r->hash.  Returns 0 or -1. */
static int unusable_password(ch_rest *r)
{
    unsigned char rnd[20];

    if (RAND_bytes(rnd, sizeof rnd) != 1 || !(r->hash = malloc(42)))
        return -1;
    r->hash[0] = '!';
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(r->hash + 1 + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

/* Answer status with {"token","expires_at","user"} for user (stolen) and
 * the session cookie. */
static void session_answer(ch_rest *r, int status, json_t *user)
{
    const char *token = NULL;
    json_t *out = user ? ch_rest_mint(r, user, &token) : NULL;
    char *cookie = out ? ch_rest_cookie_header(r, token) : NULL;

    json_decref(user);
    if (!cookie) {
        json_decref(out);
        ch_rest_fail(r, 500, "internal", "cannot issue a token");
        return;
    }
    ch_rest_reply(r, status, out, cookie);
    OPENSSL_cleanse(cookie, strlen(cookie)); /* it holds the token */
    free(cookie);
}

/*
 * Check the fields of a new user into r->user {"username","email"?,
 * "role"} and r->password (if given).  need_email / need_password: the
 * register form wants both.  Returns 0, or answers 400 and returns -1.
 */
static int take_new_user(ch_rest *r, int need_email, int need_password)
{
    const char *username, *email, *password, *role;
    char *norm;

    if (ch_rest_body_str(r, "username", 1, 150, &username) ||
        ch_rest_body_str(r, "email", need_email, 254, &email) ||
        ch_rest_body_str(r, "password", need_password, 1024, &password) ||
        ch_rest_body_str(r, "role", 0, 32, &role))
        return -1;
    if (!ch_rest_valid_username(username))
        return ch_rest_invalid(r, "username", "username: 1 to 150 letters, digits and @.+-_"), -1;
    if (email && !ch_rest_valid_email(email))
        return ch_rest_invalid(r, "email", "email: not a valid address"), -1;
    if (password && !ch_rest_valid_password(password, strlen(password)))
        return ch_rest_invalid(r, "password", "password: 8 to 128 characters"), -1;
    role = role ? role : "user";
    if (!ch_role_name_ok(role) || !ch_config_role_known(&r->app->cfg, role))
        return ch_rest_invalid(r, "role",
                               "role: user, admin or a role the config's roles "
                               "directive names"),
               -1;
    norm = normal_email(email);
    r->user = json_pack("{s:s, s:s?, s:s}", "username", username, "email", norm, "role", role);
    free(norm);
    if (!r->user)
        return ch_rest_fail(r, 500, "internal", "out of memory"), -1;
    return password ? keep_password(r, password) : 0;
}

/* Store r->user with the hash in r->hash (user.create), then next. */
static void create_user(ch_rest *r, ch_rest_step next)
{
    json_t *params = json_deep_copy(r->user);

    if (!r->hash) {
        json_decref(params);
        ch_rest_fail(r, 500, "internal", "cannot hash the password");
        return;
    }
    if (params)
        json_object_set_new(params, "password", json_string(r->hash));
    ch_rest_store(r, "user.create", params, next);
}

/* ---- register ---------------------------------------------------------------- */

/* The outcome of user.create: the new user's public JSON (new reference),
 * or NULL after answering the error (409 for a taken name or email). */
static json_t *created_user(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status == CH_STORE_EEXIST) {
        ch_rest_fail(r, 409, "exists", "that username or email is already taken");
        return NULL;
    }
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return NULL;
    }
    return ch_rest_public_user(json_object_get(result, "user"), 1);
}

static void register_created(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *user = created_user(r, status, result, error);

    if (user)
        session_answer(r, 201, user);
}

/* The password is hashed: store the new user. */
static void register_hashed(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    create_user(r, register_created);
}

/* POST /api/auth/register/ {"username","email","password"}. */
void ch_rest_register(ch_rest *r)
{
    if (json_object_get(r->body, "role")) {
        ch_rest_invalid(r, "role", "role: cannot be chosen when registering");
        return;
    }
    if (take_new_user(r, 1, 1) == 0)
        ch_rest_work(r, hash_work, register_hashed);
}

/* ---- login / logout ----------------------------------------------------------- */

static void login_checked(ch_rest *r, int status, json_t *result, const char *error)
{
    int ok = r->ok && json_is_true(json_object_get(r->user, "is_active"));

    (void)status, (void)result, (void)error;
    ch_rest_login_end(r, ok);
    if (!ok) {
        ch_rest_fail(r, 401, "bad_credentials", "wrong username, email or password");
        return;
    }
    session_answer(r, 200, ch_rest_public_user(r->user, 1));
}

/* The user row (with its hash), or none: check the password either way. */
static void login_found(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status == 0) {
        r->user = json_incref(json_object_get(result, "user"));
        r->hash = strdup(json_string_value(json_object_get(r->user, "password")) ?: "");
    } else if (status != CH_STORE_ENOENT) {
        ch_rest_login_end(r, -1); /* the password was never checked */
        ch_rest_store_failed(r, status, error);
        return;
    }
    ch_rest_work(r, check_work, login_checked);
}

/* The limits of a login by username or else email (login_limit.h):
 * 0 and the attempt is counted, or -1 after answering 429. */
static int login_limited(ch_rest *r, const char *username, const char *email)
{
    char *key = NULL;
    int rc;

    if (asprintf(&key, "%s:%s", username ? "u" : "e", username ? username : email ?: "") < 0)
        return 0; /* out of memory: not refused for the limiter's sake */
    rc = ch_rest_login_begin(r, key);
    free(key);
    return rc;
}

/* POST /api/auth/login/ {"username" or "email", "password"}: refused 429
 * while the account or the client address is locked (rest_login.c). */
void ch_rest_login(ch_rest *r)
{
    const char *username, *email, *password;
    char *norm;
    json_t *params;

    if (ch_rest_body_str(r, "username", 0, 150, &username) ||
        ch_rest_body_str(r, "email", 0, 254, &email) ||
        ch_rest_body_str(r, "password", 1, 1024, &password))
        return;
    if (!username == !email) {
        ch_rest_invalid(r, "username", "give either username or email");
        return;
    }
    if (keep_password(r, password) != 0)
        return;
    norm = normal_email(email);
    if (login_limited(r, username, norm) != 0) {
        free(norm);
        return;
    }
    params = username ? json_pack("{s:s}", "username", username)
                      : json_pack("{s:s?}", "email", norm);
    free(norm);
    ch_rest_store(r, "user.get", params, login_found);
}

/* The logout's answer: {} and the cookie cleared. */
static void logout_reply(ch_rest *r)
{
    char *cookie = ch_rest_cookie_header(r, NULL);

    ch_rest_reply(r, 200, json_object(), cookie);
    free(cookie);
}

/* The token is on the revocation list: its open connections on every
 * host close (session.h), and the answer. */
static void logout_revoked(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)result;
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    ch_session_revoked(r->app, r->uid, r->token_hash);
    logout_reply(r);
}

/* POST /api/auth/logout/: clear the cookie; a user token the request
 * carries (Authorization or the cookie) is revoked on every host sharing
 * the store until it expires (session.h). */
void ch_rest_logout(ch_rest *r)
{
    json_t *exp = json_object_get(r->claims, "exp");

    if (!r->uid || !r->token_hash[0] || !r->app->store) {
        logout_reply(r);
        return;
    }
    ch_rest_store(r, "token.revoke",
                  json_pack("{s:s, s:I, s:I, s:I}", "token_hash", r->token_hash, "user_id",
                            (json_int_t)r->uid, "exp", (json_int_t)json_number_value(exp), "now",
                            (json_int_t)time(NULL)),
                  logout_revoked);
}

/* The store's answer to the caller's token check: the caller loses its
 * user when the token is revoked or the user inactive; then the route. */
static void session_checked(ch_rest *r, int status, json_t *result, const char *error)
{
    const char *why = NULL;

    r->req = r->kept_req;
    if (status != 0)
        ch_log(CH_LOG_WARN, "api: the token's check failed (%s): admitted",
               error ? error : "store error");
    else if (json_is_true(json_object_get(result, "revoked")) ||
             !json_is_true(json_object_get(result, "active"))) {
        why = json_is_true(json_object_get(result, "revoked")) ? "the token was revoked"
                                                               : "the token's user is inactive";
        r->uid = 0;
        r->admin = 0;
        r->token_hash[0] = '\0';
        json_decref(r->claims);
        r->claims = NULL;
    }
    ch_rest_resume(r, why);
}

void ch_rest_token_seen(ch_rest *r, const char *token)
{
    ch_session_token_hash(token, r->token_hash);
}

void ch_rest_session_check(ch_rest *r)
{
    ch_rest_store(r, "session.check",
                  json_pack("{s:s, s:I}", "token_hash", r->token_hash, "user_id",
                            (json_int_t)r->uid),
                  session_checked);
}

/* The user's activity changed: a deactivation closes its connections on
 * every host (session.h); the answer. */
static void user_updated(ch_rest *r, int status, json_t *result, const char *error)
{
    int active = json_is_true(json_object_get(r->body, "is_active"));

    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    if (!json_is_true(json_object_get(result, "updated"))) {
        ch_rest_fail(r, 404, "not_found", "no such user");
        return;
    }
    if (!active)
        ch_session_revoked(r->app, r->id, NULL);
    ch_rest_reply(r, 200,
                  json_pack("{s:{s:I, s:b}}", "user", "id", (json_int_t)r->id, "is_active", active),
                  NULL);
}

/* PATCH /api/users/<id>/ {"is_active": bool} (service or admin):
 * deactivating refuses the user's logins, tokens and handshakes from now
 * on and closes its open connections with 4001 on every host. */
void ch_rest_user_update(ch_rest *r)
{
    json_t *v = json_object_get(r->body, "is_active");

    if (!json_is_boolean(v)) {
        ch_rest_fail(r, 400, "invalid", "is_active: a boolean is required");
        return;
    }
    ch_rest_store(r, "user.set_active",
                  json_pack("{s:I, s:b}", "id", (json_int_t)r->id, "is_active", json_is_true(v)),
                  user_updated);
}

/* ---- me, users ------------------------------------------------------------------ */

static void me_found(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *row = json_object_get(result, "user");

    if (status == CH_STORE_ENOENT ||
        (status == 0 && !json_is_true(json_object_get(row, "is_active")))) {
        ch_rest_fail(r, 401, "not_authenticated", "the token's user does not exist or is inactive");
        return;
    }
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    ch_rest_reply(r, 200, json_pack("{s:o}", "user", ch_rest_public_user(row, 1)), NULL);
}

/* GET /api/auth/me/. */
void ch_rest_me(ch_rest *r)
{
    ch_rest_store(r, "user.get", json_pack("{s:I}", "id", (json_int_t)r->uid), me_found);
}

/* Active users, with emails only for admins (and the caller's own). */
static void users_listed(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *users = json_array(), *row;
    size_t i;

    if (status != 0) {
        json_decref(users);
        ch_rest_store_failed(r, status, error);
        return;
    }
    json_array_foreach(json_object_get(result, "users"), i, row)
    {
        int64_t id = json_integer_value(json_object_get(row, "id"));

        if (json_is_true(json_object_get(row, "is_active")))
            json_array_append_new(users, ch_rest_public_user(row, r->admin || id == r->uid));
    }
    ch_rest_reply(r, 200, json_pack("{s:o}", "users", users), NULL);
}

/* GET /api/users/. */
void ch_rest_users_list(ch_rest *r) { ch_rest_store(r, "user.list", json_object(), users_listed); }

/* ---- service: users, tokens ---------------------------------------------------- */

static void user_created(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *user = created_user(r, status, result, error);

    if (user)
        ch_rest_reply(r, 201, json_pack("{s:o}", "user", user), NULL);
}

/* The password is hashed: store the new user. */
static void user_hashed(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    create_user(r, user_created);
}

/* POST /api/users/ {"username","email"?,"password"?,"role"?} (service).
 * Without a password the user cannot log in (Django's unusable
 * password): the service mints its tokens. */
void ch_rest_users_create(ch_rest *r)
{
    if (take_new_user(r, 0, 0) != 0)
        return;
    if (r->password) {
        ch_rest_work(r, hash_work, user_hashed);
        return;
    }
    if (unusable_password(r) != 0) {
        ch_rest_fail(r, 500, "internal", "no randomness");
        return;
    }
    create_user(r, user_created);
}

/* The user to mint for: 404 if unknown, 409 if inactive, else its token. */
static void token_user_found(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *row = json_object_get(result, "user"), *out;

    if (status != 0) {
        ch_rest_store_failed(r, status, status == CH_STORE_ENOENT ? "no such user" : error);
        return;
    }
    if (!json_is_true(json_object_get(row, "is_active"))) {
        ch_rest_fail(r, 409, "inactive", "that user is not active");
        return;
    }
    r->user = ch_rest_public_user(row, 1);
    out = r->user ? ch_rest_mint(r, r->user, NULL) : NULL;
    if (!out)
        ch_rest_fail(r, 500, "internal", "cannot issue a token");
    else
        ch_rest_reply(r, 201, out, NULL);
}

/* POST /api/tokens/ {"user_id"} (service): a token for that user. */
void ch_rest_tokens(ch_rest *r)
{
    int64_t id;

    if (ch_rest_body_id(r, "user_id", 1, &id) == 0)
        ch_rest_store(r, "user.get", json_pack("{s:I}", "id", (json_int_t)id), token_user_found);
}
