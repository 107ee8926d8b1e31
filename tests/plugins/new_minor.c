/*
 * new_minor.c -- a test plugin that needs an SDK minor newer than the
 * host's (CHANHOST_PLUGIN_INIT_MINOR with CHANHOST_ABI_MINOR + 1), as a
 * plugin built against a newer sdk/chanhost.h would.  The host must refuse
 * it, saying which SDK it was built for and which the host speaks, before
 * calling anything in it (receive must never run).
 */
#include <stdlib.h>

#include "chanhost.h"

/* Never called: the loader refuses the plugin first. */
static void next_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    (void)c;
    (void)state;
    (void)data;
    (void)len;
    (void)is_binary;
    abort();
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor =
    CHANHOST_PLUGIN_INIT_MINOR(CHANHOST_ABI_MINOR + 1, .name = "from_the_next_minor",
                               .version = "1.0.0", .receive = next_receive, );
