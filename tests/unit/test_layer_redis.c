/*
 * test_layer_redis.c -- unit tests of the Redis channel-layer backend
 * (host/layer_redis*.c): payload encoding and decoding (round trips and
 * refusal of malformed payloads), the PUBLISH command, url parsing,
 * process ids of channel names, and -- against a real redis-server this
 * test starts on a free loopback port -- the subscription and membership
 * bookkeeping, delivery of what arrives from Redis, the outage buffer and
 * resubscription after a restart.  A missing redis-server fails the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "layer.h"
#include "layer_redis.h"

static const uint8_t ID_A[CH_RL_ID_LEN] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4,
                                           5, 6, 7, 8, 9, 10, 11, 0xff};
#define OTHER_HEX "0123456789abcdef0123456789abcdef"
#define MIB ((size_t)1 << 20)

/* ---- payloads ---------------------------------------------------------- */

static uint8_t *encode(const char *target, const char *text, uint64_t seq, size_t *len)
{
    uint8_t *buf;

    *len = ch_rl_payload_len(target, strlen(text));
    buf = malloc(*len);
    assert_non_null(buf);
    ch_rl_payload_write(buf, ID_A, seq, target, text, strlen(text));
    return buf;
}

static void payload_group_round_trip(void **state)
{
    const char *text = "{\"type\":\"chat_message\",\"message\":\"h\\u00e9\"}";
    ch_rl_payload p;
    size_t len;
    uint8_t *buf = encode(NULL, text, 0x0102030405060708ULL, &len);

    (void)state;
    assert_int_equal(len, CH_RL_HEADER + strlen(text));
    assert_int_equal(buf[0], CH_RL_VERSION);
    assert_int_equal(ch_rl_payload_decode(buf, len, 0, &p), 0);
    assert_memory_equal(p.sender, ID_A, CH_RL_ID_LEN);
    assert_true(p.seq == 0x0102030405060708ULL);
    assert_string_equal(p.target, "");
    assert_int_equal(p.text_len, strlen(text));
    assert_memory_equal(p.text, text, p.text_len);
    free(buf);
}

static void payload_direct_round_trip(void **state)
{
    const char *target = "chanhost." OTHER_HEX "!42", *text = "{\"type\":\"x\"}";
    ch_rl_payload p;
    size_t len;
    uint8_t *buf = encode(target, text, UINT64_MAX, &len);

    (void)state;
    assert_int_equal(len, CH_RL_HEADER + 1 + strlen(target) + strlen(text));
    assert_int_equal(ch_rl_payload_decode(buf, len, 1, &p), 0);
    assert_true(p.seq == UINT64_MAX);
    assert_string_equal(p.target, target);
    assert_int_equal(p.text_len, strlen(text));
    assert_memory_equal(p.text, text, p.text_len);
    /* the same bytes read as a group payload keep the name in the text */
    assert_int_equal(ch_rl_payload_decode(buf, len, 0, &p), 0);
    assert_int_equal(p.text_len, 1 + strlen(target) + strlen(text));
    free(buf);
}

static void payload_malformed_refused(void **state)
{
    const char *text = "{\"type\":\"x\"}";
    ch_rl_payload p;
    size_t len;
    uint8_t *g = encode(NULL, text, 1, &len), *d;
    uint8_t bad[CH_RL_HEADER + 120];

    (void)state;
    assert_int_equal(ch_rl_payload_decode(NULL, 0, 0, &p), -EINVAL);
    assert_int_equal(ch_rl_payload_decode(g, CH_RL_HEADER, 0, &p), -EINVAL);   /* no text */
    assert_int_equal(ch_rl_payload_decode(g, 5, 0, &p), -EINVAL);              /* short */
    g[0] = CH_RL_VERSION + 1;
    assert_int_equal(ch_rl_payload_decode(g, len, 0, &p), -EINVAL);            /* version */
    free(g);
    d = encode("chan.a!1", text, 1, &len);
    assert_int_equal(ch_rl_payload_decode(d, CH_RL_HEADER + 4, 1, &p), -EINVAL); /* cut name */
    assert_int_equal(ch_rl_payload_decode(d, CH_RL_HEADER + 9, 1, &p), -EINVAL); /* no text */
    free(d);
    memset(bad, 0, sizeof bad);
    bad[0] = CH_RL_VERSION;
    bad[CH_RL_HEADER] = 0;                                                     /* empty name */
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
    bad[CH_RL_HEADER] = 110;                                                   /* too long */
    memset(bad + CH_RL_HEADER + 1, 'a', 110);
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
    bad[CH_RL_HEADER] = 3;
    memcpy(bad + CH_RL_HEADER + 1, "a b{", 4);                                 /* bad chars */
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
    memcpy(bad + CH_RL_HEADER + 1, "a\0b{", 4);                                /* NUL */
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
}

