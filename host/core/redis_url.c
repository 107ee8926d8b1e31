/*
 * redis_url.c -- owns the syntax of the Redis channel layer's url: the
 * parser behind both the config check (config.c) and the Redis backend
 * (layer/layer_redis*.c), including sentinel urls and the space-separated
 * list of a sharded layer.  Pure: no I/O.  Includes core headers only.
 */
#include "redis_url.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define URL_HINT                                                                      \
    "expected redis://[:password@]host[:port][/db], unix:///path/redis.sock?db=N or " \
    "redis-sentinel://host[:port][,host[:port]...]/master[/db]"
#define SENTINEL_HINT \
    "expected redis-sentinel://[:password@]host[:port][,host[:port]...]/master[/db]"

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
        return url_err(err, errlen,
                       "bad redis url: put ':' before the password "
                       "(redis://:password@host)");
    if (pct_decode(s, (size_t)(colon - s), u->user, sizeof u->user) != 0 ||
        pct_decode(colon + 1, n - (size_t)(colon - s) - 1, u->password, sizeof u->password) != 0)
        return url_err(err, errlen,
                       "bad redis url: user or password has a bad %%-escape "
                       "or is too long");
    return 0;
}

/* "host[:port]" or "[v6][:port]" of a redis:// url (or of one sentinel)
 * into host (hostlen bytes) and *port (defport if absent). */
static int parse_hostport(const char *s, size_t n, char *hostout, size_t hostlen, int *portout,
                          int defport, char *err, size_t errlen)
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
    if (hlen == 0 || hlen >= hostlen)
        return url_err(err, errlen, "bad redis url: missing or too long host (" URL_HINT ")");
    snprintf(hostout, hostlen, "%.*s", (int)hlen, host);
    *portout = defport;
    if (port && (*portout = (int)number(port, (size_t)(end - port), 1, 65535)) < 0)
        return url_err(err, errlen, "bad redis url: port '%.*s' is not a number in 1..65535",
                       (int)(end - port), port);
    return 0;
}

/* "host:port" or "[v6]:port" into out. */
static void format_where(char *out, size_t outlen, const char *host, int port)
{
    if (strchr(host, ':'))
        snprintf(out, outlen, "[%s]:%d", host, port);
    else
        snprintf(out, outlen, "%s:%d", host, port);
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
    if ((rc = parse_hostport(s, alen, u->host, sizeof u->host, &u->port, CH_RL_DEFAULT_PORT, err,
                             errlen)) != 0)
        return rc;
    if (slash && slash[1] && (u->db = (int)number(slash + 1, strlen(slash + 1), 0, 99999)) < 0)
        return url_err(err, errlen, "bad redis url: database '%s' is not a number", slash + 1);
    format_where(u->where, sizeof u->where, u->host, u->port);
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
    return url_err(err, errlen,
                   "bad redis url: unknown parameter '%.*s' (db and password "
                   "are allowed)",
                   (int)klen, p);
}

/* unix:///path[?db=N][&password=P] */
static int parse_unix(const char *s, ch_rl_url *u, char *err, size_t errlen)
{
    const char *q = strchr(s, '?');
    size_t plen = q ? (size_t)(q - s) : strlen(s);

    u->is_unix = 1;
    if (plen == 0 || s[0] != '/')
        return url_err(err, errlen,
                       "bad redis url: unix:// needs an absolute socket path (" URL_HINT ")");
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

/* The comma-separated sentinels s[0..n) of a redis-sentinel:// url. */
static int parse_sentinels(const char *s, size_t n, ch_rl_url *u, char *err, size_t errlen)
{
    const char *end = s + n;

    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t len = comma ? (size_t)(comma - s) : (size_t)(end - s);
        ch_rl_sentinel *t = &u->sentinels[u->n_sentinels];
        int rc;

        if (u->n_sentinels == CH_RL_SENTINELS_MAX)
            return url_err(err, errlen, "bad redis url: more than %d sentinels",
                           CH_RL_SENTINELS_MAX);
        rc = parse_hostport(s, len, t->host, sizeof t->host, &t->port, CH_RL_DEFAULT_SENTINEL_PORT,
                            err, errlen);
        if (rc != 0)
            return rc;
        u->n_sentinels++;
        s += len + 1;
    }
    return 0;
}

