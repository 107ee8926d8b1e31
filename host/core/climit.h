/*
 * climit.h -- the table behind the per-user and per-address connection
 * limits and the handshake rate per address (config: max_connections_per_user,
 * max_connections_per_ip, handshake_rate_per_ip): one
 * entry per key ("u:<user id>", "i:<address>") with the connections it
 * holds open and a token bucket of handshakes.  Pure: time is passed in
 * (loop ms), nothing here logs or answers; runtime/upgrade.c applies it.
 *
 * The table is a ch_vmap of ch_climit entries (8 bytes a slot: an entry
 * carries its key), each owned by the table and keyed by its own name; a
 * zeroed ch_vmap is an empty table (ch_climit_get sets its ops).  An entry lives while it holds a connection
 * or its bucket is not full again; ch_climit_release frees it then, and
 * ch_climit_get sweeps such idle entries when the table is large.  Each
 * worker of `workers N` has its own table: the limits are per worker.
 */
#ifndef CH_CLIMIT_H
#define CH_CLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "hmap.h"

typedef struct ch_climit {
    uint64_t at_ms; /* when tokens was last brought up to date */
    float tokens;   /* handshakes it may start now (bucket of `rate`) */
    uint32_t conns; /* connections counted on it */
    char key[];     /* its name in the table, at offset 16: a user's entry
                       ("u:<id>", ids below 10^5) is one 32-byte chunk */
} ch_climit;

/* The entry of key (borrowed) in m, or NULL (borrowed, the table's). */
ch_climit *ch_climit_find(const ch_vmap *m, const char *key);

/* The entry of key (borrowed) in m, made (bucket full, no connection)
 * if absent: borrowed, the table's.  NULL when memory is short. */
ch_climit *ch_climit_get(ch_vmap *m, const char *key, uint64_t now_ms);

/* Take one handshake from e's bucket of rate a second (burst: rate): 0,
 * or -EAGAIN with *retry_ms the wait until one is there.  rate 0: no
 * limit (always 0). */
int ch_climit_take(ch_climit *e, uint64_t rate, uint64_t now_ms, uint64_t *retry_ms);

/* One connection fewer on e (borrowed; may be NULL); e is freed when it
 * holds none and its bucket of rate would be full at now_ms. */
void ch_climit_release(ch_vmap *m, ch_climit *e, uint64_t rate, uint64_t now_ms);

/* Free e (borrowed) if it holds no connection and its bucket of rate
 * would be full at now_ms (an entry got but not counted on). */
void ch_climit_forget(ch_vmap *m, ch_climit *e, uint64_t rate, uint64_t now_ms);

/* Free every entry and the table. */
void ch_climit_free_all(ch_vmap *m);

#endif
