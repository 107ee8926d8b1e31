/*
 * layer.h -- the channel layer: channel names, groups, group_send, send.
 *
 * Semantics are Django Channels' (channels/layers.py):
 *  - every WebSocket connection is an endpoint with its own channel name;
 *  - group_add is idempotent and refreshes the membership's time;
 *    group_discard of an absent membership is not an error;
 *  - group_send delivers to every member; a membership older than
 *    group_expiry is dropped silently (as channels_redis does) at the next
 *    group_add/group_send touching that group;
 *  - send(channel) delivers to one endpoint by name.
 * Group names follow Channels' rule: 1..99 bytes of [A-Za-z0-9-_.].
 *
 * Structure.  layer.c keeps what is local to this process (endpoints by
 * channel name, groups with their local members) and does local
 * delivery.  A backend (struct ch_layer_backend) decides how a send
 * leaves the process: the memory backend (layer_memory.c) delivers
 * locally at once; a Redis backend publishes and delivers what comes back
 * through ch_layer_deliver_group / ch_layer_deliver_channel.  Plugins never
 * see the difference.
 *
 * Delivery.  Messages reach endpoints through the deliver callback given
 * to ch_layer_new, synchronously, on the loop thread.  The callback may
 * call back into the layer (group_add, group_send, detach): group_send
 * works on a snapshot of the members, and an endpoint detached during a
 * fan-out is skipped.  An endpoint's memory must stay valid until the
 * current callback stack returns (the host frees connections from libuv
 * close callbacks, which satisfies this).
 */
#ifndef CH_LAYER_H
#define CH_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "msg.h"

#define CH_NAME_MAX 100 /* names are shorter than this */
/* A channel name the layer makes (layer.c: "chanhost.<32 hex>!" and a
 * decimal 64-bit counter, at most 62 bytes) is shorter than this: the
 * size of the buffer ch_layer_channel_name writes. */
#define CH_CHANNEL_NAME_MAX 63

typedef struct ch_layer ch_layer;
typedef struct ch_membership ch_membership; /* private to layer.c */

/* Embedded in the owner's struct (the host's connection).  Zero it before
 * ch_layer_attach; the layer manages the fields.  The endpoint keeps only
 * its channel number: the name is the layer's prefix and that number in
 * decimal, made when asked for (ch_layer_channel_name), so each
 * connection carries 16 bytes here instead of 72. */
typedef struct ch_endpoint {
    uint64_t id : 63;      /* channel number, set by attach; 0: none yet */
    uint64_t attached : 1; /* 0 or 1 */
    ch_membership *groups; /* this endpoint's memberships */
} ch_endpoint;

/* ep's channel name (attached or detached since: the name it had) into
 * out of CH_CHANNEL_NAME_MAX bytes, "" if it never was attached; returns
 * out.  Owned by the caller. */
char *ch_layer_channel_name(const ch_layer *l, const ch_endpoint *ep, char *out);

/* The same into a buffer of the enclosing block (a compound literal):
 * for one call's argument or a log line. */
#define CH_LAYER_CHANNEL_NAME(l, ep) \
    ch_layer_channel_name((l), (ep), (char[CH_CHANNEL_NAME_MAX]){0})

/* Called for each local recipient; msg is borrowed (take a ref to keep). */
typedef void (*ch_layer_deliver_fn)(ch_endpoint *ep, ch_msg *msg, void *arg);

/* A backend: how sends leave this process.  All functions run on the loop
 * thread.  `self` is the backend's state. */
typedef struct ch_layer_backend {
    const char *name; /* "memory", "redis" */
    /* the first local member joined / the last left (subscribe hooks) */
    int (*group_joined)(void *self, const char *group);
    int (*group_left)(void *self, const char *group);
    /* membership changes, for backends that share membership */
    int (*member_add)(void *self, const char *group, const char *channel);
    int (*member_discard)(void *self, const char *group, const char *channel);
    /* send to every member everywhere / to one channel anywhere */
    int (*group_send)(void *self, const char *group, ch_msg *msg);
    int (*channel_send)(void *self, const char *channel, ch_msg *msg);
    /* "ok", "degraded: reason", ... (borrowed) */
    const char *(*state)(void *self);
    void (*destroy)(void *self);
} ch_layer_backend;

typedef struct ch_link ch_link; /* link.h */

