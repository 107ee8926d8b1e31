/*
 * init_fails.c -- a test plugin with a valid descriptor whose init refuses
 * to start (returns -1).  The host must not route to it, must say that
 * init failed, and must never call its other callbacks.
 */
#include "chanhost.h"

static int refuser_init(const chanhost_api *api, const json_t *settings, void **state)
{
    (void)settings;
    *state = NULL;
    if (api && api->log)
        api->log(CHANHOST_LOG_ERROR, "refusing to start (test plugin)");
    return -1;
}

static int refuser_connect(chanhost_conn *c, void *state)
{
    (void)c;
    (void)state;
    return CHANHOST_DENY;
}

static void refuser_receive(chanhost_conn *c, void *state, const char *data, size_t len,
                            int is_binary)
{
    (void)c;
    (void)state;
    (void)data;
    (void)len;
    (void)is_binary;
}

static void refuser_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)c;
    (void)state;
    (void)code;
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "refuser", .version = "1.0.0", .init = refuser_init, .connect = refuser_connect,
        .receive = refuser_receive, .disconnect = refuser_disconnect, );
