/*
 * store.c -- the message store's front: choosing the engine, admission
 * into the bounded queue, the callbacks, and the counters behind
 * /healthz and /metrics.  What operations do is in store_ops.c; how they
 * run is in store_sqlite.c and store_pg.c; the attachment folder's part
 * in store_files.c.  It owns the periodic sweep of unattached uploads,
 * and the loop's spare requests (done requests kept for the next calls).
 */
#include "store_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"

/* Done requests kept for reuse (a chat message's append is one request,
 * 272 bytes: past glibc's per-thread cache of 7, a calloc of that size
 * walks the arena's bins); none under AddressSanitizer, which is to see
 * each request's end. */
#if defined(__SANITIZE_ADDRESS__)
#define SPARE_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPARE_MAX 0
#endif
#endif
#ifndef SPARE_MAX
#define SPARE_MAX 256
#endif
static const unsigned spare_max = SPARE_MAX; /* a variable: no "always true" */

struct ch_store {
    uv_loop_t *loop;
    const ch_store_engine *engine; /* NULL: "none" */
    void *self;
    ch_keyring *keys;
    uint32_t queue_max, batch_max;
    uint32_t commit_delay_ms; /* opts.commit_delay_ms */
    uint32_t connections;     /* opts.connections, 1 to CH_STORE_CONNECTIONS_MAX */
    uint64_t outstanding;     /* admitted, not yet done */
    uint64_t committed, failed, reconnects, notifications;
    uint64_t retries;      /* atomic: the SQLite worker counts its reruns (run_plain) */
    uint64_t transactions; /* committed by the engine (atomic: the worker counts) */
    uint64_t lat_last, lat_max, lat_sum, lat_n;
    ch_st_stages stages; /* latency per stage (store_stages.c) */
    int closing;
    int foreign; /* opts.foreign */
    void (*on_closed)(void *);
    void *on_closed_arg;
    ch_store_observer observe; /* told of each success, or NULL */
    void *observe_arg;
    ch_store_notify_fn notify; /* ch_store_listen's, or NULL */
    void *notify_arg;
    ch_st_files *files;  /* attachment_dir's, or NULL */
    unsigned files_busy; /* the folder's jobs in flight */
    int engine_closed;   /* freed when files_busy drops to 0 */
    uv_timer_t *sweep;   /* ch_store_sweep_every's (frees itself) */
    ch_store_req *spare; /* kept requests, linked by their arg (owned) */
    unsigned n_spare;
};

static int64_t wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The engine for a URL, or NULL for "none"; *bad set if unknown. */
static const ch_store_engine *engine_for(const char *url, int *bad)
{
    *bad = 0;
    if (!url || strcmp(url, "none") == 0)
        return NULL;
    if (strncmp(url, "sqlite:", 7) == 0)
        return &ch_store_sqlite_engine;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return &ch_store_pg_engine;
    *bad = 1;
    return NULL;
}

ch_store *ch_store_open(uv_loop_t *loop, const ch_store_opts *opts, char *err, size_t errlen)
{
    ch_store *s = calloc(1, sizeof *s);
    int bad;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->queue_max = opts->queue_max ? opts->queue_max : 10000;
    s->batch_max = opts->batch_max ? opts->batch_max : 256;
    s->commit_delay_ms = opts->commit_delay_ms;
    s->connections = opts->connections == 0                         ? 1
                     : opts->connections > CH_STORE_CONNECTIONS_MAX ? CH_STORE_CONNECTIONS_MAX
                                                                    : opts->connections;
    s->engine = engine_for(opts->url, &bad);
    if (bad) {
        snprintf(err, errlen, "unknown store '%s' (use none, sqlite:PATH or postgresql://...)",
                 opts->url);
        free(s);
        return NULL;
    }
    if (!s->engine)
        return s;
    s->foreign = opts->foreign;
    if (!s->foreign)
        s->keys = ch_keyring_load(opts->key_file, opts->key_env, 1, err, errlen);
    if (s->keys && opts->attachment_dir)
        s->files = ch_st_files_new(opts->attachment_dir, err, errlen);
    if ((!s->keys && !s->foreign) || (opts->attachment_dir && !s->foreign && !s->files) ||
        s->engine->open(s, opts->url, &s->self, err, errlen) != 0) {
        ch_st_files_free(s->files);
        ch_keyring_free(s->keys);
        free(s);
        return NULL;
    }
    return s;
}

int ch_store_fail(ch_store_req *req, int status, const char *fmt, ...)
{
    va_list ap;

    req->status = status;
    va_start(ap, fmt);
    vsnprintf(req->error, sizeof req->error, fmt, ap);
    va_end(ap);
    return status;
}

void ch_store_req_rewind(ch_store_req *req)
{
    req->step = 0;
    req->status = 0;
    req->error[0] = '\0';
    json_decref(req->result);
    req->result = NULL;
}

/* A request is done: its references go, and the request itself to s's
 * spares (at most spare_max), else free.  Runs on the loop thread. */
