/*
 * conn.c -- TCP connections: accept, read into the shared buffer, the
 * bounded output queue and its backpressure (pause, resume, send timeout),
 * coalesced writes, the connections' deadlines (one heap, one uv_timer,
 * both in the app), close, and handing freed heap back to the system
 * after large queues.  Each writev's request is allocated here and freed
 * when it completes.
 *
 * Why one read buffer: every byte read is consumed (parsed, or copied by
 * wslay into its frame buffer) before the read callback returns, so no
 * connection needs a buffer of its own while idle; 100,000 idle clients
 * cost no read memory.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "heap.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "tls.h"

#define CH_WRITE_MAX_BUFS 64 /* iovecs per writev */
_Static_assert(CH_WRITE_MAX_BUFS <= UINT8_MAX, "ch_conn.inflight is a uint8_t");
/* conn.h: 360 bytes, one 368-byte heap chunk per connection (glibc adds 8
 * and rounds to 16); a field more costs every connection 16 bytes. */
_Static_assert(sizeof(ch_conn) <= 360, "ch_conn must stay in a 368-byte chunk");

/* libuv's unwritten bytes on c, saturated to fit ch_outq.stall_wq. */
static uint32_t wq_bytes(const ch_conn *c)
{
    return c->tcp.write_queue_size > UINT32_MAX ? UINT32_MAX : (uint32_t)c->tcp.write_queue_size;
}
/* What one queued item costs besides its bytes: the ring slot, the
 * ch_buf header and the allocator's own overhead (a flood of tiny pongs
 * must count for the memory it takes). */
#define CH_ITEM_COST (sizeof(ch_outq_item) + sizeof(ch_buf) + 16)

/* A paused connection was freed: the next flush trims the heap.  Process
 * wide, as glibc's heap is; loop thread only. */
static int trim_wanted;

static void on_close(uv_handle_t *h);
static void conn_free(ch_conn *c);
static void on_deadlines(uv_timer_t *t);
static void timers_sync(ch_app *app);
static int conn_mark_dirty(ch_conn *c);
static void conn_mark_dirty_or_close(ch_conn *c);

/* Link c into the app's list of connections. */
static void conn_link(ch_app *app, ch_conn *c)
{
    c->next = app->conns;
    if (app->conns)
        app->conns->prev = c;
    app->conns = c;
    app->n_conns++;
}

static void conn_unlink(ch_app *app, ch_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        app->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    app->n_conns--;
}

/* conn.h: the 4 bytes in place, or the 16 in c's own block (made on the
 * first IPv6 address, freed when the peer is IPv4 again or with c). */
int ch_conn_set_peer_ip(ch_conn *c, const uint8_t *addr, int v6)
{
    if (!v6) {
        if (c->peer_v6)
            free(c->peer_ip.v6);
        c->peer_v6 = 0;
        memcpy(c->peer_ip.v4, addr, 4);
        return 0;
    }
    if (!c->peer_v6) {
        uint8_t *b = malloc(16);

        if (!b) {
            ch_log(CH_LOG_ERROR, "connection: out of memory for its IPv6 address");
            memset(c->peer_ip.v4, 0, 4);
            c->peer_port = 0;
            c->forwarded = 0;
            return -ENOMEM;
        }
        c->peer_ip.v6 = b;
        c->peer_v6 = 1;
    }
    memcpy(c->peer_ip.v6, addr, 16);
    return 0;
}

/* Keep the peer address of c in binary (c->peer_*); "?:0" if unknown. */
static void conn_peer(ch_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

        if (ch_conn_set_peer_ip(c, (const uint8_t *)&a->sin6_addr, 1) == 0)
            c->peer_port = ntohs(a->sin6_port);
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

        ch_conn_set_peer_ip(c, (const uint8_t *)&a->sin_addr, 0);
        c->peer_port = ntohs(a->sin_port);
    }
}

/* The peer's address bytes: 16 if c->peer_v6, else 4 (borrowed). */
static const uint8_t *peer_bytes(const ch_conn *c)
{
    return c->peer_v6 ? c->peer_ip.v6 : c->peer_ip.v4;
}

