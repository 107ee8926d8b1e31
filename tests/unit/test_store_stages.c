/*
 * test_store_stages.c -- the store's latency histograms per stage
 * (host/store/store_stages.c), fed made-up stamps: each stage's value
 * lands in the first bucket whose bound it does not exceed (a bound is
 * inclusive), past the last bound only in the count; sums are in
 * microseconds; a request without all three stamps is not counted; the
 * JSON carries counts, sums, per-bucket (not cumulative) counts and the
 * bounds.  It owns nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_impl.h"

#define US 1000ull /* ns */

/* A request queued at 1 s, taken q us later, committed t us after that. */
static ch_store_req stamped(uint64_t q, uint64_t t)
{
    ch_store_req r = {0};

    r.t_queued_ns = 1000000 * US;
    r.t_start_ns = r.t_queued_ns + q * US;
    r.t_commit_ns = r.t_start_ns + t * US;
    return r;
}

/* The bucket index of bound_us (which must be one of the bounds). */
static int bucket_of(uint32_t bound_us)
{
    for (int b = 0; b < CH_ST_STAGE_BUCKETS; b++)
        if (ch_st_stage_bounds_us[b] == bound_us)
            return b;
    fail_msg("no bound %u", bound_us);
    return -1;
}

static void test_buckets_and_sums(void **state)
{
    ch_st_stages st = {0};
    ch_store_req a = stamped(100, 2600), b = stamped(101, 5000 * 1000);

    (void)state;
    /* a: queue 100 us (on the bound), transaction 2.6 ms, handoff 0.05 ms,
     * callback 7 us; b: queue just past 100 us, a transaction past the
     * last bound (5 s), handoff 1 ms, callback 0 */
    ch_st_stages_add(&st, &a, a.t_commit_ns + 50 * US, 7 * US);
    ch_st_stages_add(&st, &b, b.t_commit_ns + 1000 * US, 0);
    assert_int_equal(st.bucket[0][bucket_of(100)], 1);
    assert_int_equal(st.bucket[0][bucket_of(250)], 1);
    assert_int_equal(st.bucket[1][bucket_of(5000)], 1);
    assert_int_equal(st.bucket[2][bucket_of(50)], 1);
    assert_int_equal(st.bucket[2][bucket_of(1000)], 1);
    assert_int_equal(st.bucket[3][bucket_of(50)], 2);
    for (int i = 0; i < CH_ST_STAGES; i++)
        assert_int_equal(st.count[i], 2);
    uint64_t in_buckets = 0;
    for (int k = 0; k < CH_ST_STAGE_BUCKETS; k++)
        in_buckets += st.bucket[1][k];
    assert_int_equal(in_buckets, 1); /* the 5 s transaction: only in the count */
    assert_int_equal(st.sum_us[0], 201);
    assert_int_equal(st.sum_us[1], 2600 + 5000 * 1000);
    assert_int_equal(st.sum_us[2], 1050);
    assert_int_equal(st.sum_us[3], 7);
}

static void test_unstamped_not_counted(void **state)
{
    ch_st_stages st = {0};
    ch_store_req r = stamped(10, 10);

    (void)state;
    r.t_commit_ns = 0; /* never committed by an engine that stamps */
    ch_st_stages_add(&st, &r, r.t_start_ns + 10 * US, 0);
    r = stamped(10, 10);
    r.t_start_ns = 0;
    ch_st_stages_add(&st, &r, r.t_commit_ns + 10 * US, 0);
    for (int i = 0; i < CH_ST_STAGES; i++)
        assert_int_equal(st.count[i], 0);
}

static void test_json(void **state)
{
    ch_st_stages st = {0};
    ch_store_req r = stamped(30, 40);
    json_t *j, *q;

    (void)state;
    ch_st_stages_add(&st, &r, r.t_commit_ns + 20000 * US, 3 * US);
    j = ch_st_stages_json(&st);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), CH_ST_STAGES);
    q = json_object_get(j, "handoff");
    assert_int_equal(json_integer_value(json_object_get(q, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(q, "sum_us")), 20000);
    assert_int_equal(json_array_size(json_object_get(q, "buckets")), CH_ST_STAGE_BUCKETS);
    assert_int_equal(json_integer_value(
                         json_array_get(json_object_get(q, "buckets"), (size_t)bucket_of(25000))),
                     1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(q, "le_us"), 0)),
                     ch_st_stage_bounds_us[0]);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_and_sums),
        cmocka_unit_test(test_unstamped_not_counted),
        cmocka_unit_test(test_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
