/*
 * test_b64.c -- base64 in both alphabets: the RFC 4648 vectors, round
 * trips of every length, and the strict decoder's refusals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "b64.h"

/* RFC 4648 section 10. */
static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

/* Decode s and compare with want (NUL-terminated). */
static void decodes_to(const char *s, ch_b64_alphabet a, const char *want)
{
    size_t n = 99;
    unsigned char *out = ch_b64_decode(s, strlen(s), a, &n);

    assert_non_null(out);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    assert_int_equal(out[n], 0);
    assert_int_equal(ch_b64_decoded_len(s, strlen(s), a), (long)n);
    free(out);
}

static void rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char *e = ch_b64_encode(plain[i], strlen(plain[i]), CH_B64_STD);

        assert_string_equal(e, std[i]);
        free(e);
        e = ch_b64_encode(plain[i], strlen(plain[i]), CH_B64_URL);
        assert_string_equal(e, url[i]);
        free(e);
        decodes_to(std[i], CH_B64_STD, plain[i]);
        decodes_to(url[i], CH_B64_URL, plain[i]);
    }
}

/* The two alphabets differ in exactly 62 and 63. */
static void alphabets_differ_in_two_characters(void **state)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *s = ch_b64_encode(bytes, sizeof bytes, CH_B64_STD);
    char *u = ch_b64_encode(bytes, sizeof bytes, CH_B64_URL);

    (void)state;
    assert_string_equal(s, "+/+/");
    assert_string_equal(u, "-_-_");
    assert_int_equal(ch_b64_decoded_len("+/+/", 4, CH_B64_URL), -1);
    assert_int_equal(ch_b64_decoded_len("-_-_", 4, CH_B64_STD), -1);
    free(s);
    free(u);
}

/* Encoding into the caller's buffer: no allocation, exact size. */
static void encode_into_fits_the_stated_size(void **state)
{
    char out[CH_B64_ENCODED_SIZE(20)];

    (void)state;
    memset(out, '#', sizeof out);
    assert_int_equal(ch_b64_encode_into("0123456789abcdefghij", 20, CH_B64_STD, out), 28);
    assert_int_equal(sizeof out, 29);
    assert_string_equal(out, "MDEyMzQ1Njc4OWFiY2RlZmdoaWo=");
    assert_int_equal(ch_b64_encode_into("", 0, CH_B64_URL, out), 0);
    assert_string_equal(out, "");
}

static void round_trip_every_length(void **state)
{
    unsigned char in[64], out[64];

    (void)state;
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        for (int a = CH_B64_STD; a <= CH_B64_URL; a++) {
            char *e = ch_b64_encode(in, n, (ch_b64_alphabet)a);

            assert_non_null(e);
            assert_int_equal(ch_b64_decode_into(e, strlen(e), (ch_b64_alphabet)a, out), (long)n);
            assert_memory_equal(in, out, n);
            free(e);
        }
    }
}

static void malformed_is_refused(void **state)
{
    static const char *const bad_std[] = {
        "Zg=",      /* not a multiple of 4 */
        "Zg",       /* padding missing */
        "Zh==",     /* unused bits set */
        "Zm9=",     /* unused bits set */
        "Z===",     /* three pads */
        "Zg==Zg==", /* padding in the middle */
        "Zm 9v",    /* whitespace */
        "Zm9v\n",   /* newline */
        "Zm9*",     /* not in the alphabet */
        "Zm-v",     /* the other alphabet */
    };
    static const char *const bad_url[] = {"Zg==", "Z", "Zh", "Zm9", "Zm+v", "Zm 9"};
    unsigned char out[16] = {0};

    (void)state;
    for (size_t i = 0; i < sizeof bad_std / sizeof bad_std[0]; i++) {
        assert_int_equal(ch_b64_decoded_len(bad_std[i], strlen(bad_std[i]), CH_B64_STD), -1);
        assert_int_equal(ch_b64_decode_into(bad_std[i], strlen(bad_std[i]), CH_B64_STD, out), -1);
    }
    for (size_t i = 0; i < sizeof bad_url / sizeof bad_url[0]; i++) {
        size_t n = 0;

        assert_int_equal(ch_b64_decoded_len(bad_url[i], strlen(bad_url[i]), CH_B64_URL), -1);
        assert_null(ch_b64_decode(bad_url[i], strlen(bad_url[i]), CH_B64_URL, &n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),
        cmocka_unit_test(alphabets_differ_in_two_characters),
        cmocka_unit_test(encode_into_fits_the_stated_size),
        cmocka_unit_test(round_trip_every_length),
        cmocka_unit_test(malformed_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
