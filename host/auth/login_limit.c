/*
 * login_limit.c -- owns the table of recent password failures per key
 * (login_limit.h): a hash map of entries, each holding its own key, on a
 * list from the least to the most recently touched for eviction.
 */
#include "login_limit.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"

typedef struct entry {
    struct entry *older, *newer; /* the eviction list */
    unsigned failures;           /* settled failures since the last reset */
    unsigned pending;            /* attempts begun and not yet settled */
    uint64_t last;               /* ms of the last failure or lock */
    uint64_t locked_until;       /* ms; <= now: not locked */
    uint64_t failed_until;       /* the part of it settled failures made */
    char key[];                  /* the map's key (it borrows this) */
} entry;

struct ch_login_limit {
    ch_hmap map;
    entry *oldest, *newest;
};

ch_login_limit *ch_login_limit_new(void) { return calloc(1, sizeof(ch_login_limit)); }

/* Take e off the eviction list. */
static void unlink_entry(ch_login_limit *l, entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        l->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        l->newest = e->older;
    e->older = e->newer = NULL;
}

/* Put e (on no list) at the recent end of the list. */
static void link_newest(ch_login_limit *l, entry *e)
{
    e->older = l->newest;
    if (l->newest)
        l->newest->newer = e;
    else
        l->oldest = e;
    l->newest = e;
}

/* Move e (on the list) to its recent end. */
static void touch(ch_login_limit *l, entry *e)
{
    unlink_entry(l, e);
    link_newest(l, e);
}

/* Remove e from the map and the list and free it. */
static void drop(ch_login_limit *l, entry *e)
{
    ch_hmap_remove(&l->map, e->key);
    unlink_entry(l, e);
    free(e);
}

void ch_login_limit_free(ch_login_limit *l)
{
    if (!l)
        return;
    while (l->oldest)
        drop(l, l->oldest);
    ch_hmap_free(&l->map);
    free(l);
}

size_t ch_login_limit_size(const ch_login_limit *l) { return l ? ch_hmap_count(&l->map) : 0; }

/* The lock after n failures beyond the free ones (n >= 1): delay_ms
 * doubled n - 1 times, at most max_delay_ms (no shift overflows). */
static uint64_t delay_for(const ch_login_rule *rule, unsigned n)
{
    uint64_t d = rule->delay_ms;

    while (--n > 0 && d < rule->max_delay_ms && d <= UINT64_MAX / 2)
        d *= 2;
    return d < rule->max_delay_ms ? d : rule->max_delay_ms;
}

/* The lock of `count` failures at now: now plus their delay, or 0 when
 * they are not beyond the free ones. */
static uint64_t lock_for(const ch_login_rule *rule, unsigned count, uint64_t now)
{
    return count > rule->free ? now + delay_for(rule, count - rule->free) : 0;
}

/* Lock e until `until` if that is later than its lock. */
static void lock_until(entry *e, uint64_t until, uint64_t now)
{
    e->last = now;
    if (until > e->locked_until)
        e->locked_until = until;
}

/* The entry of key, or NULL; one whose failures and lock are over and
 * that has been quiet for max_delay_ms is forgotten first. */
static entry *find(ch_login_limit *l, const char *key, const ch_login_rule *rule, uint64_t now)
{
    entry *e = ch_hmap_get(&l->map, key);

    if (e && e->pending == 0 && e->locked_until <= now && now - e->last >= rule->max_delay_ms) {
        drop(l, e);
        e = NULL;
    }
    return e;
}

uint64_t ch_login_limit_wait(ch_login_limit *l, const char *key, const ch_login_rule *rule,
                             uint64_t now)
{
    entry *e = rule->free ? find(l, key, rule, now) : NULL;

    return e && e->locked_until > now ? e->locked_until - now : 0;
}

/* A new entry for key at the recent end, evicting the least recently
 * touched ones down to the bound first; NULL when out of memory. */
static entry *add(ch_login_limit *l, const char *key, const ch_login_rule *rule, uint64_t now)
{
    size_t n = strlen(key);
    entry *e;

    while (l->oldest && ch_hmap_count(&l->map) >= (rule->max_entries ? rule->max_entries : 1))
        drop(l, l->oldest);
    if (!(e = calloc(1, sizeof *e + n + 1)))
        return NULL;
    memcpy(e->key, key, n + 1);
    e->last = now;
    if (ch_hmap_put(&l->map, e->key, e) < 0) {
        free(e);
        return NULL;
    }
    link_newest(l, e);
    return e;
}

uint64_t ch_login_limit_begin(ch_login_limit *l, const char *key, const ch_login_rule *rule,
                              uint64_t now)
{
    entry *e;

    if (!rule->free)
        return 0;
    e = find(l, key, rule, now);
    if (e && e->locked_until > now)
        return e->locked_until - now;
    if (!e && !(e = add(l, key, rule, now)))
        return 0;
    e->pending++;
    touch(l, e);
    lock_until(e, lock_for(rule, e->failures + e->pending, now), now);
    return 0;
}

void ch_login_limit_end(ch_login_limit *l, const char *key, const ch_login_rule *rule, int ok,
                        uint64_t now)
{
    entry *e = rule->free ? ch_hmap_get(&l->map, key) : NULL;

    if (!e)
        return;
    if (e->pending)
        e->pending--;
    if (ok > 0 && rule->reset_on_success) {
        if (e->pending == 0) {
            drop(l, e);
            return;
        }
        e->failures = 0;
        e->locked_until = e->failed_until = 0;
    } else if (ok == 0) {
        e->failures++;
        if (lock_for(rule, e->failures, now) > e->failed_until)
            e->failed_until = lock_for(rule, e->failures, now);
        lock_until(e, e->failed_until, now);
    }
    if (e->pending == 0) /* no attempt in flight: only failures lock */
        e->locked_until = e->failed_until;
    touch(l, e);
}
