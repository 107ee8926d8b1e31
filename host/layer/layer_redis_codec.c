/*
 * layer_redis_codec.c -- owns the Redis backend's formats, with no I/O:
 * parsing of the layer url, the Redis key and channel names, process ids,
 * and the PUBLISH payload (layout in layer_redis.h).  Everything here is
 * pure and unit-tested on its own (tests/unit/test_layer_redis.c).
 */
#include "layer_redis.h"
#include "router.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX_LEN (2 * (size_t)CH_RL_ID_LEN)   /* a process id in hex */
#define URL_HINT "expected redis://[:password@]host[:port][/db] or unix:///path/redis.sock?db=N"

static int __attribute__((format(printf, 3, 4)))
url_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Percent-decode s[0..n) into out (outlen bytes, NUL-terminated).
 * Returns 0, or -1 on a bad escape, a NUL byte, or no room. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    char *dec = ch_percent_decode(s, n);
    size_t len = dec ? strlen(dec) : 0;
    int rc = dec && len < outlen ? 0 : -1;

    if (rc == 0)
        memcpy(out, dec, len + 1);
    free(dec);
    return rc;
}

/* A decimal number s[0..n) in [lo, hi].  Returns it, or -1. */
static long number(const char *s, size_t n, long lo, long hi)
{
    long v = 0;

    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

/* "[user]:password" of a redis:// url. */
static int parse_userinfo(const char *s, size_t n, ch_rl_url *u, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);

    if (!colon)
        return url_err(err, errlen, "bad redis url: put ':' before the password "
                       "(redis://:password@host)");
    if (pct_decode(s, (size_t)(colon - s), u->user, sizeof u->user) != 0 ||
        pct_decode(colon + 1, n - (size_t)(colon - s) - 1, u->password, sizeof u->password) != 0)
        return url_err(err, errlen, "bad redis url: user or password has a bad %%-escape "
                       "or is too long");
    return 0;
}

