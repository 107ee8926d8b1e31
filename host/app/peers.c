/*
 * peers.c -- owns the other workers' latest snapshots (one slot per
 * worker number, each a JSON object and the loop time it came) and the
 * timer that sends this worker's own every second.  File statics, used on
 * the loop thread only: there is one ch_app per process.
 */
#include "peers.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link.h"

#define PEER_PERIOD_MS 1000
#define PEER_STALE_MS 3000 /* a worker not heard from since: left out */

typedef struct peer {
    json_t *snap; /* own reference, or NULL */
    uint64_t at_ms;
} peer;

static peer peers[CH_WORKERS_MAX + 1]; /* by worker number */
static uv_timer_t timer;
static int timer_on;

/* This worker's snapshot: a new reference, or NULL if out of memory. */
static json_t *snapshot(const ch_app *app)
{
    return json_pack("{s:i, s:I, s:I, s:I}", "worker", app->worker, "pid", (json_int_t)getpid(),
                     "connections", (json_int_t)app->n_ws, "tcp_connections",
                     (json_int_t)app->n_conns);
}

static void on_tick(uv_timer_t *t)
{
    ch_app *app = t->data;
    json_t *j = app->link ? snapshot(app) : NULL;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s)
        ch_link_send(app->link, CH_LINK_STATS, NULL, s, strlen(s));
    free(s);
    json_decref(j);
}

void ch_peers_start(ch_app *app)
{
    if (!app->link || timer_on)
        return;
    uv_timer_init(app->loop, &timer);
    timer.data = app;
    uv_timer_start(&timer, on_tick, 0, PEER_PERIOD_MS);
    uv_unref((uv_handle_t *)&timer);
    timer_on = 1;
}

void ch_peers_stop(void)
{
    size_t i;

    if (timer_on)
        uv_close((uv_handle_t *)&timer, NULL);
    timer_on = 0;
    for (i = 0; i < sizeof peers / sizeof peers[0]; i++) {
        json_decref(peers[i].snap);
        peers[i].snap = NULL;
    }
}

void ch_peers_input(ch_app *app, const char *data, size_t len)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    json_int_t w = json_integer_value(json_object_get(j, "worker"));

    if (!json_is_object(j) || w < 1 || w > CH_WORKERS_MAX || w == app->worker) {
        json_decref(j);
        return;
    }
    json_decref(peers[w].snap);
    peers[w].snap = j;
    peers[w].at_ms = uv_now(app->loop);
}

void ch_peers_health(ch_app *app, json_t *health)
{
    json_t *all = json_array(), *own = snapshot(app);
    uint64_t now = uv_now(app->loop);
    json_int_t sum = (json_int_t)app->n_ws;
    int w;

    if (!app->worker || !all || !own) {
        json_decref(all);
        json_decref(own);
        return;
    }
    for (w = 1; w <= CH_WORKERS_MAX; w++) {
        json_t *s = w == app->worker ? own : peers[w].snap;

        if (!s || (w != app->worker && now - peers[w].at_ms > PEER_STALE_MS))
            continue;
        if (w != app->worker) {
            s = json_deep_copy(s);
            json_object_set_new(s, "age_ms", json_integer((json_int_t)(now - peers[w].at_ms)));
            sum += json_integer_value(json_object_get(s, "connections"));
        } else {
            json_incref(s);
        }
        json_array_append_new(all, s);
    }
    json_decref(own);
    json_object_set_new(health, "workers", all);
    json_object_set_new(health, "all_connections", json_integer(sum));
}
