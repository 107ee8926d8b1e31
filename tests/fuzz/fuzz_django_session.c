/*
 * fuzz_django_session.c -- auth/django.c's decoding of Django signed
 * values: the input as a session cookie or a django_session row's
 * session_data as it is (what any client can send, or what a database
 * holds), through ch_django_loads with both session salts, the session's
 * user and its auth hash; and, when the input's first byte is followed by
 * a newline, the rest as a payload this target signs with the secret
 * (mode = first byte % 3: 0 plain base64url, 1 zlib-compressed by the
 * target, 2 the bytes themselves as a "compressed" stream), so the code
 * after the signature check (base64, inflate with its bound, JSON) sees
 * any bytes.  A payload signed here must never be refused as a bad
 * signature, and a plain or compressed JSON payload must decode to equal
 * JSON.  Owns nothing across inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "b64.h"
#include "django.h"
#include "fuzz.h"

#define NOW INT64_C(1796288765)
#define SECRET \
    "interop-unit-secret" /* tests/unit/test_django.c's, so its Django-made seeds verify */

/* Decode s as a session and look at its user. */
static void decode(const char *s, const char *salt, int64_t max_age)
{
    const char *why = NULL, *hash = NULL;
    json_t *v = ch_django_loads(s, SECRET, salt, max_age, NOW, &why);

    if (!v) {
        FZ_CHECK(why != NULL);
        return;
    }
    if (json_is_object(v) && ch_django_session_user(v, &hash, &why) > 0 && hash)
        (void)ch_django_session_hash_ok(hash, "pbkdf2_sha256$1$s$h", SECRET);
    json_decref(v);
}

/* Django's base62 of v into out (at least 12 bytes). */
static void base62(int64_t v, char *out)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char tmp[12];
    int n = 0;

    do {
        tmp[n++] = digits[v % 62];
        v /= 62;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* payload[0..n) signed as django.core.signing.dumps would (compressed:
 * '.' first), with the cookie salt; new malloc'd string. */
static char *sign(const unsigned char *payload, size_t n, int compressed)
{
    size_t cap = CH_B64_ENCODED_SIZE(n) + CH_B64_ENCODED_SIZE(32) + 32;
    char *s = malloc(cap), *p = s, ts[12];
    unsigned char mac[32];
    unsigned maclen;

    FZ_CHECK(s != NULL);
    if (compressed)
        *p++ = '.';
    p += ch_b64_encode_into(payload, n, CH_B64_URL, p);
    base62(NOW, ts);
    p += sprintf(p, ":%s", ts);
    maclen = ch_django_salted_hmac(CH_DJ_SHA256, CH_DJ_SALT_COOKIE "signer", s, (size_t)(p - s),
                                   SECRET, mac);
    FZ_CHECK(maclen == 32);
    *p++ = ':';
    ch_b64_encode_into(mac, maclen, CH_B64_URL, p);
    return s;
}

/* The signed-payload mode (see the top comment). */
static void signed_payload(int mode, const unsigned char *rest, size_t n)
{
    unsigned char *packed = NULL;
    uLongf plen = compressBound((uLong)n);
    json_t *want = json_loadb((const char *)rest, n, JSON_DECODE_ANY, NULL), *got;
    const char *why = NULL;
    char *s;

    if (mode == 1) {
        packed = malloc(plen ? plen : 1);
        FZ_CHECK(packed != NULL && compress(packed, &plen, rest, (uLong)n) == Z_OK);
        s = sign(packed, plen, 1);
    } else {
        s = sign(rest, n, mode == 2);
    }
    got = ch_django_loads(s, SECRET, CH_DJ_SALT_COOKIE, -1, NOW, &why);
    FZ_CHECK(got || strcmp(why, "bad signature") != 0);
    if (want && mode != 2 && n <= CH_DJ_PAYLOAD_MAX)
        FZ_CHECK(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    free(packed);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    FZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    decode(s, CH_DJ_SALT_COOKIE, 1209600);
    decode(s, CH_DJ_SALT_DB, -1);
    if (size >= 2 && data[1] == '\n')
        signed_payload(data[0] % 3, data + 2, size - 2);
    free(s);
    return 0;
}
