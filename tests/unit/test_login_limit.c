/*
 * test_login_limit.c -- the table of password failures (auth/login_limit.h):
 * free failures, doubling delays and their cap, attempts in flight, reset
 * on success (an account) or not (a client address), forgetting after a
 * quiet time, and the bounded table's eviction.  Time is given, never
 * waited for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "login_limit.h"

#define S 1000ull
static const ch_login_rule account = {5, 1 * S, 15 * 60 * S, 100, 1};

/* One whole attempt of key at now that fails (or succeeds): the wait
 * begin answered (0: it ran). */
static uint64_t attempt(ch_login_limit *l, const char *key, const ch_login_rule *r, int ok,
                        uint64_t now)
{
    uint64_t wait = ch_login_limit_begin(l, key, r, now);

    if (wait == 0)
        ch_login_limit_end(l, key, r, ok, now);
    return wait;
}

static void free_failures_then_doubling_delays(void **state)
{
    ch_login_limit *l = ch_login_limit_new();
    uint64_t t = 1000 * S;

    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(attempt(l, "u:bob", &account, 0, t), 0);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 0);
    assert_int_equal(attempt(l, "u:bob", &account, 0, t), 0);              /* the 6th runs ... */
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 1 * S); /* ... and locks */
    assert_int_equal(attempt(l, "u:bob", &account, 0, t + 400), 600); /* refused, not counted */
    assert_int_equal(attempt(l, "u:bob", &account, 0, t + 1 * S), 0);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t + 1 * S), 2 * S);
    t += 3 * S;
    assert_int_equal(attempt(l, "u:bob", &account, 0, t), 0);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 4 * S);
    /* another key is not touched */
    assert_int_equal(ch_login_limit_wait(l, "u:alice", &account, t), 0);
    ch_login_limit_free(l);
}

static void delay_is_capped(void **state)
{
    ch_login_limit *l = ch_login_limit_new();
    uint64_t t = 0, wait = 0;

    (void)state;
    for (int i = 0; i < 80; i++) { /* 2^75 s would overflow */
        t += wait;
        assert_int_equal(attempt(l, "u:bob", &account, 0, t), 0);
        wait = ch_login_limit_wait(l, "u:bob", &account, t);
        assert_true(wait <= 15 * 60 * S);
    }
    assert_int_equal(wait, 15 * 60 * S);
    ch_login_limit_free(l);
}

static void attempts_in_flight_count(void **state)
{
    ch_login_limit *l = ch_login_limit_new();
    int ran = 0;

    (void)state;
    for (int i = 0; i < 60; i++) /* sent at once: none has failed yet */
        ran += ch_login_limit_begin(l, "u:bob", &account, 5 * S) == 0;
    assert_int_equal(ran, 6);
    for (int i = 0; i < ran; i++)
        ch_login_limit_end(l, "u:bob", &account, 0, 5 * S + 300);
    assert_true(ch_login_limit_wait(l, "u:bob", &account, 5 * S + 300) >= 1 * S);
    ch_login_limit_free(l);
}

static void success_resets_an_account_not_an_address(void **state)
{
    ch_login_rule address = account;
    ch_login_limit *l = ch_login_limit_new();

    (void)state;
    address.free = 3;
    address.reset_on_success = 0;
    for (int i = 0; i < 4; i++) {
        attempt(l, "u:bob", &account, 0, 0);
        attempt(l, "ip:10.0.0.1", &address, 0, 0);
    }
    assert_int_equal(attempt(l, "u:bob", &account, 1, 0), 0);
    assert_int_equal(ch_login_limit_size(l), 1); /* bob's entry is gone */
    for (int i = 0; i < 5; i++)                  /* five free failures again */
        assert_int_equal(attempt(l, "u:bob", &account, 0, 0), 0);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, 0), 0);
    /* the address: its 4th failure locked it; a success behind it later
     * does not forgive the others' failures */
    assert_int_equal(ch_login_limit_wait(l, "ip:10.0.0.1", &address, 0), 1 * S);
    assert_int_equal(attempt(l, "ip:10.0.0.1", &address, 1, 1 * S), 0);
    assert_int_equal(attempt(l, "ip:10.0.0.1", &address, 0, 1 * S), 0);
    assert_int_equal(ch_login_limit_wait(l, "ip:10.0.0.1", &address, 1 * S), 2 * S);
    ch_login_limit_free(l);
}

static void quiet_keys_are_forgotten(void **state)
{
    ch_login_limit *l = ch_login_limit_new();
    uint64_t t = 0;

    (void)state;
    for (int i = 0; i < 6; i++)
        attempt(l, "u:bob", &account, 0, t);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 1 * S);
    t += 15 * 60 * S - 1; /* not yet quiet for the window */
    assert_int_equal(attempt(l, "u:bob", &account, 0, t), 0);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 2 * S);
    t += 2 * S + 15 * 60 * S; /* quiet long enough: afresh */
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 0);
    assert_int_equal(ch_login_limit_size(l), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(attempt(l, "u:bob", &account, 0, t), 0);
    assert_int_equal(ch_login_limit_wait(l, "u:bob", &account, t), 0);
    ch_login_limit_free(l);
}

static void table_is_bounded_oldest_evicted(void **state)
{
    ch_login_rule small = account;
    ch_login_limit *l = ch_login_limit_new();
    char key[32];

    (void)state;
    small.max_entries = 3;
    for (int i = 0; i < 6; i++)
        attempt(l, "u:old", &small, 0, 0); /* locked */
    attempt(l, "u:a", &small, 0, 1);
    attempt(l, "u:b", &small, 0, 2);
    attempt(l, "u:old", &small, 0, 3); /* refused: not touched */
    assert_int_equal(ch_login_limit_size(l), 3);
    attempt(l, "u:c", &small, 0, 4); /* evicts the oldest: u:old */
    assert_int_equal(ch_login_limit_size(l), 3);
    assert_int_equal(ch_login_limit_wait(l, "u:old", &small, 5), 0);
    for (int i = 0; i < 1000; i++) { /* made-up names */
        snprintf(key, sizeof key, "u:x%d", i);
        attempt(l, key, &small, 0, 10);
        assert_true(ch_login_limit_size(l) <= 3);
    }
    /* an evicted key's attempt in flight is settled harmlessly */
    assert_int_equal(ch_login_limit_begin(l, "u:p", &small, 20), 0);
    for (int i = 0; i < 3; i++)
        attempt(l, i == 0 ? "u:q" : i == 1 ? "u:r" : "u:s", &small, 0, 21);
    ch_login_limit_end(l, "u:p", &small, 0, 22);
    assert_int_equal(ch_login_limit_size(l), 3);
    ch_login_limit_free(l);
}

static void rule_off_counts_nothing(void **state)
{
    ch_login_rule off = account;
    ch_login_limit *l = ch_login_limit_new();

    (void)state;
    off.free = 0;
    for (int i = 0; i < 100; i++)
        assert_int_equal(attempt(l, "u:bob", &off, 0, 0), 0);
    assert_int_equal(ch_login_limit_size(l), 0);
    ch_login_limit_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(free_failures_then_doubling_delays),
        cmocka_unit_test(delay_is_capped),
        cmocka_unit_test(attempts_in_flight_count),
        cmocka_unit_test(success_resets_an_account_not_an_address),
        cmocka_unit_test(quiet_keys_are_forgotten),
        cmocka_unit_test(table_is_bounded_oldest_evicted),
        cmocka_unit_test(rule_off_counts_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
