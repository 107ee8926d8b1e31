/*
 * test_store_window.c -- the commit window's rule (host/store/store_queue.c,
 * ch_st_window_*), driven with made-up times: an idle store's lone call
 * and a caller that waits for each answer never wait; overlapping calls
 * arm the windows; a batch waits until the window has passed since its
 * first call or until it holds enough calls; a window that catches nothing disarms;
 * a batch that forms while a transaction runs waits a short window (4 ms)
 * or until it holds 64 calls, and none when the call before came longer
 * ago (or with no running window, PostgreSQL's); reads start no window;
 * a zero window never waits.  It owns
 * nothing.
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

/* Arm w with overlapping calls at t, t + 1 ms and t + 1.5 ms (the
 * second arrives while the first's transaction runs and starts the short
 * window of a batch formed meanwhile, which the third joins); all run. */
static void arm(ch_st_window *w, uint64_t t)
{
    assert_int_equal(ch_st_window_arrive(w, 0, 1, t, BATCH_MAX), 0);
    assert_int_equal(w->end_ns, 0);
    ch_st_window_taken(w);
    assert_int_equal(ch_st_window_arrive(w, 0, 1, t + MS, BATCH_MAX), 0);
    assert_true(w->armed);
    assert_int_equal(w->end_ns,
                     t + MS +
                         (CH_ST_WINDOW_RUN_MS * MS < w->delay_ns ? CH_ST_WINDOW_RUN_MS * MS
                                                                 : w->delay_ns));
    assert_int_equal(ch_st_window_arrive(w, 1, 1, t + MS + MS / 2, BATCH_MAX), 0);
    ch_st_window_done(w);
    run_batch(w);
    assert_true(w->armed);
    assert_int_equal(w->end_ns, 0);
}

/* Overlapping calls on a zero window (store_commit_delay 0): armed, and
 * no batch ever waits, not even one formed while a transaction runs. */
static void arm0(ch_st_window *w, uint64_t t)
{
    ch_st_window_arrive(w, 0, 1, t, BATCH_MAX);
    ch_st_window_taken(w);
    ch_st_window_arrive(w, 0, 1, t + MS, BATCH_MAX);
    assert_true(w->armed);
    assert_int_equal(w->end_ns, 0);
    ch_st_window_done(w);
    run_batch(w);
}

static void test_lone_and_sequential_calls_never_wait(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20, CH_ST_WINDOW_RUN_MS);
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
    ch_st_window_init(&w, 20, CH_ST_WINDOW_RUN_MS);
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
    ch_st_window_init(&w, 20, CH_ST_WINDOW_RUN_MS);
    arm(&w, T0);
    assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, 256), 0);
    assert_int_not_equal(w.end_ns, 0);
    for (uint32_t i = 2; i < CH_ST_WINDOW_ENOUGH; i++)
        assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 2 * MS + i * 1000, 256), 0);
    assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 3 * MS, 256), 1); /* the last */
    assert_int_equal(ch_st_window_cap(&w, 256), CH_ST_WINDOW_ENOUGH);
    assert_int_equal(ch_st_window_cap(&w, BATCH_MAX), BATCH_MAX);
    run_batch(&w);
    assert_true(w.armed);
}

static void test_an_empty_window_disarms(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20, CH_ST_WINDOW_RUN_MS);
    arm(&w, T0);
    ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, BATCH_MAX);
    assert_int_not_equal(w.end_ns, 0);
    run_batch(&w); /* the window passed with its first call alone */
    assert_false(w.armed);
    assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + 30 * MS, BATCH_MAX), 0);
    assert_int_equal(w.end_ns, 0);
}

/* A batch that starts while a transaction runs waits CH_ST_WINDOW_RUN_MS
 * (or the window, if shorter) after its first call, or until it holds
 * CH_ST_WINDOW_FULL calls; none when the call before came that long ago
 * or more. */
static void test_running_waits_briefly(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20, CH_ST_WINDOW_RUN_MS);
    arm(&w, T0);
    ch_st_window_taken(&w); /* a transaction runs */
    assert_int_equal(ch_st_window_arrive(&w, 0, 1, T0 + 3 * MS, 256), 0);
    assert_int_equal(w.end_ns, T0 + 3 * MS + CH_ST_WINDOW_RUN_MS * MS);
    assert_int_equal(ch_st_window_cap(&w, 256), CH_ST_WINDOW_FULL);
    for (uint32_t i = 2; i < CH_ST_WINDOW_FULL; i++)
        assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 3 * MS + i * 10000, 256), 0);
    assert_int_equal(ch_st_window_arrive(&w, 1, 1, T0 + 4 * MS, 256), 1); /* full */
    assert_int_equal(ch_st_window_cap(&w, BATCH_MAX), BATCH_MAX);
    ch_st_window_done(&w);
    run_batch(&w);
    assert_true(w.armed);

    ch_st_window_taken(&w); /* a running window that catches its first call alone */
    ch_st_window_arrive(&w, 0, 1, T0 + 5 * MS, 256);
    assert_int_not_equal(w.end_ns, 0);
    ch_st_window_done(&w);
    run_batch(&w);
    assert_true(w.armed); /* stays armed, unlike an idle window */

    ch_st_window_taken(&w); /* running again, the call before 5 ms ago */
    ch_st_window_arrive(&w, 0, 1, T0 + 10 * MS, 256);
    assert_int_equal(w.end_ns, 0);
    ch_st_window_done(&w);
    run_batch(&w);

    ch_st_window_init(&w, 2, CH_ST_WINDOW_RUN_MS); /* a window shorter than the running one */
    arm(&w, T0);
    ch_st_window_taken(&w);
    ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, 256);
    assert_int_equal(w.end_ns, T0 + 4 * MS);
}

static void test_idle_gap_reads_and_zero_never_wait(void **state)
{
    ch_st_window w;

    (void)state;
    ch_st_window_init(&w, 20, CH_ST_WINDOW_RUN_MS);
    arm(&w, T0);
    ch_st_window_arrive(&w, 0, 0, T0 + 4 * MS, BATCH_MAX); /* a read starts no window */
    assert_int_equal(w.end_ns, 0);
    run_batch(&w);
    ch_st_window_arrive(&w, 0, 1, T0 + 100 * MS,
                        BATCH_MAX); /* nothing for longer than the window */
    assert_int_equal(w.end_ns, 0);
    run_batch(&w);
    ch_st_window_init(&w, 0, CH_ST_WINDOW_RUN_MS);
    arm0(&w, T0);
    ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, BATCH_MAX);
    assert_int_equal(w.end_ns, 0);
    ch_st_window_init(&w, 20, 0); /* PostgreSQL's: no running window */
    arm0(&w, T0);
    ch_st_window_taken(&w);
    ch_st_window_arrive(&w, 0, 1, T0 + 2 * MS, BATCH_MAX);
    assert_int_equal(w.end_ns, 0);
    ch_st_window_done(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_and_sequential_calls_never_wait),
        cmocka_unit_test(test_overlap_arms_and_a_full_batch_ends_the_window),
        cmocka_unit_test(test_enough_calls_end_the_window),
        cmocka_unit_test(test_an_empty_window_disarms),
        cmocka_unit_test(test_running_waits_briefly),
        cmocka_unit_test(test_idle_gap_reads_and_zero_never_wait),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
