/*
 * test_layer.c -- unit tests of host/layer/layer.c and host/layer/layer_memory.c:
 * creating a layer, channel names, group and channel name validation,
 * group membership, group_send / send delivery and detach.  The
 * re-entrant deliver callbacks and group expiry are in
 * test_layer_fanout.c, the backend hooks in test_layer_backend.c; the
 * fixture is layer_fixture.h.
 */
#include "layer_fixture.h"

/* ---- creation ---------------------------------------------------------- */

static void new_memory_reports_backend_and_state(void **state)
{
    fx *f = *state;

    assert_string_equal(ch_layer_backend_name(f->l), "memory");
    assert_string_equal(ch_layer_state(f->l), "ok");
    assert_ptr_equal(ch_layer_loop(f->l), &f->loop);
    assert_int_equal(ch_layer_group_count(f->l), 0);
}

static void new_unknown_url_refused_with_reason(void **state)
{
    fx *f = *state;
    char err[256] = "";

    assert_null(
        ch_layer_new(&f->loop, "amqp://localhost:5672", NULL, on_deliver, f, err, sizeof err));
    assert_string_equal(err, "unknown channel layer 'amqp://localhost:5672' "
                             "(this build supports: memory, redis://, unix://, redis-sentinel://, "
                             "channels_redis://, channels_redis+unix://, "
                             "channels_redis+sentinel://)");
}

static void new_url_must_match_exactly(void **state)
{
    fx *f = *state;
    char err[256] = "";

    assert_null(ch_layer_new(&f->loop, "memoryx", NULL, on_deliver, f, err, sizeof err));
    assert_string_equal(err, "unknown channel layer 'memoryx' "
                             "(this build supports: memory, redis://, unix://, redis-sentinel://, "
                             "channels_redis://, channels_redis+unix://, "
                             "channels_redis+sentinel://)");
    assert_null(ch_layer_new(&f->loop, "", NULL, on_deliver, f, err, sizeof err));
    assert_null(ch_layer_new(&f->loop, NULL, NULL, on_deliver, f, err, sizeof err));
}

static void new_without_deliver_refused(void **state)
{
    fx *f = *state;
    char err[256] = "";

    assert_null(ch_layer_new(&f->loop, "memory", NULL, NULL, f, err, sizeof err));
    assert_true(err[0] != '\0');
}

/* ---- channel names ----------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void attach_names_unique_valid_common_process_part(void **state)
{
    fx *f = *state;
    static char names[NCONN][CH_CHANNEL_NAME_MAX];
    static char *sorted[NCONN];
    char first[CH_CHANNEL_NAME_MAX];
    size_t plen = strlen("chanhost.") + 32 + 1;

    attach_n(f, NCONN);
    ch_layer_channel_name(f->l, &f->c[0].ep, first);
    for (size_t i = 0; i < NCONN; i++) {
        const char *n = ch_layer_channel_name(f->l, &f->c[i].ep, names[i]);

        assert_true(f->c[i].ep.attached);
        assert_true(ch_layer_valid_channel(n));
        assert_memory_equal(n, "chanhost.", 9);
        for (size_t k = 9; k < 41; k++)
            assert_non_null(strchr("0123456789abcdef", n[k]));
        assert_int_equal(n[41], '!');
        assert_memory_equal(n, first, plen); /* same process part */
        assert_true(strlen(n) > plen);
        assert_int_equal(strspn(n + plen, "0123456789"), strlen(n + plen));
        sorted[i] = names[i];
    }
    qsort(sorted, NCONN, sizeof sorted[0], cmp_str);
    for (size_t i = 1; i < NCONN; i++)
        assert_string_not_equal(sorted[i - 1], sorted[i]);
}

/* A backend may name channels kind + "<hex>!<n>" (channels_redis's
 * "specific."), with the same process id, before the first attach only. */
static void name_kind_replaces_the_prefix_before_any_attach(void **state)
{
    fx *f = *state;
    char hex[33];

    ch_layer_process_id(f->l, hex);
    assert_int_equal(ch_layer_set_name_kind(f->l, "bad kind"), -EINVAL);
    assert_int_equal(ch_layer_set_name_kind(f->l, "specific."), 0);
    attach_n(f, 1);
    assert_memory_equal(CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep), "specific.", 9);
    assert_memory_equal(CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep) + 9, hex, 32);
    assert_string_equal(CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep) + 41, "!1");
    assert_int_equal(ch_layer_set_name_kind(f->l, "other."), -EINVAL);
}

