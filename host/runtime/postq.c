/*
 * postq.c -- the bounded cross-thread callback queue (postq.h).  Owns the
 * ring it allocates at init (freed at close) and the uv_async it opens
 * (closed at close); the ch_postq and the entries' pointers are the
 * caller's.
 */
#include "postq.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

/* Pop the oldest entry into *e under the lock.  Returns 1, or 0 if the
 * queue is empty. */
static int pop(ch_postq *q, ch_post *e)
{
    int got;

    pthread_mutex_lock(&q->mu);
    got = q->n > 0;
    if (got) {
        *e = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

/* The loop woke up for the queue: run what waited when it woke (entries
 * pushed meanwhile sent the async again and run on the next wake-up, so a
 * busy poster cannot hold the loop here). */
static void on_async(uv_async_t *a)
{
    ch_postq *q = a->data;
    size_t due;
    ch_post e;

    pthread_mutex_lock(&q->mu);
    due = q->n;
    pthread_mutex_unlock(&q->mu);
    while (due-- > 0 && pop(q, &e))
        q->run(&e, q->ctx);
}

int ch_postq_init(ch_postq *q, uv_loop_t *loop, size_t cap, ch_post_fn run, void *ctx)
{
    int rc;

    if (cap == 0 || !run)
        return -EINVAL;
    q->ring = calloc(cap, sizeof *q->ring);
    if (!q->ring)
        return -ENOMEM;
    rc = uv_async_init(loop, &q->async, on_async);
    if (rc != 0) {
        free(q->ring);
        q->ring = NULL;
        return rc;
    }
    uv_unref((uv_handle_t *)&q->async);
    q->async.data = q;
    q->cap = cap;
    q->head = q->n = 0;
    q->run = run;
    q->ctx = ctx;
    q->open = 1;
    pthread_mutex_init(&q->mu, NULL);
    return 0;
}

/* The async is sent under the lock, so that ch_postq_close (which takes
 * it to shut the queue) never closes the handle under a sender. */
int ch_postq_push(ch_postq *q, const ch_post *e)
{
    int rc = 0;

    pthread_mutex_lock(&q->mu);
    if (!q->open)
        rc = -EPIPE;
    else if (q->n == q->cap)
        rc = -EAGAIN;
    if (rc == 0) {
        q->ring[(q->head + q->n) % q->cap] = *e;
        q->n++;
        uv_async_send(&q->async);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* Take the first entry of owner (any entry if owner is NULL) out of the
 * queue into *e, closing the gap.  Returns 1, or 0 if there is none. */
static int take(ch_postq *q, const void *owner, ch_post *e)
{
    size_t i, j;
    int got = 0;

    pthread_mutex_lock(&q->mu);
    for (i = 0; i < q->n && !got; i++) {
        if (owner && q->ring[(q->head + i) % q->cap].owner != owner)
            continue;
        got = 1;
        *e = q->ring[(q->head + i) % q->cap];
        for (j = i; j + 1 < q->n; j++)
            q->ring[(q->head + j) % q->cap] = q->ring[(q->head + j + 1) % q->cap];
        q->n--;
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

size_t ch_postq_purge(ch_postq *q, const void *owner, ch_post_fn dropped, void *ctx)
{
    size_t count = 0;
    ch_post e;

    while (take(q, owner, &e)) {
        count++;
        dropped(&e, ctx);
    }
    return count;
}

void ch_postq_close(ch_postq *q, ch_post_fn dropped, void *ctx)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    q->open = 0;
    pthread_mutex_unlock(&q->mu);
    n = ch_postq_purge(q, NULL, dropped, ctx);
    if (n)
        ch_log(CH_LOG_DEBUG, "loop_post: %zu callback(s) dropped at close", n);
    free(q->ring);
    q->ring = NULL;
    uv_close((uv_handle_t *)&q->async, NULL);
}

void ch_postq_destroy(ch_postq *q) { pthread_mutex_destroy(&q->mu); }
