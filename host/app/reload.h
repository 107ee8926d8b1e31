/*
 * reload.h -- changing plugins and the configuration under a running host,
 * without a restart and without dropping connections that need not go.
 *
 * A reload is one transaction:
 *   1. on the thread pool: read and validate the config file (if asked)
 *      and stat every plugin file the routes name;
 *   2. on the loop: refuse the whole thing if the config has any problem
 *      (each named FILE:LINE; the running config stays); otherwise load,
 *      on the thread pool again, every plugin that is new, whose file
 *      changed, or whose settings changed;
 *   3. on the loop, in one callback (so between two loop turns): swap
 *      the config, the route table, the plugin versions and the table of
 *      their HTTP endpoints (api/rest_plugins.h).  Connections
 *      of a replaced version are offered to the new one (adopt), else
 *      closed with 1012 Service Restart if their route says
 *      reload=restart, else left on the old version, which is unloaded
 *      when its last connection ends.
 * A plugin version that fails to load is refused with one log line and a
 * metric; the version before it keeps serving.  Settings that only a
 * restart can change (listen, layer, store, auth) are kept and reported.
 */
#ifndef CH_RELOAD_H
#define CH_RELOAD_H

#include "config.h"
#include "request.h"

typedef struct ch_app ch_app;
typedef struct ch_conn ch_conn;

/* How the app rebuilds its configuration (main.c's file + command line).
 * Runs on the thread pool: it must only read files and fill cfg/diag. */
typedef int (*ch_config_builder)(void *arg, ch_config *cfg, ch_diag *diag);

/* Start a reload.  with_config: re-read the configuration too (SIGHUP, a
 * changed config file); else only plugins whose files changed.  why: for
 * the log.  A reload asked for while one runs happens after it. */
void ch_reload_start(ch_app *app, int with_config, const char *why);

/* Install SIGHUP handling, and in development mode the watchers on the
 * plugin directory and the config file (debounced).  Returns 0 or a
 * negative libuv error. */
int ch_reload_init(ch_app *app, ch_config_builder builder, void *arg, int dev);

/* Close the reload handles (part of a graceful stop). */
void ch_reload_close(ch_app *app);

/* GET /dev/plugins (development mode): the live plugin versions as JSON. */
void ch_dev_serve(ch_conn *c, const ch_req *req);

#endif
