/*
 * test_link.c -- unit tests of host/layer/link.c and the memory layer's
 * relay (layer_memory.c): frames of every kind cross a socketpair intact
 * and in order, a frame split over many reads is put back together, the
 * output bound drops and counts, a malformed frame and the peer's close
 * end the link, and two memory layers joined by a link deliver each
 * other's group and channel sends to their local members only once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "layer.h"
#include "link.h"

/* What a test link saw. */
typedef struct seen {
    int n, gone;
    int kinds[16];
    char names[16][CH_NAME_MAX];
    char data[16][64];
} seen;

static void on_frame(ch_link *k, const ch_link_frame *f, void *arg)
{
    seen *s = arg;

    (void)k;
    if (s->n < 16) {
        s->kinds[s->n] = f->kind;
        strcpy(s->names[s->n], f->name);
        snprintf(s->data[s->n], sizeof s->data[0], "%.*s", (int)f->len, f->data);
    }
    s->n++;
}

static void on_gone(ch_link *k, void *arg)
{
    (void)k;
    ((seen *)arg)->gone++;
}

/* Run the loop until cond (re-evaluated) holds or 200 turns passed. */
#define RUN_UNTIL(loop, cond)                               \
    for (int turns_ = 0; !(cond) && turns_ < 200; turns_++) \
    uv_run(loop, UV_RUN_ONCE)

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void finish(uv_loop_t *loop, ch_link *a, ch_link *b)
{
    ch_link_close(a);
    ch_link_close(b);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void frames_cross_in_order(void **state)
{
    uv_loop_t loop;
    seen sa = {0}, sb = {0};
    char err[128];
    int sv[2];
    ch_link *a, *b;

    (void)state;
    uv_loop_init(&loop);
    pair(sv);
    a = ch_link_open(&loop, sv[0], 0, on_frame, on_gone, &sa, err, sizeof err);
    b = ch_link_open(&loop, sv[1], 0, on_frame, on_gone, &sb, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(ch_link_send(a, CH_LINK_GROUP, "room.1", "{\"type\":\"x\"}", 12), 0);
    assert_int_equal(ch_link_send(a, CH_LINK_CHANNEL, "chanhost.ab!1", "{}", 2), 0);
    assert_int_equal(ch_link_send(a, CH_LINK_READY, NULL, NULL, 0), 0);
    RUN_UNTIL(&loop, sb.n == 3);
    assert_int_equal(sb.n, 3);
    assert_int_equal(sb.kinds[0], CH_LINK_GROUP);
    assert_string_equal(sb.names[0], "room.1");
    assert_string_equal(sb.data[0], "{\"type\":\"x\"}");
    assert_int_equal(sb.kinds[1], CH_LINK_CHANNEL);
    assert_string_equal(sb.names[1], "chanhost.ab!1");
    assert_int_equal(sb.kinds[2], CH_LINK_READY);
    assert_string_equal(sb.names[2], "");
    assert_string_equal(sb.data[2], "");
    assert_int_equal(sa.n, 0);
    finish(&loop, a, b);
}

static void split_frame_is_reassembled(void **state)
{
    static const uint8_t frame[] = {0, 0, 0, 7, 'g', 2, 'g', '1', '{', '}', '!'};
    uv_loop_t loop;
    seen sb = {0};
    char err[128];
    int sv[2];
    ch_link *b;

    (void)state;
    uv_loop_init(&loop);
    pair(sv);
    b = ch_link_open(&loop, sv[1], 0, on_frame, on_gone, &sb, err, sizeof err);
    for (size_t i = 0; i < sizeof frame; i++) {
        assert_int_equal(write(sv[0], frame + i, 1), 1);
        uv_run(&loop, UV_RUN_NOWAIT);
        assert_int_equal(sb.n, i + 1 == sizeof frame ? 1 : 0);
    }
    assert_string_equal(sb.names[0], "g1");
    assert_string_equal(sb.data[0], "{}!");
    close(sv[0]);
    RUN_UNTIL(&loop, sb.gone);
    assert_int_equal(sb.gone, 1);
    ch_link_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void output_bound_drops_and_counts(void **state)
{
    uv_loop_t loop;
    seen sa = {0};
    char err[128], data[40] = {0};
    int sv[2];
    ch_link *a;

    (void)state;
    uv_loop_init(&loop);
    pair(sv);
    a = ch_link_open(&loop, sv[0], 100, on_frame, on_gone, &sa, err, sizeof err);
    /* 4 + 2 + 1 + 40 = 47 bytes each: two fit in 100, the third does not */
    assert_int_equal(ch_link_send(a, CH_LINK_GROUP, "g", data, sizeof data), 0);
    assert_int_equal(ch_link_send(a, CH_LINK_GROUP, "g", data, sizeof data), 0);
    assert_int_equal(ch_link_send(a, CH_LINK_GROUP, "g", data, sizeof data), -ENOBUFS);
    assert_int_equal(ch_link_dropped(a), 1);
    uv_run(&loop, UV_RUN_NOWAIT); /* written: room again */
    assert_int_equal(ch_link_send(a, CH_LINK_GROUP, "g", data, sizeof data), 0);
    assert_int_equal(ch_link_send(a, CH_LINK_GROUP, NULL, NULL, CH_LINK_FRAME_MAX), -EINVAL);
    close(sv[1]);
    ch_link_close(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void malformed_frame_ends_the_link(void **state)
{
    static const uint8_t bad[] = {0, 0, 0, 3, 'g', 9, 'x'}; /* name longer than the frame */
    uv_loop_t loop;
    seen sb = {0};
    char err[128];
    int sv[2];
    ch_link *b;

    (void)state;
    uv_loop_init(&loop);
    pair(sv);
    b = ch_link_open(&loop, sv[1], 0, on_frame, on_gone, &sb, err, sizeof err);
    assert_int_equal(write(sv[0], bad, sizeof bad), (ssize_t)sizeof bad);
    RUN_UNTIL(&loop, sb.gone);
    assert_int_equal(sb.gone, 1);
    assert_int_equal(sb.n, 0);
    assert_int_equal(ch_link_send(b, CH_LINK_READY, NULL, NULL, 0), -EPIPE);
    close(sv[0]);
    ch_link_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- two memory layers joined by a link (the master's relay is the
 * identity here: a frame from one is input to the other) ------------- */

typedef struct side {
    ch_layer *layer;
    ch_link *link;
    ch_endpoint ep;
    int got;
    char last[64];
} side;

static void deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    side *s = arg;

    (void)ep;
    s->got++;
    snprintf(s->last, sizeof s->last, "%s", msg->text);
}

static void relay(ch_link *k, const ch_link_frame *f, void *arg)
{
    side *s = arg;

    (void)k;
    ch_layer_link_input(s->layer, f->kind, f->name, f->data, f->len);
}

static void side_open(side *s, uv_loop_t *loop, int fd)
{
    ch_layer_opts o = {0};
    char err[128];

    s->link = ch_link_open(loop, fd, 0, relay, NULL, s, err, sizeof err);
    assert_non_null(s->link);
    o.link = s->link;
    s->layer = ch_layer_new(loop, "memory", &o, deliver, s, err, sizeof err);
    assert_non_null(s->layer);
    assert_int_equal(ch_layer_attach(s->layer, &s->ep), 0);
}

static void memory_layers_relay_once(void **state)
{
    uv_loop_t loop;
    side a = {0}, b = {0};
    const char *why = NULL;
    ch_msg *m = ch_msg_from_text("{\"type\":\"t\",\"n\":1}", 18, &why);
    int sv[2];

    (void)state;
    uv_loop_init(&loop);
    pair(sv);
    side_open(&a, &loop, sv[0]);
    side_open(&b, &loop, sv[1]);
    assert_int_equal(ch_layer_group_add(a.layer, &a.ep, "room"), 0);
    assert_int_equal(ch_layer_group_add(b.layer, &b.ep, "room"), 0);
    assert_int_equal(ch_layer_group_send(a.layer, "room", m), 0);
    assert_int_equal(a.got, 1); /* the local member at once */
    RUN_UNTIL(&loop, b.got == 1);
    assert_int_equal(b.got, 1);
    assert_string_equal(b.last, "{\"type\":\"t\",\"n\":1}");
    /* a channel of the other side crosses; one of its own does not */
    assert_int_equal(ch_layer_send(b.layer, CH_LAYER_CHANNEL_NAME(a.layer, &a.ep), m), 0);
    RUN_UNTIL(&loop, a.got == 2);
    assert_int_equal(a.got, 2);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(b.got, 1); /* nothing came back */
    ch_msg_unref(m);
    ch_layer_set_link(a.layer, NULL);
    ch_layer_set_link(b.layer, NULL);
    ch_layer_detach(a.layer, &a.ep);
    ch_layer_detach(b.layer, &b.ep);
    ch_layer_free(a.layer);
    ch_layer_free(b.layer);
    finish(&loop, a.link, b.link);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frames_cross_in_order),
        cmocka_unit_test(split_frame_is_reassembled),
        cmocka_unit_test(output_bound_drops_and_counts),
        cmocka_unit_test(malformed_frame_ends_the_link),
        cmocka_unit_test(memory_layers_relay_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
