/*
 * template.c -- a starting point for a chanhost plugin built out of tree
 * against an installed chanhost (README.md).  It owns nothing but its own
 * state: the settings copied at init and one counter per connection.
 *
 * It accepts every connection and answers each text message with one
 * JSON frame:
 *
 *     {"type": "reply", "greeting": "hello", "message": "<the text>", "count": 1}
 *
 * where count numbers the messages of this connection and greeting comes
 * from `plugin_setting template greeting TEXT` (default "hello").  A
 * binary message gets {"type": "error", "error": "text messages only"}.
 */
#define _POSIX_C_SOURCE 200809L /* strdup under -std=c11 */

#include <stdlib.h>
#include <string.h>

#include <chanhost.h>

#define PLUGIN_NAME "template"

/* The host's services, set by init; valid until fini.  Each loaded copy
 * of the plugin has its own (hot reload loads a new copy). */
static const chanhost_api *api;

/* What init returns as the plugin's state; freed by fini. */
typedef struct template_state {
    char *greeting; /* owned copy of the setting */
} template_state;

/* What one connection keeps (api->set_data); freed by disconnect. */
typedef struct template_conn {
    json_int_t count; /* messages received so far */
} template_conn;

/* Called once per loaded copy: remember the api (borrowed, host-owned)
 * and copy what is needed from settings (borrowed).  *state gets a new
 * template_state that fini frees.  Returns 0, or -1 to refuse loading. */
static int template_init(const chanhost_api *host, const json_t *settings, void **state)
{
    const char *greeting = json_string_value(json_object_get(settings, "greeting"));
    template_state *st = calloc(1, sizeof *st);

    if (!st)
        return -1;
    st->greeting = strdup(greeting ? greeting : "hello");
    if (!st->greeting) {
        free(st);
        return -1;
    }
    api = host;
    api->log(CHANHOST_LOG_INFO, "greeting=%s", st->greeting);
    *state = st;
    return 0;
}

/* Called once when this copy is unloaded: frees the state init made. */
static void template_fini(void *state)
{
    template_state *st = state;

    free(st->greeting);
    free(st);
}

/* A client connects (c is the host's): give it a counter, owned by the
 * connection's data pointer until disconnect, and accept. */
static int template_connect(chanhost_conn *c, void *state)
{
    template_conn *tc = calloc(1, sizeof *tc);

    (void)state;
    if (!tc)
        return 1011; /* accept, then close: internal error */
    api->set_data(c, tc);
    return CHANHOST_ACCEPT;
}

/* A message arrived (data borrowed, valid during the call): answer it
 * with one JSON frame, built here and released after sending. */
static void template_receive(chanhost_conn *c, void *state, const char *data, size_t len,
                             int is_binary)
{
    template_state *st = state;
    template_conn *tc = api->get_data(c);
    json_t *reply;

    if (is_binary)
        reply = json_pack("{s:s, s:s}", "type", "error", "error", "text messages only");
    else
        reply = json_pack("{s:s, s:s, s:s%, s:I}", "type", "reply", "greeting", st->greeting,
                          "message", data, len, "count", ++tc->count);
    if (!reply) {
        api->log(CHANHOST_LOG_ERROR, "out of memory");
        api->close(c, 1011, "out of memory");
        return;
    }
    api->send_json(c, reply); /* borrows reply */
    json_decref(reply);
}

/* The connection is gone: free the counter connect made. */
static void template_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)state;
    (void)code;
    free(api->get_data(c));
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
    .name = PLUGIN_NAME,
    .version = "0.1.0",
    .init = template_init,
    .fini = template_fini,
    .connect = template_connect,
    .receive = template_receive,
    .disconnect = template_disconnect,
);