char *ch_conn_peer_format(const ch_conn *c, char *buf)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (c->peer_port || c->peer_v6 || c->forwarded)
        inet_ntop(c->peer_v6 ? AF_INET6 : AF_INET, peer_bytes(c), ip, sizeof ip);
    snprintf(buf, CH_CONN_PEER_LEN, "%s:%d", ip, c->peer_port);
    return buf;
}

void ch_conn_proxy(ch_conn *c, const char *xff, const char *xrip, const char *xfp)
{
    const ch_config *cfg = &c->app->cfg;
    uint8_t peer[16], client[16];

    if (c->forwarded) /* a request before named a client: back to the TCP peer */
        conn_peer(c);
    c->forwarded = 0;
    c->https = c->tls != NULL; /* our own TLS listener, or a proxy's word below */
    if (!cfg->n_trusted_proxies)
        return;
    if (c->peer_v6) {
        memcpy(peer, c->peer_ip.v6, 16);
    } else {
        memset(peer, 0, 10);
        peer[10] = peer[11] = 0xff;
        memcpy(peer + 12, c->peer_ip.v4, 4);
    }
    if (!ch_cidr_match(cfg->trusted_proxies, cfg->n_trusted_proxies, peer))
        return;
    c->https |= (unsigned)ch_proxy_https(xfp);
    if (!ch_proxy_client(peer, xff, xrip, cfg->trusted_proxies, cfg->n_trusted_proxies, client))
        return;
    c->peer_port = 0;
    if (ch_conn_set_peer_ip(c, ch_ip_is_v4(client) ? client + 12 : client, !ch_ip_is_v4(client)))
        return;
    c->forwarded = 1;
}

const char *ch_conn_peer(const ch_conn *c)
{
    static char buf[CH_CONN_PEER_LEN];

    return ch_conn_peer_format(c, buf);
}

/*
 * Accept one connection.  Over max_connections the socket is accepted and
 * closed at once (so the kernel's backlog does not fill), and counted.
 */
void ch_conn_accept(ch_app *app, uv_stream_t *listener, ch_conn_open_fn open)
{
    ch_conn *c = calloc(1, sizeof *c);

    if (!c) {
        ch_log(CH_LOG_ERROR, "out of memory accepting a connection");
        return;
    }
    c->app = app;
    uv_tcp_init(app->loop, &c->tcp);
    c->tcp.data = c;
    conn_link(app, c);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        ch_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_peer(c);
    c->fresh = 1;
    c->since_ms = c->last_rx_ms = uv_now(app->loop);
    if (app->cfg.max_connections && app->n_conns > app->cfg.max_connections) {
        ch_metric_count(CH_M_CONN_REFUSED);
        ch_conn_close(c);
        return;
    }
    if (open(c) != 0) {
        ch_conn_close(c);
        return;
    }
    ch_metric_count(CH_M_CONN_ACCEPTED);
    ch_conn_read_start(c);
    ch_conn_arm_timer(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    ch_conn *c = h->data;

    (void)hint;
    buf->base = c->app->read_buf;
    buf->len = c->app->read_buf_size;
}

/* Bytes arrived: hand them to the protocol of the current state. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    ch_conn *c = s->data;

    if (n < 0) {
        ch_conn_close(c);
        return;
    }
    if (n == 0 || c->closing)
        return;
    c->last_rx_ms = uv_now(c->app->loop);
    if (c->tls) {
        ch_tls_feed(c, buf->base, (size_t)n);
        if (ch_conn_qlen(c) > 0 && !c->closing) /* queued while the handshake ran */
            conn_mark_dirty_or_close(c);
    } else if (c->proto) {
        c->proto->feed(c, buf->base, (size_t)n);
    }
}

/* Start or stop libuv's reading to match what the protocol wants and the
 * output pause allows. */
static void conn_sync_read(ch_conn *c)
{
    int want = c->reading && !c->out_paused && !c->closing;

    if (want && !c->rx_on) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->rx_on = 1;
        if (ch_tls_buffered(c)) { /* records that came before the stop */
            c->tls_pump = 1;
            conn_mark_dirty_or_close(c);
        }
    } else if (!want && c->rx_on) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->rx_on = 0;
    }
}

void ch_conn_read_start(ch_conn *c)
{
    if (c->closing)
        return;
    c->reading = 1;
    conn_sync_read(c);
}

void ch_conn_read_stop(ch_conn *c)
{
    c->reading = 0;
    conn_sync_read(c);
}

