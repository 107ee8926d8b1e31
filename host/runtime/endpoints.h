/*
 * endpoints.h -- one HTTP request to a plugin endpoint (struct
 * chanhost_http of sdk/chanhost.h, ABI 1.2): what the plugin reads through
 * api->http_*, the call into its handler, and its answer, handed through
 * a hook to whoever serves HTTP (the API, api/rest_plugins.c, sets it: a
 * lower layer reaches the higher one only through that pointer).
 * Sub-system runtime.
 *
 * Life of a request: the API makes it (ch_endpoint_request_new), fills in
 * body, user and the answer hook, and runs the handler
 * (ch_endpoint_request_run).  The plugin answers with api->http_reply,
 * then or later: the hook gets the answer and the request is freed.  If
 * the API gives up waiting (timeout), it abandons the request: the
 * plugin's later answer is dropped; a request the plugin never answers
 * stays allocated until ch_endpoint_requests_free_all at exit.
 */
#ifndef CH_ENDPOINTS_H
#define CH_ENDPOINTS_H

#include <jansson.h>

#include "chanhost.h"
#include "router.h"

typedef struct ch_plugin ch_plugin;

/* Gets the plugin's answer: status, body (stolen; NULL = no body). */
typedef void (*ch_endpoint_answer_fn)(chanhost_http *req, int status, json_t *body);

struct chanhost_http {
    chanhost_http *next, *prev;  /* every live request (endpoints.c) */
    char *method, *path, *query; /* owned; query raw, "" if none */
    char *peer;                  /* owned, "ip:port" */
    ch_route_params params;      /* owned: the pattern's parameters */
    json_t *body;                /* owned reference, or NULL */
    json_t *user;                /* owned {"id","username","roles"}, or NULL */
    int is_service;
    ch_plugin *plugin;            /* a reference until answered or abandoned */
    struct ch_qval *qcache;       /* decoded query values handed out */
    ch_endpoint_answer_fn answer; /* NULL: abandoned, answers are dropped */
    void *ctx;                    /* for answer */
};

/* A new request for plugin p (a reference is taken) with copies of
 * method, path, query and peer (borrowed) and the parameters of *params
 * (taken over: *params is emptied).  Returns it, or NULL out of memory
 * (*params is then freed). */
chanhost_http *ch_endpoint_request_new(ch_plugin *p, const char *method, const char *path,
                                       const char *query, const char *peer,
                                       ch_route_params *params);

/* Call handler (p's) with req.  req may be answered and freed before this
 * returns: the caller must not touch it afterwards unless its answer hook
 * says it is still waiting. */
void ch_endpoint_request_run(chanhost_http *req, void (*handler)(chanhost_http *req, void *state));

/* Stop waiting for req's answer: its plugin reference is dropped and a
 * later api->http_reply only frees it. */
void ch_endpoint_request_abandon(chanhost_http *req);

/* Free a request that was never handed to the plugin (NULL is fine). */
void ch_endpoint_request_free(chanhost_http *req);

/* Free every request still alive (abandoned, never answered): at exit. */
void ch_endpoint_requests_free_all(void);

/* The api->http_* and api->store_exec members (sdk/chanhost.h). */
const char *ch_api_http_method(chanhost_http *req);
const char *ch_api_http_path(chanhost_http *req);
const char *ch_api_http_param(chanhost_http *req, const char *name);
const char *ch_api_http_query(chanhost_http *req, const char *name);
const json_t *ch_api_http_body(chanhost_http *req);
const json_t *ch_api_http_user(chanhost_http *req);
int ch_api_http_is_service(chanhost_http *req);
const char *ch_api_http_peer(chanhost_http *req);
int ch_api_http_reply(chanhost_http *req, int status, json_t *body);

#endif
