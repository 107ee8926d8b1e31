/*
 * handshake.c -- validation of a WebSocket opening handshake (RFC 6455
 * section 4.2.1): method, version, Upgrade/Connection tokens,
 * Sec-WebSocket-Version and -Key, the Sec-WebSocket-Accept answer, and the
 * Origin policy described in handshake.h.  Pure functions: no I/O and no
 * heap allocation; everything lives on the stack or in the caller's
 * buffers.
 */
#include "handshake.h"

#include "b64.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define KEY_MAX 64    /* longest key even looked at (a valid one is 24) */
#define HOST_MAX 256  /* longest host kept, brackets included */
#define PORT_NONE 0   /* no port given */
#define PORT_ANY (-1) /* ":*" in an allowed_origins entry */

/* One parsed origin, Host header or allowed_origins entry. */
typedef struct origin {
    const char *scheme;  /* "http" or "https" (ws/wss folded in); NULL if none */
    char host[HOST_MAX]; /* as written, IPv6 literals with their brackets */
    int port;            /* 1..65535, PORT_NONE or PORT_ANY */
} origin;

/* ------------------------------------------------------------------ */
/* Sec-WebSocket-Key and -Accept                                       */
/* ------------------------------------------------------------------ */

/* 1 if key is strict standard base64 (core/b64.h: with its '=' padding)
 * of exactly 16 bytes. */
static int key_is_valid(const char *key)
{
    size_t n = key ? strnlen(key, KEY_MAX + 1) : 0;

    return n > 0 && n <= KEY_MAX && ch_b64_decoded_len(key, n, CH_B64_STD) == 16;
}

