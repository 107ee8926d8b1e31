/*
 * test_django.c -- Django's salted HMAC, signing.loads (database and
 * signed-cookie sessions, zlib, the legacy SHA-1 signer, expiry), the
 * session auth hash and SimpleJWT access tokens (auth/django.h), against
 * values made by the real Django.
 *
 * The reference values were made with Debian's python3-django 3.2.25 and
 * python3-djangorestframework-simplejwt, SECRET_KEY "interop-unit-secret":
 *
 *   settings.configure(SECRET_KEY="interop-unit-secret"); django.setup()
 *   salted_hmac("salt", "value", "secret").hexdigest()                 # SHA-1
 *   salted_hmac("salt", "value", "secret", algorithm="sha256").hexdigest()
 *   h = salted_hmac("django.contrib.auth.models.AbstractBaseUser."
 *                   "get_session_auth_hash", PASSWORD, algorithm=...).hexdigest()
 *   sess = {"_auth_user_id": "42", "_auth_user_backend":
 *           "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": h}
 *   db.SessionStore().encode(sess)                                      # DB_DATA
 *   signing.dumps(sess, salt="django.contrib.sessions.backends."
 *                 "signed_cookies", compress=True)                      # COOKIE
 *   the same with sess["pad"] = "x" * 300 (compressed: '.' prefix)      # COOKIE_Z
 *   signing.TimestampSigner(salt=..., algorithm="sha1").sign_object(
 *       sess, compress=True)                                            # COOKIE_SHA1
 *   t = AccessToken(); t["user_id"] = 42; str(t)   (lifetime 36500 days) # ACCESS
 *   r = RefreshToken(); r["user_id"] = 42; str(r)                       # REFRESH
 *
 * all signed at 1796288765 (base62 "1xZ2lR").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "django.h"

#define SECRET "interop-unit-secret"
#define SIGNED_AT INT64_C(1796288765)
#define PASSWORD "pbkdf2_sha256$260000$abc$xyz="
#define HASH256 "72da9e8e386ca0565f09f2541b7177129164b3b1d66863a107e1ce979568634c"
#define HASH1 "0802dce6acd7c8a9e504fa413518ee307e7846de"

#define PAYLOAD                                           \
    ".eJxVjMsOwiAURP-FtSFcytOle7-BXOBWqgaS0q6M_"          \
    "64kXehy5pyZFwu4byXsndawZHZmSrLTbxkxPagOku9Yb42nVrd1" \
    "iXwo_KCdX1um5-Vw_w4K9vJdW5nRk6PJmYRCGz0LP0utIFqwFqQHo-IUIRvjzIQgLEEib70eWSX2_gDnQzbM:1xZ2lR:"
static const char DB_DATA[] = PAYLOAD "oqt2kA0A1Bddzef9SNWhkaHhkbAh-N-AaCsZsG_cXMs";
static const char COOKIE[] = PAYLOAD "IgoC9XpYDvrJ-EtTLgevB9laYUit_4BZ6IDYTYl0wS0";
static const char COOKIE_SHA1[] = PAYLOAD "MVq12q0xiVGDdtGjk23tgnvrDh4";
static const char COOKIE_Z[] =
    ".eJztTksKwjAUvEvWEvLSfBqX7j1DeEleTVXS0g8I4t1toAvdeQBnN1_myTyuS_brTJPvEzsyJdnhUwwYb1Sqk65YLgOPQ"
    "1mmPvAa4bs78_OQ6H7as18DGee8ta1M6KilpjURhTa6E66TWkGwYC1IB0aFJkAypjUNgrAEkZx1unIVt9ER643HHz-"
    "Dvd6pp8"
    "WP:1xZ2lR:_T14V3UJh4MISjhv4YLrqBy-HryaD7SBnYvvJfYhDf0";
static const char ACCESS[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                             "eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZXhwIjo0OTQ5ODg4NzY5LCJpYX"
                             "QiOjE3OTYyODg3NjksImp0aSI6IjYwMjIzNWRmOTExODRjOTg5MGRjMDg0Yzg5MmMzZmE"
                             "1IiwidXNlcl9pZCI6NDJ9.lcOW"
                             "qPsUnK9yfvybBWA6n-pNiM6sBJgKe6imhWpRCxE";
static const char REFRESH[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                              "eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5NjM3NTE2OSwiaW"
                              "F0IjoxNzk2Mjg4NzY5LCJqdGkiOiJiYzNlZDhjZTA0MjM0NmI0YTRmZmRhZTJhOGE1OD"
                              "U4MyIsInVzZXJfaWQiOjQyfQ.mR"
                              "p3hvtC14wSeJU2Dr1qpvmAsTnNM6u_JMHFwrGpTzk";

/* hex of out[0..n) into buf. */
static const char *hex(const unsigned char *out, unsigned n, char *buf)
{
    for (unsigned i = 0; i < n; i++) {
        buf[2 * i] = "0123456789abcdef"[out[i] >> 4];
        buf[2 * i + 1] = "0123456789abcdef"[out[i] & 15];
    }
    buf[2 * n] = '\0';
    return buf;
}

