/*
 * config_syntax.c -- the words of a config line: the redis.conf-style
 * tokenizer (quotes, escapes, comments), numbers with their size and
 * duration units, and the list of diagnostics that every parsing step
 * appends to, an ADDR:PORT, and paths made absolute against their
 * file's directory.  config.c gives the words their meaning.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* --- numbers --------------------------------------------------------- */
/* A unit suffix and its factor; "" is the bare number. */
struct unit {
    const char *name;
    uint64_t mult;
};

/* Parse digits and a unit named in `units` (ending with {NULL, 0}) into
 * the number times the unit's factor.  Returns 0, or -1 if malformed or
 * it does not fit in 64 bits. */
static int scale(const char *s, const struct unit *units, uint64_t *out)
{
    uint64_t v = 0;
    const char *u = s;

    for (; *u >= '0' && *u <= '9'; u++) {
        if (v > (UINT64_MAX - (unsigned)(*u - '0')) / 10)
            return -1;
        v = v * 10 + (unsigned)(*u - '0');
    }
    if (u == s)
        return -1;
    for (; units->name; units++) {
        if (strcasecmp(u, units->name) != 0)
            continue;
        if (v > UINT64_MAX / units->mult)
            return -1;
        *out = v * units->mult;
        return 0;
    }
    return -1;
}

int ch_parse_duration(const char *s, uint64_t *ms)
{
    static const struct unit units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0},
    };
    return scale(s, units, ms);
}

int ch_parse_size(const char *s, uint64_t *bytes)
{
    static const struct unit units[] = {
        {"", 1},
        {"k", 1ull << 10},
        {"kb", 1ull << 10},
        {"m", 1ull << 20},
        {"mb", 1ull << 20},
        {"g", 1ull << 30},
        {"gb", 1ull << 30},
        {NULL, 0},
    };
    return scale(s, units, bytes);
}

int ch_config_parse_uint(const char *s, uint64_t max, uint64_t *v)
{
    static const struct unit plain[] = {{"", 1}, {NULL, 0}};

    return scale(s, plain, v) == 0 && *v <= max ? 0 : -1;
}

/* --- paths ------------------------------------------------------------ */

/* See config.h. */
char *ch_config_resolve(const char *base, const char *rel)
{
    char *out;

    if (rel[0] == '/' || !base)
        return strdup(rel);
    return asprintf(&out, "%s/%s", base, rel) < 0 ? NULL : out;
}

/* See config.h. */
char *ch_config_base_dir(const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    char *dir, *out;

    if (!slash)
        return getcwd(NULL, 0);
    if (slash == file)
        return strdup("/");
    dir = strndup(file, (size_t)(slash - file));
    out = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    return out;
}

/* --- diagnostics ----------------------------------------------------- */
/* Append one formatted line; on out of memory the line is dropped (the
 * callers count problems themselves, so the count stays right). */
void ch_diag_add(ch_diag *d, const char *fmt, ...)
{
    va_list ap;
    char *line, **lines = d->lines;
    size_t cap = d->n < d->cap ? d->cap : d->cap * 2 + 8;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    if (cap != d->cap && !(lines = reallocarray(d->lines, cap, sizeof *lines))) {
        free(line);
        return;
    }
    d->lines = lines;
    d->cap = cap;
    d->lines[d->n++] = line;
}

void ch_diag_free(ch_diag *d)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    memset(d, 0, sizeof *d);
}

/* --- tokenizer ------------------------------------------------------- */
/* The tokenizer's state: the word being built (buf, never longer than
 * the line) and the words so far (argv, sized for the most a line holds). */
typedef struct tok {
    char *buf;
    size_t len;
    char **argv;
    size_t argc;
} tok;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode the escape after a backslash in double quotes at *p into *c and
 * advance *p past it.  Returns NULL or the reason it is bad. */
