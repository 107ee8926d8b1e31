/*
 * app.h -- the running host: its loop, config, listener, routes, plugins,
 * channel layer and the list of live connections.
 *
 * There is one ch_app per process, owned by main.c.  Every other module
 * reaches shared state through it (conn->app), never through globals, so
 * that unit tests can build a small app of their own.
 */
#ifndef CH_APP_H
#define CH_APP_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "layer.h"
#include "router.h"
#include "routes.h"

typedef struct ch_conn ch_conn;
typedef struct ch_plugin ch_plugin;

typedef struct ch_app {
    uv_loop_t *loop;
    ch_config cfg;
    uv_tcp_t listener;
    int listening;
    char listen_addr[64];     /* "127.0.0.1:8000", the address really bound */

    ch_route_table routes;    /* the running table (swapped on reload) */
    ch_plugin **plugins;      /* the current version of each loaded plugin */
    size_t n_plugins;

    ch_layer *layer;
    struct ch_store *store;   /* NULL when the config says store none */
    unsigned char *auth_secret;   /* token signing key (auth.h) */
    size_t auth_secret_len;
    char *service_token;      /* NULL: no service access */

    ch_conn *conns;           /* every open connection (doubly linked) */
    uint64_t n_conns;         /* TCP connections */
    uint64_t n_ws;            /* open WebSocket connections */
    ch_conn *dirty;           /* connections with output to flush */

    uv_prepare_t flush_prepare;  /* flush output before the loop polls */
    uv_check_t flush_check;      /* and after I/O callbacks ran */
    uv_signal_t sig_term, sig_int;
    uv_timer_t shutdown_timer;
    int stopping;
    uint64_t started_ms;      /* uv_now at start */

    char *read_buf;           /* the one read buffer of the loop */
    size_t read_buf_size;
    char *scratch;            /* NUL-terminated copy of text messages */
    size_t scratch_size;
} ch_app;

/* Set up *app from a validated config (taken over: *cfg is zeroed): the
 * loop handles and the channel layer.  Returns 0 or a negative error with
 * a log line. */
int ch_app_init(ch_app *app, uv_loop_t *loop, ch_config *cfg);

/* Load the plugins (one that fails is logged and its routes answer 503)
 * and build the route table.  Returns 0 or a negative error. */
int ch_app_load(ch_app *app);

/* Bind and listen (app->listen_addr tells the address bound).  Returns 0,
 * or a negative libuv error after logging one clear line ("cannot listen
 * on ADDR: address already in use"). */
int ch_app_listen(ch_app *app);

/* Begin a graceful stop: close the listener, close every WebSocket with
 * 1001, let responses finish; the loop ends when all is closed or after
 * shutdown_timeout. */
void ch_app_stop(ch_app *app);

/* Release everything after the loop has ended. */
void ch_app_free(ch_app *app);

/* The first route matching a decoded path, with its parameters in *params
 * (caller frees with ch_route_params_free), or NULL. */
ch_route *ch_app_route(ch_app *app, const char *path, ch_route_params *params);

/* The current version of plugin `name` (borrowed), or NULL. */
ch_plugin *ch_app_plugin(ch_app *app, const char *name);

/* Point every route of the table at the current version of its plugin. */
void ch_app_tie_routes(ch_app *app);

/* Load every plugin named by the config's routes (for --check too).
 * Returns the number that failed; each failure is logged. */
int ch_app_load_plugins(ch_app *app);

#endif