/* The hand-built PUBLISH equals hiredis's own formatting. */
static void publish_command_matches_hiredis(void **state)
{
    const char *text = "{\"type\":\"t\",\"m\":\"\\r\\n\"}";
    size_t len, plen;
    uint8_t *payload = encode(NULL, text, 7, &plen);
    char *mine = ch_rl_publish_command("chanhost:g:room_1", ID_A, 7, NULL, text, strlen(text),
                                       &len);
    char *theirs = NULL;
    int tlen = redisFormatCommand(&theirs, "PUBLISH %s %b", "chanhost:g:room_1", payload, plen);

    (void)state;
    assert_non_null(mine);
    assert_int_equal(len, (size_t)tlen);
    assert_memory_equal(mine, theirs, len);
    free(mine);
    redisFreeCommand(theirs);
    free(payload);
}

/* ---- urls and names ------------------------------------------------------ */

static void url_parse_accepts(void **state)
{
    ch_rl_url u;
    char err[256];

    (void)state;
    assert_int_equal(ch_rl_url_parse("redis://127.0.0.1", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.where, "127.0.0.1:6379");
    assert_int_equal(ch_rl_url_parse("redis://:s%40cret@cache.local:6380/3", &u, err,
                                     sizeof err), 0);
    assert_string_equal(u.host, "cache.local");
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s@cret");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
    assert_int_equal(ch_rl_url_parse("redis://app:pw@[::1]:7000/", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.user, "app");
    assert_string_equal(u.where, "[::1]:7000");
    assert_int_equal(ch_rl_url_parse("unix:///run/redis/redis.sock?db=2&password=x%26y", &u,
                                     err, sizeof err), 0);
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "x&y");
    assert_int_equal(ch_layer_redis_url_check("unix:///tmp/r.sock", err, sizeof err), 0);
}

static void on_deliver(ch_endpoint *ep, ch_msg *msg, void *arg);

static void url_parse_refuses(void **state)
{
    static const struct { const char *url, *why; } bad[] = {
        {"redis://", "host"}, {"redis://:6379", "host"},
        {"redis://h:0", "port"}, {"redis://h:65536", "port"}, {"redis://h:63a9", "port"},
        {"redis://h/zero", "database"}, {"redis://secret@h", "':'"},
        {"redis://h?db=1", "query"}, {"redis://[::1:6379", "IPv6"},
        {"redis://:%zz@h", "escape"}, {"unix://relative.sock", "absolute"},
        {"unix:///r.sock?timeout=1", "unknown parameter"}, {"unix:///r.sock?db=x", "db"},
        {"http://h", "not a redis url"},
    };
    char err[256];
    ch_rl_url u;
    uv_loop_t loop;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(ch_rl_url_parse(bad[i].url, &u, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].why))
            fail_msg("%s: '%s' does not mention '%s'", bad[i].url, err, bad[i].why);
    }
    /* the password never appears in a message */
    ch_rl_url_parse("redis://:hunter2@h:x", &u, err, sizeof err);
    assert_null(strstr(err, "hunter2"));
    /* ch_layer_new refuses a bad url with the parser's reason */
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_null(ch_layer_new(&loop, "redis://h:99999", NULL, on_deliver, NULL, err,
                             sizeof err));
    assert_non_null(strstr(err, "port '99999'"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void channel_process_ids(void **state)
{
    char hex[33];
    uint8_t id[CH_RL_ID_LEN];

    (void)state;
    assert_int_equal(ch_rl_channel_process("chanhost." OTHER_HEX "!17", hex), 0);
    assert_string_equal(hex, OTHER_HEX);
    assert_int_equal(ch_rl_id_parse(hex, id), 0);
    assert_int_equal(id[0], 0x01);
    assert_int_equal(id[15], 0xef);
    assert_int_equal(ch_rl_channel_process("specific." OTHER_HEX "!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost.0123!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost." OTHER_HEX "0!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost.0123456789ABCDEF0123456789abcdef!1", hex),
                     -1);
    assert_int_equal(ch_rl_channel_process("chanhost." OTHER_HEX, hex), -1);
    assert_int_equal(ch_rl_id_parse("0123456789abcdef0123456789abcdeg", id), -1);
}

/* ---- against a real redis-server ------------------------------------------ */

#define NEP 4

typedef struct live {
    pid_t pid;                     /* the redis-server */
    int port;
    char url[64];
    uv_loop_t loop;
    ch_layer *l;
    redisContext *rc;              /* a synchronous client for checks */
    ch_endpoint ep[NEP];
    size_t got[NEP];
    char last[NEP][160];           /* text of the last message delivered */
} live;

typedef int (*pred_fn)(live *t, const void *arg);

static void on_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    live *t = arg;
    size_t i = (size_t)(ep - t->ep);

    t->got[i]++;
    snprintf(t->last[i], sizeof t->last[i], "%s", msg->text);
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* (Re)connect the checking client; 0 if Redis answers PING. */
static int client_up(live *t)
{
    redisReply *r;

    if (t->rc && !t->rc->err)
        return 0;
    redisFree(t->rc);
    t->rc = redisConnect("127.0.0.1", t->port);
    if (!t->rc || t->rc->err)
        return -1;
    r = redisCommand(t->rc, "PING");
    freeReplyObject(r);
    return r ? 0 : -1;
}

/* Start redis-server on t->port and wait (10 s at most) until it answers.
 * A missing redis-server fails the test. */
static void start_redis(live *t)
{
    char port[16];
    int status;

    snprintf(port, sizeof port, "%d", t->port);
    t->pid = fork();
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        if (waitpid(t->pid, &status, WNOHANG) == t->pid)
            fail_msg("redis-server did not start (exit %d): is redis-server installed?",
                     WEXITSTATUS(status));
        if (client_up(t) == 0)
            return;
        usleep(10000);
    }
    fail_msg("redis-server on port %d did not answer within 10 s", t->port);
}

static void stop_redis(live *t)
{
    if (t->pid <= 0)
        return;
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
    redisFree(t->rc);
    t->rc = NULL;
}

/* One command on the checking client (reconnecting first if needed).
 * The caller frees the reply. */
static redisReply *cmd(live *t, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    assert_int_equal(client_up(t), 0);
    va_start(ap, fmt);
    r = redisvCommand(t->rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long cmd_int(live *t, const char *fmt, const char *a, const char *b)
{
    redisReply *r = cmd(t, fmt, a, b);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

    freeReplyObject(r);
    return v;
}

static void on_tick(uv_timer_t *h) { (void)h; }

/* Run the loop until pred holds; 0 if ms pass first. */
static int run_until(live *t, pred_fn pred, const void *arg, uint64_t ms)
{
    uv_timer_t tick;
    uint64_t deadline;
    int ok;

    uv_update_time(&t->loop);
    deadline = uv_now(&t->loop) + ms;
    uv_timer_init(&t->loop, &tick);
    while (!(ok = pred(t, arg)) && uv_now(&t->loop) < deadline) {
        uv_timer_start(&tick, on_tick, 5, 0);
        uv_run(&t->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    return ok;
}

static int state_prefix(live *t, const void *prefix)
{
    return !strncmp(ch_layer_state(t->l), prefix, strlen(prefix));
}

/* Is channel "chanhost:<arg>" subscribed by anyone? */
static int subscribed(live *t, const void *chan)
{
    redisReply *r = cmd(t, "PUBSUB NUMSUB chanhost:%s", (const char *)chan);
    long long n = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : -1;

    freeReplyObject(r);
    return n > 0;
}

static int unsubscribed(live *t, const void *chan) { return !subscribed(t, chan); }

static int got_at_least(live *t, const void *want)
{
    const size_t *w = want;

    return t->got[w[0]] >= w[1];
}

static ch_layer_redis_stats stats(live *t)
{
    ch_layer_redis_stats s;

    assert_int_equal(ch_layer_redis_stats_get(t->l, &s), 0);
    return s;
}

static void make_layer(live *t)
{
    char err[256];

    t->l = ch_layer_new(&t->loop, t->url, NULL, on_deliver, t, err, sizeof err);
    if (!t->l)
        fail_msg("ch_layer_new(%s): %s", t->url, err);
    for (int i = 0; i < NEP; i++)
        assert_int_equal(ch_layer_attach(t->l, &t->ep[i]), 0);
}

static int live_setup(void **state)
{
    live *t = calloc(1, sizeof *t);

    assert_non_null(t);
    t->port = free_port();
    snprintf(t->url, sizeof t->url, "redis://127.0.0.1:%d/0", t->port);
    start_redis(t);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    *state = t;
    return 0;
}

static int live_teardown(void **state)
{
    live *t = *state;

    ch_layer_free(t->l);
    assert_int_equal(uv_loop_close(&t->loop), 0);     /* every handle closed */
    stop_redis(t);
    free(t);
    return 0;
}

/* "p:<our process id>", the suffix of our process channel. */
static const char *pchan(live *t, char out[48])
{
    char hex[33];

    ch_layer_process_id(t->l, hex);
    snprintf(out, 48, "p:%s", hex);
    return out;
}

/* A layer connected to the test's server, its process channel subscribed. */
static live *live_up(void **state)
{
    live *t = *state;
    char pc[48];

    make_layer(t);
    if (!run_until(t, state_prefix, "ok", 5000) || !run_until(t, subscribed, pchan(t, pc), 5000))
        fail_msg("layer not up: %s", ch_layer_state(t->l));
    return t;
}

static ch_msg *mk(const char *text)
{
    const char *why;
    ch_msg *m = ch_msg_from_text(text, strlen(text), &why);

    assert_non_null(m);
    return m;
}

/* SUBSCRIBE on the first local join, UNSUBSCRIBE on the last leave, and
 * the end state is right after a leave/join churn within one loop turn. */
static void live_subscriptions_follow_local_groups(void **state)
{
    live *t = live_up(state);

    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "a"), 0);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[1], "a"), 0);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[2], "b"), 0);
    assert_true(run_until(t, subscribed, "g:a", 3000));
    assert_true(run_until(t, subscribed, "g:b", 3000));
    /* a partial leave keeps "a"; Redis runs commands in order, so once
     * "b" is gone an UNSUBSCRIBE of "a" sent before it would show */
    assert_int_equal(ch_layer_group_discard(t->l, &t->ep[0], "a"), 0);
    assert_int_equal(ch_layer_group_discard(t->l, &t->ep[2], "b"), 0);
    assert_true(run_until(t, unsubscribed, "g:b", 3000));
    assert_true(subscribed(t, "g:a"));
    ch_layer_detach(t->l, &t->ep[1]);
    assert_true(run_until(t, unsubscribed, "g:a", 3000));
    /* churn: join, leave, join again before the loop runs */
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[2], "c"), 0);
    assert_int_equal(ch_layer_group_discard(t->l, &t->ep[2], "c"), 0);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[2], "c"), 0);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[3], "d"), 0);
    assert_true(run_until(t, subscribed, "g:d", 3000));
    assert_true(subscribed(t, "g:c"));
}

