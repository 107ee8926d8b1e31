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
 * A request app->http_streamed wants pauses the parser at its headers
 * instead (on_headers_complete) and is dispatched then (streamed_pause);
 * its body goes to the reader the handler sets (http_reply.c,
 * ch_http_body_read) as it arrives, never into the arena, the parser
 * pausing whenever the reader asks; after its end the next request waits
 * for the answer, as an asynchronous one does.
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
#include "http_impl.h"
#include "log.h"
#include "metrics.h"

enum { EL_NONE, EL_URL, EL_FIELD, EL_VALUE, EL_BODY };

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
    h->streamed = h->body_done = h->answered = 0;
    h->why = W_COMPLETE;
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

/* Is the request whose headers are in one the app streams? */
static int app_streams(ch_http *h, http_parser *p)
{
    ch_app *app = h->conn->app;

    return app->http_streamed && !p->upgrade &&
           app->http_streamed(p->method, h->mem + h->url_off, h->url_len);
}

static int on_headers_complete(http_parser *p)
{
    ch_http *h = parser_http(p);

    if (h->el == EL_FIELD && arena_put(h, EL_VALUE, "", 0) == 0)
        h->value_off[h->n_headers - 1] = (uint32_t)h->len; /* field with no value */
    if (app_streams(h, p)) {
        h->streamed = 1;
        h->why = W_HEADERS;
        http_parser_pause(p, 1);
        return 0;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > h->conn->app->cfg.max_body_size)
        return fail(h, 413);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    ch_http *h = parser_http(p);

    if (h->streamed) { /* to the reader; after an answer, dropped */
        h->conn->since_ms = uv_now(h->conn->app->loop);
        if (h->body_fn && h->body_fn(h->body_arg, at, n) > 0) {
            h->why = W_BODY;
            http_parser_pause(p, 1);
        }
        return 0;
    }
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
    ch_http *h = parser_http(p);

    h->why = W_COMPLETE;
    if (h->streamed) {
        h->body_done = 1;
        if (h->body_fn)
            h->body_fn(h->body_arg, NULL, 0);
    }
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

/* Stop reading until the handler asks for more (the answer's resume, or
 * ch_http_body_more), keeping rest[0..rest_len). */
static void wait_handler(ch_conn *c, ch_http *h, const char *rest, size_t rest_len)
{
    keep_pending(h, rest, rest_len);
    h->suspended = 1;
    ch_conn_read_stop(c);
}

/* The parser paused in a streamed request (h->why): dispatch it at its
 * headers, or wait for its reader or its answer.  Returns 1 if parsing
 * may go on with rest (the body ended and the answer was given meanwhile),
 * 0 if not. */
static int streamed_pause(ch_conn *c, ch_http *h, const char *rest, size_t rest_len)
{
    ch_req req;
    int status;

    if (h->why == W_COMPLETE)
        h->in_request = 0;
    if (h->why == W_BODY || (h->why == W_COMPLETE && !h->answered)) {
        wait_handler(c, h, rest, rest_len);
        return 0;
    }
    if (h->why == W_COMPLETE)
        return !h->must_close && !c->closing;
    status = build_request(h, &req);
    if (status) {
        h->must_close = 1;
        ch_http_error(c, status, NULL);
        return 0;
    }
    h->is_head = 0;
    if (!req.keep_alive)
        h->must_close = 1;
    keep_pending(h, rest, rest_len); /* the body, for ch_http_body_read */
    dispatch(c, &req);
    free((char *)req.path);
    if (c->http == h && !c->closing && !h->body_fn && !h->answered)
        wait_handler(c, h, NULL, 0);
    return 0;
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
            if (h->streamed && !streamed_pause(c, h, data + n, len - n))
                return;
            if (!h->streamed && !complete_request(c, h, data + n, len - n))
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
void ch_http_feed_pending(ch_conn *c, ch_http *h)
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
        ch_http_feed_pending(c, h);
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

/* The connection is closing: free the HTTP state, then tell a streamed
 * answer waiting for the output to drain (it sees c->http NULL). */
static void http_gone(ch_conn *c)
{
    void (*fn)(void *) = c->http ? c->http->drain_fn : NULL;
    void *arg = c->http ? c->http->drain_arg : NULL;

    if (c->http) {
        ch_http_free(c->http);
        c->http = NULL;
    }
    if (fn)
        fn(arg);
}

/* The output queue was written: run a streamed answer's wait (once). */
static void http_drained(ch_conn *c)
{
    void (*fn)(void *) = c->http ? c->http->drain_fn : NULL;

    if (fn) {
        c->http->drain_fn = NULL;
        fn(c->http->drain_arg);
    }
}

/* The output queue drained after a pause: parse the requests that waited
 * (not while an answer is pending or an upgrade owns the kept bytes). */
static void http_resumed(ch_conn *c)
{
    ch_http *h = c->http;

    if (h && c->state == CH_CONN_HTTP && !h->suspended && !h->must_close && !h->upgrade)
        ch_http_feed_pending(c, h);
}

/* Graceful stop: close idle connections, finish answers being written. */
static void http_shutdown(ch_conn *c)
{
    if (ch_conn_qlen(c) == 0)
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
    .drained = http_drained,
};