int ch_handshake_accept_key(const char *key, char out[32])
{
    unsigned char in[KEY_MAX + sizeof WS_GUID];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    size_t klen;

    out[0] = '\0';
    if (!key_is_valid(key))
        return -1;
    klen = strlen(key);
    memcpy(in, key, klen);
    memcpy(in + klen, WS_GUID, sizeof WS_GUID - 1);
    if (!EVP_Digest(in, klen + sizeof WS_GUID - 1, md, &md_len, EVP_sha1(), NULL) || md_len != 20)
        return -1;
    (void)ch_b64_encode_into(md, md_len, CH_B64_STD, out); /* 28 + NUL: fits 32 */
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parsing origins, Host headers and allowed_origins entries           */
/* ------------------------------------------------------------------ */

static int is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static int is_ipv6_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

/*
 * Length of the host at the start of s (n bytes): a bracketed IPv6
 * literal or a name of letters, digits, '-', '.', '_'.  0 if invalid.
 * A leading '.' (a domain pattern) is only accepted when pattern is set.
 */
static size_t host_span(const char *s, size_t n, int pattern)
{
    size_t i = 0;

    if (n && s[0] == '[') {
        for (i = 1; i < n && is_ipv6_char(s[i]); i++)
            ;
        return (i > 1 && i < n && s[i] == ']') ? i + 1 : 0;
    }
    if (n && s[0] == '.' && !pattern)
        return 0;
    while (i < n && is_name_char(s[i]))
        i++;
    return (i == 1 && s[0] == '.') ? 0 : i;
}

/* Port from s (n bytes, after the ':'): 1..65535, or PORT_ANY for "*" when
 * wild is set.  Returns 0 on success, -1 if invalid. */
static int parse_port(const char *s, size_t n, int wild, int *port)
{
    int v = 0;

    if (wild && n == 1 && s[0] == '*') {
        *port = PORT_ANY;
        return 0;
    }
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

/*
 * Parse "host[:port]" (n bytes) into o->host and o->port (PORT_NONE when
 * absent).  pattern allows a leading '.' and a ":*" port.  0 or -1.
 */
static int parse_hostport(const char *s, size_t n, int pattern, origin *o)
{
    size_t hl = host_span(s, n, pattern);

    if (hl == 0 || hl >= HOST_MAX)
        return -1;
    memcpy(o->host, s, hl);
    o->host[hl] = '\0';
    o->port = PORT_NONE;
    if (hl == n)
        return 0;
    if (s[hl] != ':')
        return -1;
    return parse_port(s + hl + 1, n - hl - 1, pattern, &o->port);
}

/* The canonical scheme for the n bytes at s ("ws" counts as "http", "wss"
 * as "https"), or NULL if not one of those four. */
static const char *parse_scheme(const char *s, size_t n)
{
    if ((n == 4 && strncasecmp(s, "http", 4) == 0) || (n == 2 && strncasecmp(s, "ws", 2) == 0))
        return "http";
    if ((n == 5 && strncasecmp(s, "https", 5) == 0) || (n == 3 && strncasecmp(s, "wss", 3) == 0))
        return "https";
    return NULL;
}

static int default_port(const char *scheme) { return strcmp(scheme, "https") == 0 ? 443 : 80; }

/*
 * Parse "scheme://host[:port]" (one trailing '/' tolerated) into *o; a
 * missing port becomes the scheme's default.  pattern: as parse_hostport.
 * Returns 0, or -1 if s is not such an origin.
 */
static int parse_origin(const char *s, int pattern, origin *o)
{
    const char *sep = strstr(s, "://");
    const char *rest;
    size_t n;

    if (!sep || !(o->scheme = parse_scheme(s, (size_t)(sep - s))))
        return -1;
    rest = sep + 3;
    n = strlen(rest);
    if (n && rest[n - 1] == '/')
        n--;
    if (parse_hostport(rest, n, pattern, o) < 0)
        return -1;
    if (o->port == PORT_NONE)
        o->port = default_port(o->scheme);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

/*
 * Django's is_same_domain: pattern equals host (any case), or pattern is
 * ".example.com" and host is example.com or ends with ".example.com".
 */
static int host_matches(const char *pattern, const char *host)
{
    size_t pl = strlen(pattern), hl = strlen(host);

    if (pattern[0] == '.' && pl > 1)
        return strcasecmp(pattern + 1, host) == 0 ||
               (hl > pl && strcasecmp(host + hl - pl, pattern) == 0);
    return strcasecmp(pattern, host) == 0;
}

static int is_loopback(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
           strcmp(host, "[::1]") == 0;
}

/* 1 if the Host header (may be NULL) names the origin's host and port; a
 * Host without port stands for the origin scheme's default port. */
static int is_own_origin(const origin *o, const char *host_hdr)
{
    origin h;

    if (!host_hdr || parse_hostport(host_hdr, strlen(host_hdr), 0, &h) < 0)
        return 0;
    if (h.port == PORT_NONE)
        h.port = default_port(o->scheme);
    return h.port == o->port && strcasecmp(h.host, o->host) == 0;
}

/* 1 if one allowed_origins entry admits origin o (see handshake.h). */
static int entry_matches(const char *entry, const origin *o)
{
    origin e;

    if (!entry)
        return 0;
    if (strcmp(entry, "*") == 0)
        return 1;
    if (strstr(entry, "://")) {
        if (parse_origin(entry, 1, &e) < 0 || strcmp(e.scheme, o->scheme) != 0)
            return 0;
    } else if (parse_hostport(entry, strlen(entry), 1, &e) < 0) {
        return 0;
    }
    if (e.port != PORT_NONE && e.port != PORT_ANY && e.port != o->port)
        return 0;
    return host_matches(e.host, o->host);
}

/*
 * Origin policy of handshake.h.  Beyond the header: ws/wss origins count
 * as http/https; a full-origin entry may use a ".example.com" host; a host
 * entry with a port ("example.com:8000") also requires that port.
 */
int ch_origin_allowed(const char *origin_hdr, const char *host, const ch_origin_policy *policy)
{
    origin o;

    if (!origin_hdr)
        return !(policy && policy->require_origin);
    if (parse_origin(origin_hdr, 0, &o) < 0)
        return 0;
    if (is_loopback(o.host) || is_own_origin(&o, host))
        return 1;
    for (size_t i = 0; policy && policy->allowed && i < policy->n_allowed; i++)
        if (entry_matches(policy->allowed[i], &o))
            return 1;
    return 0;
}

int ch_subprotocol_offered(const char *header, const char *name)
{
    const char *cur = header, *elem;
    size_t len, nlen;

    if (!header || !name || !*name)
        return 0;
    nlen = strlen(name);
    while ((elem = ch_header_list_next(&cur, &len)))
        if (len == nlen && memcmp(elem, name, len) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The whole handshake                                                 */
/* ------------------------------------------------------------------ */

/* 1 if any header `name` of req (repeats count as one list) has token. */
static int req_has_token(const ch_req *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->n_headers && i < CH_REQ_MAX_HEADERS; i++)
        if (req->names[i] && strcasecmp(req->names[i], name) == 0 &&
            ch_header_has_token(req->values[i], token))
            return 1;
    return 0;
}

static int fail(ch_handshake *out, int status, const char *reason)
{
    out->status = status;
    out->reason = reason;
    out->accept[0] = '\0';
    return -1;
}

/*
 * The checks of handshake.h, in its order; the first failure decides the
 * answer.  On success out->status is 0, out->reason NULL and out->accept
 * holds the Sec-WebSocket-Accept value.
 */
int ch_handshake_check(const ch_req *req, const ch_origin_policy *policy, ch_handshake *out)
{
    const char *version;

    if (req->method != HTTP_GET)
        return fail(out, 405, "bad_method");
    if (req->http_major < 1 || (req->http_major == 1 && req->http_minor < 1))
        return fail(out, 400, "bad_request");
    if (!req_has_token(req, "upgrade", "websocket"))
        return fail(out, 426, "not_websocket");
    if (!req_has_token(req, "connection", "upgrade"))
        return fail(out, 400, "bad_request");
    version = ch_req_header(req, "sec-websocket-version");
    if (!version || strcmp(version, "13") != 0)
        return fail(out, 426, "bad_version");
    if (ch_handshake_accept_key(ch_req_header(req, "sec-websocket-key"), out->accept) < 0)
        return fail(out, 400, "bad_key");
    if (!ch_origin_allowed(ch_req_header(req, "origin"), ch_req_header(req, "host"), policy))
        return fail(out, 403, "bad_origin");
    out->status = 0;
    out->reason = NULL;
    return 0;
}