static int zcard_is(live *t, const void *want)
{
    const char *const *w = want;

    return cmd_int(t, "ZCARD chanhost:m:%s", w[0], NULL) == strtol(w[1], NULL, 10);
}

static int global_is(live *t, const void *want)
{
    const char *const *w = want;

    return ch_layer_group_size_global(t->l, w[0]) == (size_t)strtol(w[1], NULL, 10);
}

/* Memberships in the ZSET with a 30 s expiry; a discard removes one; the
 * cross-process count skips expired members and counts live foreign ones. */
static void live_memberships_in_redis(void **state)
{
    live *t = live_up(state);
    struct timespec ts;
    long long now, score, pttl;
    redisReply *r;

    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "room"), 0);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[1], "room"), 0);
    assert_true(run_until(t, zcard_is, (const char *[]){"room", "2"}, 3000));
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r = cmd(t, "ZSCORE chanhost:m:room %s", t->ep[0].name);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    score = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    assert_true(score > now + 25000 && score <= now + 31000);
    pttl = cmd_int(t, "PTTL chanhost:m:room", NULL, NULL);
    assert_true(pttl > 50000 && pttl <= 60000);
    assert_int_equal(ch_layer_group_discard(t->l, &t->ep[0], "room"), 0);
    assert_true(run_until(t, zcard_is, (const char *[]){"room", "1"}, 3000));
    /* another process's live member and a dead one's expired member */
    freeReplyObject(cmd(t, "ZADD chanhost:m:room %lld chanhost." OTHER_HEX "!1 %lld "
                        "chanhost." OTHER_HEX "!2", now + 60000, now - 1000));
    /* drop the publisher (subscribers are TYPE pubsub): it reconnects and
     * re-adds, trims and counts at once */
    freeReplyObject(cmd(t, "CLIENT KILL TYPE normal SKIPME yes"));
    assert_true(run_until(t, global_is, (const char *[]){"room", "2"}, 5000));
    assert_true(run_until(t, zcard_is, (const char *[]){"room", "2"}, 3000));
    assert_int_equal(ch_layer_group_size(t->l, "room"), 1);
    assert_int_equal(ch_layer_group_size_global(t->l, "nosuch"), 0);
    assert_true(run_until(t, state_prefix, "ok", 5000));
    assert_int_equal(stats(t).reconnects, 1);
}

