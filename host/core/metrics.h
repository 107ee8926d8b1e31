/*
 * metrics.h -- counters of the running host (core: includes nothing of the
 * host).  The endpoints that show them, GET /metrics and GET /healthz, are
 * app/status.h's.
 *
 * Counters are plain process-wide integers: everything that touches them
 * runs on the loop thread.  Gauges (connections per route, groups) are read
 * from the app when a scrape asks.
 */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum ch_metric {
    CH_M_CONN_ACCEPTED,    /* TCP connections accepted */
    CH_M_CONN_REFUSED,     /* over max_connections */
    CH_M_FRAMES_IN,        /* WebSocket messages received */
    CH_M_FRAMES_OUT,       /* WebSocket messages queued to clients */
    CH_M_BYTES_IN,         /* bytes read from sockets */
    CH_M_BYTES_OUT,        /* bytes handed to the kernel */
    CH_M_SLOW_CLOSES,      /* closed as slow consumers */
    CH_M_GROUP_SENDS,      /* group_send calls */
    CH_M_LAYER_DELIVERIES, /* layer messages delivered to connections */
    CH_M_PLUGIN_LOAD_FAILURES,
    CH_M_PLUGIN_RELOADS, /* new plugin versions installed */
    CH_M_CONFIG_RELOADS,
    CH_M_CONFIG_RELOAD_FAILURES,
    CH_M_HTTP_REQUESTS,
    CH_M_PLUGIN_HTTP_TIMEOUTS, /* plugin endpoints answered 504 by the host */
    CH_M_LOGIN_ATTEMPTS,       /* POST /api/auth/login/ with a well-formed body */
    CH_M_LOGIN_FAILURES,       /* of them: wrong password, unknown or inactive user */
    CH_M_LOGIN_LIMITED,        /* of them: answered 429 without hashing */
    CH_M_HASHES,               /* password hashes run on the thread pool */
    CH_M_HASH_REJECTED,        /* answered 503: auth_hash_queue were waiting */
    CH_M_HASH_RUNNING,         /* gauge: hashes on the pool now */
    CH_M_HASH_WAITING,         /* gauge: hashes waiting for a slot */
    CH_M_LOGIN_REMEMBERED,     /* gauge: accounts and addresses in the limiter */
    CH_M_BACKPRESSURE_PAUSES,  /* connections that stopped reading: output over the pause */
    CH_M_OVERFLOW_CLOSES_HTTP, /* HTTP connections closed over max_outbound_bytes */
    CH_M_OVERFLOW_CLOSES_WS,   /* WebSockets closed over max_outbound_bytes (1013) */
    CH_M_SEND_TIMEOUTS,        /* paused connections closed after send_timeout */
    CH_M_WS_PARSERS,           /* gauge: wslay contexts alive (frames in flight) */
    /* TLS handshakes completed, and failed (each closed its connection) */
    CH_M_TLS_HANDSHAKES,
    CH_M_TLS_HANDSHAKE_FAILURES,
    /* presence (runtime/presence.c): presence_diff frames queued to
     * connections; announcements sent to the layer; other processes'
     * announcements applied (each once, however many connections here) */
    CH_M_PRESENCE_DIFF_FRAMES,
    CH_M_PRESENCE_ANNOUNCE_SENT,
    CH_M_PRESENCE_ANNOUNCE_RECEIVED,
    /* attachments (api/rest_attach.c): uploads stored (201), their bytes,
     * downloads started (200 or 206) */
    CH_M_ATTACH_UPLOADS,
    CH_M_ATTACH_UPLOAD_BYTES,
    CH_M_ATTACH_DOWNLOADS,
    CH_M__COUNT
};

void ch_metric_count(enum ch_metric m);
void ch_metric_add(enum ch_metric m, uint64_t n);
/* Set a gauge (the CH_M_* marked gauge). */
void ch_metric_set(enum ch_metric m, uint64_t n);
uint64_t ch_metric_get(enum ch_metric m);

/* Count a failed WebSocket handshake under a reason label (a static
 * string such as "bad_origin"; unknown labels count as "other"). */
void ch_metric_handshake_failure(const char *reason);

/* The reasons in the order /metrics prints them: how many, the i-th label
 * (a static string) and its count. */
size_t ch_metric_n_reasons(void);
const char *ch_metric_reason(size_t i);
uint64_t ch_metric_reason_count(size_t i);

/* Count an HTTP answer by status code. */
void ch_metric_http_status(int status);
/* HTTP answers counted with that status so far. */
uint64_t ch_metric_http_status_count(int status);

#endif
