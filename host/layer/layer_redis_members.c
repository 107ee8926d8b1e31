/*
 * layer_redis_members.c -- owns the Redis backend's group bookkeeping: the
 * mirror of this process's local memberships (groups in a map and a list,
 * members by channel name), the SUBSCRIBE / UNSUBSCRIBE that follow the
 * first local join and the last local leave, resubscribing after a
 * reconnect, and the membership sets in Redis.
 *
 * Membership sets.  ZSET "chanhost:m:<group>", member = channel name,
 * score = wall-clock expiry in ms (now + 30 s); the key itself expires 60 s
 * after its last refresh.  A join ZADDs, a leave ZREMs; a refresh (every
 * heartbeat, and after the sender reconnects) re-ZADDs every local
 * membership, at most RL_SLICE_MEMBERS per slice with slices 10 ms apart
 * so that big sets never stall the loop, trims expired members and reads
 * ZCOUNT(now, +inf) into the group's cached cross-process count.  While
 * the sender is down or congested nothing is sent: joins are re-added
 * by the next refresh, leaves expire.
 *
 * The channels_redis format (b->cr) keeps its groups where Django's
 * processes do: ZSET "<prefix>:group:<group>", member = channel name,
 * score = join time in wall-clock seconds, the key expiring group_expiry
 * after the last join; there is nothing to subscribe to.  A refresh
 * re-adds with the current time (so a connection never ages out while
 * open), trims members older than group_expiry as group_send would, and
 * counts the rest.
 */
#include "layer_cr.h"
#include "layer_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RL_MEMBER_TTL_MS 30000
#define RL_KEY_TTL "60000" /* PEXPIRE of a membership set, ms */
#define RL_SLICE_MEMBERS 1000
#define RL_SLICE_GAP_MS 10
#define RL_ZADD_CHUNK 128

/* ZCOUNT's reply names its group (which may be gone by then). */
typedef struct zcount_req {
    size_t len;
    char group[];
} zcount_req;

static uint64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the two formats' membership sets ---------------------------------- */

/* The membership set of group into key (CH_CR_KEY_MAX bytes). */
static void member_key(const ch_rl_backend *b, char *key, const char *group)
{
    if (b->cr)
        ch_cr_group_key(b->cr, key, group);
    else
        ch_rl_key(key, 'm', group);
}

/* The score of a membership refreshed at now (wall ms). */
static void member_score(const ch_rl_backend *b, char *out, size_t outlen, uint64_t now)
{
    if (b->cr)
        snprintf(out, outlen, "%.3f", (double)now / 1000);
    else
        snprintf(out, outlen, "%" PRIu64, now + RL_MEMBER_TTL_MS);
}

/* Give the set its time to live again. */
static void member_expire(ch_rl_backend *b, const char *key)
{
    char ttl[24];

    if (b->cr) {
        snprintf(ttl, sizeof ttl, "%u", ch_cr_opts_of(b->cr)->group_expiry_s);
        ch_rl_pub_cmd(b, "EXPIRE", key, ttl, NULL);
    } else {
        ch_rl_pub_cmd(b, "PEXPIRE", key, RL_KEY_TTL, NULL);
    }
}

/* The lowest score of a live membership at now: into from; into below
 * "(" and the same (the exclusive bound of ZREMRANGEBYSCORE). */
static void member_live_from(const ch_rl_backend *b, uint64_t now, char *from, char *below,
                             size_t len)
{
    if (b->cr) {
        double t = (double)now / 1000 - ch_cr_opts_of(b->cr)->group_expiry_s;

        snprintf(from, len, "%.3f", t);
        snprintf(below, len, "(%.3f", t);
    } else {
        snprintf(from, len, "%" PRIu64, now);
        snprintf(below, len, "(%" PRIu64, now);
    }
}

/* ---- subscriptions --------------------------------------------------- */

/* SUBSCRIBE or UNSUBSCRIBE "<prefix>:<kind>:<name>" if the subscriber is
 * ready (else the next resubscription takes care of it). */
