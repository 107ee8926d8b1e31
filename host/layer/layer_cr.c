/*
 * layer_cr.c -- owns the "channels_redis" channel-layer backend: the
 * Redis backend (layer_redis*.c: connections, reconnection, the outage
 * buffer, counters, state, memberships) speaking channels_redis 4.x's
 * core-layer format instead of its own, so that Django processes using
 * channels_redis.core.RedisChannelLayer and chanhost share groups and
 * channels.  Here: the constructor, group_send and send as Redis scripts,
 * and receiving from this process's inbox.  The format is in layer_cr.h
 * and docs/layer.md; the codec in layer_cr_codec.c.
 *
 * Names.  Channel names are "specific.<32 hex>!<n>" (ch_layer_set_name_kind),
 * so this process's inbox is "<prefix>specific.<32 hex>!", the key a
 * Django process's send() or group_send() writes to.
 *
 * Sending.  Each group_send or send is ONE EVAL (formatted once, so it
 * waits in the outage buffer like a PUBLISH): group_send's script does
 * what channels_redis's group_send does in its pipeline and script --
 * drop memberships older than group_expiry, read the group, bucket the
 * members by inbox, and per inbox drop expired messages and, below
 * capacity, ZADD one copy with "__asgi_channel__" = the members sharing
 * it, and EXPIRE -- atomically.  The copy's body is packed here as a map
 * whose last entry's value the script appends (the msgpack array of the
 * inbox's members, built in Lua).  This process's own inbox is skipped:
 * its members get the local delivery at once, as with the Redis backend.
 * A full inbox drops the copy (counted: over_capacity), as channels_redis
 * does for group_send; for send channels_redis raises ChannelFull, here
 * the drop is counted the same way.
 *
 * Several servers (layer_redis_shards.c: one such backend per server, a
 * group on the shard of its name, an inbox on the shard of its name).
 * As channels_redis's does, a group send then takes two steps: one EVAL
 * on the group's shard trims and reads the group (waiting in that
 * shard's outage buffer like any command), and its answer, bucketed by
 * inbox here, becomes one send script per inbox on the inbox's shard
 * (ch_layer_shard of "specific.<id>!").  Each inbox is written once, so
 * delivery stays exactly once; the two steps are not atomic together
 * (neither are channels_redis's).
 *
 * Receiving.  The second connection runs BZPOPMIN on the inbox with a 5 s
 * timeout, one at a time, again after each answer (never blocking the
 * loop: hiredis waits on the socket).  With several servers every shard
 * polls the inbox: channels_redis 4's send() to a specific channel picks
 * the shard of the full channel name (its bug #221), not the inbox's, so
 * Django's direct sends may land on any shard.  A member is decoded and delivered
 * to each local channel named in "__asgi_channel__" (unknown ones are
 * skipped), with Channels' type dispatch ("chat.message" reaches the
 * plugin as "chat_message").  A member that does not decode is counted
 * (malformed), logged at most once a minute, and skipped.  A member
 * popped while the connection dies is lost (channels_redis keeps an
 * "$inflight" copy for that; this backend does not).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "layer_cr.h"
#include "layer_shard.h"
#include "log.h"

#define CR_POP_TIMEOUT "5"
#define CR_LOG_EVERY_MS 60000

/* KEYS[1] the group; ARGV: body head, 8 random bytes, now, group_expiry,
 * expiry, capacity, prefix, this process's non-local name.  Returns the
 * number of inboxes that were full. */
