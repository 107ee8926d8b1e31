/*
 * auth.h -- who is connecting: HS256 JSON Web Tokens, the session cookie,
 * and Django-compatible password hashes.
 *
 * Tokens are JWS compact serialisations (RFC 7515/7519) with alg HS256;
 * the claims chanhost writes and reads:
 *   sub       the user id, as a string (RFC 7519 wants a string)
 *   username  the user's name
 *   roles     an array of role names ("user", "admin", or one the config
 *             names: docs/api.md)
 *   iat, exp  issued-at and expiry, seconds since the epoch
 * exp is required and checked; a token without it is refused.
 *
 * A WebSocket handshake may carry a token in four places, tried in this
 * order: the Sec-WebSocket-Protocol offer "Bearer, <token>" (seed 002's
 * advice; the host then answers with the "Bearer" subprotocol), the
 * Authorization: Bearer header, the session cookie set by login
 * ("chanhost_session"), and the query string ?token= (seed 002).  The
 * query string is never logged (access lines print the path only).
 *
 * Passwords are stored in Django's format,
 *   pbkdf2_sha256$<iterations>$<salt>$<base64 hash>
 * so a Django user table can be imported as it is.  Hashing is slow on
 * purpose: callers run it on the thread pool, never on the loop.
 */
#ifndef CH_AUTH_H
#define CH_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CH_AUTH_COOKIE "chanhost_session"

/* Sign claims (borrowed; must contain exp) with secret[0..len).  Returns a
 * new malloc'd token, or NULL. */
char *ch_jwt_sign(const json_t *claims, const unsigned char *secret, size_t len);

/* The latest exp a token may carry: 9999-12-31T23:59:59Z. */
#define CH_JWT_EXP_MAX INT64_C(253402300799)

/* Verify token with secret at time now (seconds).  Returns the claims (new
 * reference) when the signature is right, alg is HS256 and exp > now;
 * otherwise NULL with a static reason in *why ("expired", "bad
 * signature", "malformed", "no exp").  exp may be any JSON number: one
 * outside [0, CH_JWT_EXP_MAX] (1e300, -1e300, 2^63-1) is "malformed",
 * a fraction counts by its whole seconds. */
json_t *ch_jwt_verify(const char *token, const unsigned char *secret, size_t len, int64_t now,
                      const char **why);

/* Hash a password in Django's pbkdf2_sha256 format with a fresh random
 * salt.  Returns a new malloc'd string or NULL.  Slow: off the loop. */
char *ch_password_hash(const char *password, unsigned iterations);

/* 1 if password matches the stored Django-format hash, 0 if not or if the
 * format is not pbkdf2_sha256.  Constant-time comparison.  Slow. */
int ch_password_check(const char *password, const char *stored);

/* Find the token a handshake carries.  header(name) returns a request
 * header's value or NULL; query is the raw query string.  Returns a new
 * malloc'd token (the caller wipes it with OPENSSL_cleanse and frees it)
 * or NULL, and sets *via to "subprotocol", "authorization", "cookie" or
 * "query". */
char *ch_auth_find_token(const char *(*header)(void *ctx, const char *name), void *ctx,
                         const char *query, const char **via);

/* The token of an Authorization header value (borrowed; NULL is fine)
 * using the Bearer scheme (RFC 6750 section 2.1): "Bearer", in any case,
 * then one or more spaces or tabs, then the token; blanks after the token
 * are ignored.  Returns a new malloc'd token (the caller wipes it with
 * OPENSSL_cleanse and frees it), or NULL with a static reason in *why:
 * another scheme, an empty token, or memory short. */
char *ch_auth_bearer(const char *authz, const char **why);

/* The user that verified claims (borrowed) name: {"id": sub as a positive
 * integer, "username", "roles": the claims' array or []} as a new
 * reference, or NULL when sub is not a canonical positive decimal id or
 * username is not a string. */
json_t *ch_auth_user(const json_t *claims);

/* The value of cookie `name` in a Cookie header (new malloc'd), or NULL. */
char *ch_cookie_get(const char *cookie_header, const char *name);

/* Load the token secret: from the environment variable env (if set), else
 * from file (created with 32 random bytes, mode 0600, when absent; refused
 * when group or others may read it: core/secret.h), trailing newlines and
 * spaces dropped.  Returns 0 and a malloc'd secret in *out (*len bytes;
 * the caller wipes it with OPENSSL_cleanse and frees it), or -1 with err
 * set. */
int ch_auth_load_secret(const char *file, const char *env, unsigned char **out, size_t *len,
                        char *err, size_t errlen);

#endif