static void sub_cmd(ch_rl_backend *b, const char *verb, char kind, const char *name)
{
    char key[CH_RL_KEY_MAX];

    if (b->cr || b->sub.st != CH_RL_READY || !b->sub.ac)
        return;
    ch_rl_key(key, kind, name);
    redisAsyncCommand(b->sub.ac, ch_rl_on_message, b, "%s %s", verb, key);
}

void ch_rl_subscribe_all(ch_rl_backend *b)
{
    if (b->owns_pchan)
        sub_cmd(b, "SUBSCRIBE", 'p', b->id_hex);
    for (ch_rl_group *g = b->ghead; g; g = g->next)
        sub_cmd(b, "SUBSCRIBE", 'g', g->name);
}

/* ---- refreshing ------------------------------------------------------ */

/* The cached count arrives; the reply frees the request. */
static void on_zcount_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_backend *b = ((ch_rl_conn *)ac->data)->owner;
    redisReply *reply = r;
    zcount_req *z = privdata;
    ch_rl_group *g;

    if (reply && reply->type == REDIS_REPLY_INTEGER && !b->destroying &&
        (g = ch_hmap_get(&b->groups, z->group)) != NULL)
        g->global = (uint64_t)reply->integer;
    ch_rl_pub_done(b, z->len);
    free(z);
}

/* ZADD g's members in chunks of RL_ZADD_CHUNK, all with one score. */
static void refresh_members(ch_rl_backend *b, ch_rl_group *g, const char *key, const char *score)
{
    const char *argv[2 + 2 * RL_ZADD_CHUNK];
    size_t lens[2 + 2 * RL_ZADD_CHUNK];
    size_t pos = 0, slen = strlen(score);
    const char *name;
    int argc = 2;

    argv[0] = "ZADD";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = strlen(key);
    while (ch_hmap_next(&g->members, &pos, &name, NULL)) {
        argv[argc] = score;
        lens[argc++] = slen;
        argv[argc] = name;
        lens[argc++] = strlen(name);
        if (argc == 2 + 2 * RL_ZADD_CHUNK) {
            ch_rl_pub_argv(b, NULL, NULL, NULL, argc, argv, lens);
            argc = 2;
        }
    }
    if (argc > 2)
        ch_rl_pub_argv(b, NULL, NULL, NULL, argc, argv, lens);
}

/* Re-add g's members with a fresh expiry, trim expired ones, and ask for
 * the live count. */
static void refresh_group(ch_rl_backend *b, ch_rl_group *g, uint64_t now)
{
    char key[CH_CR_KEY_MAX], score[32], below[32], from[32];
    size_t n = strlen(g->name);
    zcount_req *z;

    member_key(b, key, g->name);
    member_score(b, score, sizeof score, now);
    member_live_from(b, now, from, below, sizeof from);
    refresh_members(b, g, key, score);
    member_expire(b, key);
    ch_rl_pub_cmd(b, "ZREMRANGEBYSCORE", key, "-inf", below);
    z = malloc(sizeof *z + n + 1);
    if (!z)
        return;
    memcpy(z->group, g->name, n + 1);
    if (ch_rl_pub_argv(b, on_zcount_reply, z, &z->len, 4,
                       (const char *[]){"ZCOUNT", key, from, "+inf"},
                       (size_t[]){6, strlen(key), strlen(from), 4}) != 0)
        free(z);
}

static void refresh_slice(ch_rl_backend *b);

static void on_refresh(uv_timer_t *t) { refresh_slice(t->data); }

/* Refresh groups from the cursor on, up to RL_SLICE_MEMBERS members;
 * schedule the next slice if groups remain.  A slice that finds the
 * sender closed ends the cycle (the next heartbeat starts another). */
static void refresh_slice(ch_rl_backend *b)
{
    uint64_t now = wall_ms();
    size_t budget = RL_SLICE_MEMBERS;

    while (b->cursor && budget && ch_rl_pub_open(b)) {
        ch_rl_group *g = b->cursor;
        size_t n = ch_hmap_count(&g->members) + 1;

        b->cursor = g->next;
        refresh_group(b, g, now);
        budget -= n < budget ? n : budget;
    }
    if (!ch_rl_pub_open(b))
        b->cursor = NULL;
    if (b->cursor)
        uv_timer_start(&b->refresh, on_refresh, RL_SLICE_GAP_MS, 0);
}

