/*
 * bad_abi.c -- a test plugin built for a future, incompatible ABI.
 *
 * Its descriptor is filled by hand (not with CHANHOST_PLUGIN_INIT) with
 * abi_major one above the host's.  The host must refuse it with a line
 * naming the plugin and the ABI field, before calling anything in it.
 */
#include "chanhost.h"

static int future_init(const chanhost_api *api, const json_t *settings, void **state)
{
    (void)api;
    (void)settings;
    (void)state;
    return 0;
}

static int future_connect(chanhost_conn *c, void *state)
{
    (void)c;
    (void)state;
    return CHANHOST_ACCEPT;
}

static void future_receive(chanhost_conn *c, void *state, const char *data, size_t len,
                           int is_binary)
{
    (void)c;
    (void)state;
    (void)data;
    (void)len;
    (void)is_binary;
}

static void future_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)c;
    (void)state;
    (void)code;
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = {
    .struct_size = sizeof(chanhost_plugin),
    .abi_major = CHANHOST_ABI_MAJOR + 1,
    .abi_minor = 0,
    .jansson_major = JANSSON_MAJOR_VERSION,
    .name = "from_the_future",
    .version = "99.0.0",
    .init = future_init,
    .connect = future_connect,
    .receive = future_receive,
    .disconnect = future_disconnect,
};
