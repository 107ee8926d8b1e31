/*
 * app_host.h -- assembling the host (app.c): the functions that build a
 * ch_app (core/app.h) from a config, wire the sub-systems together (HTTP
 * handlers, the WebSocket upgrade, the layer's delivery, the store's
 * operation tables), listen, and take it down.  Only app/ and tests use
 * it.
 */
#ifndef CH_APP_HOST_H
#define CH_APP_HOST_H

#include "app.h"

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

/* The current version of plugin `name` (borrowed), or NULL. */
ch_plugin *ch_app_plugin(ch_app *app, const char *name);

/* Point every route of the table at the current version of its plugin. */
void ch_app_tie_routes(ch_app *app);

/* Load every plugin named by the config's routes (for --check too).
 * Returns the number that failed; each failure is logged. */
int ch_app_load_plugins(ch_app *app);

#endif
