/*
 * scenarios.c -- what a chanbench worker process does with its clients:
 *
 *   conns   connect and hold until the parent releases them;
 *   fanout  every client is in one broadcast room; client 0 of worker 0
 *           sends K chat messages (windowed or at a fixed rate), every
 *           client checks it gets all K exactly once and in order, and
 *           records send-to-receipt latency;
 *   echo    every client does K sequential round trips through the echo
 *           plugin and records each round-trip time;
 *   chat    chatroom rooms with tokens, paced senders, acks (chat.c).
 *
 * Every message carries "SEQ SEND_NS " (CLOCK_MONOTONIC, the same clock in
 * every process of the machine) and is padded with 'x' to the asked size.
 * The worker's life around these (flags, tick, deadlines) is worker.c.
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
 * Write the message body "SEQ NS xxx..." of about `size` bytes into out
 * (fanout wraps it in the chat JSON).  Returns its length.
 */
size_t cb_body_make(char *out, size_t cap, uint64_t seq, int size)
{
    int n = snprintf(out, cap, "%" PRIu64 " %" PRIu64 " ", seq, cb_now_ns());
    size_t len = (size_t)n;

    while ((int)len < size && len + 1 < cap)
        out[len++] = 'x';
    out[len] = '\0';
    return len;
}

/* Parse "SEQ NS " at the start of s.  Returns 0, or -1 if malformed. */
int cb_body_parse(const char *s, size_t len, uint64_t *seq, uint64_t *ns)
{
    char num[48];
    char *end;

    if (len > sizeof num - 1)
        len = sizeof num - 1;
    memcpy(num, s, len);
    num[len] = '\0';
    *seq = strtoull(num, &end, 10);
    if (end == num || *end != ' ')
        return -1;
    *ns = strtoull(end + 1, &end, 10);
    return *end == ' ' ? 0 : -1;
}

/* Send fanout message seq as a chat_message.  Returns 0 or -1. */
static int fanout_send(cb_client *c, uint64_t seq)
{
    static const char pre[] = "{\"type\":\"chat_message\",\"message\":\"";
    char buf[70000];
    int body = c->wk->o->size - (int)sizeof pre - 1;
    size_t len = sizeof pre - 1;

    memcpy(buf, pre, len);
    len += cb_body_make(buf + len, sizeof buf - len - 3, seq, body > 0 ? body : 0);
    memcpy(buf + len, "\"}", 3);
    return cb_send_text(c, buf, len + 2);
}

/* Send echo message seq.  Returns 0 or -1. */
static int echo_send(cb_client *c, uint64_t seq)
{
    char buf[70000];

    return cb_send_text(c, buf, cb_body_make(buf, sizeof buf, seq, c->wk->o->size));
}

/* The smallest count of messages any client of any worker has. */
static uint64_t global_floor(const cb_worker *wk)
{
    uint64_t f = UINT64_MAX, v;
    int i;

    for (i = 0; i < wk->o->procs; i++) {
        v = __atomic_load_n(&wk->sh->w[i].floor, __ATOMIC_ACQUIRE);
        if (v < f)
            f = v;
    }
    return f;
}

/*
 * Worker 0 sends while the window allows (no more than `window` messages
 * not yet received by every client) and, with --rate, when the pace says.
 */
static void sender_pump(cb_worker *wk)
{
    const cb_opts *o = wk->o;
    uint64_t now, gap = o->rate > 0 ? (uint64_t)(1e9 / o->rate) : 0;

    while (wk->sent < (uint64_t)o->messages) {
        if (wk->sent >= global_floor(wk) + (uint64_t)o->window)
            return;
        now = cb_now_ns();
        if (gap && now < wk->next_send_ns)
            return;
        if (wk->sent == 0)
            __atomic_store_n(&wk->sh->start_ns, now, __ATOMIC_RELEASE);
        wk->next_send_ns = (wk->next_send_ns + gap < now ? now : wk->next_send_ns) + gap;
        if (wk->clients[0].state != CB_C_OPEN || fanout_send(&wk->clients[0], wk->sent) != 0) {
            cb_fail(wk, "sender cannot send message %" PRIu64, wk->sent);
            wk->sent = (uint64_t)o->messages;
            return;
        }
        wk->sent++;
    }
}

/* One more message for a fanout client: move the worker's floor. */
static void floor_advance(cb_worker *wk, uint64_t old_count)
{
    uint64_t k = (uint64_t)wk->o->messages, f = wk->res->floor;

    if (old_count >= k)
        return;
    wk->at[old_count]--;
    wk->at[old_count + 1]++;
    while (f < k && wk->at[f] == 0)
        f++;
    if (f != wk->res->floor)
        __atomic_store_n(&wk->res->floor, f, __ATOMIC_RELEASE);
}

