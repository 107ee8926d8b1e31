/*
 * routes.h -- the running route table: compiled patterns tied to plugins.
 *
 * A route is reference-counted: the table holds one reference and every
 * WebSocket connection accepted on it holds one, so a config reload can
 * replace the table while old connections still point at the routes they
 * came in on.  A new table reuses the route objects of the old one where
 * pattern, plugin and reload policy are unchanged, so counters carry on.
 */
#ifndef CH_ROUTES_H
#define CH_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "router.h"

typedef struct ch_plugin ch_plugin;

typedef struct ch_route {
    ch_pattern *pattern;
    char *plugin_name;
    ch_plugin *plugin;    /* current version (borrowed from the app's
                                 registry); NULL: failed to load, or the
                                 route left the table */
    int reload;           /* CH_RELOAD_KEEP / CH_RELOAD_RESTART */
    uint64_t connections; /* open WebSocket connections on this route */
    uint32_t refs;
} ch_route;

typedef struct ch_route_table {
    ch_route **routes;
    size_t n;
} ch_route_table;

/* Build a table for cfg's routes, reusing equal routes of `old` (may be
 * NULL; its routes get an extra reference when reused).  Plugins are not
 * tied here (route->plugin NULL for new routes).  Returns 0 or a negative
 * errno (a pattern that does not compile is logged with its file:line). */
int ch_routes_build(ch_route_table *out, const ch_config *cfg, const ch_route_table *old);

/* Drop the table's references (routes still used by connections stay). */
void ch_routes_release(ch_route_table *t);

void ch_route_ref(ch_route *r);
void ch_route_unref(ch_route *r);

/* The first route matching path, with its parameters (see router.h). */
ch_route *ch_routes_match(const ch_route_table *t, const char *path, ch_route_params *params);

#endif
