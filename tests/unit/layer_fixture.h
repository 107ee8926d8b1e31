/*
 * layer_fixture.h -- what the channel-layer unit tests share
 * (test_layer.c, test_layer_fanout.c, test_layer_backend.c): NCONN
 * endpoints with delivery counters, a layer on its own uv loop (the
 * memory backend or one made with ch_layer_new_backend), a deliver
 * callback that can also act on the layer (the re-entrancy tests),
 * attach / join / send helpers and a way to move the loop clock.
 * Header-only (static inline), since every tests/unit/test_*.c is a
 * program of its own.
 */
#ifndef LAYER_FIXTURE_H
#define LAYER_FIXTURE_H

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
    size_t got;   /* deliveries to this endpoint */
    size_t got_b; /* of which had type "b" */
    ch_msg *last;
} conn;

/* What a deliver callback does besides counting (re-entrancy tests). */
enum act {
    ACT_NONE,
    ACT_DETACH_9,
    ACT_DISCARD_9,
    ACT_DETACH_ALL,
    ACT_ADD_5,
    ACT_REFRESH_SELF,
    ACT_RESEND_G,
    ACT_RESEND_H,
    ACT_RESEND_H_DETACH_7
};

typedef struct fx {
    uv_loop_t loop;
    ch_layer *l;
    size_t deliveries;
    enum act act;
    int budget; /* how many more times act is done */
    conn c[NCONN];
} fx;

/* ---- fixture ----------------------------------------------------------- */

static inline int gsend(fx *f, const char *group, const char *type);

/* Do f->act for this delivery.  The ACT_RESEND_* acts react to type "a"
 * only; ACT_RESEND_H_DETACH_7 also detaches conn 7 when conn 0 gets the
 * nested "b". */
static inline void react(fx *f, conn *c, ch_msg *msg)
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

static inline void on_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
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
static inline fx *fx_make(uint64_t expiry_ms, ch_layer_backend_new_fn make)
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

static inline fx *fx_new(uint64_t expiry_ms) { return fx_make(expiry_ms, NULL); }

static inline void fx_free(fx *f)
{
    ch_layer_free(f->l);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

static inline int setup(void **state)
{
    *state = fx_new(0);
    return 0;
}

static inline int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Attach conns [0, n). */
static inline void attach_n(fx *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch_layer_attach(f->l, &f->c[i].ep), 0);
}

static inline void join_n(fx *f, size_t n, const char *group)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch_layer_group_add(f->l, &f->c[i].ep, group), 0);
}

static inline ch_msg *mk(const char *type)
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
static inline int gsend(fx *f, const char *group, const char *type)
{
    ch_msg *m = mk(type);
    int rc = ch_layer_group_send(f->l, group, m);

    ch_msg_unref(m);
    return rc;
}

static inline void timer_noop(uv_timer_t *t) { (void)t; }

/* Advance the loop clock by at least ms by awaiting a real timer. */
static inline void advance_ms(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;

    uv_timer_init(loop, &t);
    uv_timer_start(&t, timer_noop, ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#endif
