/*
 * layer_redis_shards.c -- owns the sharded Redis backend: a layer on
 * several Redis servers (the `layer` directive's list of urls), one
 * ordinary Redis backend (layer_redis.c) per server, and the routing of
 * every operation to the one shard that holds its name.
 *
 * Which shard.  ch_layer_shard (layer_shard.c, channels_redis's
 * consistent hash) over the list in its order: a group's channel and
 * membership set live on the shard of the group's name; a process's
 * channel ("chanhost:p:<id>") on the shard of "chanhost.<id>!", the part
 * its endpoints' channel names share (as channels_redis hashes a
 * process's non-local name).  Every host must list the same servers in the
 * same order.
 *
 * Exactly once.  A group send is published once, on the group's shard,
 * where every process with members of that group is subscribed; a direct
 * send once, on the shard of the target's process, the only shard where
 * that process subscribes to its channel.  Each shard's backend keeps its
 * own guarantees (layer_redis.c).
 *
 * Outages.  Each shard connects, buffers and reconnects on its own: a
 * shard that is down degrades only the groups (and process channels) it
 * holds; the layer's state names every shard that is not "ok".
 *
 * The channels_redis format (layer_cr.c) shards the same way, with one
 * channels_redis backend per server: a group on the shard of its name, a
 * process-specific channel on the shard of its inbox's name
 * ("specific.<id>!", as channels_redis's receive does), a normal channel
 * (no '!') on the next shard in turn (channels_redis's round robin).
 * Each of those backends knows the others (ch_cr's ring): a group send
 * reads the group on its shard and writes each inbox on the inbox's.
 */
#include "layer_cr.h"
#include "layer_redis.h"
#include "layer_shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One shard: a Redis backend and its op table. */
typedef struct shard {
    const ch_layer_backend *ops;
    ch_rl_backend *b;
} shard;

typedef struct shards {
    int n;
    int is_cr;            /* channels_redis backends (else native ones) */
    unsigned next;        /* channels_redis: the next normal channel's shard */
    ch_layer_backend ops; /* the op table handed to the layer (its name per format) */
    ch_rl_backend **ring; /* every shard's backend, in order */
    char state[1024];     /* the last state text (rs_state) */
    shard s[];
} shards;

/* The shard of a group. */
static shard *of_group(shards *ss, const char *group)
{
    return &ss->s[ch_layer_shard(group, strlen(group), ss->n)];
}

/* The shard of a process's channel: its channel names up to the '!'
 * ("chanhost.<id>!" or "specific.<id>!"); for a name without one shard 0
 * (the native format delivers it locally) or, channels_redis, the next
 * shard in turn. */
static shard *of_channel(shards *ss, const char *channel)
{
    const char *bang = strchr(channel, '!');

    if (bang)
        return &ss->s[ch_layer_shard(channel, (size_t)(bang + 1 - channel), ss->n)];
    return &ss->s[ss->is_cr ? ss->next++ % (unsigned)ss->n : 0];
}

static int rs_group_joined(void *self, const char *group)
{
    shard *s = of_group(self, group);

    return s->ops->group_joined(s->b, group);
}

static int rs_group_left(void *self, const char *group)
{
    shard *s = of_group(self, group);

    return s->ops->group_left(s->b, group);
}

static int rs_member_add(void *self, const char *group, const char *channel)
{
    shard *s = of_group(self, group);

    return s->ops->member_add(s->b, group, channel);
}

static int rs_member_discard(void *self, const char *group, const char *channel)
{
    shard *s = of_group(self, group);

    return s->ops->member_discard(s->b, group, channel);
}

static int rs_group_send(void *self, const char *group, ch_msg *msg)
{
    shard *s = of_group(self, group);

    return s->ops->group_send(s->b, group, msg);
}

static int rs_channel_send(void *self, const char *channel, ch_msg *msg)
{
    shard *s = of_channel(self, channel);

    return s->ops->channel_send(s->b, channel, msg);
}

/* "ok" if every shard is, else "degraded: " and, for each shard that is
 * not ok, "shard I of N: " and its state without its own "degraded: ",
 * separated by "; " (kept in ss->state, valid until the next call). */
static const char *rs_state(void *self)
{
    shards *ss = self;
    size_t len = 0;

    for (int i = 0; i < ss->n && len < sizeof ss->state; i++) {
        const char *st = ss->s[i].ops->state(ss->s[i].b);
        int k;

        if (strcmp(st, "ok") == 0)
            continue;
        if (strncmp(st, "degraded: ", 10) == 0)
            st += 10;
        k = snprintf(ss->state + len, sizeof ss->state - len, "%sshard %d of %d: %s",
                     len ? "; " : "degraded: ", i + 1, ss->n, st);
        len += k > 0 ? (size_t)k : 0;
    }
    return len ? ss->state : "ok";
}

/* Destroy every shard's backend, then the table.  Every shard is marked
 * as being destroyed first: destroying one runs the loop, where another's
 * answers must not reach shards already freed (a channels_redis group
 * send writes on other shards). */
static void rs_destroy(void *self)
{
    shards *ss = self;

    for (int i = 0; i < ss->n; i++)
        ss->s[i].b->destroying = 1;
    for (int i = 0; i < ss->n; i++)
        ss->s[i].ops->destroy(ss->s[i].b);
    free(ss->ring);
    free(ss);
}

static const ch_layer_backend shards_ops = {
    .name = "redis",
    .group_joined = rs_group_joined,
    .group_left = rs_group_left,
    .member_add = rs_member_add,
    .member_discard = rs_member_discard,
    .group_send = rs_group_send,
    .channel_send = rs_channel_send,
    .state = rs_state,
    .destroy = rs_destroy,
};

/* Shard i's backend on url: channels_redis's format with the settings
 * cr, or the native one (subscribed to the process channel if own). */
static int shard_new(ch_layer *l, const ch_rl_url *url, const ch_cr_opts *cr, int own, shard *s)
{
    if (cr)
        return ch_cr_backend_new(l, url, cr, &s->ops, &s->b);
    return ch_rl_backend_new(l, url, own, &s->ops, &s->b);
}

int ch_rl_shards_new(ch_layer *l, const ch_rl_url *urls, int n, const ch_cr_opts *cr,
                     const ch_layer_backend **ops, void **self)
{
    shards *ss = calloc(1, sizeof *ss + (size_t)n * sizeof(shard));
    char id[33], pname[CH_NAME_MAX];
    int own;

    if (!ss || !(ss->ring = calloc((size_t)n, sizeof *ss->ring))) {
        free(ss);
        return -ENOMEM;
    }
    ch_layer_process_id(l, id);
    snprintf(pname, sizeof pname, "chanhost.%s!", id);
    own = ch_layer_shard(pname, strlen(pname), n);
    for (int i = 0; i < n; i++) {
        if (shard_new(l, &urls[i], cr, i == own, &ss->s[i]) != 0) {
            ss->n = i;
            rs_destroy(ss);
            return -ENOMEM;
        }
        ss->ring[i] = ss->s[i].b;
        ss->n = i + 1;
    }
    for (int i = 0; cr && i < n; i++)
        ch_cr_set_ring(ss->s[i].b, ss->ring, n);
    ss->is_cr = cr != NULL;
    ss->ops = shards_ops;
    ss->ops.name = ss->s[0].ops->name;
    *ops = &ss->ops;
    *self = ss;
    return 0;
}
