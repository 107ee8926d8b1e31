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
 */
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
    char state[1024]; /* the last state text (rs_state) */
    shard s[];
} shards;

/* The shard of a group. */
static shard *of_group(shards *ss, const char *group)
{
    return &ss->s[ch_layer_shard(group, strlen(group), ss->n)];
}

/* The shard of a process's channel: its channel names up to the '!'
 * ("chanhost.<id>!"), or shard 0 for a name without one (delivered
 * locally). */
static shard *of_channel(shards *ss, const char *channel)
{
    const char *bang = strchr(channel, '!');

    return bang ? &ss->s[ch_layer_shard(channel, (size_t)(bang + 1 - channel), ss->n)] : &ss->s[0];
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

/* Destroy every shard's backend, then the table. */
static void rs_destroy(void *self)
{
    shards *ss = self;

    for (int i = 0; i < ss->n; i++)
        ss->s[i].ops->destroy(ss->s[i].b);
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

int ch_rl_shards_new(ch_layer *l, const ch_rl_url *urls, int n, const ch_layer_backend **ops,
                     void **self)
{
    shards *ss = calloc(1, sizeof *ss + (size_t)n * sizeof(shard));
    char id[33], pname[CH_NAME_MAX];
    int own;

    if (!ss)
        return -ENOMEM;
    ch_layer_process_id(l, id);
    snprintf(pname, sizeof pname, "chanhost.%s!", id);
    own = ch_layer_shard(pname, strlen(pname), n);
    for (int i = 0; i < n; i++) {
        if (ch_rl_backend_new(l, &urls[i], i == own, &ss->s[i].ops, &ss->s[i].b) != 0) {
            ss->n = i;
            rs_destroy(ss);
            return -ENOMEM;
        }
    }
    ss->n = n;
    *ops = &shards_ops;
    *self = ss;
    return 0;
}