/* "host[:port]" or "[v6][:port]" of a redis:// url. */
static int parse_hostport(const char *s, size_t n, ch_rl_url *u, char *err, size_t errlen)
{
    const char *end = s + n, *port = NULL, *host;
    size_t hlen;

    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (!close || (close + 1 < end && close[1] != ':'))
            return url_err(err, errlen, "bad redis url: unbalanced [ ] around an IPv6 address");
        hlen = (size_t)(close - s - 1);
        host = s + 1;
        port = close + 1 < end ? close + 2 : NULL;
    } else {
        const char *colon = memchr(s, ':', n);

        hlen = colon ? (size_t)(colon - s) : n;
        host = s;
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0 || hlen >= sizeof u->host)
        return url_err(err, errlen, "bad redis url: missing or too long host (" URL_HINT ")");
    snprintf(u->host, sizeof u->host, "%.*s", (int)hlen, host);
    u->port = CH_RL_DEFAULT_PORT;
    if (port && (u->port = (int)number(port, (size_t)(end - port), 1, 65535)) < 0)
        return url_err(err, errlen, "bad redis url: port '%.*s' is not a number in 1..65535",
                       (int)(end - port), port);
    return 0;
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_tcp(const char *s, ch_rl_url *u, char *err, size_t errlen)
{
    const char *slash = strchr(s, '/'), *at;
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    int rc;

    if (strpbrk(s, "?#"))
        return url_err(err, errlen, "bad redis url: no query or fragment allowed (" URL_HINT ")");
    at = memrchr(s, '@', alen);
    if (at && (rc = parse_userinfo(s, (size_t)(at - s), u, err, errlen)) != 0)
        return rc;
    if (at) {
        alen -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    if ((rc = parse_hostport(s, alen, u, err, errlen)) != 0)
        return rc;
    if (slash && slash[1] && (u->db = (int)number(slash + 1, strlen(slash + 1), 0, 99999)) < 0)
        return url_err(err, errlen, "bad redis url: database '%s' is not a number", slash + 1);
    if (strchr(u->host, ':'))
        snprintf(u->where, sizeof u->where, "[%s]:%d", u->host, u->port);
    else
        snprintf(u->where, sizeof u->where, "%s:%d", u->host, u->port);
    return 0;
}

/* One "name=value" of a unix:// query. */
static int unix_param(const char *p, size_t n, ch_rl_url *u, char *err, size_t errlen)
{
    const char *eq = memchr(p, '=', n);
    size_t klen = eq ? (size_t)(eq - p) : n, vlen = eq ? n - klen - 1 : 0;

    if (eq && klen == 2 && !memcmp(p, "db", 2)) {
        if ((u->db = (int)number(eq + 1, vlen, 0, 99999)) < 0)
            return url_err(err, errlen, "bad redis url: db '%.*s' is not a number", (int)vlen,
                           eq + 1);
        return 0;
    }
    if (eq && klen == 8 && !memcmp(p, "password", 8)) {
        if (pct_decode(eq + 1, vlen, u->password, sizeof u->password) != 0)
            return url_err(err, errlen, "bad redis url: bad or too long password");
        return 0;
    }
    return url_err(err, errlen, "bad redis url: unknown parameter '%.*s' (db and password "
                   "are allowed)", (int)klen, p);
}

/* unix:///path[?db=N][&password=P] */
static int parse_unix(const char *s, ch_rl_url *u, char *err, size_t errlen)
{
    const char *q = strchr(s, '?');
    size_t plen = q ? (size_t)(q - s) : strlen(s);

    u->is_unix = 1;
    if (plen == 0 || s[0] != '/')
        return url_err(err, errlen, "bad redis url: unix:// needs an absolute socket path (" URL_HINT ")");
    if (pct_decode(s, plen, u->path, sizeof u->path) != 0)
        return url_err(err, errlen, "bad redis url: socket path too long or badly escaped");
    while (q && q[1]) {
        const char *p = q + 1, *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        int rc = unix_param(p, n, u, err, errlen);

        if (rc != 0)
            return rc;
        q = amp;
    }
    snprintf(u->where, sizeof u->where, "%s", u->path);
    return 0;
}

int ch_rl_url_parse(const char *url, ch_rl_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!url)
        return url_err(err, errlen, "no redis url");
    if (!strncmp(url, "redis://", 8))
        return parse_tcp(url + 8, out, err, errlen);
    if (!strncmp(url, "unix://", 7))
        return parse_unix(url + 7, out, err, errlen);
    return url_err(err, errlen, "'%.16s...' is not a redis url (" URL_HINT ")", url);
}

/* ---- payloads -------------------------------------------------------- */

/* A target name's length as encoded: at most CH_NAME_MAX - 1 bytes. */
static size_t target_len(const char *target)
{
    return target ? strnlen(target, CH_NAME_MAX - 1) : 0;
}

size_t ch_rl_payload_len(const char *target, size_t text_len)
{
    return CH_RL_HEADER + (target ? 1 + target_len(target) : 0) + text_len;
}

void ch_rl_payload_write(uint8_t *out, const uint8_t sender[CH_RL_ID_LEN], uint64_t seq,
                         const char *target, const char *text, size_t text_len)
{
    *out++ = CH_RL_VERSION;
    memcpy(out, sender, CH_RL_ID_LEN);
    out += CH_RL_ID_LEN;
    for (int i = 7; i >= 0; i--)
        *out++ = (uint8_t)(seq >> (8 * i));
    if (target) {
        size_t n = target_len(target);

        *out++ = (uint8_t)n;
        memcpy(out, target, n);
        out += n;
    }
    memcpy(out, text, text_len);
}

/* Read the target name of a direct payload at p (left bytes).  Returns
 * the bytes used, or 0 if the name is missing or invalid. */
