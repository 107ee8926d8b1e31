/*
 * hello_http.c -- a test plugin declaring HTTP endpoints (ABI 1.2) with
 * each access level, a converter, a query parameter, a JSON body, an
 * answer after a store call (api->store_exec), an answer with no body,
 * and one endpoint that never answers (the host's 504).  Its WebSocket
 * route only echoes (the config must name the plugin in a route).
 *
 * Build-time knobs, for tests that compile it with cc: HELLO_PREFIX (the
 * endpoints' path prefix, default "/api/hello") and HELLO_GREETING (what
 * GET PREFIX/ answers, default "hello").  Setting `plugin_setting NAME
 * fail yes` makes init fail, so the host refuses the plugin.
 *
 * Owns: its api pointer (static: one per loaded copy) and, per request
 * waiting for the store, nothing but the request itself.
 */
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

#ifndef HELLO_PREFIX
#define HELLO_PREFIX "/api/hello"
#endif
#ifndef HELLO_GREETING
#define HELLO_GREETING "hello"
#endif

static const chanhost_api *api;

/* init: refuse to start when settings say fail=yes. */
static int hello_init(const chanhost_api *host, const json_t *settings, void **state)
{
    const char *fail = json_string_value(json_object_get(settings, "fail"));

    (void)state;
    api = host;
    if (fail && strcmp(fail, "yes") == 0) {
        host->log(CHANHOST_LOG_ERROR, "refusing to start (fail=yes)");
        return -1;
    }
    return CHANHOST_API_HAS(host, store_exec) ? 0 : -1;
}

/* WebSocket messages are echoed back. */
static void hello_receive(chanhost_conn *c, void *state, const char *data, size_t len, int bin)
{
    (void)state;
    if (bin)
        api->send_binary(c, data, len);
    else
        api->send_text(c, data, len);
}

/* Who is calling: {"greeting", "user": user or null, "service": bool}
 * (new reference). */
static json_t *caller(chanhost_http *req)
{
    const json_t *user = api->http_user(req);

    return json_pack("{s:s, s:O, s:b}", "greeting", HELLO_GREETING, "user",
                     user ? (json_t *)user : json_null(), "service", api->http_is_service(req));
}

/* GET PREFIX/, /user/, /admin/, /service/: who called (each endpoint has
 * its own access level; the host checked it). */
static void hello_who(chanhost_http *req, void *state)
{
    (void)state;
    api->http_reply(req, 200, caller(req));
}

/* GET PREFIX/items/<int:item_id>/?q=...: the converter and query values. */
static void hello_item(chanhost_http *req, void *state)
{
    const char *q = api->http_query(req, "q");

    (void)state;
    api->http_reply(req, 200,
                    json_pack("{s:s, s:s?, s:s, s:s}", "item_id", api->http_param(req, "item_id"),
                              "q", q, "path", api->http_path(req), "peer", api->http_peer(req)));
}

/* POST PREFIX/echo/: 201 with the body (or null) and the method. */
static void hello_echo(chanhost_http *req, void *state)
{
    const json_t *body = api->http_body(req);

    (void)state;
    api->http_reply(req, 201,
                    json_pack("{s:O, s:s}", "echo", body ? (json_t *)body : json_null(), "method",
                              api->http_method(req)));
}

/* The store answered room.get for the request in arg. */
static void on_room(int status, const json_t *result, const char *error, void *arg)
{
    chanhost_http *req = arg;

    if (status != 0) {
        api->http_reply(req, status == CHANHOST_STORE_ENOENT ? 404 : 503,
                        json_pack("{s:s, s:s}", "error",
                                  status == CHANHOST_STORE_ENOENT ? "not_found"
                                                                  : "store_unavailable",
                                  "message", error ? error : chanhost_strerror(status)));
        return;
    }
    api->http_reply(req, 200, json_pack("{s:O}", "room", json_object_get(result, "room")));
}

/* GET PREFIX/rooms/<int:room_id>/: answered after api->store_exec. */
static void hello_room(chanhost_http *req, void *state)
{
    json_t *params = json_pack("{s:I}", "id",
                               (json_int_t)strtoll(api->http_param(req, "room_id"), NULL, 10));
    int rc;

    (void)state;
    rc = api->store_exec("room.get", params, on_room, req);
    if (rc != 0)
        api->http_reply(req, 503,
                        json_pack("{s:s, s:s}", "error", "store_unavailable", "message",
                                  chanhost_strerror(rc)));
}

/* GET PREFIX/silent/: never answered (the host answers 504); logged so
 * that tests know the request reached the plugin. */
static void hello_silent(chanhost_http *req, void *state)
{
    (void)state;
    api->log(CHANHOST_LOG_INFO, "holding %s unanswered", api->http_path(req));
}

/* DELETE PREFIX/echo/: 204, no body; a bad status first is refused. */
static void hello_nothing(chanhost_http *req, void *state)
{
    (void)state;
    if (api->http_reply(req, 99, NULL) != CHANHOST_ERR_INVALID)
        api->log(CHANHOST_LOG_ERROR, "http_reply accepted status 99");
    api->http_reply(req, 204, NULL);
}

static const chanhost_endpoint endpoints[] = {
    {"GET", HELLO_PREFIX "/", CHANHOST_HTTP_ANY, hello_who},
    {"GET", HELLO_PREFIX "/user/", CHANHOST_HTTP_USER, hello_who},
    {"GET", HELLO_PREFIX "/admin/", CHANHOST_HTTP_ADMIN, hello_who},
    {"GET", HELLO_PREFIX "/service/", CHANHOST_HTTP_SERVICE, hello_who},
    {"GET", HELLO_PREFIX "/items/<int:item_id>/", CHANHOST_HTTP_ANY, hello_item},
    {"POST", HELLO_PREFIX "/echo/", CHANHOST_HTTP_ANY, hello_echo},
    {"DELETE", HELLO_PREFIX "/echo/", CHANHOST_HTTP_ANY, hello_nothing},
    {"GET", HELLO_PREFIX "/rooms/<int:room_id>/", CHANHOST_HTTP_USER, hello_room},
    {"GET", HELLO_PREFIX "/silent/", CHANHOST_HTTP_ANY, hello_silent},
};

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "hello_http", .version = "1.0.0", .init = hello_init, .receive = hello_receive,
        .endpoints = endpoints, .n_endpoints = sizeof endpoints / sizeof endpoints[0], );
