/*
 * layer_redis.h -- private to the Redis channel-layer backend
 * (layer_redis.c, layer_redis_codec.c) and its unit test: the Redis
 * names and the payload format (the url is core/redis_url.h).  In
 * host/layer/internal/: plugins and the rest of the host use layer.h only.
 *
 * Payload of one PUBLISH (all integers big-endian):
 *
 *   byte 0        format version (CH_RL_VERSION)
 *   bytes 1..16   sender process id, raw (the 32 hex digits of its
 *                 channel names, as bytes)
 *   bytes 17..24  sender's sequence number (one counter per process)
 *   direct sends only: 1 byte n (1..99), then n bytes of target channel
 *   the rest      the message's compact JSON text (ch_msg.text)
 *
 * Whether a payload carries a target is known from the Redis channel it
 * arrives on: "<prefix>:g:<group>" (group sends) or "<prefix>:p:<process
 * id>" (direct sends to that process).
 */
#ifndef CH_LAYER_REDIS_H
#define CH_LAYER_REDIS_H

#include <hiredis/async.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hmap.h"
#include "layer.h"
#include "redis_url.h"

#define CH_RL_PREFIX "chanhost" /* of every Redis key and channel */
#define CH_RL_VERSION 1
#define CH_RL_ID_LEN 16 /* raw process id bytes */
#define CH_RL_HEADER (1 + CH_RL_ID_LEN + 8)
#define CH_RL_KEY_MAX 128 /* room for any key we build */

/* A decoded payload; text points into the decoded buffer. */
typedef struct ch_rl_payload {
    uint8_t sender[CH_RL_ID_LEN];
    uint64_t seq;
    char target[CH_NAME_MAX]; /* direct sends; "" for group sends */
    const char *text;
    size_t text_len;
} ch_rl_payload;

/* Bytes of a payload with this target (NULL for a group send) and text. */
size_t ch_rl_payload_len(const char *target, size_t text_len);

/* Write that payload into out (ch_rl_payload_len bytes). */
void ch_rl_payload_write(uint8_t *out, const uint8_t sender[CH_RL_ID_LEN], uint64_t seq,
                         const char *target, const char *text, size_t text_len);

/* Decode buf[0..len).  direct: the payload must carry a valid channel
 * name.  Returns 0, or -EINVAL for a short payload, an unknown version, a
 * bad target or an empty text. */
int ch_rl_payload_decode(const void *buf, size_t len, int direct, ch_rl_payload *out);

/* "PUBLISH key payload" in the Redis protocol, in one malloc'd buffer
 * (the caller frees it with free()); *len is set to its size.  NULL if
 * out of memory. */
char *ch_rl_publish_command(const char *key, const uint8_t sender[CH_RL_ID_LEN], uint64_t seq,
                            const char *target, const char *text, size_t text_len, size_t *len);

/* "<prefix>:<kind>:<name>" into out (CH_RL_KEY_MAX bytes): kind 'g' group
 * channel, 'm' membership set, 'p' process channel. */
void ch_rl_key(char *out, char kind, const char *name);

/* 32 hex digits -> 16 bytes.  Returns 0, or -1 if hex is not exactly 32
 * lower-case hex digits followed by end or '!'. */
int ch_rl_id_parse(const char *hex, uint8_t id[CH_RL_ID_LEN]);

/* The process id of a channel name "chanhost.<32 hex>!<n>", copied into
 * hex (33 bytes).  Returns 0, or -1 if the name has another form. */
int ch_rl_channel_process(const char *channel, char hex[33]);

/* ---- connections (layer_redis_conn.c) -------------------------------- */

enum { CH_RL_IDLE, CH_RL_CONNECTING, CH_RL_READY };

typedef struct ch_rl_conn ch_rl_conn;
typedef struct ch_rl_dns ch_rl_dns;

/* Told when c became ready (why NULL) or was lost (why set; the context
 * is gone and a retry is scheduled). */
typedef void (*ch_rl_conn_fn)(ch_rl_conn *c, const char *why);

