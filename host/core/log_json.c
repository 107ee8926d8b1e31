/*
 * log_json.c -- owns the JSON form of a log line (log_json.h): escaping
 * any bytes into a JSON string and finding the message's key=value words.
 * The buffer it returns is the caller's.
 */
#include "log_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing output buffer; ok drops to 0 once an allocation failed. */
typedef struct out {
    char *s;
    size_t len, cap;
    int ok;
} out;

/* Append n bytes of d. */
static void put(out *o, const char *d, size_t n)
{
    if (!o->ok)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *s = realloc(o->s, cap);

        if (!s) {
            o->ok = 0;
            return;
        }
        o->s = s;
        o->cap = cap;
    }
    memcpy(o->s + o->len, d, n);
    o->len += n;
    o->s[o->len] = '\0';
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s[0..n) (1 to 4), or 0 if the
 * bytes there are not one (overlong forms and surrogates included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t want, i;
    unsigned long cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        want = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        want = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        want = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < want)
        return 0;
    for (i = 1; i < want; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((want == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (want == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return want;
}

/* Append s[0..n) as a JSON string, quotes included. */
static void put_str(out *o, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    char esc[8];
    size_t i = 0, k;

    put(o, "\"", 1);
    while (i < n) {
        if (u[i] == '"' || u[i] == '\\') {
            esc[0] = '\\';
            esc[1] = (char)u[i];
            put(o, esc, 2);
            i++;
        } else if (u[i] < 0x20 || u[i] == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", u[i]);
            put(o, esc, 6);
            i++;
        } else if ((k = utf8_len(u + i, n - i)) == 0) {
            puts_(o, "\\ufffd");
            i++;
        } else {
            put(o, s + i, k);
            i += k;
        }
    }
    put(o, "\"", 1);
}

static int key_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int key_char(char ch)
{
    return key_start(ch) || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
}

static int blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Is the key k[0..n) taken: a fixed field, or an earlier word's key? */
static int key_taken(const char *msg, const char *k, size_t n)
{
    static const char *const fixed[] = {"time", "level", "worker", "plugin", "message"};
    const char *p;
    size_t i;

    for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strlen(fixed[i]) == n && memcmp(fixed[i], k, n) == 0)
            return 1;
    for (p = msg; p < k; p++) /* an earlier "k=" starting a word */
        if ((p == msg || blank(p[-1])) && memcmp(p, k, n) == 0 && p[n] == '=')
            return 1;
    return 0;
}

/* The most key=value fields one line gets (the duplicate check is
 * quadratic in them). */
#define CH_LOG_JSON_MAX_PAIRS 32

/* Append ,"key":"value" for every key=value word of the message. */
static void put_pairs(out *o, const char *msg, size_t len)
{
    size_t i = 0, k, v, pairs = 0;

    while (i < len && pairs < CH_LOG_JSON_MAX_PAIRS) {
        while (i < len && blank(msg[i]))
            i++;
        k = i;
        if (i < len && key_start(msg[i]))
            while (i < len && key_char(msg[i]))
                i++;
        if (i > k && i < len && msg[i] == '=' && !key_taken(msg, msg + k, i - k)) {
            v = ++i;
            while (i < len && !blank(msg[i]))
                i++;
            put(o, ",", 1);
            put_str(o, msg + k, v - 1 - k);
            put(o, ":", 1);
            put_str(o, msg + v, i - v);
            pairs++;
        }
        while (i < len && !blank(msg[i]))
            i++;
    }
}

char *ch_log_json(const ch_log_parts *p, size_t *len)
{
    out o = {NULL, 0, 0, 1};
    char num[24];

    puts_(&o, "{\"time\":");
    put_str(&o, p->time, strlen(p->time));
    puts_(&o, ",\"level\":");
    put_str(&o, p->level, strlen(p->level));
    if (p->worker > 0) {
        snprintf(num, sizeof num, ",\"worker\":%d", p->worker);
        puts_(&o, num);
    }
    if (p->plugin) {
        puts_(&o, ",\"plugin\":");
        put_str(&o, p->plugin, p->plugin_len);
    }
    puts_(&o, ",\"message\":");
    put_str(&o, p->msg, p->msg_len);
    put_pairs(&o, p->msg, p->msg_len);
    puts_(&o, "}\n");
    if (!o.ok) {
        free(o.s);
        return NULL;
    }
    *len = o.len;
    return o.s;
}
