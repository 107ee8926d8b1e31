/*
 * http.h -- HTTP/1.1 on a connection: request parsing with http_parser
 * under hard limits, keep-alive, dispatch, and responses.
 *
 * Limits (from the config) and their answers: request line over
 * max_request_line -> 414; more than max_headers fields or more than
 * max_header_bytes of header text -> 431; a body over max_body_size
 * (Content-Length or chunked) -> 413 (not for a streamed request, whose
 * handler reads its body itself: below); anything http_parser refuses ->
 * 400.  Error answers close the connection.
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
#include <stdint.h>

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

/* ---- streamed requests and answers (http_reply.c) ----------------------
 *
 * A request app->http_streamed wants is dispatched once its headers are in
 * (req->body empty); its body waits until the handler hands it to a
 * reader.  An answer given before the whole body was read closes the
 * connection after it (Connection: close), the rest unread. */

/* A body reader: data[0..len) borrowed for the call; data NULL at the
 * end of the body.  Returns 0 for more, 1 to pause until
 * ch_http_body_more.  After the request was answered it is not called. */
typedef int (*ch_http_body_fn)(void *arg, const char *data, size_t len);

/* Hand the current streamed request's body to fn(arg, ...) from now on
 * (arg borrowed: valid until the end call or the answer) and read it;
 * a client that sent "Expect: 100-continue" is told to send it first (an
 * answer given before this call is the final one: RFC 9110 10.1.1). */
void ch_http_body_read(ch_conn *c, ch_http_body_fn fn, void *arg);

/* Non-zero if c's current request is streamed and its body unread. */
int ch_http_streamed(ch_conn *c);

/* The reader paused (returned 1) and wants more now. */
void ch_http_body_more(ch_conn *c);

/* An answer written in pieces: the head with Content-Length len (0 or
 * -1 when the connection was closed), the pieces (copied; left out for
 * HEAD; 0 or -1 closed), and the end (keep-alive or close). */
int ch_http_stream_start(ch_conn *c, int status, const char *ctype, const char *extra_headers,
                         size_t len);
int ch_http_stream_more(ch_conn *c, const void *data, size_t len);
void ch_http_stream_end(ch_conn *c);

/* Have fn(arg) called once c's output queue has been written (or c went
 * away: fn sees c->closing or c->http NULL); arg borrowed until then. */
void ch_http_stream_wait(ch_conn *c, void (*fn)(void *arg), void *arg);

/* A header (lower-case name) of the request being answered, for a
 * handler that answers after its dispatch (borrowed: valid until the
 * answer), or NULL. */
const char *ch_http_req_header(ch_conn *c, const char *name);

/* A Range header's value (RFC 9110: "bytes=FIRST-LAST", "bytes=FIRST-",
 * "bytes=-SUFFIX"; one range) over a body of size bytes: 1 with the
 * range in [*first, *last] (inclusive, clipped to the body), 0 to answer
 * the whole body (no range, another unit, several ranges, malformed), -1
 * when it cannot be satisfied (416). */
int ch_http_range(const char *value, uint64_t size, uint64_t *first, uint64_t *last);

/* "OK", "Not Found" ... for a status code. */
const char *ch_http_reason(int status);

/* Deadline bookkeeping: ms since c->since_ms allowed now (0: none). */
uint64_t ch_http_timeout_ms(ch_conn *c);

#endif
