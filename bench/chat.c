/*
 * chat.c -- chanbench's chat scenario: every connection is a user of a
 * chatroom room (/ws/chat-room/<room>/?token=...), or with --plugin
 * broadcast a member of /ws/broadcast/<room>/ (the same rooms, for the
 * side-by-side ratio: no token, history or ack), read from the --setup
 * file that bench/chat_setup.py writes (users, tokens and rooms made through
 * the host's HTTP API).  Each worker sends, round robin over its clients,
 * `--rate` chat messages a second per connection with a client_msg_id,
 * K (`--messages`) per connection; every client counts its acks and the
 * chat_message frames it receives (every member gets every message of its
 * room, its own included) and records send-to-delivery latency.
 *
 * Owns: the members table (cb_opts.members, allocated by cb_chat_load, kept
 * for the life of the process) and each client's upgrade request.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chanbench.h"

/*
 * Read the setup file: one line "ROOM_ID TOKEN" per connection, o->n lines
 * at least.  Fills o->members (new, never freed: it lives as long as the
 * process) with each member's room size.  Returns 0 or -1 (said on stderr).
 */
int cb_chat_load(cb_opts *o, const char *file)
{
    FILE *f = fopen(file, "r");
    long i, j;

    if (!f) {
        perror("chanbench: --setup");
        return -1;
    }
    o->members = calloc((size_t)o->n, sizeof *o->members);
    for (i = 0; o->members && i < o->n; i++)
        if (fscanf(f, "%ld %511s", &o->members[i].room, o->members[i].token) != 2)
            break;
    fclose(f);
    if (!o->members || i < o->n) {
        fprintf(stderr, "chanbench: the setup file holds fewer than %ld members\n", o->n);
        return -1;
    }
    for (i = 0; i < o->n; i++) /* rooms are small: quadratic is fine */
        for (j = 0; j < o->n; j++)
            if (o->members[j].room == o->members[i].room)
                o->members[i].room_size++;
    return 0;
}

/*
 * Before connecting: each client gets its own upgrade request (its room and
 * token) and the count of deliveries due to it.  Returns 0 or -1.
 */
int cb_chat_prepare(cb_worker *wk)
{
    const cb_opts *o = wk->o;
    const cb_member *m;
    char req[1024];
    long i;
    int len;

    for (i = 0; i < wk->n; i++) {
        m = &o->members[wk->first_global + i];
        len = snprintf(req, sizeof req,
                       "GET /ws/%s/%ld/%s%s HTTP/1.1\r\nHost: %s:%d\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\nOrigin: http://%s:%d\r\n\r\n",
                       o->broadcast ? "broadcast" : "chat-room", m->room,
                       o->broadcast ? "" : "?token=", o->broadcast ? "" : m->token, o->host,
                       o->port, o->host, o->port);
        if (len <= 0 || (size_t)len >= sizeof req)
            return -1;
        wk->clients[i].request = strdup(req);
        if (!wk->clients[i].request)
            return -1;
        wk->clients[i].request_len = (size_t)len;
        wk->clients[i].has_history = (uint8_t)o->broadcast; /* broadcast has none */
        wk->histories += o->broadcast;
        wk->clients[i].expect = (uint64_t)m->room_size * (uint64_t)o->messages;
        wk->res->expected += wk->clients[i].expect;
    }
    return 0;
}

/* Send this client's message seq with client_msg_id "NONCE-STEP-CLIENT-SEQ"
 * (unique per chanbench run, so the store never takes one for a retry). */
static int chat_send(cb_client *c, uint64_t seq)
{
    const cb_opts *o = c->wk->o;
    char buf[70000];
    int n = snprintf(buf, sizeof buf,
                     "{\"type\":\"chat_message\",\"client_msg_id\":\"%" PRIu64 "-%d-%ld-%" PRIu64
                     "\",\"message\":\"",
                     o->nonce, o->step, c->wk->first_global + c->index, seq);
    size_t len = (size_t)n;
    int body = o->size - n - 2;

    len += cb_body_make(buf + len, sizeof buf - len - 3, seq, body > 0 ? body : 1);
    memcpy(buf + len, "\"}", 3);
    return cb_send_text(c, buf, len + 2);
}

/*
 * Send what the pace asks for: message j of the worker (all clients
 * together, n * rate a second) goes to client j % n as its message j / n.
 * A client whose history has not arrived yet holds the pace back.
 */