static void salted_hmac_matches_django(void **state)
{
    unsigned char out[32];
    char buf[65];

    (void)state;
    assert_int_equal(ch_django_salted_hmac(CH_DJ_SHA1, "salt", "value", 5, "secret", out), 20);
    assert_string_equal(hex(out, 20, buf), "a82be9ba6efe61405ee8d2e8a3781c37e103360a");
    assert_int_equal(ch_django_salted_hmac(CH_DJ_SHA256, "salt", "value", 5, "secret", out), 32);
    assert_string_equal(hex(out, 32, buf),
                        "debaddcd9ecbaab181289870baf8af49b0af0a7050d620d1a63f1e69bd87ceb8");
    assert_int_equal(ch_django_salted_hmac(99, "salt", "value", 5, "secret", out), 0);
}

/* The decoded session of the references. */
static void check_session(json_t *s)
{
    const char *hash = NULL, *why = NULL;

    assert_non_null(s);
    assert_int_equal(ch_django_session_user(s, &hash, &why), 42);
    assert_string_equal(hash, HASH256);
    assert_true(ch_django_session_hash_ok(hash, PASSWORD, SECRET));
}

static void database_session_decodes(void **state)
{
    const char *why = NULL;
    json_t *s = ch_django_loads(DB_DATA, SECRET, CH_DJ_SALT_DB, -1, SIGNED_AT + 1000000, &why);

    (void)state;
    check_session(s);
    json_decref(s);
    /* the cookie salt is another key */
    assert_null(ch_django_loads(DB_DATA, SECRET, CH_DJ_SALT_COOKIE, -1, SIGNED_AT, &why));
    assert_string_equal(why, "bad signature");
}

static void signed_cookies_decode(void **state)
{
    const char *why = NULL;
    json_t *s;

    (void)state;
    s = ch_django_loads(COOKIE, SECRET, CH_DJ_SALT_COOKIE, 1209600, SIGNED_AT + 10, &why);
    check_session(s);
    json_decref(s);
    s = ch_django_loads(COOKIE_SHA1, SECRET, CH_DJ_SALT_COOKIE, 1209600, SIGNED_AT, &why);
    check_session(s);
    json_decref(s);
    s = ch_django_loads(COOKIE_Z, SECRET, CH_DJ_SALT_COOKIE, 1209600, SIGNED_AT, &why);
    check_session(s);
    assert_int_equal(strlen(json_string_value(json_object_get(s, "pad"))), 300);
    json_decref(s);
}

