/*
 * timers.h -- what plugins get of the loop (SDK ABI 1.2): timers
 * (api->timer_start / timer_stop) and posters for the cross-thread queue
 * (api->poster_new / poster_free / loop_post, on postq.h).  Sub-system
 * runtime.
 *
 * Every timer and poster belongs to the plugin version that made it (the
 * one whose callback was running: ch_plugin_current) and is linked in that
 * version's lists (ch_plugin.timers, .posters).  They do not hold a
 * reference on it: when the version unloads, plugins.c calls
 * ch_timers_release after fini, which cancels and frees what is left.
 * Callbacks run through ch_plugin_call, i.e. inside the owning version.
 *
 * Lifecycle, driven by the assembler (app.c): ch_timers_init before the
 * plugins load; ch_timers_close when the host stops (with its other loop
 * handles: no timer or async handle stays open at loop end);
 * ch_timers_fini after the loop ended and every plugin was unloaded.
 */
#ifndef CH_TIMERS_H
#define CH_TIMERS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "chanhost.h"

typedef struct ch_plugin ch_plugin;

/* Open the plugins' post queue on loop with room for post_max callbacks
 * and accept timers.  Returns 0 or a negative errno (logged). */
int ch_timers_init(uv_loop_t *loop, size_t post_max);

/* The host stops: close every plugin timer's handle (the handles stay
 * valid for timer_stop until their version unloads), drop every queued
 * callback (its drop runs inside its version), close the queue; from now
 * on timer_start returns NULL and loop_post CHANHOST_ERR_STATE.  Safe to
 * call when ch_timers_init was not (then it does nothing). */
void ch_timers_close(void);

/* After ch_timers_close and the loop's end, once every plugin version is
 * unloaded (no thread may post any more): release the queue's mutex. */
void ch_timers_fini(void);

/* Version p unloads (its refs are zero, fini has returned, it is current):
 * stop and free its timers, drop its posters' queued callbacks (their
 * drop runs now, while p's code is still mapped) and free its posters.
 * Returns how many timers were still there (cancelled). */
size_t ch_timers_release(ch_plugin *p);

/* The api table's entries (sdk/chanhost.h gives ownership and threads). */
chanhost_timer *ch_timer_start(uint64_t ms, uint64_t repeat_ms,
                               void (*cb)(chanhost_timer *t, void *arg), void *arg);
void ch_timer_stop(chanhost_timer *t);
chanhost_poster *ch_poster_new(void);
void ch_poster_free(chanhost_poster *p);
int ch_loop_post(chanhost_poster *p, void (*cb)(void *arg), void (*drop)(void *arg), void *arg);

#endif
