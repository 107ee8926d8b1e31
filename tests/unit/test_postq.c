/*
 * test_postq.c -- unit tests of host/runtime/postq.c, the bounded queue
 * behind api->loop_post: a full queue refuses (-EAGAIN) and accepts again
 * once drained; entries run in push order, on the loop thread, also when
 * other threads push; a purge takes one owner's entries out (handed to the
 * dropped function in order) and keeps the others' order; close drops
 * what waits, refuses later pushes (-EPIPE) and leaves no handle open.
 * Every wait is the loop running until the expected entries arrived, with
 * a 5 s deadline timer that fails the test.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "postq.h"

#define MAX_SEEN 512

typedef struct fixture {
    uv_loop_t loop;
    uv_timer_t deadline;
    ch_postq q;
    pthread_t loop_thread;
    size_t want; /* stop the deadline after this many runs */
    size_t n_seen;
    intptr_t seen[MAX_SEEN]; /* args, in the order run saw them */
    const void *owners[MAX_SEEN];
    int off_loop; /* run was called on another thread */
    int timed_out;
    size_t n_dropped;
    intptr_t dropped[MAX_SEEN];
} fixture;

/* The queue's run function: record the entry. */
static void record(const ch_post *e, void *ctx)
{
    fixture *f = ctx;

    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->off_loop = 1;
    assert_true(f->n_seen < MAX_SEEN);
    f->owners[f->n_seen] = e->owner;
    f->seen[f->n_seen++] = (intptr_t)e->arg;
    if (f->n_seen == f->want)
        uv_timer_stop(&f->deadline);
}

/* A dropped function: record the arg. */
static void record_drop(const ch_post *e, void *ctx)
{
    fixture *f = ctx;

    f->dropped[f->n_dropped++] = (intptr_t)e->arg;
}

static void on_deadline(uv_timer_t *t)
{
    fixture *f = t->data;

    f->timed_out = 1;
}

static void nothing(void *arg) { (void)arg; }

static int setup_cap(void **state, size_t cap)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(ch_postq_init(&f->q, &f->loop, cap, record, f), 0);
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
    f->loop_thread = pthread_self();
    *state = f;
    return 0;
}

static int setup4(void **state) { return setup_cap(state, 4); }
static int setup1k(void **state) { return setup_cap(state, 1000); }

static int teardown(void **state)
{
    fixture *f = *state;

    if (f->q.ring)
        ch_postq_close(&f->q, record_drop, f);
    uv_close((uv_handle_t *)&f->deadline, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    ch_postq_destroy(&f->q);
    free(f);
    return 0;
}

/* Run the loop until `want` entries ran in all (the deadline fails it). */
static void drain(fixture *f, size_t want)
{
    f->want = want;
    if (f->n_seen >= want)
        return;
    uv_timer_start(&f->deadline, on_deadline, 5000, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_false(f->timed_out);
    assert_int_equal(f->n_seen, want);
}

static int push(fixture *f, const void *owner, intptr_t arg)
{
    ch_post e = {(void *)owner, nothing, NULL, (void *)arg};

    return ch_postq_push(&f->q, &e);
}

static void full_queue_refuses_and_order_is_kept(void **state)
{
    fixture *f = *state;
    intptr_t i;

    for (i = 0; i < 4; i++)
        assert_int_equal(push(f, f, i), 0);
    assert_int_equal(push(f, f, 99), -EAGAIN);
    assert_int_equal(f->n_seen, 0); /* nothing runs before the loop does */
    drain(f, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(f->seen[i], i);
    assert_false(f->off_loop);
    /* drained: room again, and the ring wraps around in order */
    for (i = 4; i < 8; i++)
        assert_int_equal(push(f, f, i), 0);
    assert_int_equal(push(f, f, 99), -EAGAIN);
    drain(f, 8);
    for (i = 0; i < 8; i++)
        assert_int_equal(f->seen[i], i);
}

typedef struct pusher {
    fixture *f;
    int id, refused;
} pusher;

static void *push_many(void *arg)
{
    pusher *p = arg;
    intptr_t i;

    for (i = 0; i < 200; i++)
        if (push(p->f, p, p->id * 1000 + i) != 0)
            p->refused++;
    return NULL;
}

static void pushes_from_threads_run_on_the_loop_in_order(void **state)
{
    fixture *f = *state;
    pusher p[2] = {{f, 1, 0}, {f, 2, 0}};
    pthread_t t[2];
    intptr_t next[2] = {1000, 2000};
    size_t i;

    for (i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, push_many, &p[i]), 0);
    drain(f, 400);
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(p[0].refused + p[1].refused, 0);
    assert_false(f->off_loop);
    for (i = 0; i < f->n_seen; i++) {
        int who = f->owners[i] == &p[0] ? 0 : 1;

        assert_ptr_equal(f->owners[i], &p[who]);
        assert_int_equal(f->seen[i], next[who]++); /* each thread's order */
    }
    assert_int_equal(next[0], 1200);
    assert_int_equal(next[1], 2200);
}

static void purge_takes_one_owner_and_keeps_the_rest_in_order(void **state)
{
    fixture *f = *state;
    int a, b;

    assert_int_equal(push(f, &a, 1), 0);
    assert_int_equal(push(f, &b, 2), 0);
    assert_int_equal(push(f, &a, 3), 0);
    assert_int_equal(push(f, &b, 4), 0);
    assert_int_equal(ch_postq_purge(&f->q, &a, record_drop, f), 2);
    assert_int_equal(f->n_dropped, 2);
    assert_int_equal(f->dropped[0], 1);
    assert_int_equal(f->dropped[1], 3);
    assert_int_equal(ch_postq_purge(&f->q, &a, record_drop, f), 0);
    /* the purge made room: two more fit, and the order holds */
    assert_int_equal(push(f, &a, 5), 0);
    assert_int_equal(push(f, &b, 6), 0);
    assert_int_equal(push(f, &b, 7), -EAGAIN);
    drain(f, 4);
    assert_int_equal(f->seen[0], 2);
    assert_int_equal(f->seen[1], 4);
    assert_int_equal(f->seen[2], 5);
    assert_int_equal(f->seen[3], 6);
}

static void close_drops_waiting_entries_and_refuses_later_pushes(void **state)
{
    fixture *f = *state;

    assert_int_equal(push(f, f, 7), 0);
    assert_int_equal(push(f, f, 8), 0);
    ch_postq_close(&f->q, record_drop, f);
    assert_int_equal(f->n_dropped, 2);
    assert_int_equal(f->dropped[0], 7);
    assert_int_equal(f->dropped[1], 8);
    assert_int_equal(push(f, f, 9), -EPIPE);
    assert_null(f->q.ring);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* the async's close callback */
    assert_int_equal(f->n_seen, 0);  /* dropped entries never run */
    assert_int_equal(push(f, f, 10), -EPIPE);
}

static void bad_arguments_are_refused(void **state)
{
    ch_postq q;

    (void)state;
    assert_int_equal(ch_postq_init(&q, NULL, 0, record, NULL), -EINVAL);
    assert_int_equal(ch_postq_init(&q, NULL, 4, NULL, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_queue_refuses_and_order_is_kept, setup4, teardown),
        cmocka_unit_test_setup_teardown(pushes_from_threads_run_on_the_loop_in_order, setup1k,
                                        teardown),
        cmocka_unit_test_setup_teardown(purge_takes_one_owner_and_keeps_the_rest_in_order, setup4,
                                        teardown),
        cmocka_unit_test_setup_teardown(close_drops_waiting_entries_and_refuses_later_pushes,
                                        setup4, teardown),
        cmocka_unit_test(bad_arguments_are_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
