/*
 * parse.c -- a client frame's JSON in the common shape, decoded without
 * jansson's reader (compiled into each plugin, see chatcore.h; no state).
 * A chat frame is a flat object of a few keys with plain ASCII strings,
 * small integers, true, false or null; jansson's reader spends some 16,000
 * instructions on one (its stream, lexer and buffers).  cc_parse_flat
 * reads exactly that shape and builds the same object jansson would (same
 * keys in the same order, same values); anything else -- an escape, a
 * byte outside printable ASCII, a nested value, a real, a long integer, a
 * repeated key, a syntax error -- is left to json_loadb (the caller falls
 * back), so what is accepted, refused and answered stays jansson's.
 */
#include <stddef.h>
#include <string.h>

#include "chatcore.h"

#define INT_DIGITS_MAX 18 /* fits json_int_t without a range check */

/* Skip JSON whitespace from p (up to end). */
static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A plain string at p (p at its opening quote): printable ASCII without
 * '\\'.  Sets *s and *n to its bytes; returns the byte after the closing
 * quote, or NULL when it is not plain. */
static const char *plain_string(const char *p, const char *end, const char **s, size_t *n)
{
    const char *q = ++p;

    while (q < end && *q != '"') {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e || *q == '\\')
            return NULL;
        q++;
    }
    if (q >= end)
        return NULL;
    *s = p;
    *n = (size_t)(q - p);
    return q + 1;
}

/* A literal word w at p: its end, or NULL. */
static const char *word(const char *p, const char *end, const char *w, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

/* An integer at p of at most INT_DIGITS_MAX digits, as JSON writes one
 * ("-"?, no leading zero, no fraction or exponent).  Sets *v (new
 * reference); returns its end, or NULL when it is not that. */
static const char *small_int(const char *p, const char *end, json_t **v)
{
    const char *q = p;
    int neg = 0;
    json_int_t x = 0;
    size_t digits = 0;

    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    while (q < end && *q >= '0' && *q <= '9' && digits < INT_DIGITS_MAX) {
        x = x * 10 + (*q - '0');
        q++;
        digits++;
    }
    if (digits == 0 || (digits > 1 && q[-(ptrdiff_t)digits] == '0') ||
        (q < end && (*q == '.' || *q == 'e' || *q == 'E' || (*q >= '0' && *q <= '9'))))
        return NULL;
    *v = json_integer(neg ? -x : x);
    return *v ? q : NULL;
}

/* One value at p: its end and *v (new reference), or NULL. */
static const char *value(const char *p, const char *end, json_t **v)
{
    const char *s, *q = NULL;
    size_t n;

    *v = NULL;
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        if ((q = plain_string(p, end, &s, &n)) != NULL)
            *v = json_stringn_nocheck(s, n);
        break;
    case 't':
        if ((q = word(p, end, "true", 4)) != NULL)
            *v = json_true();
        break;
    case 'f':
        if ((q = word(p, end, "false", 5)) != NULL)
            *v = json_false();
        break;
    case 'n':
        if ((q = word(p, end, "null", 4)) != NULL)
            *v = json_null();
        break;
    default:
        return small_int(p, end, v);
    }
    return *v ? q : NULL;
}

/* See chatcore.h. */
json_t *cc_parse_flat(const char *data, size_t len)
{
    const char *p = data, *end = data + len, *k;
    json_t *o, *v;
    size_t kn;
    char key[CC_PARSE_KEY_MAX + 1];

    if (memchr(data, '\0', len))
        return NULL;
    p = ws(p, end);
    if (p >= end || *p != '{' || !(o = json_object()))
        return NULL;
    p = ws(p + 1, end);
    if (p < end && *p == '}')
        p++;
    else
        for (;;) {
            if (p >= end || *p != '"' || !(p = plain_string(p, end, &k, &kn)) ||
                kn > CC_PARSE_KEY_MAX)
                goto fail;
            memcpy(key, k, kn);
            key[kn] = '\0';
            p = ws(p, end);
            if (p >= end || *p != ':' || json_object_get(o, key))
                goto fail;
            if (!(p = value(ws(p + 1, end), end, &v)) || json_object_set_new_nocheck(o, key, v))
                goto fail;
            p = ws(p, end);
            if (p < end && *p == ',') {
                p = ws(p + 1, end);
                continue;
            }
            if (p >= end || *p != '}')
                goto fail;
            p++;
            break;
        }
    if (ws(p, end) == end)
        return o;
fail:
    json_decref(o);
    return NULL;
}