typedef struct ch_layer_opts {
    uint64_t group_expiry_ms; /* 0: never */
    /* The memory backend under a master (app/master.c): the link to it
     * (borrowed; the owner detaches it with ch_layer_set_link(l, NULL)
     * before closing it).  NULL: one process. */
    ch_link *link;
} ch_layer_opts;

/* Create a layer.  url: "memory", "redis://...", "unix://...",
 * "redis-sentinel://..." or several Redis urls (backends register in
 * layer.c).
 * Returns NULL with the reason in err. */
ch_layer *ch_layer_new(uv_loop_t *loop, const char *url, const ch_layer_opts *opts,
                       ch_layer_deliver_fn deliver, void *arg, char *err, size_t errlen);

/* Destroy: detaches nothing (detach endpoints first), frees all state.
 * Endpoints still attached get groups = NULL and attached = 0 (no backend
 * hooks are called), so a later ch_layer_detach on them is a no-op. */
void ch_layer_free(ch_layer *l);

/* Give ep a fresh channel name ("chanhost.<process id>!<counter>", or
 * the kind ch_layer_set_name_kind set instead of "chanhost."; ep keeps the
 * counter) and register it for direct sends.  Returns 0 or -ENOMEM. */
int ch_layer_attach(ch_layer *l, ch_endpoint *ep);

/* Leave every group and unregister the name.  Safe to call twice. */
void ch_layer_detach(ch_layer *l, ch_endpoint *ep);

/* Returns 0, -EINVAL for a bad group name, -ENOMEM. */
int ch_layer_group_add(ch_layer *l, ch_endpoint *ep, const char *group);
int ch_layer_group_discard(ch_layer *l, ch_endpoint *ep, const char *group);

/* msg is borrowed.  Returns 0, -EINVAL (bad name), or a backend error. */
int ch_layer_group_send(ch_layer *l, const char *group, ch_msg *msg);
int ch_layer_send(ch_layer *l, const char *channel, ch_msg *msg);

/* For backends: deliver to the local members of group / to the local
 * endpoint named channel.  Returns the number of endpoints reached. */
size_t ch_layer_deliver_group(ch_layer *l, const char *group, ch_msg *msg);
size_t ch_layer_deliver_channel(ch_layer *l, const char *channel, ch_msg *msg);

/* The link to the master (borrowed), or NULL; set it (or NULL to detach
 * it before it is closed). */
ch_link *ch_layer_link(const ch_layer *l);
void ch_layer_set_link(ch_layer *l, ch_link *link);

/* A group or channel send relayed by the master from another worker
 * (link.h: kind CH_LINK_GROUP or CH_LINK_CHANNEL, name, the message's JSON
 * text[0..len)): delivered to the local members / endpoint only, never
 * sent back.  Returns the number of endpoints reached, or -EINVAL for a
 * bad name or text (logged). */
int ch_layer_link_input(ch_layer *l, int kind, const char *name, const char *text, size_t len);

/* Non-zero if name is a valid group name (channel names may also hold
 * one '!'). */
int ch_layer_valid_group(const char *name);
int ch_layer_valid_channel(const char *name);

/* Non-zero if channel (borrowed) is one of this process's channel names. */
int ch_layer_channel_is_local(const ch_layer *l, const char *channel);

/* Observability. */
size_t ch_layer_group_count(const ch_layer *l);             /* local groups */
size_t ch_layer_group_size(ch_layer *l, const char *group); /* local members */
const char *ch_layer_backend_name(const ch_layer *l);
const char *ch_layer_state(const ch_layer *l);

/* A backend constructor: set *ops (static table) and *self (the state
 * passed to every op; ops->destroy frees it).  Returns 0 or a negative
 * errno-style value. */
typedef int (*ch_layer_backend_new_fn)(ch_layer *l, const ch_layer_backend **ops, void **self);

/* The memory backend's constructor (layer_memory.c). */
int ch_layer_memory_new(ch_layer *l, const ch_layer_backend **ops, void **self);

/* Create a layer whose backend comes from `make` instead of a url (for
 * tests and embedders); the url-less twin of ch_layer_new. */
ch_layer *ch_layer_new_backend(uv_loop_t *loop, ch_layer_backend_new_fn make,
                               const ch_layer_opts *opts, ch_layer_deliver_fn deliver, void *arg,
                               char *err, size_t errlen);

