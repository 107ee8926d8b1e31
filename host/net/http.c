/*
 * http.c -- HTTP/1.1 requests on a connection: http_parser under the
 * config's limits, building a ch_req, dispatching it, writing answers,
 * keep-alive and pipelining.
 *
 * The parser is paused at the end of every request, so each request is
 * dispatched outside of http_parser's callbacks and in order; the bytes
 * after it are parsed only once it has been answered (or kept, if the
 * answer is asynchronous or the request was an upgrade).  Likewise while
 * the connection is paused for output (conn.h): the unparsed bytes wait in
 * `pending` and the resumed hook parses them once the queue has drained,
 * so a client pipelining requests without reading its answers gets at
 * most one answer queued past the pause threshold.
 *
 * A fresh connection gets its parser state (1 KB: the header offsets)
 * only when its first bytes arrive, so connections accepted but not yet
 * heard from (a burst of handshakes, idle sockets) cost none; a WebSocket
 * handshake usually arrives whole, and the state goes in the same read.
 * The ch_req a handler sees (2 KB of header pointers) lives on the stack
 * for the dispatch only: handlers copy what they keep.  An upgrade left
 * pending (its plugin decides after a store call or a login) keeps no
 * parser state: the upgrade copied the request, so the state goes (or,
 * when the client sent bytes after the request, all of it but those
 * bytes, for the accept), and a burst of slow handshakes leaves no 3 KB
 * holes between the connections' long-lived state.  Without a state, a
 * refusal's answer closes the connection, as must_close does.
 */
#include "http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"

enum { EL_NONE, EL_URL, EL_FIELD, EL_VALUE, EL_BODY };

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
    unsigned upgrade : 1; /* the last request was an upgrade */
    char *pending;        /* unparsed bytes kept for later */
    size_t pending_len;
};

static http_parser_settings settings;

/* Append bytes for element `el`; a new element starts after a NUL. */
static int arena_put(ch_http *h, int el, const char *at, size_t n)
{
    size_t need = h->len + n + 2;

    if (need > h->cap) {
        size_t ncap = h->cap ? h->cap : 512;
        char *m;

        while (ncap < need)
            ncap *= 2;
        m = realloc(h->mem, ncap);
        if (!m)
            return -ENOMEM;
        h->mem = m;
        h->cap = ncap;
    }
    if (h->el != el && h->el != EL_NONE)
        h->mem[h->len++] = '\0';
    h->el = el;
    memcpy(h->mem + h->len, at, n);
    h->len += n;
    return 0;
}

static ch_http *parser_http(http_parser *p) { return p->data; }

static int fail(ch_http *h, int status)
{
    h->error_status = status;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    ch_http *h = parser_http(p);

    h->len = 0;
    h->el = EL_NONE;
    h->url_len = h->body_len = h->header_bytes = h->n_headers = 0;
    h->in_request = 1;
    h->conn->since_ms = uv_now(h->conn->app->loop);
    ch_conn_arm_timer(h->conn);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    ch_http *h = parser_http(p);

    if (h->el != EL_URL)
        h->url_off = (uint32_t)h->len;
    h->url_len += n;
    if (h->url_len > h->conn->app->cfg.max_request_line)
        return fail(h, 414);
    return arena_put(h, EL_URL, at, n) ? fail(h, 500) : 0;
}

/* Count header bytes against max_header_bytes. */
static int header_bytes(ch_http *h, size_t n)
{
    h->header_bytes += n;
    return h->header_bytes > h->conn->app->cfg.max_header_bytes ? fail(h, 431) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    ch_http *h = parser_http(p);

    if (header_bytes(h, n))
        return -1;
    if (h->el != EL_FIELD) {
        if (h->n_headers >= h->conn->app->cfg.max_headers || h->n_headers >= CH_REQ_MAX_HEADERS)
            return fail(h, 431);
        if (arena_put(h, EL_FIELD, "", 0))
            return fail(h, 500);
        h->name_off[h->n_headers++] = (uint32_t)h->len;
    }
    return arena_put(h, EL_FIELD, at, n) ? fail(h, 500) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    ch_http *h = parser_http(p);

    if (header_bytes(h, n))
        return -1;
    if (h->el != EL_VALUE) {
        if (arena_put(h, EL_VALUE, "", 0))
            return fail(h, 500);
        h->value_off[h->n_headers - 1] = (uint32_t)h->len;
    }
    return arena_put(h, EL_VALUE, at, n) ? fail(h, 500) : 0;
}

