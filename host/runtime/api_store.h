/*
 * api_store.h -- api->store_call for plugins (api_store.c): a store call
 * on behalf of a connection, its result handed back through the plugin's
 * callback even when the connection went meanwhile; api->store_exec, the
 * same without a connection.  Sub-system runtime.
 */
#ifndef CH_API_STORE_H
#define CH_API_STORE_H

#include <jansson.h>

#include "chanhost.h"

typedef struct ch_app ch_app;

/* Tell api_store.c which app's store plugins use (once, at start;
 * borrowed). */
void ch_api_store_bind(ch_app *app);

/* api->store_call: params stolen; cb gets the result (borrowed). */
int ch_api_store_call(chanhost_conn *c, const char *op, json_t *params,
                      void (*cb)(chanhost_conn *c, int status, const json_t *result,
                                 const char *error, void *arg),
                      void *arg);

/* api->store_exec: store_call without a connection (params stolen; cb
 * gets the result, borrowed). */
int ch_api_store_exec(const char *op, json_t *params,
                      void (*cb)(int status, const json_t *result, const char *error, void *arg),
                      void *arg);

/* The connection is going: its pending store results will be handed to
 * the plugin with c == NULL. */
void ch_api_store_detach(chanhost_conn *c);

#endif
