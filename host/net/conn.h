/*
 * conn.h -- one TCP connection: reading into the loop's shared buffer, a
 * bounded output queue of shared buffers, coalesced writes, one deadline,
 * and closing.
 *
 * A connection speaks the protocol its table says (c->proto, below): it
 * starts with HTTP's (http.c parses requests, set by the opener the
 * assembler hands to ch_conn_accept) and the WebSocket upgrade replaces it
 * with ws.c's.  conn.c calls only through the table and never names a
 * protocol.  Output is never written at once:
 * ch_conn_queue() appends a reference to a ch_buf and marks the connection
 * dirty; the app flushes all dirty connections once per loop turn with one
 * writev each (see ch_app_flush).
 *
 * One output budget per connection.  Everything queued counts against it:
 * HTTP heads and bodies, static files, WebSocket data, pongs and close
 * frames.  Past the pause threshold (outbound_pause_bytes, at most half of
 * max_outbound_bytes) the connection stops reading, so a client that sends
 * without reading gets no more processing and the kernel's buffers push
 * back on it; reading resumes (and the protocol's drained hook runs) once
 * the queue is down to half the threshold.  Past max_outbound_bytes a
 * queue call is refused with -ENOBUFS and the caller closes (WebSocket:
 * 1013; HTTP: the connection).  A connection paused for send_timeout
 * without any write progress is closed.  After a connection that was
 * paused is freed, the next flush hands free heap memory back to the
 * system (ch_heap_trim: a jemalloc purge, or glibc's malloc_trim).
 *
 * Memory.  An idle connection holds only struct ch_conn: no read buffer
 * (the loop's one buffer, app->read_buf), no output ring (made by the
 * first queued item, freed when the queue is written out), no write
 * request (allocated for each writev) and no timer of its own: its
 * deadline is a 16-byte node on the app's heap (core/theap.h), which one
 * uv_timer serves for every connection.
 *
 * Lifetime.  ch_conn_close() starts closing: the protocol's gone hook runs
 * (the plugin's disconnect), the deadline is disarmed, and uv_close is
 * called; the memory is freed in the close callback, after the current
 * callback stack has returned.  So a connection pointer stays valid for
 * the whole of any callback in which it was valid at the start.
 */
#ifndef CH_CONN_H
#define CH_CONN_H

#include <stdint.h>
#include <uv.h>

#include "msg.h"
#include "theap.h"

typedef struct ch_app ch_app;
typedef struct ch_conn ch_conn;
typedef struct ch_http ch_http;
typedef struct chanhost_conn ch_ws;
typedef struct ch_tls ch_tls;

/*
 * A connection's protocol (nginx's c->data + c->read->handler): what conn.c
 * calls for the connection's events.  The state the protocol keeps is
 * c->http / c->ws (opaque here).  Tables are static and borrowed.
 */
typedef struct ch_conn_proto {
    /* Bytes arrived (borrowed: the loop's read buffer). */
    void (*feed)(ch_conn *c, const char *data, size_t len);
    /* When must c next be looked at: absolute loop ms, 0 = never. */
    uint64_t (*deadline)(ch_conn *c);
    /* That deadline passed: act (close, ping ...) and re-arm if staying. */
    void (*timer)(ch_conn *c);
    /* The connection is closing: release the protocol's state. */
    void (*gone)(ch_conn *c);
    /* Graceful stop of the host: finish or close. */
    void (*shutdown)(ch_conn *c);
    /* The output queue is empty after ch_conn_want_drain asked for it
     * (once per ask; may be NULL: nothing is told). */
    void (*drained)(ch_conn *c);
    /* The output queue drained after a pause and reading resumes: go on
     * with input kept meanwhile (may be NULL: nothing kept). */
    void (*resumed)(ch_conn *c);
} ch_conn_proto;

/* Sets up a fresh connection's protocol (c->proto and its state).
 * Returns 0, or a negative errno: the connection is then closed. */
typedef int (*ch_conn_open_fn)(ch_conn *c);

enum ch_conn_state {
    CH_CONN_HTTP = 0,   /* reading / answering HTTP requests */
    CH_CONN_WS_PENDING, /* upgrade asked, the plugin has not decided */
    CH_CONN_WS,         /* WebSocket open */
};

