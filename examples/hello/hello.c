/* hello.c -- the smallest useful chanhost plugin: it answers every text
 * message with "hello, " and the message (docs/plugins.md, step 1). */
#include <stdlib.h>
#include <string.h>

#include <chanhost.h>

static const chanhost_api *api; /* the host's functions, set by init */

/* Once per loaded copy: keep the api table (borrowed, valid until the
 * copy is unloaded).  No state: *state stays NULL. */
static int hello_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

/* A complete message arrived (data borrowed, valid during the call): send
 * the answer, which send_text copies, so ours is freed at once. */
static void hello_receive(chanhost_conn *c, void *state, const char *data, size_t len,
                          int is_binary)
{
    char *out = malloc(len + 7);

    (void)state;
    if (is_binary || !out) {
        free(out);
        return;
    }
    memcpy(out, "hello, ", 7);
    memcpy(out + 7, data, len);
    api->send_text(c, out, len + 7);
    free(out);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
    .name = "hello",
    .version = "1.0.0",
    .init = hello_init,
    .receive = hello_receive,
);