static void two_layers_have_different_process_parts(void **state)
{
    fx *f = *state;
    fx *g = fx_new(0);

    attach_n(f, 1);
    attach_n(g, 1);
    assert_memory_not_equal(CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep),
                            CH_LAYER_CHANNEL_NAME(g->l, &g->c[0].ep), 41);
    fx_free(g);
}

static void attach_twice_keeps_name(void **state)
{
    fx *f = *state;
    char before[CH_NAME_MAX];

    attach_n(f, 1);
    strcpy(before, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep));
    assert_int_equal(ch_layer_attach(f->l, &f->c[0].ep), 0);
    assert_string_equal(CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep), before);
}

static void reattach_after_detach_gets_fresh_name(void **state)
{
    fx *f = *state;
    char before[CH_NAME_MAX];
    ch_msg *m = mk("t");

    attach_n(f, 1);
    strcpy(before, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep));
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_int_equal(ch_layer_attach(f->l, &f->c[0].ep), 0);
    assert_string_not_equal(CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep), before);
    assert_int_equal(ch_layer_deliver_channel(f->l, before, m), 0);
    assert_int_equal(ch_layer_deliver_channel(f->l, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep), m),
                     1);
    ch_msg_unref(m);
}

/* ---- name validation --------------------------------------------------- */

static void group_names_validated_like_channels(void **state)
{
    char n99[100], n100[101];

    (void)state;
    memset(n99, 'a', 99);
    n99[99] = '\0';
    memset(n100, 'a', 100);
    n100[100] = '\0';
    assert_true(ch_layer_valid_group("chat"));
    assert_true(ch_layer_valid_group("A-z_0.9"));
    assert_true(ch_layer_valid_group(n99));
    assert_false(ch_layer_valid_group(n100));
    assert_false(ch_layer_valid_group(""));
    assert_false(ch_layer_valid_group(NULL));
    assert_false(ch_layer_valid_group("a!b"));
    assert_false(ch_layer_valid_group("caf\xc3\xa9"));
    assert_false(ch_layer_valid_group("a b"));
    assert_false(ch_layer_valid_group("a\n"));
    assert_false(ch_layer_valid_group("a/b"));
}

static void channel_names_allow_one_bang(void **state)
{
    char n99[100], n100[101];

    (void)state;
    memset(n99, 'a', 99);
    n99[99] = '\0';
    n99[50] = '!';
    memset(n100, 'a', 100);
    n100[100] = '\0';
    n100[50] = '!';
    assert_true(ch_layer_valid_channel("a"));
    assert_true(ch_layer_valid_channel("a!b"));
    assert_true(ch_layer_valid_channel("a.b!"));
    assert_true(ch_layer_valid_channel(n99));
    assert_false(ch_layer_valid_channel(n100));
    assert_false(ch_layer_valid_channel("!a"));
    assert_false(ch_layer_valid_channel("!"));
    assert_false(ch_layer_valid_channel("a!b!c"));
    assert_false(ch_layer_valid_channel("a!!"));
    assert_false(ch_layer_valid_channel("a!b c"));
    assert_false(ch_layer_valid_channel("a!\xc3\xa9"));
    assert_false(ch_layer_valid_channel(""));
    assert_false(ch_layer_valid_channel(NULL));
}

static void invalid_group_names_rejected_by_every_call(void **state)
{
    fx *f = *state;
    char n100[101];
    const char *bad[] = {n100, "a!b", "", "caf\xc3\xa9", "a b", NULL};
    ch_msg *m = mk("t");

    memset(n100, 'g', 100);
    n100[100] = '\0';
    attach_n(f, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ch_layer_group_add(f->l, &f->c[0].ep, bad[i]), -EINVAL);
        assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, bad[i]), -EINVAL);
        assert_int_equal(ch_layer_group_send(f->l, bad[i], m), -EINVAL);
    }
    assert_int_equal(ch_layer_group_count(f->l), 0);
    ch_msg_unref(m);
}

