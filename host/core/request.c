/*
 * request.c -- read-only helpers over a parsed request (request.h): header
 * lookup by name and token search in comma-separated header values.
 * Nothing here allocates; every returned pointer points into the request
 * or into the value passed in.
 */
#include "request.h"

#include <string.h>
#include <strings.h>

const char *ch_req_header(const ch_req *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_headers && i < CH_REQ_MAX_HEADERS; i++)
        if (r->names[i] && strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/*
 * Next element of a comma list: skips separators and blanks, returns the
 * element's start and trimmed length, and leaves *cursor after it (at its
 * comma or the terminating NUL).  Empty elements (",,") are skipped.
 */
const char *ch_header_list_next(const char **cursor, size_t *len)
{
    const char *p = cursor ? *cursor : NULL;
    const char *start, *end;

    if (!p)
        return NULL;
    while (*p == ',' || is_blank(*p))
        p++;
    if (!*p) {
        *cursor = p;
        return NULL;
    }
    start = p;
    while (*p && *p != ',')
        p++;
    end = p;
    while (end > start && is_blank(end[-1]))
        end--;
    *cursor = p;
    *len = (size_t)(end - start);
    return start;
}

int ch_header_has_token(const char *value, const char *token)
{
    const char *cur = value, *elem;
    size_t len, tlen;

    if (!value || !token || !*token)
        return 0;
    tlen = strlen(token);
    while ((elem = ch_header_list_next(&cur, &len)))
        if (len == tlen && strncasecmp(elem, token, len) == 0)
            return 1;
    return 0;
}
