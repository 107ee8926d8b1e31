/*
 * layer_redis.c -- owns the "redis" channel-layer backend: its creation
 * and destruction, publishing (with the outage buffer and the accounting
 * of commands awaiting replies), receiving, the heartbeat, up/down state
 * and its log lines, and the backend's counters.  The group and
 * membership bookkeeping is in layer_redis_members.c, the two connections
 * in layer_redis_conn.c, the formats (url, names, payload) in
 * layer_redis_codec.c; the payload layout is described in layer_redis.h.
 * One backend talks to one server (or one Sentinel-managed master); a
 * layer on several servers has one backend per server under
 * layer_redis_shards.c, which routes each group and process channel to
 * its shard, and only the backend of this process's shard subscribes to
 * its process channel (owns_pchan).
 *
 * Connections.  `pub` carries PUBLISH, ZADD/ZREM/ZCOUNT and PING; `sub`
 * is in subscribe mode (hiredis cannot mix SUBSCRIBE with commands on one
 * connection).  Both are hiredis asynchronous contexts on the libuv loop;
 * nothing here blocks the loop.
 *
 * Channels.  One PUBLISH per group_send, on "chanhost:g:<group>".  A
 * process SUBSCRIBEs to the groups it has local members in (layer.c calls
 * group_joined on the first local join and group_left on the last leave)
 * and to "chanhost:p:<process id>" for direct sends.  group_send publishes
 * and then delivers to the local members at once, so local delivery never
 * waits for Redis; the copy Redis sends back carries this process's id and
 * is ignored.  A send to a channel of this process is delivered locally;
 * to another process's channel it is published on that process's channel
 * with the target name in the payload.
 *
 * Exactly once.  Redis pub/sub hands each PUBLISH at most once to each
 * subscribed connection and never replays, and this process is subscribed
 * on one connection at a time (a new `sub` connection is made only after
 * the old one is freed).  The sender publishes a message at most once: a
 * PUBLISH handed to hiredis is never resent, even if the connection dies
 * before the reply (counted as "unconfirmed": it may or may not have
 * reached Redis), and buffered messages are handed over once, when Redis
 * is back.  Local members get only the local delivery.  No path delivers
 * twice, so receivers keep no (sender, seq) history: seq makes payloads
 * traceable (and would allow dedup over a replaying transport).
 *
 * Membership.  ZSET "chanhost:m:<group>", member = channel name, score =
 * wall-clock expiry in ms (now + 30 s).  member_add ZADDs (and PEXPIREs the
 * key to 60 s), member_discard ZREMs; every 10 s a heartbeat re-ZADDs each
 * local membership (at most 1000 per slice, slices 10 ms apart), trims
 * expired members, and caches ZCOUNT(now, +inf) per group for
 * ch_layer_group_size_global.  The memberships of a dead process expire
 * within 30 s; so do discards made while Redis was away.
 *
 * Outages.  The layer starts even when Redis is down ("degraded: ...", one
 * WARN line).  Lost connections are retried with capped exponential
 * backoff (layer_redis_conn.c); a PING still unanswered at the next
 * heartbeat drops both.  Once back: AUTH/SELECT, resubscribe (process
 * channel and every group), publish the buffer, re-add the memberships,
 * "ok" again with an INFO line.  While `pub` is not ready -- or while more
 * than 4 MiB of commands await replies, so that hiredis's output buffer
 * cannot grow without bound on a stalled server -- publishes wait in a FIFO
 * of at most 1000 messages / 1 MiB, published in order later; beyond that
 * they are dropped and counted (the loss window in /metrics).
 *
 * Two formats.  The channels_redis backend (layer_cr.c) is this backend
 * with b->cr set: the same connections, outage buffer, heartbeat, state
 * and counters, its sends handed over formatted (ch_rl_send_formatted),
 * the second connection polling its inbox instead of subscribing, and
 * memberships in channels_redis's group sets (layer_redis_members.c).
 *
 * Handles are unref'd (they never keep the loop alive).  Destroy runs the
 * loop once (UV_RUN_NOWAIT) to finish closing them, so ch_layer_free must
 * be called outside uv_run, as main.c and the tests do.
 */
#include "layer_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_cr.h"
#include "log.h"

#define RL_HEARTBEAT_MS 10000
#define RL_QUEUE_MAX 1000
#define RL_QUEUE_BYTES ((size_t)1 << 20)
#define RL_PENDING_MAX ((size_t)4 << 20)

