/*
 * store_jtext.c -- JSON text written directly on the store's hot paths
 * (message.append's prepare on the loop, its event body on the engine's
 * thread): a growing buffer, and the compact text of flat values written
 * into it byte for byte as jansson's json_dumps(JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY) writes them.  Why not jansson: its
 * dumper sets up per call and writes through a callback per token, about
 * 1,500 instructions for one short string and 5,000 for a one-key object
 * (callgrind, docs/performance.md part 10), where this writes a few
 * hundred.  Anything that is not flat (arrays, reals, nested objects)
 * goes through jansson, so the text is always jansson's.  Owns nothing
 * beyond a buffer, which its caller frees.
 */
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>

/* The most keys an object may have to be written here (sorted by an
 * insertion sort on the stack); larger ones go through jansson. */
#define FLAT_KEYS 16

/* See store_impl.h. */
void ch_st_text_put(ch_st_text *b, const char *s, size_t n)
{
    size_t cap = b->cap ? b->cap : 512;
    char *p;

    if (b->failed)
        return;
    while (cap - b->len <= n)
        cap *= 2;
    if (cap != b->cap) {
        if (!(p = realloc(b->p, cap))) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* json_dump_callback's writer over ch_st_text_put (0, or -1 once out of
 * memory). */
static int put_cb(const char *s, size_t n, void *arg)
{
    ch_st_text *b = arg;

    ch_st_text_put(b, s, n);
    return b->failed ? -1 : 0;
}

/* See store_impl.h.  jansson's escapes: the quote, the backslash and the
 * five short control escapes, \u00XX (upper-case hex) for the other
 * bytes below 0x20; '/' and non-ASCII text as they are. */
void ch_st_text_str(ch_st_text *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t from = 0;
    char esc[7];

    ch_st_text_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = NULL;
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        switch (c) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            e = esc;
            elen = 6;
        }
        ch_st_text_put(b, s + from, i - from);
        ch_st_text_put(b, e, elen);
        from = i + 1;
    }
    ch_st_text_put(b, s + from, n - from);
    ch_st_text_put(b, "\"", 1);
}

/* See store_impl.h. */
void ch_st_text_int(ch_st_text *b, int64_t v)
{
    char num[24], *p = num + sizeof num;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    ch_st_text_put(b, p, (size_t)(num + sizeof num - p));
}

/* A scalar jansson writes as this file does (string, integer, true,
 * false, null): written, 0; else -1 and nothing written. */
static int put_scalar(ch_st_text *b, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        ch_st_text_str(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        ch_st_text_int(b, json_integer_value(v));
        return 0;
    case JSON_TRUE:
        ch_st_text_put(b, "true", 4);
        return 0;
    case JSON_FALSE:
        ch_st_text_put(b, "false", 5);
        return 0;
    case JSON_NULL:
        ch_st_text_put(b, "null", 4);
        return 0;
    default:
        return -1;
    }
}

/* Is v a scalar put_scalar writes? */
static int is_flat_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_integer(v) || json_is_boolean(v) || json_is_null(v);
}

/* An object of at most FLAT_KEYS flat scalars, keys in byte order (as
 * JSON_SORT_KEYS sorts them: strcmp): written, 0; else -1, nothing
 * written. */
static int put_flat_object(ch_st_text *b, const json_t *obj)
{
    const char *keys[FLAT_KEYS], *k;
    size_t n = 0, i;
    json_t *v;

    if (json_object_size(obj) > FLAT_KEYS)
        return -1;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!is_flat_scalar(v))
            return -1;
        for (i = n++; i > 0 && strcmp(keys[i - 1], k) > 0; i--)
            keys[i] = keys[i - 1];
        keys[i] = k;
    }
    ch_st_text_put(b, "{", 1);
    for (i = 0; i < n; i++) {
        if (i)
            ch_st_text_put(b, ",", 1);
        ch_st_text_str(b, keys[i], strlen(keys[i]));
        ch_st_text_put(b, ":", 1);
        put_scalar(b, json_object_get(obj, keys[i]));
    }
    ch_st_text_put(b, "}", 1);
    return 0;
}

/* See store_impl.h. */
void ch_st_text_json(ch_st_text *b, const json_t *v)
{
    if (!v) {
        b->failed = 1;
        return;
    }
    if (put_scalar(b, v) == 0 || (json_is_object(v) && put_flat_object(b, v) == 0))
        return;
    if (json_dump_callback(v, put_cb, b, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) != 0)
        b->failed = 1;
}
