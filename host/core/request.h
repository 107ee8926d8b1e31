/*
 * request.h -- one parsed HTTP/1.1 request, as http.c hands it on.
 *
 * The request owns one arena (`mem`) holding every string below, so a
 * request is freed with a single call.  Header names are stored lower-case;
 * repeated headers are kept as separate entries (ch_req_header returns
 * the first).
 */
#ifndef CH_REQUEST_H
#define CH_REQUEST_H

#include <stddef.h>

#define CH_REQ_MAX_HEADERS 128

typedef struct ch_req {
    int method;              /* http_parser's enum http_method (HTTP_GET ...) */
    const char *method_name; /* "GET" */
    unsigned short http_major, http_minor;
    const char *target; /* raw request target as sent: "/ws/x/?a=b" */
    const char *path;   /* percent-decoded path, no query: "/ws/x/" */
    const char *query;  /* raw query after '?', "" if none */
    size_t n_headers;
    const char *names[CH_REQ_MAX_HEADERS];  /* lower-case */
    const char *values[CH_REQ_MAX_HEADERS]; /* leading/trailing blanks cut */
    int upgrade;                            /* http_parser saw Connection: upgrade + Upgrade */
    int keep_alive;                         /* http_should_keep_alive() */
    size_t body_len;
    const char *body; /* NUL-terminated copy, "" if none */
} ch_req;

/* First value of header `name` (any case), or NULL. */
const char *ch_req_header(const ch_req *r, const char *name);

/* Non-zero if the comma-separated header value list contains `token`,
 * compared case-insensitively (for Connection: keep-alive, Upgrade). */
int ch_header_has_token(const char *value, const char *token);

/* Iterate a comma-separated header value: returns the next non-empty
 * element with blanks (space, tab) cut and stores its length in *len; the
 * element points into the value and is not NUL-terminated.  Advances
 * *cursor; returns NULL at the end (or when *cursor is NULL). */
const char *ch_header_list_next(const char **cursor, size_t *len);

#endif
