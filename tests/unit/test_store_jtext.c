/*
 * test_store_jtext.c -- the store's JSON text writer
 * (host/store/store_jtext.c): for every value, flat or not, the text is
 * byte for byte what jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS
 * | JSON_ENCODE_ANY) writes, which the stored extras and event bodies
 * were written with before (equal extras store equal text); a buffer
 * grows past its first allocation; and out of memory is never hidden.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_impl.h"

/* v (stolen) written both ways: the same text. */
static void same(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    ch_st_text t = {0};

    assert_non_null(want);
    ch_st_text_json(&t, v);
    assert_false(t.failed);
    assert_non_null(t.p);
    assert_int_equal(t.len, strlen(want));
    assert_string_equal(t.p, want);
    free(want);
    free(t.p);
    json_decref(v);
}

/* Every byte below 0x20, the quote, the backslash, '/', DEL and UTF-8
 * (two, three and four bytes, U+2028) in strings and keys. */
static void test_strings(void **state)
{
    char all[40];
    size_t n = 0;

    (void)state;
    for (int c = 1; c < 0x20; c++)
        all[n++] = (char)c;
    all[n++] = '"';
    all[n++] = '\\';
    all[n++] = '/';
    all[n++] = 0x7f;
    all[n] = '\0';
    same(json_string(all));
    same(json_string(""));
    same(json_string("plain words"));
    same(json_string("\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 </x>"));
    same(json_stringn("a\0b", 3)); /* an escaped NUL inside */
    same(json_pack("{s:s}", all, "key with escapes"));
}

/* Integers at both ends, the three constants. */
static void test_scalars(void **state)
{
    (void)state;
    same(json_integer(0));
    same(json_integer(-7));
    same(json_integer(INT64_MAX));
    same(json_integer(INT64_MIN));
    same(json_true());
    same(json_false());
    same(json_null());
}

/* Flat objects with keys in every order (sorted on output), and what
 * goes through jansson: reals, arrays, nested objects, more keys than the
 * writer sorts itself. */
static void test_objects(void **state)
{
    json_t *big = json_object();
    char k[8];

    (void)state;
    same(json_object());
    same(json_pack("{s:s}", "username", "alice"));
    same(json_pack("{s:s, s:i, s:b, s:n, s:s}", "z", "last", "a", 1, "m", 1, "b", "B", "\xc3\xa9",
                   "x"));
    same(json_pack("{s:f}", "real", 1.5));
    same(json_pack("{s:s, s:{s:i}}", "b", "x", "a", "y", 2));
    same(json_pack("[i, s, {s:n}]", 1, "two", "three"));
    for (int i = 40; i > 0; i--) {
        snprintf(k, sizeof k, "k%02d", i);
        json_object_set_new(big, k, json_integer(i));
    }
    same(big);
}

/* Text longer than the first allocation, put piece by piece. */
static void test_growth(void **state)
{
    ch_st_text t = {0};

    (void)state;
    for (int i = 0; i < 1000; i++)
        CH_ST_TEXT_LIT(&t, "0123456789");
    ch_st_text_int(&t, -12);
    assert_false(t.failed);
    assert_int_equal(t.len, 10003);
    assert_true(t.cap > t.len);
    assert_string_equal(t.p + 9990, "0123456789-12");
    free(t.p);
}

/* A NULL value fails the text (the caller reports it), and a failed
 * text takes no more writes. */
static void test_failed(void **state)
{
    ch_st_text t = {0};

    (void)state;
    CH_ST_TEXT_LIT(&t, "{");
    ch_st_text_json(&t, NULL);
    assert_true(t.failed);
    CH_ST_TEXT_LIT(&t, "}");
    assert_int_equal(t.len, 1);
    free(t.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings), cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_objects), cmocka_unit_test(test_growth),
        cmocka_unit_test(test_failed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
