/*
 * status.c -- owns the observability endpoints: GET /metrics in
 * Prometheus text format (version 0.0.4), GET /healthz as JSON and the
 * operator's status document (ch_status_json, served by api/ as GET
 * /api/admin/status/), built from the counters (core/metrics.c) and the
 * app's parts.  app.c registers them with the HTTP layer.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "heap.h"
#include "http.h"
#include "layer.h"
#include "link.h"
#include "metrics.h"
#include "peers.h"
#include "plugins.h"
#include "store.h"

/* A growable text buffer for the scrape. */
typedef struct text {
    char *s;
    size_t len, cap;
    int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = t->oom ? 0 : vsnprintf(t->s ? t->s + t->len : NULL, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (t->oom || n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = (t->cap + (size_t)n + 1) * 2;
        char *ns = realloc(t->s, t->cap);
        if (!ns) {
            t->oom = 1;
            return;
        }
        t->s = ns;
    }
}

/* A label value with \, " and newline escaped (static buffer). */
static const char *label(const char *s)
{
    static char out[512];
    size_t o = 0;

    for (; *s && o < sizeof out - 3; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[o++] = '\\';
            out[o++] = *s == '\n' ? 'n' : *s;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return out;
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(text *t, const char *name, const char *type, const char *help, uint64_t v)
{
    family(t, name, type, help);
    put(t, "%s %llu\n", name, (unsigned long long)v);
}

static void render_connections(text *t, const ch_app *app)
{
    size_t i;

    family(t, "chanhost_connections", "gauge", "Open WebSocket connections by route.");
    for (i = 0; i < app->routes.n; i++)
        put(t, "chanhost_connections{route=\"%s\"} %llu\n",
            label(ch_pattern_text(app->routes.routes[i]->pattern)),
            (unsigned long long)app->routes.routes[i]->connections);
    scalar(t, "chanhost_tcp_connections", "gauge", "Open TCP connections.", app->n_conns);
    scalar(t, "chanhost_connections_accepted_total", "counter", "TCP connections accepted.",
           ch_metric_get(CH_M_CONN_ACCEPTED));
    scalar(t, "chanhost_connections_refused_total", "counter",
           "TCP connections refused over max_connections.", ch_metric_get(CH_M_CONN_REFUSED));
    scalar(t, "chanhost_websocket_parsers", "gauge",
           "WebSocket connections holding frame state (a frame in flight).",
           ch_metric_get(CH_M_WS_PARSERS));
}

/* The output budget's counters (conn.h): pauses, closes over it, timeouts. */
static void render_backpressure(text *t)
{
    scalar(t, "chanhost_backpressure_pauses_total", "counter",
           "Times a connection stopped reading because its output queue was over the pause.",
           ch_metric_get(CH_M_BACKPRESSURE_PAUSES));
    family(t, "chanhost_outbound_overflow_closes_total", "counter",
           "Connections closed because their output queue was over max_outbound_bytes.");
    put(t, "chanhost_outbound_overflow_closes_total{protocol=\"http\"} %llu\n",
        (unsigned long long)ch_metric_get(CH_M_OVERFLOW_CLOSES_HTTP));
    put(t, "chanhost_outbound_overflow_closes_total{protocol=\"websocket\"} %llu\n",
        (unsigned long long)ch_metric_get(CH_M_OVERFLOW_CLOSES_WS));
    scalar(t, "chanhost_send_timeouts_total", "counter",
           "Paused connections closed after send_timeout without write progress.",
           ch_metric_get(CH_M_SEND_TIMEOUTS));
}

/* TLS listeners (net/tls.h): handshakes done and failed. */
static void render_tls(text *t)
{
    scalar(t, "chanhost_tls_handshakes_total", "counter", "TLS handshakes completed.",
           ch_metric_get(CH_M_TLS_HANDSHAKES));
    scalar(t, "chanhost_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed (that connection was closed).",
           ch_metric_get(CH_M_TLS_HANDSHAKE_FAILURES));
}

/* The presence service's and the attachments' counters (metrics.h). */
static void render_features(text *t)
{
    scalar(t, "chanhost_presence_diff_frames_total", "counter",
           "presence_diff frames queued to connections.", ch_metric_get(CH_M_PRESENCE_DIFF_FRAMES));
    family(t, "chanhost_presence_announcements_total", "counter",
           "Presence announcements sent to the layer, and other processes' applied here.");
    put(t, "chanhost_presence_announcements_total{direction=\"sent\"} %llu\n",
        (unsigned long long)ch_metric_get(CH_M_PRESENCE_ANNOUNCE_SENT));
    put(t, "chanhost_presence_announcements_total{direction=\"received\"} %llu\n",
        (unsigned long long)ch_metric_get(CH_M_PRESENCE_ANNOUNCE_RECEIVED));
    scalar(t, "chanhost_attachment_uploads_total", "counter", "Attachments uploaded and stored.",
           ch_metric_get(CH_M_ATTACH_UPLOADS));
    scalar(t, "chanhost_attachment_upload_bytes_total", "counter",
           "Bytes of the attachments uploaded and stored.",
           ch_metric_get(CH_M_ATTACH_UPLOAD_BYTES));
    scalar(t, "chanhost_attachment_downloads_total", "counter",
           "Attachment downloads started (200 or 206).", ch_metric_get(CH_M_ATTACH_DOWNLOADS));
}

static void render_traffic(text *t)
{
    scalar(t, "chanhost_frames_received_total", "counter", "WebSocket messages received.",
           ch_metric_get(CH_M_FRAMES_IN));
    scalar(t, "chanhost_frames_sent_total", "counter", "WebSocket messages sent.",
           ch_metric_get(CH_M_FRAMES_OUT));
    scalar(t, "chanhost_bytes_received_total", "counter", "Bytes read from clients.",
           ch_metric_get(CH_M_BYTES_IN));
    scalar(t, "chanhost_bytes_sent_total", "counter", "Bytes written to clients.",
           ch_metric_get(CH_M_BYTES_OUT));
    scalar(t, "chanhost_slow_consumer_closes_total", "counter",
           "Connections closed because their output queue was full.",
           ch_metric_get(CH_M_SLOW_CLOSES));
    render_backpressure(t);
    render_tls(t);
    render_features(t);
    scalar(t, "chanhost_group_sends_total", "counter", "group_send calls.",
           ch_metric_get(CH_M_GROUP_SENDS));
    scalar(t, "chanhost_layer_deliveries_total", "counter",
           "Channel-layer messages delivered to connections.",
           ch_metric_get(CH_M_LAYER_DELIVERIES));
}

static void render_failures(text *t)
{
    size_t i;

    family(t, "chanhost_handshake_failures_total", "counter",
           "WebSocket handshakes refused, by reason.");
    for (i = 0; i < ch_metric_n_reasons(); i++)
        put(t, "chanhost_handshake_failures_total{reason=\"%s\"} %llu\n", ch_metric_reason(i),
            (unsigned long long)ch_metric_reason_count(i));
    family(t, "chanhost_http_responses_total", "counter", "HTTP answers by status code.");
    for (i = 100; i < 600; i++)
        if (ch_metric_http_status_count((int)i))
            put(t, "chanhost_http_responses_total{code=\"%zu\"} %llu\n", i,
                (unsigned long long)ch_metric_http_status_count((int)i));
}

static void render_plugins(text *t, const ch_app *app)
{
    const ch_plugin *p;

    (void)app;
    family(t, "chanhost_plugin_info", "gauge",
           "Live plugin versions (value: the connections each serves).");
    for (p = ch_plugin_live(); p; p = p->live_next) {
        put(t, "chanhost_plugin_info{plugin=\"%s\",", label(p->name));
        put(t, "version=\"%s\",generation=\"%u\"} %llu\n", label(p->desc->version), p->generation,
            (unsigned long long)p->connections);
    }
    family(t, "chanhost_plugin_loaded_timestamp_seconds", "gauge",
           "When each live plugin version was loaded.");
    for (p = ch_plugin_live(); p; p = p->live_next)
        put(t,
            "chanhost_plugin_loaded_timestamp_seconds{plugin=\"%s\",generation=\"%u\"} "
            "%llu\n",
            label(p->name), p->generation, (unsigned long long)p->loaded_at);
    scalar(t, "chanhost_plugin_load_failures_total", "counter", "Plugin loads refused.",
           ch_metric_get(CH_M_PLUGIN_LOAD_FAILURES));
    scalar(t, "chanhost_plugin_reloads_total", "counter", "New plugin versions installed.",
           ch_metric_get(CH_M_PLUGIN_RELOADS));
    scalar(t, "chanhost_config_reloads_total", "counter", "Configuration reloads applied.",
           ch_metric_get(CH_M_CONFIG_RELOADS));
    scalar(t, "chanhost_config_reload_failures_total", "counter", "Configuration reloads refused.",
           ch_metric_get(CH_M_CONFIG_RELOAD_FAILURES));
    scalar(t, "chanhost_plugin_http_timeouts_total", "counter",
           "Plugin endpoint requests answered 504 (no answer within plugin_http_timeout).",
           ch_metric_get(CH_M_PLUGIN_HTTP_TIMEOUTS));
}

/* chanhost_login_* and chanhost_password_hash*: the login limiter and the
 * hash queue (api/rest_login.c). */
static void render_login(text *t)
{
    scalar(t, "chanhost_login_attempts_total", "counter", "Logins asked for.",
           ch_metric_get(CH_M_LOGIN_ATTEMPTS));
    scalar(t, "chanhost_login_failures_total", "counter",
           "Logins refused: wrong password, unknown or inactive user.",
           ch_metric_get(CH_M_LOGIN_FAILURES));
    scalar(t, "chanhost_login_limited_total", "counter",
           "Logins answered 429: the account or address is locked (no hash run).",
           ch_metric_get(CH_M_LOGIN_LIMITED));
    scalar(t, "chanhost_login_limiter_entries", "gauge",
           "Accounts and client addresses the login limiter remembers.",
           ch_metric_get(CH_M_LOGIN_REMEMBERED));
    scalar(t, "chanhost_password_hashes_total", "counter", "Password hashes run.",
           ch_metric_get(CH_M_HASHES));
    scalar(t, "chanhost_password_hashes_rejected_total", "counter",
           "Password hashes refused with 503: auth_hash_queue were waiting.",
           ch_metric_get(CH_M_HASH_REJECTED));
    scalar(t, "chanhost_password_hashes_running", "gauge", "Password hashes on the thread pool.",
           ch_metric_get(CH_M_HASH_RUNNING));
    scalar(t, "chanhost_password_hash_queue_depth", "gauge", "Password hashes waiting for a slot.",
           ch_metric_get(CH_M_HASH_WAITING));
}

static uint64_t jint(const json_t *o, const char *k)
{
    return (uint64_t)json_integer_value(json_object_get(o, k));
}

/* chanhost_store_stage_seconds: the histogram of each stage of a
 * successful store call (store_stages.c), from ch_store_status's
 * "stages" (borrowed; absent without a store: nothing). */
static void render_stages(text *t, const json_t *stages)
{
    const char *name;
    const json_t *h;

    if (!json_object_size(stages))
        return;
    family(t, "chanhost_store_stage_seconds", "histogram",
           "Time of each stage of a successful store call: queue (until its batch was taken), "
           "transaction, handoff (commit to the loop), callback.");
    json_object_foreach((json_t *)stages, name, h)
    {
        const json_t *b = json_object_get(h, "buckets"), *le = json_object_get(h, "le_us");
        uint64_t cum = 0;

        for (size_t i = 0; i < json_array_size(b) && i < json_array_size(le); i++) {
            cum += (uint64_t)json_integer_value(json_array_get(b, i));
            put(t, "chanhost_store_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n", name,
                (double)json_integer_value(json_array_get(le, i)) / 1e6, (unsigned long long)cum);
        }
        put(t, "chanhost_store_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n", name,
            (unsigned long long)jint(h, "count"));
        put(t, "chanhost_store_stage_seconds_sum{stage=\"%s\"} %.6f\n", name,
            (double)jint(h, "sum_us") / 1e6);
        put(t, "chanhost_store_stage_seconds_count{stage=\"%s\"} %llu\n", name,
            (unsigned long long)jint(h, "count"));
    }
}

/* chanhost_store_*: state, queue depth, outcomes, notifications, commit
 * latency. */
static void render_store(text *t, const ch_app *app)
{
    json_t *st = app->store ? ch_store_status(app->store) : NULL;
    const json_t *lat = json_object_get(st, "commit_latency_ms");
    const char *state = json_string_value(json_object_get(st, "state"));

    scalar(t, "chanhost_store_up", "gauge", "1 when the store is configured and reachable.",
           state && strcmp(state, "ok") == 0);
    scalar(t, "chanhost_store_queue_depth", "gauge", "Store calls queued or in flight.",
           jint(st, "queue_depth"));
    scalar(t, "chanhost_store_committed_total", "counter", "Store calls completed.",
           jint(st, "committed"));
    scalar(t, "chanhost_store_transactions_total", "counter",
           "Store transactions committed (each holds a batch of calls).", jint(st, "transactions"));
    scalar(t, "chanhost_store_failed_total", "counter", "Store calls that failed.",
           jint(st, "failed"));
    scalar(t, "chanhost_store_retries_total", "counter", "Store calls run again after a failure.",
           jint(st, "retries"));
    scalar(t, "chanhost_store_reconnects_total", "counter", "Store reconnections.",
           jint(st, "reconnects"));
    scalar(t, "chanhost_store_notifications_total", "counter",
           "Notifications heard from the store's database (PostgreSQL NOTIFY).",
           jint(st, "notifications"));
    family(t, "chanhost_store_commit_latency_ms", "gauge",
           "Queue-to-commit time of store calls (last, max, avg).");
    put(t, "chanhost_store_commit_latency_ms{stat=\"last\"} %llu\n",
        (unsigned long long)jint(lat, "last"));
    put(t, "chanhost_store_commit_latency_ms{stat=\"max\"} %llu\n",
        (unsigned long long)jint(lat, "max"));
    put(t, "chanhost_store_commit_latency_ms{stat=\"avg\"} %.3f\n",
        json_real_value(json_object_get(lat, "avg")));
    render_stages(t, json_object_get(st, "stages"));
    json_decref(st);
}

/* The Redis channel layer's counters (only when the layer is Redis). */
static void render_redis(text *t, const ch_app *app)
{
    ch_layer_redis_stats r;

    if (ch_layer_redis_stats_get(app->layer, &r) != 0)
        return;
    scalar(t, "chanhost_redis_published_total", "counter", "Messages published to Redis.",
           r.published);
    scalar(t, "chanhost_redis_received_total", "counter",
           "Messages received from other processes through Redis.", r.received);
    scalar(t, "chanhost_redis_delivered_total", "counter",
           "Deliveries to local connections of messages received through Redis.", r.delivered);
    scalar(t, "chanhost_redis_reconnects_total", "counter",
           "Redis connections re-established after a loss.", r.reconnects);
    scalar(t, "chanhost_redis_dropped_total", "counter",
           "Messages not published because the outage buffer was full.", r.dropped);
    scalar(t, "chanhost_redis_unconfirmed_total", "counter",
           "Messages published whose connection was lost before Redis answered.", r.unconfirmed);
    family(t, "chanhost_redis_down_seconds_total", "counter",
           "Seconds the Redis layer was not fully connected.");
    put(t, "chanhost_redis_down_seconds_total %.3f\n", (double)r.down_ms / 1000);
    scalar(t, "chanhost_redis_buffered", "gauge", "Messages waiting for Redis.", r.buffered);
    scalar(t, "chanhost_redis_buffered_bytes", "gauge", "Bytes of messages waiting for Redis.",
           r.buffered_bytes);
    if (strcmp(ch_layer_backend_name(app->layer), "channels_redis") == 0) {
        scalar(t, "chanhost_redis_malformed_total", "counter",
               "channels_redis inbox messages skipped because they did not decode.", r.malformed);
        scalar(t, "chanhost_redis_over_capacity_total", "counter",
               "channels_redis copies not added because the inbox was full.", r.over_capacity);
    }
    if (r.latency_us >= 0) {
        family(t, "chanhost_redis_latency_ms", "gauge", "Last PING round trip to Redis.");
        put(t, "chanhost_redis_latency_ms %.3f\n", (double)r.latency_us / 1000);
    }
}

/* GET and HEAD only; answers 405 otherwise.  Returns 1 if allowed. */
static int method_ok(ch_conn *c, const ch_req *req)
{
    if (strcmp(req->method_name, "GET") == 0 || strcmp(req->method_name, "HEAD") == 0)
        return 1;
    ch_http_error(c, 405, "Allow: GET, HEAD\r\n");
    return 0;
}

void ch_metrics_serve(ch_conn *c, const ch_req *req)
{
    ch_app *app = c->app;
    text t = {0};

    if (!method_ok(c, req))
        return;
    render_connections(&t, app);
    render_traffic(&t);
    scalar(&t, "chanhost_groups", "gauge", "Groups with members in this process.",
           ch_layer_group_count(app->layer));
    render_failures(&t);
    render_plugins(&t, app);
    render_login(&t);
    render_redis(&t, app);
    render_store(&t, app);
    scalar(&t, "chanhost_heap_in_use_bytes", "gauge",
           "Bytes malloc has handed out and not had back, all threads (jemalloc's stats, or "
           "glibc's mallinfo2).",
           ch_heap_in_use());
    scalar(&t, "chanhost_uptime_seconds", "gauge", "Seconds since start.",
           (uv_now(app->loop) - app->started_ms) / 1000);
    scalar(&t, "chanhost_worker", "gauge", "This worker's number under a master (0: one process).",
           (uint64_t)app->worker);
    if (app->link)
        scalar(&t, "chanhost_layer_relay_dropped_total", "counter",
               "Sends not relayed to the other workers: the link's queue was full.",
               ch_link_dropped(app->link));
    if (t.oom)
        ch_http_error(c, 500, NULL);
    else
        ch_http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, t.s, t.len);
    free(t.s);
}

/* The store's part of /healthz (new reference). */
static json_t *store_status(ch_app *app)
{
    json_t *st;

    if (app->store) {
        st = ch_store_status(app->store);
        json_object_del(st, "stages"); /* /metrics has them as histograms */
        return st;
    }
    return json_pack("{s:s, s:s}", "backend", "none", "state", "disabled");
}

void ch_health_serve(ch_conn *c, const ch_req *req)
{
    ch_app *app = c->app;
    json_t *j;
    char *s;

    if (!method_ok(c, req))
        return;
    j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:{s:s, s:s, s:I}, s:o}", "status",
                  app->stopping ? "stopping" : "ok", "version", CHANHOST_VERSION, "uptime_seconds",
                  (json_int_t)((uv_now(app->loop) - app->started_ms) / 1000), "connections",
                  (json_int_t)app->n_ws, "tcp_connections", (json_int_t)app->n_conns, "layer",
                  "backend", ch_layer_backend_name(app->layer), "state", ch_layer_state(app->layer),
                  "groups", (json_int_t)ch_layer_group_count(app->layer), "store",
                  store_status(app));
    if (j && app->worker) { /* which worker answered, and all (docs/workers.md) */
        json_object_set_new(j, "worker", json_integer(app->worker));
        json_object_set_new(j, "pid", json_integer(getpid()));
        ch_peers_health(app, j);
    }
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s)
        ch_http_respond(c, app->stopping ? 503 : 200, "application/json", NULL, s, strlen(s));
    else
        ch_http_error(c, 500, NULL);
    free(s);
    json_decref(j);
}

