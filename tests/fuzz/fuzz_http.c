/*
 * fuzz_http.c -- the HTTP request path: bytes through the real http.c
 * (http_parser under the config's limits, the request built, dispatch,
 * answers, keep-alive, pipelining, a suspended answer resumed, an upgrade
 * request's leftover bytes) and conn.c's output queue, on a connection
 * that is never connected (fake_conn.h).  Three handlers: /async answers
 * later (ch_http_suspend / ch_http_resume), an upgrade request is refused
 * with 426 (as a non-WebSocket route is), anything else under / is
 * answered with what the request held.  Every answer must start the
 * output with a status line.  Owns only the connection it is suspending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_conn.h"
#include "fuzz.h"
#include "request.h"

static ch_conn *suspended; /* the connection whose answer is pending */

/* /async: answer later, from after_feed. */
static void h_async(ch_conn *c, const ch_req *req)
{
    (void)req;
    FZ_CHECK(suspended == NULL);
    suspended = c;
    ch_http_suspend(c);
}

/* An upgrade: the leftover is there to look at, then refused. */
static int wants_upgrade(ch_conn *c, const ch_req *req)
{
    (void)c;
    return req->upgrade;
}

static void h_upgrade(ch_conn *c, const ch_req *req)
{
    size_t n;
    const char *rest = ch_http_leftover(c, &n);

    (void)req;
    FZ_CHECK(n == 0 || rest != NULL);
    ch_http_error(c, 426, "Sec-WebSocket-Version: 13\r\n");
}

/* Anything else: touch every part of the request, answer with the body. */
static void h_echo(ch_conn *c, const ch_req *req)
{
    char extra[600];
    size_t i, names = 0;

    FZ_CHECK(req->path[0] == '/' && req->n_headers <= CH_REQ_MAX_HEADERS);
    for (i = 0; i < req->n_headers; i++) {
        FZ_CHECK(ch_req_header(req, req->names[i]) != NULL);
        names += strlen(req->names[i]) + strlen(req->values[i]);
    }
    FZ_CHECK(strlen(req->body) <= req->body_len);
    snprintf(extra, sizeof extra, "X-Method: %s\r\nX-Query-Length: %zu\r\nX-Header-Bytes: %zu\r\n",
             req->method_name, strlen(req->query), names);
    ch_http_respond(c, 200, "application/octet-stream", extra, req->body, req->body_len);
}

/* Answer the suspended request and resume (which may suspend again), then
 * check that what was queued starts with a status line. */
static void after_feed(ch_conn *c)
{
    while (suspended == c && !c->closing) {
        suspended = NULL;
        ch_http_respond(c, 200, "text/plain", NULL, "later", 5);
        if (c->http)
            ch_http_resume(c);
    }
    suspended = NULL;
    if (ch_conn_qlen(c) > 0) {
        const ch_buf *first = c->q->items[c->q->head].buf;

        FZ_CHECK(first->len > 9 && memcmp(first->data, "HTTP/1.1 ", 9) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    ch_app *app = fz_app();

    if (!registered) {
        FZ_CHECK(ch_http_handle(app, "/async", 1, NULL, h_async) == 0);
        FZ_CHECK(ch_http_handle(app, NULL, 0, wants_upgrade, h_upgrade) == 0);
        FZ_CHECK(ch_http_handle(app, "/", 1, NULL, h_echo) == 0);
        registered = 1;
    }
    fz_http_run(data, size, after_feed);
    return 0;
}
