/*
 * test_layer_backend.c -- unit tests of host/layer/layer.c's backend hooks,
 * through a fake backend made with ch_layer_new_backend: its name and
 * state, a failing constructor, group_joined / group_left on the first
 * join and last leave (also by detach and expiry), member add / discard,
 * send errors passed back, and invalid names stopped before the backend.
 * The fixture is layer_fixture.h.
 */
#include "layer_fixture.h"

/* ---- backend hooks (fake backend) -------------------------------------- */

static struct fake {
    ch_layer *l;
    int joined, left, added, discarded, group_sends, channel_sends, destroyed;
    int joined_rc, send_rc;
    char last_group[CH_NAME_MAX], last_channel[CH_NAME_MAX];
} fake;

static int fake_joined(void *self, const char *group)
{
    (void)self;
    fake.joined++;
    strcpy(fake.last_group, group);
    return fake.joined_rc;
}

static int fake_left(void *self, const char *group)
{
    (void)self;
    fake.left++;
    strcpy(fake.last_group, group);
    return 0;
}

static int fake_add(void *self, const char *group, const char *channel)
{
    (void)self;
    (void)group;
    fake.added++;
    strcpy(fake.last_channel, channel);
    return 0;
}

static int fake_discard(void *self, const char *group, const char *channel)
{
    (void)self;
    (void)group;
    fake.discarded++;
    strcpy(fake.last_channel, channel);
    return 0;
}

static int fake_group_send(void *self, const char *group, ch_msg *msg)
{
    fake.group_sends++;
    ch_layer_deliver_group(self, group, msg);
    return fake.send_rc;
}

static int fake_channel_send(void *self, const char *channel, ch_msg *msg)
{
    (void)self;
    (void)msg;
    fake.channel_sends++;
    strcpy(fake.last_channel, channel);
    return fake.send_rc;
}

static const char *fake_state(void *self)
{
    (void)self;
    return "degraded: fake";
}

static void fake_destroy(void *self)
{
    (void)self;
    fake.destroyed++;
}

static const ch_layer_backend fake_ops = {
    .name = "fake",
    .group_joined = fake_joined,
    .group_left = fake_left,
    .member_add = fake_add,
    .member_discard = fake_discard,
    .group_send = fake_group_send,
    .channel_send = fake_channel_send,
    .state = fake_state,
    .destroy = fake_destroy,
};

static int fake_make(ch_layer *l, const ch_layer_backend **ops, void **self)
{
    fake.l = l;
    *ops = &fake_ops;
    *self = l;
    return 0;
}

static int fake_make_fails(ch_layer *l, const ch_layer_backend **ops, void **self)
{
    (void)l;
    (void)ops;
    (void)self;
    return -ECONNREFUSED;
}

static fx *fake_fx(uint64_t expiry_ms)
{
    memset(&fake, 0, sizeof fake);
    return fx_make(expiry_ms, fake_make);
}

static void hooks_backend_name_and_state_reported(void **state)
{
    fx *f = fake_fx(0);

    (void)state;
    assert_string_equal(ch_layer_backend_name(f->l), "fake");
    assert_string_equal(ch_layer_state(f->l), "degraded: fake");
    fx_free(f);
    assert_int_equal(fake.destroyed, 1);
}

