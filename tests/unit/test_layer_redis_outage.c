/*
 * test_layer_redis_outage.c -- unit tests of the Redis channel-layer
 * backend (host/layer/layer_redis*.c) when its redis-server (started by each
 * test on a free loopback port, layer_redis_fixture.h) goes away: the
 * outage buffer and resubscription after a restart, a layer made while
 * Redis is down, and a stalled server.  A missing redis-server fails the
 * test.
 */
#include "layer_redis_fixture.h"

#define MIB ((size_t)1 << 20)

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        LIVE(live_restart_buffers_and_resubscribes),
        LIVE(live_starts_before_redis),
        LIVE(live_stalled_redis_is_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