/* redis-sentinel://[[user]:password@]host[:port][,...]/master[/db] */
static int parse_sentinel(const char *s, ch_rl_url *u, char *err, size_t errlen)
{
    const char *slash = strchr(s, '/'), *at, *name, *db;
    size_t alen = slash ? (size_t)(slash - s) : strlen(s), nlen;
    int rc;

    if (strpbrk(s, "?#"))
        return url_err(err, errlen,
                       "bad redis url: no query or fragment allowed (" SENTINEL_HINT ")");
    at = memrchr(s, '@', alen);
    if (at && (rc = parse_userinfo(s, (size_t)(at - s), u, err, errlen)) != 0)
        return rc;
    if (at) {
        alen -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    if ((rc = parse_sentinels(s, alen, u, err, errlen)) != 0)
        return rc;
    name = slash ? slash + 1 : "";
    db = strchr(name, '/');
    nlen = db ? (size_t)(db - name) : strlen(name);
    if (nlen == 0 || nlen >= sizeof u->master || memchr(name, ',', nlen) || memchr(name, ' ', nlen))
        return url_err(err, errlen,
                       "bad redis url: missing or bad master name (" SENTINEL_HINT ")");
    snprintf(u->master, sizeof u->master, "%.*s", (int)nlen, name);
    if (db && db[1] && (u->db = (int)number(db + 1, strlen(db + 1), 0, 99999)) < 0)
        return url_err(err, errlen, "bad redis url: database '%s' is not a number", db + 1);
    snprintf(u->where, sizeof u->where, "sentinel:%s", u->master);
    return 0;
}

int ch_rl_url_kind(const char *s)
{
    return !strncmp(s, "redis://", 8) || !strncmp(s, "unix://", 7) ||
           !strncmp(s, "redis-sentinel://", 17);
}

/* The number of words (separated by spaces or tabs) in s. */
static int count_words(const char *s)
{
    int n = 0;

    while (s && *(s += strspn(s, " \t"))) {
        n++;
        s += strcspn(s, " \t");
    }
    return n;
}

/* The url s[0..len) as the n-th (from 1) of a list of several (or not:
 * then errors do not name its position), into *u; a channels_redis url
 * (o not NULL) with its settings into *o. */
static int list_item(const char *s, size_t len, int n, int several, ch_rl_url *u, ch_cr_opts *o,
                     char *err, size_t errlen)
{
    const char *what = o ? "channels_redis url" : "redis url";
    char one[1024], why[256];
    int rc;

    if (n > CH_RL_SERVERS_MAX)
        return url_err(err, errlen, "more than %d redis servers", CH_RL_SERVERS_MAX);
    if (len >= sizeof one)
        return url_err(err, errlen, "%s %d is too long", what, n);
    snprintf(one, sizeof one, "%.*s", (int)len, s);
    rc = o ? ch_cr_url_parse(one, u, o, why, sizeof why) : ch_rl_url_parse(one, u, why, sizeof why);
    if (rc != 0)
        return several ? url_err(err, errlen, "%s %d: %s", what, n, why)
                       : url_err(err, errlen, "%s", why);
    return 0;
}

/* Non-zero if two channels_redis urls' settings differ. */
static int opts_differ(const ch_cr_opts *a, const ch_cr_opts *b)
{
    return strcmp(a->prefix, b->prefix) != 0 || a->capacity != b->capacity ||
           a->expiry_s != b->expiry_s || a->group_expiry_s != b->group_expiry_s;
}

/* The list parser behind ch_rl_url_list_parse (opts NULL) and
 * ch_cr_url_list_parse (every url's settings must equal the first's,
 * which go into *opts). */
static int url_list(const char *list, ch_rl_url **out, ch_cr_opts *opts, char *err, size_t errlen)
{
    ch_rl_url *urls = calloc(CH_RL_SERVERS_MAX + 1, sizeof *urls);
    int n = 0, rc = 0, several = count_words(list) > 1;
    ch_cr_opts o;

    *out = NULL;
    if (!urls)
        return -ENOMEM;
    while (list && rc == 0) {
        size_t len;

        list += strspn(list, " \t");
        if (!*list)
            break;
        len = strcspn(list, " \t");
        rc = list_item(list, len, n + 1, several, &urls[n], opts ? (n ? &o : opts) : NULL, err,
                       errlen);
        if (rc == 0 && opts && n && opts_differ(&o, opts))
            rc = url_err(err, errlen,
                         "channels_redis url %d: prefix, capacity, expiry and group_expiry must "
                         "be those of url 1",
                         n + 1);
        n++;
        list += len;
    }
    if (rc == 0 && n == 0)
        rc = url_err(err, errlen, "no redis url");
    if (rc != 0) {
        free(urls);
        return rc;
    }
    *out = urls;
    return n;
}

int ch_rl_url_list_parse(const char *list, ch_rl_url **out, char *err, size_t errlen)
{
    return url_list(list, out, NULL, err, errlen);
}

int ch_cr_url_list_parse(const char *list, ch_rl_url **out, ch_cr_opts *opts, char *err,
                         size_t errlen)
{
    return url_list(list, out, opts, err, errlen);
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
    if (!strncmp(url, "redis-sentinel://", 17))
        return parse_sentinel(url + 17, out, err, errlen);
    return url_err(err, errlen, "'%.16s...' is not a redis url (" URL_HINT ")", url);
}

/* ---- channels_redis:// ------------------------------------------------ */

#define CR_HINT                                                                                  \
    "expected channels_redis://[:password@]host[:port][/db][?prefix=asgi&capacity=100&expiry=60" \
    "&group_expiry=86400], channels_redis+unix:///path/redis.sock?db=N&... or "                  \
    "channels_redis+sentinel://host[:port][,host[:port]...]/master[/db][?...]"

/* One "name=value" of a channels_redis query: a layer setting into opts,
 * or (unix only) a connection parameter appended to conn.  Returns 0 or
 * -EINVAL. */
static int cr_param(const char *p, size_t n, ch_cr_opts *o, int is_unix, char *conn, size_t connlen,
                    char *err, size_t errlen)
{
    static const char *const nums[] = {"capacity", "expiry", "group_expiry"};
    unsigned *const dst[] = {&o->capacity, &o->expiry_s, &o->group_expiry_s};
    const char *eq = memchr(p, '=', n);
    size_t klen = eq ? (size_t)(eq - p) : n, vlen = eq ? n - klen - 1 : 0;

    if (eq && klen == 6 && !memcmp(p, "prefix", 6)) {
        if (pct_decode(eq + 1, vlen, o->prefix, sizeof o->prefix) != 0)
            return url_err(err, errlen, "bad channels_redis url: prefix too long or badly escaped");
        return 0;
    }
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        long v;

        if (!eq || klen != strlen(nums[i]) || memcmp(p, nums[i], klen) != 0)
            continue;
        if ((v = number(eq + 1, vlen, 1, 999999999)) < 0)
            return url_err(err, errlen, "bad channels_redis url: %s '%.*s' is not a number > 0",
                           nums[i], (int)vlen, eq + 1);
        *dst[i] = (unsigned)v;
        return 0;
    }
    if (!is_unix)
        return url_err(err, errlen,
                       "bad channels_redis url: unknown parameter '%.*s' (prefix, capacity, "
                       "expiry and group_expiry are allowed)",
                       (int)klen, p);
    if (strlen(conn) + n + 2 >= connlen)
        return url_err(err, errlen, "bad channels_redis url: too long");
    strcat(conn, strchr(conn, '?') ? "&" : "?");
    strncat(conn, p, n);
    return 0;
}