/* Check the sequence number of a received message, record its latency. */
static int receive_check(cb_client *c, const char *body, size_t len)
{
    cb_worker *wk = c->wk;
    uint64_t seq, ns, now = cb_now_ns();

    if (cb_body_parse(body, len, &seq, &ns) != 0) {
        wk->res->proto_errors++;
        cb_fail(wk, "unexpected message: %.*s", (int)(len < 60 ? len : 60), body);
        return -1;
    }
    if (seq != c->expect) {
        wk->res->order_errors++;
        cb_fail(wk, "client %ld: message %" PRIu64 " where %" PRIu64 " was due",
                wk->first_global + c->index, seq, c->expect);
    }
    c->expect = seq + 1;
    c->count++;
    wk->res->received++;
    wk->res->t_last_ns = now;
    cb_hist_add(&wk->res->hist, now > ns ? now - ns : 0);
    return 0;
}

/* A fanout delivery: {"type":"chat_message","message":"SEQ NS xxx"}. */
static void fanout_text(cb_client *c, const char *data, size_t len)
{
    static const char key[] = "\"message\":\"";
    const char *m = memmem(data, len, key, sizeof key - 1);

    if (!m) {
        c->wk->res->proto_errors++;
        cb_fail(c->wk, "not a chat message: %.*s", (int)(len < 80 ? len : 80), data);
        return;
    }
    m += sizeof key - 1;
    if (receive_check(c, m, len - (size_t)(m - data)) == 0)
        floor_advance(c->wk, c->count - 1);
}

/* An echo came back: check it, send the next or count the client done. */
static void echo_text(cb_client *c, const char *data, size_t len)
{
    cb_worker *wk = c->wk;

    if (receive_check(c, data, len) != 0)
        return;
    if (c->count < (uint64_t)wk->o->messages) {
        if (echo_send(c, c->count) != 0)
            cb_fail(wk, "cannot send an echo message");
    } else if (c->count == (uint64_t)wk->o->messages) {
        wk->finished++;
    }
}

/* A text message arrived on an open client: the scenario decides. */
void cb_on_text(cb_client *c, const char *data, size_t len)
{
    switch (c->wk->o->scenario) {
    case CB_FANOUT:
        fanout_text(c, data, len);
        break;
    case CB_ECHO:
        echo_text(c, data, len);
        break;
    case CB_CHAT:
        cb_chat_text(c, data, len);
        break;
    default:
        c->wk->res->received++;
        break;
    }
}

/* After a batch of input: worker 0's fanout sender may send more now. */
void cb_on_read_done(cb_worker *wk)
{
    if (wk->started && wk->id == 0 && wk->o->scenario == CB_FANOUT)
        sender_pump(wk);
}

/*
 * Before the first connect: fanout counts every client of this worker at
 * 0 messages, so that messages arriving before this worker sees `go` are
 * counted too.  Returns 0 or -1 (out of memory).
 */
int cb_run_prepare(cb_worker *wk)
{
    uint64_t k = (uint64_t)wk->o->messages, f = 0;

    if (wk->o->scenario == CB_CHAT || (wk->o->scenario == CB_CONNS && wk->o->members))
        return cb_chat_prepare(wk); /* conns --setup: chat rooms with tokens */
    if (wk->o->scenario != CB_FANOUT)
        return 0;
    wk->at = calloc(k + 2, sizeof *wk->at);
    if (!wk->at)
        return -1;
    wk->at[0] = (uint64_t)wk->n;
    while (f < k && wk->at[f] == 0)
        f++;
    __atomic_store_n(&wk->res->floor, f, __ATOMIC_RELEASE);
    return 0;
}

/* The parent said go: worker 0's fanout sender starts; echo sends every
 * client's first message. */
void cb_run_start(cb_worker *wk)
{
    long i;

    wk->started = 1;
    if (wk->o->scenario == CB_FANOUT) {
        cb_on_read_done(wk);
    } else if (wk->o->scenario == CB_CHAT) {
        cb_chat_pump(wk);
    } else if (wk->o->scenario == CB_ECHO) {
        for (i = 0; i < wk->n; i++)
            if (echo_send(&wk->clients[i], 0) != 0)
                cb_fail(wk, "cannot send an echo message");
    }
}

/* Called every tick while running: worker 0 sends what the window now
 * allows (the floors of other workers move without an event here). */
void cb_run_tick(cb_worker *wk)
{
    if (wk->o->scenario == CB_CHAT)
        cb_chat_pump(wk);
    cb_on_read_done(wk);
}

/* Non-zero when this worker's part of the run is over. */
int cb_run_done(const cb_worker *wk)
{
    if (wk->o->scenario == CB_FANOUT)
        return wk->res->floor >= (uint64_t)wk->o->messages;
    if (wk->o->scenario == CB_ECHO)
        return wk->finished >= wk->n;
    if (wk->o->scenario == CB_CHAT)
        return cb_chat_done(wk);
    return 1;
}

/* Count the clients that did not get exactly messages 0 .. K-1. */
void cb_run_finish(cb_worker *wk)
{
    uint64_t k = (uint64_t)wk->o->messages;
    long i;

    if (wk->o->scenario == CB_CHAT) {
        cb_chat_finish(wk);
        return;
    }
    for (i = 0; i < wk->n; i++)
        if (wk->clients[i].count != k || wk->clients[i].expect != k)
            wk->res->incomplete++;
}
