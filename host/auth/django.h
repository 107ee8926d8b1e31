/*
 * django.h -- Django's signed values as Django 3.2 / 4.x make them, pure
 * functions of their input (no I/O, no clock: the caller gives the time):
 *
 *   salted_hmac(key_salt, value, secret) = HMAC(key = H(key_salt + secret),
 *       value) with H SHA-256 (DEFAULT_HASHING_ALGORITHM since 3.1) or
 *       SHA-1 (the legacy signer, still accepted by 3.2);
 *   django.core.signing.loads (TimestampSigner, sep ':'): "<payload>:<base62
 *       timestamp>:<base64url signature>", the signature
 *       salted_hmac(salt + "signer", "<payload>:<timestamp>", secret);
 *       payload base64url JSON, or '.' + base64url zlib of it;
 *   a session's "_auth_user_hash": salted_hmac(
 *       "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
 *       password field, secret) as hex;
 *   SimpleJWT access tokens: HS256 (auth.h's ch_jwt_verify) with
 *       "token_type": "access" and the user id in "user_id".
 *
 * Used by the runtime's Django logins (runtime/django_auth.c), which does
 * the database look-ups around these checks.
 */
#ifndef CH_DJANGO_H
#define CH_DJANGO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Digests salted_hmac may use. */
enum { CH_DJ_SHA1 = 1, CH_DJ_SHA256 = 2 };

/* The salt of database sessions (django.contrib.sessions.backends.db's
 * key_salt, "django.contrib.sessions." + the store class's qualname) and
 * of signed-cookie sessions. */
#define CH_DJ_SALT_DB "django.contrib.sessions.SessionStore"
#define CH_DJ_SALT_COOKIE "django.contrib.sessions.backends.signed_cookies"

/* Largest decoded (and inflated) payload ch_django_loads accepts. */
#define CH_DJ_PAYLOAD_MAX ((size_t)1 << 20)

/* salted_hmac(key_salt, value[0..vlen), secret) with algo (CH_DJ_*) into
 * out (at least 32 bytes; all borrowed).  Returns the digest's length (20
 * or 32), or 0 for an unknown algo or a failed HMAC. */
unsigned ch_django_salted_hmac(int algo, const char *key_salt, const char *value, size_t vlen,
                               const char *secret, unsigned char *out);

/* django.core.signing.loads(s, key=secret, salt=salt, max_age=max_age)
 * at time now (seconds): the signature checked (SHA-256, else the legacy
 * SHA-1) in constant time, the base62 timestamp no older than max_age
 * seconds (max_age < 0: no limit), the payload decoded and inflated (at
 * most CH_DJ_PAYLOAD_MAX bytes) and parsed as JSON.  All arguments
 * borrowed.  Returns the value (new reference), or NULL with a static
 * reason in *why ("malformed", "bad signature", "expired", "bad
 * payload"). */
json_t *ch_django_loads(const char *s, const char *secret, const char *salt, int64_t max_age,
                        int64_t now, const char **why);

/* Is hash (borrowed; NULL is 0) the session auth hash of the password
 * field password (borrowed) under secret, in SHA-256 or the legacy SHA-1
 * form?  Constant time.  1 or 0. */
int ch_django_session_hash_ok(const char *hash, const char *password, const char *secret);

/* The logged-in user a decoded session (borrowed) names: its
 * "_auth_user_id" (a decimal string, as Django stores it, or an integer)
 * as a positive id, with "_auth_user_backend" a string.  Returns the id and
 * sets *hash to the session's "_auth_user_hash" (borrowed from session,
 * NULL when absent), or 0 with a static reason in *why. */
int64_t ch_django_session_user(const json_t *session, const char **hash, const char **why);

/* The user id of a SimpleJWT access token: verified with key[0..len) at
 * now (HS256, exp), "token_type" "access", "user_id" a positive integer
 * or decimal string.  Returns the id, or 0 with a static reason in *why. */
int64_t ch_django_jwt_user(const char *token, const unsigned char *key, size_t len, int64_t now,
                           const char **why);

/* Is s (borrowed) shaped like a DRF authtoken key (40 hex digits)? */
int ch_django_is_drf_key(const char *s);

/* Is s (borrowed) shaped like a database session key (1..64 of
 * [a-z0-9], Django's are 32)? */
int ch_django_is_session_key(const char *s);

#endif
