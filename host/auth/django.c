/*
 * django.c -- Django's salted HMAC, signing.loads, the session auth hash
 * and SimpleJWT access tokens (see django.h).  Owns no state.
 */
#include "django.h"

#include "auth.h"
#include "b64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SESSION_HASH_SALT "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"

unsigned ch_django_salted_hmac(int algo, const char *key_salt, const char *value, size_t vlen,
                               const char *secret, unsigned char *out)
{
    const EVP_MD *md = algo == CH_DJ_SHA1 ? EVP_sha1() : algo == CH_DJ_SHA256 ? EVP_sha256() : NULL;
    unsigned char key[EVP_MAX_MD_SIZE];
    unsigned keylen = 0, outlen = 0;
    EVP_MD_CTX *ctx;
    int ok;

    if (!md || !(ctx = EVP_MD_CTX_new()))
        return 0;
    ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 &&
         EVP_DigestUpdate(ctx, key_salt, strlen(key_salt)) == 1 &&
         EVP_DigestUpdate(ctx, secret, strlen(secret)) == 1 &&
         EVP_DigestFinal_ex(ctx, key, &keylen) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok && !HMAC(md, key, (int)keylen, (const unsigned char *)value, vlen, out, &outlen))
        outlen = 0;
    OPENSSL_cleanse(key, sizeof key);
    return ok ? outlen : 0;
}

/* Does sig[0..siglen) equal the base64url salted HMAC of value[0..vlen)
 * in either digest?  Constant time in the signature's bytes. */
static int signature_ok(const char *sig, size_t siglen, const char *salt, const char *value,
                        size_t vlen, const char *secret)
{
    static const int algos[] = {CH_DJ_SHA256, CH_DJ_SHA1};
    char key_salt[512], want[CH_B64_ENCODED_SIZE(32)];
    unsigned char mac[32];
    int ok = 0;

    if (strlen(salt) + 7 > sizeof key_salt)
        return 0;
    strcpy(key_salt, salt);
    strcat(key_salt, "signer");
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        unsigned n = ch_django_salted_hmac(algos[i], key_salt, value, vlen, secret, mac);
        size_t wn = n ? ch_b64_encode_into(mac, n, CH_B64_URL, want) : 0;

        ok |= wn && wn == siglen && CRYPTO_memcmp(want, sig, siglen) == 0;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}

/* Django's base62 (django.utils.baseconv) of s[0..n): 0 and *out, or -1
 * for an empty, signed, foreign or overflowing number. */
static int base62(const char *s, size_t n, int64_t *out)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    int64_t v = 0;

    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *d = s[i] ? strchr(digits, s[i]) : NULL;

        if (!d)
            return -1;
        v = v * 62 + (d - digits);
    }
    *out = v;
    return 0;
}

/* Inflate zlib data in[0..n) into a new buffer of at most max bytes
 * (*outlen set), or NULL (bad data, too large, memory). */
