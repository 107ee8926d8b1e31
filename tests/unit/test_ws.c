/*
 * test_ws.c -- the WebSocket path of the host (upgrade.c, ws.c, conn.c,
 * http.c) with an in-process plugin and a raw client socket: frame and
 * UTF-8 limits, close codes, fragmentation, pings, slow clients,
 * api->on_drain (sending far more than the queue holds, part by part),
 * the connection's block of rare fields (made on first use: the peer's
 * text, the channel name) and its output queue (made only while
 * something is queued).
 *
 * The host runs on a loop in this thread; the client is a plain loopback
 * socket.  Waiting means stepping the loop until the client's socket has
 * the bytes expected (or a deadline passes), so no test sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "app_host.h"
#include "chanhost.h"
#include "metrics.h"
#include "plugins.h"
#include "ws.h"

static const chanhost_api *api;
static int receives; /* receive callbacks seen */
static size_t last_len;
static int flood;       /* messages the plugin sends per receive */
static int drain_left;  /* 1 KiB messages still to send, one per drain */
static int drain_calls; /* on_drain callbacks seen */
static int in_on_drain; /* set around api->on_drain calls */
static chanhost_conn *last_conn; /* the latest connect's connection */

/* The queue was written: send the next 1 KiB message and ask again (a
 * second ask while one waits is refused); never inside on_drain. */
static void t_drained(chanhost_conn *c, void *arg)
{
    static char big[1024];

    assert_int_equal(in_on_drain, 0);
    assert_ptr_equal(arg, &drain_left);
    drain_calls++;
    if (drain_left <= 0)
        return;
    drain_left--;
    memset(big, 'y', sizeof big);
    assert_int_equal(api->send_text(c, big, sizeof big), CHANHOST_OK);
    in_on_drain = 1;
    assert_int_equal(api->on_drain(c, t_drained, arg), CHANHOST_OK);
    assert_int_equal(api->on_drain(c, t_drained, arg), CHANHOST_ERR_STATE);
    in_on_drain = 0;
}

static int t_init(const chanhost_api *a, const json_t *s, void **st)
{
    (void)s;
    (void)st;
    api = a;
    return 0;
}

static int t_connect(chanhost_conn *c, void *st)
{
    (void)st;
    last_conn = c;
    return CHANHOST_ACCEPT;
}

/* Echo, or flood the client with `flood` 1 KiB messages. */
static void t_receive(chanhost_conn *c, void *st, const char *d, size_t n, int bin)
{
    static char big[1024];
    int i;

    (void)st;
    receives++;
    last_len = n;
    if (drain_left) {
        in_on_drain = 1; /* nothing queued: the callback still waits */
        assert_int_equal(api->on_drain(c, t_drained, &drain_left), CHANHOST_OK);
        in_on_drain = 0;
        return;
    }
    if (!flood) {
        (bin ? api->send_binary
             : (int (*)(chanhost_conn *, const void *, size_t))api->send_text)(c, d, n);
        return;
    }
    memset(big, 'x', sizeof big);
    for (i = 0; i < flood; i++)
        if (api->send_text(c, big, sizeof big) != CHANHOST_OK)
            break;
}

static void t_disconnect(chanhost_conn *c, void *st, int code)
{
    (void)c;
    (void)st;
    (void)code;
}

static const chanhost_plugin test_desc = CHANHOST_PLUGIN_INIT(.name = "t", .version = "0",
                                                              .init = t_init, .connect = t_connect,
                                                              .receive = t_receive,
                                                              .disconnect = t_disconnect);

typedef struct fx {
    uv_loop_t loop;
    ch_app app;
    int port;
    int fd; /* the client */
    unsigned char buf[1 << 20];
    size_t len; /* bytes received by the client, unread */
} fx;

/* Step the loop until the client has at least `want` bytes, or EOF, or 5 s
 * pass.  Returns the number of bytes available. */
static size_t pump(fx *f, size_t want)
{
    int i;

    for (i = 0; i < 5000 && f->len < want; i++) {
        struct pollfd p = {f->fd, POLLIN, 0};
        ssize_t n;

        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (poll(&p, 1, 1) <= 0)
            continue;
        n = recv(f->fd, f->buf + f->len, sizeof f->buf - f->len, 0);
        if (n <= 0)
            break;
        f->len += (size_t)n;
    }
    return f->len;
}

