/*
 * ws.c -- owns WebSocket connections once the upgrade is decided: the 101
 * answer, frames in through wslay, frames out through the shared output
 * queue, pings, the close handshake, and the connection's protocol table
 * (ch_ws_proto).  Messages go to the consumer through ws_handler (set by
 * runtime/upgrade.c, which owns the upgrade request and the teardown),
 * and the block of a connection's rarely used fields (ch_ws_rare).
 */
#include "ws.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "handshake.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

/* The consumer of every connection's events (ch_ws_set_handler). */
static const ch_ws_handler *ws_handler;

void ch_ws_set_handler(const ch_ws_handler *h) { ws_handler = h; }

#define CH_WS_CLOSE_WAIT_MS 3000 /* wait for the peer's close reply */

/* The bytes wslay's recv callback reads from: the current read. */
static const char *in_ptr;
static size_t in_len;

/* The connection whose context wslay is running (its callbacks' w): set
 * around wslay_event_recv and wslay_event_send, the only calls that call
 * back, and restored after them (a callback may run another connection's
 * send).  Contexts are made with no user data of their own, so an idle
 * one can serve any connection (ws_pool). */
static ch_ws *ws_cur;

/*
 * Idle wslay contexts kept for the next frame of any connection: a client
 * frame makes a context and its end frees it (ws_release_idle), so
 * without this each chat message costs two 4 KiB buffers from malloc and
 * their zeroing.  A context goes here only in the state a fresh one has
 * (ws_release_idle's checks); the pool holds at most WS_POOL_MAX (a
 * process-wide 140 KiB at most), and what does not fit is freed.
 */
#define WS_POOL_MAX 16
static wslay_event_context_ptr ws_pool[WS_POOL_MAX];
static unsigned ws_pool_n;

static ch_ws *ws_of_ep(ch_endpoint *ep) { return (ch_ws *)((char *)ep - offsetof(ch_ws, ep)); }

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    (void)user;
    if (in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > in_len)
        len = in_len;
    memcpy(buf, in_ptr, len);
    in_ptr += len;
    in_len -= len;
    return (ssize_t)len;
}

/*
 * wslay's own frames (pong, ping, close): each goes into the output queue
 * as one item, so wslay never keeps a partly sent frame and dropping a
 * backlog never splits one.  wslay hands over the header (WSLAY_MSG_MORE
 * set) and then the payload; the header waits in w->ohead.  A frame other
 * than a close that finds the queue over max_outbound_bytes is refused
 * before its first byte (wslay keeps it) and w->overflow tells ws_pump.
 */
