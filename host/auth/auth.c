/*
 * auth.c -- HS256 tokens, the session cookie, Django password hashes and
 * the token secret (see auth.h for the formats).
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* base64url without padding (RFC 7515 section 2) of in[0..n). */
static char *b64url_encode(const unsigned char *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int len;
    char *p;

    if (!out)
        return NULL;
    len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    for (p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* Decode base64url (no padding) into a new buffer; sets *n.  NULL if
 * malformed. */
static unsigned char *b64url_decode(const char *in, size_t len, size_t *n)
{
    size_t padded = (len + 3) / 4 * 4, i;
    char *tmp = malloc(padded + 1);
    unsigned char *out = malloc(padded / 4 * 3 + 1);
    int got;

    if (!tmp || !out || len % 4 == 1)
        goto fail;
    for (i = 0; i < len; i++) {
        char ch = in[i];

        if (ch == '+' || ch == '/' || ch == '=')
            goto fail;
        tmp[i] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
    }
    for (; i < padded; i++)
        tmp[i] = '=';
    got = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
    if (got < 0)
        goto fail;
    *n = (size_t)got - (padded - len);
    free(tmp);
    return out;
fail:
    free(tmp);
    free(out);
    return NULL;
}

/* HMAC-SHA256 of data with secret, base64url. */
static char *hs256(const char *data, size_t n, const unsigned char *secret, size_t len)
{
    unsigned char mac[32];
    unsigned int maclen = sizeof mac;

    if (!HMAC(EVP_sha256(), secret, (int)len, (const unsigned char *)data, n, mac, &maclen))
        return NULL;
    return b64url_encode(mac, maclen);
}

char *ch_jwt_sign(const json_t *claims, const unsigned char *secret, size_t len)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h = b64url_encode((const unsigned char *)header, sizeof header - 1);
    char *body = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    char *p = body ? b64url_encode((unsigned char *)body, strlen(body)) : NULL;
    char *signing = NULL, *sig = NULL, *token = NULL;

    if (h && p && asprintf(&signing, "%s.%s", h, p) >= 0 &&
        (sig = hs256(signing, strlen(signing), secret, len)) != NULL &&
        asprintf(&token, "%s.%s", signing, sig) < 0)
        token = NULL;
    free(h);
    free(body);
    free(p);
    free(signing);
    free(sig);
    return token;
}

/* The JSON of one base64url part, or NULL. */
static json_t *decode_part(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *raw = b64url_decode(s, len, &n);
    json_t *j = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;

    free(raw);
    return j;
}

json_t *ch_jwt_verify(const char *token, const unsigned char *secret, size_t len, int64_t now,
                      const char **why)
{
    const char *dot1 = token ? strchr(token, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    json_t *head = NULL, *claims = NULL;
    char *sig = NULL;
    json_t *exp;

    *why = "malformed";
    if (!dot2 || strchr(dot2 + 1, '.'))
        return NULL;
    head = decode_part(token, (size_t)(dot1 - token));
    if (!head || !json_is_string(json_object_get(head, "alg")) ||
        strcmp(json_string_value(json_object_get(head, "alg")), "HS256") != 0)
        goto fail;
    sig = hs256(token, (size_t)(dot2 - token), secret, len);
    *why = "bad signature";
    if (!sig || strlen(sig) != strlen(dot2 + 1) ||
        CRYPTO_memcmp(sig, dot2 + 1, strlen(sig)) != 0)
        goto fail;
    *why = "malformed";
    claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!json_is_object(claims))
        goto fail;
    exp = json_object_get(claims, "exp");
    *why = "no exp";
    if (!json_is_number(exp))
        goto fail;
    *why = "expired";
    if ((int64_t)json_number_value(exp) <= now)
        goto fail;
    *why = NULL;
    json_decref(head);
    free(sig);
    return claims;
fail:
    json_decref(head);
    json_decref(claims);
    free(sig);
    return NULL;
}

/* PBKDF2-HMAC-SHA256(password, salt, iterations) in base64 (32 bytes). */
static char *pbkdf2_b64(const char *password, const char *salt, unsigned iterations)
{
    unsigned char dk[32];
    char *out = malloc(45);

    if (!out || !PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (const unsigned char *)salt,
                                   (int)strlen(salt), (int)iterations, EVP_sha256(),
                                   sizeof dk, dk)) {
        free(out);
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)out, dk, sizeof dk);
    OPENSSL_cleanse(dk, sizeof dk);
    return out;
}

char *ch_password_hash(const char *password, unsigned iterations)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[22];
    char salt[23], *hash, *out = NULL;
    size_t i;

    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return NULL;
    for (i = 0; i < sizeof rnd; i++)   /* Django's salts: 22 alphanumerics */
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
        strcmp(algo, "pbkdf2_sha256") != 0 || iterations == 0 || iterations > 100000000)
        return 0;
    hash = pbkdf2_b64(password, salt, iterations);
    ok = hash && strlen(hash) == strlen(expect) &&
         CRYPTO_memcmp(hash, expect, strlen(hash)) == 0;
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

char *ch_auth_find_token(const char *(*header)(void *ctx, const char *name), void *ctx,
                         const char *query, const char **via)
{
    const char *authz = header(ctx, "authorization");
    char *t;

    if ((t = token_from_subprotocol(header(ctx, "sec-websocket-protocol")))) {
        *via = "subprotocol";
        return t;
    }
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0 && authz[7]) {
        *via = "authorization";
        return strdup(authz + 7);
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

/* Create file with 32 random bytes (hex), mode 0600. */
static int create_secret(const char *file, char *err, size_t errlen)
{
    unsigned char rnd[32];
    char hex[65];
    int fd, i;

    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return snprintf(err, errlen, "no randomness for the token secret"), -1;
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, hex, 64) != 64 || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: cannot create: %s", file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    OPENSSL_cleanse(rnd, sizeof rnd);
    return 0;
}

int ch_auth_load_secret(const char *file, const char *env, unsigned char **out, size_t *len,
                        char *err, size_t errlen)
{
    const char *v = env ? getenv(env) : NULL;
    char buf[1024];
    ssize_t n;
    int fd;

    if (v && *v) {
        *len = strlen(v);
        *out = (unsigned char *)strdup(v);
        return *out ? 0 : -1;
    }
    if (!file)
        return snprintf(err, errlen, "no token secret: set auth_secret_file or auth_secret_env"),
               -1;
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create_secret(file, err, errlen) == 0)
        fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err[0] ? -1 : (snprintf(err, errlen, "%s: %s", file, strerror(errno)), -1);
    n = read(fd, buf, sizeof buf);
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    if (n < 16)
        return snprintf(err, errlen, "%s: the token secret is shorter than 16 bytes", file), -1;
    *out = malloc((size_t)n);
    if (!*out)
        return -1;
    memcpy(*out, buf, (size_t)n);
    *len = (size_t)n;
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}
