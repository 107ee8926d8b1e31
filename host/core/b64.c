/*
 * b64.c -- owns base64 encoding and strict decoding in both alphabets
 * (see b64.h).  Pure functions: no state, safe on any thread.
 */
#include "b64.h"

#include <limits.h>
#include <stdlib.h>

static const char std_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c in alphabet a, or -1. */
static int value_of(char c, ch_b64_alphabet a)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (a == CH_B64_URL ? '-' : '+'))
        return 62;
    if (c == (a == CH_B64_URL ? '_' : '/'))
        return 63;
    return -1;
}

size_t ch_b64_encode_into(const void *in, size_t n, ch_b64_alphabet a, char *out)
{
    const char *chars = a == CH_B64_URL ? url_chars : std_chars;
    const unsigned char *p = in;
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];

        out[o++] = chars[v >> 18 & 63];
        out[o++] = chars[v >> 12 & 63];
        out[o++] = chars[v >> 6 & 63];
        out[o++] = chars[v & 63];
    }
    if (i < n) {
        unsigned long v = (unsigned long)p[i] << 16;

        if (i + 1 < n)
            v |= (unsigned long)p[i + 1] << 8;

        out[o++] = chars[v >> 18 & 63];
        out[o++] = chars[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = chars[v >> 6 & 63];
        else if (a == CH_B64_STD)
            out[o++] = '=';
        if (a == CH_B64_STD)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

char *ch_b64_encode(const void *in, size_t n, ch_b64_alphabet a)
{
    char *out;

    if (n > (size_t)INT_MAX / 4 * 3 || !(out = malloc(CH_B64_ENCODED_SIZE(n))))
        return NULL;
    (void)ch_b64_encode_into(in, n, a, out);
    return out;
}

/* The number of data characters of s[0..n) (without padding) when its
 * shape fits alphabet a, else -1.  Characters are checked while decoding. */
static long data_chars(const char *s, size_t n, ch_b64_alphabet a)
{
    size_t pad = 0;

    if (n > (size_t)INT_MAX)
        return -1;
    if (a == CH_B64_URL)
        return n % 4 == 1 ? -1 : (long)n;
    if (n % 4 != 0)
        return -1;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    return (long)(n - pad);
}

/* Decode the m data characters of s into out when out is non-NULL.
 * Returns the byte count, or -1 on a bad character or non-zero unused
 * bits (out may then hold part of the bytes). */
static long run(const char *s, long m, ch_b64_alphabet a, unsigned char *out)
{
    unsigned long acc = 0;
    int bits = 0;
    long i, o = 0;

    for (i = 0; i < m; i++) {
        int v = value_of(s[i], a);

        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned long)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out)
                out[o] = (unsigned char)(acc >> bits);
            o++;
        }
    }
    if (bits > 0 && (acc & ((1UL << bits) - 1)) != 0)
        return -1;
    return o;
}

long ch_b64_decoded_len(const char *s, size_t n, ch_b64_alphabet a)
{
    long m = data_chars(s, n, a);

    return m < 0 ? -1 : run(s, m, a, NULL);
}

long ch_b64_decode_into(const char *s, size_t n, ch_b64_alphabet a, unsigned char *out)
{
    long len = ch_b64_decoded_len(s, n, a);

    return len < 0 ? -1 : run(s, data_chars(s, n, a), a, out);
}

unsigned char *ch_b64_decode(const char *s, size_t n, ch_b64_alphabet a, size_t *len)
{
    long got = ch_b64_decoded_len(s, n, a);
    unsigned char *out;

    if (got < 0 || !(out = malloc((size_t)got + 1)))
        return NULL;
    (void)ch_b64_decode_into(s, n, a, out);
    out[got] = '\0';
    *len = (size_t)got;
    return out;
}
