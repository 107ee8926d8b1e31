/*
 * metrics.h -- counters of the running host, and the two observability
 * endpoints: GET /metrics (Prometheus text format 0.0.4) and GET /healthz
 * (JSON).
 *
 * Counters are plain process-wide integers: everything that touches them
 * runs on the loop thread.  Gauges (connections per route, groups) are read
 * from the app when a scrape asks.
 */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stdint.h>

#include "request.h"

typedef struct ch_conn ch_conn;

enum ch_metric {
    CH_M_CONN_ACCEPTED,       /* TCP connections accepted */
    CH_M_CONN_REFUSED,        /* over max_connections */
    CH_M_FRAMES_IN,           /* WebSocket messages received */
    CH_M_FRAMES_OUT,          /* WebSocket messages queued to clients */
    CH_M_BYTES_IN,            /* bytes read from sockets */
    CH_M_BYTES_OUT,           /* bytes handed to the kernel */
    CH_M_SLOW_CLOSES,         /* closed as slow consumers */
    CH_M_GROUP_SENDS,         /* group_send calls */
    CH_M_LAYER_DELIVERIES,    /* layer messages delivered to connections */
    CH_M_PLUGIN_LOAD_FAILURES,
    CH_M_PLUGIN_RELOADS,          /* new plugin versions installed */
    CH_M_CONFIG_RELOADS,
    CH_M_CONFIG_RELOAD_FAILURES,
    CH_M_HTTP_REQUESTS,
    CH_M__COUNT
};

void ch_metric_count(enum ch_metric m);
void ch_metric_add(enum ch_metric m, uint64_t n);
uint64_t ch_metric_get(enum ch_metric m);

/* Count a failed WebSocket handshake under a reason label (a static
 * string such as "bad_origin"; unknown labels count as "other"). */
void ch_metric_handshake_failure(const char *reason);
uint64_t ch_metric_handshake_failures(const char *reason);

/* Count an HTTP answer by status code. */
void ch_metric_http_status(int status);

/* Answer GET /metrics and GET /healthz on connection c. */
void ch_metrics_serve(ch_conn *c, const ch_req *req);
void ch_health_serve(ch_conn *c, const ch_req *req);

#endif
