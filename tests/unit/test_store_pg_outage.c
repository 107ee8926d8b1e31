/*
 * test_store_pg_outage.c -- the message store's PostgreSQL engine when
 * the connection fails: a COMMIT whose result is lost (a proxy cuts the
 * connection right after the server committed), the server stopped and
 * started again while calls wait, a restart while 1000 appends are sent,
 * and close giving up while the server is down.  Needs
 * CHANHOST_TEST_PG_CTL besides CHANHOST_TEST_PG_URL (see
 * store_pg_fixture.h); the server is started again after each test that
 * stops it.
 */
#include "store_pg_fixture.h"

/* ---- a proxy that loses a COMMIT's result --------------------------------- */

/*
 * A TCP proxy on its own thread and loop (ch_store_open connects while
 * the test's loop is not running) between the store and the server.
 * Armed, it parses the server's messages and, on the CommandComplete of
 * a COMMIT, cuts both connections instead of forwarding it: the server
 * has committed, the client never hears of it.
 */
typedef struct proxy {
    pthread_t th;
    uv_loop_t loop;
    uv_tcp_t srv;
    uv_async_t stop;
    struct sockaddr_storage up;
    int port;
    int armed, cuts; /* shared with the test thread (atomics) */
    struct pconn *conns;
} proxy;

typedef struct pconn {
    proxy *px;
    struct pconn *next;
    uv_tcp_t down, up;
    uv_connect_t creq;
    char *buf; /* the server's bytes not yet forwarded */
    size_t len;
    int open, closing;
} pconn;

static void px_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    (void)n;
    b->base = malloc(65536);
    b->len = 65536;
}

static void px_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* Write a copy of data[0..n) (held after the request, freed with it). */
static void px_write(uv_tcp_t *to, const char *data, size_t n)
{
    uv_write_t *w = malloc(sizeof *w + n);
    uv_buf_t b;

    assert_non_null(w);
    b = uv_buf_init((char *)(w + 1), (unsigned)n);
    memcpy(b.base, data, n);
    if (uv_write(w, (uv_stream_t *)to, &b, 1, px_written) != 0)
        px_written(w, 0);
}

static void pconn_closed(uv_handle_t *h)
{
    pconn *c = h->data, **pp;

    if (--c->open > 0)
        return;
    for (pp = &c->px->conns; *pp != c; pp = &(*pp)->next)
        ;
    *pp = c->next;
    free(c->buf);
    free(c);
}

static void pconn_close(pconn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->down, pconn_closed);
    uv_close((uv_handle_t *)&c->up, pconn_closed);
}

static void on_down_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    pconn *c = s->data;

    if (n > 0 && !c->closing)
        px_write(&c->up, b->base, (size_t)n);
    else if (n < 0)
        pconn_close(c);
    free(b->base);
}

/* Forward the server's complete messages; armed, cut at a COMMIT's
 * CommandComplete. */
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    pconn *c = s->data;
    size_t off = 0, m;

    if (n < 0 || c->closing) {
        free(b->base);
        pconn_close(c);
        return;
    }
    c->buf = realloc(c->buf, c->len + (size_t)n);
    memcpy(c->buf + c->len, b->base, (size_t)n);
    c->len += (size_t)n;
    free(b->base);
    while (c->len - off >= 5) {
        const unsigned char *p = (const unsigned char *)c->buf + off;

        m = 1 + ((size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4]);
        if (off + m > c->len)
            break;
        if (p[0] == 'C' && m >= 12 && memcmp(p + 5, "COMMIT", 7) == 0 &&
            __atomic_exchange_n(&c->px->armed, 0, __ATOMIC_SEQ_CST)) {
            __atomic_add_fetch(&c->px->cuts, 1, __ATOMIC_SEQ_CST);
            pconn_close(c);
            return;
        }
        off += m;
    }
    if (off)
        px_write(&c->down, c->buf, off);
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void on_up_connect(uv_connect_t *r, int status)
{
    pconn *c = r->data;

    if (status < 0 || c->closing) {
        pconn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->down, px_alloc, on_down_read);
    uv_read_start((uv_stream_t *)&c->up, px_alloc, on_up_read);
}

static void on_px_accept(uv_stream_t *srv, int status)
{
    proxy *px = srv->data;
    pconn *c = calloc(1, sizeof *c);

    (void)status;
    c->px = px;
    c->next = px->conns;
    px->conns = c;
    c->open = 2;
    uv_tcp_init(&px->loop, &c->down);
    uv_tcp_init(&px->loop, &c->up);
    c->down.data = c->up.data = c->creq.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->down) != 0 ||
        uv_tcp_connect(&c->creq, &c->up, (struct sockaddr *)&px->up, on_up_connect) != 0)
        pconn_close(c);
}