static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    ch_ws *w = ws_cur;
    ch_buf *frame;
    int rc;

    (void)user;
    if (w->ohead_len == 0) { /* a frame starts */
        w->out_op = data[0] & 0x0f;
        if (w->out_op != WSLAY_CONNECTION_CLOSE && ch_conn_over_limit(w->conn)) {
            w->overflow = 1;
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
    }
    if (flags & WSLAY_MSG_MORE) {
        if (len > sizeof w->ohead - w->ohead_len) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        memcpy(w->ohead + w->ohead_len, data, len);
        w->ohead_len = (uint8_t)(w->ohead_len + len);
        return (ssize_t)len;
    }
    frame = ch_buf_new(w->ohead_len + len);
    if (!frame) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    memcpy(frame->data, w->ohead, w->ohead_len);
    memcpy(frame->data + w->ohead_len, data, len);
    w->ohead_len = 0;
    rc = ch_conn_queue(w->conn, frame,
                       w->out_op == WSLAY_CONNECTION_CLOSE ? CH_CONN_Q_FINAL : CH_CONN_Q_REPLY);
    ch_buf_unref(frame);
    if (rc == -ENOMEM) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

/* Copy a text message to the app's scratch buffer with a NUL after it. */
static const char *nul_terminated(ch_app *app, const uint8_t *data, size_t len)
{
    if (len + 1 > app->scratch_size) {
        size_t n = app->scratch_size ? app->scratch_size : 4096;
        char *s;

        while (n < len + 1)
            n *= 2;
        s = realloc(app->scratch, n);
        if (!s)
            return NULL;
        app->scratch = s;
        app->scratch_size = n;
    }
    if (len)
        memcpy(app->scratch, data, len);
    app->scratch[len] = '\0';
    return app->scratch;
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    ch_ws *w = ws_cur;
    const char *text;

    (void)ctx;
    (void)user;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        ch_metric_count(CH_M_FRAMES_IN);
        if (w->close_sent || w->conn->closing)
            return;
        text = nul_terminated(w->conn->app, arg->msg, arg->msg_length);
        if (!text) {
            ch_ws_close(w, 1011, "out of memory");
            return;
        }
        ws_handler->message(w, text, arg->msg_length, arg->opcode == WSLAY_BINARY_FRAME);
        break;
    case WSLAY_CONNECTION_CLOSE:
        if (arg->msg_length == 1) /* RFC 6455 5.5.1: a code is 2 bytes */
            w->proto_error = 1;
        else if (!w->close_sent) {
            w->close_code = arg->status_code ? arg->status_code : 1005;
        }
        break;
    case WSLAY_PONG:
        w->ping_out = 0;
        break;
    default:
        break;
    }
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

/* Header names a connection's strings block stores as one byte (ws.h):
 * what browsers and proxies send on an upgrade.  Append only: the codes
 * are positions in this table. */
static const char *const common_names[] = {
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "origin",
    "user-agent",
    "cookie",
    "authorization",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "pragma",
    "accept",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
    "forwarded",
    "referer",
};
_Static_assert(sizeof common_names / sizeof common_names[0] < 32,
               "codes are control characters, which no header name holds");

/* A common header name's code: its place in common_names, from 1 (ws.h). */
unsigned ch_ws_name_code(const char *name)
{
    for (unsigned i = 0; i < sizeof common_names / sizeof common_names[0]; i++)
        if (strcasecmp(common_names[i], name) == 0)
            return i + 1;
    return 0;
}

/* A stored header name as text: a code's table entry, else itself. */
static const char *stored_name(const char *p)
{
    unsigned code = (unsigned char)p[0];

    if (code >= 1 && code <= sizeof common_names / sizeof common_names[0] && p[1] == '\0')
        return common_names[code - 1];
    return p;
}

/* The value after name in the n "name\0value\0" pairs at p (header
 * names, possibly coded, compared without case if nocase), or NULL. */
static const char *pair_find(const char *p, uint32_t n, const char *name, int nocase)
{
    for (uint32_t i = 0; i < n; i++) {
        const char *v = p + strlen(p) + 1;

        if ((nocase ? strcasecmp(stored_name(p), name) : strcmp(p, name)) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

/* Value of a stored header (name lower-case), or NULL: the headers'
 * "name\0value\0" pairs follow the query (runtime/upgrade.c builds
 * them). */
const char *ch_ws_header(const ch_ws *w, const char *name)
{
    if (!w->req)
        return NULL;
    return pair_find(w->req->query + strlen(w->req->query) + 1, w->req->n_headers, name, 1);
}

/* Value of a route parameter, or NULL: its pairs follow the path. */
const char *ch_ws_param(const ch_ws *w, const char *name)
{
    return pair_find(w->path + strlen(w->path) + 1, w->n_params, name, 0);
}

ch_ws_rare *ch_ws_rare_get(ch_ws *w)
{
    if (!w->rare && !(w->rare = calloc(1, sizeof *w->rare)))
        ch_log(CH_LOG_ERROR, "WebSocket %s: out of memory", w->path);
    return w->rare;
}

void ch_ws_rare_free(ch_ws *w)
{
    if (w->rare) {
        free(w->rare->peer);
        free(w->rare->channel);
    }
    free(w->rare);
    w->rare = NULL;
}

/* w's context: an idle one from the pool, else a new one (the max message
 * size set afresh: a reload may have changed it). */
int ch_ws_start_wslay(ch_ws *w)
{
    if (w->ctx)
        return 0;
    if (ws_pool_n > 0)
        w->ctx = ws_pool[--ws_pool_n];
    else if (wslay_event_context_server_init(&w->ctx, &ws_callbacks, NULL) != 0)
        return CHANHOST_ERR_NOMEM;
    ch_metric_count(CH_M_WS_PARSERS);
    wslay_event_config_set_max_recv_msg_length(w->ctx, w->conn->app->cfg.max_message_size);
    return 0;
}

/*
 * Follow the frame boundaries of the bytes wslay is given (p, borrowed):
 * the header of the frame being read (its first two bytes are kept; the
 * extended length is gathered in rx_left, the mask only counted), then its
 * payload.  A data frame without FIN opens a fragmented message, a
 * continuation with FIN closes it; control frames change neither.  What
 * wslay rejects ends in a close, after which the context is kept anyway.
 */
static void ws_track(ch_ws *w, const uint8_t *p, size_t len)
{
    while (len > 0) {
        uint8_t len7 = w->rx_hdr[1] & 0x7f, ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        size_t need = 2;

        if (w->rx_hlen == 0 && w->rx_left > 0) { /* in a payload */
            size_t k = len < w->rx_left ? len : (size_t)w->rx_left;

            w->rx_left -= k;
            p += k;
            len -= k;
            continue;
        }
        if (w->rx_hlen < 2) {
            w->rx_hdr[w->rx_hlen] = *p;
            len7 = w->rx_hdr[1] & 0x7f;
            ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        } else if (w->rx_hlen < 2 + ext) {
            w->rx_left = (w->rx_left << 8) | *p; /* the extended length */
        }
        w->rx_hlen++;
        p++;
        len--;
        if (w->rx_hlen >= 2)
            need += ext + (w->rx_hdr[1] & 0x80 ? 4 : 0);
        if (w->rx_hlen < need)
            continue;
        uint8_t op = w->rx_hdr[0] & 0x0f, fin = w->rx_hdr[0] & 0x80;

        if (op == WSLAY_TEXT_FRAME || op == WSLAY_BINARY_FRAME)
            w->rx_frag = !fin;
        else if (op == WSLAY_CONTINUATION_FRAME && fin)
            w->rx_frag = 0;
        if (!ext)
            w->rx_left = len7;
        w->rx_hlen = 0;
    }
}

/*
 * Free w's wslay context when nothing is half done in it: no frame partly
 * read, no fragmented message open, nothing queued or half sent, no close
 * begun, and wslay not on the stack.  A fresh one starts in the same state
 * (ch_ws_start_wslay).
 */
static void ws_release_idle(ch_ws *w)
{
    wslay_event_context_ptr ctx = w->ctx;

    if (!ctx || w->conn->in_recv || w->close_sent || w->rx_hlen || w->rx_left || w->rx_frag ||
        w->ohead_len || w->overflow)
        return;
    if (!wslay_event_get_read_enabled(ctx) || !wslay_event_get_write_enabled(ctx) ||
        wslay_event_want_write(ctx) || wslay_event_get_queued_msg_count(ctx) ||
        wslay_event_get_close_sent(ctx) || wslay_event_get_close_received(ctx))
        return;
    if (ws_pool_n == WS_POOL_MAX) {
        ch_ws_free_wslay(w);
        return;
    }
    ws_pool[ws_pool_n++] = ctx; /* as fresh: it serves the next frame of any connection */
    w->ctx = NULL;
    ch_metric_set(CH_M_WS_PARSERS, ch_metric_get(CH_M_WS_PARSERS) - 1);
}

/* Free w's context, whatever its state (never pooled). */
void ch_ws_free_wslay(ch_ws *w)
{
    if (!w->ctx)
        return;
    wslay_event_context_free(w->ctx);
    w->ctx = NULL;
    ch_metric_set(CH_M_WS_PARSERS, ch_metric_get(CH_M_WS_PARSERS) - 1);
}

/* wslay_event_send or _recv (recv non-zero) on w's context, with w as the
 * callbacks' connection.  Returns wslay's result. */
static int ws_run(ch_ws *w, int recv)
{
    ch_ws *prev = ws_cur;
    int rc;

    ws_cur = w;
    rc = recv ? wslay_event_recv(w->ctx) : wslay_event_send(w->ctx);
    ws_cur = prev;
    return rc;
}

static void ws_overflow(ch_ws *w);

/*
 * After wslay ran (recv, a queued close or ping): move its frames into the
 * output queue and decide what the close state means for the TCP side.
 */
static void ws_pump(ch_ws *w)
{
    ch_conn *c = w->conn;

    if (c->closing || !w->ctx || c->in_recv)
        return; /* inside wslay_event_recv: ch_ws_feed pumps afterwards */
    if (ws_run(w, 0) != 0) {
        ch_conn_close(c);
        return;
    }
    if (w->overflow) {
        w->overflow = 0;
        ws_overflow(w);
        return;
    }
    if (!wslay_event_get_close_sent(w->ctx)) {
        ws_release_idle(w);
        return;
    }
    if (!w->close_sent) { /* wslay closed on its own: protocol error etc. */
        w->close_sent = 1;
        w->close_code = wslay_event_get_status_code_sent(w->ctx);
        c->since_ms = uv_now(c->app->loop);
        ch_conn_arm_timer(c);
    }
    if (wslay_event_get_close_received(w->ctx) || !wslay_event_get_read_enabled(w->ctx))
        ch_conn_close_after_flush(c);
}

/*
 * Close at once with `code`, past wslay: writing and reading are shut off
 * in wslay (whatever it still holds is never sent), a close frame goes
 * into the queue unless wslay already sent one (with the code of a close
 * already asked for, else `code`), and the TCP connection closes once it
 * is written, or CH_WS_CLOSE_WAIT_MS later.
 */
static void ws_abort(ch_ws *w, uint16_t code)
{
    ch_conn *c = w->conn;
    uint16_t sent = w->close_sent ? (uint16_t)w->close_code : code;
    uint8_t payload[2] = {(uint8_t)(sent >> 8), (uint8_t)(sent & 0xff)};
    ch_buf *frame = NULL;

    if (!w->ctx || !wslay_event_get_close_sent(w->ctx))
        frame = ch_ws_frame_new(CH_WS_OP_CLOSE, payload, sizeof payload);
    if (w->ctx) {
        wslay_event_shutdown_read(w->ctx);
        wslay_event_shutdown_write(w->ctx);
    }
    if (frame)
        ch_conn_queue(c, frame, CH_CONN_Q_FINAL);
    ch_buf_unref(frame);
    w->close_sent = 1;
    w->close_code = code;
    c->since_ms = uv_now(c->app->loop);
    ch_conn_close_after_flush(c);
    ch_conn_arm_timer(c);
}

/*
 * Fail the connection: wslay_event_recv could not accept what arrived (a
 * frame it rejects without a status code of its own, a 1-byte close
 * payload) or ran out of memory.  wslay may already have queued an empty
 * close frame; it is never sent: our own close frame with the right code
 * (1002, or 1011) goes out instead, then the TCP connection closes.
 */
static void ws_fail(ch_ws *w, int rc)
{
    ws_abort(w,
             rc == WSLAY_ERR_NOMEM ? WSLAY_CODE_INTERNAL_SERVER_ERROR : WSLAY_CODE_PROTOCOL_ERROR);
}

/* A wslay frame (pong, ping) found the queue over max_outbound_bytes: drop
 * the unsent backlog and close with 1013, as for data (counted). */
static void ws_overflow(ch_ws *w)
{
    ch_conn *c = w->conn;

    ch_metric_count(CH_M_OVERFLOW_CLOSES_WS);
    ch_log(CH_LOG_WARN, "WebSocket OVERFLOW %s [%s] queued %llu bytes, closing with 1013", w->path,
           ch_conn_peer(c), (unsigned long long)ch_conn_queued_bytes(c));
    ch_conn_discard_queued(c);
    ws_abort(w, 1013);
}

void ch_ws_feed(ch_conn *c, const char *data, size_t len)
{
    ch_ws *w = c->ws;
    int rc;

    ch_metric_add(CH_M_BYTES_IN, len);
    if (!w->ctx) {
        if (w->close_sent)
            return; /* aborted without a context: nothing more is read */
        if (ch_ws_start_wslay(w) != 0) {
            ws_abort(w, WSLAY_CODE_INTERNAL_SERVER_ERROR);
            return;
        }
    }
    if (!wslay_event_get_read_enabled(w->ctx))
        return;
    ws_track(w, (const uint8_t *)data, len);
    in_ptr = data;
    in_len = len;
    c->in_recv = 1;
    rc = ws_run(w, 1);
    c->in_recv = 0;
    in_len = 0;
    if (c->closing)
        return;
    if (c->close_pending) {
        ch_conn_close(c);
        return;
    }
    if (rc != 0 || w->proto_error)
        ws_fail(w, rc);
    else
        ws_pump(w);
}

/* Close codes a server may send (RFC 6455 7.4, IANA 1012-1014, apps). */
static int valid_close_code(int code)
{
    return code == 1000 || code == 1001 || code == 1002 || code == 1003 ||
           (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

int ch_ws_close(ch_ws *w, int code, const char *reason)
{
    ch_conn *c = w->conn;
    size_t rlen = reason ? strlen(reason) : 0;

    if (!valid_close_code(code))
        return CHANHOST_ERR_INVALID;
    if (c->closing || w->close_sent)
        return CHANHOST_ERR_CLOSED;
    if (!w->accepted) {
        /* inside connect, or pending: accept, then close with the code */
        int rc = ch_ws_accept(w, NULL);

        if (rc != 0)
            return rc;
    }
    if (rlen > 123)
        rlen = 123;
    if (ch_ws_start_wslay(w) != 0)
        return CHANHOST_ERR_NOMEM;
    if (wslay_event_queue_close(w->ctx, (uint16_t)code, (const uint8_t *)reason, rlen) != 0)
        return CHANHOST_ERR_CLOSED;
    w->close_sent = 1;
    w->close_code = code;
    c->since_ms = uv_now(c->app->loop);
    ws_pump(w);
    ch_conn_arm_timer(c);
    return CHANHOST_OK;
}

int ch_ws_send_frame(ch_ws *w, ch_buf *frame)
{
    ch_conn *c = w->conn;
    int rc;

    if (!w->accepted)
        return CHANHOST_ERR_STATE;
    if (w->close_sent || c->closing)
        return CHANHOST_ERR_CLOSED;
    rc = ch_conn_queue(c, frame, CH_CONN_Q_BOUNDED);
    if (rc == -ENOBUFS) {
        ch_metric_count(CH_M_SLOW_CLOSES);
        ch_metric_count(CH_M_OVERFLOW_CLOSES_WS);
        ch_log(CH_LOG_WARN, "WebSocket SLOW %s [%s] queued %llu bytes, closing with 1013", w->path,
               ch_conn_peer(c), (unsigned long long)ch_conn_queued_bytes(c));
        ch_conn_discard_queued(c);
        ch_ws_close(w, 1013, "slow consumer");
        return CHANHOST_ERR_CLOSED;
    }
    if (rc < 0)
        return rc == -ENOMEM ? CHANHOST_ERR_NOMEM : CHANHOST_ERR_CLOSED;
    ch_metric_count(CH_M_FRAMES_OUT);
    return CHANHOST_OK;
}

void ch_ws_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    ch_ws *w = ws_of_ep(ep);
    ch_buf *frame;

    (void)arg;
    if (!w->accepted || w->close_sent || w->conn->closing)
        return;
    ch_metric_count(CH_M_LAYER_DELIVERIES);
    if (ws_handler->group_message(w, msg))
        return;
    frame = ch_msg_frame(msg);
    if (frame)
        ch_ws_send_frame(w, frame);
}

/* Send a ping with a small payload and note when (in conn->since_ms,
 * which an open connection uses for nothing else until it closes). */
static void ws_ping(ch_ws *w, uint64_t now)
{
    struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"chanhost", 8};

    if (ch_ws_start_wslay(w) == 0 && wslay_event_queue_msg(w->ctx, &ping) == 0) {
        w->ping_out = 1;
        w->conn->since_ms = now;
        ws_pump(w);
    }
}

uint64_t ch_ws_deadline(ch_conn *c)
{
    ch_ws *w = c->ws;
    const ch_config *cfg = &c->app->cfg;
    uint64_t t = 0;

    if (w->close_sent)
        return c->since_ms + CH_WS_CLOSE_WAIT_MS;
    if (cfg->ping_interval)
        t = w->ping_out ? c->since_ms + cfg->ping_timeout : c->last_rx_ms + cfg->ping_interval;
    if (cfg->idle_timeout && (t == 0 || c->last_rx_ms + cfg->idle_timeout < t))
        t = c->last_rx_ms + cfg->idle_timeout;
    if (w->expires_ms && (t == 0 || w->expires_ms < t))
        t = w->expires_ms;
    return t;
}

void ch_ws_timer(ch_conn *c)
{
    ch_ws *w = c->ws;
    const ch_config *cfg = &c->app->cfg;
    uint64_t now = uv_now(c->app->loop);

    if (w->close_sent) {
        ch_conn_close(c); /* no close reply in time */
    } else if (w->expires_ms && now >= w->expires_ms) {
        ch_log(CH_LOG_INFO, "WebSocket EXPIRED %s [%s] token expired, closing with 4001", w->path,
               ch_conn_peer(c));
        ch_ws_close(w, 4001, "token expired");
    } else if (cfg->idle_timeout && now >= c->last_rx_ms + cfg->idle_timeout) {
        ch_ws_close(w, 1001, "idle timeout");
    } else if (w->ping_out && now >= c->since_ms + cfg->ping_timeout) {
        ch_log(CH_LOG_INFO, "WebSocket DISCONNECT %s [%s] no pong in time", w->path, ch_conn_peer(c));
        ch_conn_close(c);
    } else if (!w->ping_out && cfg->ping_interval && now >= c->last_rx_ms + cfg->ping_interval) {
        ws_ping(w, now);
    }
}

void ch_ws_shutdown(ch_conn *c)
{
    if (c->ws && c->ws->accepted)
        ch_ws_close(c->ws, 1001, "server shutdown");
    else
        ch_conn_close(c);
}

/* Build and queue the 101 answer.  Returns 0 or a CHANHOST_ERR_*. */
static int send_101(ch_ws *w, const char *subprotocol)
{
    char accept[32], head[512];
    const char *key = ch_ws_header(w, "sec-websocket-key");
    int n;

    if (!key || ch_handshake_accept_key(key, accept) != 0)
        return CHANHOST_ERR_INVALID;
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 101 Switching Protocols\r\nServer: chanhost\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                 accept, subprotocol ? "Sec-WebSocket-Protocol: " : "",
                 subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return CHANHOST_ERR_INVALID;
    return ch_conn_queue_copy(w->conn, head, (size_t)n) == 0 ? 0 : CHANHOST_ERR_CLOSED;
}

/*
 * Accept: answer 101, start wslay, feed what the client sent early, and
 * drop the HTTP state.  Called from connect (directly or through
 * api->accept) or later for a pending connection.
 */
int ch_ws_accept(ch_ws *w, const char *subprotocol)
{
    ch_conn *c = w->conn;
    const char *early;
    size_t early_len;

    if (w->accepted || c->closing || w->close_sent)
        return CHANHOST_ERR_STATE;
    if (!subprotocol)
        subprotocol = w->req ? w->req->subprotocol : NULL; /* chosen in connect, or
                                                              "Bearer" (auth) */
    if (subprotocol &&
        !ch_subprotocol_offered(ch_ws_header(w, "sec-websocket-protocol"), subprotocol))
        return CHANHOST_ERR_INVALID;
    if (ch_ws_start_wslay(w) != 0)
        return CHANHOST_ERR_NOMEM;
    if (send_101(w, subprotocol) != 0) {
        ch_conn_close(c);
        return CHANHOST_ERR_CLOSED;
    }
    w->accepted = 1;
    c->state = CH_CONN_WS;
    c->fresh = 0;
    c->last_rx_ms = uv_now(c->app->loop);
    ws_handler->opened(w);
    c->app->n_ws++;
    ch_log(CH_LOG_INFO, "WebSocket CONNECT %s [%s]", w->path, ch_conn_peer(c));
    early = ch_http_leftover(c, &early_len);
    if (early_len)
        ch_ws_feed(c, early, early_len);
    if (c->http) {
        ch_http_free(c->http);
        c->http = NULL;
    }
    if (!c->closing)
        ws_release_idle(w);
    ch_conn_read_start(c);
    ch_conn_arm_timer(c);
    return CHANHOST_OK;
}

/* ---- the WebSocket protocol table (conn.h) -------------------------- */

/* Open: frames.  Pending (the plugin has not decided): the HTTP parser
 * still owns the input. */
static void proto_feed(ch_conn *c, const char *data, size_t len)
{
    if (c->state == CH_CONN_WS)
        ch_ws_feed(c, data, len);
    else if (c->http)
        ch_http_feed(c, data, len);
}

/* Open: the ping / idle / close deadline.  Pending: the handshake's. */
static uint64_t proto_deadline(ch_conn *c)
{
    if (c->state == CH_CONN_WS)
        return ch_ws_deadline(c);
    return c->since_ms + c->app->cfg.handshake_timeout;
}

/* Open: pings, idle and close timeouts.  Pending: the plugin did not
 * decide in time. */
static void proto_timer(ch_conn *c)
{
    if (c->state == CH_CONN_WS) {
        ch_ws_timer(c);
        ch_conn_arm_timer(c);
        return;
    }
    ch_metric_handshake_failure("timeout");
    ch_conn_close(c);
}

/* The consumer's teardown first (the plugin's disconnect), then what is
 * left of the HTTP state of a connection still pending. */
static void proto_gone(ch_conn *c)
{
    if (c->ws)
        ws_handler->gone(c);
    if (c->http) {
        ch_http_free(c->http);
        c->http = NULL;
    }
}

/* Open: everything queued was written; the consumer may send more. */
static void proto_drained(ch_conn *c)
{
    if (c->state == CH_CONN_WS && c->ws && ws_handler->drained)
        ws_handler->drained(c->ws);
}

const ch_conn_proto ch_ws_proto = {
    .feed = proto_feed,
    .deadline = proto_deadline,
    .timer = proto_timer,
    .gone = proto_gone,
    .shutdown = ch_ws_shutdown,
    .drained = proto_drained,
};
