/*
 * directsend -- a test plugin for channel_send across processes.
 *
 * On connect it accepts and sends the client {"type":"hello","channel":
 * "<its channel name>"}.  A text {"type":"direct","to":"<channel>",
 * "message":M} makes it call channel_send(to, {"type":"direct_message",
 * "message":M}); having no group_message callback, the host forwards that
 * to the client holding `to`, in whichever process it lives.  Anything
 * else is answered with {"type":"error",...}; the reply to a refused
 * channel_send is {"type":"error","code":"send_failed"}.
 */
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

static int ds_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

static void ds_reply(chanhost_conn *c, json_t *j)
{
    if (j)
        api->send_json(c, j);
    json_decref(j);
}

static int ds_connect(chanhost_conn *c, void *state)
{
    (void)state;
    if (api->accept(c, NULL) != CHANHOST_OK)
        return 1011;
    ds_reply(c, json_pack("{s:s, s:s}", "type", "hello", "channel", api->channel_name(c)));
    return CHANHOST_ACCEPT;
}

static void ds_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    json_t *in = is_binary ? NULL : json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(in, "type"));
    const char *to = json_string_value(json_object_get(in, "to"));
    json_t *message = json_object_get(in, "message"), *out;

    (void)state;
    if (!type || strcmp(type, "direct") != 0 || !to || !message) {
        ds_reply(c, json_pack("{s:s, s:s}", "type", "error", "code", "bad_request"));
    } else {
        out = json_pack("{s:s, s:O}", "type", "direct_message", "message", message);
        if (!out || api->channel_send(to, out) != CHANHOST_OK)
            ds_reply(c, json_pack("{s:s, s:s}", "type", "error", "code", "send_failed"));
        json_decref(out);
    }
    json_decref(in);
}

static void ds_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)c;
    (void)state;
    (void)code;
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "directsend", .version = "1.0.0", .init = ds_init, .connect = ds_connect,
        .receive = ds_receive, .disconnect = ds_disconnect, );