static void cookies_expire_and_refuse_forgeries(void **state)
{
    const char *why = NULL;
    char *forged = strdup(COOKIE);

    (void)state;
    assert_null(ch_django_loads(COOKIE, SECRET, CH_DJ_SALT_COOKIE, 100, SIGNED_AT + 101, &why));
    assert_string_equal(why, "expired");
    assert_null(ch_django_loads(COOKIE, "another-secret", CH_DJ_SALT_COOKIE, -1, SIGNED_AT, &why));
    assert_string_equal(why, "bad signature");
    forged[5] = forged[5] == 'A' ? 'B' : 'A'; /* the payload changed, the signature kept */
    assert_null(ch_django_loads(forged, SECRET, CH_DJ_SALT_COOKIE, -1, SIGNED_AT, &why));
    assert_string_equal(why, "bad signature");
    free(forged);
    assert_null(ch_django_loads("no-colon", SECRET, CH_DJ_SALT_COOKIE, -1, SIGNED_AT, &why));
    assert_string_equal(why, "malformed");
    assert_null(ch_django_loads("a:b", SECRET, CH_DJ_SALT_COOKIE, -1, SIGNED_AT, &why));
    assert_string_equal(why, "malformed");
    assert_null(ch_django_loads("a:!!:b", SECRET, CH_DJ_SALT_COOKIE, -1, SIGNED_AT, &why));
    assert_string_equal(why, "malformed");
}

static void session_hash_follows_the_password(void **state)
{
    (void)state;
    assert_true(ch_django_session_hash_ok(HASH256, PASSWORD, SECRET));
    assert_true(ch_django_session_hash_ok(HASH1, PASSWORD, SECRET)); /* legacy */
    assert_false(ch_django_session_hash_ok(HASH256, PASSWORD "x", SECRET));
    assert_false(ch_django_session_hash_ok(HASH256, PASSWORD, "other"));
    assert_false(ch_django_session_hash_ok(NULL, PASSWORD, SECRET));
    assert_false(ch_django_session_hash_ok("", PASSWORD, SECRET));
}

static void session_user_needs_id_and_backend(void **state)
{
    const char *hash, *why = NULL;
    json_t *s = json_pack("{s:s}", "_auth_user_id", "7");

    (void)state;
    assert_int_equal(ch_django_session_user(s, &hash, &why), 0);
    assert_non_null(why);
    json_object_set_new(s, "_auth_user_backend", json_string("b"));
    assert_int_equal(ch_django_session_user(s, &hash, &why), 7);
    assert_null(hash);
    json_object_set_new(s, "_auth_user_id", json_string("07"));
    assert_int_equal(ch_django_session_user(s, &hash, &why), 0);
    json_object_set_new(s, "_auth_user_id", json_string("-7"));
    assert_int_equal(ch_django_session_user(s, &hash, &why), 0);
    json_object_set_new(s, "_auth_user_id", json_integer(9));
    assert_int_equal(ch_django_session_user(s, &hash, &why), 9);
    json_decref(s);
}

static void simplejwt_access_tokens(void **state)
{
    const unsigned char *key = (const unsigned char *)SECRET;
    const char *why = NULL;

    (void)state;
    assert_int_equal(ch_django_jwt_user(ACCESS, key, strlen(SECRET), SIGNED_AT, &why), 42);
    assert_int_equal(ch_django_jwt_user(REFRESH, key, strlen(SECRET), SIGNED_AT, &why), 0);
    assert_string_equal(why, "not an access token");
    assert_int_equal(ch_django_jwt_user(ACCESS, (const unsigned char *)"k", 1, SIGNED_AT, &why), 0);
    assert_string_equal(why, "bad signature");
    assert_int_equal(ch_django_jwt_user(ACCESS, key, strlen(SECRET), INT64_C(4949888769), &why), 0);
    assert_string_equal(why, "expired");
}

static void key_shapes(void **state)
{
    (void)state;
    assert_true(ch_django_is_drf_key("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"));
    assert_false(ch_django_is_drf_key("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4"));
    assert_false(ch_django_is_drf_key("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4g"));
    assert_true(ch_django_is_session_key("abcdefghij0123456789abcdefghij01"));
    assert_false(ch_django_is_session_key(""));
    assert_false(ch_django_is_session_key("ABC"));
    assert_false(ch_django_is_session_key("a'b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(salted_hmac_matches_django),
        cmocka_unit_test(database_session_decodes),
        cmocka_unit_test(signed_cookies_decode),
        cmocka_unit_test(cookies_expire_and_refuse_forgeries),
        cmocka_unit_test(session_hash_follows_the_password),
        cmocka_unit_test(session_user_needs_id_and_backend),
        cmocka_unit_test(simplejwt_access_tokens),
        cmocka_unit_test(key_shapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