void cb_chat_pump(cb_worker *wk)
{
    const cb_opts *o = wk->o;
    uint64_t total = (uint64_t)wk->n * (uint64_t)o->messages, now = cb_now_ns(), due;
    uint64_t start = __atomic_load_n(&wk->sh->start_ns, __ATOMIC_ACQUIRE);
    cb_client *c;

    if (!wk->started || now < start)
        return;
    due = (uint64_t)((double)(now - start) / 1e9 * o->rate * (double)wk->n) + 1;
    if (due > total)
        due = total;
    while (wk->res->sent < due) {
        c = &wk->clients[wk->res->sent % (uint64_t)wk->n];
        if (!c->has_history)
            return;
        if (c->state != CB_C_OPEN || chat_send(c, wk->res->sent / (uint64_t)wk->n) != 0) {
            cb_fail(wk, "client %ld cannot send", wk->first_global + c->index);
            wk->res->sent = total;
            return;
        }
        wk->res->sent++;
    }
}

/* The value of "type" in a frame from the host, or NULL. */
static const char *frame_type(const char *data, size_t len, size_t *tlen)
{
    static const char key[] = "\"type\":\"";
    const char *t = memmem(data, len, key, sizeof key - 1), *e;

    if (!t)
        return NULL;
    t += sizeof key - 1;
    e = memchr(t, '"', len - (size_t)(t - data));
    if (!e)
        return NULL;
    *tlen = (size_t)(e - t);
    return t;
}

/* A chat_message delivery: its latency from the "SEQ NS" in its body. */
static void chat_delivery(cb_client *c, const char *data, size_t len)
{
    static const char key[] = "\"message\":\"";
    const char *m = memmem(data, len, key, sizeof key - 1);
    cb_worker *wk = c->wk;
    uint64_t seq, ns, now = cb_now_ns();

    if (!m || cb_body_parse(m + sizeof key - 1, len - (size_t)(m + sizeof key - 1 - data), &seq,
                            &ns) != 0) {
        wk->res->proto_errors++;
        cb_fail(wk, "not a chanbench message: %.*s", (int)(len < 80 ? len : 80), data);
        return;
    }
    c->count++;
    wk->res->received++;
    wk->res->t_last_ns = now;
    cb_hist_add(&wk->res->hist, now > ns ? now - ns : 0);
}

/* An error frame that refuses a message for the host's state rather than
 * for the message: "busy" (the store's queue is full) or
 * "store_unavailable". */
static int host_refused(const char *data, size_t len)
{
    static const char busy[] = "\"code\":\"busy\"", down[] = "\"code\":\"store_unavailable\"";

    return memmem(data, len, busy, sizeof busy - 1) || memmem(data, len, down, sizeof down - 1);
}

/* A frame from the chatroom plugin: history, ack, chat_message or error. */
void cb_chat_text(cb_client *c, const char *data, size_t len)
{
    size_t tl = 0;
    const char *t = frame_type(data, len, &tl);

    if (t && tl == 7 && memcmp(t, "history", 7) == 0) {
        if (!c->has_history) {
            c->has_history = 1;
            c->wk->histories++;
            cb_connect_more(c->wk); /* the last history makes the worker ready */
        }
    } else if (t && tl == 3 && memcmp(t, "ack", 3) == 0) {
        c->acks++;
        c->wk->res->acks++;
    } else if (t && tl == 12 && memcmp(t, "chat_message", 12) == 0) {
        chat_delivery(c, data, len);
    } else if (t && tl == 5 && memcmp(t, "error", 5) == 0 && host_refused(data, len)) {
        c->wk->res->refused++; /* overload, not a malformed exchange: counted apart */
        cb_fail(c->wk, "the host refused a message: %.*s", (int)(len < 120 ? len : 120), data);
    } else {
        c->wk->res->proto_errors++;
        cb_fail(c->wk, "unexpected frame: %.*s", (int)(len < 120 ? len : 120), data);
    }
}

/* Non-zero when every client of this worker has all its acks and
 * deliveries. */
int cb_chat_done(const cb_worker *wk)
{
    return wk->res->acks >= (wk->o->broadcast ? 0 : (uint64_t)wk->n * (uint64_t)wk->o->messages) &&
           wk->res->received >= wk->res->expected;
}

/* Count the clients that lack an ack or a delivery (or got too many). */
void cb_chat_finish(cb_worker *wk)
{
    long i;

    for (i = 0; i < wk->n; i++)
        if (wk->clients[i].acks != (wk->o->broadcast ? 0 : (uint64_t)wk->o->messages) ||
            wk->clients[i].count != wk->clients[i].expect)
            wk->res->incomplete++;
}
