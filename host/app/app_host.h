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

/* ch_app_init for worker number `worker` under a master (app/master.c):
 * link_fd (taken over) is its end of the link (layer/link.h); the listener joins the
 * port's SO_REUSEPORT group, a memory layer is relayed through the
 * master, and a token secret the config does not name comes from
 * CH_RUN_KEY_ENV.  link_fd < 0: ch_app_init. */
int ch_app_init_worker(ch_app *app, uv_loop_t *loop, ch_config *cfg, int link_fd, int worker);

/* The environment variable holding the run's token key (64 hex digits)
 * that the master hands its workers. */
#define CH_RUN_KEY_ENV "CHANHOST_RUN_KEY"

/* A socket (SOCK_CLOEXEC, non-blocking) with SO_REUSEADDR and
 * SO_REUSEPORT bound to sa (borrowed), not listening, into *fd (the
 * caller closes it).  Returns 0 or a negative errno. */
int ch_app_bind_shared(const struct sockaddr *sa, int *fd);

/* The host serves: log the "Listening on TCP address" line, or under a
 * master tell it (CH_LINK_READY; the master logs the line). */
void ch_app_ready(ch_app *app);

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
