/*
 * whoami -- a test plugin for the handshake's authentication.
 *
 * On connect it accepts and sends the client one message:
 *   {"user": <api->user(c), or null>, "subprotocol": "Bearer" or null}
 * where "subprotocol" says whether the client offered the "Bearer"
 * subprotocol (then the host answers with it: docs/api.md).  It ignores
 * whatever the client sends afterwards.
 */
#include "chanhost.h"

static const chanhost_api *api;

static int wa_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

static int wa_connect(chanhost_conn *c, void *state)
{
    const json_t *user = api->user(c);
    json_t *out;

    (void)state;
    if (api->accept(c, NULL) != CHANHOST_OK)
        return 1011;
    out = json_pack("{s:O?, s:s?}", "user", user, "subprotocol",
                    api->subprotocol_offered(c, "Bearer") ? "Bearer" : NULL);
    if (out)
        api->send_json(c, out);
    json_decref(out);
    return CHANHOST_ACCEPT;
}

static void wa_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    (void)c;
    (void)state;
    (void)data;
    (void)len;
    (void)is_binary;
}

static void wa_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)c;
    (void)state;
    (void)code;
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "whoami", .version = "1.0.0", .init = wa_init, .connect = wa_connect,
        .receive = wa_receive, .disconnect = wa_disconnect, );
