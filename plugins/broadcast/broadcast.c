/*
 * broadcast -- the Channels tutorial's chat consumer as a chanhost plugin.
 *
 * Route: /ws/broadcast/<int:room_id>/.  On connect the client joins group
 * room_<room_id>; a text message {"type":"chat_message","message":M} is
 * sent to the whole group, sender included, as
 * {"type":"chat_message","message":M}.  No auth, no store: this is the
 * target of the fan-out tests and benchmarks.  It has no group_message
 * callback, so the host forwards each group message to every member from
 * one shared, encoded-once frame.  It keeps nothing per connection: the
 * group name is made from the route parameter when needed, and the
 * request's query and headers are released at accept (SDK 1.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

#define GROUP_MAX 48

/* The connection's group name "room_<room_id>" into group[GROUP_MAX].
 * Returns 0, or -1 without a room_id or if it does not fit. */
static int room_group(chanhost_conn *c, char *group)
{
    const char *id = api->route_param(c, "room_id");

    return id && snprintf(group, GROUP_MAX, "room_%s", id) < GROUP_MAX ? 0 : -1;
}

static int bc_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

static int bc_connect(chanhost_conn *c, void *state)
{
    char group[GROUP_MAX];

    (void)state;
    if (room_group(c, group) != 0 || api->group_add(c, group) != CHANHOST_OK)
        return 1011;
    api->release_request(c); /* only the route parameter is read after this */
    return CHANHOST_ACCEPT;
}

/* Answer a client mistake without closing the connection. */
static void bc_error(chanhost_conn *c, const char *code, const char *message)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);

    if (e)
        api->send_json(c, e);
    json_decref(e);
}

static void bc_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    char group[GROUP_MAX];
    json_t *in, *out;
    const char *type;
    json_t *message;

    (void)state;
    if (is_binary) {
        bc_error(c, "binary_unsupported", "send JSON text messages");
        return;
    }
    in = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL); /* as chk_parse */
    type = json_string_value(json_object_get(in, "type"));
    message = json_object_get(in, "message");
    if (!in || !json_is_object(in)) {
        bc_error(c, "bad_json", "message is not a JSON object");
    } else if (!type || strcmp(type, "chat_message") != 0 || !json_is_string(message)) {
        bc_error(c, "bad_type", "expected {\"type\":\"chat_message\",\"message\":\"...\"}");
    } else {
        out = json_pack("{s:s, s:O}", "type", "chat_message", "message", message);
        if (out && room_group(c, group) == 0)
            api->group_send(group, out);
        json_decref(out);
    }
    json_decref(in);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(.name = "broadcast",
                                                                         .version = "1.0.0",
                                                                         .init = bc_init,
                                                                         .connect = bc_connect,
                                                                         .receive = bc_receive, );
