/*
 * test_auth.c -- tokens, password hashes, cookies, where a handshake's
 * token is found, and the token secret file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
#define SLEN (sizeof secret - 1)

static char *sign(json_int_t exp)
{
    json_t *c = json_pack("{s:s, s:s, s:[s], s:I}", "sub", "7", "username", "alice", "roles",
                          "user", "exp", exp);
    char *t = ch_jwt_sign(c, secret, SLEN);

    json_decref(c);
    return t;
}

static void jwt_round_trip(void **state)
{
    char *t = sign(2000);
    const char *why = "x";
    json_t *c = ch_jwt_verify(t, secret, SLEN, 1000, &why);

    (void)state;
    assert_non_null(c);
    assert_null(why);
    assert_string_equal(json_string_value(json_object_get(c, "username")), "alice");
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "7");
    json_decref(c);
    free(t);
}

static void jwt_expired_is_refused(void **state)
{
    char *t = sign(1000);
    const char *why = NULL;

    (void)state;
    assert_null(ch_jwt_verify(t, secret, SLEN, 1000, &why));
    assert_string_equal(why, "expired");
    free(t);
}

/* A token whose exp is the JSON value exp (stolen), verified at now:
 * the reason it is refused, or NULL when it is accepted. */
static const char *verify_exp(json_t *exp, int64_t now)
{
    json_t *c = json_pack("{s:s, s:s, s:o}", "sub", "7", "username", "alice", "exp", exp);
    char *t = ch_jwt_sign(c, secret, SLEN);
    const char *why = "not verified";
    json_t *claims = ch_jwt_verify(t, secret, SLEN, now, &why);

    assert_true((claims != NULL) == (why == NULL));
    json_decref(claims);
    json_decref(c);
    free(t);
    return why;
}

/* Finding 9: exp as a real out of int64_t's range was cast (UB); any
 * number now gives a defined answer (the suite runs under UBSan). */
static void jwt_exp_any_json_number(void **state)
{
    (void)state;
    assert_null(verify_exp(json_real(2000.5), 1000));
    assert_null(verify_exp(json_integer(CH_JWT_EXP_MAX), 1000));
    assert_null(verify_exp(json_real((double)CH_JWT_EXP_MAX), 1000));
    assert_string_equal(verify_exp(json_real(1000.9), 1000), "expired");
    assert_string_equal(verify_exp(json_real(0.0), 1000), "expired");
    assert_string_equal(verify_exp(json_real(1e300), 1000), "malformed");
    assert_string_equal(verify_exp(json_real(-1e300), 1000), "malformed");
    assert_string_equal(verify_exp(json_real(9.3e18), 1000), "malformed");
    assert_string_equal(verify_exp(json_real(-0.5), 1000), "malformed");
    assert_string_equal(verify_exp(json_integer(CH_JWT_EXP_MAX + 1), 1000), "malformed");
    assert_string_equal(verify_exp(json_integer(INT64_MAX), 1000), "malformed");
    assert_string_equal(verify_exp(json_integer(INT64_MIN), 1000), "malformed");
    assert_string_equal(verify_exp(json_integer(-1), 1000), "malformed");
    assert_string_equal(verify_exp(json_string("2000"), 1000), "no exp");
}

static void jwt_other_secret_is_refused(void **state)
{
    char *t = sign(2000);
    const char *why = NULL;

    (void)state;
    assert_null(ch_jwt_verify(t, (const unsigned char *)"another secret!!", 16, 1000, &why));
    assert_string_equal(why, "bad signature");
    free(t);
}

/* Changing the payload (alice -> admin role) breaks the signature. */
static void jwt_tampered_payload_is_refused(void **state)
{
    char *t = sign(2000), *dot = strchr(t, '.');
    const char *why = NULL;

    (void)state;
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_null(ch_jwt_verify(t, secret, SLEN, 1000, &why));
    free(t);
}

/* alg "none" tokens are refused whatever they carry. */
static void jwt_alg_none_is_refused(void **state)
{
    /* {"alg":"none"} . {"sub":"1","exp":9999999999} . (empty) */
    const char *t = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
    const char *why = NULL;

    (void)state;
    assert_null(ch_jwt_verify(t, secret, SLEN, 1000, &why));
    assert_string_equal(why, "malformed");
}

static void jwt_without_exp_is_refused(void **state)
{
    json_t *c = json_pack("{s:s}", "sub", "1");
    char *t = ch_jwt_sign(c, secret, SLEN);
    const char *why = NULL;

    (void)state;
    assert_null(ch_jwt_verify(t, secret, SLEN, 1000, &why));
    assert_string_equal(why, "no exp");
    json_decref(c);
    free(t);
}

