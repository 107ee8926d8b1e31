/*
 * routes.c -- the running route table (see routes.h).
 */
#include "routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void ch_route_ref(ch_route *r) { r->refs++; }

void ch_route_unref(ch_route *r)
{
    if (!r || --r->refs > 0)
        return;
    ch_pattern_free(r->pattern);
    free(r->plugin_name);
    free(r);
}

/* A route of `old` equal to rc (same pattern, plugin, policy), or NULL. */
static ch_route *find_equal(const ch_route_table *old, const ch_route_cfg *rc)
{
    size_t i;

    for (i = 0; old && i < old->n; i++) {
        ch_route *r = old->routes[i];

        if (strcmp(ch_pattern_text(r->pattern), rc->pattern) == 0 &&
            strcmp(r->plugin_name, rc->plugin) == 0 && r->reload == rc->reload)
            return r;
    }
    return NULL;
}

/* A new route for rc (refs = 1), or NULL after logging why. */
static ch_route *route_new(const ch_route_cfg *rc)
{
    ch_route *r = calloc(1, sizeof *r);
    char err[256];

    if (!r || !(r->plugin_name = strdup(rc->plugin))) {
        free(r);
        return NULL;
    }
    r->pattern = ch_pattern_compile(rc->pattern, err, sizeof err);
    if (!r->pattern) {
        ch_log(CH_LOG_ERROR, "%s: route %s: %s", rc->where, rc->pattern, err);
        free(r->plugin_name);
        free(r);
        return NULL;
    }
    r->reload = rc->reload;
    r->refs = 1;
    return r;
}

int ch_routes_build(ch_route_table *out, const ch_config *cfg, const ch_route_table *old)
{
    size_t i;

    out->n = 0;
    out->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *out->routes);
    if (!out->routes)
        return -ENOMEM;
    for (i = 0; i < cfg->n_routes; i++) {
        ch_route *r = find_equal(old, &cfg->routes[i]);

        if (r)
            ch_route_ref(r);
        else if (!(r = route_new(&cfg->routes[i]))) {
            ch_routes_release(out);
            return -EINVAL;
        }
        out->routes[out->n++] = r;
    }
    return 0;
}

void ch_routes_release(ch_route_table *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        ch_route_unref(t->routes[i]);
    free(t->routes);
    t->routes = NULL;
    t->n = 0;
}

ch_route *ch_routes_match(const ch_route_table *t, const char *path, ch_route_params *params)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (ch_pattern_match(t->routes[i]->pattern, path, params) == 1)
            return t->routes[i];
    return NULL;
}