static void req_free(ch_store *s, ch_store_req *req)
{
    if (req->op && req->op->hold)
        req->op->hold(req->op, -1);
    json_decref(req->params);
    json_decref(req->ctx);
    json_decref(req->result);
    if (s->n_spare >= spare_max) {
        free(req);
        return;
    }
    req->arg = s->spare;
    s->spare = req;
    s->n_spare++;
}

/* A zeroed request (new, the caller's; req_free ends it): a spare, else
 * calloc.  NULL when out of memory. */
static ch_store_req *req_new(ch_store *s)
{
    ch_store_req *req = s->spare;

    if (!req)
        return calloc(1, sizeof *req);
    s->spare = req->arg;
    s->n_spare--;
    memset(req, 0, sizeof *req);
    return req;
}

/* The spares go (the store closes). */
static void spares_free(ch_store *s)
{
    while (s->spare) {
        ch_store_req *next = s->spare->arg;

        free(s->spare);
        s->spare = next;
    }
    s->n_spare = 0;
}

int ch_store_call(ch_store *s, const char *op, json_t *params, ch_store_cb cb, void *arg)
{
    return ch_store_call_op(s, ch_store_op_find(op), params, cb, arg);
}

/* Admission, as ch_store_call says; the request holds o (op->hold). */
int ch_store_call_op(ch_store *s, const ch_store_op *o, json_t *params, ch_store_cb cb, void *arg)
{
    ch_store_req *req;

    if (!o || !json_is_object(params)) {
        json_decref(params);
        return CH_STORE_EINVAL;
    }
    if (!s->engine) {
        json_decref(params);
        return CH_STORE_EIO;
    }
    if (s->outstanding >= s->queue_max || s->closing) {
        json_decref(params);
        return CH_STORE_EBUSY;
    }
    req = req_new(s);
    if (!req || !(req->ctx = json_object())) {
        free(req);
        json_decref(params);
        return CH_STORE_EIO;
    }
    req->op = o;
    if (o->hold)
        o->hold(o, 1);
    req->params = params;
    req->keys = s->keys;
    req->cb = cb;
    req->arg = arg;
    req->now_ms = wall_ms();
    req->queued_ms = uv_now(s->loop);
    req->t_queued_ns = uv_hrtime();
    if (o->prepare && o->prepare(req) != 0) {
        ch_log(CH_LOG_DEBUG, "store %s refused: %s", o->name, req->error);
        req_free(s, req);
        return CH_STORE_EINVAL;
    }
    s->outstanding++;
    if (!ch_st_files_take(s, s->files, req))
        s->engine->submit(s->self, req);
    return 0;
}

int ch_store_submit(ch_store *s, ch_store_req *req)
{
    if (s->closing)
        return -1;
    s->engine->submit(s->self, req);
    return 0;
}

void ch_store_done(ch_store *s, ch_store_req *req)
{
    uint64_t lat = uv_now(s->loop) - req->queued_ms, done_ns = uv_hrtime();

    if (ch_st_files_after(s, s->files, req))
        return;
    s->outstanding--;
    if (req->status == 0) {
        s->committed++;
        s->lat_last = lat;
        s->lat_max = lat > s->lat_max ? lat : s->lat_max;
        s->lat_sum += lat;
        s->lat_n++;
    } else {
        s->failed++;
    }
    if (req->status == 0 && s->observe)
        s->observe(s->observe_arg, req->op->name, req->params, req->result);
    if (req->cb)
        req->cb(req->status, req->status == 0 ? req->result : NULL,
                req->status == 0 ? NULL : req->error, req->arg);
    if (req->status == 0)
        ch_st_stages_add(&s->stages, req, done_ns, uv_hrtime() - done_ns);
    req_free(s, req);
}

void ch_store_observe(ch_store *s, ch_store_observer fn, void *arg)
{
    if (!s)
        return;
    s->observe = fn;
    s->observe_arg = arg;
}

/* store.h: check the channel's name, keep fn and arg, have the engine
 * listen. */
int ch_store_listen(ch_store *s, const char *channel, ch_store_notify_fn fn, void *arg)
{
    size_t n = strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_");
    int rc;

    if (n == 0 || n > 63 || channel[n])
        return CH_STORE_EINVAL;
    if (!s->engine || !s->engine->listen)
        return -ENOTSUP;
    s->notify = fn;
    s->notify_arg = arg;
    rc = s->engine->listen(s->self, channel);
    if (rc != 0)
        s->notify = NULL;
    return rc;
}

/* store_impl.h: count the notification, hand it on. */
void ch_store_notified(ch_store *s, const char *channel, const char *payload)
{
    s->notifications++;
    if (s->notify)
        s->notify(s->notify_arg, channel, payload);
}