static void jwt_garbage_is_refused(void **state)
{
    const char *why = NULL;
    const char *bad[] = {"", "a", "a.b", "a.b.c.d", "!!.??.##", NULL};
    int i;

    (void)state;
    for (i = 0; bad[i]; i++)
        assert_null(ch_jwt_verify(bad[i], secret, SLEN, 1000, &why));
    assert_null(ch_jwt_verify(NULL, secret, SLEN, 1000, &why));
}

/* A hash made by Python's hashlib.pbkdf2_hmac, in Django's format. */
static void password_checks_django_hash(void **state)
{
    const char *django =
        "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$1nE4fvOmiD+ZePp39y6TYTXfkn5HEwJDyz8e6UkQE1w=";

    (void)state;
    assert_true(ch_password_check("secret", django));
    assert_false(ch_password_check("Secret", django));
    assert_false(ch_password_check("secret", "md5$1000$salt$abc"));
    assert_false(ch_password_check("secret", "garbage"));
}

static void password_hash_round_trip_with_fresh_salt(void **state)
{
    char *a = ch_password_hash("pw", 1000), *b = ch_password_hash("pw", 1000);

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strncmp(a, "pbkdf2_sha256$1000$", 19), 0);
    assert_string_not_equal(a, b);
    assert_true(ch_password_check("pw", a));
    assert_false(ch_password_check("pw2", a));
    free(a);
    free(b);
}

static void cookie_lookup(void **state)
{
    char *v = ch_cookie_get("a=1; chanhost_session=tok.en.x; b=2", "chanhost_session");

    (void)state;
    assert_string_equal(v, "tok.en.x");
    free(v);
    assert_null(ch_cookie_get("xchanhost_session=1", "chanhost_session"));
    assert_null(ch_cookie_get(NULL, "chanhost_session"));
}

typedef struct hdrs {
    const char *proto, *authz, *cookie;
} hdrs;

static const char *hdr(void *ctx, const char *name)
{
    hdrs *h = ctx;

    if (!strcmp(name, "sec-websocket-protocol"))
        return h->proto;
    if (!strcmp(name, "authorization"))
        return h->authz;
    if (!strcmp(name, "cookie"))
        return h->cookie;
    return NULL;
}

static void find_token_in_each_place(void **state)
{
    hdrs h = {"Bearer, SUB", "Bearer AUTH", "chanhost_session=COOK"};
    const char *via = NULL;
    char *t;

    (void)state;
    t = ch_auth_find_token(hdr, &h, "token=Q", &via);
    assert_string_equal(t, "SUB");
    assert_string_equal(via, "subprotocol");
    free(t);
    h.proto = "chat";
    t = ch_auth_find_token(hdr, &h, "token=Q", &via);
    assert_string_equal(t, "AUTH");
    free(t);
    h.authz = NULL;
    t = ch_auth_find_token(hdr, &h, "token=Q", &via);
    assert_string_equal(t, "COOK");
    assert_string_equal(via, "cookie");
    free(t);
    h.cookie = NULL;
    t = ch_auth_find_token(hdr, &h, "since=4&token=Q&x=1", &via);
    assert_string_equal(t, "Q");
    assert_string_equal(via, "query");
    free(t);
    assert_null(ch_auth_find_token(hdr, &h, "tokens=Q", &via));
}

