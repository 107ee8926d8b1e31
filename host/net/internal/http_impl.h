/*
 * http_impl.h -- the inside of an HTTP connection's state, shared by
 * http.c (parsing, dispatch, the protocol table) and http_reply.c
 * (answers, whole or streamed) only.
 */
#ifndef CH_HTTP_IMPL_H
#define CH_HTTP_IMPL_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

typedef struct ch_conn ch_conn;
typedef struct ch_http ch_http;

/* Why the parser paused: the request is complete, a streamed request's
 * headers are in (dispatch it), or its body's reader wants no more now. */
enum { W_COMPLETE, W_HEADERS, W_BODY };

struct ch_http {
    http_parser parser;
    ch_conn *conn;
    char *mem; /* the current request's bytes */
    size_t len, cap;
    int el; /* element being appended */
    uint32_t url_off, body_off;
    size_t url_len, body_len, header_bytes, n_headers;
    uint32_t name_off[CH_REQ_MAX_HEADERS], value_off[CH_REQ_MAX_HEADERS];
    int error_status;        /* a limit was hit inside a callback */
    unsigned in_request : 1; /* bytes of a request seen, not complete */
    unsigned suspended : 1;  /* answer pending asynchronously */
    unsigned must_close : 1; /* close after this answer */
    unsigned is_head : 1;
    unsigned upgrade : 1;   /* the last request was an upgrade */
    unsigned streamed : 1;  /* dispatched at its headers (app->http_streamed) */
    unsigned body_done : 1; /* ... and its body was read whole */
    unsigned answered : 1;  /* ... and it was answered */
    unsigned why : 2;       /* W_*: why the parser paused */
    char *pending;          /* unparsed bytes kept for later */
    size_t pending_len;
    int (*body_fn)(void *arg, const char *data, size_t len); /* ch_http_body_read's */
    void *body_arg;
    void (*drain_fn)(void *arg); /* ch_http_stream_wait's, or NULL */
    void *drain_arg;
};

/* Parse the bytes kept in h->pending (taken from h first: the parse may
 * keep new ones); the kept copy is freed here (http.c). */
void ch_http_feed_pending(ch_conn *c, ch_http *h);

#endif
