/*
 * link.c -- owns a master-worker link (link.h): its uv_pipe_t on one end
 * of a socketpair, the read buffer that frames are cut from, and the
 * bounded output queue (each write holds a reference to its ch_buf).
 */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LINK_HEADER 6                   /* length (4), kind (1), name length (1) */
#define LINK_KEEP_BUF ((size_t)1 << 20) /* a larger read buffer is freed when empty */

struct ch_link {
    uv_pipe_t pipe;
    ch_link_frame_fn on_frame;
    ch_link_gone_fn on_gone;
    void *arg;
    size_t max_queued;
    size_t queued; /* bytes handed to uv_write, not yet written */
    uint64_t dropped;
    uint8_t *in; /* bytes read, not yet a whole frame */
    size_t in_len, in_cap;
    unsigned gone : 1, closed : 1;
};

/* One write in flight: the request and the buffer it holds a ref to. */
typedef struct link_write {
    uv_write_t req;
    ch_link *k;
    ch_buf *buf;
} link_write;

static void link_gone(ch_link *k)
{
    if (k->gone)
        return;
    k->gone = 1;
    uv_read_stop((uv_stream_t *)&k->pipe);
    if (k->on_gone)
        k->on_gone(k, k->arg);
}

/* Decode the frame at p (a whole one: len bytes) into *f.  Returns 0 or
 * -1 when the name is too long for the frame. */
static int frame_decode(const uint8_t *p, size_t len, ch_link_frame *f)
{
    size_t m = p[5];

    if (LINK_HEADER + m > len || m >= CH_NAME_MAX)
        return -1;
    f->kind = p[4];
    memcpy(f->name, p + LINK_HEADER, m);
    f->name[m] = '\0';
    f->data = (const char *)p + LINK_HEADER + m;
    f->len = len - LINK_HEADER - m;
    f->raw = p;
    f->raw_len = len;
    return 0;
}

/* Hand every whole frame in the read buffer to on_frame; keep the rest.
 * A malformed frame ends the link. */
static void link_consume(ch_link *k)
{
    size_t off = 0;

    while (!k->gone && k->in_len - off >= LINK_HEADER) {
        const uint8_t *p = k->in + off;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        ch_link_frame f;

        if (n < 2 || n > CH_LINK_FRAME_MAX) {
            ch_log(CH_LOG_ERROR, "link: malformed frame (length %zu)", n);
            link_gone(k);
            return;
        }
        if (k->in_len - off < 4 + n)
            break;
        if (frame_decode(p, 4 + n, &f) != 0) {
            ch_log(CH_LOG_ERROR, "link: malformed frame (name length %u)", p[5]);
            link_gone(k);
            return;
        }
        off += 4 + n;
        k->on_frame(k, &f, k->arg);
    }
    memmove(k->in, k->in + off, k->in_len - off);
    k->in_len -= off;
    if (k->in_len == 0 && k->in_cap > LINK_KEEP_BUF) { /* after a large frame */
        free(k->in);
        k->in = NULL;
        k->in_cap = 0;
    }
}

