/*
 * presence_book.c -- the presence bookkeeping of presence_book.h.  Owns
 * the groups (a hash map by name), each group's local users (jansson
 * object "<id>" -> [name, connections]), the other processes'
 * announcements (a small array per group) and the announced set.
 */
#include "presence_book.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

/* Another process's last announcement in one group. */
typedef struct pb_host {
    char id[40];
    uint64_t seq;
    uint64_t heard_ms;
    json_t *users; /* "<id>" -> name (owned) */
} pb_host;

typedef struct pb_group {
    char *name;
    json_t *local;     /* "<id>" -> [name, connections] (owned) */
    json_t *announced; /* "<id>" -> name (owned) */
    pb_host *hosts;
    size_t n_hosts;
    unsigned flags; /* CH_PBOOK_* */
    int dead;       /* no local user left: freed at the next sweep */
} pb_group;

struct ch_pbook {
    ch_hmap groups; /* name -> pb_group (owned; the key is its name) */
    int iterating;  /* inside ch_pbook_each: frees wait for the sweep */
};

/* presence_book.h: a new empty book (the caller frees it with
 * ch_pbook_free). */
ch_pbook *ch_pbook_new(void)
{
    ch_pbook *b = calloc(1, sizeof *b);

    if (b)
        ch_hmap_init(&b->groups);
    return b;
}

/* Free one group and what it owns. */
static void group_free(pb_group *g)
{
    for (size_t i = 0; i < g->n_hosts; i++)
        json_decref(g->hosts[i].users);
    free(g->hosts);
    json_decref(g->local);
    json_decref(g->announced);
    free(g->name);
    free(g);
}

/* presence_book.h: free b, its groups and every set they own. */
void ch_pbook_free(ch_pbook *b)
{
    size_t pos = 0;
    const char *key;
    void *val;

    if (!b)
        return;
    while (ch_hmap_next(&b->groups, &pos, &key, &val))
        group_free(val);
    ch_hmap_free(&b->groups);
    free(b);
}

/* The group named name, made if make is set; NULL if absent or out of
 * memory. */
static pb_group *group_get(ch_pbook *b, const char *name, int make)
{
    pb_group *g = ch_hmap_get(&b->groups, name);

    if (g || !make)
        return g;
    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->name = strdup(name);
    g->local = json_object();
    g->announced = json_object();
    if (!g->name || !g->local || !g->announced || ch_hmap_put(&b->groups, g->name, g) != 0) {
        group_free(g);
        return NULL;
    }
    return g;
}

/* Remove g from the map and free it (deferred while iterating). */
static void group_drop(ch_pbook *b, pb_group *g)
{
    if (b->iterating) {
        g->dead = 1;
        return;
    }
    ch_hmap_remove(&b->groups, g->name);
    group_free(g);
}

/* A user id's key. */
static void user_key(char key[24], int64_t user) { snprintf(key, 24, "%" PRId64, user); }

/* presence_book.h: one more local connection of user in group (strings
 * copied). */
int ch_pbook_local_add(ch_pbook *b, const char *group, int64_t user, const char *name)
{
    pb_group *g;
    json_t *entry;
    char key[24];
    int first;

    if (!b || !group || user <= 0 || !name)
        return -EINVAL;
    if (!(g = group_get(b, group, 1)))
        return -ENOMEM;
    g->dead = 0;
    first = json_object_size(g->local) == 0;
    user_key(key, user);
    entry = json_object_get(g->local, key);
    if (entry)
        return json_array_set_new(entry, 1,
                                  json_integer(json_integer_value(json_array_get(entry, 1)) + 1)) ==
                       0
                   ? 0
                   : -ENOMEM;
    if (json_object_set_new(g->local, key, json_pack("[s, i]", name, 1)) != 0)
        return -ENOMEM;
    g->flags |= CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_DIRTY;
    if (first)
        g->flags |= CH_PBOOK_ASK;
    return first;
}

/* presence_book.h: one local connection of user in group fewer. */
int ch_pbook_local_remove(ch_pbook *b, const char *group, int64_t user)
{
    pb_group *g = b && group ? group_get(b, group, 0) : NULL;
    json_t *entry;
    json_int_t n;
    char key[24];

    user_key(key, user);
    if (!g || !(entry = json_object_get(g->local, key)))
        return -ENOENT;
    n = json_integer_value(json_array_get(entry, 1)) - 1;
    if (n > 0) {
        json_array_set_new(entry, 1, json_integer(n));
        return 0;
    }
    json_object_del(g->local, key);
    g->flags |= CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_DIRTY;
    return 1 | (json_object_size(g->local) == 0 ? 2 : 0);
}

/* The [id, name] pairs of users (borrowed) as a new "<id>" -> name
 * object, or NULL if one is malformed (or out of memory). */
static json_t *users_object(const json_t *users)
{
    json_t *out = json_object(), *pair;
    size_t i;
    char key[24];

    if (!out || !json_is_array(users))
        goto bad;
    json_array_foreach(users, i, pair)
    {
        json_t *id = json_array_get(pair, 0), *name = json_array_get(pair, 1);

        if (!json_is_integer(id) || json_integer_value(id) <= 0 || !json_is_string(name))
            goto bad;
        user_key(key, json_integer_value(id));
        if (json_object_set(out, key, name) != 0)
            goto bad;
    }
    return out;
bad:
    json_decref(out);
    return NULL;
}

/* presence_book.h: apply another process's announcement (users borrowed,
 * copied into a set the group owns). */
