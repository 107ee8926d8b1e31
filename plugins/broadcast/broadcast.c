/*
 * broadcast -- the Channels tutorial's chat consumer as a chanhost plugin.
 *
 * Route: /ws/broadcast/<int:room_id>/.  On connect the client joins group
 * room_<room_id>; a text message {"type":"chat_message","message":M} is
 * sent to the whole group, sender included, as
 * {"type":"chat_message","message":M}.  No auth, no store: this is the
 * target of the fan-out tests and benchmarks.  It has no group_message
 * callback, so the host forwards each group message to every member from
 * one shared, encoded-once frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

/* Per-connection state: the group name, kept in the data pointer. */
typedef struct room {
    char group[48];
} room;

static int bc_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

static int bc_connect(chanhost_conn *c, void *state)
{
    const char *id = api->route_param(c, "room_id");
    room *r = malloc(sizeof *r);

    (void)state;
    if (!r || !id || snprintf(r->group, sizeof r->group, "room_%s", id) >= (int)sizeof r->group ||
        api->group_add(c, r->group) != CHANHOST_OK) {
        free(r);
        return 1011;
    }
    api->set_data(c, r);
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
    room *r = api->get_data(c);
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
        if (out)
            api->group_send(r->group, out);
        json_decref(out);
    }
    json_decref(in);
}

static void bc_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)state;
    (void)code;
    free(api->get_data(c));
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "broadcast", .version = "1.0.0", .init = bc_init, .connect = bc_connect,
        .receive = bc_receive, .disconnect = bc_disconnect, );