/* Give libuv room at the end of the read buffer, growing it as needed. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    ch_link *k = h->data;
    size_t want = k->in_len + (hint < 65536 ? 65536 : hint);

    if (want > k->in_cap) {
        uint8_t *in = realloc(k->in, want);

        if (!in) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        k->in = in;
        k->in_cap = want;
    }
    buf->base = (char *)k->in + k->in_len;
    buf->len = k->in_cap - k->in_len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    ch_link *k = s->data;

    (void)buf;
    if (n < 0) {
        if (n != UV_EOF)
            ch_log(CH_LOG_WARN, "link: %s", uv_strerror((int)n));
        link_gone(k);
        return;
    }
    k->in_len += (size_t)n;
    link_consume(k);
}

ch_link *ch_link_open(uv_loop_t *loop, int fd, size_t max_queued, ch_link_frame_fn on_frame,
                      ch_link_gone_fn on_gone, void *arg, char *err, size_t errlen)
{
    ch_link *k = calloc(1, sizeof *k);
    int rc;

    if (!k) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return NULL;
    }
    uv_pipe_init(loop, &k->pipe, 0);
    k->pipe.data = k;
    k->on_frame = on_frame;
    k->on_gone = on_gone;
    k->arg = arg;
    k->max_queued = max_queued ? max_queued : CH_LINK_QUEUE_MAX;
    rc = uv_pipe_open(&k->pipe, fd);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&k->pipe, on_alloc, on_read);
    if (rc != 0) {
        snprintf(err, errlen, "link on fd %d: %s", fd, uv_strerror(rc));
        ch_link_close(k);
        return NULL;
    }
    return k;
}

static void on_written(uv_write_t *req, int status)
{
    link_write *w = (link_write *)req;

    w->k->queued -= w->buf->len;
    ch_buf_unref(w->buf);
    if (status < 0 && status != UV_ECANCELED && !w->k->closed) {
        ch_log(CH_LOG_WARN, "link: write: %s", uv_strerror(status));
        link_gone(w->k);
    }
    free(w);
}

int ch_link_send_buf(ch_link *k, ch_buf *buf)
{
    link_write *w;
    uv_buf_t b;

    if (k->gone || k->closed)
        return -EPIPE;
    if (k->queued + buf->len > k->max_queued) {
        if (!k->dropped++ || k->dropped % 1000 == 0)
            ch_log(CH_LOG_WARN, "link: output queue full (%zu bytes): %llu frame(s) dropped",
                   k->queued, (unsigned long long)k->dropped);
        return -ENOBUFS;
    }
    if (!(w = malloc(sizeof *w)))
        return -ENOMEM;
    w->k = k;
    w->buf = ch_buf_ref(buf);
    b = uv_buf_init((char *)buf->data, buf->len);
    k->queued += buf->len;
    if (uv_write(&w->req, (uv_stream_t *)&k->pipe, &b, 1, on_written) != 0) {
        k->queued -= buf->len;
        ch_buf_unref(buf);
        free(w);
        link_gone(k);
        return -EPIPE;
    }
    return 0;
}

int ch_link_send(ch_link *k, int kind, const char *name, const void *data, size_t len)
{
    size_t m = name ? strlen(name) : 0, n = 2 + m + len;
    ch_buf *buf;
    int rc;

    if (m >= CH_NAME_MAX || n > CH_LINK_FRAME_MAX)
        return -EINVAL;
    if (!(buf = ch_buf_new(4 + n)))
        return -ENOMEM;
    buf->data[0] = (uint8_t)(n >> 24);
    buf->data[1] = (uint8_t)(n >> 16);
    buf->data[2] = (uint8_t)(n >> 8);
    buf->data[3] = (uint8_t)n;
    buf->data[4] = (uint8_t)kind;
    buf->data[5] = (uint8_t)m;
    if (m)
        memcpy(buf->data + LINK_HEADER, name, m);
    if (len)
        memcpy(buf->data + LINK_HEADER + m, data, len);
    rc = ch_link_send_buf(k, buf);
    ch_buf_unref(buf);
    return rc;
}

uint64_t ch_link_dropped(const ch_link *k) { return k->dropped; }

void ch_link_ref(ch_link *k, int ref)
{
    if (ref)
        uv_ref((uv_handle_t *)&k->pipe);
    else
        uv_unref((uv_handle_t *)&k->pipe);
}

static void on_closed(uv_handle_t *h)
{
    ch_link *k = h->data;

    free(k->in);
    free(k);
}

void ch_link_close(ch_link *k)
{
    if (!k || k->closed)
        return;
    k->closed = 1;
    k->gone = 1;
    uv_close((uv_handle_t *)&k->pipe, on_closed);
}
