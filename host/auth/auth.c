/*
 * auth.c -- HS256 tokens, the session cookie, Django password hashes,
 * where a request carries its token (Bearer, subprotocol, cookie, query),
 * the user a token's claims name, and the token secret (see auth.h).
 */
#include "auth.h"

#include "b64.h"
#include "config.h"
#include "secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BLANKS " \t"                  /* between "Bearer" and its token */
#define SECRET_MAX ((size_t)64 << 10) /* the largest token secret file */

/* Wipe and free a signature (NULL is fine): in ch_jwt_verify it is the
 * valid signature of whatever the client sent. */
static void free_sig(char *sig) { ch_secret_free(sig, sig ? strlen(sig) : 0); }

/* HMAC-SHA256 of data with secret, base64url. */
static char *hs256(const char *data, size_t n, const unsigned char *secret, size_t len)
{
    unsigned char mac[32];
    unsigned int maclen = sizeof mac;
    char *out = NULL;

    if (HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)data, n, mac, &maclen))
        out = ch_b64_encode(mac, maclen, CH_B64_URL);
    OPENSSL_cleanse(mac, sizeof mac);
    return out;
}

char *ch_jwt_sign(const json_t *claims, const unsigned char *secret, size_t len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = ch_b64_encode(header, sizeof header - 1, CH_B64_URL);
    char *body = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    char *p = body ? ch_b64_encode(body, strlen(body), CH_B64_URL) : NULL;
    char *signing = NULL, *sig = NULL, *token = NULL;

    if (h && p && asprintf(&signing, "%s.%s", h, p) >= 0 &&
        (sig = hs256(signing, strlen(signing), secret, len)) != NULL &&
        asprintf(&token, "%s.%s", signing, sig) < 0)
        token = NULL;
    free(h);
    free(body);
    free(p);
    free(signing);
    free_sig(sig);
    return token;
}

/* The JSON of one base64url part (new reference), or NULL; a key
 * repeated in an object is refused, as everywhere the host reads JSON. */
static json_t *decode_part(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *raw = ch_b64_decode(s, len, CH_B64_URL, &n);
    json_t *j = raw ? json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL) : NULL;

    free(raw);
    return j;
}

/* exp (borrowed, a JSON number) as whole seconds into *out: 1, or 0 when
 * it lies outside [0, CH_JWT_EXP_MAX] (an integer or a real alike; a real
 * is compared before any conversion, so 1e300 or -1e300 never reach an
 * out-of-range cast). */
static int exp_seconds(const json_t *exp, int64_t *out)
{
    double d;

    if (json_is_integer(exp)) {
        *out = json_integer_value(exp);
        return *out >= 0 && *out <= CH_JWT_EXP_MAX;
    }
    d = json_real_value(exp);
    if (!(d >= 0.0 && d <= (double)CH_JWT_EXP_MAX)) /* also false for NaN */
        return 0;
    *out = (int64_t)d;
    return 1;
}

json_t *ch_jwt_verify(const char *token, const unsigned char *secret, size_t len, int64_t now,
                      const char **why)
{
    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    json_t *head = NULL, *claims = NULL;
    char *sig = NULL;
    json_t *exp;
    int64_t when;

    *why = "malformed";
    if (!dot2 || strchr(dot2 + 1, '.'))
        return NULL;
    head = decode_part(token, (size_t)(dot1 - token));
    if (!head || !json_is_string(json_object_get(head, "alg")) ||
        strcmp(json_string_value(json_object_get(head, "alg")), "HS256") != 0)
        goto fail;
    sig = hs256(token, (size_t)(dot2 - token), secret, len);
    *why = "bad signature";
    if (!sig || strlen(sig) != strlen(dot2 + 1) || CRYPTO_memcmp(sig, dot2 + 1, strlen(sig)) != 0)
        goto fail;
    *why = "malformed";
    claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!json_is_object(claims))
        goto fail;
    exp = json_object_get(claims, "exp");
    *why = "no exp";
    if (!json_is_number(exp))
        goto fail;
    *why = "malformed";
    if (!exp_seconds(exp, &when))
        goto fail;
    *why = "expired";
    if (when <= now)
        goto fail;
    *why = NULL;
    json_decref(head);
    free_sig(sig);
    return claims;
fail:
    json_decref(head);
    json_decref(claims);
    free_sig(sig);
    return NULL;
}

/* PBKDF2-HMAC-SHA256(password, salt, iterations) in base64 (32 bytes). */
static char *pbkdf2_b64(const char *password, const char *salt, unsigned iterations)
{
    unsigned char dk[32];
    char *out = NULL;

    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (const unsigned char *)salt,
                          (int)strlen(salt), (int)iterations, EVP_sha256(), sizeof dk, dk))
        out = ch_b64_encode(dk, sizeof dk, CH_B64_STD);
    OPENSSL_cleanse(dk, sizeof dk);
    return out;
}

char *ch_password_hash(const char *password, unsigned iterations)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[22];
    char salt[23], *hash, *out = NULL;
    size_t i;

    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return NULL;
    for (i = 0; i < sizeof rnd; i++) /* Django's salts: 22 alphanumerics */
        salt[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
    salt[sizeof rnd] = '\0';
    hash = pbkdf2_b64(password, salt, iterations);
    if (hash && asprintf(&out, "pbkdf2_sha256$%u$%s$%s", iterations, salt, hash) < 0)
        out = NULL;
    free(hash);
    return out;
}