static void group_name_of_99_chars_accepted(void **state)
{
    fx *f = *state;
    char n99[100];

    memset(n99, 'g', 99);
    n99[99] = '\0';
    attach_n(f, 1);
    assert_int_equal(ch_layer_group_add(f->l, &f->c[0].ep, n99), 0);
    assert_int_equal(gsend(f, n99, "t"), 0);
    assert_int_equal(f->c[0].got, 1);
}

/* ---- groups ------------------------------------------------------------ */

static void group_add_is_idempotent_delivered_once(void **state)
{
    fx *f = *state;

    attach_n(f, 1);
    join_n(f, 1, "g");
    join_n(f, 1, "g");
    join_n(f, 1, "g");
    assert_int_equal(ch_layer_group_size(f->l, "g"), 1);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[0].got, 1);
}

static void group_send_delivers_the_same_message_object(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");

    attach_n(f, 3);
    join_n(f, 3, "g");
    assert_int_equal(ch_layer_group_send(f->l, "g", m), 0);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(f->c[i].last, m);
    assert_int_equal(m->refs, 1);
    ch_msg_unref(m);
}

static void group_send_to_unknown_group_delivers_nothing(void **state)
{
    fx *f = *state;

    attach_n(f, 2);
    join_n(f, 2, "g");
    assert_int_equal(gsend(f, "other", "t"), 0);
    assert_int_equal(f->deliveries, 0);
    assert_int_equal(ch_layer_group_count(f->l), 1);
}

static void discard_absent_is_ok(void **state)
{
    fx *f = *state;

    attach_n(f, 2);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "nogroup"), 0);
    join_n(f, 1, "g");
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[1].ep, "g"), 0);
    assert_int_equal(ch_layer_group_size(f->l, "g"), 1);
    assert_int_equal(ch_layer_group_count(f->l), 1);
}

static void discard_then_send_not_delivered(void **state)
{
    fx *f = *state;

    attach_n(f, 2);
    join_n(f, 2, "g");
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->c[0].got, 0);
    assert_int_equal(f->c[1].got, 1);
}

static void discard_last_member_drops_group(void **state)
{
    fx *f = *state;

    attach_n(f, 1);
    join_n(f, 1, "g");
    assert_int_equal(ch_layer_group_count(f->l), 1);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(ch_layer_group_count(f->l), 0);
    assert_int_equal(ch_layer_group_size(f->l, "g"), 0);
}

static void group_send_1000_members_each_exactly_once(void **state)
{
    fx *f = *state;

    attach_n(f, NCONN);
    join_n(f, NCONN, "big");
    assert_int_equal(ch_layer_group_size(f->l, "big"), NCONN);
    assert_int_equal(gsend(f, "big", "t"), 0);
    assert_int_equal(f->deliveries, NCONN);
    for (size_t i = 0; i < NCONN; i++)
        assert_int_equal(f->c[i].got, 1);
    assert_int_equal(gsend(f, "big", "t"), 0); /* scratch reused */
    for (size_t i = 0; i < NCONN; i++)
        assert_int_equal(f->c[i].got, 2);
}

static void group_count_and_size_track_local_groups(void **state)
{
    fx *f = *state;

    attach_n(f, 3);
    join_n(f, 3, "a");
    join_n(f, 1, "b");
    assert_int_equal(ch_layer_group_count(f->l), 2);
    assert_int_equal(ch_layer_group_size(f->l, "a"), 3);
    assert_int_equal(ch_layer_group_size(f->l, "b"), 1);
    assert_int_equal(ch_layer_group_size(f->l, "c"), 0);
    assert_int_equal(ch_layer_group_size(f->l, NULL), 0);
}

static void group_add_on_detached_endpoint_is_einval(void **state)
{
    fx *f = *state;

    assert_int_equal(ch_layer_group_add(f->l, &f->c[0].ep, "g"), -EINVAL);
    assert_int_equal(ch_layer_group_count(f->l), 0);
}

/* ---- direct sends ------------------------------------------------------ */

static void send_by_channel_name_reaches_only_that_endpoint(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");

    attach_n(f, 3);
    assert_int_equal(ch_layer_send(f->l, CH_LAYER_CHANNEL_NAME(f->l, &f->c[1].ep), m), 0);
    assert_int_equal(f->c[0].got, 0);
    assert_int_equal(f->c[1].got, 1);
    assert_ptr_equal(f->c[1].last, m);
    assert_int_equal(f->c[2].got, 0);
    ch_msg_unref(m);
}

