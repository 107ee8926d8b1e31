/*
 * router.c -- owns URL pattern compilation and matching with Django's path
 * converters (int, str, slug, uuid, path), the match parameters, and
 * percent-decoding of request paths.  See router.h for the contract.
 *
 * A compiled pattern is a short list of segments: literal text and
 * converters.  Matching walks the segments left to right; a converter
 * first takes the longest run it accepts and gives characters back when
 * what follows does not match (as a greedy regex would).  Failed
 * (segment, position) pairs are remembered when a pattern has two or more
 * converters, so a hostile path cannot make matching exponential.
 */
#include "router.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum seg_kind { SEG_LIT, SEG_INT, SEG_STR, SEG_SLUG, SEG_UUID, SEG_PATH };

#define UUID_LEN 36
#define MAX_SEGS (2 * CH_ROUTE_MAX_PARAMS + 1)

typedef struct seg {
    enum seg_kind kind;
    const char *lit; /* SEG_LIT: text (points into work, not terminated) */
    size_t len;      /* SEG_LIT: length of lit */
    size_t param;    /* converters: index into names[] */
} seg;

struct ch_pattern {
    char *text; /* the source, as given */
    char *work; /* a copy of text, leading '/' stripped, names terminated */
    size_t n_segs;
    seg segs[MAX_SEGS];
    size_t n_params;
    const char *names[CH_ROUTE_MAX_PARAMS]; /* point into work */
};

static const struct {
    const char *name;
    enum seg_kind kind;
} converters[] = {
    {"int", SEG_INT}, {"str", SEG_STR}, {"slug", SEG_SLUG}, {"uuid", SEG_UUID}, {"path", SEG_PATH},
};

#define STR_(x) #x
#define STR(x) STR_(x)

/* Write "what 'name'" (or just what, if name is NULL) into err[errlen]. */
static void set_err(char *err, size_t errlen, const char *what, const char *name)
{
    if (!err || errlen == 0)
        return;
    if (name)
        (void)snprintf(err, errlen, "%s '%s'", what, name);
    else
        (void)snprintf(err, errlen, "%s", what);
}

/* --- compiling ------------------------------------------------------- */

static int is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* Turn the inside of one "<...>" (terminated in place, in p->work) into a
 * converter segment.  Returns 0, or -1 with the reason in err. */
static int add_converter(ch_pattern *p, char *inside, char *err, size_t errlen)
{
    char *colon = strchr(inside, ':');
    const char *conv = "str", *name = inside;
    enum seg_kind kind = SEG_STR;
    size_t i;

    if (colon) {
        *colon = '\0';
        conv = inside;
        name = colon + 1;
        for (i = 0; i < sizeof converters / sizeof converters[0]; i++)
            if (strcmp(conv, converters[i].name) == 0)
                break;
        if (i == sizeof converters / sizeof converters[0]) {
            set_err(err, errlen, "unknown converter", conv);
            return -1;
        }
        kind = converters[i].kind;
    }
    if (!is_ident(name)) {
        set_err(err, errlen, "invalid parameter name", name);
        return -1;
    }
    for (i = 0; i < p->n_params; i++)
        if (strcmp(p->names[i], name) == 0) {
            set_err(err, errlen, "duplicate parameter", name);
            return -1;
        }
    if (p->n_params == CH_ROUTE_MAX_PARAMS) {
        set_err(err, errlen, "more than " STR(CH_ROUTE_MAX_PARAMS) " parameters", NULL);
        return -1;
    }
    p->names[p->n_params] = name;
    p->segs[p->n_segs++] = (seg){.kind = kind, .param = p->n_params++};
    return 0;
}

/* Split p->work into segments.  Returns 0, or -1 with the reason in err. */
static int parse_segments(ch_pattern *p, char *err, size_t errlen)
{
    char *s = p->work;

    while (*s) {
        char *lt = strchr(s, '<'), *gt;

        if (lt != s) {
            size_t len = lt ? (size_t)(lt - s) : strlen(s);
            p->segs[p->n_segs++] = (seg){.kind = SEG_LIT, .lit = s, .len = len};
            s += len;
            continue;
        }
        gt = strchr(lt + 1, '>');
        if (!gt) {
            set_err(err, errlen, "unterminated", "<");
            return -1;
        }
        *gt = '\0';
        if (strchr(lt + 1, '<')) {
            set_err(err, errlen, "unterminated", "<");
            return -1;
        }
        if (add_converter(p, lt + 1, err, errlen) < 0)
            return -1;
        s = gt + 1;
    }
    return 0;
}

/*
 * Compile `pattern`.  Returns a new pattern that the caller frees with
 * ch_pattern_free, or NULL with the reason in err (a syntax error, or
 * "out of memory").  The pattern keeps its own copy of the text.
 */
ch_pattern *ch_pattern_compile(const char *pattern, char *err, size_t errlen)
{
    ch_pattern *p = calloc(1, sizeof *p);

    if (!p || !(p->text = strdup(pattern)) ||
        !(p->work = strdup(pattern[0] == '/' ? pattern + 1 : pattern))) {
        set_err(err, errlen, "out of memory", NULL);
        ch_pattern_free(p);
        return NULL;
    }
    if (parse_segments(p, err, errlen) < 0) {
        ch_pattern_free(p);
        return NULL;
    }
    return p;
}

void ch_pattern_free(ch_pattern *p)
{
    if (!p)
        return;
    free(p->text);
    free(p->work);
    free(p);
}

const char *ch_pattern_text(const ch_pattern *p) { return p->text; }

/* --- matching -------------------------------------------------------- */

typedef struct matcher {
    const ch_pattern *p;
    const char *path;
    size_t len;
    unsigned char *failed; /* bit (seg * (len + 1) + pos), or NULL */
    size_t start[CH_ROUTE_MAX_PARAMS], span[CH_ROUTE_MAX_PARAMS];
} matcher;