/* The loop the layer runs on (for backends that do I/O). */
uv_loop_t *ch_layer_loop(const ch_layer *l);

/* This process's id: the 32 hex digits between "chanhost." and '!' in
 * its channel names, written NUL-terminated into out. */
void ch_layer_process_id(const ch_layer *l, char out[33]);

/* Make this layer's channel names kind + "<32 hex>!<n>" instead of
 * "chanhost.<32 hex>!<n>" (kind: e.g. "specific.", channels_redis's; a
 * backend calls it from its constructor, before any attach).  Returns 0,
 * or -EINVAL for a bad kind (or one longer than 9 bytes: the names would
 * not fit CH_CHANNEL_NAME_MAX) or a layer that has handed out names. */
int ch_layer_set_name_kind(ch_layer *l, const char *kind);

/* ---- the Redis backend (layer_redis.c) ------------------------------- */

/* The Redis backend's constructor for url "redis://[user:password@]host
 * [:port][/db]", "unix:///path/redis.sock[?db=N&password=P]",
 * "redis-sentinel://[user:password@]host[:port][,host[:port]...]/master
 * [/db]" (the master found through those sentinels), or several of these
 * separated by spaces: a layer sharded over those servers in that order
 * (layer_redis_shards.c).  A bad url is refused with the reason in err.
 * Redis being down is not an error: the layer starts degraded and
 * reconnects.  Its handles never keep
 * the loop alive; ch_layer_free runs the loop once (UV_RUN_NOWAIT) to
 * close them, so a Redis layer must be freed outside uv_run. */
int ch_layer_redis_new(ch_layer *l, const char *url, const ch_layer_backend **ops, void **self,
                       char *err, size_t errlen);

/* The channels_redis backend's constructor (layer_cr.c) for url
 * "channels_redis://..." or "channels_redis+unix://..." (core/redis_url.h):
 * channels_redis 4.x's keys and message format, on the Redis backend's
 * connections, outage buffer and counters. */
int ch_layer_cr_new(ch_layer *l, const char *url, const ch_layer_backend **ops, void **self,
                    char *err, size_t errlen);

/* 0 if url is a well-formed Redis url (or list of them), else -EINVAL
 * with the reason in err (for config checks; nothing is connected). */
int ch_layer_redis_url_check(const char *url, char *err, size_t errlen);

/* --check: connect to url synchronously (blocking, 2 s timeout; a
 * sentinel url asks its sentinels first; also a channels_redis:// url),
 * run INFO server, and write
 * "redis at HOST:PORT reachable, version X" or the reason it is not into
 * out; for several urls one such text each, joined by "; ".  Returns 0 if
 * all are reachable, -1 if not.  Never call it on the loop. */
int ch_layer_redis_probe(const char *url, char *out, size_t outlen);

/* Members of group across every process sharing the layer: for the Redis
 * backend a count cached per locally joined group (refreshed every
 * heartbeat, by the group's shard), for other backends or groups without
 * local members the local count (ch_layer_group_size). */
size_t ch_layer_group_size_global(ch_layer *l, const char *group);

/* Counters of the Redis backend, for /metrics. */
typedef struct ch_layer_redis_stats {
    uint64_t published;      /* PUBLISHes handed to Redis */
    uint64_t received;       /* pub/sub messages received */
    uint64_t delivered;      /* deliveries to local endpoints from those */
    uint64_t reconnects;     /* connections re-established after a loss */
    uint64_t dropped;        /* not published: the outage buffer was full */
    uint64_t unconfirmed;    /* published, connection lost before the reply */
    uint64_t down_ms;        /* total time not fully connected */
    uint64_t buffered;       /* messages waiting for Redis (gauge) */
    uint64_t buffered_bytes; /* their size (gauge) */
    int64_t latency_us;      /* last PING round trip, -1 if none yet */
    uint64_t malformed;      /* channels_redis: inbox messages that did not decode */
    uint64_t over_capacity;  /* channels_redis: sends refused by a full inbox */
} ch_layer_redis_stats;

/* Fill *out and return 0 if l runs the Redis backend, else return -1.
 * A sharded layer's counters are summed over its shards (down_ms too);
 * latency_us is the slowest shard's. */
int ch_layer_redis_stats_get(const ch_layer *l, ch_layer_redis_stats *out);

#endif
