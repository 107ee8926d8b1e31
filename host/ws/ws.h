/*
 * ws.h -- WebSocket connections once the upgrade was decided: the 101
 * answer, frames through wslay, pings, the close handshake, slow clients.
 * The upgrade request itself, the plugin's connect and the teardown of the
 * connection's plugin-facing state are runtime/upgrade.c's; ws.c reaches
 * its consumer only through the handler table the runtime sets
 * (ch_ws_handler), and conn.c reaches ws.c through ch_ws_proto.
 * Sub-system ws: includes core, net and layer headers only.
 *
 * Receiving goes through wslay's event API, which checks masking,
 * opcodes, control-frame rules, fragmentation, UTF-8 of text messages
 * and the message size, and answers pings and closes.  Sending data frames
 * bypasses wslay: the host encodes server frames itself (msg.h) so that a
 * frame can be shared by many connections.  wslay's own frames (pong,
 * close) are copied into the same output queue as soon as wslay makes
 * them, so ordering holds and wslay never holds a half-sent frame.
 *
 * wslay's context (8.7 KB: two 4 KiB buffers) exists only while a frame
 * is in flight: it is made when bytes arrive or wslay must send (ping,
 * close), and freed once no frame is partly read, no fragmented message
 * is open, nothing waits to be sent and no close has begun.  ws.c follows
 * the frame boundaries of the client's stream itself to know that.  A
 * freed context waits in a small pool (16 at most per process) for the
 * next frame of any connection, so a message does not cost its buffers.
 *
 * Slow clients: data frames go into a bounded queue (max_outbound_bytes).
 * When a frame does not fit, the connection is closed with 1013 (Try Again
 * Later), its unsent backlog is dropped, and the slow-consumer metric
 * counts it.  wslay's frames (pong, ping) count against the same budget:
 * one that finds the queue already over it closes with 1013 as well (the
 * overflow metric counts both); a close frame always goes out.  Past the
 * pause threshold the connection stops reading (conn.h), so a client that
 * pings without reading its pongs gets no more pongs made for it.
 */
#ifndef CH_WS_H
#define CH_WS_H

#include <stdint.h>
#include <wslay/wslay.h>

#include "chanhost.h"
#include "conn.h"
#include "layer.h"
#include "request.h"
#include "router.h"

typedef struct ch_route ch_route;
typedef struct ch_app ch_app;
typedef struct ch_store_pending ch_store_pending;
typedef struct ch_plugin ch_plugin;
struct ch_ident;

/* What consumes an accepted connection's events (the runtime's table;
 * static, borrowed). */
typedef struct ch_ws_handler {
    /* A text or binary message; text is NUL-terminated (the app's scratch
     * buffer, borrowed for the call). */
    void (*message)(ch_ws *w, const char *text, size_t len, int binary);
    /* A layer message for the connection (borrowed).  Returns 1 if the
     * handler took it, 0 to have its frame sent as is. */
    int (*group_message)(ch_ws *w, ch_msg *msg);
    /* The 101 was queued: the connection counts as open. */
    void (*opened)(ch_ws *w);
    /* The connection goes (c->ws is w): tell the consumer, free w. */
    void (*gone)(ch_conn *c);
    /* The output queue emptied after ch_conn_want_drain(w->conn) (open
     * connections only; may be NULL). */
    void (*drained)(ch_ws *w);
} ch_ws_handler;

/* A connection's request block (runtime/upgrade.c): the query and the
 * headers the handshake brought, and what lives only as long as they do;
 * freed (wiped: tokens) by api->release_request once the connection is
 * open, or with the connection.  Owned by the connection. */
typedef struct ch_ws_req {
    struct ch_qval *qcache; /* decoded query values handed out */
    void *auth_call;        /* a login in flight (runtime), or NULL */
    char *subprotocol;      /* the one the 101 names (chosen in connect,
                               or "Bearer": auth), or NULL; the block is
                               freed only after the 101 */
    uint16_t n_headers;     /* at most CH_REQ_MAX_HEADERS */
    char query[];           /* the raw query, then n_headers "name\0value\0"
                               pairs */
} ch_ws_req;

