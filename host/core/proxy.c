/*
 * proxy.c -- the client behind trusted proxies (proxy.h).  Owns nothing:
 * every function works on borrowed text and caller-owned buffers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int ch_ip_is_v4(const uint8_t ip[16]) { return memcmp(ip, v4_prefix, 12) == 0; }

/* Parse the NUL-terminated address text s (no port, no brackets) into
 * out; IPv4 is mapped.  0 or -EINVAL. */
static int parse_plain(const char *s, uint8_t out[16])
{
    if (inet_pton(AF_INET6, s, out) == 1)
        return 0;
    if (inet_pton(AF_INET, s, out + 12) == 1) {
        memcpy(out, v4_prefix, 12);
        return 0;
    }
    return -EINVAL;
}

/* 1 if s[0..len) is a port: 1 to 5 digits. */
static int is_port(const char *s, size_t len)
{
    return len >= 1 && len <= 5 && strspn(s, "0123456789") >= len;
}

int ch_ip_parse(const char *s, size_t len, uint8_t out[16])
{
    char buf[64];
    const char *colon;

    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof buf)
        return -EINVAL;
    if (s[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(s, ']', len);
        size_t rest;

        if (!close)
            return -EINVAL;
        rest = len - (size_t)(close + 1 - s);
        if (rest && (close[1] != ':' || !is_port(close + 2, rest - 1)))
            return -EINVAL;
        memcpy(buf, s + 1, (size_t)(close - s - 1));
        buf[close - s - 1] = '\0';
        return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -EINVAL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    colon = strchr(buf, ':');
    if (colon && !strchr(colon + 1, ':')) { /* a.b.c.d:port */
        if (!is_port(colon + 1, strlen(colon + 1)))
            return -EINVAL;
        buf[colon - buf] = '\0';
        if (inet_pton(AF_INET, buf, out + 12) != 1)
            return -EINVAL;
        memcpy(out, v4_prefix, 12);
        return 0;
    }
    return parse_plain(buf, out);
}

int ch_cidr_parse(const char *s, ch_cidr *out)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    long bits;
    char *end;
    int v4;

    if (len == 0 || len >= sizeof buf)
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (parse_plain(buf, out->addr) != 0)
        return -EINVAL;
    v4 = !strchr(buf, ':');
    bits = v4 ? 32 : 128;
    if (slash) {
        if (!slash[1] || strspn(slash + 1, "0123456789") != strlen(slash + 1) ||
            strlen(slash + 1) > 3)
            return -EINVAL;
        bits = strtol(slash + 1, &end, 10);
        if (bits > (v4 ? 32 : 128))
            return -EINVAL;
    }
    out->bits = (uint8_t)(bits + (v4 ? 96 : 0));
    for (int i = 0; i < 16; i++) { /* clear the host bits */
        int keep = out->bits - i * 8;

        if (keep <= 0)
            out->addr[i] = 0;
        else if (keep < 8)
            out->addr[i] &= (uint8_t)(0xff << (8 - keep));
    }
    return 0;
}

/* 1 if ip is inside block b. */
static int in_block(const ch_cidr *b, const uint8_t ip[16])
{
    size_t whole = b->bits / 8;
    unsigned rest = b->bits % 8;

    if (memcmp(b->addr, ip, whole) != 0)
        return 0;
    return !rest || ((b->addr[whole] ^ ip[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int ch_cidr_match(const ch_cidr *list, size_t n, const uint8_t ip[16])
{
    for (size_t i = 0; i < n; i++)
        if (in_block(&list[i], ip))
            return 1;
    return 0;
}

/* The X-Forwarded-For walk of ch_proxy_client: 1 with the client in out,
 * or 0 if xff names none (empty, or malformed at its right end). */
static int from_xff(const char *xff, const ch_cidr *trusted, size_t n, uint8_t out[16])
{
    const char *end = xff + strlen(xff), *start;
    uint8_t ip[16];
    int found = 0;

    while (end > xff) {
        start = end;
        while (start > xff && start[-1] != ',')
            start--;
        if (strspn(start, " \t") < (size_t)(end - start)) { /* not an empty element */
            if (ch_ip_parse(start, (size_t)(end - start), ip) != 0)
                break; /* what lies left of a malformed hop is not vouched for */
            memcpy(out, ip, 16);
            found = 1;
            if (!ch_cidr_match(trusted, n, ip))
                return 1;
        }
        end = start > xff ? start - 1 : xff;
    }
    return found;
}

int ch_proxy_client(const uint8_t peer[16], const char *xff, const char *xrip,
                    const ch_cidr *trusted, size_t n, uint8_t out[16])
{
    if (ch_cidr_match(trusted, n, peer)) {
        if (xff && from_xff(xff, trusted, n, out))
            return 1;
        if (xrip && ch_ip_parse(xrip, strlen(xrip), out) == 0)
            return 1;
    }
    memcpy(out, peer, 16);
    return 0;
}

int ch_proxy_https(const char *xfp)
{
    size_t len;

    if (!xfp)
        return 0;
    xfp += strspn(xfp, " \t");
    len = strcspn(xfp, ", \t");
    return (len == 5 && strncasecmp(xfp, "https", 5) == 0) ||
           (len == 3 && strncasecmp(xfp, "wss", 3) == 0);
}