/* Queued bytes past which c stops reading: outbound_pause_bytes, at most
 * half of max_outbound_bytes. */
static uint64_t pause_bytes(const ch_conn *c)
{
    const ch_config *cfg = &c->app->cfg;
    uint64_t half = cfg->max_outbound_bytes / 2;

    return cfg->outbound_pause_bytes < half ? cfg->outbound_pause_bytes : half;
}

/* Over the pause threshold (c has a queue): stop reading, start the
 * send-timeout window. */
static void conn_pause(ch_conn *c)
{
    c->out_paused = 1;
    c->was_paused = 1;
    c->q->stall_ms = uv_now(c->app->loop);
    c->q->stall_wq = wq_bytes(c);
    ch_metric_count(CH_M_BACKPRESSURE_PAUSES);
    ch_log(CH_LOG_DEBUG, "connection [%s] paused: %llu bytes queued", ch_conn_peer(c),
           (unsigned long long)c->q->bytes);
    conn_sync_read(c);
    ch_conn_arm_timer(c);
}

/* Drained to half the threshold after a pause: the protocol goes on with
 * what it kept, then reading resumes if it still wants input. */
static void conn_resume(ch_conn *c)
{
    c->out_paused = 0;
    if (c->proto && c->proto->resumed)
        c->proto->resumed(c);
    if (c->closing)
        return;
    conn_sync_read(c);
    ch_conn_arm_timer(c);
}

/* Put c in the app's dirty array so the next flush writes it (an array,
 * grown by doubling and kept until ch_conn_timers_close, instead of a
 * link in every connection).  Returns 0, or -ENOMEM (logged; c is not
 * marked). */
static int conn_mark_dirty(ch_conn *c)
{
    ch_app *app = c->app;

    if (c->dirty)
        return 0;
    if (app->n_dirty == app->cap_dirty) {
        size_t cap = app->cap_dirty ? app->cap_dirty * 2 : 64;
        ch_conn **a = realloc(app->dirty, cap * sizeof *a);

        if (!a) {
            ch_log(CH_LOG_ERROR, "connection [%s]: out of memory marking its output",
                   ch_conn_peer(c));
            return -ENOMEM;
        }
        app->dirty = a;
        app->cap_dirty = cap;
    }
    c->dirty = 1;
    app->dirty[app->n_dirty++] = c;
    return 0;
}

/* conn_mark_dirty, closing c when that fails (its output could not go). */
static void conn_mark_dirty_or_close(ch_conn *c)
{
    if (conn_mark_dirty(c) < 0)
        ch_conn_close(c);
}

/* Make the queue, or grow its ring, to hold at least one more item (the
 * counters move with it).  Returns 0 or -ENOMEM (c->q unchanged). */
static int outq_grow(ch_conn *c)
{
    ch_outq *q = c->q, *nq;
    uint32_t ncap = q ? q->cap * 2 : 4;

    if (q && q->len < q->cap)
        return 0;
    nq = malloc(sizeof *nq + ncap * sizeof nq->items[0]);
    if (!nq)
        return -ENOMEM;
    *nq = q ? *q : (ch_outq){0};
    for (uint32_t i = 0; q && i < q->len; i++)
        nq->items[i] = q->items[(q->head + i) % q->cap];
    free(q);
    nq->cap = ncap;
    nq->head = 0;
    c->q = nq;
    return 0;
}

/* Is c's queue already past max_outbound_bytes?  (conn.h) */
int ch_conn_over_limit(const ch_conn *c)
{
    return ch_conn_queued_bytes(c) > c->app->cfg.max_outbound_bytes;
}

int ch_conn_queue(ch_conn *c, ch_buf *buf, int bounded)
{
    uint64_t cost = buf->len + CH_ITEM_COST;
    uint64_t max = c->app->cfg.max_outbound_bytes;

    if (c->closing || c->close_after_flush)
        return -EPIPE;
    if (bounded == CH_CONN_Q_BOUNDED && ch_conn_queued_bytes(c) + cost > max)
        return -ENOBUFS;
    if (bounded == CH_CONN_Q_REPLY && ch_conn_over_limit(c))
        return -ENOBUFS;
    if (conn_mark_dirty(c) < 0 || outq_grow(c) < 0)
        return -ENOMEM;
    c->q->items[(c->q->head + c->q->len) % c->q->cap] = (ch_outq_item){ch_buf_ref(buf)};
    c->q->len++;
    c->q->bytes += cost;
    if (!c->out_paused && c->q->bytes > pause_bytes(c))
        conn_pause(c);
    return 0;
}

