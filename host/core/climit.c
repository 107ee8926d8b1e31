/*
 * climit.c -- owns the entries of the connection-limit table (climit.h):
 * each is malloc'd with its key and freed when idle (no connection, a
 * full bucket) or with the table.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "climit.h"

/* Sweep idle entries only past this many (the table stays small for an
 * honest load and bounded under a spread of addresses). */
#define CLIMIT_SWEEP_AT 65536

/* The table's ops (ch_vmap): an entry carries its key. */
static uint64_t key_hash(const void *key, uint64_t seed) { return ch_vmap_hash_str(key, seed); }

static uint64_t entry_hash(const void *e, uint64_t seed)
{
    return ch_vmap_hash_str(((const ch_climit *)e)->key, seed);
}

static int entry_match(const void *e, const void *key)
{
    return strcmp(((const ch_climit *)e)->key, key) == 0;
}

static const ch_vmap_ops climit_ops = {key_hash, entry_hash, entry_match};

/* Bring e's bucket of rate up to now_ms (capacity: rate, at least 1). */
static void refill(ch_climit *e, uint64_t rate, uint64_t now_ms)
{
    double cap = rate ? (double)rate : 1.0, tokens = e->tokens;

    if (now_ms > e->at_ms)
        tokens += (double)(now_ms - e->at_ms) * (double)rate / 1000.0;
    e->tokens = (float)(tokens > cap || !rate ? cap : tokens);
    e->at_ms = now_ms;
}

/* 1 when e holds nothing and its bucket is full at now_ms. */
static int idle(ch_climit *e, uint64_t rate, uint64_t now_ms)
{
    refill(e, rate, now_ms);
    return e->conns == 0 && e->tokens >= (float)(rate ? (double)rate : 1.0);
}

/* Free the idle entries of m (none may be in use by a caller: the
 * buckets of idle entries are full, so forgetting them changes nothing).
 * The rate is unknown here: an entry is idle when its bucket had a whole
 * second to refill, which fills any rate. */
static void sweep(ch_vmap *m, uint64_t now_ms)
{
    size_t pos = 0, n = 0, i;
    void *val;
    ch_climit **drop = malloc(ch_vmap_count(m) * sizeof *drop);

    if (!drop)
        return;
    while (ch_vmap_next(m, &pos, &val)) {
        ch_climit *e = val;

        if (e->conns == 0 && now_ms >= e->at_ms + 1000)
            drop[n++] = e;
    }
    for (i = 0; i < n; i++) {
        ch_vmap_remove(m, drop[i]->key);
        free(drop[i]);
    }
    free(drop);
}

/* climit.h: the entry of key, or NULL. */
ch_climit *ch_climit_find(const ch_vmap *m, const char *key) { return ch_vmap_get(m, key); }

ch_climit *ch_climit_get(ch_vmap *m, const char *key, uint64_t now_ms)
{
    ch_climit *e = ch_vmap_get(m, key);
    size_t len = strlen(key) + 1;

    if (e)
        return e;
    if (!m->ops)
        ch_vmap_init(m, &climit_ops); /* a zeroed table: its first entry */
    if (ch_vmap_count(m) >= CLIMIT_SWEEP_AT)
        sweep(m, now_ms);
    if (!(e = malloc(offsetof(ch_climit, key) + len)))
        return NULL;
    memcpy(e->key, key, len);
    e->conns = 0;
    e->tokens = FLT_MAX; /* full: refill caps it at the rate */
    e->at_ms = now_ms;
    if (ch_vmap_put(m, e->key, e) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

int ch_climit_take(ch_climit *e, uint64_t rate, uint64_t now_ms, uint64_t *retry_ms)
{
    if (!rate)
        return 0;
    refill(e, rate, now_ms);
    if (e->tokens >= 1.0f) {
        e->tokens -= 1.0f;
        return 0;
    }
    *retry_ms = (uint64_t)ceil((1.0 - (double)e->tokens) * 1000.0 / (double)rate);
    return -EAGAIN;
}

void ch_climit_release(ch_vmap *m, ch_climit *e, uint64_t rate, uint64_t now_ms)
{
    if (!e)
        return;
    if (e->conns)
        e->conns--;
    ch_climit_forget(m, e, rate, now_ms);
}

void ch_climit_forget(ch_vmap *m, ch_climit *e, uint64_t rate, uint64_t now_ms)
{
    if (idle(e, rate, now_ms)) {
        ch_vmap_remove(m, e->key);
        free(e);
    }
}

void ch_climit_free_all(ch_vmap *m)
{
    size_t pos = 0;
    void *val;

    while (ch_vmap_next(m, &pos, &val))
        free(val);
    ch_vmap_free(m);
}
