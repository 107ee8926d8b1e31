/*
 * fake_conn.c -- owns the fuzz targets' one loop and app and their
 * unconnected connections (fake_conn.h).  The app is never freed: it
 * lives as long as the fuzzing process.
 */
#include "fake_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"

static uv_loop_t loop;
static ch_app app;
static int ready;

/* The app, made once: defaults, then limits small enough for a fuzzer to
 * reach every one of them (414, 431, 413, the message size). */
ch_app *fz_app(void)
{
    if (ready)
        return &app;
    FZ_CHECK(uv_loop_init(&loop) == 0);
    app.loop = &loop;
    FZ_CHECK(ch_config_init(&app.cfg) == 0);
    app.cfg.max_request_line = 512;
    app.cfg.max_header_bytes = 2048;
    app.cfg.max_headers = 16;
    app.cfg.max_body_size = 1024;
    app.cfg.max_message_size = 4096;
    app.cfg.max_outbound_bytes = 16384;
    ch_log_set_verbosity(getenv("FUZZ_VERBOSE") ? 3 : -1);
    ready = 1;
    return &app;
}

ch_conn *fz_conn_new(void)
{
    ch_app *a = fz_app();
    ch_conn *c = calloc(1, sizeof *c);

    FZ_CHECK(c != NULL);
    c->app = a;
    FZ_CHECK(uv_tcp_init(a->loop, &c->tcp) == 0);
    c->tcp.data = c;
    c->next = a->conns; /* conn.c's conn_link: conn_free unlinks it */
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    a->n_conns++;
    c->fresh = 1;
    ch_conn_set_peer_ip(c, (const uint8_t[]){192, 0, 2, 1}, 0); /* 192.0.2.1:4242 */
    c->peer_port = 4242;
    return c;
}

void fz_conn_feed(ch_conn *c, const uint8_t *data, size_t len, size_t chunk, fz_after_fn after)
{
    size_t off = 0;

    if (chunk == 0)
        chunk = len;
    while (off < len && !c->closing && !c->close_after_flush && c->proto) {
        size_t n = len - off < chunk ? len - off : chunk;

        c->proto->feed(c, (const char *)data + off, n);
        off += n;
        if (after)
            after(c);
    }
}

void fz_conn_finish(ch_conn *c)
{
    ch_app *a = c->app;

    a->n_dirty = 0; /* nothing is written: the queue goes with c */
    c->dirty = 0;
    ch_conn_close(c);
    uv_run(a->loop, UV_RUN_DEFAULT);
    FZ_CHECK(a->conns == NULL && a->n_conns == 0);
}

void fz_http_run(const uint8_t *data, size_t len, fz_after_fn after)
{
    size_t chunks[2] = {0, 1 + len % 13};

    for (int i = 0; i < 2; i++) {
        ch_conn *c = fz_conn_new();

        FZ_CHECK(ch_http_open(c) == 0);
        fz_conn_feed(c, data, len, chunks[i], after);
        fz_conn_finish(c);
    }
}