int ch_conn_queue_copy(ch_conn *c, const void *data, size_t len)
{
    ch_buf *b = ch_buf_from(data, len);
    int rc;

    if (!b)
        return -ENOMEM;
    rc = ch_conn_queue(c, b, 0);
    ch_buf_unref(b);
    return rc;
}

/* Release the item at the head of the ring. */
static void outq_pop(ch_conn *c)
{
    ch_outq *q = c->q;
    ch_outq_item *it = &q->items[q->head];

    q->bytes -= it->buf->len + CH_ITEM_COST;
    ch_buf_unref(it->buf);
    q->head = (q->head + 1) % q->cap;
    q->len--;
}

/* Free the ring once nothing is queued: an idle connection keeps none. */
static void outq_release(ch_conn *c)
{
    if (!c->q || c->q->len > 0)
        return;
    free(c->q);
    c->q = NULL;
}

void ch_conn_discard_queued(ch_conn *c)
{
    while (ch_conn_qlen(c) > c->inflight) {
        ch_outq *q = c->q;
        uint32_t last = (q->head + q->len - 1) % q->cap;

        q->bytes -= q->items[last].buf->len + CH_ITEM_COST;
        ch_buf_unref(q->items[last].buf);
        q->len--;
    }
    outq_release(c);
}

static void conn_write(ch_conn *c);

/* The queue is empty and written: run the drained hook once if asked. */
static void conn_drained(ch_conn *c)
{
    if (!c->want_drain || c->writing || ch_conn_qlen(c) > 0 || c->closing || c->close_after_flush)
        return;
    c->want_drain = 0;
    if (c->proto && c->proto->drained)
        c->proto->drained(c);
}

/* Ask for the drained hook (see conn.h); a queue already empty is
 * noticed by the next flush. */
void ch_conn_want_drain(ch_conn *c)
{
    if (c->closing)
        return;
    c->want_drain = 1;
    if (ch_conn_qlen(c) == 0 && !c->writing)
        conn_mark_dirty_or_close(c);
}

/* A writev finished: free its request, drop what it wrote, then write
 * more or finish. */
static void on_write(uv_write_t *req, int status)
{
    ch_conn *c = req->data;

    free(req);
    c->writing = 0;
    while (c->inflight > 0) {
        outq_pop(c);
        c->inflight--;
    }
    outq_release(c);
    if (status < 0) {
        ch_conn_close(c);
        return;
    }
    if (c->closing)
        return;
    if (c->q)
        c->q->stall_ms = uv_now(c->app->loop); /* progress */
    if (c->out_paused && ch_conn_queued_bytes(c) <= pause_bytes(c) / 2)
        conn_resume(c);
    if (c->closing || c->writing)
        return;
    if (ch_conn_qlen(c) > 0)
        conn_write(c);
    else if (c->close_after_flush)
        ch_conn_close(c);
    else
        conn_drained(c);
}

/* TLS: encrypt bufs[0..n) (a close_notify after them if this write ends
 * a closing connection) into one block that is also the write request
 * (freed by on_write as any request); bufs[0] and *bytes become the
 * ciphertext.  NULL: out of memory or a TLS error (logged). */
static uv_write_t *tls_request(ch_conn *c, uv_buf_t *bufs, uint32_t n, uint64_t *bytes)
{
    size_t len;
    char *block = ch_tls_encrypt(c, bufs, n, c->close_after_flush && n == ch_conn_qlen(c),
                                 sizeof(uv_write_t), &len);

    if (!block)
        return NULL;
    bufs[0] = uv_buf_init(block + sizeof(uv_write_t), (unsigned)len);
    *bytes = len;
    return (uv_write_t *)block;
}