static const char GROUP_SEND_LUA[] =
    "local now = tonumber(ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, math.floor(now) - tonumber(ARGV[4]))\n"
    "local buckets, order = {}, {}\n"
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local bang = string.find(m, '!', 1, true)\n"
    "  local nl = bang and string.sub(m, 1, bang) or m\n"
    "  if nl ~= ARGV[8] then\n"
    "    if not buckets[nl] then buckets[nl] = {}; order[#order + 1] = nl end\n"
    "    table.insert(buckets[nl], m)\n"
    "  end\n"
    "end\n"
    "local function be(n, bytes)\n"
    "  local t = {}\n"
    "  for i = bytes, 1, -1 do t[i] = string.char(n % 256); n = math.floor(n / 256) end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local function str(s)\n"
    "  if #s < 32 then return string.char(0xa0 + #s) .. s end\n"
    "  if #s < 256 then return string.char(0xd9, #s) .. s end\n"
    "  return string.char(0xda) .. be(#s, 2) .. s\n"
    "end\n"
    "local over = 0\n"
    "for i, nl in ipairs(order) do\n"
    "  local ms, parts = buckets[nl], {}\n"
    "  if #ms < 16 then parts[1] = string.char(0x90 + #ms)\n"
    "  elseif #ms < 65536 then parts[1] = string.char(0xdc) .. be(#ms, 2)\n"
    "  else parts[1] = string.char(0xdd) .. be(#ms, 4) end\n"
    "  for _, m in ipairs(ms) do parts[#parts + 1] = str(m) end\n"
    "  local key = ARGV[7] .. nl\n"
    "  redis.call('ZREMRANGEBYSCORE', key, 0, math.floor(now) - tonumber(ARGV[5]))\n"
    "  if redis.call('ZCOUNT', key, '-inf', '+inf') < tonumber(ARGV[6]) then\n"
    "    redis.call('ZADD', key, ARGV[3], ARGV[2] .. be(i, 4) .. ARGV[1] .. table.concat(parts))\n"
    "    redis.call('EXPIRE', key, ARGV[5])\n"
    "  else\n"
    "    over = over + 1\n"
    "  end\n"
    "end\n"
    "return over\n";

/* KEYS[1] the inbox; ARGV: member, now, expiry, capacity.  Returns 1 if
 * the inbox was full (nothing added), else 0. */
static const char SEND_LUA[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, math.floor(tonumber(ARGV[2])) - "
    "tonumber(ARGV[3]))\n"
    "if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[4]) then return 1 end\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "return 0\n";

const ch_cr_opts *ch_cr_opts_of(const ch_cr *cr) { return &cr->opts; }

void ch_cr_group_key(const ch_cr *cr, char *key, const char *group)
{
    snprintf(key, CH_CR_KEY_MAX, "%s:group:%s", cr->opts.prefix, group);
}

/* Wall-clock seconds, as channels_redis scores with time.time(). */
static void now_text(char *out, size_t outlen)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, outlen, "%lld.%06ld", (long long)ts.tv_sec, ts.tv_nsec / 1000);
}

/* KEYS[1] the group; ARGV: now, group_expiry.  Drops the expired
 * memberships and returns the group's members (a sharded group send). */