static void consume(fx *f, size_t n)
{
    memmove(f->buf, f->buf + n, f->len - n);
    f->len -= n;
}

/* Send a masked frame (mask key 0x11223344) from the client. */
static void send_frame(fx *f, int fin, int opcode, const void *data, size_t n, int masked)
{
    unsigned char h[14], key[4] = {0x11, 0x22, 0x33, 0x44}, *p = malloc(n + 1);
    size_t hl = 2, i;

    h[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    }
    if (masked) {
        h[1] |= 0x80;
        memcpy(h + hl, key, 4);
        hl += 4;
    }
    for (i = 0; i < n; i++)
        p[i] = ((const unsigned char *)data)[i] ^ (masked ? key[i % 4] : 0);
    assert_int_equal(send(f->fd, h, hl, 0), (ssize_t)hl);
    if (n)
        assert_int_equal(send(f->fd, p, n, 0), (ssize_t)n);
    free(p);
}

/* Read one server frame: returns its opcode, payload in out (<= cap). */
static int read_frame(fx *f, unsigned char *out, size_t cap, size_t *n)
{
    size_t hl = 2, len;

    assert_true(pump(f, 2) >= 2);
    len = f->buf[1] & 0x7f;
    if (len == 126) {
        assert_true(pump(f, 4) >= 4);
        len = (size_t)f->buf[2] << 8 | f->buf[3];
        hl = 4;
    }
    assert_int_equal(f->buf[1] & 0x80, 0); /* server frames are unmasked */
    assert_true(pump(f, hl + len) >= hl + len);
    assert_true(len <= cap);
    memcpy(out, f->buf + hl, len);
    *n = len;
    {
        int op = f->buf[0] & 0x0f;

        consume(f, hl + len);
        return op;
    }
}

/* Expect a close frame carrying `code`. */
static void expect_close(fx *f, int code)
{
    unsigned char p[128];
    size_t n = 0;

    assert_int_equal(read_frame(f, p, sizeof p, &n), 8);
    assert_true(n >= 2);
    assert_int_equal(p[0] << 8 | p[1], code);
}