json_t *ch_store_status(ch_store *s)
{
    const char *state = s->engine ? s->engine->state(s->self) : "disabled";
    json_t *st = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:f}}",
                           "backend", s->engine ? s->engine->name : "none", "state", state,
                           "queue_depth", (json_int_t)s->outstanding, "committed",
                           (json_int_t)s->committed, "transactions",
                           (json_int_t)__atomic_load_n(&s->transactions, __ATOMIC_RELAXED),
                           "failed", (json_int_t)s->failed, "retries",
                           (json_int_t)__atomic_load_n(&s->retries, __ATOMIC_RELAXED), "reconnects",
                           (json_int_t)s->reconnects, "notifications", (json_int_t)s->notifications,
                           "commit_latency_ms", "last", (json_int_t)s->lat_last, "max",
                           (json_int_t)s->lat_max, "avg",
                           s->lat_n ? (double)s->lat_sum / (double)s->lat_n : 0.0);

    if (st)
        json_object_set_new(st, "stages", ch_st_stages_json(&s->stages));
    return st;
}

/* The sweep's answer: logged. */
static void sweep_done(int status, json_t *result, const char *error, void *arg)
{
    json_int_t n = json_integer_value(json_object_get(result, "deleted"));

    (void)arg;
    if (status != 0)
        ch_log(CH_LOG_WARN, "store: the sweep of unattached uploads failed: %s", error);
    else if (n > 0)
        ch_log(CH_LOG_INFO, "store: %lld unattached upload(s) dropped", (long long)n);
}

/* The sweep's timer: queue attachment.sweep. */
static void sweep_tick(uv_timer_t *t)
{
    int rc = ch_store_call(t->data, "attachment.sweep", json_object(), sweep_done, NULL);

    if (rc != 0)
        ch_log(CH_LOG_WARN, "store: the sweep of unattached uploads was not queued (%d)", rc);
}

void ch_store_sweep_every(ch_store *s, uint64_t interval_ms)
{
    if (!s || !s->engine || s->foreign || s->sweep || interval_ms == 0 ||
        !(s->sweep = malloc(sizeof *s->sweep)))
        return;
    uv_timer_init(s->loop, s->sweep);
    s->sweep->data = s;
    uv_timer_start(s->sweep, sweep_tick, 0, interval_ms);
}

/* A closed handle that was malloc'd. */
static void free_handle(uv_handle_t *h) { free(h); }

void ch_store_close(ch_store *s, void (*done)(void *arg), void *arg)
{
    if (s->sweep) {
        uv_timer_stop(s->sweep);
        uv_close((uv_handle_t *)s->sweep, free_handle);
        s->sweep = NULL;
    }
    s->closing = 1;
    s->on_closed = done;
    s->on_closed_arg = arg;
    if (s->engine) {
        s->engine->close(s->self);
        return;
    }
    free(s);
    if (done)
        done(arg);
}

void ch_store_engine_closed(ch_store *s)
{
    void (*done)(void *) = s->on_closed;
    void *arg = s->on_closed_arg;

    s->engine_closed = 1;
    if (s->files_busy > 0)
        return; /* ch_store_files_busy comes back */
    spares_free(s);
    ch_st_files_free(s->files);
    ch_keyring_free(s->keys);
    free(s);
    if (done)
        done(arg);
}

void ch_store_files_busy(ch_store *s, int delta)
{
    s->files_busy += (unsigned)delta;
    if (s->files_busy == 0 && s->engine_closed)
        ch_store_engine_closed(s);
}

uv_loop_t *ch_store_loop(ch_store *s) { return s->loop; }
int ch_store_is_foreign(ch_store *s) { return s->foreign; }
const ch_keyring *ch_store_keys(ch_store *s) { return s->keys; }
uint32_t ch_store_batch_max(ch_store *s) { return s->batch_max; }
uint32_t ch_store_commit_delay_ms(ch_store *s) { return s->commit_delay_ms; }
uint32_t ch_store_connections(ch_store *s) { return s->connections; }
void ch_store_count_retry(ch_store *s) { __atomic_add_fetch(&s->retries, 1, __ATOMIC_RELAXED); }
void ch_store_count_commit(ch_store *s)
{
    __atomic_add_fetch(&s->transactions, 1, __ATOMIC_RELAXED);
}
void ch_store_count_reconnect(ch_store *s) { s->reconnects++; }
void ch_st_stamp_batch(ch_store_req *batch, int commit, uint64_t now)
{
    for (ch_store_req *r = batch; r; r = r->next)
        *(commit ? &r->t_commit_ns : &r->t_start_ns) = now;
}

int ch_store_migrate_cli(const ch_store_opts *opts)
{
    char err[512];
    int bad;
    const ch_store_engine *e = engine_for(opts->url, &bad);

    if (bad || !e) {
        fprintf(stderr, "chanhost migrate: %s\n",
                bad ? "unknown store URL" : "no store configured (store none)");
        return 1;
    }
    if (e->migrate(opts->url, err, sizeof err) != 0) {
        fprintf(stderr, "chanhost migrate: %s\n", err);
        return 1;
    }
    return 0;
}
