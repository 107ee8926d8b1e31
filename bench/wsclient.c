/*
 * wsclient.c -- chanbench's minimal WebSocket client on libuv: bounded
 * concurrent connects (optionally from several loopback source addresses),
 * the HTTP upgrade with a fixed key and a check of the 101 and its
 * Sec-WebSocket-Accept, masked client frames out, server frames in (text,
 * ping answered with pong, close answered with close).  What a message
 * means is the scenario's business (scenarios.c).
 *
 * Memory: one read buffer per worker; a client keeps bytes of its own only
 * while a frame or the 101 arrived in part.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr */
#endif
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chanbench.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_RESPONSE 8192               /* larger 101 answers are refused */
#define MAX_PENDING (16u * 1024 * 1024) /* largest frame we buffer */
/* RFC 6455's example key and its accept value (section 1.3). */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* A write that did not fit in the socket buffer at once. */
typedef struct pending_write {
    uv_write_t req;
    size_t len;
    char data[];
} pending_write;

/* Record the first error of this worker (later ones are counted only). */
void cb_fail(cb_worker *wk, const char *fmt, ...)
{
    va_list ap;

    if (wk->res->first_error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(wk->res->first_error, sizeof wk->res->first_error, fmt, ap);
    va_end(ap);
}

/* The worker's loop, read buffer, upgrade request and client table. */
int cb_worker_init(cb_worker *wk)
{
    const cb_opts *o = wk->o;
    char req[1024];
    int len;

    len = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                   "Sec-WebSocket-Version: 13\r\nOrigin: http://%s:%d\r\n\r\n",
                   o->path, o->host, o->port, o->host, o->port);
    if (len <= 0 || (size_t)len >= sizeof req || uv_loop_init(&wk->loop) != 0)
        return -1;
    wk->request = strdup(req);
    wk->request_len = (size_t)len;
    wk->rbuf_size = RBUF_SIZE;
    wk->rbuf = malloc(wk->rbuf_size);
    wk->clients = calloc((size_t)(wk->n ? wk->n : 1), sizeof *wk->clients);
    return wk->request && wk->rbuf && wk->clients ? 0 : -1;
}

static void on_closed(uv_handle_t *h)
{
    cb_client *c = h->data;

    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
}