/* The routes with their plugins and open connections (new reference). */
static json_t *status_routes(const ch_app *app)
{
    json_t *list = json_array();

    for (size_t i = 0; list && i < app->routes.n; i++) {
        const ch_route *rt = app->routes.routes[i];

        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:I}", "route", ch_pattern_text(rt->pattern),
                                        "plugin", rt->plugin_name, "connections",
                                        (json_int_t)rt->connections));
    }
    return list;
}

/* Every live plugin version (new reference). */
static json_t *status_plugins(void)
{
    json_t *list = json_array();

    for (const ch_plugin *p = ch_plugin_live(); list && p; p = p->live_next)
        json_array_append_new(list,
                              json_pack("{s:s, s:s?, s:I, s:I}", "name", p->name, "version",
                                        p->desc->version, "generation", (json_int_t)p->generation,
                                        "connections", (json_int_t)p->connections));
    return list;
}

json_t *ch_status_json(ch_app *app)
{
    struct timeval tv;
    uint64_t failures = 0;
    json_t *j;

    gettimeofday(&tv, NULL);
    for (size_t i = 0; i < ch_metric_n_reasons(); i++)
        failures += ch_metric_reason_count(i);
    j = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I}, s:{s:I, s:I}, s:I, "
                  "s:{s:s, s:s, s:I}, s:o, s:o}",
                  "version", CHANHOST_VERSION, "worker", app->worker, "pid", (json_int_t)getpid(),
                  "at_ms", (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "uptime_seconds",
                  (json_int_t)((uv_now(app->loop) - app->started_ms) / 1000), "connections",
                  (json_int_t)app->n_ws, "tcp_connections", (json_int_t)app->n_conns, "routes",
                  status_routes(app), "messages", "in", (json_int_t)ch_metric_get(CH_M_FRAMES_IN),
                  "out", (json_int_t)ch_metric_get(CH_M_FRAMES_OUT), "bytes", "in",
                  (json_int_t)ch_metric_get(CH_M_BYTES_IN), "out",
                  (json_int_t)ch_metric_get(CH_M_BYTES_OUT), "handshake_failures",
                  (json_int_t)failures, "layer", "backend", ch_layer_backend_name(app->layer),
                  "state", ch_layer_state(app->layer), "groups",
                  (json_int_t)ch_layer_group_count(app->layer), "store", store_status(app),
                  "plugins", status_plugins());
    if (j && app->worker)
        ch_peers_health(app, j);
    return j;
}