int ch_password_check(const char *password, const char *stored)
{
    char algo[32], salt[256], expect[128], *hash;
    unsigned iterations;
    int ok;

    if (!password || !stored ||
        sscanf(stored, "%31[^$]$%u$%255[^$]$%127s", algo, &iterations, salt, expect) != 4 ||
        strcmp(algo, "pbkdf2_sha256") != 0 || iterations == 0 || iterations > CH_PBKDF2_ITER_MAX)
        return 0;
    hash = pbkdf2_b64(password, salt, iterations);
    ok = hash && strlen(hash) == strlen(expect) && CRYPTO_memcmp(hash, expect, strlen(hash)) == 0;
    free(hash);
    return ok;
}

char *ch_cookie_get(const char *header, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = header;

    while (p && *p) {
        size_t seg;

        while (*p == ' ' || *p == ';')
            p++;
        seg = strcspn(p, ";");
        if (seg > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return strndup(p + nlen + 1, seg - nlen - 1);
        p += seg;
    }
    return NULL;
}

/* "Bearer, <token>" in the subprotocol offer: the element after Bearer. */
static char *token_from_subprotocol(const char *offer)
{
    const char *p = offer ? strstr(offer, "Bearer") : NULL;
    size_t len;

    if (!p || (p != offer && p[-1] != ' ' && p[-1] != ','))
        return NULL;
    p += 6;
    if (*p != ',')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    len = strcspn(p, ", ");
    return len ? strndup(p, len) : NULL;
}

/* ?token=... in a raw query string (token characters need no decoding). */
static char *token_from_query(const char *q)
{
    while (q && *q) {
        size_t seg = strcspn(q, "&");

        if (seg > 6 && strncmp(q, "token=", 6) == 0)
            return strndup(q + 6, seg - 6);
        q += seg + (q[seg] ? 1 : 0);
    }
    return NULL;
}

char *ch_auth_bearer(const char *authz, const char **why)
{
    const char *t;
    size_t n;

    *why = "unsupported Authorization scheme (use Bearer)";
    if (!authz || strncasecmp(authz, "Bearer", 6) != 0 ||
        (authz[6] != '\0' && !strchr(BLANKS, authz[6])))
        return NULL;
    t = authz + 6 + strspn(authz + 6, BLANKS);
    for (n = strlen(t); n > 0 && strchr(BLANKS, t[n - 1]); n--)
        ;
    *why = "empty token";
    if (n == 0)
        return NULL;
    *why = "out of memory";
    if (!(t = strndup(t, n)))
        return NULL;
    *why = NULL;
    return (char *)t;
}

char *ch_auth_find_token(const char *(*header)(void *ctx, const char *name), void *ctx,
                         const char *query, const char **via)
{
    const char *why;
    char *t;

    if ((t = token_from_subprotocol(header(ctx, "sec-websocket-protocol")))) {
        *via = "subprotocol";
        return t;
    }
    if ((t = ch_auth_bearer(header(ctx, "authorization"), &why))) {
        *via = "authorization";
        return t;
    }
    if ((t = ch_cookie_get(header(ctx, "cookie"), CH_AUTH_COOKIE))) {
        *via = "cookie";
        return t;
    }
    if ((t = token_from_query(query))) {
        *via = "query";
        return t;
    }
    return NULL;
}

json_t *ch_auth_user(const json_t *claims)
{
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    json_t *name = json_object_get(claims, "username");
    json_t *roles = json_object_get(claims, "roles");
    long long id;
    char *end;

    if (!sub || *sub < '1' || *sub > '9' || !json_is_string(name))
        return NULL;
    errno = 0;
    id = strtoll(sub, &end, 10);
    if (*end || errno == ERANGE)
        return NULL;
    return json_pack("{s:I, s:O, s:o}", "id", (json_int_t)id, "username", name, "roles",
                     json_is_array(roles) ? json_incref(roles) : json_array());
}

/* Create file holding 32 random bytes in hex, mode 0600 (secret.h).
 * Returns 0, 1 when it exists already, or -1 with err set. */
static int create_secret(const char *file, char *err, size_t errlen)
{
    unsigned char rnd[32];
    char hex[65];
    int i, rc;

    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return snprintf(err, errlen, "no randomness for the token secret"), -1;
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    rc = ch_secret_create(file, hex, 64, err, errlen);
    OPENSSL_cleanse(rnd, sizeof rnd);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc < 0 ? -1 : rc;
}

int ch_auth_load_secret(const char *file, const char *env, unsigned char **out, size_t *len,
                        char *err, size_t errlen)
{
    const char *v = env ? getenv(env) : NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    if (v && *v) {
        *len = strlen(v);
        *out = (unsigned char *)strdup(v);
        return *out ? 0 : -1;
    }
    if (!file)
        return snprintf(err, errlen, "no token secret: set auth_secret_file or auth_secret_env"),
               -1;
    rc = ch_secret_read(file, SECRET_MAX, &text, &n, err, errlen);
    if (rc == -ENOENT && create_secret(file, err, errlen) >= 0)
        rc = ch_secret_read(file, SECRET_MAX, &text, &n, err, errlen);
    if (rc < 0)
        return -1;
    *len = n;
    while (*len > 0 && (text[*len - 1] == '\n' || text[*len - 1] == '\r' || text[*len - 1] == ' '))
        (*len)--;
    if (*len < 16) {
        ch_secret_free(text, n);
        return snprintf(err, errlen, "%s: the token secret is shorter than 16 bytes", file), -1;
    }
    *out = (unsigned char *)text;
    return 0;
}