/* A PUBLISH waiting for Redis: the whole command, malloc'd; fn (with
 * arg, its own) takes the reply of a command sent for its answer. */
struct ch_rl_qitem {
    ch_rl_qitem *next;
    char *cmd;
    size_t len;
    ch_rl_reply_fn fn;
    void *arg;
};

/* A command sent for its answer, in flight: hiredis's privdata. */
typedef struct rl_waiter {
    size_t len;
    ch_rl_reply_fn fn;
    void *arg;
} rl_waiter;

static ch_rl_backend *live; /* every backend (shard), for the getters */

/* A command's length, carried in hiredis's privdata (no allocation). */
static void *len_tag(size_t len)
{
    return (void *)(uintptr_t)len; /* NOLINT(performance-no-int-to-ptr) */
}

static size_t tag_len(const void *privdata) { return (size_t)(uintptr_t)privdata; }

/* ---- up, down and the log lines ------------------------------------- */

int ch_rl_pub_open(const ch_rl_backend *b) { return b->pub.st == CH_RL_READY && !b->congested; }

/* The WARN line of an outage (once until the layer is up again). */
static void warn_once(ch_rl_backend *b)
{
    if (b->warned)
        return;
    b->warned = 1;
    if (b->congested)
        ch_log(CH_LOG_WARN,
               "channel layer: redis at %s not keeping up (%zu bytes await "
               "replies); degraded: buffering publishes",
               b->url.where, b->pending);
    else
        ch_log(CH_LOG_WARN,
               "channel layer: redis at %s %s; degraded: local delivery only, "
               "publishes buffered (max %d messages / 1 MiB), reconnecting",
               b->url.where, b->why, RL_QUEUE_MAX);
}

/* Recompute "up" (both connections ready, not congested); log and
 * account the transitions. */
static void rl_update(ch_rl_backend *b)
{
    int up = b->pub.st == CH_RL_READY && b->sub.st == CH_RL_READY && !b->congested;
    uint64_t now = uv_now(b->loop);

    if (up == (int)b->up)
        return;
    b->up = (unsigned)up;
    if (!up) {
        b->down_since = now;
        b->outage_flushed = b->outage_dropped = 0;
        warn_once(b);
        return;
    }
    b->st.down_ms += now - b->down_since;
    b->warned = 0;
    if (!b->ever_up)
        ch_log(CH_LOG_INFO, "channel layer: redis at %s connected%s%s", b->url.where,
               b->owns_pchan ? "; process channel " : "", b->owns_pchan ? b->pkey : "");
    else
        ch_log(CH_LOG_INFO,
               "channel layer: redis at %s back after %.1f s; resubscribed %zu "
               "group(s), published %llu buffered message(s), dropped %llu",
               b->url.where, (double)(now - b->down_since) / 1000, ch_hmap_count(&b->groups),
               (unsigned long long)b->outage_flushed, (unsigned long long)b->outage_dropped);
    b->ever_up = 1;
}

/* ---- commands on pub ------------------------------------------------ */

static void on_pub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)r;
    ch_rl_pub_done(((ch_rl_conn *)ac->data)->owner, tag_len(privdata));
}

/* A PUBLISH (or a channels_redis send script) whose reply is lost with
 * its connection may or may not have reached Redis: counted, never
 * resent.  A send script answers the number of inboxes that were full. */
static void on_publish_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_backend *b = ((ch_rl_conn *)ac->data)->owner;
    redisReply *reply = r;

    if (!r)
        b->st.unconfirmed++;
    else if (b->cr && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
        b->st.over_capacity += (uint64_t)reply->integer;
    ch_rl_pub_done(b, tag_len(privdata));
}

/* The answer to a command sent with a reply handler (NULL when its
 * connection went: counted as unconfirmed, as a PUBLISH) to the handler,
 * which frees its arg. */
static void on_waiter_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_backend *b = ((ch_rl_conn *)ac->data)->owner;
    rl_waiter *w = privdata;
    size_t len = w->len;

    if (!r && !b->destroying)
        b->st.unconfirmed++;
    w->fn(b, r, w->arg);
    free(w);
    ch_rl_pub_done(b, len);
}

static void on_ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_backend *b = ((ch_rl_conn *)ac->data)->owner;

    if (r && b->ping_sent_ns)
        b->st.latency_us = (int64_t)((uv_hrtime() - b->ping_sent_ns) / 1000);
    if (r)
        b->ping_sent_ns = 0;
    ch_rl_pub_done(b, tag_len(privdata));
}

