/*
 * echo -- the SDK's hello-world: every text and binary message comes back
 * unchanged.  With `plugin_setting echo prefix P`, text replies start
 * with P (handy for seeing which build of the plugin answers).
 *
 * It is also the target of the protocol conformance tests, which is why
 * it accepts every connection and keeps no state of its own: it has no
 * connect or disconnect callback (both optional), so the host accepts
 * every connection for it.
 */
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

typedef struct echo_state {
    char *prefix; /* NULL: no prefix */
    size_t prefix_len;
} echo_state;

static int echo_init(const chanhost_api *host, const json_t *settings, void **state)
{
    const char *prefix = json_string_value(json_object_get(settings, "prefix"));
    echo_state *st = calloc(1, sizeof *st);

    if (!st)
        return -1;
    api = host;
    if (prefix && *prefix) {
        st->prefix = strdup(prefix);
        st->prefix_len = strlen(prefix);
    }
    *state = st;
    return 0;
}

static void echo_fini(void *state)
{
    echo_state *st = state;

    free(st->prefix);
    free(st);
}

static void echo_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    echo_state *st = state;
    char *reply;

    if (is_binary) {
        api->send_binary(c, data, len);
    } else if (!st->prefix) {
        api->send_text(c, data, len);
    } else if ((reply = malloc(st->prefix_len + len)) != NULL) {
        memcpy(reply, st->prefix, st->prefix_len);
        memcpy(reply + st->prefix_len, data, len);
        api->send_text(c, reply, st->prefix_len + len);
        free(reply);
    }
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(.name = "echo",
                                                                         .version = "1.0.0",
                                                                         .init = echo_init,
                                                                         .fini = echo_fini,
                                                                         .receive = echo_receive, );
