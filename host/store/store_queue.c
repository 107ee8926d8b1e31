/*
 * store_queue.c -- what the engines share of their queues and hand-off:
 * a FIFO of requests, the eventfd write that wakes the loop, and the
 * commit window (store_commit_delay).  It owns no memory: the requests
 * belong to the engine that queues them.
 *
 * Group commit divides a transaction's fixed cost (the fsync, the
 * wake-ups between the loop and the engine, BEGIN/COMMIT) by the calls
 * it holds.  At high rates batches form by themselves: calls queue while
 * the previous transaction runs.  At low rates every call would be a
 * transaction of its own, so a batch may wait a short while for more
 * calls, as PostgreSQL's commit_delay (with commit_siblings) or MySQL's
 * binlog_group_commit_sync_delay do.  The rule, adaptive so that an idle
 * store and a caller that waits for each answer before its next call
 * add no latency:
 *
 *  - Windows are armed once calls are seen to overlap: a call arrives
 *    while another is queued or in its transaction.  A window that ends
 *    with no call but its first disarms them again.  So a lone caller
 *    (one call after another's answer, such as an import over the API)
 *    never waits, and neither does an idle store's first call.
 *  - The call that finds the queue empty starts the next batch.  That
 *    batch waits only if windows are armed, the call writes (a read has
 *    no commit, no fsync to share), and traffic suggests more calls will
 *    come: the previous call arrived less than the window before it.
 *  - A waiting batch waits until the window has passed since its first
 *    call arrived, or until it holds CH_ST_WINDOW_ENOUGH calls (16;
 *    store_batch_max if smaller: enough to share the fixed cost, so at a
 *    few thousand calls a second the wait is a few milliseconds), or
 *    until the store closes, whichever comes first.
 *  - On SQLite, a batch that starts while a transaction runs (a high
 *    rate: it is batched by that transaction's time at least) waits only
 *    if the call before came less than CH_ST_WINDOW_RUN_MS (4 ms) before
 *    it, and then until that long after its first call or until it holds
 *    CH_ST_WINDOW_FULL calls (64).  Until 2026-12 such a batch never
 *    waited: at 8,000 appends a second its batches then held about 12
 *    calls and each COMMIT (its WAL frames, about 18 pages, and their
 *    fsync) cost 240 us of the worker's CPU, 19 us an append; with this
 *    rule they hold about 47 and the worker's CPU per append falls by a
 *    sixth or more (docs/performance.md, part 10), for at most 4 ms more
 *    latency.
 *    Not on PostgreSQL, whose one connection runs one transaction at a
 *    time, so that a wait there leaves the server idle; its batches form
 *    while a transaction runs, as before (with the rule, its maximum was
 *    no higher in part 10's runs).
 *
 * The engines keep the state under their own lock (or thread) and do
 * the waiting: the SQLite worker in a timed wait on its condition
 * variable, woken by the loop only when the batch is full or the store
 * closes (one wake-up for all the calls of a window); the PostgreSQL
 * engine with a timer on the loop.  What a call costs at low rates: up
 * to the window of added latency, in exchange for one commit per window.
 */
#include "store_impl.h"

#include <errno.h>
#include <unistd.h>

/* Append req to the FIFO head..tail (req: the engine's, linked in). */
void ch_st_fifo_push(ch_store_req **head, ch_store_req **tail, ch_store_req *req)
{
    req->next = NULL;
    if (*tail)
        (*tail)->next = req;
    else
        *head = req;
    *tail = req;
}

/* Put req back at the head of the FIFO head..tail (req: the engine's). */
void ch_st_fifo_push_head(ch_store_req **head, ch_store_req **tail, ch_store_req *req)
{
    req->next = *head;
    *head = req;
    if (!*tail)
        *tail = req;
}

/* Unlink and return the FIFO's first request, or NULL when it is empty. */
ch_store_req *ch_st_fifo_pop(ch_store_req **head, ch_store_req **tail)
{
    ch_store_req *req = *head;

    if (req) {
        *head = req->next;
        if (!*head)
            *tail = NULL;
        req->next = NULL;
    }
    return req;
}

/* Take up to max requests (at least one) off the non-empty FIFO; the
 * returned list is NULL-terminated, in order. */
ch_store_req *ch_st_fifo_take(ch_store_req **head, ch_store_req **tail, uint32_t max)
{
    ch_store_req *first = *head, *last = first;

    for (uint32_t i = 1; i < max && last->next; i++)
        last = last->next;
    *head = last->next;
    if (!*head)
        *tail = NULL;
    last->next = NULL;
    return first;
}

/* Wake the loop from another thread: one write to the eventfd fd. */
void ch_st_eventfd_tell(int fd)
{
    uint64_t one = 1;
    ssize_t n;

    do
        n = write(fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

/* Set the window and the running window (ms; 0: a batch formed while a
 * transaction runs never waits); nothing has arrived yet, windows are
 * disarmed. */
void ch_st_window_init(ch_st_window *w, uint32_t delay_ms, uint32_t run_ms)
{
    *w = (ch_st_window){.delay_ns = (uint64_t)delay_ms * 1000000u,
                        .run_ns = (uint64_t)run_ms * 1000000u};
}

/* The window of a batch that starts now (0: it does not wait), and
 * whether it starts while a transaction runs (w->run_window, which sets
 * the calls that end it: ch_st_window_cap): see the rule above. */
static uint64_t window_end(ch_st_window *w, uint64_t now_ns)
{
    uint64_t run_ns = w->run_ns, gap = now_ns - w->last_ns;

    if (!w->armed || !w->delay_ns || gap >= w->delay_ns)
        return 0;
    w->run_window = w->running;
    if (!w->running)
        return now_ns + w->delay_ns;
    if (!run_ns || gap >= run_ns)
        return 0;
    return now_ns + (run_ns < w->delay_ns ? run_ns : w->delay_ns);
}

/* Record an arrival; arm on overlap; decide, for a writing call that
 * starts a batch, whether and until when that batch waits.  Non-zero: a
 * waiting batch is full. */
int ch_st_window_arrive(ch_st_window *w, int queued, int writes, uint64_t now_ns,
                        uint32_t batch_max)
{
    w->armed |= queued || w->running;
    if (!queued && writes) {
        w->end_ns = window_end(w, now_ns);
        w->held = 0;
    }
    w->last_ns = now_ns;
    w->held++;
    return w->end_ns && w->held >= ch_st_window_cap(w, batch_max);
}

/* The batch was taken: a window that caught nothing disarms (a running
 * one does not: its calls came less than CH_ST_WINDOW_RUN_MS apart, and
 * the rate it guessed from that is still the guess); no batch waits until
 * the next batch's first arrival. */
void ch_st_window_taken(ch_st_window *w)
{
    if (w->end_ns && w->held < 2 && !w->run_window)
        w->armed = 0;
    w->end_ns = 0;
    w->held = 0;
    w->running = 1;
}

/* The batch's transaction is over. */
void ch_st_window_done(ch_st_window *w) { w->running = 0; }
