/*
 * session.c -- owns the expiry of a token-authenticated WebSocket
 * connection (session.h): when it ends (w->expires_ms, served by ws.c's
 * deadline) and the refresh message that moves it.  It owns no memory
 * beyond a call: the expiry is a field of the connection.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"

#include "app.h"
#include "auth.h"
#include "log.h"
#include "msg.h"

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

    if (claims && (!user || !w->identity || id <= 0 ||
                   id != json_integer_value(json_object_get(w->identity, "id")))) {
        *why = "another user";
        json_decref(claims);
        claims = NULL;
    }
    json_decref(user);
    return claims;
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
    if (claims) {
        ch_session_start(w, claims);
        ch_conn_arm_timer(w->conn);
        ch_log(CH_LOG_DEBUG, "WebSocket REFRESH %s [%s] until %lld", w->path, ch_conn_peer(w->conn),
               (long long)claims_exp(claims));
        refresh_answer(w, claims_exp(claims), NULL);
    } else {
        ch_log(CH_LOG_DEBUG, "WebSocket REFRESH %s [%s] refused: %s", w->path,
               ch_conn_peer(w->conn), why);
        refresh_answer(w, 0, why);
    }
    json_decref(claims);
    if (token) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    return 1;
}
