/*
 * presence_book.c -- the presence bookkeeping of presence_book.h.  Owns
 * the book's interned users (one refcounted id + name record per pair,
 * however many groups and processes list it, in an open-addressing table
 * of pointers), the groups (a hash map by name, each group's name inline),
 * each group's table of its users (a sorted array of 16-byte entries: the
 * user's record, its local connection count, its announced bit) and the
 * other processes' announcements (per process, a sorted array of record
 * pointers).  No jansson object is kept: JSON is only made on output.
 */
#include "presence_book.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

/* An interned user: an id and a name, shared by every group entry and
 * every other process's list naming that pair (refs counts them). */
typedef struct pb_user {
    int64_t id;
    uint32_t refs;
    char name[]; /* at offset 12: allocated as offsetof + the name, so a
                    name of up to 11 bytes fits a 32-byte chunk */
} pb_user;

/* The interned users: open addressing, linear probing, backward-shift
 * deletion, power-of-two capacity, at most 3/4 full. */
typedef struct pb_names {
    pb_user **slots;
    size_t cap, count;
} pb_names;

#define PB_ANNOUNCED 1u /* entry: in the set last announced */
#define PB_IN_UNION 2u  /* entry: in the union (during a diff only) */

/* One user of a group: in the union while conns > 0 or another process
 * lists them; kept while in the union or announced. */
typedef struct pb_entry {
    pb_user *user;  /* a reference (the name announced, or local) */
    uint32_t conns; /* local connections */
    uint32_t bits;  /* PB_ANNOUNCED, PB_IN_UNION */
} pb_entry;

/* Another process's last announcement in one group. */
typedef struct pb_host {
    char id[40];
    uint64_t seq;
    uint64_t heard_ms;
    pb_user **users; /* references, ascending ids, no id twice */
    uint32_t n_users;
} pb_host;

typedef struct pb_group {
    pb_entry *users; /* ascending ids */
    uint32_t n, cap;
    uint32_t n_local; /* entries with conns > 0 */
    uint32_t n_hosts;
    pb_host *hosts;
    unsigned flags; /* CH_PBOOK_* */
    int dead;       /* no local user left: freed at the next sweep */
    char name[];
} pb_group;

struct ch_pbook {
    ch_hmap groups; /* name -> pb_group (owned; the key is its name) */
    pb_names names; /* the interned users */
    int iterating;  /* inside ch_pbook_each: frees wait for the sweep */
};

/* ---- interned users ------------------------------------------------- */

/* The hash of (id, name). */
static uint32_t user_hash(int64_t id, const char *name)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* Put u into a table with room and no equal record. */
static void names_place(pb_user **slots, size_t cap, pb_user *u)
{
    size_t i = user_hash(u->id, u->name) & (cap - 1);

    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = u;
}

/* The record of (id, name) with one more reference (made if new), or
 * NULL when out of memory.  The caller drops it with user_unref. */
static pb_user *user_ref(pb_names *t, int64_t id, const char *name)
{
    uint32_t h = user_hash(id, name);
    size_t len, i;
    pb_user *u;

    for (i = t->cap ? h & (t->cap - 1) : 0; t->cap && (u = t->slots[i]); i = (i + 1) & (t->cap - 1))
        if (u->id == id && strcmp(u->name, name) == 0) {
            u->refs++;
            return u;
        }
    if ((t->count + 1) * 4 > t->cap * 3) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        pb_user **slots = calloc(cap, sizeof *slots);

        if (!slots)
            return NULL;
        for (i = 0; i < t->cap; i++)
            if (t->slots[i])
                names_place(slots, cap, t->slots[i]);
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    len = strlen(name);
    if (!(u = malloc(len < 4 ? sizeof *u : offsetof(pb_user, name) + len + 1)))
        return NULL;
    u->id = id;
    u->refs = 1;
    memcpy(u->name, name, len + 1);
    names_place(t->slots, t->cap, u);
    t->count++;
    return u;
}

/* Drop one reference of u (NULL ignored); the last frees it and takes it
 * out of the table (backward-shift deletion). */
