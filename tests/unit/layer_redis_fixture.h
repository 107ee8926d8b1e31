/*
 * layer_redis_fixture.h -- what the Redis channel-layer tests share
 * (test_layer_redis.c, test_layer_redis_live.c,
 * test_layer_redis_outage.c): another process's id, and the fixture for
 * tests against a real redis-server: a server each test starts on a free
 * loopback port (a missing redis-server fails the test), a layer on its
 * own uv loop with NEP endpoints attached and a deliver callback that
 * records what each got, a synchronous hiredis client for checks, a loop
 * run until a predicate holds (bounded by a timeout), the predicates, and
 * a subscriber that watches what the layer publishes.  Header-only
 * (static inline), since every tests/unit/test_*.c is a program of its
 * own.
 */
#ifndef LAYER_REDIS_FIXTURE_H
#define LAYER_REDIS_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "layer.h"
#include "layer_redis.h"

#define OTHER_HEX "0123456789abcdef0123456789abcdef"

/* ---- against a real redis-server ------------------------------------------ */

#define NEP 4

typedef struct live {
    pid_t pid; /* the redis-server */
    int port;
    char url[64];
    uv_loop_t loop;
    ch_layer *l;
    redisContext *rc; /* a synchronous client for checks */
    ch_endpoint ep[NEP];
    size_t got[NEP];
    char last[NEP][160]; /* text of the last message delivered */
} live;

typedef int (*pred_fn)(live *t, const void *arg);

static inline void on_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    live *t = arg;
    size_t i = (size_t)(ep - t->ep);

    t->got[i]++;
    snprintf(t->last[i], sizeof t->last[i], "%s", msg->text);
}

static inline int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* (Re)connect the checking client; 0 if Redis answers PING. */
static inline int client_up(live *t)
{
    redisReply *r;

    if (t->rc && !t->rc->err)
        return 0;
    redisFree(t->rc);
    t->rc = redisConnect("127.0.0.1", t->port);
    if (!t->rc || t->rc->err)
        return -1;
    r = redisCommand(t->rc, "PING");
    freeReplyObject(r);
    return r ? 0 : -1;
}

/* Start redis-server on t->port and wait (10 s at most) until it answers.
 * Returns 0, or the exit status if it ended at once (the port was taken,
 * or redis-server is missing: 127). */
static inline int try_start_redis(live *t)
{
    char port[16];
    int status;

    snprintf(port, sizeof port, "%d", t->port);
    t->pid = fork();
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
            t->pid = 0;
            return WEXITSTATUS(status) ? WEXITSTATUS(status) : 1;
        }
        if (client_up(t) == 0)
            return 0;
        usleep(10000);
    }
    fail_msg("redis-server on port %d did not answer within 10 s", t->port);
    return -1;
}

/* (Re)start redis-server on t->port, which must be free. */
static inline void start_redis(live *t)
{
    int rc = try_start_redis(t);

    if (rc != 0)
        fail_msg("redis-server did not start on port %d (exit %d)%s", t->port, rc,
                 rc == 127 ? ": is redis-server installed?" : "");
}

/* Start redis-server on a free port: another process may take the port
 * between free_port() and redis-server's bind, so a few tries. */
static inline void start_redis_anywhere(live *t)
{
    int rc = 1;

    for (int i = 0; i < 5 && rc != 0 && rc != 127; i++) {
        t->port = free_port();
        rc = try_start_redis(t);
    }
    if (rc != 0)
        fail_msg("redis-server did not start (exit %d)%s", rc,
                 rc == 127 ? ": is redis-server installed?" : "");
}

static inline void stop_redis(live *t)
{
    if (t->pid <= 0)
        return;
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
    redisFree(t->rc);
    t->rc = NULL;
}

/* One command on the checking client (reconnecting first if needed).
 * The caller frees the reply. */
