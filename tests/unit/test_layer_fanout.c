/*
 * test_layer_fanout.c -- unit tests of host/layer/layer.c's group fan-out
 * over time and under re-entry: deliver callbacks that detach, discard,
 * add or refresh members, or send again (nested fan-out) mid-delivery,
 * and group expiry on the loop clock.  The fixture is layer_fixture.h.
 */
#include "layer_fixture.h"

/* ---- re-entrant callbacks ---------------------------------------------- */

static void callback_detaching_later_member_skips_it(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");

    attach_n(f, 10);
    join_n(f, 10, "g");
    f->act = ACT_DETACH_9;
    f->budget = 1;
    assert_int_equal(ch_layer_deliver_group(f->l, "g", m), 9); /* count reached */
    ch_msg_unref(m);
    assert_int_equal(f->c[9].got, 0);
    assert_int_equal(f->deliveries, 9);
    assert_int_equal(ch_layer_group_size(f->l, "g"), 9);
}

static void callback_discarding_later_member_skips_it(void **state)
{
    fx *f = *state;

    attach_n(f, 10);
    join_n(f, 10, "g");
    f->act = ACT_DISCARD_9;
    f->budget = 1;
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[9].got, 0);
    assert_true(f->c[9].ep.attached);
    assert_int_equal(f->deliveries, 9);
}

static void callback_detaching_everyone_frees_group_mid_fanout(void **state)
{
    fx *f = *state;

    attach_n(f, 10);
    join_n(f, 10, "g");
    f->act = ACT_DETACH_ALL;
    f->budget = 1;
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->deliveries, 1);
    assert_int_equal(ch_layer_group_count(f->l), 0);
}

static void callback_adding_member_not_delivered_this_round(void **state)
{
    fx *f = *state;

    attach_n(f, 6);
    join_n(f, 5, "g");
    f->act = ACT_ADD_5;
    f->budget = 1;
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[5].got, 0);
    assert_int_equal(f->deliveries, 5);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[5].got, 1);
}

static void callback_refreshing_itself_not_delivered_twice(void **state)
{
    fx *f = *state;

    attach_n(f, 3);
    join_n(f, 3, "g");
    f->act = ACT_REFRESH_SELF; /* moves itself to the tail */
    f->budget = 3;
    assert_int_equal(gsend(f, "g", "t"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->c[i].got, 1);
}

static void callback_group_send_nested_fanout_works(void **state)
{
    fx *f = *state;

    attach_n(f, 20);
    join_n(f, 20, "g");
    f->act = ACT_RESEND_G;
    f->budget = 1;
    assert_int_equal(gsend(f, "g", "a"), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(f->c[i].got, 2);
        assert_int_equal(f->c[i].got_b, 1);
    }
    f->act = ACT_NONE;
    assert_int_equal(gsend(f, "g", "a"), 0); /* scratch released after nesting */
    assert_int_equal(f->deliveries, 60);
}

static void nested_fanout_detach_seen_by_outer(void **state)
{
    fx *f = *state;

    attach_n(f, 10);
    join_n(f, 10, "g");
    join_n(f, 10, "h");
    f->act = ACT_RESEND_H_DETACH_7;
    f->budget = 1;
    assert_int_equal(gsend(f, "g", "a"), 0);
    assert_int_equal(f->c[7].got, 0); /* skipped by both fan-outs */
    for (int i = 0; i < 10; i++)
        if (i != 7)
            assert_int_equal(f->c[i].got, 2);
}

/* The outer fan-out goes over g = conns 0..9, the nested one over the
 * larger h = conns 10..99: the nested snapshot must not overwrite (or
 * reallocate) the outer one. */
static void nested_fanout_to_other_group_keeps_outer_snapshot(void **state)
{
    fx *f = *state;

    attach_n(f, 100);
    join_n(f, 10, "g");
    for (int i = 10; i < 100; i++)
        assert_int_equal(ch_layer_group_add(f->l, &f->c[i].ep, "h"), 0);
    f->act = ACT_RESEND_H;
    f->budget = 1;
    assert_int_equal(gsend(f, "g", "a"), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(f->c[i].got, 1);
        assert_int_equal(f->c[i].got_b, i >= 10);
    }
}

/* ---- group expiry ------------------------------------------------------ */

static void expiry_drops_old_member_at_send(void **state)
{
    fx *f = fx_new(1);

    (void)state;
    attach_n(f, 2);
    join_n(f, 2, "g");
    assert_int_equal(gsend(f, "g", "t"), 0); /* same clock tick: fresh */
    assert_int_equal(f->deliveries, 2);
    advance_ms(&f->loop, 5);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->deliveries, 2);
    assert_int_equal(ch_layer_group_count(f->l), 0);
    assert_null(f->c[0].ep.groups);
    fx_free(f);
}