/* Close c's socket (once); its buffer goes when libuv reports it closed. */
void cb_client_close(cb_client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->state = CB_C_CLOSED;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* A handshake was answered (ok) or failed: count it, start more. */
static void settle(cb_client *c, int ok)
{
    cb_worker *wk = c->wk;

    wk->inflight--;
    wk->settled++;
    if (ok) {
        wk->res->ok++;
        c->state = CB_C_OPEN;
    } else {
        wk->res->failed++;
        cb_client_close(c);
    }
    cb_connect_more(wk);
}

/* The connection ended (EOF, error, close frame) while we still wanted it. */
static void client_lost(cb_client *c, const char *why)
{
    cb_worker *wk = c->wk;

    if (c->closing)
        return;
    if (c->state != CB_C_OPEN) {
        cb_fail(wk, "handshake of client %ld: %s", wk->first_global + c->index, why);
        settle(c, 0);
        return;
    }
    if (!__atomic_load_n(&wk->sh->release, __ATOMIC_ACQUIRE)) {
        wk->res->dropped++;
        cb_fail(wk, "client %ld lost: %s", wk->first_global + c->index, why);
    }
    cb_client_close(c);
}

static void on_write(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/*
 * Write bytes in order: straight into the socket when nothing is queued
 * and it fits, else a copy goes to uv_write.  Returns 0 or -1.
 */
static int write_bytes(cb_client *c, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    pending_write *pw;

    if (n == (int)len)
        return 0;
    if (n < 0 && n != UV_EAGAIN)
        return -1;
    if (n < 0)
        n = 0;
    pw = malloc(sizeof *pw + len - (size_t)n);
    if (!pw)
        return -1;
    pw->len = len - (size_t)n;
    memcpy(pw->data, (const char *)data + n, pw->len);
    b = uv_buf_init(pw->data, (unsigned)pw->len);
    if (uv_write(&pw->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(pw);
        return -1;
    }
    return 0;
}

/* Next masking key of c (xorshift32; any key is valid, none is secret). */
static uint32_t next_mask(cb_client *c)
{
    uint32_t x = c->mask_state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->mask_state = x;
}

/* Build a masked client frame (FIN set) into out; returns its length. */
static size_t frame_encode(cb_client *c, uint8_t *out, int opcode, const void *data, size_t len)
{
    uint32_t key = next_mask(c);
    const uint8_t *in = data;
    uint8_t mk[4];
    size_t h = 2, i;

    out[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(mk, &key, 4);
    memcpy(out + h, mk, 4);
    h += 4;
    for (i = 0; i < len; i++)
        out[h + i] = in[i] ^ mk[i & 3];
    return h + len;
}

/* Send one frame of any opcode.  Returns 0 or -1. */
static int send_frame(cb_client *c, int opcode, const void *data, size_t len)
{
    uint8_t stack[4096];
    uint8_t *buf = len + 14 <= sizeof stack ? stack : malloc(len + 14);
    int rc;

    if (!buf || c->state != CB_C_OPEN)
        return -1;
    rc = write_bytes(c, buf, frame_encode(c, buf, opcode, data, len));
    if (buf != stack)
        free(buf);
    return rc;
}

/* Send one text message.  Returns 0 or -1. */
int cb_send_text(cb_client *c, const char *data, size_t len) { return send_frame(c, 1, data, len); }

/* Check the answer to the upgrade: status 101 and the right accept. */
static int response_ok(const uint8_t *p, size_t n)
{
    char head[MAX_RESPONSE + 1];
    const char *a;

    memcpy(head, p, n);
    head[n] = '\0';
    if (strncmp(head, "HTTP/1.1 101 ", 13) != 0)
        return 0;
    a = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!a)
        return 0;
    a += strlen("\r\nSec-WebSocket-Accept:");
    a += strspn(a, " \t");
    return strncmp(a, WS_ACCEPT "\r\n", strlen(WS_ACCEPT) + 2) == 0;
}

/* Consume the 101 answer.  Returns bytes used, 0 if incomplete, -1 bad. */
static long handshake_input(cb_client *c, const uint8_t *p, size_t n)
{
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    size_t len;

    if (!end)
        return n > MAX_RESPONSE ? -1 : 0;
    len = (size_t)(end - p) + 4;
    if (len > MAX_RESPONSE || !response_ok(p, len)) {
        cb_fail(c->wk, "bad upgrade answer: %.*s", (int)strcspn((const char *)p, "\r\n"),
                (const char *)p);
        return -1;
    }
    settle(c, 1);
    return (long)len;
}

typedef struct frame {
    int fin, opcode;
    const uint8_t *payload;
    size_t len;
} frame;

/* Parse one server frame.  Returns its size, 0 if incomplete, -1 bad. */
static long frame_parse(const uint8_t *p, size_t n, frame *f)
{
    uint64_t len;
    size_t h = 2;
    int i;

    if (n < 2)
        return 0;
    if ((p[0] & 0x70) || (p[1] & 0x80)) /* reserved bits, or masked */
        return -1;
    len = p[1] & 0x7f;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        for (len = 0, i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        h = 10;
    }
    if (len > MAX_PENDING)
        return -1;
    if (n < h + len)
        return 0;
    *f = (frame){p[0] >> 7, p[0] & 0x0f, p + h, (size_t)len};
    return (long)(h + len);
}

/* Act on one complete server frame. */
static void frame_handle(cb_client *c, const frame *f)
{
    switch (f->opcode) {
    case 1:
        if (!f->fin) {
            c->wk->res->proto_errors++;
            cb_fail(c->wk, "fragmented message from the host");
            break;
        }
        cb_on_text(c, (const char *)f->payload, f->len);
        break;
    case 8:
        send_frame(c, 8, f->payload, f->len < 2 ? f->len : 2);
        client_lost(c, "close frame from the host");
        break;
    case 9:
        send_frame(c, 10, f->payload, f->len);
        break;
    case 10:
        break;
    default:
        c->wk->res->proto_errors++;
        cb_fail(c->wk, "unexpected opcode %d", f->opcode);
        break;
    }
}

/* Consume what can be consumed of p[0..n).  Returns bytes used. */
static size_t consume(cb_client *c, const uint8_t *p, size_t n)
{
    size_t used = 0;
    int is_frame;
    long k;
    frame f;

    while (used < n && !c->closing) {
        is_frame = c->state == CB_C_OPEN;
        if (is_frame)
            k = frame_parse(p + used, n - used, &f);
        else
            k = handshake_input(c, p + used, n - used);
        if (k < 0) {
            c->wk->res->proto_errors++;
            client_lost(c, "protocol error");
            break;
        }
        if (k == 0)
            break;
        used += (size_t)k;
        if (is_frame)
            frame_handle(c, &f);
    }
    return used;
}

/* Keep bytes of an incomplete frame for the next read. */
static int pend_append(cb_client *c, const uint8_t *p, size_t n)
{
    size_t need = c->pend_len + n, cap = c->pend_cap ? c->pend_cap : 512;
    uint8_t *np;

    if (need > MAX_PENDING + 16)
        return -1;
    while (cap < need)
        cap *= 2;
    if (cap != c->pend_cap) {
        np = realloc(c->pend, cap);
        if (!np)
            return -1;
        c->pend = np;
        c->pend_cap = (uint32_t)cap;
    }
    memcpy(c->pend + c->pend_len, p, n);
    c->pend_len = (uint32_t)need;
    return 0;
}

/* Bytes arrived for c: parse them, keeping any incomplete tail. */
static void client_input(cb_client *c, const uint8_t *p, size_t n)
{
    size_t used;

    if (c->pend_len == 0) {
        used = consume(c, p, n);
        if (!c->closing && used < n && pend_append(c, p + used, n - used) < 0)
            client_lost(c, "out of memory");
        return;
    }
    if (pend_append(c, p, n) < 0) {
        client_lost(c, "out of memory");
        return;
    }
    used = consume(c, c->pend, c->pend_len);
    if (c->closing)
        return;
    memmove(c->pend, c->pend + used, c->pend_len - used);
    c->pend_len -= (uint32_t)used;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    cb_client *c = h->data;

    (void)hint;
    *buf = uv_buf_init((char *)c->wk->rbuf, (unsigned)c->wk->rbuf_size);
}

/* Input, end of stream or an error on c's socket. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    cb_client *c = s->data;

    if (n < 0) {
        client_lost(c, n == UV_EOF ? "closed by the host" : uv_strerror((int)n));
        return;
    }
    if (n > 0 && !c->closing) {
        client_input(c, (const uint8_t *)buf->base, (size_t)n);
        cb_on_read_done(c->wk);
    }
}

/* TCP connected: send the upgrade request and wait for the 101. */
static void on_connect(uv_connect_t *req, int status)
{
    cb_client *c = req->data;

    if (status == UV_ECANCELED || c->closing)
        return;
    if (status < 0) {
        client_lost(c, uv_strerror(status));
        return;
    }
    c->state = CB_C_HANDSHAKE;
    uv_tcp_nodelay(&c->tcp, 1);
    if (write_bytes(c, c->request ? c->request : c->wk->request,
                    c->request ? c->request_len : c->wk->request_len) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        client_lost(c, "cannot send the upgrade request");
}

/*
 * Bind to 127.0.0.(2 + global % src_addrs), port chosen at connect time
 * (IP_BIND_ADDRESS_NO_PORT), so each source address has its own
 * ephemeral port range towards the host.
 */
static int bind_source(cb_client *c, long global)
{
    const cb_opts *o = c->wk->o;
    struct sockaddr_in sa;
    uv_os_fd_t fd;
    int one = 1;
    char ip[32];

    if (o->src_addrs <= 0)
        return 0;
    snprintf(ip, sizeof ip, "127.0.0.%ld", 2 + global % o->src_addrs);
    if (uv_ip4_addr(ip, 0, &sa) != 0 || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return -1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    return uv_tcp_bind(&c->tcp, (const struct sockaddr *)&sa, 0);
}

/* Start connecting client i of the worker. */
static void client_start(cb_worker *wk, long i)
{
    cb_client *c = &wk->clients[i];
    struct sockaddr_in sa;
    int rc;

    c->wk = wk;
    c->index = (uint32_t)i;
    c->mask_state = (uint32_t)(wk->first_global + i) * 2654435761u + 1u;
    c->tcp.data = c;
    c->creq.data = c;
    c->state = CB_C_CONNECTING;
    wk->inflight++;
    rc = uv_tcp_init_ex(&wk->loop, &c->tcp, AF_INET);
    if (rc != 0) {
        cb_fail(wk, "socket: %s", uv_strerror(rc));
        c->closing = 1; /* no handle to close */
        c->state = CB_C_CLOSED;
        wk->inflight--;
        wk->settled++;
        wk->res->failed++;
        return;
    }
    uv_ip4_addr(wk->o->host, wk->o->port, &sa);
    if ((rc = bind_source(c, wk->first_global + i)) != 0 ||
        (rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&sa, on_connect)) != 0)
        client_lost(c, uv_strerror(rc));
}

/*
 * Open connections until max_inflight handshakes are under way.  Failures
 * inside the loop call back here: the guard keeps that from recursing, the
 * loop itself refills the freed slots.  When every handshake is settled the
 * worker reports READY.
 */
void cb_connect_more(cb_worker *wk)
{
    if (wk->in_connect)
        return;
    wk->in_connect = 1;
    if (wk->res->t_first_ns == 0)
        wk->res->t_first_ns = cb_now_ns();
    while (wk->inflight < wk->max_inflight && wk->next < wk->n)
        client_start(wk, wk->next++);
    wk->in_connect = 0;
    /* chat: ready once every client also has its history, so a step's
     * clock starts after the connections' history loads, not during them */
    if (wk->settled == wk->n && wk->res->phase == CB_CONNECTING &&
        (wk->o->scenario != CB_CHAT || wk->histories >= (long)wk->res->ok)) {
        wk->res->t_ready_ns = cb_now_ns();
        wk->res->cpu_s = cb_self_cpu_s() - wk->cpu_mark;
        __atomic_store_n(&wk->res->phase, CB_READY, __ATOMIC_RELEASE);
    }
}

/* Say goodbye (close frame 1000) on every open client and close them all. */
void cb_close_all(cb_worker *wk)
{
    static const uint8_t bye[2] = {0x03, 0xe8};
    long i;

    for (i = 0; i < wk->next; i++) {
        cb_client *c = &wk->clients[i];

        if (c->closing)
            continue;
        if (c->state == CB_C_OPEN)
            send_frame(c, 8, bye, sizeof bye);
        cb_client_close(c);
    }
    if (!uv_is_closing((uv_handle_t *)&wk->tick)) {
        uv_close((uv_handle_t *)&wk->tick, NULL);
        uv_close((uv_handle_t *)&wk->spin, NULL);
    }
}