int ch_pbook_remote(ch_pbook *b, const char *group, const char *host, uint64_t seq,
                    const json_t *users, uint64_t now)
{
    pb_group *g = b && group && host ? group_get(b, group, 0) : NULL;
    json_t *set;
    size_t i;

    if (!g || g->dead || json_object_size(g->local) == 0 || strlen(host) >= sizeof g->hosts->id)
        return 0;
    for (i = 0; i < g->n_hosts && strcmp(g->hosts[i].id, host) != 0; i++)
        ;
    if (i < g->n_hosts && seq <= g->hosts[i].seq)
        return 0;
    if (!(set = users_object(users)))
        return -EINVAL;
    if (json_object_size(set) == 0) { /* it has nobody left here */
        json_decref(set);
        if (i < g->n_hosts) {
            json_decref(g->hosts[i].users);
            g->hosts[i] = g->hosts[--g->n_hosts];
            g->flags |= CH_PBOOK_DIRTY;
        }
        return 1;
    }
    if (i == g->n_hosts) {
        pb_host *h = realloc(g->hosts, (g->n_hosts + 1) * sizeof *h);

        if (!h) {
            json_decref(set);
            return -ENOMEM;
        }
        g->hosts = h;
        memset(&h[i], 0, sizeof h[i]);
        strcpy(h[i].id, host);
        g->n_hosts++;
    }
    json_decref(g->hosts[i].users);
    g->hosts[i].users = set;
    g->hosts[i].seq = seq;
    g->hosts[i].heard_ms = now;
    g->flags |= CH_PBOOK_DIRTY;
    return 1;
}

/* presence_book.h: another process asked for group's users. */
void ch_pbook_asked(ch_pbook *b, const char *group)
{
    pb_group *g = b && group ? group_get(b, group, 0) : NULL;

    if (g && json_object_size(g->local) > 0)
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

        for (size_t i = 0; i < g->n_hosts;) {
            if (now - g->hosts[i].heard_ms <= expiry_ms) {
                i++;
                continue;
            }
            json_decref(g->hosts[i].users);
            g->hosts[i] = g->hosts[--g->n_hosts];
            g->flags |= CH_PBOOK_DIRTY;
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

        for (size_t i = 0; i < g->n_hosts; i++)
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
 * caller's). */
json_t *ch_pbook_local_users(ch_pbook *b, const char *group)
{
    pb_group *g = group_get(b, group, 0);
    json_t *out = json_array(), *entry;
    const char *key;

    if (!out || !g)
        return out;
    json_object_foreach(g->local, key, entry)
    {
        if (json_array_append_new(out, json_pack("[I, O]", (json_int_t)strtoll(key, NULL, 10),
                                                 json_array_get(entry, 0))) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Append {"user_id", "username"} for key (a user id) and name (borrowed)
 * to list.  Returns 0 or -ENOMEM. */
static int list_add(json_t *list, const char *key, json_t *name)
{
    return json_array_append_new(list,
                                 json_pack("{s:I, s:O}", "user_id",
                                           (json_int_t)strtoll(key, NULL, 10), "username", name));
}

/* presence_book.h: the announced set of group (a new array, the caller's). */
json_t *ch_pbook_list(ch_pbook *b, const char *group)
{
    pb_group *g = group_get(b, group, 0);
    json_t *out = json_array(), *name;
    const char *key;

    if (!out || !g)
        return out;
    json_object_foreach(g->announced, key, name)
    {
        if (list_add(out, key, name) != 0) {
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
    char key[24];

    user_key(key, user);
    return g && json_object_get(g->announced, key) != NULL;
}

/* The union of g's local and other processes' users (new reference). */
static json_t *group_union(const pb_group *g)
{
    json_t *now = json_object(), *v;
    const char *key;

    if (!now)
        return NULL;
    json_object_foreach(g->local, key, v) json_object_set(now, key, json_array_get(v, 0));
    for (size_t i = 0; i < g->n_hosts; i++)
        json_object_update_missing(now, g->hosts[i].users);
    return now;
}

/* presence_book.h: the joins and leaves since the last announcement (a new
 * object, the caller's), or NULL. */
json_t *ch_pbook_diff(ch_pbook *b, const char *group)
{
    pb_group *g = group_get(b, group, 0);
    json_t *now, *joins, *leaves, *out = NULL, *v;
    const char *key;
    int err = 0;

    if (!g || g->dead || !(g->flags & CH_PBOOK_DIRTY))
        return NULL;
    if (json_object_size(g->local) == 0) { /* nobody here to tell */
        group_drop(b, g);
        return NULL;
    }
    now = group_union(g);
    joins = json_array();
    leaves = json_array();
    if (!now || !joins || !leaves)
        goto done;
    json_object_foreach(now, key, v) if (!json_object_get(g->announced, key))
        err |= list_add(joins, key, v);
    json_object_foreach(g->announced, key, v) if (!json_object_get(now, key))
        err |= list_add(leaves, key, v);
    if (err)
        goto done;
    g->flags &= ~CH_PBOOK_DIRTY;
    json_decref(g->announced);
    g->announced = now;
    now = NULL;
    if (json_array_size(joins) || json_array_size(leaves))
        out = json_pack("{s:O, s:O}", "joins", joins, "leaves", leaves);
done:
    json_decref(now);
    json_decref(joins);
    json_decref(leaves);
    return out;
}

/* presence_book.h: how many groups the book holds. */
size_t ch_pbook_groups(const ch_pbook *b) { return ch_hmap_count(&b->groups); }
