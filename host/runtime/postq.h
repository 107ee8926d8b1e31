/*
 * postq.h -- a bounded queue of callbacks that any thread may fill and the
 * loop thread drains: one uv_async, one mutex, one ring of fixed size
 * allocated at init (a post never allocates).  Sub-system runtime; the
 * plugins' api->loop_post (timers.c) is built on it.
 *
 * Threads: ch_postq_push from any thread; everything else on the loop
 * thread.  The ch_postq itself is the caller's storage and must outlive
 * every thread that may still push (a push after ch_postq_close fails
 * without touching the loop).
 */
#ifndef CH_POSTQ_H
#define CH_POSTQ_H

#include <pthread.h>
#include <stddef.h>

#include <uv.h>

/* One queued callback.  Every pointer is the poster's, carried untouched:
 * the queue never calls cb or drop itself, it hands the entry to the
 * queue's run function (drained) or to a dropped function (purged). */
typedef struct ch_post {
    void *owner; /* who queued it: the key of ch_postq_purge */
    void (*cb)(void *arg);
    void (*drop)(void *arg); /* NULL: nothing to free when dropped */
    void *arg;
} ch_post;

/* Called on the loop thread with a copy of an entry (borrowed, valid
 * during the call) and the ctx given with it. */
typedef void (*ch_post_fn)(const ch_post *e, void *ctx);

typedef struct ch_postq {
    pthread_mutex_t mu; /* guards ring, head, n, open */
    uv_async_t async;   /* wakes the loop; drains in on_async */
    ch_post *ring;      /* cap entries, from head, n of them used */
    size_t cap, head, n;
    int open;       /* non-zero: pushes are accepted */
    ch_post_fn run; /* runs each drained entry */
    void *ctx;
} ch_postq;

/* Set up *q (caller's storage) on loop with room for cap (> 0) entries;
 * run(e, ctx) gets each entry, in push order, on the loop thread.  The
 * async handle is unref'd: an empty queue keeps no loop alive, but it is
 * open until ch_postq_close.  Returns 0 or a negative errno. */
int ch_postq_init(ch_postq *q, uv_loop_t *loop, size_t cap, ch_post_fn run, void *ctx);

/* Any thread: copy *e (borrowed) into the queue and wake the loop.
 * Returns 0, -EAGAIN when cap entries wait already (nothing queued),
 * -EPIPE once the queue is closed. */
int ch_postq_push(ch_postq *q, const ch_post *e);

/* Loop thread: take every waiting entry of `owner` out of the queue (the
 * others keep their order) and hand each to dropped(e, ctx), outside the
 * lock (so dropped may push).  Returns how many were dropped. */
size_t ch_postq_purge(ch_postq *q, const void *owner, ch_post_fn dropped, void *ctx);

/* Loop thread: refuse further pushes, hand every waiting entry to
 * dropped(e, ctx) (in order), free the ring and close the async handle
 * (its close callback runs on a later loop iteration).  The mutex stays:
 * late pushes get -EPIPE until ch_postq_destroy. */
void ch_postq_close(ch_postq *q, ch_post_fn dropped, void *ctx);

/* After ch_postq_close, once no thread can push any more: release the
 * mutex.  *q may then be initialised again. */
void ch_postq_destroy(ch_postq *q);

#endif
