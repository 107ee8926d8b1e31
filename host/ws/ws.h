/*
 * ws.h -- WebSocket connections: the upgrade, frames through wslay, the
 * plugin's callbacks, pings, the close handshake, slow clients.
 *
 * Receiving goes through wslay's event API, which checks masking,
 * opcodes, control-frame rules, fragmentation, UTF-8 of text messages
 * and the message size, and answers pings and closes.  Sending data frames
 * bypasses wslay: the host encodes server frames itself (msg.h) so that a
 * frame can be shared by many connections.  wslay's own frames (pong,
 * close) are copied into the same output queue as soon as wslay makes
 * them, so ordering holds and wslay never holds a half-sent frame.
 *
 * Slow clients: data frames go into a bounded queue (max_outbound_bytes).
 * When a frame does not fit, the connection is closed with 1013 (Try Again
 * Later), its unsent backlog is dropped, and the slow-consumer metric
 * counts it.
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

/* The plugin-facing connection (opaque to plugins). */
struct chanhost_conn {
    ch_conn *conn;
    ch_endpoint ep;              /* channel name and groups */
    wslay_event_context_ptr ctx; /* NULL until the 101 is sent */
    ch_route *route;
    ch_plugin *plugin;           /* the plugin version serving it (a ref) */
    void *user;                  /* plugin's per-connection pointer */
    json_t *identity;            /* authenticated user, or NULL (auth.h) */

    char *path;                  /* decoded path (in `strings`) */
    char *query;                 /* raw query (in `strings`) */
    char *strings;               /* one block: path, query, headers */
    uint32_t n_headers;          /* "name\0value\0" pairs after query */
    ch_route_params params;
    struct ch_qval *qcache;      /* decoded query values handed out */
    struct ch_store_pending *pending; /* store calls made for it */
    char *subprotocol;           /* chosen one, or NULL */

    uint64_t ping_sent_ms;       /* 0: no ping outstanding */
    int close_code;              /* code for the plugin's disconnect */
    unsigned connect_called : 1;
    unsigned accepted : 1;       /* 101 sent */
    unsigned close_sent : 1;     /* close frame queued: no more data */
    unsigned in_recv : 1;        /* inside wslay_event_recv */
    unsigned proto_error : 1;    /* wslay let through what RFC 6455 forbids */
};

/* Handle an upgrade request (or a plain request on a WebSocket route).
 * Answers errors itself.  req is borrowed. */
void ch_ws_upgrade(ch_conn *c, const ch_req *req);

/* Received bytes for an open WebSocket (borrowed). */
void ch_ws_feed(ch_conn *c, const char *data, size_t len);

/* Create the wslay context of an accepted connection.  Returns 0 or
 * CHANHOST_ERR_NOMEM. */
int ch_ws_start_wslay(ch_ws *w);

/* Refuse a connection in connect with HTTP 403 (CHANHOST_DENY). */
void ch_ws_deny(ch_ws *w);

/* Value of a request header kept for the connection (any case), or NULL;
 * owned by w. */
const char *ch_ws_header(const ch_ws *w, const char *name);

/* The first value of query parameter name, '+' and %XX decoded, kept
 * (owned by w) until the connection ends; NULL if absent or malformed. */
const char *ch_ws_query_param(ch_ws *w, const char *name);

/* Tell api.c and api_store.c which app plugins act on (once, at start). */
void ch_api_bind(ch_app *app);
void ch_api_store_bind(ch_app *app);

/* api->store_call (api_store.c). */
int ch_api_store_call(chanhost_conn *c, const char *op, json_t *params,
                      void (*cb)(chanhost_conn *c, int status, const json_t *result,
                                 const char *error, void *arg),
                      void *arg);

/* The connection is going: its pending store results will be handed to
 * the plugin with c == NULL. */
void ch_api_store_detach(chanhost_conn *c);

/* Accept a pending connection (api->accept); subprotocol may be NULL. */
int ch_ws_accept(ch_ws *w, const char *subprotocol);

/* Send one data frame (a shared buffer; the caller keeps its ref). */
int ch_ws_send_frame(ch_ws *w, ch_buf *frame);

/* Start the close handshake with code and reason (may be NULL). */
int ch_ws_close(ch_ws *w, int code, const char *reason);

/* Called by conn.c when the connection goes away: the plugin's
 * disconnect, leaving groups, metrics.  Then the state is freed. */
void ch_ws_gone(ch_conn *c);

/* Timer support for conn.c. */
uint64_t ch_ws_deadline(ch_conn *c);   /* absolute ms, 0 = none */
void ch_ws_timer(ch_conn *c);

/* Deliver a layer message to the connection (the layer's callback). */
void ch_ws_deliver(ch_endpoint *ep, ch_msg *msg, void *arg);

/* Shutdown: close with 1001. */
void ch_ws_shutdown(ch_conn *c);

/* The api table handed to plugins (api.c). */
const chanhost_api *ch_api_table(void);

#endif
