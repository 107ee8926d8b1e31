/*
 * status.h -- the observability endpoints of the assembled host: GET
 * /metrics (Prometheus text format 0.0.4: the counters of core/metrics.h,
 * routes, plugins, layer, store) and GET /healthz (JSON).  app.c registers
 * both with the HTTP layer (ch_http_handle).
 */
#ifndef CH_STATUS_H
#define CH_STATUS_H

#include "request.h"

typedef struct ch_conn ch_conn;

/* Answer GET /metrics and GET /healthz on connection c (borrowed; req
 * borrowed).  Other methods get 405. */
void ch_metrics_serve(ch_conn *c, const ch_req *req);
void ch_health_serve(ch_conn *c, const ch_req *req);

#endif