static void secret_file_created_0600_and_reused(void **state)
{
    char dir[] = "/tmp/test_auth.XX"
                 "XX"
                 "XX",
         path[64], err[256] = "";
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/secret", dir);
    assert_int_equal(ch_auth_load_secret(path, NULL, &a, &alen, err, sizeof err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ch_auth_load_secret(path, NULL, &b, &blen, err, sizeof err), 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    setenv("TEST_AUTH_SECRET", "from the environment", 1);
    free(b);
    assert_int_equal(ch_auth_load_secret(path, "TEST_AUTH_SECRET", &b, &blen, err, sizeof err), 0);
    assert_memory_equal(b, "from the environment", blen);
    unsetenv("TEST_AUTH_SECRET");
    free(a);
    free(b);
    unlink(path);
    rmdir(dir);
}

/* RFC 6750: "Bearer" in any case, blanks around the token ignored. */
static void bearer_header_rule(void **state)
{
    static const char *const ok[] = {"Bearer abc.def", "bearer abc.def", "BEARER  abc.def",
                                     "Bearer\tabc.def", "Bearer abc.def  "};
    const char *why = NULL;
    char *t;

    (void)state;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_non_null(t = ch_auth_bearer(ok[i], &why));
        assert_string_equal(t, "abc.def");
        assert_null(why);
        free(t);
    }
    assert_null(ch_auth_bearer("Basic dXNlcjpwdw==", &why));
    assert_string_equal(why, "unsupported Authorization scheme (use Bearer)");
    assert_null(ch_auth_bearer("Bearerabc", &why));
    assert_string_equal(why, "unsupported Authorization scheme (use Bearer)");
    assert_null(ch_auth_bearer(NULL, &why));
    assert_null(ch_auth_bearer("Bearer", &why));
    assert_string_equal(why, "empty token");
    assert_null(ch_auth_bearer("Bearer   ", &why));
    assert_string_equal(why, "empty token");
}

/* The handshake's Authorization header follows the same rule; a header
 * without a token falls through to the cookie. */
static void find_token_bearer_rule(void **state)
{
    hdrs h = {NULL, "bearer   AUTH ", "chanhost_session=COOK"};
    const char *via = NULL;
    char *t;

    (void)state;
    t = ch_auth_find_token(hdr, &h, "", &via);
    assert_string_equal(t, "AUTH");
    assert_string_equal(via, "authorization");
    free(t);
    h.authz = "Bearer  ";
    t = ch_auth_find_token(hdr, &h, "", &via);
    assert_string_equal(t, "COOK");
    free(t);
}

/* claims -> {"id", "username", "roles"}; a sub that is not a canonical
 * positive id, or no username, names nobody. */
static void user_from_claims(void **state)
{
    static const char *const bad_sub[] = {"0", "007", "-7", " 7", "7x", "", "99999999999999999999"};
    json_t *c = json_pack("{s:s, s:s, s:[s,s]}", "sub", "42", "username", "bob", "roles", "user",
                          "admin");
    json_t *u = ch_auth_user(c), *want;

    (void)state;
    want = json_pack("{s:I, s:s, s:[s,s]}", "id", (json_int_t)42, "username", "bob", "roles",
                     "user", "admin");
    assert_true(json_equal(u, want));
    json_decref(u);
    json_decref(want);
    json_object_del(c, "roles");
    u = ch_auth_user(c);
    assert_int_equal(json_array_size(json_object_get(u, "roles")), 0);
    assert_true(json_is_array(json_object_get(u, "roles")));
    json_decref(u);
    for (size_t i = 0; i < sizeof bad_sub / sizeof bad_sub[0]; i++) {
        json_object_set_new(c, "sub", json_string(bad_sub[i]));
        assert_null(ch_auth_user(c));
    }
    json_object_set_new(c, "sub", json_integer(42));
    assert_null(ch_auth_user(c));
    json_object_set_new(c, "sub", json_string("42"));
    json_object_set_new(c, "username", json_integer(1));
    assert_null(ch_auth_user(c));
    json_decref(c);
}

/* A token secret file that group or others may read is refused. */
static void secret_file_readable_by_others_refused(void **state)
{
    char dir[] = "/tmp/test_auth.XX"
                 "XX"
                 "XX",
         path[64], err[256] = "";
    unsigned char *a = NULL;
    size_t alen = 0;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/secret", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ch_auth_load_secret(path, NULL, &a, &alen, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "0644"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(ch_auth_load_secret(path, NULL, &a, &alen, err, sizeof err), 0);
    assert_int_equal(alen, 32);
    assert_memory_equal(a, "0123456789abcdef0123456789abcdef", 32);
    free(a);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_round_trip),
        cmocka_unit_test(jwt_expired_is_refused),
        cmocka_unit_test(jwt_exp_any_json_number),
        cmocka_unit_test(jwt_other_secret_is_refused),
        cmocka_unit_test(jwt_tampered_payload_is_refused),
        cmocka_unit_test(jwt_alg_none_is_refused),
        cmocka_unit_test(jwt_without_exp_is_refused),
        cmocka_unit_test(jwt_garbage_is_refused),
        cmocka_unit_test(password_checks_django_hash),
        cmocka_unit_test(password_hash_round_trip_with_fresh_salt),
        cmocka_unit_test(cookie_lookup),
        cmocka_unit_test(find_token_in_each_place),
        cmocka_unit_test(secret_file_created_0600_and_reused),
        cmocka_unit_test(bearer_header_rule),
        cmocka_unit_test(find_token_bearer_rule),
        cmocka_unit_test(user_from_claims),
        cmocka_unit_test(secret_file_readable_by_others_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
