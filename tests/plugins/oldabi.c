/*
 * oldabi.c -- a test plugin as built against SDK 1.0: its descriptor says
 * abi_minor 0 and ends where the 1.0 descriptor ended (before adopt), and
 * it has only the mandatory fields plus init (no connect, disconnect,
 * fini, group_message): the host must load it, accept every connection
 * for it and never call an absent callback.
 *
 * It also probes the size limit on what plugins send: a text message "N"
 * makes it call send_text with N bytes of 'x' and group_send with a
 * message whose "pad" holds N bytes, then answer
 *   {"type":"sizes","send_text":RC,"group_send":RC,"error":"...",
 *    "has_user":0|1}
 * with both return codes, chanhost_strerror of the first, and whether the
 * host's table has api->user (an ABI 1.1 member, tested with
 * CHANHOST_API_HAS as a 1.0 plugin must).
 */
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

/* Keep the host's table (borrowed, valid while loaded). */
static int old_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

/* Send N bytes to the client and to a group, then report both results. */
static void old_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    size_t n = is_binary ? 0 : (size_t)strtoul(data, NULL, 10);
    char *pad = malloc(n + 1);
    json_t *big = NULL, *report;
    int sent, grouped;

    (void)state;
    (void)len;
    if (!pad)
        return;
    memset(pad, 'x', n);
    pad[n] = '\0';
    sent = api->send_text(c, pad, n);
    big = json_pack("{s:s, s:s}", "type", "pad", "pad", pad);
    grouped = big ? api->group_send("oldabi-sizes", big) : CHANHOST_ERR_NOMEM;
    report = json_pack("{s:s, s:i, s:i, s:s, s:b}", "type", "sizes", "send_text", sent,
                       "group_send", grouped, "error", chanhost_strerror(sent), "has_user",
                       CHANHOST_API_HAS(api, user));
    if (report)
        api->send_json(c, report);
    json_decref(report);
    json_decref(big);
    free(pad);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = {
    .struct_size = offsetof(chanhost_plugin, adopt),
    .abi_major = CHANHOST_ABI_MAJOR,
    .abi_minor = 0,
    .jansson_major = JANSSON_MAJOR_VERSION,
    .name = "oldabi",
    .version = "1.0.0",
    .init = old_init,
    .receive = old_receive,
};
