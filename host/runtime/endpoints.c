/*
 * endpoints.c -- owns every live plugin HTTP request (chanhost_http,
 * endpoints.h): making one, running the plugin's handler on it, the
 * accessors plugins call (api->http_*), the answer, abandoning and
 * freeing.  The list of live requests is a file static (loop thread
 * only), so that requests a plugin never answers are still freed at exit.
 */
#include "endpoints.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "plugins.h"
#include "upgrade.h"

static chanhost_http *live; /* every request not yet freed */

chanhost_http *ch_endpoint_request_new(ch_plugin *p, const char *method, const char *path,
                                       const char *query, const char *peer, ch_route_params *params)
{
    chanhost_http *q = calloc(1, sizeof *q);

    if (!q || !(q->method = strdup(method)) || !(q->path = strdup(path)) ||
        !(q->query = strdup(query)) || !(q->peer = strdup(peer))) {
        ch_route_params_free(params);
        if (q) {
            free(q->method);
            free(q->path);
            free(q->query);
        }
        free(q);
        return NULL;
    }
    q->params = *params;
    memset(params, 0, sizeof *params);
    q->plugin = p;
    ch_plugin_ref(p);
    q->next = live;
    if (live)
        live->prev = q;
    live = q;
    return q;
}

void ch_endpoint_request_free(chanhost_http *q)
{
    if (!q)
        return;
    if (q->prev)
        q->prev->next = q->next;
    else
        live = q->next;
    if (q->next)
        q->next->prev = q->prev;
    ch_plugin_unref(q->plugin);
    ch_route_params_free(&q->params);
    ch_query_cache_free(&q->qcache);
    json_decref(q->body);
    json_decref(q->user);
    OPENSSL_cleanse(q->query, strlen(q->query)); /* may hold a token */
    free(q->method);
    free(q->path);
    free(q->query);
    free(q->peer);
    free(q);
}

void ch_endpoint_requests_free_all(void)
{
    while (live)
        ch_endpoint_request_free(live);
}

void ch_endpoint_request_run(chanhost_http *q, void (*handler)(chanhost_http *req, void *state))
{
    ch_plugin_http(q->plugin, handler, q);
}

void ch_endpoint_request_abandon(chanhost_http *q)
{
    ch_plugin_unref(q->plugin);
    q->plugin = NULL;
    q->answer = NULL;
    q->ctx = NULL;
}

/* ---- api->http_* --------------------------------------------------------- */

const char *ch_api_http_method(chanhost_http *q) { return q ? q->method : NULL; }

const char *ch_api_http_path(chanhost_http *q) { return q ? q->path : NULL; }

const char *ch_api_http_param(chanhost_http *q, const char *name)
{
    return q && name ? ch_route_param(&q->params, name) : NULL;
}

const char *ch_api_http_query(chanhost_http *q, const char *name)
{
    return q && name ? ch_query_cached(&q->qcache, q->query, name) : NULL;
}

const json_t *ch_api_http_body(chanhost_http *q) { return q ? q->body : NULL; }

const json_t *ch_api_http_user(chanhost_http *q) { return q ? q->user : NULL; }

int ch_api_http_is_service(chanhost_http *q) { return q ? q->is_service : 0; }

const char *ch_api_http_peer(chanhost_http *q) { return q ? q->peer : NULL; }

/* Hand the answer to the hook (body stolen by it), or drop it if the
 * request was abandoned; then free the request. */
int ch_api_http_reply(chanhost_http *q, int status, json_t *body)
{
    if (!q || status < 200 || status > 599) {
        json_decref(body);
        return CHANHOST_ERR_INVALID;
    }
    if (q->answer)
        q->answer(q, status, body);
    else
        json_decref(body);
    ch_endpoint_request_free(q);
    return CHANHOST_OK;
}