int ch_cr_url_kind(const char *s)
{
    return !strncmp(s, "channels_redis://", 17) || !strncmp(s, "channels_redis+unix://", 22) ||
           !strncmp(s, "channels_redis+sentinel://", 26);
}

int ch_cr_url_parse(const char *url, ch_rl_url *out, ch_cr_opts *opts, char *err, size_t errlen)
{
    static const char tcp[] = "channels_redis://", unx[] = "channels_redis+unix://",
                      sen[] = "channels_redis+sentinel://";
    char conn[1024];
    const char *rest, *q, *scheme = "redis://";
    int is_unix;

    memset(opts, 0, sizeof *opts);
    snprintf(opts->prefix, sizeof opts->prefix, "asgi");
    opts->capacity = 100;
    opts->expiry_s = 60;
    opts->group_expiry_s = 86400;
    memset(out, 0, sizeof *out);
    if (!url || !ch_cr_url_kind(url))
        return url_err(err, errlen, "'%.24s...' is not a channels_redis url (" CR_HINT ")",
                       url ? url : "");
    is_unix = strncmp(url, unx, sizeof unx - 1) == 0;
    rest = url + sizeof tcp - 1;
    if (is_unix) {
        rest = url + sizeof unx - 1;
        scheme = "unix://";
    } else if (!strncmp(url, sen, sizeof sen - 1)) {
        rest = url + sizeof sen - 1;
        scheme = "redis-sentinel://";
    }
    q = strchr(rest, '?');
    if (strlen(rest) + 20 >= sizeof conn)
        return url_err(err, errlen, "bad channels_redis url: too long");
    snprintf(conn, sizeof conn, "%s%.*s", scheme, (int)(q ? (size_t)(q - rest) : strlen(rest)),
             rest);
    while (q && q[1]) {
        const char *p = q + 1, *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        int rc = cr_param(p, n, opts, is_unix, conn, sizeof conn, err, errlen);

        if (rc != 0)
            return rc;
        q = amp;
    }
    return ch_rl_url_parse(conn, out, err, errlen);
}

/* ---- the layer directive ---------------------------------------------- */

char *ch_rl_layer_value(char **args, int n, char *err, size_t errlen)
{
    int cr = n > 0 && ch_cr_url_kind(args[0]);
    size_t len = 1;
    char *joined, *end;
    ch_rl_url *urls;
    ch_cr_opts o;

    for (int i = 0; i < n; i++) {
        if (!ch_rl_url_kind(args[i]) && !ch_cr_url_kind(args[i])) {
            url_err(err, errlen,
                    "'%s' is not %sredis://..., unix://..., redis-sentinel://... or "
                    "channels_redis://...",
                    args[i], n == 1 ? "memory, " : "");
            return NULL;
        }
        if (ch_cr_url_kind(args[i]) != cr) {
            url_err(err, errlen, "url %d: channels_redis urls and redis urls cannot be mixed",
                    i + 1);
            return NULL;
        }
        len += strlen(args[i]) + 1;
    }
    if (!(end = joined = malloc(len))) {
        url_err(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        end += sprintf(end, "%s%s", i ? " " : "", args[i]);
    n = cr ? ch_cr_url_list_parse(joined, &urls, &o, err, errlen)
           : ch_rl_url_list_parse(joined, &urls, err, errlen);
    free(urls);
    if (n < 0) {
        free(joined);
        return NULL;
    }
    return joined;
}