static void user_unref(pb_names *t, pb_user *u)
{
    size_t i, j, home;

    if (!u || --u->refs > 0)
        return;
    for (i = user_hash(u->id, u->name) & (t->cap - 1); t->slots[i] != u; i = (i + 1) & (t->cap - 1))
        ;
    for (j = (i + 1) & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
        home = user_hash(t->slots[j]->id, t->slots[j]->name) & (t->cap - 1);
        /* j's record may move to i unless its home lies in (i, j] */
        if (((j - home) & (t->cap - 1)) >= ((j - i) & (t->cap - 1))) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = NULL;
    t->count--;
    free(u);
}

/* ---- groups ---------------------------------------------------------- */

/* presence_book.h: a new empty book (the caller frees it with
 * ch_pbook_free). */
ch_pbook *ch_pbook_new(void)
{
    ch_pbook *b = calloc(1, sizeof *b);

    if (b)
        ch_hmap_init(&b->groups);
    return b;
}

/* Drop the references of host h's list and free it (h stays). */
static void host_clear(ch_pbook *b, pb_host *h)
{
    for (uint32_t i = 0; i < h->n_users; i++)
        user_unref(&b->names, h->users[i]);
    free(h->users);
    h->users = NULL;
    h->n_users = 0;
}

/* Forget g's host i (its list unreferenced; the last host moves in). */
static void host_drop(ch_pbook *b, pb_group *g, uint32_t i)
{
    host_clear(b, &g->hosts[i]);
    g->hosts[i] = g->hosts[--g->n_hosts];
    g->flags |= CH_PBOOK_DIRTY;
}

/* Free one group and the references it holds. */
static void group_free(ch_pbook *b, pb_group *g)
{
    for (uint32_t i = 0; i < g->n_hosts; i++)
        host_clear(b, &g->hosts[i]);
    free(g->hosts);
    for (uint32_t i = 0; i < g->n; i++)
        user_unref(&b->names, g->users[i].user);
    free(g->users);
    free(g);
}

/* presence_book.h: free b, its groups and the interned users. */
void ch_pbook_free(ch_pbook *b)
{
    size_t pos = 0;
    const char *key;
    void *val;

    if (!b)
        return;
    while (ch_hmap_next(&b->groups, &pos, &key, &val))
        group_free(b, val);
    ch_hmap_free(&b->groups);
    free(b->names.slots);
    free(b);
}

/* The group named name, made if make is set; NULL if absent or out of
 * memory. */
static pb_group *group_get(ch_pbook *b, const char *name, int make)
{
    if (!make)
        return ch_hmap_get(&b->groups, name);
    return ch_hmap_get_or_add(&b->groups, name, sizeof(pb_group), offsetof(pb_group, name));
}

/* Remove g from the map and free it (deferred while iterating). */
static void group_drop(ch_pbook *b, pb_group *g)
{
    if (b->iterating) {
        g->dead = 1;
        return;
    }
    ch_hmap_remove(&b->groups, g->name);
    group_free(b, g);
}

/* The index of user in g's table, or of where it would go (*found set
 * accordingly). */
static uint32_t entry_find(const pb_group *g, int64_t user, int *found)
{
    uint32_t lo = 0, hi = g->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (g->users[mid].user->id < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < g->n && g->users[lo].user->id == user;
    return lo;
}

/* Insert an entry for u (a reference the entry takes) at index i of g's
 * table.  Returns the entry, or NULL when out of memory (u untouched). */
static pb_entry *entry_insert(pb_group *g, uint32_t i, pb_user *u)
{
    if (g->n == g->cap) {
        uint32_t cap = g->cap < 16 ? g->cap + 2 : g->cap + g->cap / 2; /* rooms: tight */
        pb_entry *e = realloc(g->users, cap * sizeof *e);

        if (!e)
            return NULL;
        g->users = e;
        g->cap = cap;
    }
    memmove(&g->users[i + 1], &g->users[i], (g->n - i) * sizeof *g->users);
    g->n++;
    g->users[i] = (pb_entry){.user = u, .conns = 0, .bits = 0};
    return &g->users[i];
}

/* Remove g's entry i (its reference dropped); the table is freed once
 * empty. */
static void entry_remove(ch_pbook *b, pb_group *g, uint32_t i)
{
    user_unref(&b->names, g->users[i].user);
    memmove(&g->users[i], &g->users[i + 1], (g->n - i - 1) * sizeof *g->users);
    if (--g->n == 0) {
        free(g->users);
        g->users = NULL;
        g->cap = 0;
    }
}

/* presence_book.h: one more local connection of user in group (strings
 * interned). */
int ch_pbook_local_add(ch_pbook *b, const char *group, int64_t user, const char *name)
{
    pb_group *g;
    pb_entry *e;
    pb_user *u;
    uint32_t i;
    int found, first;

    if (!b || !group || user <= 0 || !name)
        return -EINVAL;
    if (!(g = group_get(b, group, 1)))
        return -ENOMEM;
    g->dead = 0;
    first = g->n_local == 0;
    i = entry_find(g, user, &found);
    e = found ? &g->users[i] : NULL;
    if (e && e->conns > 0) {
        e->conns++;
        return 0;
    }
    if (!e || strcmp(e->user->name, name) != 0) { /* the local name wins */
        if (!(u = user_ref(&b->names, user, name)))
            return -ENOMEM;
        if (!e && !(e = entry_insert(g, i, u))) {
            user_unref(&b->names, u);
            return -ENOMEM;
        }
        if (e->user != u) {
            user_unref(&b->names, e->user);
            e->user = u;
        }
    }
    e->conns = 1;
    g->n_local++;
    g->flags |= CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_DIRTY;
    if (first)
        g->flags |= CH_PBOOK_ASK;
    return first;
}

/* presence_book.h: one local connection of user in group fewer. */
int ch_pbook_local_remove(ch_pbook *b, const char *group, int64_t user)
{
    pb_group *g = b && group ? group_get(b, group, 0) : NULL;
    uint32_t i;
    int found = 0;

    if (g)
        i = entry_find(g, user, &found);
    if (!found || g->users[i].conns == 0)
        return -ENOENT;
    if (--g->users[i].conns > 0)
        return 0;
    g->n_local--;
    if (!(g->users[i].bits & PB_ANNOUNCED))
        entry_remove(b, g, i); /* its leave is due at the diff otherwise */
    g->flags |= CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_DIRTY;
    return 1 | (g->n_local == 0 ? 2 : 0);
}

/* Order of record pointers by id. */
static int by_id(const void *a, const void *b)
{
    int64_t x = (*(pb_user *const *)a)->id, y = (*(pb_user *const *)b)->id;

    return (x > y) - (x < y);
}

/* The [id, name] pairs of users (borrowed) as new references in *out
 * (ascending ids; a repeated id is kept once, with one of its names),
 * their count in *n.
 * Returns 0, -EINVAL for a malformed list or -ENOMEM (nothing held). */
static int users_parse(ch_pbook *b, const json_t *users, pb_user ***out, uint32_t *n)
{
    size_t len = json_array_size(users), i, k = 0;
    pb_user **a = len ? malloc(len * sizeof *a) : NULL;
    json_t *pair;
    int rc = 0;

    if (!json_is_array(users) || (len && !a)) {
        free(a);
        return json_is_array(users) ? -ENOMEM : -EINVAL;
    }
    json_array_foreach(users, i, pair)
    {
        json_t *id = json_array_get(pair, 0), *name = json_array_get(pair, 1);

        if (!json_is_integer(id) || json_integer_value(id) <= 0 || !json_is_string(name)) {
            rc = -EINVAL;
            break;
        }
        if (!(a[k] = user_ref(&b->names, json_integer_value(id), json_string_value(name)))) {
            rc = -ENOMEM;
            break;
        }
        k++;
    }
    if (rc == 0 && k > 1) {
        qsort(a, k, sizeof *a, by_id);
        size_t w = 1;

        for (i = 1; i < k; i++) {
            if (a[i]->id == a[w - 1]->id)
                user_unref(&b->names, a[i]);
            else
                a[w++] = a[i];
        }
        k = w;
    }
    if (rc != 0) {
        while (k > 0)
            user_unref(&b->names, a[--k]);
        free(a);
        return rc;
    }
    *out = a;
    *n = (uint32_t)k;
    return 0;
}

/* presence_book.h: apply another process's announcement (users borrowed;
 * its pairs interned into a list the group holds). */
int ch_pbook_remote(ch_pbook *b, const char *group, const char *host, uint64_t seq,
                    const json_t *users, uint64_t now)
{
    pb_group *g = b && group && host ? group_get(b, group, 0) : NULL;
    pb_user **list = NULL;
    uint32_t i, n = 0;
    int rc;

    if (!g || g->dead || g->n_local == 0 || strlen(host) >= sizeof g->hosts->id)
        return 0;
    for (i = 0; i < g->n_hosts && strcmp(g->hosts[i].id, host) != 0; i++)
        ;
    if (i < g->n_hosts && seq <= g->hosts[i].seq)
        return 0;
    if ((rc = users_parse(b, users, &list, &n)) != 0)
        return rc;
    if (n == 0) { /* it has nobody left here */
        free(list);
        if (i < g->n_hosts)
            host_drop(b, g, i);
        return 1;
    }
    if (i == g->n_hosts) {
        pb_host *h = realloc(g->hosts, (g->n_hosts + 1) * sizeof *h);

        if (!h) {
            while (n > 0)
                user_unref(&b->names, list[--n]);
            free(list);
            return -ENOMEM;
        }
        g->hosts = h;
        memset(&h[i], 0, sizeof h[i]);
        strcpy(h[i].id, host);
        g->n_hosts++;
    }
    host_clear(b, &g->hosts[i]);
    g->hosts[i].users = list;
    g->hosts[i].n_users = n;
    g->hosts[i].seq = seq;
    g->hosts[i].heard_ms = now;
    g->flags |= CH_PBOOK_DIRTY;
    return 1;
}

/* presence_book.h: another process asked for group's users. */
void ch_pbook_asked(ch_pbook *b, const char *group)
{
    pb_group *g = b && group ? group_get(b, group, 0) : NULL;

    if (g && g->n_local > 0)
        g->flags |= CH_PBOOK_LOCAL_CHANGED;
}

/* presence_book.h: forget the processes not heard from in time. */
size_t ch_pbook_expire(ch_pbook *b, uint64_t now, uint64_t expiry_ms)
{
    size_t pos = 0, n = 0;
    const char *key;
    void *val;

    while (ch_hmap_next(&b->groups, &pos, &key, &val)) {
        pb_group *g = val;

        for (uint32_t i = 0; i < g->n_hosts;) {
            if (now - g->hosts[i].heard_ms <= expiry_ms) {
                i++;
                continue;
            }
            host_drop(b, g, i);
            n++;
        }
    }
    return n;
}

/* presence_book.h: every other process counts as heard from at now. */
void ch_pbook_touch_all(ch_pbook *b, uint64_t now)
{
    size_t pos = 0;
    const char *key;
    void *val;

    while (ch_hmap_next(&b->groups, &pos, &key, &val)) {
        pb_group *g = val;

        for (uint32_t i = 0; i < g->n_hosts; i++)
            g->hosts[i].heard_ms = now;
    }
}

/* presence_book.h: fn for each group (a snapshot of them), then the groups
 * left with nobody here are freed. */
void ch_pbook_each(ch_pbook *b, void (*fn)(const char *group, unsigned flags, void *arg), void *arg)
{
    size_t n = ch_hmap_count(&b->groups), pos = 0, k = 0;
    pb_group **all = n ? malloc(n * sizeof *all) : NULL;
    const char *key;
    void *val;

    if (!all)
        return;
    while (ch_hmap_next(&b->groups, &pos, &key, &val) && k < n)
        all[k++] = val;
    b->iterating = 1;
    for (size_t i = 0; i < k; i++) {
        unsigned flags = all[i]->flags;

        all[i]->flags &= ~(CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_ASK);
        fn(all[i]->name, flags, arg);
    }
    b->iterating = 0;
    for (size_t i = 0; i < k; i++)
        if (all[i]->dead)
            group_drop(b, all[i]);
    free(all);
}

/* presence_book.h: this process's users of group (a new array, the
 * caller's), ascending ids. */
json_t *ch_pbook_local_users(ch_pbook *b, const char *group)
{
    pb_group *g = group_get(b, group, 0);
    json_t *out = json_array();

    if (!out || !g)
        return out;
    for (uint32_t i = 0; i < g->n; i++) {
        const pb_user *u = g->users[i].user;

        if (g->users[i].conns > 0 &&
            json_array_append_new(out, json_pack("[I, s]", (json_int_t)u->id, u->name)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Append {"user_id", "username"} of u (borrowed) to list.  Returns 0 or
 * -ENOMEM. */
static int list_add(json_t *list, const pb_user *u)
{
    return json_array_append_new(list, json_pack("{s:I, s:s}", "user_id", (json_int_t)u->id,
                                                 "username", u->name));
}

/* presence_book.h: the announced set of group (a new array, the caller's),
 * ascending ids. */
json_t *ch_pbook_list(ch_pbook *b, const char *group)
{
    pb_group *g = group_get(b, group, 0);
    json_t *out = json_array();

    if (!out || !g)
        return out;
    for (uint32_t i = 0; i < g->n; i++) {
        if ((g->users[i].bits & PB_ANNOUNCED) && list_add(out, g->users[i].user) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* presence_book.h: whether user is in group's announced set. */
int ch_pbook_present(ch_pbook *b, const char *group, int64_t user)
{
    pb_group *g = group_get(b, group, 0);
    int found = 0;
    uint32_t i = g ? entry_find(g, user, &found) : 0;

    return found && (g->users[i].bits & PB_ANNOUNCED);
}

/* Mark g's union (PB_IN_UNION): its local users, then each other
 * process's users, an entry made for one not held yet; a user not here
 * takes the name of the first process listing them.  Returns 0 or
 * -ENOMEM (the marks are then partial; entries made stay unannounced and
 * go at the next diff). */
static int union_mark(ch_pbook *b, pb_group *g)
{
    for (uint32_t i = 0; i < g->n; i++)
        g->users[i].bits = (g->users[i].bits & ~PB_IN_UNION) |
                           (g->users[i].conns > 0 ? PB_IN_UNION : 0);
    for (uint32_t h = 0; h < g->n_hosts; h++) {
        for (uint32_t k = 0; k < g->hosts[h].n_users; k++) {
            pb_user *u = g->hosts[h].users[k];
            int found;
            uint32_t i = entry_find(g, u->id, &found);
            pb_entry *e = found ? &g->users[i] : NULL;

            if (e && (e->bits & PB_IN_UNION))
                continue;
            if (!e) {
                if (!(e = entry_insert(g, i, u)))
                    return -ENOMEM;
                u->refs++; /* the entry's */
            } else if (e->user != u) {
                u->refs++;
                user_unref(&b->names, e->user);
                e->user = u;
            }
            e->bits |= PB_IN_UNION;
        }
    }
    return 0;
}

/* presence_book.h: the joins and leaves since the last announcement (a new
 * object, the caller's), or NULL.  Both lists in ascending ids. */
json_t *ch_pbook_diff(ch_pbook *b, const char *group)
{
    pb_group *g = group_get(b, group, 0);
    json_t *joins, *leaves, *out = NULL;
    uint32_t i, w;
    int err = 0;

    if (!g || g->dead || !(g->flags & CH_PBOOK_DIRTY))
        return NULL;
    if (g->n_local == 0) { /* nobody here to tell */
        group_drop(b, g);
        return NULL;
    }
    joins = json_array();
    leaves = json_array();
    if (!joins || !leaves || union_mark(b, g) != 0)
        goto done;
    for (i = 0; i < g->n && !err; i++) {
        unsigned bits = g->users[i].bits;

        if ((bits & PB_IN_UNION) && !(bits & PB_ANNOUNCED))
            err = list_add(joins, g->users[i].user);
        else if (!(bits & PB_IN_UNION) && (bits & PB_ANNOUNCED))
            err = list_add(leaves, g->users[i].user);
    }
    if (err)
        goto done;
    /* the announced set becomes the union; entries out of both go */
    for (i = 0, w = 0; i < g->n; i++) {
        pb_entry e = g->users[i];

        if (!(e.bits & PB_IN_UNION)) {
            user_unref(&b->names, e.user);
            continue;
        }
        e.bits = PB_ANNOUNCED;
        g->users[w++] = e;
    }
    g->n = w;
    g->flags &= ~CH_PBOOK_DIRTY;
    if (json_array_size(joins) || json_array_size(leaves))
        out = json_pack("{s:O, s:O}", "joins", joins, "leaves", leaves);
done:
    json_decref(joins);
    json_decref(leaves);
    return out;
}

/* presence_book.h: how many groups the book holds. */
size_t ch_pbook_groups(const ch_pbook *b) { return ch_hmap_count(&b->groups); }

/* presence_book.h: how many distinct (id, name) records the book holds. */
size_t ch_pbook_names(const ch_pbook *b) { return b->names.count; }
