/*
 * timers.c -- the plugins' timers and posters (timers.h, SDK ABI 1.2).
 * Owns every chanhost_timer (one uv_timer_t each: plugins have few) and
 * chanhost_poster it allocates, linked in the owning version's lists until
 * stopped, freed or released with the version, and the one post queue of
 * the host (a static ch_postq, postq.h).  Loop thread only, except
 * ch_loop_post.
 */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "plugins.h"
#include "postq.h"

struct chanhost_timer {
    uv_timer_t h;     /* h.data = the timer */
    ch_plugin *owner; /* NULL once released */
    void (*cb)(chanhost_timer *t, void *arg);
    void *arg;                   /* the plugin's */
    chanhost_timer *next, *prev; /* in owner->timers */
    unsigned repeat : 1;         /* repeat_ms > 0 */
    unsigned released : 1;       /* the plugin's handle is gone */
    unsigned closing : 1;        /* uv_close was called */
    unsigned closed : 1;         /* its close callback ran */
};

struct chanhost_poster {
    ch_plugin *owner;
    chanhost_poster *next, *prev; /* in owner->posters */
};

static uv_loop_t *timer_loop; /* where timers are made */
static int accepting;         /* between ch_timers_init and ch_timers_close */
static int queue_live;        /* q's mutex exists (init .. fini) */
static ch_postq q;            /* every plugin's loop_post callbacks */

/* The version whose callback runs now.  plugins.c keeps it const for the
 * log prefix; the version itself is the loop's to change. */
static ch_plugin *caller(void) { return (ch_plugin *)ch_plugin_current(); }

/* Close callback: the handle is done; free t if the plugin let go too. */
static void on_timer_closed(uv_handle_t *h)
{
    chanhost_timer *t = h->data;

    t->closed = 1;
    if (t->released)
        free(t);
}

/* Start closing t's handle once. */
static void timer_close_handle(chanhost_timer *t)
{
    if (t->closing)
        return;
    t->closing = 1;
    uv_close((uv_handle_t *)&t->h, on_timer_closed);
}

/* The plugin's handle t goes away (stopped, fired once, or its version
 * unloads): unlink it from its version and free it once its uv handle is
 * closed.  Idempotent. */
static void timer_release(chanhost_timer *t)
{
    if (t->released)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        t->owner->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->owner = NULL;
    t->released = 1;
    if (!t->closing)
        timer_close_handle(t);
    else if (t->closed)
        free(t);
}

/* Inside the owning version (ch_plugin_call): the plugin's callback. */
static void timer_fire(void *arg)
{
    chanhost_timer *t = arg;

    t->cb(t, t->arg);
}

/* The uv timer expired: run the callback inside its version (pinned for
 * the call, so the version cannot unload under it); a one-shot timer is
 * then released, unless its callback stopped it already (t stays
 * allocated until its close callback, so reading it after is safe). */
static void on_timer(uv_timer_t *h)
{
    chanhost_timer *t = h->data;
    ch_plugin *p = t->owner;

    ch_plugin_ref(p);
    ch_plugin_call(p, timer_fire, t);
    if (!t->repeat)
        timer_release(t);
    ch_plugin_unref(p);
}

chanhost_timer *ch_timer_start(uint64_t ms, uint64_t repeat_ms,
                               void (*cb)(chanhost_timer *t, void *arg), void *arg)
{
    ch_plugin *p = caller();
    chanhost_timer *t;

    if (!p || !cb || !accepting) {
        ch_log(CH_LOG_WARN, "%s%stimer_start refused: %s", p ? p->name : "", p ? ": " : "",
               !p    ? "called outside a plugin callback"
               : !cb ? "no callback"
                     : "the host is stopping");
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        ch_log(CH_LOG_ERROR, "%s: timer_start: out of memory", p->name);
        return NULL;
    }
    uv_timer_init(timer_loop, &t->h);
    t->h.data = t;
    t->owner = p;
    t->cb = cb;
    t->arg = arg;
    t->repeat = repeat_ms > 0;
    t->next = p->timers;
    if (p->timers)
        p->timers->prev = t;
    p->timers = t;
    uv_timer_start(&t->h, on_timer, ms, repeat_ms);
    return t;
}