typedef struct ch_outq_item {
    ch_buf *buf; /* written whole: uv_write finishes what it starts */
} ch_outq_item;

/* A connection's output queue (conn.c): made by the first queued item,
 * freed once everything is written, so an idle connection keeps none; with
 * it the counters that matter only while something is queued (a paused
 * connection always has a queue: it resumes before the queue is freed).
 * Owned by the connection. */
typedef struct ch_outq {
    uint32_t head, len, cap; /* the ring of items[cap] */
    uint32_t stall_wq;       /* libuv's unwritten bytes at stall_ms's start
                                (saturated at UINT32_MAX) */
    uint64_t bytes;          /* bytes (and item overhead) queued */
    uint64_t stall_ms;       /* paused: start of the window without progress */
    ch_outq_item items[];
} ch_outq;

struct ch_conn {
    uv_tcp_t tcp;   /* tcp.data == this */
    ch_tnode tnode; /* the deadline, on app->conn_deadlines */
    ch_app *app;
    ch_conn *prev, *next; /* app->conns */

    /* state, the bits, open_handles, inflight, holds and peer_port share
     * 8 bytes, the queue's indexes and counters live in the queue's
     * block, the dirty list is the app's array and an IPv6 peer has a
     * block of its own: the struct is 360 bytes, a 368-byte heap chunk
     * (bench/README.md: memory per connection) */
    unsigned state : 2;   /* enum ch_conn_state */
    unsigned closing : 1; /* ch_conn_close called */
    unsigned dirty : 1;   /* in app->dirty (an array: no link here) */
    unsigned writing : 1; /* a uv_write is in flight */
    unsigned close_after_flush : 1;
    unsigned reading : 1;       /* the protocol wants input */
    unsigned rx_on : 1;         /* uv_read_start is in effect */
    unsigned out_paused : 1;    /* over the pause threshold: not reading */
    unsigned was_paused : 1;    /* paused at least once (heap trim on free) */
    unsigned close_pending : 1; /* close asked for while in_recv */
    unsigned in_recv : 1;       /* the protocol's parser is on the stack
                                   (wslay_event_recv): closing is deferred */
    unsigned fresh : 1;         /* no complete request seen yet */
    unsigned want_drain : 1;    /* ch_conn_want_drain: tell proto->drained */
    unsigned forwarded : 1;     /* peer_* is the client a trusted proxy named */
    unsigned https : 1;         /* TLS to us, or a trusted proxy said https */
    unsigned tls_pump : 1;      /* TLS input buffered while not reading: the
                                   next flush feeds it (tls.h) */
    unsigned peer_v6 : 1;       /* the peer is IPv6: peer_ip.v6 (below) */
    unsigned open_handles : 2;  /* the TCP handle still to report closed */
    uint8_t inflight;           /* items in the current uv_write (at most
                                   CH_WRITE_MAX_BUFS, conn.c) */
    uint16_t holds;             /* async operations still referring to it */
    uint16_t peer_port;         /* the peer's port (with peer_ip) */

    uint64_t since_ms;   /* start of the current deadline window */
    uint64_t last_rx_ms; /* last bytes received */

    ch_outq *q; /* queued output, NULL while empty (ch_conn_qlen) */

    const ch_conn_proto *proto; /* the current protocol, NULL before open */
    ch_http *http;              /* HTTP state, NULL once upgraded */
    ch_ws *ws;                  /* WebSocket state, NULL before upgrade */
    ch_tls *tls;                /* TLS state (tls.h), NULL: plain TCP */
    /* The peer's address, kept in binary (not the 56 bytes of its text:
     * this struct is per connection); ch_conn_peer formats it.  An IPv6
     * address (few clients) takes a 16-byte block of its own, owned by
     * the connection, so that every connection does not carry 16 bytes. */
    union {
        uint8_t v4[4]; /* unless peer_v6 */
        uint8_t *v6;   /* peer_v6: 16 bytes */
    } peer_ip;
};

/* Items in c's output queue (0: nothing queued). */
static inline uint32_t ch_conn_qlen(const ch_conn *c) { return c->q ? c->q->len : 0; }

/* Bytes (and item overhead) in c's output queue, counted against
 * max_outbound_bytes. */
static inline uint64_t ch_conn_queued_bytes(const ch_conn *c) { return c->q ? c->q->bytes : 0; }

