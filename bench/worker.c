/*
 * worker.c -- the life of one chanbench worker process: connect its share
 * of the clients, report READY, run the scenario when the parent says go,
 * report DONE, and close everything when the parent says release.  A 1 ms
 * tick follows the parent's flags and bounds every phase in time.
 */
#include "chanbench.h"

#define TICK_MS 1

static int flag(int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

/* Report this worker's part of the run over (successfully or not). */
static void report_done(cb_worker *wk)
{
    wk->res->cpu_s = cb_self_cpu_s() - wk->cpu_mark;
    cb_run_finish(wk);
    __atomic_store_n(&wk->res->phase, CB_DONE, __ATOMIC_RELEASE);
}

/* The parent's go: start the scenario, with a fresh deadline. */
static void start_run(cb_worker *wk)
{
    wk->deadline_ns = cb_now_ns() + (uint64_t)(wk->o->timeout_s * 1e9);
    wk->cpu_mark = cb_self_cpu_s();
    cb_run_start(wk);
}

/* While running: pump the scenario, notice the end, a lost client or the
 * deadline. */
static void running_tick(cb_worker *wk)
{
    cb_run_tick(wk);
    if (cb_run_done(wk) || wk->res->dropped > 0) {
        report_done(wk);
    } else if (cb_now_ns() > wk->deadline_ns) {
        cb_fail(wk, "timeout: %.0f s without the end of the run", wk->o->timeout_s);
        report_done(wk);
    }
}

/* With an active idle handle libuv polls without blocking: the worker
 * never sleeps, so its wake-up time is not part of the latencies. */
static void on_spin(uv_idle_t *h) { (void)h; }

/* Every millisecond: the parent's release and go, the phase deadlines, and
 * the scenario's own pace while it runs. */
static void on_tick(uv_timer_t *t)
{
    cb_worker *wk = t->data;
    int phase = wk->res->phase;

    if (flag(&wk->sh->release)) {
        cb_close_all(wk);
        return;
    }
    if (phase == CB_CONNECTING && cb_now_ns() > wk->deadline_ns && !wk->res->first_error[0])
        cb_fail(wk, "timeout: %ld of %ld handshakes answered, %ld histories", wk->settled, wk->n,
                wk->histories);
    if (phase == CB_READY && !wk->started && flag(&wk->sh->go))
        start_run(wk);
    else if (phase == CB_READY && wk->started)
        running_tick(wk);
}

/*
 * Worker `id` owns clients first .. first+n-1 (global numbering, which
 * picks their source address).  Returns the process's exit status.
 */
int cb_worker_main(const cb_opts *o, cb_shared *sh, int id, long n, long first)
{
    cb_worker wk = {.o = o, .sh = sh, .res = &sh->w[id], .id = id, .n = n, .first_global = first};

    wk.max_inflight = o->inflight / o->procs > 0 ? o->inflight / o->procs : 1;
    if (cb_worker_init(&wk) != 0 || cb_run_prepare(&wk) != 0) {
        cb_fail(&wk, "worker %d: out of memory", id);
        __atomic_store_n(&wk.res->phase, CB_DONE, __ATOMIC_RELEASE);
        return 1;
    }
    wk.deadline_ns = cb_now_ns() + (uint64_t)(o->timeout_s * 1e9);
    wk.cpu_mark = cb_self_cpu_s();
    uv_timer_init(&wk.loop, &wk.tick);
    wk.tick.data = &wk;
    uv_timer_start(&wk.tick, on_tick, TICK_MS, TICK_MS);
    uv_idle_init(&wk.loop, &wk.spin);
    if (o->spin)
        uv_idle_start(&wk.spin, on_spin);
    cb_connect_more(&wk);
    uv_run(&wk.loop, UV_RUN_DEFAULT);
    return 0;
}
