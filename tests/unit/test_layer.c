/*
 * test_layer.c -- unit tests of host/layer.c and host/layer_memory.c:
 * channel names, group membership, group_send / send delivery, name
 * validation, re-entrant deliver callbacks (detach, discard, add and
 * nested fan-out mid-delivery), group expiry on the loop clock, and the
 * backend hooks (through a fake backend made with ch_layer_new_backend).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layer.h"

#define NCONN 1000

typedef struct conn {
    ch_endpoint ep;
    size_t got;                    /* deliveries to this endpoint */
    size_t got_b;                  /* of which had type "b" */
    ch_msg *last;
} conn;

/* What a deliver callback does besides counting (re-entrancy tests). */
enum act { ACT_NONE, ACT_DETACH_9, ACT_DISCARD_9, ACT_DETACH_ALL, ACT_ADD_5,
           ACT_REFRESH_SELF, ACT_RESEND_G, ACT_RESEND_H, ACT_RESEND_H_DETACH_7 };

typedef struct fx {
    uv_loop_t loop;
    ch_layer *l;
    size_t deliveries;
    enum act act;
    int budget;                    /* how many more times act is done */
    conn c[NCONN];
} fx;

/* ---- fixture ----------------------------------------------------------- */

static int gsend(fx *f, const char *group, const char *type);

/* Do f->act for this delivery.  The ACT_RESEND_* acts react to type "a"
 * only; ACT_RESEND_H_DETACH_7 also detaches conn 7 when conn 0 gets the
 * nested "b". */
static void react(fx *f, conn *c, ch_msg *msg)
{
    int is_a = strcmp(msg->type, "a") == 0;

    if (f->act == ACT_RESEND_H_DETACH_7 && !is_a && c == &f->c[0])
        ch_layer_detach(f->l, &f->c[7].ep);
    if (f->budget <= 0 || (f->act >= ACT_RESEND_G && !is_a))
        return;
    f->budget--;
    if (f->act == ACT_DETACH_9)
        ch_layer_detach(f->l, &f->c[9].ep);
    else if (f->act == ACT_DISCARD_9)
        assert_int_equal(ch_layer_group_discard(f->l, &f->c[9].ep, "g"), 0);
    else if (f->act == ACT_DETACH_ALL)
        for (int i = 0; i < 10; i++)
            ch_layer_detach(f->l, &f->c[i].ep);
    else if (f->act == ACT_ADD_5)
        assert_int_equal(ch_layer_group_add(f->l, &f->c[5].ep, "g"), 0);
    else if (f->act == ACT_REFRESH_SELF)
        assert_int_equal(ch_layer_group_add(f->l, &c->ep, "g"), 0);
    else
        assert_int_equal(gsend(f, f->act == ACT_RESEND_G ? "g" : "h", "b"), 0);
}

static void on_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    fx *f = arg;
    conn *c = (conn *)((char *)ep - offsetof(conn, ep));

    c->got++;
    c->got_b += strcmp(msg->type, "b") == 0;
    c->last = msg;
    f->deliveries++;
    react(f, c, msg);
}

/* A fixture whose layer uses backend `make`, or "memory" if NULL. */
static fx *fx_make(uint64_t expiry_ms, ch_layer_backend_new_fn make)
{
    fx *f = calloc(1, sizeof *f);
    ch_layer_opts opts = {.group_expiry_ms = expiry_ms};
    char err[256];

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    if (make)
        f->l = ch_layer_new_backend(&f->loop, make, &opts, on_deliver, f, err, sizeof err);
    else
        f->l = ch_layer_new(&f->loop, "memory", &opts, on_deliver, f, err, sizeof err);
    assert_non_null(f->l);
    return f;
}

static fx *fx_new(uint64_t expiry_ms) { return fx_make(expiry_ms, NULL); }

static void fx_free(fx *f)
{
    ch_layer_free(f->l);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

static int setup(void **state)
{
    *state = fx_new(0);
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Attach conns [0, n). */
static void attach_n(fx *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch_layer_attach(f->l, &f->c[i].ep), 0);
}

static void join_n(fx *f, size_t n, const char *group)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch_layer_group_add(f->l, &f->c[i].ep, group), 0);
}

