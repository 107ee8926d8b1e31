/*
 * chanhost_kit.h -- small helpers that chat plugins share, header-only so
 * a plugin still builds with `-I sdk` and nothing else.  Optional: a
 * plugin that does not include it loses nothing but convenience.
 *
 * Everything here is static inline, works only through the chanhost_api
 * table, and runs on the loop thread like the callbacks that call it.
 *
 *   chk_error       send {"type":"error","code":...,"message":...}
 *   chk_parse       decode a text frame into a JSON object with a "type"
 *   chk_user_id ... the authenticated user's id, name and roles
 *   chk_setting_*   read a plugin_setting with a default
 *   chk_bucket      a token bucket for per-connection rate limits
 *   chk_utf8_chars  the number of characters of a UTF-8 string (the host
 *                   counts with it too)
 */
#ifndef CHANHOST_KIT_H
#define CHANHOST_KIT_H

#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

/* Send an error frame; the connection stays open.  code: a short
 * machine-readable word ("bad_json", "unknown_type", "rate_limited"). */
static inline void chk_error(const chanhost_api *api, chanhost_conn *c, const char *code,
                             const char *message)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);

    if (e)
        api->send_json(c, e);
    json_decref(e);
}

/* Decode a client frame.  Returns a new reference to a JSON object whose
 * "type" is a string (set *type to it, borrowed from the object), or NULL
 * after answering the client with an error frame (binary frame, bad JSON,
 * a key repeated in an object -- refused as the host's HTTP API does --,
 * not an object, no type). */
static inline json_t *chk_parse(const chanhost_api *api, chanhost_conn *c, const char *data,
                                size_t len, int is_binary, const char **type)
{
    json_t *in;

    if (is_binary) {
        chk_error(api, c, "binary_unsupported", "send JSON text frames");
        return NULL;
    }
    in = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        chk_error(api, c, "bad_json", "the message is not a JSON object");
        return NULL;
    }
    *type = json_string_value(json_object_get(in, "type"));
    if (!*type) {
        json_decref(in);
        chk_error(api, c, "bad_type", "the message has no string \"type\"");
        return NULL;
    }
    return in;
}

/* The authenticated user's id, or 0 when the connection has none.  On a
 * host of ABI 1.3 or newer these three read api->user_id, api->username
 * and api->user_has_role (no JSON is built for the connection); on an
 * older host they read api->user's object. */
static inline json_int_t chk_user_id(const chanhost_api *api, chanhost_conn *c)
{
    if (CHANHOST_API_HAS(api, user_id))
        return (json_int_t)api->user_id(c);
    return json_integer_value(json_object_get(api->user(c), "id"));
}

/* The authenticated user's name (borrowed, valid for the connection's
 * life), or NULL. */
static inline const char *chk_username(const chanhost_api *api, chanhost_conn *c)
{
    if (CHANHOST_API_HAS(api, username))
        return api->username(c);
    return json_string_value(json_object_get(api->user(c), "username"));
}

/* Non-zero if the authenticated user has role `role`. */
static inline int chk_has_role(const chanhost_api *api, chanhost_conn *c, const char *role)
{
    const json_t *roles;
    size_t i;

    if (CHANHOST_API_HAS(api, user_has_role))
        return api->user_has_role(c, role);
    roles = json_object_get(api->user(c), "roles");
    for (i = 0; i < json_array_size(roles); i++)
        if (json_is_string(json_array_get(roles, i)) &&
            strcmp(json_string_value(json_array_get(roles, i)), role) == 0)
            return 1;
    return 0;
}

/* plugin_setting KEY as a non-negative number, or def when absent or not a
 * number. */
static inline double chk_setting_num(const json_t *settings, const char *key, double def)
{
    const char *v = json_string_value(json_object_get(settings, key));
    char *end;
    double d;

    if (!v)
        return def;
    d = strtod(v, &end);
    return *end || d < 0 ? def : d;
}

/*
 * A token bucket: `rate` tokens a second, at most `burst` saved.  A
 * message costs one token; chk_bucket_take says whether it may pass and
 * counts refusals in a row, so a plugin can close a client that keeps
 * pushing (1008) after answering the first refusals with error frames.
 */
typedef struct chk_bucket {
    float tokens, rate, burst; /* floats: 24 bytes a connection, not 40 */
    unsigned refused;          /* refusals since the last accepted message */
    uint64_t last_ms;
} chk_bucket;

static inline void chk_bucket_init(chk_bucket *b, double rate, double burst, uint64_t now_ms)
{
    b->rate = (float)rate;
    b->burst = (float)(burst < 1 ? 1 : burst);
    b->tokens = b->burst;
    b->last_ms = now_ms;
    b->refused = 0;
}

/* 1: take a token and pass; 0: refused (b->refused counts them). */
static inline int chk_bucket_take(chk_bucket *b, uint64_t now_ms)
{
    double tokens = b->tokens + (double)(now_ms - b->last_ms) * b->rate / 1000.0;

    b->tokens = (float)(tokens > b->burst ? b->burst : tokens);
    b->last_ms = now_ms;
    if (b->tokens >= 1.0f) {
        b->tokens -= 1.0f;
        b->refused = 0;
        return 1;
    }
    b->refused++;
    return 0;
}

/* The number of UTF-8 characters in s[0..len) (borrowed; valid UTF-8, as
 * every jansson string is): the bytes that do not continue a sequence. */
static inline size_t chk_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

#endif /* CHANHOST_KIT_H */