static const char GROUP_READ_LUA[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, math.floor(tonumber(ARGV[1])) - "
    "tonumber(ARGV[2]))\n"
    "return redis.call('ZRANGE', KEYS[1], 0, -1)\n";

/* Format EVAL script with one key and the args (argc of them, the key
 * first; lens given) and hand it to the backend, with fn (which then owns
 * arg) taking the answer.  Returns 0, or -ENOMEM with arg still the
 * caller's. */
static int cr_eval_fn(ch_rl_backend *b, const char *script, int argc, const char **argv,
                      const size_t *lens, ch_rl_reply_fn fn, void *arg)
{
    const char *av[16];
    size_t lv[16];
    char *cmd = NULL;
    int len;

    av[0] = "EVAL";
    lv[0] = 4;
    av[1] = script;
    lv[1] = strlen(script);
    av[2] = "1";
    lv[2] = 1;
    memcpy(av + 3, argv, (size_t)argc * sizeof *argv);
    memcpy(lv + 3, lens, (size_t)argc * sizeof *lens);
    len = redisFormatCommandArgv(&cmd, argc + 3, av, lv);
    if (len < 0 || !cmd)
        return -ENOMEM;
    ch_rl_send_formatted_fn(b, cmd, (size_t)len, fn, arg);
    return 0;
}

/* cr_eval_fn without an answer handler. */
static int cr_eval(ch_rl_backend *b, const char *script, int argc, const char **argv,
                   const size_t *lens)
{
    return cr_eval_fn(b, script, argc, argv, lens, NULL, NULL);
}

/* ---- group sends over several servers --------------------------------- */

/* A sharded group send between its two steps: the message packed as a
 * map whose last value (the inbox's members) is still to come, and the
 * send's time. */
typedef struct cr_gsend {
    char now[32];
    size_t len;
    char head[];
} cr_gsend;

/* The length of name's inbox part (up to and including its '!', or all
 * of it for a normal channel), as channels_redis's non_local_name. */
static size_t inbox_len(const redisReply *m)
{
    const char *bang = memchr(m->str, '!', m->len);

    return bang ? (size_t)(bang + 1 - m->str) : m->len;
}

/* qsort: members by their inbox part. */
static int by_inbox(const void *a, const void *b)
{
    const redisReply *x = *(const redisReply *const *)a, *y = *(const redisReply *const *)b;
    size_t nx = inbox_len(x), ny = inbox_len(y);
    int c = memcmp(x->str, y->str, nx < ny ? nx : ny);

    return c ? c : (nx > ny) - (nx < ny);
}

/* One copy of g's message for the n members ms[0..n) sharing an inbox,
 * with "__asgi_channel__" = their names, into that inbox on its shard
 * (the send script: expiry, capacity).  b is the group's shard. */
static void inbox_send(ch_rl_backend *b, const cr_gsend *g, redisReply *const *ms, size_t n)
{
    const ch_cr_opts *o = &b->cr->opts;
    size_t nl = inbox_len(ms[0]);
    ch_rl_backend *t = b->cr->ring[ch_layer_shard(ms[0]->str, nl, b->cr->n_ring)];
    char rnd[CH_CR_RANDOM], key[CH_CR_KEY_MAX], exp[16], cap[16];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int bad;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bad = getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd ||
          msgpack_sbuffer_write(&sb, rnd, sizeof rnd) != 0 ||
          msgpack_sbuffer_write(&sb, g->head, g->len) != 0 || msgpack_pack_array(&pk, n) != 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad = msgpack_pack_str(&pk, ms[i]->len) != 0 ||
              msgpack_pack_str_body(&pk, ms[i]->str, ms[i]->len) != 0;
    snprintf(key, sizeof key, "%s%.*s", o->prefix, (int)nl, ms[0]->str);
    snprintf(exp, sizeof exp, "%u", o->expiry_s);
    snprintf(cap, sizeof cap, "%u", o->capacity);
    if (bad ||
        cr_eval(t, SEND_LUA, 5, (const char *[]){key, sb.data, g->now, exp, cap},
                (size_t[]){strlen(key), sb.size, strlen(g->now), strlen(exp), strlen(cap)}) != 0)
        t->st.dropped++;
    msgpack_sbuffer_destroy(&sb);
}

/* The group's members (the answer to GROUP_READ_LUA on its shard b):
 * one copy per inbox other than this process's (its members had the
 * local delivery); names no channel name can have (empty, 100 bytes or
 * more) are skipped.  Frees g. */
static void on_group_members(ch_rl_backend *b, void *r, void *arg)
{
    redisReply *reply = r, **ms = NULL;
    cr_gsend *g = arg;
    size_t n = 0, own = strlen(b->cr->own);

    if (reply && reply->type == REDIS_REPLY_ERROR)
        ch_log(CH_LOG_DEBUG, "channel layer: group read: %s", reply->str);
    if (reply && !b->destroying && reply->type == REDIS_REPLY_ARRAY && reply->elements &&
        (ms = malloc(reply->elements * sizeof *ms))) {
        for (size_t i = 0; i < reply->elements; i++) {
            redisReply *m = reply->element[i];

            if (m->type == REDIS_REPLY_STRING && m->len && m->len < CH_NAME_MAX &&
                !(inbox_len(m) == own && memcmp(m->str, b->cr->own, own) == 0))
                ms[n++] = m;
        }
        qsort(ms, n, sizeof *ms, by_inbox);
    }
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && by_inbox(&ms[i], &ms[j]) == 0; j++)
            ;
        inbox_send(b, g, ms + i, j - i);
    }
    free(ms);
    free(g);
}

/* Step one of a sharded group send: read the group (key) on its shard b;
 * head[0..len) is the message's map without its last value.  Returns 0
 * or -ENOMEM. */
static int group_send_sharded(ch_rl_backend *b, const char *key, const char *head, size_t len,
                              const char *now)
{
    cr_gsend *g = malloc(sizeof *g + len);
    char gexp[16];

    if (!g)
        return -ENOMEM;
    snprintf(g->now, sizeof g->now, "%s", now);
    g->len = len;
    memcpy(g->head, head, len);
    snprintf(gexp, sizeof gexp, "%u", b->cr->opts.group_expiry_s);
    if (cr_eval_fn(b, GROUP_READ_LUA, 3, (const char *[]){key, now, gexp},
                   (size_t[]){strlen(key), strlen(now), strlen(gexp)}, on_group_members, g) != 0) {
        free(g);
        return -ENOMEM;
    }
    return 0;
}

