/*
 * presence_probe -- a test plugin of the host's presence service (SDK
 * 1.4, docs/presence.md), with no store and no chat: the smallest plugin
 * that uses it, for tests/integration/test_presence.py.
 *
 * Route parameter <group>: on connect (a user's token is needed: else
 * 4001) it accepts, tracks the connection in that group
 * (api->presence_track) and sends {"type": "presence", "users":
 * api->presence_list(group)}.  It has no group_message callback, so the
 * host forwards the presence_diff frames as they are.  The client may
 * send "untrack" (api->presence_untrack; answered {"type": "untracked",
 * "rc"}) or "list" (answered {"type": "list", "users"}), or "track G" /
 * "untrack G" for another group G (answered {"type": "tracked" or
 * "untracked", "rc"}).  Owns no state: the group is read from the route
 * each time.
 */
#include <string.h>

#include "chanhost.h"

static const chanhost_api *api;

/* Keep the host's api table (borrowed for as long as the plugin is loaded). */
static int pp_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

/* Send {"type": type, key: value (stolen)} to c. */
static void reply(chanhost_conn *c, const char *type, const char *key, json_t *value)
{
    json_t *out = value ? json_pack("{s:s, s:o}", "type", type, key, value) : NULL;

    if (out)
        api->send_json(c, out);
    json_decref(out);
}

/* 4001 without a user; else accepted, tracked, and the list sent. */
static int pp_connect(chanhost_conn *c, void *state)
{
    const char *group = api->route_param(c, "group");
    int rc;

    (void)state;
    if (api->user_id(c) <= 0)
        return 4001;
    if (api->accept(c, NULL) != CHANHOST_OK)
        return 1011;
    rc = api->presence_track(c, group);
    if (rc != CHANHOST_OK)
        return 1011;
    reply(c, "presence", "users", api->presence_list(group));
    return CHANHOST_ACCEPT;
}

/* Call fn (presence_track or presence_untrack) for the group named by
 * name[0..len) (borrowed, copied) and answer {"type": type, "rc"}. */
static void other_group(chanhost_conn *c, const char *type,
                        int (*fn)(chanhost_conn *c, const char *group), const char *name,
                        size_t len)
{
    char group[96];

    memcpy(group, name, len);
    group[len] = '\0';
    reply(c, type, "rc", json_integer(fn(c, group)));
}

/* "untrack", "list", "track G" or "untrack G" (text borrowed); anything
 * else is ignored. */
static void pp_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    const char *group = api->route_param(c, "group");

    (void)state;
    if (is_binary)
        return;
    if (len == 7 && memcmp(data, "untrack", 7) == 0)
        reply(c, "untracked", "rc", json_integer(api->presence_untrack(c, group)));
    else if (len == 4 && memcmp(data, "list", 4) == 0)
        reply(c, "list", "users", api->presence_list(group));
    else if (len > 6 && len < 90 && memcmp(data, "track ", 6) == 0)
        other_group(c, "tracked", api->presence_track, data + 6, len - 6);
    else if (len > 8 && len < 90 && memcmp(data, "untrack ", 8) == 0)
        other_group(c, "untracked", api->presence_untrack, data + 8, len - 8);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(.name = "presence_probe",
                                                                         .version = "1.0.0",
                                                                         .init = pp_init,
                                                                         .connect = pp_connect,
                                                                         .receive = pp_receive, );