static void send_to_unknown_channel_returns_0_delivers_nothing(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");
    char other[CH_NAME_MAX];

    attach_n(f, 1);
    strcpy(other, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep));
    strcat(other, "9"); /* same process, no such number */
    assert_int_equal(ch_layer_send(f->l, other, m), 0);
    assert_int_equal(ch_layer_send(f->l, "specific.abc!def", m), 0);
    assert_int_equal(f->deliveries, 0);
    ch_msg_unref(m);
}

/* The endpoint is found by the number after the layer's prefix, parsed
 * strictly: a leading zero, a trailing character, no digits, a number past
 * 63 bits or another process's prefix reach no one; the exact name
 * reaches its endpoint. */
static void channel_numbers_are_parsed_strictly(void **state)
{
    static const char *const tails[] = {"01",
                                        "1x",
                                        "",
                                        "0",
                                        "-1",
                                        "18446744073709551617",
                                        "9223372036854775808",
                                        "99999999999999999999999"};
    fx *f = *state;
    ch_msg *m = mk("t");
    char prefix[CH_CHANNEL_NAME_MAX], name[CH_NAME_MAX + 32];

    attach_n(f, 10);
    strcpy(prefix, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep));
    assert_string_equal(prefix + strlen(prefix) - 2, "!1");
    prefix[strlen(prefix) - 1] = '\0';
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, tails[i]);
        assert_int_equal(ch_layer_deliver_channel(f->l, name, m), 0);
    }
    name[0] = 'x'; /* "xhanhost.<hex>!9...": another prefix */
    assert_int_equal(ch_layer_deliver_channel(f->l, name, m), 0);
    assert_int_equal(f->deliveries, 0);
    snprintf(name, sizeof name, "%s10", prefix);
    assert_int_equal(ch_layer_deliver_channel(f->l, name, m), 1);
    assert_int_equal(f->c[9].got, 1);
    assert_int_equal(f->deliveries, 1);
    ch_msg_unref(m);
}

static void send_to_invalid_channel_is_einval(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");

    assert_int_equal(ch_layer_send(f->l, "a!b!c", m), -EINVAL);
    assert_int_equal(ch_layer_send(f->l, "", m), -EINVAL);
    assert_int_equal(ch_layer_send(f->l, NULL, m), -EINVAL);
    assert_int_equal(ch_layer_send(f->l, "a", NULL), -EINVAL);
    ch_msg_unref(m);
}

/* ---- detach ------------------------------------------------------------ */

static void detach_leaves_all_groups_group_count_drops_to_0(void **state)
{
    fx *f = *state;
    char name[16];

    attach_n(f, 2);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "g%d", i);
        join_n(f, 2, name);
    }
    assert_int_equal(ch_layer_group_count(f->l), 50);
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_null(f->c[0].ep.groups);
    assert_false(f->c[0].ep.attached);
    assert_int_equal(ch_layer_group_count(f->l), 50);
    assert_int_equal(ch_layer_group_size(f->l, "g7"), 1);
    ch_layer_detach(f->l, &f->c[1].ep);
    assert_int_equal(ch_layer_group_count(f->l), 0);
    assert_int_equal(gsend(f, "g7", "t"), 0);
    assert_int_equal(f->deliveries, 0);
}

static void discard_from_middle_of_endpoint_list(void **state)
{
    fx *f = *state;

    attach_n(f, 1);
    join_n(f, 1, "a");
    join_n(f, 1, "b");
    join_n(f, 1, "c");
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "b"), 0);
    assert_int_equal(gsend(f, "a", "t"), 0);
    assert_int_equal(gsend(f, "b", "t"), 0);
    assert_int_equal(gsend(f, "c", "t"), 0);
    assert_int_equal(f->c[0].got, 2);
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_int_equal(ch_layer_group_count(f->l), 0);
}

/* Memberships come from the layer's slabs and go back to its free list:
 * 1000 endpoints in 4 groups each (many slabs), random discards and
 * re-joins (heads, middles and tails of the endpoints' lists), checked
 * against a reference after every round by group sizes and deliveries;
 * then every endpoint detached. */
