/*
 * app.h -- the running host's state as plain data: its loop, config,
 * listener, routes, plugins, channel layer, store and the list of live
 * connections (nginx's ngx_cycle_t).  Core: it includes core headers only;
 * the parts owned by higher sub-systems (layer, store, plugins, the HTTP
 * handler list) are opaque pointers here.  The functions that build and
 * stop it are app/app_host.h's.
 *
 * There is one ch_app per process, owned by main.c; modules reach the
 * per-host state through it (conn->app), so that unit tests can build a
 * small app of their own.  Process-wide state that is not in it (file
 * statics, all used on the loop thread): the counters (metrics.c), the log
 * verbosity (log.c), the live plugin list, the plugin being called, the
 * SDK table and the refused plugins' endpoint declarations (plugins.c),
 * the live plugin HTTP requests (endpoints.c), the login limiter's table
 * and the password-hash queue (rest_login.c), the plugins' post queue and
 * timer loop (timers.c), the app bound to the plugin API (api.c,
 * api_store.c), the store's registered operation tables (store_ops.c), the
 * Redis backends (layer_redis.c), the reloader (reload.c), http_parser's
 * settings (http.c) and wslay's current input (ws.c).
 */
#ifndef CH_APP_H
#define CH_APP_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "hmap.h"
#include "router.h"
#include "routes.h"
#include "theap.h"

typedef struct ch_conn ch_conn;
typedef struct ch_plugin ch_plugin;
typedef struct ch_layer ch_layer;
typedef struct ch_http_handler ch_http_handler;
struct ch_endpoints;

typedef struct ch_app {
    uv_loop_t *loop;
    ch_config cfg;
    uv_tcp_t listener;
    int listening;
    char listen_addr[64]; /* "127.0.0.1:8000", the address really bound */
    uv_tcp_t tls_listener; /* `listen ADDR:PORT tls` (net/tls.h); its
                              context is cfg.tls_ctx */
    int tls_listening;
    char tls_listen_addr[64];

    ch_route_table routes; /* the running table (swapped on reload) */
    ch_plugin **plugins;   /* the current version of each loaded plugin */
    size_t n_plugins;
    struct ch_endpoints *endpoints; /* the plugins' HTTP endpoints (owned by
                                        api/rest_plugins.c; swapped on reload) */

    ch_layer *layer;
    struct ch_link *link;       /* to the master (app/master.c); NULL: one process */
    int worker;                 /* this worker's number (1..N); 0: one process */
    struct ch_store *store;     /* NULL when the config says store none */
    unsigned char *auth_secret; /* token signing key (auth.h) */
    size_t auth_secret_len;
    char *service_token; /* NULL: no service access */
    struct ch_django_auth *django; /* Django logins (runtime/django_auth.h), NULL: off */

    ch_vmap conn_limits; /* the per-user and per-address counts and handshake
                            buckets (core/climit.h; applied by runtime's
                            upgrade.c, freed by app.c when the host stops) */

    ch_conn *conns;                 /* every open connection (doubly linked) */
    uint64_t n_conns;               /* TCP connections */
    uint64_t n_ws;                  /* open WebSocket connections */
    ch_conn **dirty;                /* connections with output to flush
                                       (net's conn.c; freed by app.c) */
    size_t n_dirty, cap_dirty;
    ch_http_handler *http_handlers; /* what answers HTTP requests (http.h) */
    size_t n_http_handlers;
    /* Whether a request (method: http_parser's, url[0..len) raw) is
     * dispatched once its headers are in, its body then streamed to the
     * handler (http.h: ch_http_body_read); NULL: none is. */
    int (*http_streamed)(int method, const char *url, size_t len);
    /* Called by net when stopping and the last connection is freed (set by
     * app.c: ch_app_stop); NULL: nothing to do. */
    void (*drained)(struct ch_app *app);
    /* The operator's status (GET /api/admin/status/, docs/deploy.md) as
     * a new JSON reference, NULL if out of memory: app/status.c's
     * ch_status_json, set by app.c (api/ is below app/); NULL: none. */
    json_t *(*status)(struct ch_app *app);

    uv_prepare_t flush_prepare; /* flush output before the loop polls */
    uv_check_t flush_check;     /* and after I/O callbacks ran */
    uv_signal_t sig_term, sig_int;
    uv_timer_t shutdown_timer;
    int stopping;
    int loading;         /* start-up plugin loads run the loop (migrations) */
    int accept_deferred; /* a connection came meanwhile: accept it after
                            (bit 1: the plain listener, bit 2: TLS) */
    uint64_t started_ms; /* uv_now at start */

    char *read_buf; /* the one read buffer of the loop */
    size_t read_buf_size;
    char *scratch; /* NUL-terminated copy of text messages */
    size_t scratch_size;

    /* Every connection's deadline on one heap driven by one timer (net's
     * conn.c: made at the first deadline, closed by ch_conn_timers_close);
     * conn_round is conn.c's dispatch round (ch_tnode.round). */
    ch_theap conn_deadlines;
    uv_timer_t conn_timer;
    uint32_t conn_round;
    int conn_timer_on;
} ch_app;

#endif