/* The plugin-facing connection (opaque to plugins).  Made and freed by
 * the runtime (upgrade.c); the fields after `conn` are the runtime's,
 * opaque pointers here.  Its events go to the process's one consumer
 * (ch_ws_set_handler), not a pointer in each connection. */
struct chanhost_conn {
    ch_conn *conn;
    ch_endpoint ep;               /* channel number and groups */
    wslay_event_context_ptr ctx;  /* NULL while idle (ws.c: made when
                                     bytes arrive or wslay must send) */
    ch_route *route;
    ch_plugin *plugin; /* the plugin version serving it (a ref) */
    void *user;        /* plugin's per-connection pointer */
    struct ch_ident *ident; /* authenticated user, or NULL (auth/ident.h) */
    int64_t room_id;   /* api->bind_room's room (membership.h), 0: none */
    struct ch_presence_ref *presence; /* its presence groups (runtime/presence.c) */

    char *path;         /* one block after the struct (runtime/upgrade.c;
                           fuzz doubles may allocate it apart): the decoded
                           path, then n_params "name\0value\0" pairs: the
                           route parameters */
    ch_ws_req *req;     /* the request block, NULL once
                           api->release_request freed it (ch_ws_query) */
    uint16_t n_params;  /* at most CH_ROUTE_MAX_PARAMS */
    uint32_t drain_gen; /* api->on_drain's asker's generation (ch_ws_rare) */
    struct ch_store_pending *pending; /* store calls made for it */
    struct ch_ws_rare *rare;          /* what few connections use (below),
                                         made on first use, or NULL */

    uint64_t expires_ms;   /* loop ms at which its credential (the token)
                              ends: closed with 4001 then; 0: never */
    uint64_t token_tag;    /* the first 8 bytes of its token's SHA-256
                              (runtime/session.h), 0: no token */
    int close_code;        /* code for the plugin's disconnect */
    unsigned connect_called : 1;
    unsigned session_check : 1; /* the store's check of its token is due */
    unsigned accepted : 1;    /* 101 sent */
    unsigned close_sent : 1;  /* close frame queued: no more data */
    unsigned proto_error : 1; /* wslay let through what RFC 6455 forbids */
    unsigned overflow : 1;    /* a wslay frame found the queue over its limit */
    unsigned release_request : 1; /* the plugin released the request block */
    unsigned rx_frag : 1;     /* a fragmented message is open (ws_track) */
    unsigned ping_out : 1;    /* a ping awaits its pong, sent at
                                 conn->since_ms (free while open) */
    unsigned lim_user : 1;    /* counted on its user's limit entry (runtime:
                                 found again by the user's id) */
    unsigned lim_ip : 1;      /* counted on its address's limit entry
                                 (core/climit.h; runtime: found again by
                                 the peer address, fixed since the upgrade) */
    uint8_t out_op;           /* opcode of the wslay frame being sent */
    uint8_t ohead_len;        /* bytes in ohead */
    uint8_t ohead[10];        /* its header, until the payload comes */
    /* Where the client's byte stream stands (ws.c's ws_track): header
     * bytes of the frame being read, the first two of them, and its
     * payload still to come (while in the header: its extended length). */
    uint8_t rx_hlen;
    uint8_t rx_hdr[2];
    uint64_t rx_left;
};

/* w's raw query (owned by w), "" once the request block is freed. */
static inline const char *ch_ws_query(const ch_ws *w) { return w->req ? w->req->query : ""; }

/* Set the consumer of every connection's events (static, borrowed; the
 * runtime's table, or a test double's), before the first upgrade. */
void ch_ws_set_handler(const ch_ws_handler *h);