/* Note len more bytes in flight; enter the congested state at the limit. */
static void pub_sent(ch_rl_backend *b, size_t len)
{
    b->pending += len;
    if (b->pending >= RL_PENDING_MAX && !b->congested) {
        b->congested = 1;
        rl_update(b);
    }
}

int ch_rl_pub_argv(ch_rl_backend *b, redisCallbackFn *fn, void *privdata, size_t *len_out, int argc,
                   const char **argv, const size_t *lens)
{
    size_t len = 16;

    for (int i = 0; i < argc; i++)
        len += lens[i] + 16;
    if (len_out)
        *len_out = len;
    if (!b->pub.ac ||
        redisAsyncCommandArgv(b->pub.ac, fn ? fn : on_pub_reply, fn ? privdata : len_tag(len), argc,
                              argv, lens) != REDIS_OK)
        return -1;
    pub_sent(b, len);
    return 0;
}

int ch_rl_pub_cmd(ch_rl_backend *b, const char *a0, const char *a1, const char *a2, const char *a3)
{
    const char *argv[4] = {a0, a1, a2, a3};
    size_t lens[4];
    int argc = 0;

    while (argc < 4 && argv[argc]) {
        lens[argc] = strlen(argv[argc]);
        argc++;
    }
    return ch_rl_pub_argv(b, NULL, NULL, NULL, argc, argv, lens);
}

static void send_ping(ch_rl_backend *b)
{
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4}, len = 4 + 32;

    if (b->pub.ac &&
        redisAsyncCommandArgv(b->pub.ac, on_ping_reply, len_tag(len), 1, argv, lens) == REDIS_OK) {
        pub_sent(b, len);
        b->ping_sent_ns = uv_hrtime();
    }
}

/* Hand one formatted PUBLISH (or, with fn, a command whose answer fn
 * takes, with arg) to hiredis.  Returns 0, or -1 with arg still the
 * caller's. */
static int publish_now(ch_rl_backend *b, const char *cmd, size_t len, ch_rl_reply_fn fn, void *arg)
{
    rl_waiter *w = NULL;

    if (!b->pub.ac || (fn && !(w = malloc(sizeof *w))))
        return -1;
    if (w)
        *w = (rl_waiter){len, fn, arg};
    if (redisAsyncFormattedCommand(b->pub.ac, w ? on_waiter_reply : on_publish_reply,
                                   w ? (void *)w : len_tag(len), cmd, len) != REDIS_OK) {
        free(w);
        return -1;
    }
    if (!fn)
        b->st.published++;
    pub_sent(b, len);
    return 0;
}

/* Publish what waited, in order, while pub is open. */
static void queue_flush(ch_rl_backend *b)
{
    while (b->qhead && ch_rl_pub_open(b)) {
        ch_rl_qitem *q = b->qhead;

        if (publish_now(b, q->cmd, q->len, q->fn, q->arg) != 0)
            return;
        b->qhead = q->next;
        if (!b->qhead)
            b->qtail = NULL;
        b->qcount--;
        b->qbytes -= q->len;
        b->outage_flushed++;
        free(q->cmd);
        free(q);
    }
}

/* Below half the limit, leave the congested state and publish what
 * waited. */
void ch_rl_pub_done(ch_rl_backend *b, size_t len)
{
    b->pending -= len < b->pending ? len : b->pending;
    if (b->destroying || !b->congested || b->pending >= RL_PENDING_MAX / 2)
        return;
    b->congested = 0;
    queue_flush(b);
    rl_update(b);
}

/* Keep cmd (malloc'd, len bytes) for later, or drop it if the buffer is
 * full (fn then gets no reply).  Takes cmd and arg in both cases. */
static void queue_push(ch_rl_backend *b, char *cmd, size_t len, ch_rl_reply_fn fn, void *arg)
{
    ch_rl_qitem *q = NULL;

    if (b->qcount < RL_QUEUE_MAX && b->qbytes + len <= RL_QUEUE_BYTES)
        q = malloc(sizeof *q);
    if (!q) {
        b->st.dropped++;
        b->outage_dropped++;
        free(cmd);
        if (fn)
            fn(b, NULL, arg);
        return;
    }
    q->next = NULL;
    q->cmd = cmd;
    q->len = len;
    q->fn = fn;
    q->arg = arg;
    if (b->qtail)
        b->qtail->next = q;
    else
        b->qhead = q;
    b->qtail = q;
    b->qcount++;
    b->qbytes += len;
}