static int on_headers_complete(http_parser *p)
{
    ch_http *h = parser_http(p);

    if (h->el == EL_FIELD && arena_put(h, EL_VALUE, "", 0) == 0)
        h->value_off[h->n_headers - 1] = (uint32_t)h->len; /* field with no value */
    if (p->content_length != ULLONG_MAX && p->content_length > h->conn->app->cfg.max_body_size)
        return fail(h, 413);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    ch_http *h = parser_http(p);

    if (h->el != EL_BODY) {
        if (arena_put(h, EL_BODY, "", 0))
            return fail(h, 500);
        h->body_off = (uint32_t)h->len;
    }
    h->body_len += n;
    if (h->body_len > h->conn->app->cfg.max_body_size)
        return fail(h, 413);
    return arena_put(h, EL_BODY, at, n) ? fail(h, 500) : 0;
}

static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1);
    return 0;
}

/* Trim blanks at both ends of s in place; returns the new start. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/*
 * Turn the arena into the ch_req r (the caller's; its strings point into
 * the arena but the path, which the caller frees): NUL-terminate, split
 * the target into path and query, decode the path, lower-case header
 * names.  Returns 0, or an HTTP status for a request that cannot be
 * served (400).
 */
static int build_request(ch_http *h, ch_req *r)
{
    char *q, *path;
    size_t i, qoff;

    if (arena_put(h, EL_NONE, "", 0) || arena_put(h, EL_BODY, "", 0))
        return 500;
    h->mem[h->len] = '\0';
    memset(r, 0, sizeof *r);
    r->target = h->mem + h->url_off;
    q = strchr(h->mem + h->url_off, '?');
    qoff = q ? (size_t)(q - h->mem) : 0;
    path = ch_percent_decode(r->target, q ? (size_t)(q - r->target) : strlen(r->target));
    if (!path || path[0] != '/') {
        free(path);
        return 400;
    }
    if (q)
        *q = '\0'; /* target keeps its query in the log only up to '?' */
    r->path = path;
    r->query = q ? h->mem + qoff + 1 : "";
    r->n_headers = h->n_headers;
    for (i = 0; i < h->n_headers; i++) {
        char *name = h->mem + h->name_off[i];
        char *s;

        for (s = name; *s; s++)
            if (*s >= 'A' && *s <= 'Z')
                *s = (char)(*s - 'A' + 'a');
        r->names[i] = name;
        r->values[i] = trim(h->mem + h->value_off[i]);
    }
    r->method = h->parser.method;
    r->method_name = http_method_str(h->parser.method);
    r->http_major = h->parser.http_major;
    r->http_minor = h->parser.http_minor;
    r->upgrade = h->parser.upgrade;
    r->keep_alive = http_should_keep_alive(&h->parser);
    r->body = h->body_len ? h->mem + h->body_off : "";
    r->body_len = h->body_len;
    return 0;
}

/* Append a handler to app's list (http.h); path is copied, the list is
 * the app's until ch_http_handlers_free. */
int ch_http_handle(ch_app *app, const char *path, int prefix, ch_http_match_fn match,
                   ch_http_handler_fn fn)
{
    ch_http_handler *n = realloc(app->http_handlers, (app->n_http_handlers + 1) * sizeof *n);
    char *p = path ? strdup(path) : NULL;

    if (n)
        app->http_handlers = n;
    if (!n || (path && !p)) {
        free(p);
        return -ENOMEM;
    }
    n[app->n_http_handlers++] = (ch_http_handler){p, prefix, match, fn};
    return 0;
}

/* Free the app's handler list and the copied paths. */
void ch_http_handlers_free(ch_app *app)
{
    size_t i;

    for (i = 0; i < app->n_http_handlers; i++)
        free(app->http_handlers[i].path);
    free(app->http_handlers);
    app->http_handlers = NULL;
    app->n_http_handlers = 0;
}

