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
 * Receiving.  The second connection runs BZPOPMIN on the inbox with a 5 s
 * timeout, one at a time, again after each answer (never blocking the
 * loop: hiredis waits on the socket).  A member is decoded and delivered
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

/* Format EVAL script with the keys and args (n of each; lens given) and
 * hand it to the backend.  Returns 0 or -ENOMEM. */
static int cr_eval(ch_rl_backend *b, const char *script, int argc, const char **argv,
                   const size_t *lens)
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
    ch_rl_send_formatted(b, cmd, (size_t)len);
    return 0;
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

int ch_layer_cr_new(ch_layer *l, const char *url, const ch_layer_backend **ops, void **self,
                    char *err, size_t errlen)
{
    ch_rl_backend *b = calloc(1, sizeof *b);
    char hex[33];
    int rc;

    if (!b || !(b->cr = calloc(1, sizeof *b->cr))) {
        free(b);
        return -ENOMEM;
    }
    rc = ch_cr_url_parse(url, &b->url, &b->cr->opts, err, errlen);
    if (rc == 0)
        rc = ch_layer_set_name_kind(l, "specific.");
    if (rc < 0) {
        free(b->cr);
        free(b);
        return rc;
    }
    ch_layer_process_id(l, hex);
    snprintf(b->cr->own, sizeof b->cr->own, "specific.%s!", hex);
    snprintf(b->pkey, sizeof b->pkey, "%s%s", b->cr->opts.prefix, b->cr->own);
    b->owns_pchan = 1;
    ch_rl_backend_start(b, l);
    *ops = &cr_ops;
    *self = b;
    return 0;
}
