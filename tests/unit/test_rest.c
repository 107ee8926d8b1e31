/*
 * test_rest.c -- the API's pure helpers (rest.h): the validators of
 * usernames, emails, passwords and slugs, ISO 8601 timestamps, and ids
 * in paths and queries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "rest.h"

/* A string of n copies of c (n < 600). */
static const char *rep(char c, size_t n)
{
    static char buf[600];

    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void usernames(void **state)
{
    (void)state;
    assert_true(ch_rest_valid_username("alice"));
    assert_true(ch_rest_valid_username("a.b+c_d-e@f9"));
    assert_true(ch_rest_valid_username(rep('u', 150)));
    assert_false(ch_rest_valid_username(rep('u', 151)));
    assert_false(ch_rest_valid_username(""));
    assert_false(ch_rest_valid_username(NULL));
    assert_false(ch_rest_valid_username("has space"));
    assert_false(ch_rest_valid_username("semi;colon"));
    assert_false(ch_rest_valid_username("caf\xc3\xa9"));
}

static void emails(void **state)
{
    char long_ok[700];

    (void)state;
    assert_true(ch_rest_valid_email("a@b.co"));
    assert_true(ch_rest_valid_email("first.last+tag@mail.example.com"));
    assert_false(ch_rest_valid_email("no-at.example.com"));
    assert_false(ch_rest_valid_email("@example.com"));
    assert_false(ch_rest_valid_email("two@@example.com"));
    assert_false(ch_rest_valid_email("a@b@example.com"));
    assert_false(ch_rest_valid_email("nodot@example"));
    assert_false(ch_rest_valid_email("dot@.example"));
    assert_false(ch_rest_valid_email("dot@example."));
    assert_false(ch_rest_valid_email("sp ace@example.com"));
    assert_false(ch_rest_valid_email("tab@exa\tmple.com"));
    assert_false(ch_rest_valid_email(NULL));
    /* 254 bytes is the limit */
    snprintf(long_ok, sizeof long_ok, "%s@example.com", rep('x', 254 - 12));
    assert_int_equal(strlen(long_ok), 254);
    assert_true(ch_rest_valid_email(long_ok));
    snprintf(long_ok, sizeof long_ok, "%s@example.com", rep('x', 255 - 12));
    assert_false(ch_rest_valid_email(long_ok));
}

static void passwords(void **state)
{
    char buf[300];

    (void)state;
    assert_true(ch_rest_valid_password("12345678", 8));
    assert_false(ch_rest_valid_password("1234567", 7));
    assert_true(ch_rest_valid_password(rep('p', 128), 128));
    assert_false(ch_rest_valid_password(rep('p', 129), 129));
    /* characters, not bytes: 8 two-byte characters are enough, 128 fit */
    for (int i = 0; i < 128; i++)
        memcpy(buf + 2 * i, "\xc3\xa9", 2);
    assert_true(ch_rest_valid_password(buf, 16));
    assert_false(ch_rest_valid_password(buf, 14));
    assert_true(ch_rest_valid_password(buf, 256));
    assert_false(ch_rest_valid_password("1234\0"
                                        "5678",
                                        9));
    assert_false(ch_rest_valid_password(NULL, 0));
}

static void slugs(void **state)
{
    (void)state;
    assert_true(ch_rest_valid_slug("lobby"));
    assert_true(ch_rest_valid_slug("Room-1_b"));
    assert_true(ch_rest_valid_slug(rep('s', 100)));
    assert_false(ch_rest_valid_slug(rep('s', 101)));
    assert_false(ch_rest_valid_slug(""));
    assert_false(ch_rest_valid_slug("has space"));
    assert_false(ch_rest_valid_slug("dot.ted"));
    assert_false(ch_rest_valid_slug("sl/ash"));
}

static void iso8601(void **state)
{
    char out[21];

    (void)state;
    assert_string_equal(ch_rest_iso8601(0, out), "1970-01-01T00:00:00Z");
    /* seed 002's example */
    assert_string_equal(ch_rest_iso8601(1797307200, out), "2026-12-15T04:00:00Z");
    assert_string_equal(ch_rest_iso8601(951782400, out), "2000-02-29T00:00:00Z");
}

static void ids(void **state)
{
    (void)state;
    assert_int_equal(ch_rest_parse_id("7", 1), 7);
    assert_int_equal(ch_rest_parse_id("1234/rest", 4), 1234);
    assert_int_equal(ch_rest_parse_id("9223372036854775807", 19), INT64_MAX);
    assert_int_equal(ch_rest_parse_id("9223372036854775808", 19), 0);
    assert_int_equal(ch_rest_parse_id("99999999999999999999", 20), 0);
    assert_int_equal(ch_rest_parse_id("0", 1), 0);
    assert_int_equal(ch_rest_parse_id("07", 2), 0);
    assert_int_equal(ch_rest_parse_id("", 0), 0);
    assert_int_equal(ch_rest_parse_id("-1", 2), 0);
    assert_int_equal(ch_rest_parse_id("1x", 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usernames), cmocka_unit_test(emails),  cmocka_unit_test(passwords),
        cmocka_unit_test(slugs),     cmocka_unit_test(iso8601), cmocka_unit_test(ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