/* The fields of a connection that few plugins or clients ever use, in a
 * block of their own (chanhost_conn's `rare`: made by ch_ws_rare on the
 * first use, freed with the connection), so that every connection does
 * not carry them.  With the endpoint's channel number instead of its
 * name, the request's fields in the request block and one handler table
 * per process, chanhost_conn is 168 bytes: with a path and route
 * parameters of up to 32 bytes (/ws/chat-room/123/) one 208-byte heap
 * chunk (upgrade.c asserts the size). */
typedef struct ch_ws_rare {
    /* api->on_drain's callback and argument (the plugin's), NULL when none
     * waits; drain_gen (in chanhost_conn) is the generation of the version
     * that asked. */
    void (*drain_cb)(chanhost_conn *c, void *arg);
    void *drain_arg;
    char *peer; /* api->peer's text, made on first use (conn.h keeps it
                   in binary), or NULL */
    char *channel; /* api->channel_name's text, made on first use (the
                      endpoint keeps only its number: layer.h), or NULL */
} ch_ws_rare;

/* w's rare block (owned by w), made zeroed on the first call; NULL when
 * memory is short (logged). */
ch_ws_rare *ch_ws_rare_get(ch_ws *w);

/* Free w's rare block and what it owns (the connection's teardown). */
void ch_ws_rare_free(ch_ws *w);

/* The WebSocket protocol table (conn.h): set on the connection by the
 * upgrade (runtime), from the pending state on. */
extern const ch_conn_proto ch_ws_proto;

/* Received bytes for an open WebSocket (borrowed). */
void ch_ws_feed(ch_conn *c, const char *data, size_t len);

/* Make the wslay context of an accepted connection if it has none (ws.c
 * frees it whenever nothing is half done in it).  Returns 0 or
 * CHANHOST_ERR_NOMEM. */
int ch_ws_start_wslay(ch_ws *w);

/* Free w's wslay context, if it has one (the connection's teardown). */
void ch_ws_free_wslay(ch_ws *w);

/* Value of a request header kept for the connection (any case), or NULL;
 * owned by w. */
const char *ch_ws_header(const ch_ws *w, const char *name);

/* The one-byte code (1 .. 31) under which the strings block stores a
 * common header name (name borrowed, any case), or 0: the name is stored
 * as it is.  A stored name "\x05" (code and NUL) stands for the 5th
 * name of ws.c's table; header names never hold control characters. */
unsigned ch_ws_name_code(const char *name);

/* Value of route parameter `name` kept for the connection, or NULL;
 * owned by w. */
const char *ch_ws_param(const ch_ws *w, const char *name);

/* Accept a pending connection: answer 101 (with subprotocol, may be NULL:
 * then w->subprotocol), start wslay, feed what the client sent early, drop
 * the HTTP state.  Returns 0 or a CHANHOST_ERR_*. */
int ch_ws_accept(ch_ws *w, const char *subprotocol);

/* Send one data frame (a shared buffer; the caller keeps its ref). */
int ch_ws_send_frame(ch_ws *w, ch_buf *frame);

/* Start the close handshake with code and reason (may be NULL); a
 * connection not yet accepted is accepted first. */
int ch_ws_close(ch_ws *w, int code, const char *reason);

/* The timer hooks of ch_ws_proto (the earliest of the ping, idle and
 * close deadlines and w->expires_ms; past expires_ms the connection is
 * closed with 4001 "token expired"). */
uint64_t ch_ws_deadline(ch_conn *c); /* absolute ms, 0 = none */
void ch_ws_timer(ch_conn *c);

/* Deliver a layer message to the connection (the layer's callback; the
 * endpoint is the connection's w->ep). */
void ch_ws_deliver(ch_endpoint *ep, ch_msg *msg, void *arg);

/* Shutdown: close with 1001 (not yet accepted: close the TCP side). */
void ch_ws_shutdown(ch_conn *c);

#endif
