/*
 * fake_ws.c -- owns the fuzz targets' ch_ws objects and their handler
 * table (fake_ws.h); each is freed by the table's gone hook.
 */
#include "fake_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "fuzz.h"
#include "msg.h"

/* Copy s with its NUL to p; returns the byte after it. */
static char *put(char *p, const char *s)
{
    size_t n = strlen(s) + 1;

    memcpy(p, s, n);
    return p + n;
}

/* Echo the message, or close with 4000 and the rest as the reason. */
static void on_message(ch_ws *w, const char *text, size_t len, int binary)
{
    ch_buf *frame;

    FZ_CHECK(text[len] == '\0' && w->accepted);
    if (len >= 5 && memcmp(text, "close", 5) == 0) {
        ch_ws_close(w, 4000, text + 5);
        return;
    }
    frame = ch_ws_frame_new(binary ? CH_WS_OP_BINARY : CH_WS_OP_TEXT, text, len);
    FZ_CHECK(frame != NULL);
    ch_ws_send_frame(w, frame);
    ch_buf_unref(frame);
}

/* Layer messages never arrive here (no layer): send them as they are. */
static int on_group_message(ch_ws *w, ch_msg *msg)
{
    (void)w;
    (void)msg;
    return 0;
}

static void on_opened(ch_ws *w) { FZ_CHECK(w->ctx != NULL); }

/* The connection goes: free the ch_ws and what it holds (its path and
 * request block, apart here). */
static void on_gone(ch_conn *c)
{
    ch_ws *w = c->ws;

    if (w->accepted)
        c->app->n_ws--;
    ch_ws_free_wslay(w);
    if (w->req)
        free(w->req->subprotocol);
    free(w->req);
    free(w->path);
    free(w);
    c->ws = NULL;
}

static const ch_ws_handler handler = {
    .message = on_message,
    .group_message = on_group_message,
    .opened = on_opened,
    .gone = on_gone,
};

ch_ws *fz_ws_pending(ch_conn *c, const ch_req *req)
{
    ch_ws *w = calloc(1, sizeof *w);
    size_t size = strlen(req->query) + 1, i;
    char *p;

    for (i = 0; i < req->n_headers; i++)
        size += strlen(req->names[i]) + strlen(req->values[i]) + 2;
    FZ_CHECK(w != NULL && (w->path = strdup(req->path)) != NULL);
    FZ_CHECK((w->req = calloc(1, sizeof *w->req + size)) != NULL);
    p = put(w->req->query, req->query);
    for (i = 0; i < req->n_headers; i++) {
        p = put(p, req->names[i]);
        p = put(p, req->values[i]);
    }
    w->req->n_headers = (uint16_t)req->n_headers;
    w->conn = c;
    ch_ws_set_handler(&handler);
    c->ws = w;
    c->proto = &ch_ws_proto;
    c->state = CH_CONN_WS_PENDING;
    return w;
}

ch_ws *fz_ws_open(ch_conn *c)
{
    static const ch_req none = {.path = "/ws/fuzz/", .query = ""};
    ch_ws *w = fz_ws_pending(c, &none);

    FZ_CHECK(ch_ws_start_wslay(w) == 0);
    w->accepted = 1;
    c->app->n_ws++;
    c->state = CH_CONN_WS;
    c->fresh = 0;
    return w;
}
