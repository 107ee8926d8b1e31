/*
 * storeprobe -- a test plugin that exposes the message store over a
 * WebSocket, so integration tests can drive api->store_call through the
 * real host on either backend.
 *
 * The client sends {"id": N, "op": "message.append", "params": {...}};
 * the plugin answers {"id": N, "status": S, "result": {...}} or
 * {"id": N, "status": S, "error": "..."} once the store has answered
 * (for writes: once committed).  Anything else gets {"error": "..."}.
 */
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

static int sp_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return host->store_call ? 0 : -1;
}

static int sp_connect(chanhost_conn *c, void *state)
{
    (void)c;
    (void)state;
    return CHANHOST_ACCEPT;
}

/* The store answered: c is NULL if the client left meanwhile. */
static void on_result(chanhost_conn *c, int status, const json_t *result, const char *error,
                      void *arg)
{
    json_t *reply = arg;

    if (c) {
        json_object_set_new(reply, "status", json_integer(status));
        if (result)
            json_object_set(reply, "result", (json_t *)result);
        if (error)
            json_object_set_new(reply, "error", json_string(error));
        api->send_json(c, reply);
    }
    json_decref(reply);
}

static void sp_receive(chanhost_conn *c, void *state, const char *data, size_t len, int bin)
{
    json_t *in = json_loadb(data, len, 0, NULL);
    const char *op = json_string_value(json_object_get(in, "op"));
    json_t *params = json_object_get(in, "params");
    json_t *reply;
    int rc;

    (void)state;
    if (bin || !op || !json_is_object(params)) {
        json_t *e = json_pack("{s:s}", "error", "expected {\"id\", \"op\", \"params\": {}}");

        api->send_json(c, e);
        json_decref(e);
        json_decref(in);
        return;
    }
    reply = json_pack("{s:O}", "id",
                      json_object_get(in, "id") ? json_object_get(in, "id") : json_null());
    rc = api->store_call(c, op, json_incref(params), on_result, reply);
    if (rc != 0) {
        json_object_set_new(reply, "status", json_integer(rc));
        json_object_set_new(reply, "error", json_string("refused"));
        api->send_json(c, reply);
        json_decref(reply);
    }
    json_decref(in);
}

static void sp_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)c;
    (void)state;
    (void)code;
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "storeprobe", .version = "1.0.0", .init = sp_init, .connect = sp_connect,
        .receive = sp_receive, .disconnect = sp_disconnect, );