static void hooks_backend_constructor_failure_reported(void **state)
{
    uv_loop_t loop;
    char err[128] = "";

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_null(
        ch_layer_new_backend(&loop, fake_make_fails, NULL, on_deliver, NULL, err, sizeof err));
    assert_non_null(strstr(err, strerror(ECONNREFUSED)));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void hooks_group_joined_only_on_first_local_join(void **state)
{
    fx *f = fake_fx(0);

    (void)state;
    attach_n(f, 3);
    join_n(f, 3, "g");
    join_n(f, 3, "g");
    assert_int_equal(fake.joined, 1);
    assert_string_equal(fake.last_group, "g");
    assert_int_equal(fake.added, 6); /* every add, refreshes too */
    assert_int_equal(fake.left, 0);
    fx_free(f);
    assert_int_equal(fake.left, 0); /* free calls destroy only */
}

static void hooks_group_left_only_on_last_local_leave(void **state)
{
    fx *f = fake_fx(0);

    (void)state;
    attach_n(f, 3);
    join_n(f, 3, "g");
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(fake.discarded, 1); /* absent: no discard call */
    assert_string_equal(fake.last_channel, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep));
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[1].ep, "g"), 0);
    assert_int_equal(fake.left, 0);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[2].ep, "g"), 0);
    assert_int_equal(fake.left, 1);
    assert_int_equal(fake.discarded, 3);
    join_n(f, 1, "g");
    assert_int_equal(fake.joined, 2); /* the group came back */
    fx_free(f);
}

static void hooks_group_left_on_detach(void **state)
{
    fx *f = fake_fx(0);

    (void)state;
    attach_n(f, 1);
    join_n(f, 1, "a");
    join_n(f, 1, "b");
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_int_equal(fake.joined, 2);
    assert_int_equal(fake.left, 2);
    assert_int_equal(fake.discarded, 2);
    fx_free(f);
}

static void hooks_group_left_on_expiry(void **state)
{
    fx *f = fake_fx(1);

    (void)state;
    attach_n(f, 2);
    join_n(f, 2, "g");
    advance_ms(&f->loop, 5);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(fake.group_sends, 1);
    assert_int_equal(fake.discarded, 2);
    assert_int_equal(fake.left, 1);
    assert_int_equal(f->deliveries, 0);
    fx_free(f);
}

static void hooks_group_joined_error_fails_add_leaves_no_group(void **state)
{
    fx *f = fake_fx(0);

    (void)state;
    attach_n(f, 1);
    fake.joined_rc = -EIO;
    assert_int_equal(ch_layer_group_add(f->l, &f->c[0].ep, "g"), -EIO);
    assert_int_equal(ch_layer_group_count(f->l), 0);
    assert_null(f->c[0].ep.groups);
    assert_int_equal(fake.added, 0);
    fx_free(f);
}

static void hooks_backend_send_errors_propagate(void **state)
{
    fx *f = fake_fx(0);
    ch_msg *m = mk("t");

    (void)state;
    attach_n(f, 1);
    join_n(f, 1, "g");
    fake.send_rc = -EAGAIN;
    assert_int_equal(ch_layer_group_send(f->l, "g", m), -EAGAIN);
    assert_int_equal(ch_layer_send(f->l, "x.y!z", m), -EAGAIN);
    assert_int_equal(fake.channel_sends, 1);
    assert_string_equal(fake.last_channel, "x.y!z");
    ch_msg_unref(m);
    fx_free(f);
}

static void hooks_invalid_names_never_reach_backend(void **state)
{
    fx *f = fake_fx(0);
    ch_msg *m = mk("t");

    (void)state;
    assert_int_equal(ch_layer_group_send(f->l, "a!b", m), -EINVAL);
    assert_int_equal(ch_layer_send(f->l, "a!b!c", m), -EINVAL);
    assert_int_equal(fake.group_sends + fake.channel_sends, 0);
    ch_msg_unref(m);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hooks_backend_name_and_state_reported),
        cmocka_unit_test(hooks_backend_constructor_failure_reported),
        cmocka_unit_test(hooks_group_joined_only_on_first_local_join),
        cmocka_unit_test(hooks_group_left_only_on_last_local_leave),
        cmocka_unit_test(hooks_group_left_on_detach),
        cmocka_unit_test(hooks_group_left_on_expiry),
        cmocka_unit_test(hooks_group_joined_error_fails_add_leaves_no_group),
        cmocka_unit_test(hooks_backend_send_errors_propagate),
        cmocka_unit_test(hooks_invalid_names_never_reach_backend),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
