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
    char dir[] = "/tmp/test_auth.XX" "XX" "XX", path[64], err[256] = "";
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jwt_round_trip),
        cmocka_unit_test(jwt_expired_is_refused),
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