void ch_rl_send_formatted_fn(ch_rl_backend *b, char *cmd, size_t len, ch_rl_reply_fn fn, void *arg)
{
    if (!b->qhead && ch_rl_pub_open(b) && publish_now(b, cmd, len, fn, arg) == 0)
        free(cmd);
    else
        queue_push(b, cmd, len, fn, arg);
}

void ch_rl_send_formatted(ch_rl_backend *b, char *cmd, size_t len)
{
    ch_rl_send_formatted_fn(b, cmd, len, NULL, NULL);
}

/* Publish msg on key (target: the channel of a direct send, or NULL), now
 * or once Redis can take it (behind whatever waits already).  Returns 0 or
 * -ENOMEM. */
static int rl_publish(ch_rl_backend *b, const char *key, const char *target, const ch_msg *msg)
{
    size_t len;
    char *cmd = ch_rl_publish_command(key, b->id, ++b->seq, target, msg->text, msg->text_len, &len);

    if (!cmd)
        return -ENOMEM;
    ch_rl_send_formatted(b, cmd, len);
    return 0;
}

/* ---- connections and the heartbeat ---------------------------------- */

/* Every 10 s: a PING still unanswered drops both connections (they
 * reconnect); else a new PING and a membership refresh. */
static void on_heartbeat(uv_timer_t *t)
{
    ch_rl_backend *b = t->data;

    if (b->pub.st != CH_RL_READY)
        return;
    if (b->ping_sent_ns) {
        ch_rl_conn_drop(&b->pub, "did not answer PING within 10 s");
        ch_rl_conn_drop(&b->sub, "did not answer PING within 10 s");
        return;
    }
    send_ping(b);
    ch_rl_refresh_start(b);
}

/* A connection is ready: the sender pings, publishes what waited and
 * re-adds the memberships; the subscriber resubscribes (channels_redis:
 * the second connection polls the inbox instead). */
static void on_conn_ready(ch_rl_conn *c, const char *why)
{
    ch_rl_backend *b = c->owner;

    (void)why;
    if (c == &b->pub) {
        send_ping(b);
        queue_flush(b);
        ch_rl_refresh_start(b);
    } else if (b->cr) {
        ch_cr_pop_start(b);
    } else {
        ch_rl_subscribe_all(b);
    }
    rl_update(b);
}

/* A connection was lost (its replies were accounted for as it went) and
 * will be retried: note why, go degraded. */
static void on_conn_lost(ch_rl_conn *c, const char *why)
{
    ch_rl_backend *b = c->owner;

    if (c == &b->pub) {
        b->ping_sent_ns = 0;
        b->pending = 0;
        b->congested = 0;
        b->cursor = NULL;
    }
    if (strncmp(why, "refused ", 8) == 0)
        snprintf(b->why, sizeof b->why, "%s", why);
    else
        snprintf(b->why, sizeof b->why, "unreachable (%s)", why);
    rl_update(b);
    warn_once(b);
}

/* ---- receiving ------------------------------------------------------ */

/* Deliver one payload from Redis channel chan (clen bytes): a group send
 * from another process to the local members, a direct send to the local
 * endpoint it names.  Our own group sends come back and are skipped. */
static void rl_receive(ch_rl_backend *b, const char *chan, size_t clen, const char *data,
                       size_t len)
{
    static const char gpfx[] = CH_RL_PREFIX ":g:";
    size_t gl = sizeof gpfx - 1;
    int direct = clen == strlen(b->pkey) && memcmp(chan, b->pkey, clen) == 0;
    char group[CH_NAME_MAX];
    const char *why = NULL;
    ch_rl_payload p;
    ch_msg *msg;

    if (!direct && (clen <= gl || clen - gl >= CH_NAME_MAX || memcmp(chan, gpfx, gl) != 0))
        return;
    if (ch_rl_payload_decode(data, len, direct, &p) != 0) {
        ch_log(CH_LOG_DEBUG, "channel layer: malformed payload on %.*s", (int)clen, chan);
        return;
    }
    if (memcmp(p.sender, b->id, CH_RL_ID_LEN) == 0)
        return;
    b->st.received++;
    msg = ch_msg_from_text(p.text, p.text_len, &why);
    if (!msg) {
        ch_log(CH_LOG_DEBUG, "channel layer: bad message on %.*s: %s", (int)clen, chan, why);
        return;
    }
    if (direct) {
        b->st.delivered += ch_layer_deliver_channel(b->l, p.target, msg);
    } else {
        snprintf(group, sizeof group, "%.*s", (int)(clen - gl), chan + gl);
        b->st.delivered += ch_layer_deliver_group(b->l, group, msg);
    }
    ch_msg_unref(msg);
}

