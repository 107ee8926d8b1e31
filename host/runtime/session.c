/*
 * session.c -- owns the life of a token-authenticated WebSocket
 * connection's token (session.h): when it ends (w->expires_ms, served by
 * ws.c's deadline), the refresh message that moves it, the store's check
 * of a revoked token or an inactive user at the handshake (a
 * session_check) and at a refresh (a refresh_check), each freed when the
 * store answers and holding the connection meanwhile, and the "chanhost.session" message that closes a revoked
 * token's or a deactivated user's connections.  The expiry and the token
 * tag are fields of the connection.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"

#include "app.h"
#include "auth.h"
#include "layer.h"
#include "ident.h"
#include "log.h"
#include "membership.h"
#include "msg.h"
#include "store.h"

#define REFRESH_TYPE "refresh"

/* session.h: exp as a loop time. */
uint64_t ch_session_expiry_ms(int64_t exp, uint64_t wall_ms, uint64_t now_ms)
{
    if (exp <= 0 || (uint64_t)exp * 1000 <= wall_ms)
        return now_ms;
    return now_ms + ((uint64_t)exp * 1000 - wall_ms);
}

/* session.h: the token of a refresh message, or NULL. */
char *ch_session_refresh_token(const char *text, size_t len, int *is_refresh)
{
    json_t *j, *token;
    char *out = NULL;

    *is_refresh = 0;
    /* the chat path pays a memmem, not a parse, for what is no refresh */
    if (!memmem(text, len, "\"" REFRESH_TYPE "\"", sizeof REFRESH_TYPE + 1))
        return NULL;
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_string(json_object_get(j, "type")) &&
        strcmp(json_string_value(json_object_get(j, "type")), REFRESH_TYPE) == 0) {
        *is_refresh = 1;
        token = json_object_get(j, "token");
        if (json_is_string(token))
            out = strdup(json_string_value(token));
        if (token)
            OPENSSL_cleanse((char *)json_string_value(token), json_string_length(token));
    }
    json_decref(j);
    return out;
}

/* The wall clock in ms. */
static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The exp of verified claims (borrowed), in whole seconds. */
static int64_t claims_exp(const json_t *claims)
{
    return (int64_t)json_number_value(json_object_get(claims, "exp"));
}

void ch_session_start(ch_ws *w, const json_t *claims)
{
    w->expires_ms = ch_session_expiry_ms(claims_exp(claims), wall_ms(), uv_now(w->conn->app->loop));
}

/* Answer a refresh on w: {"type": "refresh", "ok": ok, "exp" | "error"}. */
static void refresh_answer(ch_ws *w, int64_t exp, const char *error)
{
    json_t *obj = error
                      ? json_pack("{s:s, s:b, s:s}", "type", REFRESH_TYPE, "ok", 0, "error", error)
                      : json_pack("{s:s, s:b, s:I}", "type", REFRESH_TYPE, "ok", 1, "exp",
                                  (json_int_t)exp);
    const char *why = NULL;
    ch_msg *m = obj ? ch_msg_from_json(obj, &why) : NULL;
    ch_buf *frame = m ? ch_msg_frame(m) : NULL;

    if (frame)
        ch_ws_send_frame(w, frame);
    else
        ch_log(CH_LOG_WARN, "WebSocket REFRESH %s [%s]: no answer: out of memory", w->path,
               ch_conn_peer(w->conn));
    ch_msg_unref(m);
    json_decref(obj);
}

/* Verify token for w's user: its claims (new reference) or NULL with a
 * static reason in *why. */
static json_t *refresh_claims(ch_ws *w, const char *token, const char **why)
{
    ch_app *app = w->conn->app;
    json_t *claims = ch_jwt_verify(token, app->auth_secret, app->auth_secret_len, time(NULL), why);
    json_t *user = claims ? ch_auth_user(claims) : NULL;
    json_int_t id = json_integer_value(json_object_get(user, "id"));

    if (claims && (!user || !w->ident || id <= 0 ||
                   id != (w->ident ? w->ident->id : 0))) {
        *why = "another user";
        json_decref(claims);
        claims = NULL;
    }
    json_decref(user);
    return claims;
}

/* Move w's expiry to exp (seconds) and its token tag to tag, and answer
 * the refresh as accepted.  w is borrowed. */
static void refresh_accept(ch_ws *w, int64_t exp, uint64_t tag)
{
    w->expires_ms = ch_session_expiry_ms(exp, wall_ms(), uv_now(w->conn->app->loop));
    w->token_tag = tag;
    ch_conn_arm_timer(w->conn);
    ch_log(CH_LOG_DEBUG, "WebSocket REFRESH %s [%s] until %lld", w->path, ch_conn_peer(w->conn),
           (long long)exp);
    refresh_answer(w, exp, NULL);
}