static int is_slug_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* Length of the lowercase 8-4-4-4-12 uuid at s (UUID_LEN), or 0. */
static size_t uuid_at(const char *s, size_t avail)
{
    size_t i;

    if (avail < UUID_LEN)
        return 0;
    for (i = 0; i < UUID_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_lower_hex(s[i]))
            return 0;
    }
    return UUID_LEN;
}

/* The longest run at s (avail bytes) that converter `kind` accepts. */
static size_t longest_run(enum seg_kind kind, const char *s, size_t avail)
{
    size_t n = 0;

    switch (kind) {
    case SEG_UUID:
        return uuid_at(s, avail);
    case SEG_PATH:
        return avail;
    case SEG_INT:
        while (n < avail && s[n] >= '0' && s[n] <= '9')
            n++;
        return n;
    case SEG_SLUG:
        while (n < avail && is_slug_char(s[n]))
            n++;
        return n;
    case SEG_STR:
        while (n < avail && s[n] != '/')
            n++;
        return n;
    case SEG_LIT:
        break;
    }
    return 0;
}

static size_t memo_bit(const matcher *m, size_t si, size_t pos) { return si * (m->len + 1) + pos; }

/* Non-zero if segments si.. match the path from pos to its end; records
 * the converters' spans in m on success. */
static int match_from(matcher *m, size_t si, size_t pos)
{
    const seg *sg;
    size_t run, n, shortest;

    if (si == m->p->n_segs)
        return pos == m->len;
    sg = &m->p->segs[si];
    if (sg->kind == SEG_LIT)
        return m->len - pos >= sg->len && memcmp(m->path + pos, sg->lit, sg->len) == 0 &&
               match_from(m, si + 1, pos + sg->len);
    if (m->failed && (m->failed[memo_bit(m, si, pos) / 8] & (1u << (memo_bit(m, si, pos) % 8))))
        return 0;
    run = longest_run(sg->kind, m->path + pos, m->len - pos);
    shortest = sg->kind == SEG_UUID ? UUID_LEN : 1; /* a uuid never shrinks */
    for (n = run; n >= shortest; n--) {
        m->start[sg->param] = pos;
        m->span[sg->param] = n;
        if (match_from(m, si + 1, pos + n))
            return 1;
    }
    if (m->failed)
        m->failed[memo_bit(m, si, pos) / 8] |= (unsigned char)(1u << (memo_bit(m, si, pos) % 8));
    return 0;
}

/* Copy the recorded spans into one malloc'd buffer owned by *out.
 * Returns 0 or -1 (out of memory, *out left empty). */
static int fill_params(const matcher *m, ch_route_params *out)
{
    size_t i, total = 0, off = 0;
    const ch_pattern *p = m->p;

    if (p->n_params == 0)
        return 0;
    for (i = 0; i < p->n_params; i++)
        total += m->span[i] + 1;
    out->buf = malloc(total);
    if (!out->buf)
        return -1;
    for (i = 0; i < p->n_params; i++) {
        memcpy(out->buf + off, m->path + m->start[i], m->span[i]);
        out->buf[off + m->span[i]] = '\0';
        out->names[i] = p->names[i];
        out->values[i] = out->buf + off;
        off += m->span[i] + 1;
    }
    out->n = p->n_params;
    return 0;
}

/*
 * Match the decoded `path` against p.  Returns 1 and fills *out (if not
 * NULL; the caller frees it with ch_route_params_free), 0 on no match,
 * -1 out of memory.  *out is left empty unless 1 is returned.
 */
int ch_pattern_match(const ch_pattern *p, const char *path, ch_route_params *out)
{
    matcher m = {.p = p};
    int r;

    if (out)
        memset(out, 0, sizeof *out);
    m.path = path[0] == '/' ? path + 1 : path;
    m.len = strlen(m.path);
    if (p->n_params >= 2) {
        if (m.len >= SIZE_MAX / MAX_SEGS - 1)
            return -1;
        m.failed = calloc(((m.len + 1) * p->n_segs + 7) / 8, 1);
        if (!m.failed)
            return -1;
    }
    r = match_from(&m, 0, 0);
    free(m.failed);
    if (r && out && fill_params(&m, out) < 0)
        return -1;
    return r;
}

void ch_route_params_free(ch_route_params *params)
{
    if (!params)
        return;
    free(params->buf);
    memset(params, 0, sizeof *params);
}

const char *ch_route_param(const ch_route_params *params, const char *name)
{
    size_t i;

    if (!params || !name)
        return NULL;
    for (i = 0; i < params->n; i++)
        if (strcmp(params->names[i], name) == 0)
            return params->values[i];
    return NULL;
}

/* --- percent-decoding ------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode %XX escapes of src[0..len) into a new malloc'd, NUL-terminated
 * string that the caller frees.  '+' is left as it is (this is for paths).
 * Returns NULL (errno EINVAL) on a '%' without two hex digits after it, on
 * "%00" or a raw NUL byte, or NULL (errno ENOMEM) out of memory.
 */
char *ch_percent_decode(const char *src, size_t len)
{
    char *out = malloc(len + 1), *o = out;
    size_t i;

    if (!out)
        return NULL;
    for (i = 0; i < len; i++) {
        int hi, lo;

        if (src[i] != '%') {
            if (src[i] == '\0')
                goto bad;
            *o++ = src[i];
            continue;
        }
        if (len - i < 3 || (hi = hex_value(src[i + 1])) < 0 || (lo = hex_value(src[i + 2])) < 0 ||
            (hi | lo) == 0)
            goto bad;
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
bad:
    free(out);
    errno = EINVAL;
    return NULL;
}
