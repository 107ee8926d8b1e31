/*
 * hmap.h -- a small string-keyed hash map (open addressing, linear
 * probing, backward-shift deletion, power-of-two capacity), and its
 * integer-keyed twin ch_umap (below).
 *
 * Keys are BORROWED: the map stores the key pointer, never a copy, so the
 * key string must stay valid and unchanged while its entry is in the map.
 * The usual pattern is a value that holds its own name (a group struct, an
 * endpoint) and is inserted under that name.  Values are opaque non-NULL
 * pointers; the map never frees keys or values.
 *
 * The map grows (doubling) when it becomes 3/4 full; it does not shrink.
 * Iteration order is unspecified and differs between runs (each map's
 * hash is seeded at random when its table is first allocated).  Inserting or removing during an
 * iteration is not supported.
 */
#ifndef CH_HMAP_H
#define CH_HMAP_H

#include <stddef.h>
#include <stdint.h>

/* 16 bytes: the key's hash is not stored (computed again when the table
 * grows or a deletion moves entries), since the tables with one entry per
 * connection (the layer's endpoints and groups, the connection limits)
 * cost a slot and a half to three per entry. */
typedef struct ch_hmap_slot {
    const char *key; /* NULL: empty slot */
    void *val;
} ch_hmap_slot;

typedef struct ch_hmap {
    ch_hmap_slot *slots; /* NULL until the first insert */
    size_t cap;          /* 0 or a power of two */
    size_t count;
    uint64_t seed; /* hash seed, set with the first table */
} ch_hmap;

/* An empty map (no allocation); a zeroed ch_hmap is also a valid empty map. */
void ch_hmap_init(ch_hmap *m);

/* Free the slot table (not the keys or values); the map is empty after. */
void ch_hmap_free(ch_hmap *m);

/* The value stored under key, or NULL. */
void *ch_hmap_get(const ch_hmap *m, const char *key);

/* Store val (non-NULL) under key (borrowed).  If key is already present,
 * its value and key pointer are replaced.  Returns 0 if inserted, 1 if
 * replaced, -EINVAL for a NULL key or value, -ENOMEM. */
int ch_hmap_put(ch_hmap *m, const char *key, void *val);

/* The value under key; if absent, a new zeroed block of size bytes with a
 * copy of key at name_off (a flexible array member at the end of the
 * block, so size need not count it), stored under that copy.  NULL when
 * out of memory.  The caller frees the block with free() after removing
 * it; its key goes with it. */
void *ch_hmap_get_or_add(ch_hmap *m, const char *key, size_t size, size_t name_off);

/* Remove key; returns its value, or NULL if absent. */
void *ch_hmap_remove(ch_hmap *m, const char *key);

static inline size_t ch_hmap_count(const ch_hmap *m) { return m->count; }

/* Iterate: start with *pos = 0; each call that returns 1 sets *key and
 * *val (either may be NULL if not wanted) to the next entry; returns 0 at
 * the end. */
int ch_hmap_next(const ch_hmap *m, size_t *pos, const char **key, void **val);

/* ---- ch_umap: uint64_t keys held by the values ---------------------
 *
 * The same table for values that carry their own number as key (e.g. the
 * layer's endpoints by channel number, so an endpoint need not hold its
 * name's text): a slot is only the value's pointer (8 bytes, half of
 * ch_hmap's), the key is read from the value with the map's key_of.  Key
 * 0 is not a valid key; values are non-NULL borrowed pointers whose key
 * must not change while they are in the map; growth at 3/4, no
 * shrinking, unspecified iteration order.  The keys are hashed with a
 * fixed mix (they are meant to be numbers the owner hands out, not values
 * an outsider chooses). */
typedef uint64_t (*ch_umap_key_fn)(const void *val);

typedef struct ch_umap {
    void **slots; /* NULL until the first insert; NULL entries are empty */
    size_t cap;   /* 0 or a power of two */
    size_t count;
    ch_umap_key_fn key_of;
} ch_umap;

/* An empty map (no allocation) whose values give their keys by key_of. */
void ch_umap_init(ch_umap *m, ch_umap_key_fn key_of);

/* Free the slot table (not the values); the map is empty after and
 * keeps its key_of. */
void ch_umap_free(ch_umap *m);

/* The value whose key is key, or NULL (also for key 0). */
void *ch_umap_get(const ch_umap *m, uint64_t key);

/* Store val (non-NULL, borrowed) under its key.  Returns 0 if inserted, 1
 * if it replaced a value with the same key, -EINVAL for a NULL value or a
 * key 0, -ENOMEM. */
int ch_umap_put(ch_umap *m, void *val);

/* Remove the value whose key is key; returns it, or NULL if absent. */
void *ch_umap_remove(ch_umap *m, uint64_t key);

static inline size_t ch_umap_count(const ch_umap *m) { return m->count; }

/* Iterate as ch_hmap_next: start with *pos = 0; returns 1 and sets *val
 * per entry, 0 at the end. */
int ch_umap_next(const ch_umap *m, size_t *pos, void **val);

#endif