/* Answer a refresh on w as refused for the static reason why. */
static void refresh_refuse(ch_ws *w, const char *why)
{
    ch_log(CH_LOG_DEBUG, "WebSocket REFRESH %s [%s] refused: %s", w->path, ch_conn_peer(w->conn),
           why);
    refresh_answer(w, 0, why);
}

/* A refresh's store check in flight: the connection (held), the new
 * token's exp and tag. */
typedef struct refresh_check {
    ch_conn *conn;
    int64_t exp;
    uint64_t tag;
} refresh_check;

/* The store answered a refresh's check: refuse a revoked token or an
 * inactive user, else accept (a failed check admits, as at the
 * handshake); nothing when the connection went meanwhile.  Frees arg. */
static void refresh_checked(int status, json_t *result, const char *error, void *arg)
{
    refresh_check *rc = arg;
    ch_conn *c = rc->conn;
    ch_ws *w = c->ws;

    if (!c->closing && w && !w->close_sent) {
        if (status != 0)
            ch_log(CH_LOG_WARN, "WebSocket REFRESH %s [%s] the token's check failed (%s): admitted",
                   w->path, ch_conn_peer(c), error ? error : "store error");
        if (status == 0 && json_is_true(json_object_get(result, "revoked")))
            refresh_refuse(w, "revoked");
        else if (status == 0 && !json_is_true(json_object_get(result, "active")))
            refresh_refuse(w, "user inactive");
        else
            refresh_accept(w, rc->exp, rc->tag);
    }
    free(rc);
    ch_conn_release(c);
}

/* Accept a verified refresh token (borrowed) of exp for w once the store
 * says it is not revoked: 1 when that check is in flight (its answer
 * follows), 0 when there is nothing to ask (no store) or it could not be
 * queued (logged; the caller accepts, as the handshake admits). */
static int refresh_check_start(ch_ws *w, const char *token, int64_t exp)
{
    ch_conn *c = w->conn;
    refresh_check *rc;
    char hex[65];
    int err;

    if (!c->app->store || !w->ident || !(rc = malloc(sizeof *rc)))
        return 0;
    rc->conn = c;
    rc->exp = exp;
    rc->tag = ch_session_token_hash(token, hex);
    err = ch_store_call(c->app->store, "session.check",
                        json_pack("{s:s, s:I}", "token_hash", hex, "user_id",
                                  (json_int_t)w->ident->id),
                        refresh_checked, rc);
    if (err != 0) {
        ch_log(CH_LOG_WARN,
               "WebSocket REFRESH %s [%s] the token's check was refused (%d): admitted", w->path,
               ch_conn_peer(c), err);
        free(rc);
        return 0;
    }
    ch_conn_hold(c);
    return 1;
}

int ch_session_message(ch_ws *w, const char *text, size_t len)
{
    int is_refresh;
    char *token = ch_session_refresh_token(text, len, &is_refresh);
    const char *why = "no token";
    json_t *claims = NULL;

    if (!is_refresh)
        return 0;
    if (token)
        claims = refresh_claims(w, token, &why);
    if (!claims) {
        refresh_refuse(w, why);
    } else if (!refresh_check_start(w, token, claims_exp(claims))) {
        char hex[65];

        refresh_accept(w, claims_exp(claims), ch_session_token_hash(token, hex));
    }
    json_decref(claims);
    if (token) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    return 1;
}

/* ---- revocation and deactivation -------------------------------------- */

#define SESSION_TYPE "chanhost.session"

