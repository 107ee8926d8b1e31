/*
 * http_reply.c -- the answers of http.c's requests: the status line and
 * headers, a whole body (ch_http_respond*, ch_http_error) or one written
 * piece by piece (ch_http_stream_*), keep-alive or close after it, and a
 * streamed request's body handed to its reader (ch_http_body_*).  Owns
 * nothing beyond the ch_http state it reads (http_impl.h).
 */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "conn.h"
#include "http_impl.h"
#include "log.h"
#include "metrics.h"

const char *ch_http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 422:
        return "Unprocessable Entity";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

/* A queue call for an answer failed (rc < 0): close the connection, and
 * count it if the output budget refused it. */
static void queue_failed(ch_conn *c, int rc)
{
    if (rc == -ENOBUFS) {
        ch_metric_count(CH_M_OVERFLOW_CLOSES_HTTP);
        ch_log(CH_LOG_WARN, "HTTP [%s] %llu bytes queued, over max_outbound_bytes: closing",
               ch_conn_peer(c), (unsigned long long)ch_conn_queued_bytes(c));
    }
    ch_conn_close(c);
}

/* Queue the status line and headers; returns 0 or -1 (connection closed). */
static int queue_head(ch_conn *c, int status, const char *ctype, const char *extra, size_t len)
{
    ch_http *h = c->http;
    int close_it;
    char head[1024];
    int n, rc;

    if (h && h->streamed && !h->body_done)
        h->must_close = 1; /* the rest of its body is never read */
    close_it = !h || h->must_close || c->app->stopping;

    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nServer: chanhost\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n",
                 status, ch_http_reason(status), ctype, len, extra ? extra : "",
                 close_it ? "close" : "keep-alive");
    ch_metric_http_status(status);
    rc = n < 0 || (size_t)n >= sizeof head ? -EINVAL : ch_conn_queue_copy(c, head, (size_t)n);
    if (rc < 0) {
        queue_failed(c, rc);
        return -1;
    }
    return 0;
}

/* After an answer: close, or wait for the next request. */
static void answered(ch_conn *c)
{
    ch_http *h = c->http;

    c->fresh = 0;
    if (h && h->streamed) {
        h->answered = 1;
        h->body_fn = NULL;
    }
    if (!h || h->must_close || c->app->stopping) {
        ch_conn_close_after_flush(c);
        return;
    }
    c->since_ms = uv_now(c->app->loop);
    ch_conn_arm_timer(c);
}

void ch_http_respond(ch_conn *c, int status, const char *ctype, const char *extra_headers,
                     const void *body, size_t len)
{
    int rc = 0;

    if (queue_head(c, status, ctype, extra_headers, len) < 0)
        return;
    if (len && !(c->http && c->http->is_head))
        rc = ch_conn_queue_copy(c, body, len);
    if (rc < 0) {
        queue_failed(c, rc);
        return;
    }
    answered(c);
}

void ch_http_respond_buf(ch_conn *c, int status, const char *ctype, const char *extra_headers,
                         ch_buf *body)
{
    int rc = 0;

    if (queue_head(c, status, ctype, extra_headers, body->len) < 0)
        return;
    if (body->len && !(c->http && c->http->is_head))
        rc = ch_conn_queue(c, body, CH_CONN_Q_REPLY);
    if (rc < 0) {
        queue_failed(c, rc);
        return;
    }
    answered(c);
}

void ch_http_close_after(ch_conn *c)
{
    if (c->http)
        c->http->must_close = 1;
}

void ch_http_error(ch_conn *c, int status, const char *extra_headers)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"error\": \"%s\"}\n", ch_http_reason(status));

    if (c->http && status != 404 && status != 405 && status != 403)
        c->http->must_close = 1;
    ch_http_respond(c, status, "application/json", extra_headers, body, (size_t)n);
}

void ch_http_body_read(ch_conn *c, ch_http_body_fn fn, void *arg)
{
    static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
    ch_http *h = c->http;
    const char *expect = ch_http_req_header(c, "expect");

    h->body_fn = fn;
    h->body_arg = arg;
    if (expect && strcasecmp(expect, "100-continue") == 0 &&
        ch_conn_queue_copy(c, go_on, sizeof go_on - 1) < 0) {
        ch_conn_close(c);
        return;
    }
    ch_http_body_more(c);
}

int ch_http_streamed(ch_conn *c)
{
    return c->http && c->http->streamed && !c->http->body_fn && !c->http->body_done;
}

void ch_http_body_more(ch_conn *c)
{
    ch_http *h = c->http;

    if (!h || c->closing || h->answered)
        return;
    h->suspended = 0;
    c->since_ms = uv_now(c->app->loop);
    ch_conn_arm_timer(c);
    ch_conn_read_start(c);
    ch_http_feed_pending(c, h);
}

int ch_http_stream_start(ch_conn *c, int status, const char *ctype, const char *extra_headers,
                         size_t len)
{
    return queue_head(c, status, ctype, extra_headers, len);
}

int ch_http_stream_more(ch_conn *c, const void *data, size_t len)
{
    int rc;

    if (!len || (c->http && c->http->is_head))
        return 0;
    rc = ch_conn_queue_copy(c, data, len);
    if (rc < 0) {
        queue_failed(c, rc);
        return -1;
    }
    return 0;
}

void ch_http_stream_end(ch_conn *c) { answered(c); }

void ch_http_stream_wait(ch_conn *c, void (*fn)(void *arg), void *arg)
{
    c->http->drain_fn = fn;
    c->http->drain_arg = arg;
    ch_conn_want_drain(c);
}

const char *ch_http_req_header(ch_conn *c, const char *name)
{
    ch_http *h = c->http;
    size_t i;

    for (i = 0; h && h->mem && i < h->n_headers; i++) {
        if (strcmp(h->mem + h->name_off[i], name) == 0) {
            const char *v = h->mem + h->value_off[i];

            return v + strspn(v, " \t");
        }
    }
    return NULL;
}

/* Read a decimal number from *s (advanced) into *out: 0, or -1 when there
 * are no digits or it overflows. */
static int range_number(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *out = v;
    return 0;
}

int ch_http_range(const char *value, uint64_t size, uint64_t *first, uint64_t *last)
{
    const char *p = value;
    uint64_t a = 0, b = UINT64_MAX;

    if (!p || strncmp(p, "bytes=", 6) != 0)
        return 0;
    p += 6 + strspn(p + 6, " \t");
    if (*p == '-') { /* the last b bytes */
        p++;
        if (range_number(&p, &b) != 0 || p[strspn(p, " \t")] != '\0')
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (range_number(&p, &a) != 0 || *p++ != '-')
        return 0;
    if (*p >= '0' && *p <= '9' && range_number(&p, &b) != 0)
        return 0;
    if (p[strspn(p, " \t")] != '\0' || b < a)
        return 0;
    if (a >= size)
        return -1;
    *first = a;
    *last = b >= size ? size - 1 : b;
    return 1;
}