/* PUBLISH a payload from process `sender` on channel chanhost:<chan>. */
static void publish_raw(live *t, const char *chan, const uint8_t *sender, const char *target,
                        const char *text)
{
    size_t len = ch_rl_payload_len(target, strlen(text));
    uint8_t *buf = malloc(len);

    assert_non_null(buf);
    ch_rl_payload_write(buf, sender, 1, target, text, strlen(text));
    freeReplyObject(cmd(t, "PUBLISH chanhost:%s %b", chan, buf, len));
    free(buf);
}

/* Group and direct payloads from another process reach the local
 * endpoints; our own echoes and malformed payloads do not. */
static void live_delivery_from_redis(void **state)
{
    live *t = live_up(state);
    uint8_t other[CH_RL_ID_LEN], self[CH_RL_ID_LEN];
    char pc[48];

    ch_rl_id_parse(OTHER_HEX, other);
    ch_rl_id_parse(pchan(t, pc) + 2, self);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "g1"), 0);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[1], "g1"), 0);
    assert_true(run_until(t, subscribed, "g:g1", 3000));
    publish_raw(t, "g:g1", other, NULL, "{\"type\":\"t\",\"n\":1}");
    publish_raw(t, "g:g1", self, NULL, "{\"type\":\"t\",\"n\":\"echo\"}");
    publish_raw(t, "g:g1", other, NULL, "not json");
    freeReplyObject(cmd(t, "PUBLISH chanhost:g:g1 short"));
    publish_raw(t, pc, other, NULL, "{\"type\":\"t\",\"n\":\"no target\"}");
    publish_raw(t, pc, other, t->ep[2].name, "{\"type\":\"t\",\"n\":2}");
    publish_raw(t, "g:g1", other, NULL, "{\"type\":\"t\",\"n\":3}");
    assert_true(run_until(t, got_at_least, (size_t[]){1, 2}, 3000));
    assert_true(run_until(t, got_at_least, (size_t[]){2, 1}, 3000));
    assert_int_equal(t->got[0], 2);
    assert_string_equal(t->last[0], "{\"type\":\"t\",\"n\":3}");
    assert_string_equal(t->last[2], "{\"type\":\"t\",\"n\":2}");
    assert_int_equal(t->got[3], 0);
    assert_int_equal(stats(t).delivered, 5);
}