/* Expiry 1000 ms: join at t0, refresh one member at about t0+500, then
 * wait past t0+1000.  The refreshed member stays, the other expires.  The
 * margins (500 ms each way) absorb a slow machine; if a wait overshoots
 * them anyway, the timing assertions say so. */
static void expiry_group_add_refreshes_time(void **state)
{
    fx *f = fx_new(1000);
    uint64_t t0, t1;

    (void)state;
    attach_n(f, 2);
    t0 = uv_now(&f->loop);
    join_n(f, 2, "g");
    advance_ms(&f->loop, 500);
    t1 = uv_now(&f->loop);
    assert_true(t1 - t0 < 1000);
    assert_int_equal(ch_layer_group_add(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(ch_layer_group_size(f->l, "g"), 2);
    advance_ms(&f->loop, 1000 - (t1 - t0));
    assert_true(uv_now(&f->loop) - t0 >= 1000);
    assert_true(uv_now(&f->loop) - t1 < 1000);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[0].got, 1);
    assert_int_equal(f->c[1].got, 0);
    assert_int_equal(ch_layer_group_size(f->l, "g"), 1);
    fx_free(f);
}

static void expiry_applies_at_group_add_of_another(void **state)
{
    fx *f = fx_new(1);

    (void)state;
    attach_n(f, 3);
    join_n(f, 2, "g");
    advance_ms(&f->loop, 5);
    assert_int_equal(ch_layer_group_add(f->l, &f->c[2].ep, "g"), 0);
    assert_int_equal(ch_layer_group_size(f->l, "g"), 1);
    assert_null(f->c[0].ep.groups);
    fx_free(f);
}

static void expiry_keeps_other_groups_of_member(void **state)
{
    fx *f = fx_new(1);

    (void)state;
    attach_n(f, 1);
    join_n(f, 1, "old");
    advance_ms(&f->loop, 5);
    join_n(f, 1, "new");
    assert_int_equal(gsend(f, "old", "t"), 0);
    assert_int_equal(gsend(f, "new", "t"), 0);
    assert_int_equal(f->c[0].got, 1);
    assert_int_equal(ch_layer_group_count(f->l), 1);
    fx_free(f);
}

static void expiry_zero_never_expires(void **state)
{
    fx *f = *state;

    attach_n(f, 1);
    join_n(f, 1, "g");
    advance_ms(&f->loop, 5);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[0].got, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(callback_detaching_later_member_skips_it),
        T(callback_discarding_later_member_skips_it),
        T(callback_detaching_everyone_frees_group_mid_fanout),
        T(callback_adding_member_not_delivered_this_round),
        T(callback_refreshing_itself_not_delivered_twice),
        T(callback_group_send_nested_fanout_works),
        T(nested_fanout_detach_seen_by_outer),
        T(nested_fanout_to_other_group_keeps_outer_snapshot),
        cmocka_unit_test(expiry_drops_old_member_at_send),
        cmocka_unit_test(expiry_group_add_refreshes_time),
        cmocka_unit_test(expiry_applies_at_group_add_of_another),
        cmocka_unit_test(expiry_keeps_other_groups_of_member),
        T(expiry_zero_never_expires),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