/* One asynchronous connection that keeps itself connected: AUTH and
 * SELECT per the url, then PING; ready on PING's answer; on a loss a retry
 * after 100 ms doubling to 5 s; a connect not ready within 5 s counts as
 * lost.  For a redis-sentinel:// url every connect first asks a sentinel
 * for the master's address (the next sentinel after one fails) and the
 * handshake adds ROLE, which must say "master".  ac->data points at the
 * ch_rl_conn; owner is the user's. */
struct ch_rl_conn {
    redisAsyncContext *ac; /* NULL when not connected */
    int st;                /* CH_RL_IDLE / CONNECTING / READY */
    void *owner;
    const char *role; /* "sender" (PUBLISH), "subscriber": for logs */
    const ch_rl_url *url;
    uv_loop_t *loop;
    ch_rl_conn_fn on_ready, on_lost;
    uv_timer_t timer; /* retry delay / ready deadline / teardown */
    uint64_t backoff_ms;
    ch_rl_dns *dns;      /* a name lookup in flight, or NULL */
    uint64_t reconnects; /* times ready again after being ready */
    char why[160];       /* reason for a deferred teardown */
    int port;            /* of the connect in progress (after a name lookup) */
    /* redis-sentinel:// only: the sentinel to ask next, the master it
     * named ("" until it did; cleared on every loss: ask again) and the
     * last master named (for the log line when it changes) */
    int sentinel;
    char master[sizeof(ch_rl_url){0}.host];
    int master_port;
    char last_master[sizeof(ch_rl_url){0}.where];
    unsigned doomed : 1, ever_ready : 1, closed : 1;
    unsigned asking : 1; /* ac is a sentinel's, not the server's */
};

/* Set c up (its timer is unref'd) and start connecting. */
void ch_rl_conn_start(ch_rl_conn *c, uv_loop_t *loop, const ch_rl_url *url, const char *role,
                      void *owner, ch_rl_conn_fn on_ready, ch_rl_conn_fn on_lost);

/* Drop the connection now and retry later; on_lost is called.  Not from
 * inside one of c's hiredis callbacks. */
void ch_rl_conn_drop(ch_rl_conn *c, const char *why);

/* Stop for good: the context is freed (pending callbacks run with NULL
 * replies, c->closed set), the timer closed.  The handles finish closing
 * on the next loop iteration. */
void ch_rl_conn_close(ch_rl_conn *c);

/* ---- the backend's state (layer_redis.c, layer_redis_members.c) ------ */

/* A group with local members and those members: a mirror of layer.c's,
 * for resubscribing and for the heartbeat. */
typedef struct ch_rl_group {
    struct ch_rl_group *prev, *next; /* every group, for the refresh cursor */
    ch_hmap members;                 /* channel name -> the same malloc'd name */
    uint64_t global;                 /* last cross-process count, 0: unknown */
    char name[];
} ch_rl_group;

typedef struct ch_rl_qitem ch_rl_qitem; /* layer_redis.c's outage buffer */
typedef struct ch_cr ch_cr;             /* layer_cr.h: the channels_redis format */

#define CH_CR_KEY_MAX 192 /* a channels_redis key: prefix (< 64) + ":group:" + name */

/* One backend (one per layer). */
typedef struct ch_rl_backend {
    ch_layer *l;
    uv_loop_t *loop;
    ch_rl_url url;
    uint8_t id[CH_RL_ID_LEN]; /* this process */
    char id_hex[33];
    char pkey[CH_RL_KEY_MAX]; /* this process's channel */
    uint64_t seq;
    ch_rl_conn pub, sub;
    ch_hmap groups; /* name -> ch_rl_group */
    ch_rl_group *ghead, *gtail;
    ch_rl_group *cursor; /* next group to refresh, NULL: idle */
    uv_timer_t heartbeat, refresh;
    ch_rl_qitem *qhead, *qtail;
    size_t qcount, qbytes;
    size_t pending;        /* pub: bytes sent awaiting replies */
    uint64_t ping_sent_ns; /* 0: no PING outstanding */
    unsigned up : 1, congested : 1, warned : 1, ever_up : 1, destroying : 1;
    unsigned owns_pchan : 1; /* subscribes to pkey (its shard; always if one) */
    uint64_t down_since; /* uv_now() when it went down */
    uint64_t outage_flushed, outage_dropped;
    char why[200]; /* last reason for being down */
    char state[sizeof(ch_rl_url){0}.where + 240];
    ch_layer_redis_stats st;
    ch_cr *cr; /* channels_redis's wire format (layer_cr.c), NULL: the native one */
    struct ch_rl_backend *next_live;
} ch_rl_backend;

