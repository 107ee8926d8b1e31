/*
 * hot.c -- the plugin the reload tests rebuild again and again: it echoes
 * text as REPLY + text, so a client can tell which build answers.  Built
 * by tests/integration/test_reload.py with -DREPLY='"v1:"' (and
 * -DWITH_ADOPT=1 for a version that takes over old connections).
 */
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

#ifndef REPLY
#define REPLY "v?:"
#endif

static const chanhost_api *api;

static int hot_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

static int hot_connect(chanhost_conn *c, void *state)
{
    (void)state;
    api->set_data(c, strdup("session"));
    return CHANHOST_ACCEPT;
}

static void hot_receive(chanhost_conn *c, void *state, const char *data, size_t len, int bin)
{
    size_t n = strlen(REPLY);
    char *out = malloc(n + len);

    (void)state;
    (void)bin;
    if (!out)
        return;
    memcpy(out, REPLY, n);
    memcpy(out + n, data, len);
    api->send_text(c, out, n + len);
    free(out);
}

static void hot_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)state;
    (void)code;
    free(api->get_data(c));
}

#if WITH_ADOPT
/* Take over every old connection; its data pointer comes along. */
static int hot_adopt(chanhost_conn *c, void *state, void *old_data)
{
    (void)c;
    (void)state;
    return old_data && strcmp(old_data, "session") == 0 ? 0 : -1;
}
#endif

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor =
    CHANHOST_PLUGIN_INIT(.name = "hot", .version = REPLY, .init = hot_init, .connect = hot_connect,
                         .receive = hot_receive, .disconnect = hot_disconnect,
#if WITH_ADOPT
                         .adopt = hot_adopt,
#endif
    );