void ch_timer_stop(chanhost_timer *t)
{
    if (t)
        timer_release(t);
}

/* A queued callback's turn came: run it inside its poster's version (the
 * poster is alive: freeing one purges its entries first). */
static void post_run(const ch_post *e, void *ctx)
{
    chanhost_poster *ps = e->owner;

    (void)ctx;
    ch_plugin_call(ps->owner, e->cb, e->arg);
}

/* A queued callback that will not run: hand its arg to its drop, if any,
 * now (the caller has the owning version current and loaded). */
static void post_drop_now(const ch_post *e, void *ctx)
{
    (void)ctx;
    if (e->drop)
        e->drop(e->arg);
}

/* The same at host stop: inside the owning version (still referenced by
 * the registry or its connections). */
static void post_drop_in_owner(const ch_post *e, void *ctx)
{
    chanhost_poster *ps = e->owner;

    (void)ctx;
    if (e->drop)
        ch_plugin_call(ps->owner, e->drop, e->arg);
}

chanhost_poster *ch_poster_new(void)
{
    ch_plugin *p = caller();
    chanhost_poster *ps;

    if (!p || !queue_live) {
        ch_log(CH_LOG_WARN, "poster_new refused: %s",
               !p ? "called outside a plugin callback" : "no post queue");
        return NULL;
    }
    ps = calloc(1, sizeof *ps);
    if (!ps) {
        ch_log(CH_LOG_ERROR, "%s: poster_new: out of memory", p->name);
        return NULL;
    }
    ps->owner = p;
    ps->next = p->posters;
    if (p->posters)
        p->posters->prev = ps;
    p->posters = ps;
    return ps;
}

void ch_poster_free(chanhost_poster *ps)
{
    if (!ps)
        return;
    if (queue_live)
        ch_postq_purge(&q, ps, post_drop_now, NULL);
    if (ps->prev)
        ps->prev->next = ps->next;
    else
        ps->owner->posters = ps->next;
    if (ps->next)
        ps->next->prev = ps->prev;
    free(ps);
}

/* Any thread: no logging here, the mutex of the queue only. */
int ch_loop_post(chanhost_poster *ps, void (*cb)(void *arg), void (*drop)(void *arg), void *arg)
{
    ch_post e = {ps, cb, drop, arg};
    int rc;

    if (!ps || !cb)
        return CHANHOST_ERR_INVALID;
    rc = ch_postq_push(&q, &e);
    return rc == 0 ? CHANHOST_OK : rc == -EAGAIN ? CHANHOST_ERR_BUSY : CHANHOST_ERR_STATE;
}

int ch_timers_init(uv_loop_t *loop, size_t post_max)
{
    int rc = ch_postq_init(&q, loop, post_max, post_run, NULL);

    if (rc != 0) {
        ch_log(CH_LOG_ERROR, "plugin post queue: %s", uv_strerror(rc));
        return rc;
    }
    timer_loop = loop;
    queue_live = accepting = 1;
    return 0;
}

void ch_timers_close(void)
{
    const ch_plugin *p;
    chanhost_timer *t;

    if (!accepting)
        return;
    accepting = 0;
    for (p = ch_plugin_live(); p; p = p->live_next)
        for (t = p->timers; t; t = t->next)
            timer_close_handle(t);
    ch_postq_close(&q, post_drop_in_owner, NULL);
}

void ch_timers_fini(void)
{
    if (!queue_live)
        return;
    ch_postq_destroy(&q);
    queue_live = 0;
    timer_loop = NULL;
}

size_t ch_timers_release(ch_plugin *p)
{
    size_t n = 0;

    for (; p->timers; n++)
        timer_release(p->timers);
    while (p->posters)
        ch_poster_free(p->posters);
    return n;
}