uint64_t ch_session_token_hash(const char *token, char hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    uint64_t tag = 0;

    SHA256((const unsigned char *)token, strlen(token), md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    for (int i = 0; i < 8; i++)
        tag = tag << 8 | md[i];
    return tag ? tag : 1;
}

/* The tag of a token hash in hex (64 digits, borrowed): its first 8
 * bytes, as ch_session_token_hash gives them; 0 if hex is no hash. */
static uint64_t tag_of_hex(const char *hex)
{
    char head[17];
    uint64_t tag;

    if (!hex || strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
        return 0;
    memcpy(head, hex, 16);
    head[16] = '\0';
    tag = strtoull(head, NULL, 16);
    return tag ? tag : 1;
}

/* A session check in flight: the connection (held) and what follows. */
typedef struct session_check {
    ch_conn *conn;
    void (*done)(ch_ws *w);
} session_check;

/* The store answered a session check: drop w's user if its token is
 * revoked or its user inactive, then go on (unless w went meanwhile). */
static void check_done(int status, json_t *result, const char *error, void *arg)
{
    session_check *sc = arg;
    ch_conn *c = sc->conn;
    ch_ws *w = c->ws;

    if (!c->closing && w && w->session_check) {
        w->session_check = 0;
        if (status != 0)
            ch_log(CH_LOG_WARN, "WebSocket AUTH %s [%s] the token's check failed (%s): admitted",
                   w->path, ch_conn_peer(c), error ? error : "store error");
        else if (json_is_true(json_object_get(result, "revoked")) ||
                 !json_is_true(json_object_get(result, "active"))) {
            ch_log(CH_LOG_DEBUG, "WebSocket AUTH %s [%s] token refused: %s", w->path,
                   ch_conn_peer(c),
                   json_is_true(json_object_get(result, "revoked")) ? "revoked" : "user inactive");
            ch_ident_free(w->ident);
            w->ident = NULL;
            w->expires_ms = 0;
            w->token_tag = 0;
        }
        sc->done(w);
    }
    free(sc);
    ch_conn_release(c);
}

int ch_session_check(ch_ws *w, const char *hex, void (*done)(ch_ws *w))
{
    ch_conn *c = w->conn;
    json_int_t id = (w->ident ? w->ident->id : 0);
    session_check *sc;
    int rc;

    if (!c->app->store || id <= 0 || !(sc = malloc(sizeof *sc)))
        return 0;
    sc->conn = c;
    sc->done = done;
    rc = ch_store_call(c->app->store, "session.check",
                       json_pack("{s:s, s:I}", "token_hash", hex, "user_id", id), check_done, sc);
    if (rc != 0) {
        ch_log(CH_LOG_WARN, "WebSocket AUTH %s [%s] the token's check was refused (%d): admitted",
               w->path, ch_conn_peer(c), rc);
        free(sc);
        return 0;
    }
    ch_conn_hold(c);
    w->session_check = 1;
    ch_conn_read_stop(c);
    ch_conn_arm_timer(c);
    return 1;
}

/* The session message of a revoked token (hex) or a deactivated user
 * (hex NULL): a new reference, or NULL (out of memory). */
static ch_msg *session_msg(int64_t user_id, const char *hex)
{
    json_t *obj = hex ? json_pack("{s:s, s:I, s:s}", "type", SESSION_TYPE, "user_id",
                                  (json_int_t)user_id, "token", hex)
                      : json_pack("{s:s, s:I, s:b}", "type", SESSION_TYPE, "user_id",
                                  (json_int_t)user_id, "deactivated", 1);
    const char *why = NULL;
    ch_msg *m = obj ? ch_msg_from_json(obj, &why) : NULL;

    json_decref(obj);
    return m;
}

int ch_session_revoked(ch_app *app, int64_t user_id, const char *hex)
{
    ch_msg *m = session_msg(user_id, hex);
    int rc = ch_membership_user_send(app, user_id, m);

    ch_msg_unref(m);
    if (rc != 0)
        ch_log(CH_LOG_WARN,
               "session: user %lld %s: the layer refused the message (%d); its open "
               "connections here stay until they close or expire",
               (long long)user_id, hex ? "token revoked" : "deactivated", rc);
    return rc;
}

int ch_session_notified(ch_app *app, const char *payload)
{
    json_t *j = payload ? json_loads(payload, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_int_t user = json_integer_value(json_object_get(j, "user_id"));
    const char *hex = json_string_value(json_object_get(j, "token"));
    int ours = user > 0 && (tag_of_hex(hex) || json_is_true(json_object_get(j, "deactivated")));
    ch_msg *m = ours ? session_msg(user, hex) : NULL;
    char group[64];

    if (m) {
        ch_membership_user_group(group, user);
        ch_layer_deliver_group(app->layer, group, m);
        ch_msg_unref(m);
    }
    json_decref(j); /* hex was j's */
    return ours;
}

int ch_session_group_message(ch_ws *w, const ch_msg *msg)
{
    const json_t *j = msg->json;
    const char *hex;

    if (!msg->type || strcmp(msg->type, SESSION_TYPE) != 0)
        return 0;
    if (w->close_sent || w->conn->closing || !w->ident ||
        json_integer_value(json_object_get(j, "user_id")) !=
            (w->ident ? w->ident->id : 0))
        return 1;
    hex = json_string_value(json_object_get(j, "token"));
    if (json_is_true(json_object_get(j, "deactivated"))) {
        ch_log(CH_LOG_INFO, "WebSocket SESSION %s [%s] user deactivated, closing with 4001",
               w->path, ch_conn_peer(w->conn));
        ch_ws_close(w, 4001, "user deactivated");
    } else if (w->token_tag && tag_of_hex(hex) == w->token_tag) {
        ch_log(CH_LOG_INFO, "WebSocket SESSION %s [%s] token revoked, closing with 4001", w->path,
               ch_conn_peer(w->conn));
        ch_ws_close(w, 4001, "token revoked");
    }
    return 1;
}