static size_t decode_target(const uint8_t *p, size_t left, char *target)
{
    size_t n = left ? p[0] : 0;

    if (n == 0 || n >= CH_NAME_MAX || n + 1 > left)
        return 0;
    memcpy(target, p + 1, n);
    target[n] = '\0';
    if (strlen(target) != n || !ch_layer_valid_channel(target))
        return 0;
    return n + 1;
}

int ch_rl_payload_decode(const void *buf, size_t len, int direct, ch_rl_payload *out)
{
    const uint8_t *p = buf;
    size_t used = CH_RL_HEADER;

    if (!buf || len <= CH_RL_HEADER || p[0] != CH_RL_VERSION)
        return -EINVAL;
    memcpy(out->sender, p + 1, CH_RL_ID_LEN);
    out->seq = 0;
    for (int i = 0; i < 8; i++)
        out->seq = out->seq << 8 | p[1 + CH_RL_ID_LEN + i];
    out->target[0] = '\0';
    if (direct) {
        size_t n = decode_target(p + used, len - used, out->target);

        if (!n)
            return -EINVAL;
        used += n;
    }
    if (used >= len)
        return -EINVAL;
    out->text = (const char *)p + used;
    out->text_len = len - used;
    return 0;
}

/* "*3\r\n$7\r\nPUBLISH\r\n$<k>\r\n<key>\r\n$<n>\r\n<payload>\r\n", the
 * payload written in place: one allocation, no intermediate copy. */
char *ch_rl_publish_command(const char *key, const uint8_t sender[CH_RL_ID_LEN], uint64_t seq,
                            const char *target, const char *text, size_t text_len, size_t *len)
{
    size_t klen = strlen(key), plen = ch_rl_payload_len(target, text_len);
    char head[CH_RL_KEY_MAX + 80];
    int hlen = snprintf(head, sizeof head, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n", klen,
                        key, plen);
    char *cmd;

    if (hlen < 0 || (size_t)hlen >= sizeof head)
        return NULL;
    cmd = malloc((size_t)hlen + plen + 2);
    if (!cmd)
        return NULL;
    memcpy(cmd, head, (size_t)hlen);
    ch_rl_payload_write((uint8_t *)cmd + hlen, sender, seq, target, text, text_len);
    cmd[(size_t)hlen + plen] = '\r';
    cmd[(size_t)hlen + plen + 1] = '\n';
    *len = (size_t)hlen + plen + 2;
    return cmd;
}

/* ---- names ----------------------------------------------------------- */

void ch_rl_key(char *out, char kind, const char *name)
{
    snprintf(out, CH_RL_KEY_MAX, "%s:%c:%s", CH_RL_PREFIX, kind, name);
}

/* A lower-case hex digit's value, or -1. */
static int lowerhex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int ch_rl_id_parse(const char *hex, uint8_t id[CH_RL_ID_LEN])
{
    for (size_t i = 0; i < CH_RL_ID_LEN; i++) {
        int hi = lowerhex(hex[2 * i]), lo = hi >= 0 ? lowerhex(hex[2 * i + 1]) : -1;

        if (lo < 0)
            return -1;
        id[i] = (uint8_t)(hi * 16 + lo);
    }
    return hex[HEX_LEN] == '\0' || hex[HEX_LEN] == '!' ? 0 : -1;
}

int ch_rl_channel_process(const char *channel, char hex[33])
{
    static const char prefix[] = "chanhost.";
    uint8_t id[CH_RL_ID_LEN];
    const char *p = channel;

    if (strncmp(p, prefix, sizeof prefix - 1) != 0)
        return -1;
    p += sizeof prefix - 1;
    if (strnlen(p, HEX_LEN + 1) <= HEX_LEN || p[HEX_LEN] != '!' || ch_rl_id_parse(p, id) != 0)
        return -1;
    snprintf(hex, HEX_LEN + 1, "%.*s", (int)HEX_LEN, p);
    return 0;
}