static unsigned char *inflate_bounded(const unsigned char *in, size_t n, size_t max, size_t *outlen)
{
    z_stream z = {0};
    size_t cap = n * 4 + 64 < max ? n * 4 + 64 : max;
    unsigned char *out = malloc(cap), *grown;
    int rc = Z_OK;

    if (!out || inflateInit(&z) != Z_OK) {
        free(out);
        return NULL;
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    while (rc == Z_OK) {
        if (z.total_out == cap) {
            if (cap == max || !(grown = realloc(out, cap * 2 < max ? cap * 2 : max)))
                break;
            out = grown;
            cap = cap * 2 < max ? cap * 2 : max;
        }
        z.next_out = out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_in && z.avail_out == 0)
            rc = Z_OK;
    }
    *outlen = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* The JSON of a payload ('.' + zlib or plain, base64url) or NULL. */
static json_t *payload_json(const char *p, size_t n)
{
    int compressed = n > 0 && p[0] == '.';
    unsigned char *raw, *plain;
    size_t rawlen = 0, plainlen = 0;
    json_t *v;

    if (compressed) {
        p++;
        n--;
    }
    if (n > CH_DJ_PAYLOAD_MAX * 2 || !(raw = ch_b64_decode(p, n, CH_B64_URL, &rawlen)))
        return NULL;
    plain = compressed ? inflate_bounded(raw, rawlen, CH_DJ_PAYLOAD_MAX, &plainlen) : raw;
    if (!compressed)
        plainlen = rawlen;
    v = plain && plainlen <= CH_DJ_PAYLOAD_MAX
            ? json_loadb((const char *)plain, plainlen, JSON_DECODE_ANY, NULL)
            : NULL;
    if (plain != raw)
        free(plain);
    free(raw);
    return v;
}

json_t *ch_django_loads(const char *s, const char *secret, const char *salt, int64_t max_age,
                        int64_t now, const char **why)
{
    const char *sig = s ? strrchr(s, ':') : NULL, *ts;
    size_t vlen;
    int64_t when;
    json_t *v;

    *why = "malformed";
    if (!sig)
        return NULL;
    vlen = (size_t)(sig - s);
    for (ts = sig - 1; ts >= s && *ts != ':'; ts--)
        ;
    if (ts < s || base62(ts + 1, (size_t)(sig - ts - 1), &when) != 0)
        return NULL;
    if (!signature_ok(sig + 1, strlen(sig + 1), salt, s, vlen, secret)) {
        *why = "bad signature";
        return NULL;
    }
    if (max_age >= 0 && now - when > max_age) {
        *why = "expired";
        return NULL;
    }
    if (!(v = payload_json(s, (size_t)(ts - s))))
        *why = "bad payload";
    return v;
}

int ch_django_session_hash_ok(const char *hash, const char *password, const char *secret)
{
    static const int algos[] = {CH_DJ_SHA256, CH_DJ_SHA1};
    unsigned char mac[32];
    char hex[65];
    int ok = 0;

    if (!hash || !password)
        return 0;
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        unsigned n = ch_django_salted_hmac(algos[i], SESSION_HASH_SALT, password, strlen(password),
                                           secret, mac);

        for (unsigned j = 0; j < n; j++) {
            hex[2 * j] = "0123456789abcdef"[mac[j] >> 4];
            hex[2 * j + 1] = "0123456789abcdef"[mac[j] & 15];
        }
        ok |= n && strlen(hash) == 2 * n && CRYPTO_memcmp(hex, hash, 2 * n) == 0;
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_cleanse(hex, sizeof hex);
    return ok;
}

/* A positive id from an integer or a canonical decimal string, or 0. */
static int64_t id_of(const json_t *v)
{
    const char *s = json_string_value(v);
    int64_t id = 0;

    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : 0;
    if (!s || !*s || *s == '0' || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return 0;
    for (; *s; s++)
        id = id * 10 + (*s - '0');
    return id;
}

int64_t ch_django_session_user(const json_t *session, const char **hash, const char **why)
{
    int64_t id = id_of(json_object_get(session, "_auth_user_id"));

    *hash = json_string_value(json_object_get(session, "_auth_user_hash"));
    if (!id || !json_is_string(json_object_get(session, "_auth_user_backend"))) {
        *why = "the session has no logged-in user";
        return 0;
    }
    return id;
}

int64_t ch_django_jwt_user(const char *token, const unsigned char *key, size_t len, int64_t now,
                           const char **why)
{
    json_t *claims = ch_jwt_verify(token, key, len, now, why);
    const char *type = json_string_value(json_object_get(claims, "token_type"));
    int64_t id = id_of(json_object_get(claims, "user_id"));
    int valid = claims != NULL;

    if (valid && (!type || strcmp(type, "access") != 0)) {
        *why = "not an access token";
        id = 0;
    } else if (valid && !id) {
        *why = "no user_id";
    }
    json_decref(claims);
    return valid ? id : 0;
}

int ch_django_is_drf_key(const char *s)
{
    return s && strlen(s) == 40 && strspn(s, "0123456789abcdefABCDEF") == 40;
}

int ch_django_is_session_key(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}