static inline redisReply *cmd(live *t, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    assert_int_equal(client_up(t), 0);
    va_start(ap, fmt);
    r = redisvCommand(t->rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static inline long long cmd_int(live *t, const char *fmt, const char *a, const char *b)
{
    redisReply *r = cmd(t, fmt, a, b);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

    freeReplyObject(r);
    return v;
}

static inline void on_tick(uv_timer_t *h) { (void)h; }

/* Run the loop until pred holds; 0 if ms pass first. */
static inline int run_until(live *t, pred_fn pred, const void *arg, uint64_t ms)
{
    uv_timer_t tick;
    uint64_t deadline;
    int ok;

    uv_update_time(&t->loop);
    deadline = uv_now(&t->loop) + ms;
    uv_timer_init(&t->loop, &tick);
    while (!(ok = pred(t, arg)) && uv_now(&t->loop) < deadline) {
        uv_timer_start(&tick, on_tick, 5, 0);
        uv_run(&t->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    return ok;
}

static inline int state_prefix(live *t, const void *prefix)
{
    return !strncmp(ch_layer_state(t->l), prefix, strlen(prefix));
}

/* Is channel "chanhost:<arg>" subscribed by anyone? */
static inline int subscribed(live *t, const void *chan)
{
    redisReply *r = cmd(t, "PUBSUB NUMSUB chanhost:%s", (const char *)chan);
    long long n = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer : -1;

    freeReplyObject(r);
    return n > 0;
}

static inline int unsubscribed(live *t, const void *chan) { return !subscribed(t, chan); }

static inline int got_at_least(live *t, const void *want)
{
    const size_t *w = want;

    return t->got[w[0]] >= w[1];
}

static inline ch_layer_redis_stats stats(live *t)
{
    ch_layer_redis_stats s;

    assert_int_equal(ch_layer_redis_stats_get(t->l, &s), 0);
    return s;
}

static inline void make_layer(live *t)
{
    char err[256];

    t->l = ch_layer_new(&t->loop, t->url, NULL, on_deliver, t, err, sizeof err);
    if (!t->l)
        fail_msg("ch_layer_new(%s): %s", t->url, err);
    for (int i = 0; i < NEP; i++)
        assert_int_equal(ch_layer_attach(t->l, &t->ep[i]), 0);
}

static inline int live_setup(void **state)
{
    live *t = calloc(1, sizeof *t);

    assert_non_null(t);
    start_redis_anywhere(t);
    snprintf(t->url, sizeof t->url, "redis://127.0.0.1:%d/0", t->port);
    assert_int_equal(uv_loop_init(&t->loop), 0);
    *state = t;
    return 0;
}

static inline int live_teardown(void **state)
{
    live *t = *state;

    ch_layer_free(t->l);
    assert_int_equal(uv_loop_close(&t->loop), 0); /* every handle closed */
    stop_redis(t);
    free(t);
    return 0;
}

/* "p:<our process id>", the suffix of our process channel. */
static inline const char *pchan(live *t, char out[48])
{
    char hex[33];

    ch_layer_process_id(t->l, hex);
    snprintf(out, 48, "p:%s", hex);
    return out;
}

/* A layer connected to the test's server, its process channel subscribed. */
static inline live *live_up(void **state)
{
    live *t = *state;
    char pc[48];

    make_layer(t);
    if (!run_until(t, state_prefix, "ok", 5000) || !run_until(t, subscribed, pchan(t, pc), 5000))
        fail_msg("layer not up: %s", ch_layer_state(t->l));
    return t;
}

static inline ch_msg *mk(const char *text)
{
    const char *why;
    ch_msg *m = ch_msg_from_text(text, strlen(text), &why);

    assert_non_null(m);
    return m;
}

static inline int zcard_is(live *t, const void *want)
{
    const char *const *w = want;

    return cmd_int(t, "ZCARD chanhost:m:%s", w[0], NULL) == strtol(w[1], NULL, 10);
}

typedef struct sub_watch {
    redisContext *s; /* a subscriber */
    size_t n, want;  /* messages seen, wanted */
    char last[200];  /* the last one: "<target>|<text>" */
} sub_watch;

/* Predicate: read what arrived on w->s without blocking and count the
 * messages; true once w->want have come. */
static inline int sub_got(live *t, const void *arg)
{
    sub_watch *w = (sub_watch *)arg;
    struct pollfd pfd = {.fd = w->s->fd, .events = POLLIN};
    void *reply;
    ch_rl_payload p;

    (void)t;
    for (;;) {
        redisReply *r;

        assert_int_equal(redisReaderGetReply(w->s->reader, &reply), REDIS_OK);
        r = reply;
        if (!r && poll(&pfd, 1, 0) == 1 && redisBufferRead(w->s) == REDIS_OK)
            continue;
        if (!r)
            return w->n >= w->want;
        if (r->elements == 3 && strcmp(r->element[0]->str, "message") == 0) {
            w->n++;
            assert_int_equal(ch_rl_payload_decode(r->element[2]->str, r->element[2]->len,
                                                  strstr(r->element[1]->str, ":p:") != NULL, &p),
                             0);
            snprintf(w->last, sizeof w->last, "%s|%.*s", p.target, (int)p.text_len, p.text);
        }
        freeReplyObject(r);
    }
}

/* A watcher subscribed to chanhost:<chan> (the confirmation consumed). */
static inline redisContext *watch(live *t, const char *chan)
{
    redisContext *s = redisConnect("127.0.0.1", t->port);
    redisReply *r;

    assert_true(s && !s->err);
    r = redisCommand(s, "SUBSCRIBE chanhost:%s", chan);
    assert_non_null(r);
    freeReplyObject(r);
    return s;
}

#define LIVE(f) cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)

#endif