void ch_cr_set_ring(ch_rl_backend *b, ch_rl_backend *const *ring, int n)
{
    b->cr->ring = ring;
    b->cr->n_ring = n;
}

/* ---- the backend ops ------------------------------------------------- */

/* The other processes' members get one copy per inbox through Redis; the
 * local ones get it at once. */
static int cr_group_send(void *self, const char *group, ch_msg *msg)
{
    ch_rl_backend *b = self;
    const ch_cr_opts *o = &b->cr->opts;
    char key[CH_CR_KEY_MAX], rnd[8], now[32], gexp[16], exp[16], cap[16];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = ch_cr_pack_map(&pk, msg->json, 1);
    if (rc == -EINVAL) { /* it holds "__asgi_channel__": refused, as Channels does */
        msgpack_sbuffer_destroy(&sb);
        return rc;
    }
    if (rc == 0 && (msgpack_pack_str(&pk, strlen(CH_CR_CHANNEL_KEY)) != 0 ||
                    msgpack_pack_str_body(&pk, CH_CR_CHANNEL_KEY, strlen(CH_CR_CHANNEL_KEY)) != 0))
        rc = -ENOMEM;
    if (rc == 0 && getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rc = -EIO;
    if (rc == 0) {
        ch_cr_group_key(b->cr, key, group);
        now_text(now, sizeof now);
    }
    if (rc == 0 && b->cr->n_ring > 1) {
        rc = group_send_sharded(b, key, sb.data, sb.size, now);
    } else if (rc == 0) {
        snprintf(gexp, sizeof gexp, "%u", o->group_expiry_s);
        snprintf(exp, sizeof exp, "%u", o->expiry_s);
        snprintf(cap, sizeof cap, "%u", o->capacity);
        rc = cr_eval(b, GROUP_SEND_LUA, 9,
                     (const char *[]){key, sb.data, rnd, now, gexp, exp, cap, o->prefix,
                                      b->cr->own},
                     (size_t[]){strlen(key), sb.size, sizeof rnd, strlen(now), strlen(gexp),
                                strlen(exp), strlen(cap), strlen(o->prefix), strlen(b->cr->own)});
    }
    msgpack_sbuffer_destroy(&sb);
    ch_layer_deliver_group(b->l, group, msg);
    return rc;
}

/* A channel of this process is delivered locally; any other goes into
 * its inbox ("<prefix><non-local name>"), with "__asgi_channel__" for a
 * process-specific name (one with a '!'). */
static int cr_channel_send(void *self, const char *channel, ch_msg *msg)
{
    ch_rl_backend *b = self;
    const ch_cr_opts *o = &b->cr->opts;
    const char *bang = strchr(channel, '!');
    size_t nl = bang ? (size_t)(bang + 1 - channel) : strlen(channel), mlen;
    char key[CH_CR_KEY_MAX], now[32], exp[16], cap[16], *member;
    int rc;

    if (bang && nl == strlen(b->cr->own) && memcmp(channel, b->cr->own, nl) == 0) {
        ch_layer_deliver_channel(b->l, channel, msg);
        return 0;
    }
    member = ch_cr_member(msg->json, bang ? channel : NULL, &mlen);
    if (!member)
        return json_object_get(msg->json, CH_CR_CHANNEL_KEY) ? -EINVAL : -ENOMEM;
    snprintf(key, sizeof key, "%s%.*s", o->prefix, (int)nl, channel);
    now_text(now, sizeof now);
    snprintf(exp, sizeof exp, "%u", o->expiry_s);
    snprintf(cap, sizeof cap, "%u", o->capacity);
    rc = cr_eval(b, SEND_LUA, 5, (const char *[]){key, member, now, exp, cap},
                 (size_t[]){strlen(key), mlen, strlen(now), strlen(exp), strlen(cap)});
    free(member);
    return rc;
}

static const ch_layer_backend cr_ops = {
    .name = "channels_redis",
    .group_joined = ch_rl_group_joined,
    .group_left = ch_rl_group_left,
    .member_add = ch_rl_member_add,
    .member_discard = ch_rl_member_discard,
    .group_send = cr_group_send,
    .channel_send = cr_channel_send,
    .state = ch_rl_state,
    .destroy = ch_rl_destroy,
};

/* ---- receiving ------------------------------------------------------- */

/* Count an undecodable member; one WARN line a minute at most. */
static void cr_malformed(ch_rl_backend *b, const char *why)
{
    ch_cr *cr = b->cr;
    uint64_t now = uv_now(b->loop);

    b->st.malformed++;
    if (cr->bad_log_ms && now - cr->bad_log_ms < CR_LOG_EVERY_MS)
        return;
    ch_log(CH_LOG_WARN,
           "channel layer: skipped %llu undecodable message(s) in %s since the last report "
           "(this one: %s)",
           (unsigned long long)(b->st.malformed - cr->bad_logged), b->pkey, why);
    cr->bad_logged = b->st.malformed;
    cr->bad_log_ms = now ? now : 1;
}

/* Decode one inbox member and deliver it to the local channels it names. */
static void cr_receive(ch_rl_backend *b, const char *data, size_t len)
{
    const char *why = NULL;
    ch_cr_msg m;
    ch_msg *msg;
    size_t i;
    json_t *t;

    if (ch_cr_decode(data, len, &m, &why) != 0) {
        cr_malformed(b, why);
        return;
    }
    msg = ch_msg_from_json(m.obj, &why);
    if (!msg || ch_msg_use_handler_name(msg) != 0) {
        cr_malformed(b, msg ? "out of memory" : why);
    } else {
        b->st.received++;
        json_array_foreach(m.targets, i, t)
            b->st.delivered += ch_layer_deliver_channel(b->l, json_string_value(t), msg);
    }
    ch_msg_unref(msg);
    json_decref(m.obj);
    json_decref(m.targets);
}

/* BZPOPMIN's answer: [key, member, score], nil on the timeout, NULL when
 * the connection went (the next ready starts polling again). */
static void on_pop(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_backend *b = privdata;
    redisReply *reply = r;

    (void)ac;
    b->cr->popping = 0;
    if (!reply || b->destroying)
        return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        cr_receive(b, reply->element[1]->str, reply->element[1]->len);
    else if (reply->type == REDIS_REPLY_ERROR)
        ch_log(CH_LOG_DEBUG, "channel layer: BZPOPMIN %s: %s", b->pkey, reply->str);
    ch_cr_pop_start(b);
}

void ch_cr_pop_start(ch_rl_backend *b)
{
    if (b->cr->popping || b->destroying || b->sub.st != CH_RL_READY || !b->sub.ac)
        return;
    if (redisAsyncCommand(b->sub.ac, on_pop, b, "BZPOPMIN %b %s", b->pkey, strlen(b->pkey),
                          CR_POP_TIMEOUT) == REDIS_OK)
        b->cr->popping = 1;
}

/* ---- construction ---------------------------------------------------- */

int ch_cr_backend_new(ch_layer *l, const ch_rl_url *url, const ch_cr_opts *opts,
                      const ch_layer_backend **ops, ch_rl_backend **out)
{
    ch_rl_backend *b = calloc(1, sizeof *b);
    char hex[33];

    if (!b || !(b->cr = calloc(1, sizeof *b->cr))) {
        free(b);
        return -ENOMEM;
    }
    b->url = *url;
    b->cr->opts = *opts;
    ch_layer_process_id(l, hex);
    snprintf(b->cr->own, sizeof b->cr->own, "specific.%s!", hex);
    snprintf(b->pkey, sizeof b->pkey, "%s%s", b->cr->opts.prefix, b->cr->own);
    b->owns_pchan = 1;
    ch_rl_backend_start(b, l);
    *ops = &cr_ops;
    *out = b;
    return 0;
}

/* One url makes one backend, several the sharded backend over one
 * channels_redis backend each (layer_redis_shards.c). */
int ch_layer_cr_new(ch_layer *l, const char *url, const ch_layer_backend **ops, void **self,
                    char *err, size_t errlen)
{
    ch_rl_backend *b = NULL;
    ch_rl_url *urls;
    ch_cr_opts o;
    int n = ch_cr_url_list_parse(url, &urls, &o, err, errlen), rc;

    if (n < 0)
        return n;
    rc = ch_layer_set_name_kind(l, "specific.");
    if (rc == 0 && n > 1) {
        rc = ch_rl_shards_new(l, urls, n, &o, ops, self);
    } else if (rc == 0) {
        rc = ch_cr_backend_new(l, &urls[0], &o, ops, &b);
        *self = b;
    }
    free(urls);
    return rc;
}
