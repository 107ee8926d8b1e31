/*
 * test_layer_redis_shards.c -- the sharded Redis backend
 * (host/layer/layer_redis_shards.c) without servers: a layer on two
 * urls where nothing listens is created degraded, names each shard in
 * its state, delivers locally, buffers a group send on the group's shard
 * only, and sums its shards' counters; a bad url in the list is refused
 * with its position.  The same for the channels_redis format on two
 * urls, whose group send waits as one read of the group on its shard
 * (freed with the layer).  Owns its loop and layers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "layer.h"

#define TWO "redis://127.0.0.1:1 redis://127.0.0.1:2/0"
#define TWO_CR "channels_redis://127.0.0.1:1/0 channels_redis://127.0.0.1:2/0?prefix=asgi"

static size_t delivered;

static void on_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    (void)ep;
    (void)msg;
    (void)arg;
    delivered++;
}

static void degraded_state_names_each_shard(void **state)
{
    char err[256];
    uv_loop_t loop;
    ch_layer *l;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    l = ch_layer_new(&loop, TWO, NULL, on_deliver, NULL, err, sizeof err);
    assert_non_null(l);
    assert_string_equal(ch_layer_backend_name(l), "redis");
    assert_string_equal(ch_layer_state(l), "degraded: shard 1 of 2: connecting to redis at "
                                           "127.0.0.1:1; shard 2 of 2: connecting to redis at "
                                           "127.0.0.1:2");
    ch_layer_free(l);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void group_send_buffered_on_one_shard(void **state)
{
    ch_layer_redis_stats st;
    ch_endpoint ep;
    char err[256];
    uv_loop_t loop;
    ch_layer *l;
    ch_msg *msg = ch_msg_from_text("{\"type\":\"x\"}", 12, NULL);

    (void)state;
    assert_non_null(msg);
    assert_int_equal(uv_loop_init(&loop), 0);
    l = ch_layer_new(&loop, TWO, NULL, on_deliver, NULL, err, sizeof err);
    assert_non_null(l);
    memset(&ep, 0, sizeof ep);
    assert_int_equal(ch_layer_attach(l, &ep), 0);
    assert_int_equal(ch_layer_group_add(l, &ep, "room_1"), 0);
    assert_int_equal(ch_layer_group_add(l, &ep, "room_8"), 0);
    delivered = 0;
    assert_int_equal(ch_layer_group_send(l, "room_1", msg), 0);
    assert_int_equal(ch_layer_group_send(l, "room_8", msg), 0);
    assert_int_equal(delivered, 2);
    assert_int_equal(ch_layer_group_size_global(l, "room_8"), 1);
    assert_int_equal(ch_layer_redis_stats_get(l, &st), 0);
    assert_int_equal(st.buffered, 2); /* one on each shard, summed */
    assert_int_equal(st.published, 0);
    assert_int_equal(st.latency_us, -1);
    ch_layer_detach(l, &ep);
    ch_layer_free(l);
    ch_msg_unref(msg);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void bad_url_in_list_refused(void **state)
{
    char err[256];
    uv_loop_t loop;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_null(ch_layer_new(&loop, "redis://a redis-sentinel://s", NULL, on_deliver, NULL, err,
                             sizeof err));
    assert_non_null(strstr(err, "redis url 2: bad redis url: missing or bad master name"));
    assert_int_equal(ch_layer_redis_url_check(TWO, err, sizeof err), 0);
    assert_int_equal(ch_layer_redis_url_check("redis://a  redis://b:0", err, sizeof err), -EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void channels_redis_sharded_without_servers(void **state)
{
    ch_layer_redis_stats st;
    ch_endpoint ep;
    char err[256];
    uv_loop_t loop;
    ch_layer *l;
    ch_msg *msg = ch_msg_from_text("{\"type\":\"x\"}", 12, NULL);

    (void)state;
    assert_non_null(msg);
    assert_int_equal(uv_loop_init(&loop), 0);
    l = ch_layer_new(&loop, TWO_CR, NULL, on_deliver, NULL, err, sizeof err);
    assert_non_null(l);
    assert_string_equal(ch_layer_backend_name(l), "channels_redis");
    assert_string_equal(ch_layer_state(l), "degraded: shard 1 of 2: connecting to redis at "
                                           "127.0.0.1:1; shard 2 of 2: connecting to redis at "
                                           "127.0.0.1:2");
    memset(&ep, 0, sizeof ep);
    assert_int_equal(ch_layer_attach(l, &ep), 0);
    assert_memory_equal(CH_LAYER_CHANNEL_NAME(l, &ep), "specific.", 9);
    assert_int_equal(ch_layer_group_add(l, &ep, "room_1"), 0);
    delivered = 0;
    /* local delivery at once; the group's read waits on its shard only */
    assert_int_equal(ch_layer_group_send(l, "room_1", msg), 0);
    assert_int_equal(delivered, 1);
    assert_int_equal(ch_layer_redis_stats_get(l, &st), 0);
    assert_int_equal(st.buffered, 1);
    /* a channel of another process: one send, on its inbox's shard */
    assert_int_equal(ch_layer_send(l, "specific.0123456789abcdef0123456789abcdef!1", msg), 0);
    /* a normal channel: one send, on one shard in turn */
    assert_int_equal(ch_layer_send(l, "thumbnails", msg), 0);
    assert_int_equal(ch_layer_send(l, "thumbnails", msg), 0);
    assert_int_equal(ch_layer_redis_stats_get(l, &st), 0);
    assert_int_equal(st.buffered, 4);
    assert_int_equal(delivered, 1);
    ch_layer_detach(l, &ep);
    ch_layer_free(l); /* frees the waiting read's state (ASan checks) */
    ch_msg_unref(msg);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(degraded_state_names_each_shard),
        cmocka_unit_test(group_send_buffered_on_one_shard),
        cmocka_unit_test(bad_url_in_list_refused),
        cmocka_unit_test(channels_redis_sharded_without_servers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
