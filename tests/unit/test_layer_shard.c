/*
 * test_layer_shard.c -- the consistent hash of the sharded Redis layer
 * (host/layer/layer_shard.c) against values computed by channels_redis
 * itself.  Owns nothing beyond its tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "layer_shard.h"

/* Obtained with Debian's python3-channels-redis (4.0.0):
 *   /usr/bin/python3 -c 'from channels_redis.core import RedisChannelLayer
 *   for n in NAMES: print(n, [RedisChannelLayer(hosts=["redis://h:%d" % i
 *       for i in range(1, s + 1)]).consistent_hash(n)
 *       for s in (1, 2, 3, 5, 7, 16, 200)])'
 * (200 servers is past the ring size where integer arithmetic would
 * diverge from Python's doubles.) */
static const int RINGS[] = {1, 2, 3, 5, 7, 16, 200};
#define NRINGS (sizeof RINGS / sizeof RINGS[0])

static const struct {
    const char *name;
    int shard[NRINGS];
} CASES[] = {
    {"room_1", {0, 0, 0, 1, 1, 3, 43}},
    {"room_4", {0, 0, 1, 2, 3, 7, 99}},
    {"chat.lobby", {0, 0, 1, 1, 2, 6, 75}},
    {"a", {0, 1, 2, 4, 6, 14, 178}},
    {"chanhost.0123456789abcdef0123456789abcdef!", {0, 1, 2, 4, 5, 13, 168}},
    {"specific.3f2a9c!", {0, 0, 1, 2, 3, 7, 96}},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
     {0, 0, 0, 0, 0, 1, 14}},
    {"grp-Z_9.q", {0, 0, 1, 2, 3, 6, 86}},
};

static void matches_channels_redis(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        for (size_t r = 0; r < NRINGS; r++) {
            int got = ch_layer_shard(CASES[i].name, strlen(CASES[i].name), RINGS[r]);

            if (got != CASES[i].shard[r])
                fail_msg("%s over %d servers: %d, channels_redis says %d", CASES[i].name, RINGS[r],
                         got, CASES[i].shard[r]);
        }
}

/* Only len bytes count; one server or none is always shard 0. */
static void length_and_small_rings(void **state)
{
    (void)state;
    assert_int_equal(ch_layer_shard("a-and-more", 1, 200), 178);
    assert_int_equal(ch_layer_shard("a", 1, 1), 0);
    assert_int_equal(ch_layer_shard("a", 1, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_channels_redis),
        cmocka_unit_test(length_and_small_rings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