/* Every reply on the subscriber: "message"s are delivered; subscribe and
 * unsubscribe confirmations, and the NULLs of a teardown, are not. */
void ch_rl_on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_backend *b = privdata;
    redisReply *m = r;

    (void)ac;
    if (!m || b->destroying || m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0 ||
        m->element[1]->type != REDIS_REPLY_STRING || m->element[2]->type != REDIS_REPLY_STRING)
        return;
    rl_receive(b, m->element[1]->str, m->element[1]->len, m->element[2]->str, m->element[2]->len);
}

/* ---- the backend ops ------------------------------------------------ */

/* Publish first (so Redis gets messages in the order they were sent), then
 * deliver locally at once. */
static int rl_group_send(void *self, const char *group, ch_msg *msg)
{
    ch_rl_backend *b = self;
    char key[CH_RL_KEY_MAX];
    int rc;

    ch_rl_key(key, 'g', group);
    rc = rl_publish(b, key, NULL, msg);
    ch_layer_deliver_group(b->l, group, msg);
    return rc;
}

/* Local if the channel is ours (or not a process channel: nobody else
 * could hold it), else published to the owning process. */
static int rl_channel_send(void *self, const char *channel, ch_msg *msg)
{
    ch_rl_backend *b = self;
    char hex[33], key[CH_RL_KEY_MAX];

    if (ch_rl_channel_process(channel, hex) != 0 || strcmp(hex, b->id_hex) == 0) {
        ch_layer_deliver_channel(b->l, channel, msg);
        return 0;
    }
    ch_rl_key(key, 'p', hex);
    return rl_publish(b, key, channel, msg);
}

/* "ok", or "degraded: " and why (kept in b->state, valid until the next
 * call). */
const char *ch_rl_state(void *self)
{
    ch_rl_backend *b = self;

    if (b->up)
        return "ok";
    if (b->congested)
        snprintf(b->state, sizeof b->state,
                 "degraded: redis at %s not keeping up (%zu bytes "
                 "await replies)",
                 b->url.where, b->pending);
    else if (!b->why[0])
        snprintf(b->state, sizeof b->state, "degraded: connecting to redis at %s", b->url.where);
    else
        snprintf(b->state, sizeof b->state, "degraded: redis at %s %s", b->url.where, b->why);
    return b->state;
}

/* Free everything; runs the loop once to finish closing the handles. */
void ch_rl_destroy(void *self)
{
    ch_rl_backend *b = self, **pp = &live;

    b->destroying = 1;
    while (*pp != b)
        pp = &(*pp)->next_live;
    *pp = b->next_live;
    ch_rl_conn_close(&b->pub);
    ch_rl_conn_close(&b->sub);
    uv_close((uv_handle_t *)&b->heartbeat, NULL);
    uv_close((uv_handle_t *)&b->refresh, NULL);
    while (b->qhead) {
        ch_rl_qitem *q = b->qhead;

        b->qhead = q->next;
        if (q->fn)
            q->fn(b, NULL, q->arg);
        free(q->cmd);
        free(q);
    }
    ch_rl_groups_free(b);
    uv_run(b->loop, UV_RUN_NOWAIT);
    free(b->cr);
    free(b);
}

static const ch_layer_backend redis_ops = {
    .name = "redis",
    .group_joined = ch_rl_group_joined,
    .group_left = ch_rl_group_left,
    .member_add = ch_rl_member_add,
    .member_discard = ch_rl_member_discard,
    .group_send = rl_group_send,
    .channel_send = rl_channel_send,
    .state = ch_rl_state,
    .destroy = ch_rl_destroy,
};

/* ---- construction and the public getters ---------------------------- */

static void rl_timer_init(ch_rl_backend *b, uv_timer_t *t)
{
    uv_timer_init(b->loop, t);
    uv_unref((uv_handle_t *)t);
    t->data = b;
}

