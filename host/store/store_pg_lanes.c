/*
 * store_pg_lanes.c -- the PostgreSQL engine (ch_store_pg_engine): its
 * entry points (open, submit, state, close, listen, migrate) over one or
 * more lanes (store_pg.c), each a connection with its own queue, batches
 * and commits, the calls partitioned between them by room.
 *
 * Why lanes: a batch is a transaction of pipelined rounds, and the
 * connection waits for each round's results and for the commit's WAL
 * flush before the next batch starts; one connection leaves PostgreSQL's
 * and the host's cores idle for most of that wait.  With two, one lane's
 * rounds run while the other's commit is flushed.
 *
 * Why by room: a room's rows (its stream position, its messages, its
 * counts) are written by one lane only, so two lanes never wait for each
 * other's locks on them, and a room's calls keep their order (they run in
 * one lane's queue).  A call names its room with "room_id" (or "id" for
 * the room.* operations); a call without one (a user's, a message's by
 * id, a plugin's on its own keys) goes to the first lane.  Calls in flight
 * together in different lanes may commit in either order, as two Daphne
 * workers' would; a call made after another's callback always sees it.
 * Notifications are heard on the first lane's connection.
 *
 * Owns the lanes; the store (store.c) owns the engine.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ch_pg_lanes {
    ch_store *s;
    size_t n;    /* lanes */
    size_t open; /* lanes not yet freed (close: the last tells the store) */
    int failed;  /* open failed: the store is not told (it is gone) */
    ch_pg *lane[CH_STORE_CONNECTIONS_MAX];
    char state[256]; /* ch_pg_state's text, for a state not "ok" */
} ch_pg_lanes;

/* A lane is freed: the last one frees the engine and tells the store. */
static void lane_released(void *arg)
{
    ch_pg_lanes *l = arg;
    ch_store *s = l->s;

    if (--l->open > 0)
        return;
    if (!l->failed)
        ch_store_engine_closed(s);
    free(l);
}

/* The room a call is about (its "room_id", or "id" for room.*
 * operations), or -1. */
static json_int_t call_room(const ch_store_req *req)
{
    json_t *v = json_object_get(req->params, "room_id");

    if (!v && strncmp(req->op->name, "room.", 5) == 0)
        v = json_object_get(req->params, "id");
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

/* The lane of a call (borrowed): its room's, else the first. */
static ch_pg *lane_of(ch_pg_lanes *l, const ch_store_req *req)
{
    json_int_t room = l->n > 1 ? call_room(req) : -1;

    return l->lane[room < 0 ? 0 : (size_t)room % l->n];
}

static void lanes_submit(void *self, ch_store_req *req) { ch_pg_submit(lane_of(self, req), req); }

/* "ok" when every lane is; else the first other lane's state, named by
 * its number when there are several. */
static const char *lanes_state(void *self)
{
    ch_pg_lanes *l = self;

    for (size_t i = 0; i < l->n; i++) {
        const char *st = ch_pg_state(l->lane[i]);

        if (strcmp(st, "ok") == 0)
            continue;
        if (l->n == 1)
            return st;
        snprintf(l->state, sizeof l->state, "%s (connection %zu of %zu)", st, i + 1, l->n);
        return l->state;
    }
    return "ok";
}

static void lanes_close(void *self)
{
    ch_pg_lanes *l = self;

    for (size_t i = 0; i < l->n; i++)
        ch_pg_close(l->lane[i]);
}

static int lanes_listen(void *self, const char *channel)
{
    ch_pg_lanes *l = self;

    return ch_pg_listen(l->lane[0], channel);
}

/* Open ch_store_connections(s) lanes, each connected (blocking: open
 * runs at start-up); if one fails, those opened are closed (they free
 * themselves, and l, on the loop, without telling the store) and open
 * fails with its reason. */
static int lanes_open(ch_store *s, const char *url, void **self, char *err, size_t errlen)
{
    ch_pg_lanes *l = calloc(1, sizeof *l);
    size_t n = ch_store_connections(s);

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->s = s;
    for (; l->n < n; l->n++) {
        l->lane[l->n] = ch_pg_open(s, url, l->n, n, lane_released, l, err, errlen);
        if (!l->lane[l->n])
            break;
        l->open++;
    }
    if (l->n == n) {
        *self = l;
        return 0;
    }
    l->failed = 1;
    if (l->open == 0)
        free(l);
    else
        for (size_t i = 0; i < l->open; i++)
            ch_pg_close(l->lane[i]); /* the last one frees l */
    return -1;
}

/* `chanhost migrate`: blocking, prints a summary. */
static int lanes_migrate(const char *url, char *err, size_t errlen)
{
    int version = 0, applied = 0;

    if (ch_pg_check_url(url, NULL, err, errlen) != 0 ||
        ch_pg_migrate_blocking(url, &version, &applied, NULL, err, errlen) != 0)
        return -1;
    printf("schema at version %d (applied %d migrations)\n", version, applied);
    return 0;
}

const ch_store_engine ch_store_pg_engine = {
    .name = "postgresql",
    .kind = CH_STORE_PG,
    .open = lanes_open,
    .submit = lanes_submit,
    .state = lanes_state,
    .close = lanes_close,
    .migrate = lanes_migrate,
    .listen = lanes_listen,
};
