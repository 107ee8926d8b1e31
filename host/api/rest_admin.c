/*
 * rest_admin.c -- GET /api/admin/status/, the JSON the operator's page
 * (web/admin/status/) polls: the host's counters, routes, layer, store
 * and plugins.  The document is built by app/status.c (the one place that
 * sees every sub-system), reached through the hook app.c sets
 * (app->status); this file owns only the answer.
 */
#include "app.h"
#include "rest.h"

/* Answer r (access checked by rest.c) with the status document, 503 if
 * none can be made; r is freed by the answer. */
void ch_rest_admin_status(ch_rest *r)
{
    json_t *status = r->app->status ? r->app->status(r->app) : NULL;

    if (!status) {
        ch_rest_fail(r, 503, "unavailable", "the status cannot be made now");
        return;
    }
    ch_rest_reply(r, 200, status, "Cache-Control: no-store\r\n");
}