/* Does handler h want req? */
static int handler_wants(const ch_http_handler *h, ch_conn *c, const ch_req *req)
{
    if (h->path && (h->prefix ? strncmp(req->path, h->path, strlen(h->path)) != 0
                              : strcmp(req->path, h->path) != 0))
        return 0;
    return !h->match || h->match(c, req);
}

/* Send a complete request to the first registered handler wanting it. */
static void dispatch(ch_conn *c, ch_req *req)
{
    ch_app *app = c->app;
    size_t i;

    ch_metric_count(CH_M_HTTP_REQUESTS);
    ch_conn_proxy(c, ch_req_header(req, "x-forwarded-for"), ch_req_header(req, "x-real-ip"),
                  ch_req_header(req, "x-forwarded-proto"));
    for (i = 0; i < app->n_http_handlers; i++) {
        if (handler_wants(&app->http_handlers[i], c, req)) {
            app->http_handlers[i].fn(c, req);
            return;
        }
    }
    ch_http_error(c, 404, NULL);
}

/* Keep data[0..len) for later (after an async answer or an upgrade). */
static void keep_pending(ch_http *h, const char *data, size_t len)
{
    char *p;

    if (len == 0)
        return;
    p = realloc(h->pending, h->pending_len + len);
    if (!p) {
        ch_conn_close(h->conn);
        return;
    }
    memcpy(p + h->pending_len, data, len);
    h->pending = p;
    h->pending_len += len;
}

/* One complete request was parsed: answer it.  Returns 1 if parsing may
 * go on with the following bytes, 0 if not (suspended, upgraded, closed). */
static int complete_request(ch_conn *c, ch_http *h, const char *rest, size_t rest_len)
{
    ch_req req;
    int status;

    h->in_request = 0;
    status = build_request(h, &req);
    if (status) {
        h->must_close = 1;
        ch_http_error(c, status, NULL);
        return 0;
    }
    h->is_head = req.method == HTTP_HEAD;
    h->upgrade = req.upgrade != 0;
    if (!req.keep_alive)
        h->must_close = 1;
    if (req.upgrade)
        keep_pending(h, rest, rest_len);
    dispatch(c, &req);
    free((char *)req.path);
    if (c->http != h)
        return 0; /* freed: upgraded and accepted, or closed */
    if (h->upgrade && c->state == CH_CONN_WS_PENDING) {
        if (!h->pending_len) { /* the upgrade copied the request */
            c->http = NULL;
            ch_http_free(h);
            return 0;
        }
        free(h->mem);
        h->mem = NULL;
        h->len = h->cap = 0;
    }
    if (c->closing || c->state != CH_CONN_HTTP || h->upgrade)
        return 0;
    if (h->suspended) {
        keep_pending(h, rest, rest_len);
        return 0;
    }
    return !h->must_close;
}

void ch_http_feed(ch_conn *c, const char *data, size_t len)
{
    ch_http *h = c->http;

    while (len > 0 && !c->closing) {
        size_t n;
        enum http_errno e;

        if (c->out_paused) {
            keep_pending(h, data, len); /* parsed by http_resumed */
            return;
        }
        n = http_parser_execute(&h->parser, &settings, data, len);
        e = HTTP_PARSER_ERRNO(&h->parser);

        if (e == HPE_PAUSED) {
            http_parser_pause(&h->parser, 0);
            if (!complete_request(c, h, data + n, len - n))
                return;
            data += n;
            len -= n;
            continue;
        }
        if (e != HPE_OK) {
            h->must_close = 1;
            ch_http_error(c, h->error_status ? h->error_status : 400, NULL);
            return;
        }
        break;
    }
}

static void http_init_settings(void)
{
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
}

/* Give c new HTTP state (freed by http_gone or at the upgrade) and
 * HTTP's protocol table. */
/* Make c's parser state (c->http, freed by ch_http_free).  Returns 0 or
 * -ENOMEM. */
static int http_state_new(ch_conn *c)
{
    ch_http *h = calloc(1, sizeof *h);

    if (!h)
        return -ENOMEM;
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    h->conn = c;
    c->http = h;
    return 0;
}

/* The parser state is made by the first bytes (http_feed). */
int ch_http_open(ch_conn *c)
{
    if (!settings.on_url)
        http_init_settings();
    c->proto = &ch_http_proto;
    return 0;
}