static void handshake(fx *f)
{
    char req[256];
    char *end;
    int n = snprintf(req, sizeof req,
                     "GET /ws/t/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     f->port);

    assert_int_equal(send(f->fd, req, (size_t)n, 0), n);
    while (!(end = memmem(f->buf, f->len, "\r\n\r\n", 4)))
        assert_true(pump(f, f->len + 1) > 0);
    assert_memory_equal(f->buf, "HTTP/1.1 101", 12);
    assert_non_null(memmem(f->buf, f->len, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28));
    consume(f, (size_t)((unsigned char *)end - f->buf) + 4);
}

/* A host with route /ws/t/ served by the in-process plugin above. */
static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ch_config cfg;
    ch_diag d = {0};
    ch_plugin *p = calloc(1, sizeof *p);
    struct sockaddr_in sa = {.sin_family = AF_INET};

    receives = 0;
    last_conn = NULL;
    flood = 0;
    drain_left = 0;
    ch_config_init(&cfg);
    ch_config_apply(&cfg, "route", "/ws/t/ t", "--route", &d);
    ch_config_apply(&cfg, "max_message_size", "1kb", "--x", &d);
    ch_config_apply(&cfg, "max_outbound_bytes", "64kb", "--x", &d);
    ch_config_apply(&cfg, "listen", "127.0.0.1:0", "--x", &d);
    ch_config_apply(&cfg, "verbosity", "0", "--x", &d);
    assert_int_equal(d.n, 0);
    cfg.plugin_dir = strdup("/nonexistent");
    uv_loop_init(&f->loop);
    assert_int_equal(ch_app_init(&f->app, &f->loop, &cfg), 0);
    assert_int_equal(ch_app_listen(&f->app), 0);
    assert_int_equal(ch_app_load(&f->app), 0); /* "t" fails to load from disk */
    p->name = strdup("t");
    p->file = strdup("(in-process)");
    p->desc = &test_desc;
    p->refs = 1;
    assert_int_equal(test_desc.init(ch_api_table(), NULL, &p->state), 0);
    f->app.routes.routes[0]->plugin = p;
    f->app.plugins = realloc(f->app.plugins, sizeof *f->app.plugins);
    f->app.plugins[0] = p;
    f->app.n_plugins = 1;
    f->port = atoi(strrchr(f->app.listen_addr, ':') + 1);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_port = htons((uint16_t)f->port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ch_diag_free(&d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    close(f->fd);
    ch_app_stop(&f->app);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    ch_app_free(&f->app);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void text_is_echoed(void **state)
{
    fx *f = *state;
    unsigned char p[64];
    size_t n;

    handshake(f);
    send_frame(f, 1, 1, "hello", 5, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "hello", 5);
}

static void message_over_limit_closes_1009(void **state)
{
    fx *f = *state;
    static char big[1025];

    memset(big, 'a', sizeof big);
    handshake(f);
    send_frame(f, 1, 1, big, sizeof big, 1);
    expect_close(f, 1009);
    assert_int_equal(receives, 0);
}

static void message_at_limit_is_delivered(void **state)
{
    fx *f = *state;
    static char big[1024];
    unsigned char p[1100];
    size_t n;

    memset(big, 'a', sizeof big);
    handshake(f);
    send_frame(f, 1, 1, big, sizeof big, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_int_equal(n, 1024);
}

static void invalid_utf8_closes_1007(void **state)
{
    fx *f = *state;

    handshake(f);
    send_frame(f, 1, 1, "ok\xc3\x28", 4, 1);
    expect_close(f, 1007);
    assert_int_equal(receives, 0);
}

static void unmasked_frame_closes_1002(void **state)
{
    fx *f = *state;

    handshake(f);
    send_frame(f, 1, 1, "hi", 2, 0);
    expect_close(f, 1002);
}

static void one_byte_close_payload_closes_1002(void **state)
{
    fx *f = *state;

    handshake(f);
    send_frame(f, 1, 8, "\x03", 1, 1);
    expect_close(f, 1002);
}

static void fragments_arrive_as_one_message(void **state)
{
    fx *f = *state;
    unsigned char p[64];
    size_t n;
    int i, pongs = 0;

    handshake(f);
    send_frame(f, 0, 1, "frag", 4, 1);
    send_frame(f, 1, 9, "pp", 2, 1); /* a ping between fragments */
    send_frame(f, 1, 0, "ments", 5, 1);
    /* the pong and the echo, in either order (RFC 6455 lets a pong go
     * whenever it is practical) */
    for (i = 0; i < 2; i++) {
        int op = read_frame(f, p, sizeof p, &n);

        if (op == 10) {
            assert_int_equal(n, 2);
            assert_memory_equal(p, "pp", 2);
            pongs++;
        } else {
            assert_int_equal(op, 1);
            assert_int_equal(n, 9);
            assert_memory_equal(p, "fragments", 9);
        }
    }
    assert_int_equal(pongs, 1);
    assert_int_equal(receives, 1);
    assert_int_equal(last_len, 9);
}

/* Step the loop until the wslay contexts alive are `want` (at most 5000
 * steps).  Returns whether they are. */
static int parsers_reach(fx *f, uint64_t want)
{
    for (int i = 0; i < 5000 && ch_metric_get(CH_M_WS_PARSERS) != want; i++) {
        struct pollfd none = {-1, 0, 0};

        uv_run(&f->loop, UV_RUN_NOWAIT);
        poll(&none, 1, 1);
    }
    return ch_metric_get(CH_M_WS_PARSERS) == want;
}

/* A released context goes to the pool and serves the next frame of
 * another connection; each frame's echo reaches its own connection while
 * a third's frame is half read in a context of its own. */
static void contexts_are_pooled_across_connections(void **state)
{
    fx *f = *state;
    int a = f->fd, b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    unsigned char p[64], half[11] = {0x81, 0x85, 0x11, 0x22, 0x33, 0x44};
    uint64_t base = ch_metric_get(CH_M_WS_PARSERS);
    size_t n;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(b, (struct sockaddr *)&sa, sizeof sa), 0);
    handshake(f);
    f->fd = b;
    handshake(f);
    f->fd = a;
    send_frame(f, 1, 1, "one", 3, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_memory_equal(p, "one", 3);
    assert_true(parsers_reach(f, base)); /* a's context is back in the pool */
    for (int i = 0; i < 5; i++)
        half[6 + i] = (unsigned char)("three"[i] ^ half[2 + i % 4]);
    assert_int_equal(send(b, half, 6, 0), 6); /* b: a header, no payload yet */
    assert_true(parsers_reach(f, base + 1));
    send_frame(f, 1, 1, "two", 3, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "two", 3);
    assert_true(parsers_reach(f, base + 1)); /* b keeps its own */
    f->fd = b;
    assert_int_equal(send(b, half + 6, 5, 0), 5);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "three", 5);
    assert_true(parsers_reach(f, base));
    assert_int_equal(receives, 3);
    f->fd = a;
    close(b);
}

static void slow_client_is_closed_1013(void **state)
{
    fx *f = *state;
    uint64_t before = ch_metric_get(CH_M_SLOW_CLOSES);
    int rcv = 4096;
    unsigned char p[2048];
    size_t n;
    int op, i;

    setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    handshake(f);
    flood = 1000; /* ~1 MB towards a 64 KiB queue */
    send_frame(f, 1, 1, "go", 2, 1);
    for (i = 0; i < 5000 && ch_metric_get(CH_M_SLOW_CLOSES) == before; i++) {
        struct pollfd none = {-1, 0, 0};

        uv_run(&f->loop, UV_RUN_NOWAIT);
        poll(&none, 1, 1); /* give the kernel a moment between steps */
    }
    assert_int_equal(receives, 1);
    assert_int_equal(ch_metric_get(CH_M_SLOW_CLOSES), before + 1);
    /* what was already on its way arrives, then the close with 1013 */
    while ((op = read_frame(f, p, sizeof p, &n)) == 1)
        ;
    assert_int_equal(op, 8);
    assert_int_equal(p[0] << 8 | p[1], 1013);
}

/* With on_drain a plugin sends 1 MB through a 64 KiB queue to a client
 * with a small receive buffer: every message arrives, no 1013. */
static void drain_paces_a_large_send(void **state)
{
    fx *f = *state;
    uint64_t before = ch_metric_get(CH_M_SLOW_CLOSES);
    int rcv = 4096, i;
    unsigned char p[2048];
    size_t n;

    setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    handshake(f);
    drain_left = 1000;
    drain_calls = 0;
    send_frame(f, 1, 1, "go", 2, 1);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
        assert_int_equal(n, 1024);
        assert_int_equal(p[0], 'y');
    }
    for (i = 0; i < 5000 && drain_calls < 1001; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT); /* the last write's callback */
    assert_int_equal(drain_calls, 1001);
    assert_int_equal(f->len, 0);
    assert_int_equal(ch_metric_get(CH_M_SLOW_CLOSES), before);
}

/* A connection has no block of rare fields until one is used: api->peer
 * makes it, and gives the same text on each call. */
static void rare_fields_are_made_on_first_use(void **state)
{
    fx *f = *state;
    unsigned char p[64];
    const char *peer;
    size_t n;

    handshake(f);
    send_frame(f, 1, 1, "hi", 2, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_non_null(last_conn);
    assert_null(last_conn->rare);
    peer = api->peer(last_conn);
    assert_non_null(peer);
    assert_memory_equal(peer, "127.0.0.1:", 10);
    assert_non_null(last_conn->rare);
    assert_ptr_equal(api->peer(last_conn), peer);
    assert_null(last_conn->rare->drain_cb);
}

/* api->channel_name is made from the endpoint's number on the first call
 * (the rare block keeps it) and names the connection for the layer. */
static void channel_name_is_made_on_first_use(void **state)
{
    fx *f = *state;
    unsigned char p[64];
    const char *name;
    ch_msg *m = ch_msg_from_text("{\"type\":\"t\"}", 12, NULL);
    size_t n;

    handshake(f);
    send_frame(f, 1, 1, "hi", 2, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_null(last_conn->rare);
    name = api->channel_name(last_conn);
    assert_non_null(name);
    assert_memory_equal(name, "chanhost.", 9);
    assert_non_null(last_conn->rare);
    assert_ptr_equal(api->channel_name(last_conn), name);
    assert_non_null(m);
    assert_int_equal(ch_layer_deliver_channel(f->app.layer, name, m), 1);
    ch_msg_unref(m);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    assert_int_equal(n, 12);
    assert_memory_equal(p, "{\"type\":\"t\"}", 12);
}

/* The output queue is a block that exists only while something is
 * queued: ten messages grow its ring past the first 4 items with their
 * bytes counted, and once they are written the connection holds none. */
static void output_queue_exists_only_while_queued(void **state)
{
    fx *f = *state;
    static char big[1024];
    unsigned char p[2048];
    ch_conn *c;
    size_t n;
    int i;

    handshake(f);
    send_frame(f, 1, 1, "hi", 2, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    c = last_conn->conn;
    for (i = 0; i < 100 && c->q; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_null(c->q);
    assert_int_equal(ch_conn_qlen(c), 0);
    assert_int_equal(ch_conn_queued_bytes(c), 0);
    memset(big, 'q', sizeof big);
    for (i = 0; i < 10; i++)
        assert_int_equal(api->send_text(last_conn, big, sizeof big), CHANHOST_OK);
    assert_non_null(c->q);
    assert_int_equal(ch_conn_qlen(c), 10);
    assert_int_equal(c->q->cap, 16);
    assert_true(ch_conn_queued_bytes(c) > 10 * sizeof big);
    for (i = 0; i < 10; i++) {
        assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
        assert_int_equal(n, sizeof big);
        assert_int_equal(p[0], 'q');
    }
    for (i = 0; i < 1000 && c->q; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT); /* the last write's callback */
    assert_null(c->q);
    assert_int_equal(ch_conn_queued_bytes(c), 0);
}

/* The peer address: IPv4 in place, IPv6 in a block of its own that goes
 * when the peer is IPv4 again or with the connection (ASan's leak check
 * sees a lost one); each formats as inet_ntop writes it. */
static void peer_address_v4_and_v6(void **state)
{
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    static const uint8_t v4[4] = {10, 0, 0, 1};
    fx *f = *state;
    unsigned char p[64];
    char buf[CH_CONN_PEER_LEN];
    ch_conn *c;
    size_t n;

    handshake(f);
    send_frame(f, 1, 1, "hi", 2, 1);
    assert_int_equal(read_frame(f, p, sizeof p, &n), 1);
    c = last_conn->conn;
    assert_false(c->peer_v6);
    assert_memory_equal(ch_conn_peer_format(c, buf), "127.0.0.1:", 10);
    assert_int_equal(ch_conn_set_peer_ip(c, v6, 1), 0);
    assert_true(c->peer_v6);
    assert_memory_equal(ch_conn_peer_format(c, buf), "2001:db8::1:", 12);
    assert_int_equal(ch_conn_set_peer_ip(c, v6 + 0, 1), 0); /* the same block again */
    assert_int_equal(ch_conn_set_peer_ip(c, v4, 0), 0);
    assert_false(c->peer_v6);
    assert_memory_equal(ch_conn_peer_format(c, buf), "10.0.0.1:", 9);
    assert_int_equal(ch_conn_set_peer_ip(c, v6, 1), 0); /* freed with the connection */
    assert_memory_equal(ch_conn_peer_format(c, buf), "2001:db8::1:", 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(text_is_echoed),
        T(message_over_limit_closes_1009),
        T(message_at_limit_is_delivered),
        T(invalid_utf8_closes_1007),
        T(unmasked_frame_closes_1002),
        T(one_byte_close_payload_closes_1002),
        T(fragments_arrive_as_one_message),
        T(contexts_are_pooled_across_connections),
        T(slow_client_is_closed_1013),
        T(drain_paces_a_large_send),
        T(rare_fields_are_made_on_first_use),
        T(channel_name_is_made_on_first_use),
        T(output_queue_exists_only_while_queued),
        T(peer_address_v4_and_v6),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