static ch_msg *mk(const char *type)
{
    char text[128];
    const char *err;
    ch_msg *m;

    snprintf(text, sizeof text, "{\"type\":\"%s\"}", type);
    m = ch_msg_from_text(text, strlen(text), &err);
    assert_non_null(m);
    return m;
}

/* group_send a fresh message of this type; returns the send's result. */
static int gsend(fx *f, const char *group, const char *type)
{
    ch_msg *m = mk(type);
    int rc = ch_layer_group_send(f->l, group, m);

    ch_msg_unref(m);
    return rc;
}

static void timer_noop(uv_timer_t *t) { (void)t; }

/* Advance the loop clock by at least ms by awaiting a real timer. */
static void advance_ms(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;

    uv_timer_init(loop, &t);
    uv_timer_start(&t, timer_noop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

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

    assert_null(ch_layer_new(&f->loop, "amqp://localhost:5672", NULL, on_deliver, f,
                             err, sizeof err));
    assert_string_equal(err, "unknown channel layer 'amqp://localhost:5672' "
                             "(this build supports: memory, redis://, unix://)");
}

static void new_url_must_match_exactly(void **state)
{
    fx *f = *state;
    char err[256] = "";

    assert_null(ch_layer_new(&f->loop, "memoryx", NULL, on_deliver, f, err, sizeof err));
    assert_string_equal(err, "unknown channel layer 'memoryx' "
                             "(this build supports: memory, redis://, unix://)");
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
    static char *names[NCONN];
    const char *first = f->c[0].ep.name;
    size_t plen = strlen("chanhost.") + 32 + 1;

    attach_n(f, NCONN);
    for (size_t i = 0; i < NCONN; i++) {
        const char *n = f->c[i].ep.name;

        assert_true(f->c[i].ep.attached);
        assert_true(ch_layer_valid_channel(n));
        assert_memory_equal(n, "chanhost.", 9);
        for (size_t k = 9; k < 41; k++)
            assert_non_null(strchr("0123456789abcdef", n[k]));
        assert_int_equal(n[41], '!');
        assert_memory_equal(n, first, plen);          /* same process part */
        assert_true(strlen(n) > plen);
        assert_int_equal(strspn(n + plen, "0123456789"), strlen(n + plen));
        names[i] = f->c[i].ep.name;
    }
    qsort(names, NCONN, sizeof names[0], cmp_str);
    for (size_t i = 1; i < NCONN; i++)
        assert_string_not_equal(names[i - 1], names[i]);
}

static void two_layers_have_different_process_parts(void **state)
{
    fx *f = *state;
    fx *g = fx_new(0);

    attach_n(f, 1);
    attach_n(g, 1);
    assert_memory_not_equal(f->c[0].ep.name, g->c[0].ep.name, 41);
    fx_free(g);
}

static void attach_twice_keeps_name(void **state)
{
    fx *f = *state;
    char before[CH_NAME_MAX];

    attach_n(f, 1);
    strcpy(before, f->c[0].ep.name);
    assert_int_equal(ch_layer_attach(f->l, &f->c[0].ep), 0);
    assert_string_equal(f->c[0].ep.name, before);
}

static void reattach_after_detach_gets_fresh_name(void **state)
{
    fx *f = *state;
    char before[CH_NAME_MAX];
    ch_msg *m = mk("t");

    attach_n(f, 1);
    strcpy(before, f->c[0].ep.name);
    ch_layer_detach(f->l, &f->c[0].ep);
    assert_int_equal(ch_layer_attach(f->l, &f->c[0].ep), 0);
    assert_string_not_equal(f->c[0].ep.name, before);
    assert_int_equal(ch_layer_deliver_channel(f->l, before, m), 0);
    assert_int_equal(ch_layer_deliver_channel(f->l, f->c[0].ep.name, m), 1);
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
    assert_int_equal(gsend(f, "big", "t"), 0);      /* scratch reused */
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
    assert_int_equal(ch_layer_send(f->l, f->c[1].ep.name, m), 0);
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
    strcpy(other, f->c[0].ep.name);
    strcat(other, "9");                               /* same process, no such number */
    assert_int_equal(ch_layer_send(f->l, other, m), 0);
    assert_int_equal(ch_layer_send(f->l, "specific.abc!def", m), 0);
    assert_int_equal(f->deliveries, 0);
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
    assert_int_equal(ch_layer_send(f->l, f->c[0].ep.name, m), 0);
    assert_int_equal(ch_layer_deliver_channel(f->l, f->c[0].ep.name, m), 0);
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
        ch_layer_detach(f->l, &f->c[i].ep);       /* no-op: never touches l */
    }
    f->l = NULL;
    fx_free(f);
}