typedef struct sub_watch {
    redisContext *s;               /* a subscriber */
    size_t n, want;                /* messages seen, wanted */
    char last[200];                /* the last one: "<target>|<text>" */
} sub_watch;

/* Predicate: read what arrived on w->s without blocking and count the
 * messages; true once w->want have come. */
static int sub_got(live *t, const void *arg)
{
    sub_watch *w = (sub_watch *)arg;
    struct pollfd pfd = {.fd = w->s->fd, .events = POLLIN};
    void *reply;
    ch_rl_payload p;

    (void)t;
    for (;;) {
        redisReply *r;

        assert_int_equal(redisReaderGetReply(w->s->reader, &reply), REDIS_OK);
        r = reply;
        if (!r && poll(&pfd, 1, 0) == 1 && redisBufferRead(w->s) == REDIS_OK)
            continue;
        if (!r)
            return w->n >= w->want;
        if (r->elements == 3 && strcmp(r->element[0]->str, "message") == 0) {
            w->n++;
            assert_int_equal(ch_rl_payload_decode(r->element[2]->str, r->element[2]->len,
                                                  strstr(r->element[1]->str, ":p:") != NULL, &p), 0);
            snprintf(w->last, sizeof w->last, "%s|%.*s", p.target, (int)p.text_len, p.text);
        }
        freeReplyObject(r);
    }
}