static void membership_churn_matches_reference(void **state)
{
    enum { G = 4, ROUNDS = 20 };
    static unsigned char in[NCONN][G];
    static const char *const names[G] = {"g0", "g1", "g2", "g3"};
    fx *f = *state;
    unsigned seed = 777;

    attach_n(f, NCONN);
    memset(in, 0, sizeof in);
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < NCONN; i++) {
            int g = rand_r(&seed) % G;

            if (rand_r(&seed) % 3 == 0) {
                assert_int_equal(ch_layer_group_discard(f->l, &f->c[i].ep, names[g]), 0);
                in[i][g] = 0;
            } else {
                assert_int_equal(ch_layer_group_add(f->l, &f->c[i].ep, names[g]), 0);
                in[i][g] = 1;
            }
        }
        for (int g = 0; g < G; g++) {
            size_t want = 0;

            for (size_t i = 0; i < NCONN; i++) {
                want += in[i][g];
                f->c[i].got = 0;
            }
            assert_int_equal(ch_layer_group_size(f->l, names[g]), want);
            assert_int_equal(gsend(f, names[g], "t"), 0);
            for (size_t i = 0; i < NCONN; i++)
                assert_int_equal(f->c[i].got, in[i][g]);
        }
    }
    for (size_t i = 0; i < NCONN; i++) {
        ch_layer_detach(f->l, &f->c[i].ep);
        assert_null(f->c[i].ep.groups);
    }
    assert_int_equal(ch_layer_group_count(f->l), 0);
}

static void detach_twice_is_safe(void **state)
{
    fx *f = *state;

    attach_n(f, 1);
    join_n(f, 1, "g");
    ch_layer_detach(f->l, &f->c[0].ep);
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_int_equal(ch_layer_group_count(f->l), 0);
}

static void detached_endpoint_unreachable_by_name(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");

    attach_n(f, 1);
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_int_equal(ch_layer_send(f->l, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep), m), 0);
    assert_int_equal(ch_layer_deliver_channel(f->l, CH_LAYER_CHANNEL_NAME(f->l, &f->c[0].ep), m),
                     0);
    assert_int_equal(f->deliveries, 0);
    ch_msg_unref(m);
}

static void free_with_attached_endpoints_resets_them(void **state)
{
    fx *f = fx_new(0);

    (void)state;
    attach_n(f, 3);
    join_n(f, 3, "a");
    join_n(f, 2, "b");
    ch_layer_free(f->l);
    for (int i = 0; i < 3; i++) {
        assert_null(f->c[i].ep.groups);
        assert_false(f->c[i].ep.attached);
        ch_layer_detach(f->l, &f->c[i].ep); /* no-op: never touches l */
    }
    f->l = NULL;
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(new_memory_reports_backend_and_state),
        T(new_unknown_url_refused_with_reason),
        T(new_url_must_match_exactly),
        T(new_without_deliver_refused),
        T(attach_names_unique_valid_common_process_part),
        T(name_kind_replaces_the_prefix_before_any_attach),
        T(two_layers_have_different_process_parts),
        T(attach_twice_keeps_name),
        T(reattach_after_detach_gets_fresh_name),
        T(group_names_validated_like_channels),
        T(channel_names_allow_one_bang),
        T(invalid_group_names_rejected_by_every_call),
        T(group_name_of_99_chars_accepted),
        T(group_add_is_idempotent_delivered_once),
        T(group_send_delivers_the_same_message_object),
        T(group_send_to_unknown_group_delivers_nothing),
        T(discard_absent_is_ok),
        T(discard_then_send_not_delivered),
        T(discard_last_member_drops_group),
        T(group_send_1000_members_each_exactly_once),
        T(group_count_and_size_track_local_groups),
        T(group_add_on_detached_endpoint_is_einval),
        T(send_by_channel_name_reaches_only_that_endpoint),
        T(send_to_unknown_channel_returns_0_delivers_nothing),
        T(channel_numbers_are_parsed_strictly),
        T(send_to_invalid_channel_is_einval),
        T(detach_leaves_all_groups_group_count_drops_to_0),
        T(discard_from_middle_of_endpoint_list),
        T(membership_churn_matches_reference),
        T(detach_twice_is_safe),
        T(detached_endpoint_unreachable_by_name),
        cmocka_unit_test(free_with_attached_endpoints_resets_them),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
