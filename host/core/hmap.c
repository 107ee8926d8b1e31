/*
 * hmap.c -- the string-keyed hash map of hmap.h: seeded FNV-1a hashing,
 * linear probing, backward-shift deletion (no tombstones), doubling at
 * 3/4 load; slots hold no hash (hmap.h).  Also ch_vmap, the same scheme
 * for values that carry their keys.  Owns only the slot tables; keys and
 * values are borrowed.
 */
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define HMAP_MIN_CAP 16

void ch_hmap_init(ch_hmap *m) { memset(m, 0, sizeof *m); }

void ch_hmap_free(ch_hmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* A per-map seed: random bytes from the kernel if they are available at
 * once, otherwise a mix of the map's address and a counter (the seed only
 * spreads keys; it is not a secret the map's correctness depends on). */
static uint64_t hmap_new_seed(const void *m)
{
    static uint64_t fallback;
    uint64_t seed;

    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    return (uint64_t)(uintptr_t)m ^ (++fallback * 0x9E3779B97F4A7C15ull);
}

/* Seeded FNV-1a over the NUL-terminated key, then a 64-bit finalizer so
 * that the low bits (used as the slot index) depend on every byte. */
static uint64_t hmap_hash(uint64_t seed, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;

    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Index of the slot holding key, or of the empty slot where it would go.
 * The table must exist and have at least one empty slot. */
static size_t hmap_probe(const ch_hmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;

    while (m->slots[i].key) {
        if (m->slots[i].key == key || strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void *ch_hmap_get(const ch_hmap *m, const char *key)
{
    size_t i;

    if (!m->count || !key)
        return NULL;
    i = hmap_probe(m, key, hmap_hash(m->seed, key));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

/* Copy the entries of old[0..old_cap) into the empty table slots of
 * new_cap slots, by their keys' hashes under seed. */
static void hmap_move(ch_hmap_slot *slots, size_t new_cap, const ch_hmap_slot *old, size_t old_cap,
                      uint64_t seed)
{
    for (size_t i = 0; i < old_cap; i++) {
        size_t j;

        if (!old[i].key)
            continue;
        j = (size_t)hmap_hash(seed, old[i].key) & (new_cap - 1);
        while (slots[j].key)
            j = (j + 1) & (new_cap - 1);
        slots[j] = old[i];
    }
}

/* Switch to a fresh table of new_cap slots holding every entry; the first
 * table also fixes the map's seed.  Returns 0 or -ENOMEM (map unchanged). */
static int hmap_resize(ch_hmap *m, size_t new_cap)
{
    ch_hmap_slot *slots = calloc(new_cap, sizeof *slots);

    if (!slots)
        return -ENOMEM;
    if (m->slots) {
        hmap_move(slots, new_cap, m->slots, m->cap, m->seed);
        free(m->slots);
    } else {
        m->seed = hmap_new_seed(m);
    }
    m->slots = slots;
    m->cap = new_cap;
    return 0;
}

int ch_hmap_put(ch_hmap *m, const char *key, void *val)
{
    uint64_t h;
    size_t i;

    if (!key || !val)
        return -EINVAL;
    if ((m->count + 1) * 4 > m->cap * 3) {
        int rc = hmap_resize(m, m->cap ? m->cap * 2 : HMAP_MIN_CAP);

        if (rc)
            return rc;
    }
    h = hmap_hash(m->seed, key);
    i = hmap_probe(m, key, h);
    if (m->slots[i].key) {
        m->slots[i].key = key;
        m->slots[i].val = val;
        return 1;
    }
    m->slots[i] = (ch_hmap_slot){.key = key, .val = val};
    m->count++;
    return 0;
}

/* hmap.h: the value under key, else a new named block stored under its
 * own copy of key. */
void *ch_hmap_get_or_add(ch_hmap *m, const char *key, size_t size, size_t name_off)
{
    void *v = ch_hmap_get(m, key);
    size_t len;
    char *name;

    if (v)
        return v;
    len = strlen(key);
    if (!(v = calloc(1, (name_off > size ? name_off : size) + len + 1)))
        return NULL;
    name = (char *)v + name_off;
    memcpy(name, key, len + 1);
    if (ch_hmap_put(m, name, v) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* Empty slot i, then pull back later entries of the same probe run whose
 * home slot lies cyclically at or before i, so lookups need no tombstones. */
static void hmap_delete_at(ch_hmap *m, size_t i)
{
    size_t mask = m->cap - 1;
    size_t j = i;

    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        home = (size_t)hmap_hash(m->seed, m->slots[j].key) & mask;
        /* entry j may move to i iff home is not in the cyclic range (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = (ch_hmap_slot){0};
    m->count--;
}

void *ch_hmap_remove(ch_hmap *m, const char *key)
{
    size_t i;
    void *val;

    if (!m->count || !key)
        return NULL;
    i = hmap_probe(m, key, hmap_hash(m->seed, key));
    if (!m->slots[i].key)
        return NULL;
    val = m->slots[i].val;
    hmap_delete_at(m, i);
    return val;
}

int ch_hmap_next(const ch_hmap *m, size_t *pos, const char **key, void **val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        if (key)
            *key = m->slots[i].key;
        if (val)
            *val = m->slots[i].val;
        *pos = i + 1;
        return 1;
    }
    *pos = m->cap;
    return 0;
}

/* ---- ch_vmap ---------------------------------------------------------- */

uint64_t ch_vmap_hash_u64(uint64_t v, uint64_t seed)
{
    v ^= seed;
    v ^= v >> 30;
    v *= 0xbf58476d1ce4e5b9ull;
    v ^= v >> 27;
    v *= 0x94d049bb133111ebull;
    v ^= v >> 31;
    return v;
}

uint64_t ch_vmap_hash_str(const char *s, uint64_t seed) { return hmap_hash(seed, s); }

/* Index of the slot holding key's value, or of the empty slot where it
 * would go (the table must exist and have an empty slot). */
static size_t vmap_probe(const ch_vmap *m, void *const *slots, size_t cap, const void *key)
{
    size_t i = (size_t)m->ops->hash_key(key, m->seed) & (cap - 1);

    while (slots[i] && !m->ops->match(slots[i], key))
        i = (i + 1) & (cap - 1);
    return i;
}

void ch_vmap_init(ch_vmap *m, const ch_vmap_ops *ops)
{
    memset(m, 0, sizeof *m);
    m->ops = ops;
}

void ch_vmap_free(ch_vmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

void *ch_vmap_get(const ch_vmap *m, const void *key)
{
    if (!m->count || !key)
        return NULL;
    return m->slots[vmap_probe(m, m->slots, m->cap, key)];
}

/* Switch m to a fresh table of new_cap slots holding every value (the
 * first table also fixes the seed).  Returns 0 or -ENOMEM (m unchanged). */
static int vmap_resize(ch_vmap *m, size_t new_cap)
{
    void **slots = calloc(new_cap, sizeof *slots);

    if (!slots)
        return -ENOMEM;
    if (!m->slots)
        m->seed = hmap_new_seed(m);
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;

        if (!m->slots[i])
            continue;
        j = (size_t)m->ops->hash_val(m->slots[i], m->seed) & (new_cap - 1);
        while (slots[j])
            j = (j + 1) & (new_cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = new_cap;
    return 0;
}

int ch_vmap_put(ch_vmap *m, const void *key, void *val)
{
    size_t i;

    if (!key || !val)
        return -EINVAL;
    if ((m->count + 1) * 4 > m->cap * 3) {
        int rc = vmap_resize(m, m->cap ? m->cap * 2 : HMAP_MIN_CAP);

        if (rc)
            return rc;
    }
    i = vmap_probe(m, m->slots, m->cap, key);
    if (m->slots[i]) {
        m->slots[i] = val;
        return 1;
    }
    m->slots[i] = val;
    m->count++;
    return 0;
}

/* ch_vmap_remove: empty the slot and pull back later values of its probe
 * run whose home lies cyclically at or before the hole (as
 * hmap_delete_at). */
void *ch_vmap_remove(ch_vmap *m, const void *key)
{
    size_t mask = m->cap - 1, i, j;
    void *val;

    if (!m->count || !key)
        return NULL;
    i = vmap_probe(m, m->slots, m->cap, key);
    if (!(val = m->slots[i]))
        return NULL;
    for (j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = (size_t)m->ops->hash_val(m->slots[j], m->seed) & mask;

        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = NULL;
    m->count--;
    return val;
}

int ch_vmap_next(const ch_vmap *m, size_t *pos, void **val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (!m->slots[i])
            continue;
        if (val)
            *val = m->slots[i];
        *pos = i + 1;
        return 1;
    }
    *pos = m->cap;
    return 0;
}
