/*
 * hmap.h -- a small string-keyed hash map (open addressing, linear
 * probing, backward-shift deletion, power-of-two capacity), and its
 * twin ch_vmap for values that carry their keys (below).
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

/* ---- ch_vmap: values that carry their own keys -----------------------
 *
 * The same table for values that hold their key (the layer's endpoints
 * their channel number, its groups their names): a slot is only the
 * value's pointer (8 bytes, half of ch_hmap's), and the map's ops hash a
 * key, hash a value's key and match a value against a key.  A value's key
 * must not change while it is in the map; values are non-NULL borrowed
 * pointers; growth at 3/4, no shrinking, unspecified iteration order.
 * Each map gets a random seed with its first table, which the ops get
 * to hash with (ch_vmap_hash_u64, ch_vmap_hash_str). */
typedef struct ch_vmap_ops {
    uint64_t (*hash_key)(const void *key, uint64_t seed);
    uint64_t (*hash_val)(const void *val, uint64_t seed);
    int (*match)(const void *val, const void *key); /* non-zero: val has key */
} ch_vmap_ops;

typedef struct ch_vmap {
    void **slots; /* NULL until the first insert; NULL entries are empty */
    size_t cap;   /* 0 or a power of two */
    size_t count;
    uint64_t seed;
    const ch_vmap_ops *ops; /* static, borrowed */
} ch_vmap;

/* An empty map (no allocation) with ops. */
void ch_vmap_init(ch_vmap *m, const ch_vmap_ops *ops);

/* Free the slot table (not the values); the map is empty after and
 * keeps its ops. */
void ch_vmap_free(ch_vmap *m);

/* The value whose key is key (borrowed), or NULL. */
void *ch_vmap_get(const ch_vmap *m, const void *key);

/* Store val (non-NULL, borrowed), whose key is key (borrowed for the
 * call: the map keeps none).  Returns 0 if inserted, 1 if it replaced a
 * value with that key, -EINVAL for a NULL val or key, -ENOMEM. */
int ch_vmap_put(ch_vmap *m, const void *key, void *val);

/* Remove the value whose key is key; returns it, or NULL if absent. */
void *ch_vmap_remove(ch_vmap *m, const void *key);

static inline size_t ch_vmap_count(const ch_vmap *m) { return m->count; }

/* Iterate as ch_hmap_next: start with *pos = 0; returns 1 and sets *val
 * per entry, 0 at the end. */
int ch_vmap_next(const ch_vmap *m, size_t *pos, void **val);

/* Hash a uint64_t (splitmix64's finalizer over it and seed) and a
 * NUL-terminated string (the seeded hash of ch_hmap): for ops. */
uint64_t ch_vmap_hash_u64(uint64_t v, uint64_t seed);
uint64_t ch_vmap_hash_str(const char *s, uint64_t seed);

#endif