static void on_px_stop(uv_async_t *a)
{
    proxy *px = a->data;

    for (pconn *c = px->conns; c; c = c->next)
        pconn_close(c);
    uv_close((uv_handle_t *)&px->srv, NULL);
    uv_close((uv_handle_t *)&px->stop, NULL);
}

static void *px_main(void *arg)
{
    proxy *px = arg;

    uv_run(&px->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Start a proxy to the test server (TCP only); -1 if it has no TCP host. */
static int px_start(proxy *px)
{
    PQconninfoOption *o = PQconninfoParse(E.url, NULL);
    const char *host = "localhost", *port = "5432";
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    struct sockaddr_in me;
    int len = sizeof me, rc;

    memset(px, 0, sizeof *px);
    for (PQconninfoOption *p = o; p && p->keyword; p++) {
        if (strcmp(p->keyword, "host") == 0 && p->val && *p->val)
            host = p->val;
        if (strcmp(p->keyword, "port") == 0 && p->val && *p->val)
            port = p->val;
    }
    rc = host[0] == '/' || getaddrinfo(host, port, &hints, &ai) != 0 ? -1 : 0;
    if (rc == 0)
        memcpy(&px->up, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    PQconninfoFree(o);
    if (rc != 0)
        return -1;
    uv_loop_init(&px->loop);
    uv_tcp_init(&px->loop, &px->srv);
    uv_async_init(&px->loop, &px->stop, on_px_stop);
    px->srv.data = px->stop.data = px;
    uv_ip4_addr("127.0.0.1", 0, &me);
    assert_int_equal(uv_tcp_bind(&px->srv, (struct sockaddr *)&me, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&px->srv, 16, on_px_accept), 0);
    uv_tcp_getsockname(&px->srv, (struct sockaddr *)&me, &len);
    px->port = ntohs(me.sin_port);
    return pthread_create(&px->th, NULL, px_main, px);
}

static void px_stop(proxy *px)
{
    uv_async_send(&px->stop);
    pthread_join(px->th, NULL);
    assert_int_equal(uv_loop_close(&px->loop), 0);
}

/* The connection dies after the server committed a batch and before its
 * client heard: the batch runs again, and each append reports the
 * message stored by its first attempt, once, not as a duplicate. */
static void lost_commit_result_is_retried(void **state)
{
    proxy px;
    fx f;
    rec r[20] = {{0}};
    recs rs = {r, 20};
    char url[1024], hp[64];

    (void)state;
    need_pg(0);
    if (px_start(&px) != 0)
        fail_msg("cannot start the test proxy");
    snprintf(hp, sizeof hp, "127.0.0.1:%d", px.port);
    url_with(url, sizeof url, E.url, hp, NULL, "sslmode=disable&gssencmode=disable");
    fx_open(&f, url, 0, 0, "chat-room:lost-commit");
    __atomic_store_n(&px.armed, 1, __ATOMIC_SEQ_CST);
    append_n(&f, r, 20, 14, "lost");
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 20);
    assert_int_equal(__atomic_load_n(&px.cuts, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(status_int(&f, "reconnects"), 1);
    assert_true(status_int(&f, "retries") >= 20);
    assert_int_equal(room_msgs(&f), 20);
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(q_int("SELECT id FROM messages WHERE room_id = %lld AND client_msg_id ="
                               " 'lost-%zu'",
                               (long long)f.room_id, i),
                         r[i].id);
    fx_close(&f);
    px_stop(&px);
}

/* ---- tests: outages ------------------------------------------------------ */

static int never(void *arg)
{
    (void)arg;
    return 0;
}

/* Run the control command with action while the loop runs; its status. */
static int ctl_during(fx *f, const char *action)
{
    ctl_job job;

    ctl_async(f, &job, action);
    assert_true(run_until(f, ctl_done, &job, 120000));
    return job.rc;
}

/* The server is stopped: the state says so, calls wait in the queue;
 * once it is back they complete, without reopening the store. */
static void outage_calls_wait(void **state)
{
    char buf[256];
    fx f;
    rec r[50] = {{0}};
    recs rs = {r, 50};

    (void)state;
    need_pg(1);
    fx_open(&f, E.url, 0, 0, "chat-room:outage");
    assert_int_equal(ctl_during(&f, "stop"), 0);
    assert_true(run_until(&f, is_down, &f, 10000));
    append_n(&f, r, 50, 15, "outage");
    run_until(&f, never, NULL, 1500);
    for (size_t i = 0; i < 50; i++)
        assert_int_equal(r[i].done, 0);
    assert_true(is_down(&f));
    printf("# while stopped: state \"%s\", queue_depth %lld\n", store_state(&f, buf, sizeof buf),
           status_int(&f, "queue_depth"));
    assert_int_equal(status_int(&f, "queue_depth"), 50);
    assert_int_equal(ctl_during(&f, "start"), 0);
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 50);
    assert_true(run_until(&f, is_ok, &f, WAIT_MS));
    assert_true(status_int(&f, "reconnects") >= 1);
    assert_int_equal(room_msgs(&f), 50);
    fx_close(&f);
}

typedef struct waves {
    uv_timer_t t;
    fx *f;
    rec *r;
    size_t sent, n;
    ctl_job job;
    int restarting;
} waves;

/* Every 20 ms, 10 more appends; after the first 120, restart the server
 * (the first attempt of restart-100 is then still running). */
static void on_wave(uv_timer_t *t)
{
    waves *w = t->data;
    char id[64];

    for (int k = 0; k < 10 && w->sent < w->n; k++, w->sent++) {
        snprintf(id, sizeof id, "restart-%zu", w->sent);
        assert_int_equal(append(w->f, 16, id, &w->r[w->sent]), 0);
    }
    if (w->sent >= 120 && !w->restarting) {
        w->restarting = 1;
        ctl_async(w->f, &w->job, "restart");
    }
    if (w->sent >= w->n)
        uv_timer_stop(t);
}

static int waves_done(void *arg)
{
    waves *w = arg;
    recs rs = {w->r, w->n};

    return w->sent == w->n && w->job.done && all_done(&rs);
}

/* The server restarts while 1000 appends are sent in waves: every call
 * succeeds, each message is stored once, the store recovers by itself. */
static void restart_while_sending(void **state)
{
    fx f;
    waves w = {.n = 1000};
    uint64_t t0 = uv_hrtime();

    (void)state;
    need_pg(1);
    fx_open(&f, E.url, 0, 0, "chat-room:restart");
    q_exec(test_trigger); /* the batch of restart-100 is in flight during the restart */
    w.f = &f;
    w.r = calloc(w.n, sizeof *w.r);
    w.t.data = &w;
    uv_timer_init(&f.loop, &w.t);
    uv_timer_start(&w.t, on_wave, 20, 20);
    assert_true(run_until(&f, waves_done, &w, 120000));
    assert_int_equal(w.job.rc, 0);
    assert_all_ok(w.r, w.n);
    assert_int_equal(room_msgs(&f), 1000);
    assert_int_equal(q_int("SELECT count(DISTINCT client_msg_id) FROM messages"
                           " WHERE room_id = %lld",
                           (long long)f.room_id),
                     1000);
    assert_true(run_until(&f, is_ok, &f, WAIT_MS));
    assert_true(status_int(&f, "reconnects") >= 1);
    assert_true(status_int(&f, "retries") >= 1);
    printf("# restart during 1000 appends: all acked in %.0f ms, %lld retries, %lld reconnects\n",
           (double)(uv_hrtime() - t0) / 1e6, status_int(&f, "retries"),
           status_int(&f, "reconnects"));
    uv_close((uv_handle_t *)&w.t, NULL);
    fx_close(&f);
    free(w.r);
}

/* Closing while the server is down gives up after 10 s: what waited is
 * cancelled (ECANCELED), never silently dropped. */
static void close_while_down_gives_up(void **state)
{
    fx f;
    rec r[5] = {{0}};
    uint64_t t0;
    double secs;

    (void)state;
    need_pg(1);
    fx_open(&f, E.url, 0, 0, "chat-room:close-down");
    assert_int_equal(ctl_during(&f, "stop"), 0);
    assert_true(run_until(&f, is_down, &f, 10000));
    append_n(&f, r, 5, 17, "close-down");
    t0 = uv_hrtime();
    ch_store_close(f.s, on_closed, &f);
    assert_true(run_until(&f, is_closed, &f, 20000));
    secs = (double)(uv_hrtime() - t0) / 1e9;
    assert_true(secs > 9.0 && secs < 15.0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].status, CH_STORE_ECANCELED);
    }
    uv_close((uv_handle_t *)&f.tick, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    assert_int_equal(ctl_now("start"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lost_commit_result_is_retried),
        cmocka_unit_test_teardown(outage_calls_wait, server_up),
        cmocka_unit_test_teardown(restart_while_sending, server_up),
        cmocka_unit_test_teardown(close_while_down_gives_up, server_up),
    };

    if (getenv("CHANHOST_TEST_FILTER")) /* e.g. "restart*": run only matching tests */
        cmocka_set_test_filter(getenv("CHANHOST_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
