/*
 * test_layer_redis_live.c -- unit tests of the Redis channel-layer
 * backend (host/layer/layer_redis*.c) against a real redis-server that each
 * test starts on a free loopback port (layer_redis_fixture.h): the
 * subscriptions that follow local groups, the memberships kept in Redis
 * and the cross-process group size, delivery of what arrives from Redis,
 * and what the layer publishes.  A missing redis-server fails the test.
 */
#include "layer_redis_fixture.h"

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
    r = cmd(t, "ZSCORE chanhost:m:room %s", CH_LAYER_CHANNEL_NAME(t->l, &t->ep[0]));
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    score = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    assert_true(score > now + 25000 && score <= now + 31000);
    pttl = cmd_int(t, "PTTL chanhost:m:room", NULL, NULL);
    assert_true(pttl > 50000 && pttl <= 60000);
    assert_int_equal(ch_layer_group_discard(t->l, &t->ep[0], "room"), 0);
    assert_true(run_until(t, zcard_is, (const char *[]){"room", "1"}, 3000));
    /* another process's live member and a dead one's expired member */
    freeReplyObject(cmd(t,
                        "ZADD chanhost:m:room %lld chanhost." OTHER_HEX "!1 %lld "
                        "chanhost." OTHER_HEX "!2",
                        now + 60000, now - 1000));
    /* drop the publisher (subscribers are TYPE pubsub): it reconnects and
     * re-adds, trims and counts at once */
    freeReplyObject(
        cmd(t, "CLIENT KILL TYPE normal skipme yes" /* keywords are case-insensitive */));
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
    publish_raw(t, pc, other, CH_LAYER_CHANNEL_NAME(t->l, &t->ep[2]), "{\"type\":\"t\",\"n\":2}");
    publish_raw(t, "g:g1", other, NULL, "{\"type\":\"t\",\"n\":3}");
    assert_true(run_until(t, got_at_least, (size_t[]){1, 2}, 3000));
    assert_true(run_until(t, got_at_least, (size_t[]){2, 1}, 3000));
    assert_int_equal(t->got[0], 2);
    assert_string_equal(t->last[0], "{\"type\":\"t\",\"n\":3}");
    assert_string_equal(t->last[2], "{\"type\":\"t\",\"n\":2}");
    assert_int_equal(t->got[3], 0);
    assert_int_equal(stats(t).delivered, 5);
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
    assert_int_equal(t->got[0], 1); /* local, synchronous */
    assert_true(run_until(t, sub_got, &g, 3000));
    assert_string_equal(g.last, "|{\"type\":\"t\",\"v\":1}");
    assert_int_equal(ch_layer_send(t->l, "chanhost." OTHER_HEX "!9", m), 0);
    assert_true(run_until(t, sub_got, &d, 3000));
    assert_string_equal(d.last, "chanhost." OTHER_HEX "!9|{\"type\":\"t\",\"v\":1}");
    assert_int_equal(ch_layer_send(t->l, CH_LAYER_CHANNEL_NAME(t->l, &t->ep[1]), m), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        LIVE(live_subscriptions_follow_local_groups),
        LIVE(live_memberships_in_redis),
        LIVE(live_delivery_from_redis),
        LIVE(live_publishes_reach_redis),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
