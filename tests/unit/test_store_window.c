/*
 * test_store_window.c -- the commit window's rule (host/store/store_queue.c,
 * ch_st_window_*), driven with made-up times: an idle store's lone call
 * and a caller that waits for each answer never wait; overlapping calls
 * arm the windows; a batch waits until the window has passed since its
 * first call or until it holds enough calls; a window that catches nothing disarms;
 * a batch that forms while a transaction runs, and reads, start no
 * window; a zero window never waits.  It owns nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_impl.h"

#define MS 1000000ull  /* ns */
#define T0 (1000 * MS) /* an arbitrary start */
#define BATCH_MAX 4    /* store_batch_max */

/* One batch on w, as the engines run it: taken, then done. */
static void run_batch(ch_st_window *w)
{
    ch_st_window_taken(w);
    ch_st_window_done(w);
}

/* Arm w with two overlapping calls at t, t + 1 ms (the second arrives
 * while the first's transaction runs: neither waits); both run. */
static void arm(ch_st_window *w, uint64_t t)
{
    assert_int_equal(ch_st_window_arrive(w, 0, 1, t, BATCH_MAX), 0);
    assert_int_equal(w->end_ns, 0);
    ch_st_window_taken(w);
    assert_int_equal(ch_st_window_arrive(w, 0, 1, t + MS, BATCH_MAX), 0);
    assert_true(w->armed);
    assert_int_equal(w->end_ns, 0); /* batched by the running transaction */
    ch_st_window_done(w);
    run_batch(w);
    assert_true(w->armed);
}

static void test_lone_and_sequential_calls_never_wait(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20);
    for (uint64_t i = 0; i < 10; i++) {
        assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + i * MS, BATCH_MAX), 0);
        assert_int_equal(w.end_ns, 0);
        run_batch(&w);
    }
    assert_false(w.armed);
}

static void test_overlap_arms_and_a_full_batch_ends_the_window(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20);
    arm(&w, T0);
    assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, BATCH_MAX), 0);
    assert_int_equal(w.end_ns, T0 + 2 * MS + 20 * MS);
    assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 3 * MS, BATCH_MAX), 0);
    assert_int_equal(ch_st_window_arrive(&w, 1, 0, T0 + 4 * MS, BATCH_MAX), 0);
    assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 5 * MS, BATCH_MAX), 1); /* full */
    run_batch(&w);
    assert_true(w.armed); /* a window that caught calls stays armed */
    assert_int_equal(w.end_ns, 0);
}

/* With a large store_batch_max, a waiting batch's window ends at
 * CH_ST_WINDOW_ENOUGH calls: a high rate is never held for the whole
 * window. */
static void test_enough_calls_end_the_window(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20);
    arm(&w, T0);
    assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, 256), 0);
    assert_int_not_equal(w.end_ns, 0);
    for (uint32_t i = 2; i < CH_ST_WINDOW_ENOUGH; i++)
        assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 2 * MS + i * 1000, 256), 0);
    assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 3 * MS, 256), 1); /* the last */
    assert_int_equal(ch_st_window_cap(256), CH_ST_WINDOW_ENOUGH);
    assert_int_equal(ch_st_window_cap(BATCH_MAX), BATCH_MAX);
    run_batch(&w);
    assert_true(w.armed);
}

static void test_an_empty_window_disarms(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20);
    arm(&w, T0);
    ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, BATCH_MAX);
    assert_int_not_equal(w.end_ns, 0);
    run_batch(&w); /* the window passed with its first call alone */
    assert_false(w.armed);
    assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + 30 * MS, BATCH_MAX), 0);
    assert_int_equal(w.end_ns, 0);
}

static void test_running_idle_gap_reads_and_zero_never_wait(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20);
    arm(&w, T0);
    ch_st_window_taken(&w); /* a transaction runs: what arrives waits for it only */
    ch_st_window_arrive(&w, 0, 1, T0 + 3 * MS, BATCH_MAX);
    assert_int_equal(w.end_ns, 0);
    ch_st_window_done(&w);
    run_batch(&w);
    ch_st_window_arrive(&w, 0, 0, T0 + 4 * MS, BATCH_MAX); /* a read starts no window */
    assert_int_equal(w.end_ns, 0);
    run_batch(&w);
    ch_st_window_arrive(&w, 0, 1, T0 + 100 * MS,
                        BATCH_MAX); /* nothing for longer than the window */
    assert_int_equal(w.end_ns, 0);
    run_batch(&w);
    ch_st_window_init(&w, 0);
    arm(&w, T0);
    ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, BATCH_MAX);
    assert_int_equal(w.end_ns, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_and_sequential_calls_never_wait),
        cmocka_unit_test(test_overlap_arms_and_a_full_batch_ends_the_window),
        cmocka_unit_test(test_enough_calls_end_the_window),
        cmocka_unit_test(test_an_empty_window_disarms),
        cmocka_unit_test(test_running_idle_gap_reads_and_zero_never_wait),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
