/*
 * http.h -- HTTP/1.1 on a connection: request parsing with http_parser
 * under hard limits, keep-alive, dispatch, and responses.
 *
 * Limits (from the config) and their answers: request line over
 * max_request_line -> 414; more than max_headers fields or more than
 * max_header_bytes of header text -> 431; a body over max_body_size
 * (Content-Length or chunked) -> 413; anything http_parser refuses -> 400.
 * Error answers close the connection.
 *
 * Dispatch of a complete request: to the first handler registered with
 * ch_http_handle (by whoever assembles the host: app.c registers the
 * WebSocket upgrade, /healthz, /metrics, /api/, /dev/plugins and the static
 * files, in that order) that matches; none: 404.  http.c names none of
 * them.
 *
 * Pipelining: requests are answered in order.  While an answer is being
 * prepared asynchronously (a static file read on the thread pool), reading
 * stops and the unparsed input is kept; ch_http_resume continues.  While
 * the connection is paused for output (conn.h), the unparsed input is
 * kept the same way and parsed once the queue has drained.  An answer the
 * output budget refuses closes the connection (counted).
 */
#ifndef CH_HTTP_H
#define CH_HTTP_H

#include <stddef.h>

#include "conn.h"
#include "msg.h"
#include "request.h"

typedef struct ch_app ch_app;
typedef struct ch_conn ch_conn;
typedef struct ch_http ch_http;

/* Answers a request on c (both borrowed for the call). */
typedef void (*ch_http_handler_fn)(ch_conn *c, const ch_req *req);
/* Non-zero if the handler wants req (borrowed). */
typedef int (*ch_http_match_fn)(ch_conn *c, const ch_req *req);

/* One registered handler (in app->http_handlers, owned by the app). */
struct ch_http_handler {
    char *path;             /* exact path, or prefix; NULL: match only */
    int prefix;             /* path is a prefix */
    ch_http_match_fn match; /* NULL, or asked when path is NULL/matched */
    ch_http_handler_fn fn;
};

/* Add a handler after those already registered: requests whose decoded
 * path equals path (starts with it if prefix; any path if path is NULL)
 * and, if match is set, that match accepts, go to fn.  path is copied.
 * Returns 0 or -ENOMEM. */
int ch_http_handle(ch_app *app, const char *path, int prefix, ch_http_match_fn match,
                   ch_http_handler_fn fn);

/* Forget every registered handler (ch_app_free). */
void ch_http_handlers_free(ch_app *app);

/* HTTP's protocol table (conn.h), for a connection going back to HTTP
 * after a refused upgrade. */
extern const ch_conn_proto ch_http_proto;

/* Start HTTP on a fresh connection (c->proto; c->http is made when the
 * first bytes arrive): the opener for ch_conn_accept.  Returns 0. */
int ch_http_open(ch_conn *c);

/* Free HTTP state (NULL is fine). */
void ch_http_free(ch_http *h);

/* Parse received bytes (borrowed: the loop's read buffer). */
void ch_http_feed(ch_conn *c, const char *data, size_t len);

/* Answer the current request.  body is copied (respond) or referenced
 * (respond_buf: the caller keeps its reference).  extra_headers: NULL or
 * complete lines each ending in "\r\n".  Closes the connection after the
 * answer when the request did not ask for keep-alive or status >= 400 on a
 * broken request. */
void ch_http_respond(ch_conn *c, int status, const char *ctype, const char *extra_headers,
                     const void *body, size_t len);
void ch_http_respond_buf(ch_conn *c, int status, const char *ctype, const char *extra_headers,
                         ch_buf *body);

/* Answer with a small JSON error body {"error": "<reason phrase>"}. */
void ch_http_error(ch_conn *c, int status, const char *extra_headers);

/* Close the connection after the next answer (failed handshakes). */
void ch_http_close_after(ch_conn *c);

/* The current request is answered asynchronously: stop reading until
 * ch_http_resume. */
void ch_http_suspend(ch_conn *c);
void ch_http_resume(ch_conn *c);

/* Bytes that arrived after the request that asked for an upgrade
 * (borrowed; valid until ch_http_free).  Sets *len. */
const char *ch_http_leftover(ch_conn *c, size_t *len);

/* "OK", "Not Found" ... for a status code. */
const char *ch_http_reason(int status);

/* Deadline bookkeeping: ms since c->since_ms allowed now (0: none). */
uint64_t ch_http_timeout_ms(ch_conn *c);

#endif