void ch_http_free(ch_http *h)
{
    if (!h)
        return;
    free(h->mem);
    free(h->pending);
    free(h);
}

const char *ch_http_leftover(ch_conn *c, size_t *len)
{
    *len = c->http ? c->http->pending_len : 0;
    return c->http ? c->http->pending : NULL;
}

void ch_http_suspend(ch_conn *c)
{
    c->http->suspended = 1;
    ch_conn_read_stop(c);
}

/* Parse the bytes kept in h->pending (taken from h first: the parse may
 * keep new ones).  The kept copy is freed here. */
static void feed_pending(ch_conn *c, ch_http *h)
{
    char *kept = h->pending;
    size_t n = h->pending_len;

    h->pending = NULL;
    h->pending_len = 0;
    if (n)
        ch_http_feed(c, kept, n);
    free(kept);
}

/* The asynchronous answer was queued: parse what was kept, read again. */
void ch_http_resume(ch_conn *c)
{
    ch_http *h = c->http;

    h->suspended = 0;
    ch_conn_arm_timer(c);
    if (!c->closing && !h->must_close) {
        ch_conn_read_start(c);
        feed_pending(c, h);
    }
}

uint64_t ch_http_timeout_ms(ch_conn *c)
{
    ch_http *h = c->http;

    if (!h && c->fresh && c->state == CH_CONN_HTTP)
        return c->app->cfg.handshake_timeout; /* nothing heard yet */
    if (!h || h->suspended)
        return 0;
    if (c->fresh || h->in_request)
        return c->app->cfg.handshake_timeout;
    return c->app->cfg.keepalive_timeout;
}

/* ---- HTTP's protocol table (conn.h) --------------------------------- */

/* Bytes for the parser (borrowed). */
static void http_feed(ch_conn *c, const char *data, size_t len)
{
    if (!c->http && c->fresh && c->state == CH_CONN_HTTP && http_state_new(c) != 0) {
        ch_log(CH_LOG_ERROR, "connection [%s]: out of memory for a request", ch_conn_peer(c));
        ch_conn_close(c);
        return;
    }
    if (c->http)
        ch_http_feed(c, data, len);
}

/* The request or keep-alive deadline, absolute loop ms (0: none). */
static uint64_t http_deadline(ch_conn *c)
{
    uint64_t t = ch_http_timeout_ms(c);

    return t ? c->since_ms + t : 0;
}

/* No complete request in time (or keep-alive over): close; a connection
 * that never sent one counts as a handshake timeout. */
static void http_timer(ch_conn *c)
{
    if (c->fresh)
        ch_metric_handshake_failure("timeout");
    ch_conn_close(c);
}

/* The connection is closing: free the HTTP state. */
static void http_gone(ch_conn *c)
{
    if (c->http) {
        ch_http_free(c->http);
        c->http = NULL;
    }
}

/* The output queue drained after a pause: parse the requests that waited
 * (not while an answer is pending or an upgrade owns the kept bytes). */
static void http_resumed(ch_conn *c)
{
    ch_http *h = c->http;

    if (h && c->state == CH_CONN_HTTP && !h->suspended && !h->must_close && !h->upgrade)
        feed_pending(c, h);
}

/* Graceful stop: close idle connections, finish answers being written. */
static void http_shutdown(ch_conn *c)
{
    if (c->qlen == 0)
        ch_conn_close(c);
    else
        ch_conn_close_after_flush(c);
}

const ch_conn_proto ch_http_proto = {
    .feed = http_feed,
    .deadline = http_deadline,
    .timer = http_timer,
    .gone = http_gone,
    .shutdown = http_shutdown,
    .resumed = http_resumed,
};

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
               ch_conn_peer(c), (unsigned long long)c->queued_bytes);
    }
    ch_conn_close(c);
}

/* Queue the status line and headers; returns 0 or -1 (connection closed). */
static int queue_head(ch_conn *c, int status, const char *ctype, const char *extra, size_t len)
{
    ch_http *h = c->http;
    int close_it = !h || h->must_close || c->app->stopping;
    char head[1024];
    int n, rc;

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
