/*
 * store_stages.c -- owns the store's latency histograms per stage: where
 * a successful call's time went between ch_store_call and its callback.
 * The engines stamp each request (store_impl.h: t_queued_ns, t_start_ns,
 * t_commit_ns, all uv_hrtime); ch_store_done adds the stamps here on the
 * loop, so the histograms need no lock.
 *
 * Why: the end-to-end latency a client sees is one figure; when p99 grows
 * it does not say whether calls waited for the engine (queue: the commit
 * window and the transaction before), ran long (transaction: the batch's
 * statements and COMMIT, a checkpoint's stall included), or waited for the
 * loop to hear of the commit and reach them (handoff: the eventfd's wake-up
 * and the callbacks of the batch before them), or whether the callbacks
 * themselves (callback: the plugin's work on the result, its sends
 * included) are what costs.  chanbench reads these from /metrics around
 * each step (docs/performance.md, part 11).
 *
 * Buckets are Prometheus's cumulative "le" bounds in microseconds; a
 * stage's value is counted in the first bucket whose bound it does not
 * exceed, or only in the count (+Inf).
 */
#include "store_impl.h"

#include <jansson.h>

const char *const ch_st_stage_names[CH_ST_STAGES] = {"queue", "transaction", "handoff", "callback"};

const uint32_t ch_st_stage_bounds_us[CH_ST_STAGE_BUCKETS] = {50,     100,    250,    500,    1000,
                                                             2500,   5000,   10000,  25000,  50000,
                                                             100000, 250000, 500000, 1000000};

/* Count one value (ns) in stage i's histogram. */
static void stage_add(ch_st_stages *st, int i, uint64_t ns)
{
    uint64_t us = ns / 1000;
    int b = 0;

    while (b < CH_ST_STAGE_BUCKETS && us > ch_st_stage_bounds_us[b])
        b++;
    if (b < CH_ST_STAGE_BUCKETS)
        st->bucket[i][b]++;
    st->count[i]++;
    st->sum_us[i] += us;
}

/* Difference b - a of two hrtime stamps, 0 when either is missing or they
 * run backwards (a request that never reached a stage). */
static uint64_t span(uint64_t a, uint64_t b) { return a && b > a ? b - a : 0; }

void ch_st_stages_add(ch_st_stages *st, const ch_store_req *req, uint64_t done_ns, uint64_t cb_ns)
{
    if (!req->t_queued_ns || !req->t_start_ns || !req->t_commit_ns)
        return; /* not run by an engine that stamps (the files' part alone) */
    stage_add(st, 0, span(req->t_queued_ns, req->t_start_ns));
    stage_add(st, 1, span(req->t_start_ns, req->t_commit_ns));
    stage_add(st, 2, span(req->t_commit_ns, done_ns));
    stage_add(st, 3, cb_ns);
}

/* {"<stage>": {"count": n, "sum_us": n, "buckets": [n per bound, not
 * cumulative], "le_us": [the bounds]}, ...} (new reference; NULL when out
 * of memory). */
json_t *ch_st_stages_json(const ch_st_stages *st)
{
    json_t *out = json_object();

    for (int i = 0; out && i < CH_ST_STAGES; i++) {
        json_t *b = json_array(), *le = json_array();

        for (int k = 0; b && le && k < CH_ST_STAGE_BUCKETS; k++) {
            json_array_append_new(b, json_integer((json_int_t)st->bucket[i][k]));
            json_array_append_new(le, json_integer(ch_st_stage_bounds_us[k]));
        }
        json_object_set_new(out, ch_st_stage_names[i],
                            json_pack("{s:I, s:I, s:o*, s:o*}", "count", (json_int_t)st->count[i],
                                      "sum_us", (json_int_t)st->sum_us[i], "buckets", b, "le_us",
                                      le));
    }
    return out;
}
