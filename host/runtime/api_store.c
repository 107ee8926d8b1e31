/*
 * api_store.c -- api->store_call: a plugin's store operation, tied to the
 * connection it was made for, so that a result arriving after the client
 * left reaches the plugin with c == NULL instead of a dangling pointer;
 * and api->store_exec, the same without a connection.
 *
 * Each call holds a reference on the plugin version that made it, so its
 * callback code stays loaded until the result has been handed over.  A
 * plugin may call the host's operations and its own ("<name>.<op>",
 * store_plugin.h), never another plugin's.
 */
#include "api_store.h"

#include <stdlib.h>

#include "app.h"
#include "log.h"
#include "plugins.h"
#include "store.h"
#include "store_plugin.h"
#include "ws.h"

typedef void (*store_cb)(chanhost_conn *c, int status, const json_t *result, const char *error,
                         void *arg);
typedef void (*exec_cb)(int status, const json_t *result, const char *error, void *arg);

struct ch_store_pending {
    struct ch_store_pending *next, *prev; /* in the connection's list */
    chanhost_conn *conn;                  /* NULL once it is gone */
    ch_plugin *plugin;                    /* a reference */
    store_cb cb;                          /* store_call's, or NULL */
    exec_cb xcb;                          /* store_exec's, or NULL */
    void *arg;
};

static ch_app *store_app;

void ch_api_store_bind(ch_app *app) { store_app = app; }

static void pending_unlink(ch_store_pending *p)
{
    if (!p->conn)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        p->conn->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

/* The store answered (loop thread): hand the result to the plugin. */
static void on_result(int status, json_t *result, const char *error, void *arg)
{
    ch_store_pending *p = arg;
    chanhost_conn *c = p->conn;

    pending_unlink(p);
    if (p->xcb)
        ch_plugin_exec_result(p->plugin, p->xcb, status, result, error, p->arg);
    else
        ch_plugin_store_result(p->plugin, p->cb, c, status, result, error, p->arg);
    ch_plugin_unref(p->plugin);
    free(p);
}

/* Queue op with params (stolen) for the plugin whose callback runs now,
 * its result going to cb or xcb (one of them set) with arg.  Returns the
 * pending call (the store holds it until on_result), or NULL with the
 * CHANHOST_STORE_* error in *rc. */
static ch_store_pending *queue_call(const char *op, json_t *params, store_cb cb, exec_cb xcb,
                                    void *arg, int *rc)
{
    const ch_plugin *cur = ch_plugin_current();
    ch_store_pending *p;
    char why[300];

    *rc = CHANHOST_STORE_EINVAL;
    if (!op || !params || !(cb || xcb) || !cur) {
        json_decref(params);
        return NULL;
    }
    if (ch_store_op_allowed(op, cur->name, why, sizeof why) != 0) { /* its own, the host's */
        ch_log(CH_LOG_DEBUG, "store %s refused: %s", op, why);
        json_decref(params);
        return NULL;
    }
    *rc = CHANHOST_STORE_EIO;
    if (!store_app || !store_app->store || !(p = calloc(1, sizeof *p))) {
        json_decref(params);
        return NULL;
    }
    p->plugin = (ch_plugin *)cur;
    p->cb = cb;
    p->xcb = xcb;
    p->arg = arg;
    *rc = ch_store_call(store_app->store, op, params, on_result, p);
    if (*rc != 0) {
        free(p);
        return NULL;
    }
    ch_plugin_ref(p->plugin);
    return p;
}

int ch_api_store_exec(const char *op, json_t *params, exec_cb cb, void *arg)
{
    int rc;

    queue_call(op, params, NULL, cb, arg, &rc);
    return rc;
}

int ch_api_store_call(chanhost_conn *c, const char *op, json_t *params, store_cb cb, void *arg)
{
    ch_store_pending *p;
    int rc;

    if (c && c->conn->closing) {
        json_decref(params);
        return CHANHOST_STORE_EINVAL;
    }
    if (!(p = queue_call(op, params, cb, NULL, arg, &rc)))
        return rc;
    if (c) {
        p->conn = c;
        p->next = c->pending;
        if (c->pending)
            c->pending->prev = p;
        c->pending = p;
    }
    return 0;
}

void ch_api_store_detach(chanhost_conn *c)
{
    while (c->pending) {
        ch_store_pending *p = c->pending;

        c->pending = p->next;
        p->next = p->prev = NULL;
        p->conn = NULL;
    }
}