/* layer_redis.c: set up b (allocated zeroed by the caller, url parsed)
 * for layer l: process id, timers, the live list, both connections
 * started.  The caller then owns nothing: ops->destroy (ch_rl_destroy)
 * frees b and b->cr. */
void ch_rl_backend_start(ch_rl_backend *b, ch_layer *l);

/* layer_redis.c: the backend ops both formats share. */
const char *ch_rl_state(void *self);
void ch_rl_destroy(void *self);

/* layer_redis.c: hand one formatted command (malloc'd, len bytes; taken
 * in every case) to Redis now, or once it can take it, behind what
 * waits already (the outage buffer: dropped and counted when full). */
void ch_rl_send_formatted(ch_rl_backend *b, char *cmd, size_t len);

/* The answer to a command sent with ch_rl_send_formatted_fn: r is the
 * redisReply (borrowed), or NULL when there is none (dropped from a full
 * outage buffer, its connection lost, or b being destroyed: b->destroying).
 * Called exactly once; it frees arg. */
typedef void (*ch_rl_reply_fn)(ch_rl_backend *b, void *r, void *arg);

/* layer_redis.c: ch_rl_send_formatted for a command sent for its answer,
 * which fn gets with arg (taken: fn frees it, whatever happens); not
 * counted as published. */
void ch_rl_send_formatted_fn(ch_rl_backend *b, char *cmd, size_t len, ch_rl_reply_fn fn, void *arg);

/* layer_redis.c: one backend on one server (url copied), subscribed to
 * this process's channel if owns_pchan; *ops gets its op table and *out
 * the state (freed by (*ops)->destroy).  Returns 0 or -ENOMEM. */
int ch_rl_backend_new(ch_layer *l, const ch_rl_url *url, int owns_pchan,
                      const ch_layer_backend **ops, ch_rl_backend **out);

/* layer_redis_shards.c: the backend sharded over urls[0..n) (copied),
 * one ch_rl_backend per server, in channels_redis's format with the
 * settings *cr (copied) or, cr NULL, the native one; *ops and *self as for
 * a backend constructor (layer.h).  Returns 0 or -ENOMEM. */
int ch_rl_shards_new(ch_layer *l, const ch_rl_url *urls, int n, const ch_cr_opts *cr,
                     const ch_layer_backend **ops, void **self);

/* layer_redis.c: pub is ready and not congested. */
int ch_rl_pub_open(const ch_rl_backend *b);

/* layer_redis.c: send argv on pub, its bytes counted as pending until the
 * reply.  fn NULL: a callback that only does that accounting; else fn
 * must call ch_rl_pub_done with *len_out (set here).  Returns 0 or -1. */
int ch_rl_pub_argv(ch_rl_backend *b, redisCallbackFn *fn, void *privdata, size_t *len_out, int argc,
                   const char **argv, const size_t *lens);

/* layer_redis.c: the same for up to 4 NUL-terminated arguments, the list
 * ended by NULL, with the accounting-only callback. */
int ch_rl_pub_cmd(ch_rl_backend *b, const char *a0, const char *a1, const char *a2, const char *a3);

/* layer_redis.c: the reply to a command of len bytes came (or was lost). */
void ch_rl_pub_done(ch_rl_backend *b, size_t len);

/* layer_redis.c: the subscriber's callback for every channel. */
void ch_rl_on_message(redisAsyncContext *ac, void *r, void *privdata);

/* layer_redis_members.c: the membership and subscription hooks of the
 * backend (see layer.h), resubscribing, refreshing, freeing. */
int ch_rl_group_joined(void *self, const char *group);
int ch_rl_group_left(void *self, const char *group);
int ch_rl_member_add(void *self, const char *group, const char *channel);
int ch_rl_member_discard(void *self, const char *group, const char *channel);
void ch_rl_subscribe_all(ch_rl_backend *b);
void ch_rl_refresh_start(ch_rl_backend *b);
void ch_rl_groups_free(ch_rl_backend *b);

#endif