/* Write as much of the queue as fits in one writev. */
static void conn_write(ch_conn *c)
{
    uv_buf_t bufs[CH_WRITE_MAX_BUFS];
    uint32_t n = ch_conn_qlen(c) < CH_WRITE_MAX_BUFS ? ch_conn_qlen(c) : CH_WRITE_MAX_BUFS;
    uint64_t bytes = 0;
    uint32_t i;
    uv_write_t *req;

    if (c->writing || c->closing || n == 0 || (c->tls && !ch_tls_ready(c)))
        return;
    for (i = 0; i < n; i++) {
        ch_outq_item *it = &c->q->items[(c->q->head + i) % c->q->cap];

        bufs[i] = uv_buf_init((char *)it->buf->data, it->buf->len);
        bytes += bufs[i].len;
    }
    req = c->tls ? tls_request(c, bufs, n, &bytes) : malloc(sizeof *req);
    if (!req) {
        if (!c->tls) /* TLS said why */
            ch_log(CH_LOG_ERROR, "connection [%s]: out of memory writing", ch_conn_peer(c));
        ch_conn_close(c);
        return;
    }
    req->data = c;
    if (uv_write(req, (uv_stream_t *)&c->tcp, bufs, c->tls ? 1 : n, on_write) != 0) {
        free(req);
        ch_conn_close(c);
        return;
    }
    ch_metric_add(CH_M_BYTES_OUT, bytes);
    c->writing = 1;
    c->inflight = (uint8_t)n;
    c->q->stall_wq = wq_bytes(c);
}

void ch_app_flush(ch_app *app)
{
    if (trim_wanted) {
        trim_wanted = 0;
        ch_heap_trim();
    }
    /* connections marked while this runs are appended and written too */
    for (size_t i = 0; i < app->n_dirty; i++) {
        ch_conn *c = app->dirty[i];

        c->dirty = 0;
        if (c->tls_pump && !c->closing) {
            c->tls_pump = 0;
            ch_tls_pump(c);
        }
        if (c->closing)
            continue;
        if (ch_conn_qlen(c) > 0)
            conn_write(c);
        else if (c->close_after_flush && !c->writing)
            ch_conn_close(c);
        else
            conn_drained(c);
    }
    app->n_dirty = 0;
}

void ch_conn_close_after_flush(ch_conn *c)
{
    if (c->closing)
        return;
    c->close_after_flush = 1;
    ch_conn_read_stop(c);
    conn_mark_dirty_or_close(c);
}

/*
 * Close now.  The protocol state is torn down first (the plugin hears
 * disconnect here, while the connection is still valid), its deadline is
 * disarmed, then the handle is closed; memory goes in on_close.
 */