/* A watcher subscribed to chanhost:<chan> (the confirmation consumed). */
static redisContext *watch(live *t, const char *chan)
{
    redisContext *s = redisConnect("127.0.0.1", t->port);
    redisReply *r;

    assert_true(s && !s->err);
    r = redisCommand(s, "SUBSCRIBE chanhost:%s", chan);
    assert_non_null(r);
    freeReplyObject(r);
    return s;
}

/* group_send delivers locally at once and publishes our payload; a send
 * to another process's channel is published there; to our own, local. */
static void live_publishes_reach_redis(void **state)
{
    live *t = live_up(state);
    sub_watch g = {.s = watch(t, "g:pubg"), .want = 1};
    sub_watch d = {.s = watch(t, "p:" OTHER_HEX), .want = 1};
    ch_msg *m = mk("{\"type\":\"t\",\"v\":1}");
    uint8_t other[CH_RL_ID_LEN];

    ch_rl_id_parse(OTHER_HEX, other);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "pubg"), 0);
    assert_true(run_until(t, subscribed, "g:pubg", 3000));
    assert_int_equal(ch_layer_group_send(t->l, "pubg", m), 0);
    assert_int_equal(t->got[0], 1);                  /* local, synchronous */
    assert_true(run_until(t, sub_got, &g, 3000));
    assert_string_equal(g.last, "|{\"type\":\"t\",\"v\":1}");
    assert_int_equal(ch_layer_send(t->l, "chanhost." OTHER_HEX "!9", m), 0);
    assert_true(run_until(t, sub_got, &d, 3000));
    assert_string_equal(d.last, "chanhost." OTHER_HEX "!9|{\"type\":\"t\",\"v\":1}");
    assert_int_equal(ch_layer_send(t->l, t->ep[1].name, m), 0);
    assert_int_equal(t->got[1], 1);
    /* the echo of our group_send came before this one and was ignored */
    publish_raw(t, "g:pubg", other, NULL, "{\"type\":\"t\",\"v\":2}");
    assert_true(run_until(t, got_at_least, (size_t[]){0, 2}, 3000));
    assert_int_equal(t->got[0], 2);
    assert_int_equal(stats(t).published, 2);
    ch_msg_unref(m);
    redisFree(g.s);
    redisFree(d.s);
}

/* Send n messages {"type":"t","i":from..from+n-1} to group. */
static void send_n(live *t, const char *group, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char text[64];
        ch_msg *m;

        snprintf(text, sizeof text, "{\"type\":\"t\",\"i\":%d}", i);
        m = mk(text);
        assert_int_equal(ch_layer_group_send(t->l, group, m), 0);
        ch_msg_unref(m);
    }
}

/* Redis killed: local delivery goes on, publishes are buffered up to 1000
 * and the rest dropped; Redis back on the same port: resubscribed,
 * memberships re-added, the buffer published once and in order. */
static void live_restart_buffers_and_resubscribes(void **state)
{
    live *t = live_up(state);
    sub_watch w = {.want = 1000};
    ch_layer_redis_stats s;
    uint64_t t0;
    char pc[48];

    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "r"), 0);
    assert_true(run_until(t, subscribed, "g:r", 3000));
    stop_redis(t);
    assert_true(run_until(t, state_prefix, "degraded: redis at 127.0.0.1", 3000));
    send_n(t, "r", 0, 1500);
    assert_int_equal(t->got[0], 1500);
    s = stats(t);
    assert_int_equal(s.buffered, 1000);
    assert_int_equal(s.dropped, 500);
    assert_true(s.buffered_bytes > 0 && s.buffered_bytes <= MIB);
    start_redis(t);
    w.s = watch(t, "g:r");
    uv_update_time(&t->loop);
    t0 = uv_now(&t->loop);
    assert_true(run_until(t, state_prefix, "ok", 10000));
    print_message("reconnected %llu ms after redis-server was back\n",
                  (unsigned long long)(uv_now(&t->loop) - t0));
    assert_true(run_until(t, sub_got, &w, 5000));
    assert_string_equal(w.last, "|{\"type\":\"t\",\"i\":999}");
    assert_true(run_until(t, subscribed, "g:r", 3000));
    assert_true(run_until(t, subscribed, pchan(t, pc), 3000));
    assert_true(run_until(t, zcard_is, (const char *[]){"r", "1"}, 3000));
    /* nothing more was published: the next message is the next one seen */
    send_n(t, "r", 5000, 1);
    w.want = 1001;
    assert_true(run_until(t, sub_got, &w, 3000));
    assert_int_equal(w.n, 1001);
    assert_string_equal(w.last, "|{\"type\":\"t\",\"i\":5000}");
    s = stats(t);
    assert_int_equal(s.published, 1001);
    assert_int_equal(s.buffered, 0);
    assert_int_equal(s.reconnects, 2);
    assert_true(s.down_ms > 0);
    assert_int_equal(t->got[0], 1501);
    redisFree(w.s);
}

