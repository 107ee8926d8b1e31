/*
 * layer_cr.h -- private to the channels_redis channel-layer backend
 * (layer_cr.c, layer_cr_codec.c, the Redis backend files that serve both
 * formats) and its unit test and fuzz target: the state of the
 * channels_redis format and its message codec.
 *
 * The format is channels_redis 4.x's core layer (RedisChannelLayer), as
 * described in docs/layer.md:
 *
 *   inbox of a process      ZSET <prefix>specific.<32 hex>!   (12 random
 *                           bytes + msgpack map) scored by send time
 *   group                   ZSET <prefix>:group:<group> of channel names
 *                           scored by join time
 *   message                 msgpack map with str keys, "type" a str, and
 *                           "__asgi_channel__": the target channel (str,
 *                           send) or the targets sharing an inbox (array
 *                           of str, group_send)
 */
#ifndef CH_LAYER_CR_H
#define CH_LAYER_CR_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "layer_redis.h"
#include "redis_url.h"

#define CH_CR_RANDOM 12 /* random bytes before every body */
#define CH_CR_CHANNEL_KEY "__asgi_channel__"

/* The format's state, one per backend (b->cr, freed with free()). */
struct ch_cr {
    ch_cr_opts opts;
    char own[48];         /* this process's non-local name "specific.<hex>!" */
    unsigned popping : 1; /* a BZPOPMIN is outstanding */
    uint64_t bad_logged;  /* undecodable messages counted at the last log line */
    uint64_t bad_log_ms;  /* uv_now() of that line, 0: none yet */
    /* A layer sharded over several servers (layer_redis_shards.c): every
     * shard's backend in order (borrowed from the shards, which outlive
     * it), n_ring of them; NULL and 0 on one server. */
    ch_rl_backend *const *ring;
    int n_ring;
};

/* The settings (borrowed from cr). */
const ch_cr_opts *ch_cr_opts_of(const ch_cr *cr);

/* "<prefix>:group:<group>" into key (CH_CR_KEY_MAX bytes). */
void ch_cr_group_key(const ch_cr *cr, char *key, const char *group);

/* layer_cr.c: start polling the inbox on b->sub if it is ready and no
 * poll is outstanding. */
void ch_cr_pop_start(ch_rl_backend *b);

/* layer_cr.c: one channels_redis backend on the server url with the
 * settings opts (both copied), for a layer whose channel names are
 * already "specific." ones; *ops gets its op table and *out the state
 * (freed by (*ops)->destroy).  Returns 0 or -ENOMEM. */
int ch_cr_backend_new(ch_layer *l, const ch_rl_url *url, const ch_cr_opts *opts,
                      const ch_layer_backend **ops, ch_rl_backend **out);

/* layer_cr.c: make b one of the n shards ring[0..n) (borrowed: they
 * outlive b's use of them), so that its group sends reach inboxes on
 * every shard. */
void ch_cr_set_ring(ch_rl_backend *b, ch_rl_backend *const *ring, int n);

/* ---- the codec (layer_cr_codec.c) ------------------------------------ */

/* Pack obj (a JSON object, borrowed) with pk as a msgpack map the way
 * Python's msgpack.packb(use_bin_type=True) packs the same dict: str keys
 * and strings as str, integers in their smallest form, reals as float64.
 * extra = 1 counts one more entry in the map header: the caller then
 * packs it (key and value).  Returns 0, -EINVAL if obj is not an object
 * or holds "__asgi_channel__", or -ENOMEM. */
int ch_cr_pack_map(msgpack_packer *pk, const json_t *obj, int extra);

/* An inbox member for a send: CH_CR_RANDOM random bytes, then obj packed
 * with "__asgi_channel__": channel appended (channel NULL: not added, a
 * normal channel's message).  Returns a malloc'd buffer (*len bytes; the
 * caller frees it), or NULL (bad obj, out of memory). */
char *ch_cr_member(const json_t *obj, const char *channel, size_t *len);

/* A decoded inbox member. */
typedef struct ch_cr_msg {
    json_t *obj;     /* the message without __asgi_channel__ (new reference) */
    json_t *targets; /* array of the channel names it is for (new reference) */
} ch_cr_msg;

/* Decode one inbox member buf[0..len) (the 12 random bytes first).  bin
 * values become strings (they must be UTF-8); other non-JSON values (ext,
 * non-finite floats, integers beyond int64, non-str map keys) refuse the
 * message.  Returns 0 and fills *out (the caller decrefs both), or -EINVAL
 * with a static reason in *why. */
int ch_cr_decode(const void *buf, size_t len, ch_cr_msg *out, const char **why);

#endif