static const char *dq_escape(const char **p, char *c)
{
    static const char from[] = "\"\\ntr", to[] = "\"\\\n\t\r";
    const char *s = *p, *hit = *s ? strchr(from, *s) : NULL;
    int hi, lo;

    if (hit) {
        *c = to[hit - from];
    } else if (*s == 'x') {
        if ((hi = hex_digit(s[1])) < 0 || (lo = hex_digit(s[2])) < 0)
            return "\\x needs two hex digits";
        if ((hi | lo) == 0)
            return "\\x00 is not allowed";
        *c = (char)(hi << 4 | lo);
        s += 2;
    } else {
        return *s ? "unknown escape (use \\\" \\\\ \\n \\t \\r \\xHH)" : "unterminated quote";
    }
    *p = s + 1;
    return NULL;
}

/* Copy one quoted part starting after its opening quote q at *p into the
 * current word, leaving *p after the closing quote.  Returns NULL or the
 * reason on a syntax error. */
static const char *quoted(tok *t, const char **p, char q)
{
    const char *s = *p, *why;
    char c;

    for (;;) {
        if (*s == '\0')
            return "unterminated quote";
        if (*s == q) {
            *p = s + 1;
            return NULL;
        }
        c = *s++;
        if (c == '\\' && q == '"' && (why = dq_escape(&s, &c)))
            return why;
        if (c == '\\' && q == '\'' && *s == '\'')
            c = *s++;
        t->buf[t->len++] = c;
    }
}

/* Read one word at *p (not a blank, not a comment) into t.  Returns NULL
 * or the reason it is bad. */
static const char *word(tok *t, const char **p)
{
    const char *s = *p, *why;

    while (*s && !is_blank(*s)) {
        if (*s == '"' || *s == '\'') {
            char q = *s++;
            if ((why = quoted(t, &s, q)))
                return why;
            if (*s && !is_blank(*s))
                return "a closing quote must be followed by a blank";
            continue;
        }
        t->buf[t->len++] = *s++;
    }
    *p = s;
    if (!(t->argv[t->argc] = strndup(t->buf, t->len)))
        return "out of memory";
    t->argc++;
    t->len = 0;
    return NULL;
}

/*
 * Split one line into words (see config.h).  On success returns the count
 * and sets *argv to a NULL-terminated array the caller frees with
 * ch_config_free_argv (an empty line gives 0 and an array of just NULL).
 * On a syntax error or out of memory returns -1, *argv NULL, reason in err.
 */
int ch_config_split(const char *line, char ***argv, char *err, size_t errlen)
{
    size_t len = strlen(line); /* n words take at least 2n-1 bytes */
    tok t = {.buf = malloc(len + 1), .argv = calloc(len / 2 + 2, sizeof(char *))};
    const char *p = line, *why = NULL;

    *argv = NULL;
    if (!t.buf || !t.argv)
        why = "out of memory";
    while (!why) {
        while (is_blank(*p))
            p++;
        if (*p == '\0' || *p == '#')
            break;
        why = word(&t, &p);
    }
    free(t.buf);
    if (why) {
        ch_config_free_argv(t.argv);
        if (err && errlen)
            (void)snprintf(err, errlen, "%s", why);
        return -1;
    }
    *argv = t.argv;
    return (int)t.argc;
}

void ch_config_free_argv(char **argv)
{
    char **a;

    if (!argv)
        return;
    for (a = argv; *a; a++)
        free(*a);
    free(argv);
}

/* Split an address and port (config.h). */
int ch_config_split_addr(const char *a, char *host, size_t hostlen, int *port)
{
    const char *colon, *hs = a;
    int family = AF_INET;
    unsigned char addr[sizeof(struct in6_addr)];
    uint64_t v;

    if (a[0] == '[') {
        colon = strstr(a, "]:");
        hs = a + 1;
        family = AF_INET6;
    } else {
        colon = strrchr(a, ':');
    }
    if (!colon || colon == hs || (size_t)(colon - hs) >= hostlen)
        return -1;
    memcpy(host, hs, (size_t)(colon - hs));
    host[colon - hs] = '\0';
    colon += family == AF_INET6 ? 2 : 1;
    if (inet_pton(family, host, addr) != 1 || ch_config_parse_uint(colon, 65535, &v) < 0)
        return -1;
    *port = (int)v;
    return 0;
}
