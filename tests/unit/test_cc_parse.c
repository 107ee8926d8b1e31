/*
 * test_cc_parse.c -- the chat plugins' reader of flat client frames
 * (plugins/common/parse.c's cc_parse_flat, compiled in) against jansson's
 * json_loadb(..., JSON_REJECT_DUPLICATES): on every input it accepts, the
 * same object with the same keys in the same order; it leaves to jansson
 * every input jansson refuses, and every shape it does not read (escapes,
 * non-ASCII, nesting, reals, long integers).  Fixed cases, then a few
 * thousand seeded mutations of a chat frame.  The test owns every object
 * it makes and frees it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "chatcore.h"

#define FRAME "{\"type\":\"chat_message\",\"message\":\"hello there\",\"client_msg_id\":\"c-1\"}"

/* Same keys in the same order, equal values. */
static int same_object(const json_t *a, const json_t *b)
{
    void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);

    while (ia && ib) {
        if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) != 0 ||
            !json_equal(json_object_iter_value(ia), json_object_iter_value(ib)))
            return 0;
        ia = json_object_iter_next((json_t *)a, ia);
        ib = json_object_iter_next((json_t *)b, ib);
    }
    return !ia && !ib;
}

/* Read s (n bytes) both ways: what the fast reader takes, jansson takes
 * the same.  Returns 1 when the fast reader took it. */
static int check(const char *s, size_t n)
{
    json_t *fast = cc_parse_flat(s, n);
    json_t *slow = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
    int took = fast != NULL;

    if (fast) {
        if (!json_is_object(slow) || !same_object(fast, slow))
            fail_msg("cc_parse_flat took what jansson reads otherwise: %.*s", (int)n, s);
    }
    json_decref(fast);
    json_decref(slow);
    return took;
}

static int check_str(const char *s) { return check(s, strlen(s)); }

static void takes_the_common_shapes(void **state)
{
    (void)state;
    assert_true(check_str(FRAME));
    assert_true(check_str("{}"));
    assert_true(check_str(" \t\r\n{ \"type\" : \"ping\" } \n"));
    assert_true(check_str("{\"type\":\"typing\",\"is_typing\":true,\"x\":false,\"y\":null}"));
    assert_true(check_str("{\"type\":\"read_receipt\",\"message_id\":123456789012345678}"));
    assert_true(check_str("{\"a\":-0,\"b\":0,\"c\":-42,\"\":\"\"}"));
}

static void leaves_the_rest_to_jansson(void **state)
{
    static const char *const rest[] = {
        "{\"type\":\"a\\\"b\"}",                      /* an escape */
        "{\"type\":\"caf\xc3\xa9\"}",                 /* UTF-8 */
        "{\"type\":\"x\",\"n\":{\"a\":1}}",           /* nested */
        "{\"type\":\"x\",\"n\":[1]}",                 /* an array */
        "{\"type\":\"x\",\"n\":1.5}",                 /* a real */
        "{\"type\":\"x\",\"n\":1e3}",                 /* an exponent */
        "{\"type\":\"x\",\"n\":1234567890123456789}", /* 19 digits */
        "{\"type\":\"x\",\"n\":01}",                  /* a leading zero */
        "{\"type\":\"x\",\"type\":\"y\"}",            /* a repeated key */
        "{\"type\":\"x\",}",                          /* a trailing comma */
        "{\"type\":\"x\"} x",                         /* trailing bytes */
        "{\"type\":\"x\"",                            /* unterminated */
        "{\"type\":tru}",                             /* a bad word */
        "[\"type\"]",                                 /* not an object */
        "",
    };

    (void)state;
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        assert_false(check_str(rest[i]));
    assert_false(check("{\"type\":\"a\0b\"}", 14)); /* a NUL byte */
}

/* Seeded mutations of FRAME: bytes replaced, cut or repeated; every
 * result is read both ways. */
static void mutations_agree(void **state)
{
    static const char alphabet[] = "{}[]\":,\\ 0123456789-+.eEtrufalsn\x01\x7f\xc3";
    char buf[sizeof FRAME + 8];
    unsigned seed = 13, took = 0;

    (void)state;
    for (int round = 0; round < 5000; round++) {
        size_t n = sizeof FRAME - 1;

        memcpy(buf, FRAME, n);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            char ch = alphabet[(seed >> 20) % (sizeof alphabet - 1)];

            if ((seed & 3) == 0 && n > 1)
                n = at + 1; /* cut */
            else
                buf[at] = ch;
        }
        took += (unsigned)check(buf, n);
    }
    assert_true(took > 0); /* some mutations stay flat (a changed letter) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takes_the_common_shapes),
        cmocka_unit_test(leaves_the_rest_to_jansson),
        cmocka_unit_test(mutations_agree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