void ch_conn_close(ch_conn *c)
{
    if (c->closing)
        return;
    if (c->in_recv) {
        c->close_pending = 1; /* the parser is on the stack: its feed closes */
        return;
    }
    c->closing = 1;
    c->open_handles = 1; /* before gone: a hold it releases frees nothing yet */
    ch_conn_read_stop(c);
    if (c->proto)
        c->proto->gone(c);
    ch_theap_remove(&c->app->conn_deadlines, &c->tnode);
    if (c->app->conn_timer_on)
        timers_sync(c->app);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* The TCP handle reports here: free the connection unless held. */
static void on_close(uv_handle_t *h)
{
    ch_conn *c = h->data;

    if (--c->open_handles > 0 || c->holds > 0)
        return;
    conn_free(c);
}

void ch_conn_hold(ch_conn *c) { c->holds++; }

void ch_conn_release(ch_conn *c)
{
    if (--c->holds == 0 && c->closing && c->open_handles == 0)
        conn_free(c);
}

/* Free a closed connection whose handles and holds are all gone. */
static void conn_free(ch_conn *c)
{
    ch_app *app = c->app;

    while (ch_conn_qlen(c) > 0)
        outq_pop(c);
    free(c->q);
    if (c->peer_v6)
        free(c->peer_ip.v6);
    ch_tls_free(c);
    if (c->was_paused)
        trim_wanted = 1;
    conn_unlink(app, c);
    free(c);
    if (app->stopping && app->n_conns == 0 && app->drained)
        app->drained(app);
}

/* When does a paused connection's send timeout fall due?  0: never. */
static uint64_t send_deadline(const ch_conn *c)
{
    uint64_t t = c->app->cfg.send_timeout;

    return c->out_paused && t && c->q ? c->q->stall_ms + t : 0;
}

/* When must c next be looked at?  Absolute loop time in ms, 0 = never:
 * the protocol's deadline or the send timeout, whichever comes first. */
static uint64_t conn_deadline(ch_conn *c)
{
    uint64_t due = c->proto ? c->proto->deadline(c) : 0;
    uint64_t send = send_deadline(c);

    return send && (!due || send < due) ? send : due;
}

/*
 * The send timeout is due: if libuv wrote some of what it holds since the
 * window began, a new window starts; otherwise the client has not taken a
 * byte for send_timeout while paused, and is closed.  Returns 1 if it
 * acted, 0 if the send timeout is not what fell due.
 */
static int send_timeout_check(ch_conn *c, uint64_t now)
{
    uint64_t due = send_deadline(c);

    if (!due || now < due)
        return 0;
    if (c->tcp.write_queue_size < c->q->stall_wq) {
        c->q->stall_ms = now;
        c->q->stall_wq = wq_bytes(c);
        ch_conn_arm_timer(c);
        return 1;
    }
    ch_metric_count(CH_M_SEND_TIMEOUTS);
    ch_log(CH_LOG_WARN, "connection [%s] took nothing for %llu ms with %llu bytes queued: closing",
           ch_conn_peer(c), (unsigned long long)(now - c->q->stall_ms),
           (unsigned long long)c->q->bytes);
    ch_conn_close(c);
    return 1;
}

/* Run the app's one timer for the earliest deadline, or stop it. */
static void timers_sync(ch_app *app)
{
    ch_tnode *top = ch_theap_top(&app->conn_deadlines);
    uint64_t now = uv_now(app->loop);

    if (!top) {
        uv_timer_stop(&app->conn_timer);
        return;
    }
    uv_timer_start(&app->conn_timer, on_deadlines, top->due > now ? top->due - now : 0, 0);
}

void ch_conn_arm_timer(ch_conn *c)
{
    ch_app *app = c->app;
    uint64_t due;

    if (c->closing)
        return;
    due = conn_deadline(c);
    if (due == 0) {
        ch_theap_remove(&app->conn_deadlines, &c->tnode);
    } else {
        if (!app->conn_timer_on) {
            uv_timer_init(app->loop, &app->conn_timer);
            app->conn_timer.data = app;
            app->conn_timer_on = 1;
        }
        if (ch_theap_set(&app->conn_deadlines, &c->tnode, due) != 0) {
            ch_log(CH_LOG_ERROR, "connection [%s]: out of memory for its deadline",
                   ch_conn_peer(c));
            ch_conn_close(c);
            return;
        }
        c->tnode.round = app->conn_round;
    }
    if (app->conn_timer_on)
        timers_sync(app);
}

/* c's deadline passed (or moved): act, or re-arm for the new one. */
static void conn_due(ch_conn *c)
{
    uint64_t due = conn_deadline(c);

    if (due > uv_now(c->app->loop)) {
        ch_conn_arm_timer(c);
        return;
    }
    if (send_timeout_check(c, uv_now(c->app->loop)))
        return;
    if (c->proto)
        c->proto->timer(c);
    else
        ch_conn_close(c);
}

/*
 * The app's timer: every connection whose deadline has come is taken off
 * the heap and handled, earliest first.  One set again during this round
 * for a time already past waits for the next turn of the loop (as a
 * uv_timer of 0 ms would), so the round always ends.  A connection stays
 * valid while it is handled (conn.h: memory goes in a close callback).
 */
static void on_deadlines(uv_timer_t *t)
{
    ch_app *app = t->data;
    uint64_t now = uv_now(app->loop);
    ch_tnode *top;

    app->conn_round++;
    while ((top = ch_theap_top(&app->conn_deadlines)) && top->due <= now &&
           top->round != app->conn_round) {
        ch_conn *c = (ch_conn *)((char *)top - offsetof(ch_conn, tnode));

        ch_theap_remove(&app->conn_deadlines, top);
        conn_due(c);
    }
    timers_sync(app);
}

void ch_conn_timers_close(ch_app *app)
{
    if (app->conn_timer_on) {
        uv_timer_stop(&app->conn_timer);
        uv_close((uv_handle_t *)&app->conn_timer, NULL);
        app->conn_timer_on = 0;
    }
    ch_theap_free(&app->conn_deadlines);
    free(app->dirty);
    app->dirty = NULL;
    app->n_dirty = app->cap_dirty = 0;
}