/* ---- re-entrant callbacks ---------------------------------------------- */

static void callback_detaching_later_member_skips_it(void **state)
{
    fx *f = *state;
    ch_msg *m = mk("t");

    attach_n(f, 10);
    join_n(f, 10, "g");
    f->act = ACT_DETACH_9;
    f->budget = 1;
    assert_int_equal(ch_layer_deliver_group(f->l, "g", m), 9);   /* count reached */
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
    f->act = ACT_REFRESH_SELF;              /* moves itself to the tail */
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
    assert_int_equal(gsend(f, "g", "a"), 0);  /* scratch released after nesting */
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
    assert_int_equal(f->c[7].got, 0);         /* skipped by both fan-outs */
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
    assert_int_equal(gsend(f, "g", "t"), 0);   /* same clock tick: fresh */
    assert_int_equal(f->deliveries, 2);
    advance_ms(&f->loop, 5);
    assert_int_equal(gsend(f, "g", "t"), 0);
    assert_int_equal(f->deliveries, 2);
    assert_int_equal(ch_layer_group_count(f->l), 0);
    assert_null(f->c[0].ep.groups);
    fx_free(f);
}

/* Join c0 then c1 at t0; refresh c0 at t0+60 (inside the 100 ms expiry),
 * which moves it behind c1; send after t0+100: c1 has expired, c0 has
 * not.  Skips itself if the timers overshoot so much that the test could
 * not tell. */
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
    assert_null(ch_layer_new_backend(&loop, fake_make_fails, NULL, on_deliver, NULL,
                                     err, sizeof err));
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
    assert_int_equal(fake.added, 6);          /* every add, refreshes too */
    assert_int_equal(fake.left, 0);
    fx_free(f);
    assert_int_equal(fake.left, 0);           /* free calls destroy only */
}

static void hooks_group_left_only_on_last_local_leave(void **state)
{
    fx *f = fake_fx(0);

    (void)state;
    attach_n(f, 3);
    join_n(f, 3, "g");
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[0].ep, "g"), 0);
    assert_int_equal(fake.discarded, 1);      /* absent: no discard call */
    assert_string_equal(fake.last_channel, f->c[0].ep.name);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[1].ep, "g"), 0);
    assert_int_equal(fake.left, 0);
    assert_int_equal(ch_layer_group_discard(f->l, &f->c[2].ep, "g"), 0);
    assert_int_equal(fake.left, 1);
    assert_int_equal(fake.discarded, 3);
    join_n(f, 1, "g");
    assert_int_equal(fake.joined, 2);         /* the group came back */
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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(new_memory_reports_backend_and_state),
        T(new_unknown_url_refused_with_reason),
        T(new_url_must_match_exactly),
        T(new_without_deliver_refused),
        T(attach_names_unique_valid_common_process_part),
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
        T(send_to_invalid_channel_is_einval),
        T(detach_leaves_all_groups_group_count_drops_to_0),
        T(discard_from_middle_of_endpoint_list),
        T(detach_twice_is_safe),
        T(detached_endpoint_unreachable_by_name),
        cmocka_unit_test(free_with_attached_endpoints_resets_them),
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