int ch_layer_redis_url_check(const char *url, char *err, size_t errlen)
{
    ch_rl_url *urls;
    int n = ch_rl_url_list_parse(url, &urls, err, errlen);

    free(urls);
    return n < 0 ? n : 0;
}

/* Set up one backend on url (copied) and start both connections; Redis
 * being down is not an error.  The layer frees it through ops->destroy. */
int ch_rl_backend_new(ch_layer *l, const ch_rl_url *url, int owns_pchan,
                      const ch_layer_backend **ops, ch_rl_backend **out)
{
    ch_rl_backend *b = calloc(1, sizeof *b);

    if (!b)
        return -ENOMEM;
    b->url = *url;
    b->owns_pchan = owns_pchan ? 1 : 0;
    ch_rl_backend_start(b, l);
    *ops = &redis_ops;
    *out = b;
    return 0;
}

/* The process id (and, for the native format, the process channel; a
 * channels_redis caller has set pkey to its inbox), timers and the live
 * list, then both connections. */
void ch_rl_backend_start(ch_rl_backend *b, ch_layer *l)
{
    b->l = l;
    b->loop = ch_layer_loop(l);
    ch_layer_process_id(l, b->id_hex);
    ch_rl_id_parse(b->id_hex, b->id);
    if (!b->cr)
        ch_rl_key(b->pkey, 'p', b->id_hex);
    b->st.latency_us = -1;
    b->down_since = uv_now(b->loop);
    rl_timer_init(b, &b->heartbeat);
    rl_timer_init(b, &b->refresh);
    uv_timer_start(&b->heartbeat, on_heartbeat, RL_HEARTBEAT_MS, RL_HEARTBEAT_MS);
    b->next_live = live;
    live = b;
    ch_rl_conn_start(&b->pub, b->loop, &b->url, "sender", b, on_conn_ready, on_conn_lost);
    ch_rl_conn_start(&b->sub, b->loop, &b->url, b->cr ? "receiver" : "subscriber", b, on_conn_ready,
                     on_conn_lost);
}

/* Parse the urls: one makes one backend, several the sharded backend
 * (layer_redis_shards.c) over one backend each. */
int ch_layer_redis_new(ch_layer *l, const char *url, const ch_layer_backend **ops, void **self,
                       char *err, size_t errlen)
{
    ch_rl_url *urls;
    ch_rl_backend *b = NULL;
    int n = ch_rl_url_list_parse(url, &urls, err, errlen), rc;

    if (n < 0)
        return n;
    if (n > 1) {
        rc = ch_rl_shards_new(l, urls, n, NULL, ops, self);
    } else {
        rc = ch_rl_backend_new(l, &urls[0], 1, ops, &b);
        *self = b;
    }
    free(urls);
    return rc;
}

size_t ch_layer_group_size_global(ch_layer *l, const char *group)
{
    size_t local = ch_layer_group_size(l, group);

    for (ch_rl_backend *b = live; b && group; b = b->next_live) {
        ch_rl_group *g = b->l == l ? ch_hmap_get(&b->groups, group) : NULL;

        if (g)
            return g->global > local ? (size_t)g->global : local;
    }
    return local;
}

/* Add b's counters to *out (a sharded layer has one backend per shard):
 * sums, and the slowest PING. */
static void stats_add(const ch_rl_backend *b, ch_layer_redis_stats *out)
{
    out->published += b->st.published;
    out->received += b->st.received;
    out->delivered += b->st.delivered;
    out->reconnects += b->pub.reconnects + b->sub.reconnects;
    out->dropped += b->st.dropped;
    out->unconfirmed += b->st.unconfirmed;
    out->down_ms += b->st.down_ms + (b->up ? 0 : uv_now(b->loop) - b->down_since);
    out->buffered += b->qcount;
    out->buffered_bytes += b->qbytes;
    out->malformed += b->st.malformed;
    out->over_capacity += b->st.over_capacity;
    if (b->st.latency_us > out->latency_us)
        out->latency_us = b->st.latency_us;
}

int ch_layer_redis_stats_get(const ch_layer *l, ch_layer_redis_stats *out)
{
    int found = 0;

    memset(out, 0, sizeof *out);
    out->latency_us = -1;
    for (const ch_rl_backend *b = live; b; b = b->next_live)
        if (b->l == l) {
            stats_add(b, out);
            found = 1;
        }
    return found ? 0 : -1;
}