/* A layer made while Redis is down starts degraded, delivers locally,
 * and joins in once Redis comes up. */
static void live_starts_before_redis(void **state)
{
    live *t = *state;
    sub_watch w = {.want = 1};

    stop_redis(t);
    make_layer(t);
    assert_true(run_until(t, state_prefix, "degraded: redis at 127.0.0.1", 3000));
    assert_non_null(strstr(ch_layer_state(t->l), "unreachable"));
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "early"), 0);
    send_n(t, "early", 0, 1);
    assert_int_equal(t->got[0], 1);
    start_redis(t);
    w.s = watch(t, "g:early");
    assert_true(run_until(t, state_prefix, "ok", 10000));
    assert_true(run_until(t, sub_got, &w, 3000));
    assert_true(run_until(t, subscribed, "g:early", 3000));
    assert_int_equal(stats(t).reconnects, 0);
    redisFree(w.s);
}

/* A stalled server (SIGSTOP): publishes pile up to the pending limit, then
 * wait in the bounded buffer, then are dropped; SIGCONT drains it all. */
static void live_stalled_redis_is_bounded(void **state)
{
    live *t = live_up(state);
    static char big[70000];
    ch_layer_redis_stats s;
    ch_msg *m;

    memset(big, 'x', sizeof big);
    memcpy(big, "{\"type\":\"t\",\"pad\":\"", 19);
    big[sizeof big - 3] = '"';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = '\0';
    m = mk(big);
    assert_int_equal(ch_layer_group_add(t->l, &t->ep[0], "s"), 0);
    assert_true(run_until(t, subscribed, "g:s", 3000));
    kill(t->pid, SIGSTOP);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ch_layer_group_send(t->l, "s", m), 0);
        run_until(t, state_prefix, "never", 1);
    }
    s = stats(t);
    assert_true(state_prefix(t, "degraded: redis at 127.0.0.1:"));
    assert_non_null(strstr(ch_layer_state(t->l), "not keeping up"));
    assert_true(s.published >= 4 * MIB / sizeof big);
    assert_true(s.published <= 4 * MIB / sizeof big + 2);
    assert_true(s.buffered_bytes <= MIB && s.buffered > 0);
    assert_int_equal(s.published + s.buffered + s.dropped, 200);
    assert_int_equal(t->got[0], 200);
    kill(t->pid, SIGCONT);
    assert_true(run_until(t, state_prefix, "ok", 5000));
    s = stats(t);
    assert_int_equal(s.buffered, 0);
    assert_int_equal(s.published + s.dropped, 200);
    ch_msg_unref(m);
}

#define LIVE(f) cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(payload_group_round_trip),
        cmocka_unit_test(payload_direct_round_trip),
        cmocka_unit_test(payload_malformed_refused),
        cmocka_unit_test(publish_command_matches_hiredis),
        cmocka_unit_test(url_parse_accepts),
        cmocka_unit_test(url_parse_refuses),
        cmocka_unit_test(channel_process_ids),
        LIVE(live_subscriptions_follow_local_groups),
        LIVE(live_memberships_in_redis),
        LIVE(live_delivery_from_redis),
        LIVE(live_publishes_reach_redis),
        LIVE(live_restart_buffers_and_resubscribes),
        LIVE(live_starts_before_redis),
        LIVE(live_stalled_redis_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
