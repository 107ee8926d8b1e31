/*
 * badmig -- a test plugin whose schema's migration fails (its second
 * statement creates the table its first one did): the host must refuse it
 * with one log line naming the plugin, its version and the database's
 * error, apply nothing, and serve its other routes.
 */
#include "chanhost.h"

static const chanhost_migration migrations[] = {
    {1, "CREATE TABLE badmig_t (x INTEGER); CREATE TABLE badmig_t (y INTEGER)", NULL},
};

static const chanhost_schema schema = {migrations, CHANHOST_N(migrations), NULL, 0, NULL, NULL};

static void badmig_receive(chanhost_conn *c, void *state, const char *data, size_t len, int bin)
{
    (void)c, (void)state, (void)data, (void)len, (void)bin;
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(.name = "badmig",
                                                                         .version = "0.9",
                                                                         .receive = badmig_receive,
                                                                         .schema = &schema, );
