/*
 * test_climit.c -- unit tests of host/core/climit.c (the per-user and
 * per-address connection limits) and of runtime/session.c's pure parts:
 * the handshake bucket (burst, refill, the wait it names), counts that
 * free idle entries, a token exp as a loop time, and the refresh
 * message's token.  The client address behind trusted proxies:
 * test_proxy.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "climit.h"
#include "session.h"

static void test_bucket_burst_and_refill(void **state)
{
    ch_vmap m = {0};
    ch_climit *e = ch_climit_get(&m, "i:10.0.0.1", 1000);
    uint64_t retry = 0;

    (void)state;
    assert_non_null(e);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ch_climit_take(e, 4, 1000, &retry), 0);
    assert_int_equal(ch_climit_take(e, 4, 1000, &retry), -EAGAIN);
    assert_true(retry > 200 && retry <= 250); /* one token: 250 ms at 4/s */
    assert_int_equal(ch_climit_take(e, 4, 1100, &retry), -EAGAIN);
    assert_int_equal(ch_climit_take(e, 4, 1250, &retry), 0);
    assert_int_equal(ch_climit_take(e, 0, 1250, &retry), 0); /* rate 0: no limit */
    /* not idle yet (bucket empty): forget keeps it */
    ch_climit_forget(&m, e, 4, 1250);
    assert_ptr_equal(ch_climit_find(&m, "i:10.0.0.1"), e);
    /* a second later the bucket is full again: forgotten */
    ch_climit_forget(&m, e, 4, 2300);
    assert_null(ch_climit_find(&m, "i:10.0.0.1"));
    ch_climit_free_all(&m);
}

static void test_counts_free_idle_entries(void **state)
{
    ch_vmap m = {0};
    ch_climit *e = ch_climit_get(&m, "u:7", 0);

    (void)state;
    e->conns += 2;
    assert_ptr_equal(ch_climit_get(&m, "u:7", 0), e);
    ch_climit_release(&m, e, 0, 0);
    assert_int_equal(e->conns, 1);
    assert_ptr_equal(ch_climit_find(&m, "u:7"), e);
    ch_climit_release(&m, e, 0, 0);
    assert_null(ch_climit_find(&m, "u:7"));
    ch_climit_release(&m, NULL, 0, 0);
    ch_climit_get(&m, "u:8", 0)->conns = 1; /* freed with the table */
    ch_climit_free_all(&m);
}

static void test_expiry_ms(void **state)
{
    (void)state;
    /* exp 100 s, wall 98.5 s, loop at 5000 ms: 1.5 s from now */
    assert_int_equal(ch_session_expiry_ms(100, 98500, 5000), 6500);
    assert_int_equal(ch_session_expiry_ms(100, 100000, 5000), 5000); /* now */
    assert_int_equal(ch_session_expiry_ms(100, 200000, 5000), 5000); /* past: now */
    assert_int_equal(ch_session_expiry_ms(-1, 200000, 5000), 5000);
}

static void test_refresh_token(void **state)
{
    int is;
    char *t;

    (void)state;
    t = ch_session_refresh_token("{\"type\": \"refresh\", \"token\": \"a.b.c\"}", 37, &is);
    assert_int_equal(is, 1);
    assert_string_equal(t, "a.b.c");
    free(t);
    assert_null(ch_session_refresh_token("{\"type\": \"refresh\"}", 19, &is));
    assert_int_equal(is, 1);
    assert_null(ch_session_refresh_token("{\"type\": \"refresh\", \"token\": 5}", 31, &is));
    assert_int_equal(is, 1);
    /* a chat message that mentions "refresh" is the plugin's */
    assert_null(
        ch_session_refresh_token("{\"type\": \"chat\", \"message\": \"refresh\"}", 38, &is));
    assert_int_equal(is, 0);
    assert_null(ch_session_refresh_token("\"refresh\" not json", 18, &is));
    assert_int_equal(is, 0);
    assert_null(ch_session_refresh_token("{\"type\": \"message\"}", 19, &is));
    assert_int_equal(is, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_and_refill),
        cmocka_unit_test(test_counts_free_idle_entries),
        cmocka_unit_test(test_expiry_ms),
        cmocka_unit_test(test_refresh_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