void ch_rl_refresh_start(ch_rl_backend *b)
{
    if (b->cursor || !ch_rl_pub_open(b))
        return;
    b->cursor = b->ghead;
    refresh_slice(b);
}

/* ---- the hooks ------------------------------------------------------- */

/* The first local member joined: mirror the group, subscribe. */
int ch_rl_group_joined(void *self, const char *group)
{
    ch_rl_backend *b = self;
    size_t n = strlen(group);
    ch_rl_group *g = calloc(1, sizeof *g + n + 1);

    if (!g)
        return -ENOMEM;
    memcpy(g->name, group, n + 1);
    if (ch_hmap_put(&b->groups, g->name, g) < 0) {
        free(g);
        return -ENOMEM;
    }
    g->prev = b->gtail;
    if (b->gtail)
        b->gtail->next = g;
    else
        b->ghead = g;
    b->gtail = g;
    sub_cmd(b, "SUBSCRIBE", 'g', group);
    return 0;
}

/* Free g's member names and g (already out of the map and the list). */
static void group_free(ch_rl_group *g)
{
    size_t pos = 0;
    void *name;

    while (ch_hmap_next(&g->members, &pos, NULL, &name))
        free(name);
    ch_hmap_free(&g->members);
    free(g);
}

/* The last local member left: forget the group (moving the refresh
 * cursor past it), unsubscribe. */
int ch_rl_group_left(void *self, const char *group)
{
    ch_rl_backend *b = self;
    ch_rl_group *g = ch_hmap_remove(&b->groups, group);

    if (!g)
        return 0;
    if (b->cursor == g)
        b->cursor = g->next;
    *(g->prev ? &g->prev->next : &b->ghead) = g->next;
    *(g->next ? &g->next->prev : &b->gtail) = g->prev;
    group_free(g);
    sub_cmd(b, "UNSUBSCRIBE", 'g', group);
    return 0;
}

/* A join or a refresh of one: mirror it, ZADD it with a fresh expiry. */
int ch_rl_member_add(void *self, const char *group, const char *channel)
{
    ch_rl_backend *b = self;
    ch_rl_group *g = ch_hmap_get(&b->groups, group);
    char key[CH_CR_KEY_MAX], score[32];
    char *name;

    if (!g)
        return 0;
    if (!ch_hmap_get(&g->members, channel)) {
        name = strdup(channel);
        if (!name || ch_hmap_put(&g->members, name, name) < 0) {
            free(name);
            return -ENOMEM;
        }
        if (g->global)
            g->global++;
    }
    if (!ch_rl_pub_open(b))
        return 0;
    member_key(b, key, group);
    member_score(b, score, sizeof score, wall_ms());
    if (ch_rl_pub_cmd(b, "ZADD", key, score, channel) == 0)
        member_expire(b, key);
    return 0;
}

/* A leave: forget it, ZREM it. */
int ch_rl_member_discard(void *self, const char *group, const char *channel)
{
    ch_rl_backend *b = self;
    ch_rl_group *g = ch_hmap_get(&b->groups, group);
    char key[CH_CR_KEY_MAX];

    if (!g)
        return 0;
    free(ch_hmap_remove(&g->members, channel));
    if (g->global)
        g->global--;
    member_key(b, key, group);
    if (ch_rl_pub_open(b))
        ch_rl_pub_cmd(b, "ZREM", key, channel, NULL);
    return 0;
}

void ch_rl_groups_free(ch_rl_backend *b)
{
    size_t pos = 0;
    void *g;

    while (ch_hmap_next(&b->groups, &pos, NULL, &g))
        group_free(g);
    ch_hmap_free(&b->groups);
    b->ghead = b->gtail = b->cursor = NULL;
}
