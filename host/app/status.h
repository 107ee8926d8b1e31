/*
 * status.h -- the observability endpoints of the assembled host: GET
 * /metrics (Prometheus text format 0.0.4: the counters of core/metrics.h,
 * routes, plugins, layer, store) and GET /healthz (JSON).  app.c registers
 * both with the HTTP layer (ch_http_handle), and sets ch_status_json as
 * app->status, the document of GET /api/admin/status/ (api/rest_admin.c).
 */
#ifndef CH_STATUS_H
#define CH_STATUS_H

#include <jansson.h>

#include "request.h"

typedef struct ch_app ch_app;

typedef struct ch_conn ch_conn;

/* Answer GET /metrics and GET /healthz on connection c (borrowed; req
 * borrowed).  Other methods get 405. */
void ch_metrics_serve(ch_conn *c, const ch_req *req);
void ch_health_serve(ch_conn *c, const ch_req *req);

/* The operator's status of this process (new reference; NULL if out of
 * memory): {"version", "worker", "pid", "at_ms" (wall clock),
 * "uptime_seconds", "connections", "tcp_connections", "routes": [{"route",
 * "plugin", "connections"}], "messages": {"in", "out"}, "bytes": {"in",
 * "out"} (totals since start: the page derives rates), "handshake_failures",
 * "layer": {"backend", "state", "groups"}, "store": (/healthz's), "plugins":
 * [{"name", "version", "generation", "connections"}]}; under a master also
 * "workers" and "all_connections" (peers.h).  app (borrowed). */
json_t *ch_status_json(ch_app *app);

#endif