/* The peer of c as "ip:port" (the address as inet_ntop writes it, IPv6
 * included, a colon and the port) into buf of CH_CONN_PEER_LEN bytes;
 * returns buf. */
#define CH_CONN_PEER_LEN 56
char *ch_conn_peer_format(const ch_conn *c, char *buf);

/* The peer of c as "ip:port" in a static buffer, for a log line on the
 * loop thread (valid until the next call). */
const char *ch_conn_peer(const ch_conn *c);

/* Set c's peer address: 16 bytes (addr borrowed) if v6, else 4.
 * Returns 0, or -ENOMEM (logged; c's peer is then unknown, "?:0"). */
int ch_conn_set_peer_ip(ch_conn *c, const uint8_t *addr, int v6);

/* Apply trusted_proxies (core/proxy.h) to the request just parsed on c:
 * when c's TCP peer is a trusted proxy, the client address that
 * X-Forwarded-For / X-Real-IP name (header values borrowed, may be NULL)
 * becomes c's peer (port 0: the proxy does not tell it) and
 * X-Forwarded-Proto may set c->https; otherwise c's peer is the TCP peer.
 * c->https is also 1 on our own TLS listener.  Each request of a kept-alive connection is judged
 * anew (a proxy may carry several clients' requests on one). */
void ch_conn_proxy(ch_conn *c, const char *xff, const char *xrip, const char *xfp);

/* Accept a new connection from the listener and start it with open
 * (e.g. ch_http_open).  Logs and drops it on failure. */
void ch_conn_accept(ch_app *app, uv_stream_t *listener, ch_conn_open_fn open);

/* How ch_conn_queue applies max_outbound_bytes (its `bounded` argument). */
enum {
    CH_CONN_Q_REPLY = 0,   /* answers, control frames: refused once the queue
                               is already over the limit */
    CH_CONN_Q_BOUNDED = 1, /* data: refused if it would not fit */
    CH_CONN_Q_FINAL = 2,   /* a close frame: always taken */
};

/* Append a reference to buf (the caller keeps its own) to the output
 * queue.  Returns 0, -EPIPE if closing, -ENOMEM, or -ENOBUFS when
 * max_outbound_bytes refuses it (CH_CONN_Q_*: the caller decides what a
 * slow client costs, and closes). */
int ch_conn_queue(ch_conn *c, ch_buf *buf, int bounded);

/* Non-zero if a CH_CONN_Q_REPLY item would be refused now (the queue is
 * already over max_outbound_bytes). */
int ch_conn_over_limit(const ch_conn *c);

/* Queue a copy of data[0..len) as CH_CONN_Q_REPLY (responses, control
 * frames); returns as ch_conn_queue. */
int ch_conn_queue_copy(ch_conn *c, const void *data, size_t len);

/* Drop every queued item that is not being written (slow clients). */
void ch_conn_discard_queued(ch_conn *c);

/* Have c's proto->drained run once everything queued so far has been
 * written (the queue is empty), never from inside this call: after the
 * next write completes, or at the next flush if nothing is queued.  Not
 * run if c closes first. */
void ch_conn_want_drain(ch_conn *c);

/* Close once everything queued has been written. */
void ch_conn_close_after_flush(ch_conn *c);

/* Close now: queued output is dropped. */
void ch_conn_close(ch_conn *c);

/* An asynchronous operation (thread-pool work) refers to c: its memory
 * must outlive the operation even if c is closed meanwhile.  Every hold is
 * matched by one release, on the loop thread. */
void ch_conn_hold(ch_conn *c);
void ch_conn_release(ch_conn *c);

/* Start / stop reading (what the protocol wants: while the connection is
 * paused for output, reading starts only once the queue drained). */
void ch_conn_read_start(ch_conn *c);
void ch_conn_read_stop(ch_conn *c);

/* Recompute the connection's next deadline and put it on the app's heap
 * (or take it off: no deadline). */
void ch_conn_arm_timer(ch_conn *c);

/* Stop and close the app's one connection timer and free its heap and
 * the dirty array (the app's teardown, once every connection is gone and
 * the flush handles are closed). */
void ch_conn_timers_close(ch_app *app);

/* Write out every dirty connection's queue (one writev each); then, if a
 * connection that was paused has been freed since, ch_heap_trim. */
void ch_app_flush(ch_app *app);

#endif
