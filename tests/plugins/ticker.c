/*
 * ticker -- a test plugin for timers and the loop (SDK ABI 1.2).
 *
 * Per version (init .. fini):
 *   - a repeating "beat" timer (every 20 ms) that group_sends
 *     {"type":"beat","gen":G} to the group "beats"; fini leaves it running
 *     on purpose, so that the host cancels it when the version unloads;
 *   - an "idle" one-shot timer of an hour that fini stops itself;
 *   - a worker thread with a poster: "work:TEXT" queues a job, the thread
 *     upper-cases TEXT and loop_posts the result, which the loop sends to
 *     the connection that asked (by channel name, so a connection that is
 *     gone meanwhile is no problem): {"type":"worked","text":"TEXT",
 *     "on_loop":true}.  fini stops and joins the thread, then frees the
 *     poster.
 * Per connection (query: every=MS, the tick period, default 20; beats=1
 * joins the group "beats"):
 *   - a repeating tick timer: {"type":"tick","n":N,"gen":G};
 *   - a one-shot "once" (10 ms) that stops itself inside its callback;
 *   - a one-shot "later" (30 ms) that the host frees after it ran.
 * Messages: "stop" stops the tick timer, starts and at once stops a 1 ms
 * timer (which must never fire: {"type":"never"}), answers
 * {"type":"stopped","ticks":N} and then, 5 tick periods later,
 * {"type":"quiet"}: no tick may come between the two.  "ping" answers
 * {"type":"pong","gen":G}.
 *
 * G is TICKER_GEN (default 1), so a test can build generations with cc.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

#ifndef TICKER_GEN
#define TICKER_GEN 1
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

static const chanhost_api *api;
static pthread_t loop_thread; /* init's thread: the loop's */

/* One request for the worker; freed by whoever ends its life. */
typedef struct job {
    struct job *next;
    char *channel, *text;
} job;

/* The version's state (what init returns). */
typedef struct ticker {
    chanhost_poster *poster;
    chanhost_timer *beat, *idle;
    pthread_t worker;
    int worker_started;
    pthread_mutex_t mu; /* guards head, tail, stop */
    pthread_cond_t cv;
    job *head, **tail;
    int stop;
} ticker;

/* One connection's state (set_data). */
typedef struct conn_state {
    chanhost_conn *c;
    chanhost_timer *tick, *once, *later, *quiet;
    uint64_t every;
    int ticks;
} conn_state;

static void send_type(chanhost_conn *c, const char *type)
{
    json_t *m = json_pack("{s:s}", "type", type);

    if (m)
        api->send_json(c, m);
    json_decref(m);
}

static void job_free(job *j)
{
    free(j->channel);
    free(j->text);
    free(j);
}

/* --- the version's timers ------------------------------------------------ */

static void beat_cb(chanhost_timer *t, void *arg)
{
    json_t *m = json_pack("{s:s, s:i}", "type", "beat", "gen", TICKER_GEN);

    (void)t;
    (void)arg;
    if (m)
        api->group_send("beats", m);
    json_decref(m);
}

static void idle_cb(chanhost_timer *t, void *arg)
{
    ticker *tk = arg;

    (void)t;
    tk->idle = NULL;
}

/* --- the worker thread ----------------------------------------------------- */

/* On the loop: the worker's result reaches the client that asked. */
static void deliver(void *arg)
{
    job *j = arg;
    json_t *m = json_pack("{s:s, s:s, s:b}", "type", "worked", "text", j->text, "on_loop",
                          pthread_equal(pthread_self(), loop_thread));

    if (m)
        api->channel_send(j->channel, m);
    json_decref(m);
    job_free(j);
}

/* On the loop: the post was dropped (the version unloads): free the job. */
static void drop_job(void *arg) { job_free(arg); }

/* The worker: upper-case each job's text and post it to the loop.  Never
 * calls any api function but loop_post. */
static void *worker_main(void *arg)
{
    ticker *tk = arg;
    job *j;
    char *s;

    for (;;) {
        pthread_mutex_lock(&tk->mu);
        while (!tk->head && !tk->stop)
            pthread_cond_wait(&tk->cv, &tk->mu);
        j = tk->head;
        if (j) {
            tk->head = j->next;
            if (!tk->head)
                tk->tail = &tk->head;
        }
        pthread_mutex_unlock(&tk->mu);
        if (!j)
            return NULL; /* stop, and nothing left */
        for (s = j->text; *s; s++)
            *s = (char)toupper((unsigned char)*s);
        if (api->loop_post(tk->poster, deliver, drop_job, j) != CHANHOST_OK)
            job_free(j);
    }
}

/* Queue "work:TEXT" from connection c for the worker. */
static void enqueue(ticker *tk, chanhost_conn *c, const char *text)
{
    job *j = calloc(1, sizeof *j);

    if (!j || !(j->channel = strdup(api->channel_name(c))) || !(j->text = strdup(text))) {
        if (j)
            job_free(j);
        send_type(c, "error");
        return;
    }
    pthread_mutex_lock(&tk->mu);
    *tk->tail = j;
    tk->tail = &j->next;
    pthread_cond_signal(&tk->cv);
    pthread_mutex_unlock(&tk->mu);
}

/* --- the connection's timers ------------------------------------------------ */

static void tick_cb(chanhost_timer *t, void *arg)
{
    conn_state *cs = arg;
    json_t *m = json_pack("{s:s, s:i, s:i}", "type", "tick", "n", ++cs->ticks, "gen", TICKER_GEN);

    (void)t;
    if (m)
        api->send_json(cs->c, m);
    json_decref(m);
}

/* A one-shot that stops itself inside its callback (allowed). */
static void once_cb(chanhost_timer *t, void *arg)
{
    conn_state *cs = arg;

    cs->once = NULL;
    send_type(cs->c, "once");
    api->timer_stop(t);
}

/* A one-shot the host frees after it returns. */
static void later_cb(chanhost_timer *t, void *arg)
{
    conn_state *cs = arg;

    (void)t;
    cs->later = NULL;
    send_type(cs->c, "later");
}

static void quiet_cb(chanhost_timer *t, void *arg)
{
    conn_state *cs = arg;

    (void)t;
    cs->quiet = NULL;
    send_type(cs->c, "quiet");
}

/* Must never run: stopped right after it was started. */
static void never_cb(chanhost_timer *t, void *arg)
{
    conn_state *cs = arg;

    (void)t;
    send_type(cs->c, "never");
}

/* Stop and join the worker (if it runs), then free the poster: no thread
 * posts any more. */
static void stop_worker(ticker *tk)
{
    if (tk->worker_started) {
        pthread_mutex_lock(&tk->mu);
        tk->stop = 1;
        pthread_cond_signal(&tk->cv);
        pthread_mutex_unlock(&tk->mu);
        pthread_join(tk->worker, NULL);
        tk->worker_started = 0;
    }
    api->poster_free(tk->poster);
    tk->poster = NULL;
}

/* Free the version's state (its timers are stopped by the caller or the
 * host). */
static void ticker_free(ticker *tk)
{
    pthread_cond_destroy(&tk->cv);
    pthread_mutex_destroy(&tk->mu);
    free(tk);
}

/* --- callbacks ------------------------------------------------------------- */

static int tk_init(const chanhost_api *host, const json_t *settings, void **state)
{
    ticker *tk = calloc(1, sizeof *tk);

    (void)settings;
    api = host;
    if (!tk)
        return -1;
    pthread_mutex_init(&tk->mu, NULL);
    pthread_cond_init(&tk->cv, NULL);
    tk->tail = &tk->head;
    loop_thread = pthread_self();
    tk->poster = api->poster_new();
    tk->beat = api->timer_start(20, 20, beat_cb, tk);
    tk->idle = api->timer_start(3600 * 1000, 0, idle_cb, tk);
    tk->worker_started = tk->poster && pthread_create(&tk->worker, NULL, worker_main, tk) == 0;
    if (!tk->worker_started || !tk->beat || !tk->idle) {
        /* no fini follows a failed init; the host frees the timers */
        api->log(CHANHOST_LOG_ERROR, "init: poster, worker or timers missing");
        stop_worker(tk);
        ticker_free(tk);
        return -1;
    }
    *state = tk;
    api->log(CHANHOST_LOG_INFO, "generation " STR(TICKER_GEN) " started");
    return 0;
}

/* Stops and joins the worker, frees the poster and the idle timer; the
 * beat timer is left to the host on purpose. */
static void tk_fini(void *state)
{
    ticker *tk = state;

    stop_worker(tk);
    api->timer_stop(tk->idle);
    api->log(CHANHOST_LOG_INFO, "generation " STR(TICKER_GEN) " fini");
    ticker_free(tk);
}

static int tk_connect(chanhost_conn *c, void *state)
{
    const char *every = api->query_param(c, "every");
    const char *beats = api->query_param(c, "beats");
    conn_state *cs = calloc(1, sizeof *cs);

    (void)state;
    if (!cs)
        return 1011;
    cs->c = c;
    cs->every = every ? strtoull(every, NULL, 10) : 20;
    if (cs->every == 0)
        cs->every = 20;
    api->set_data(c, cs);
    if (beats && strcmp(beats, "1") == 0 && api->group_add(c, "beats") != CHANHOST_OK)
        return 1011;
    cs->tick = api->timer_start(cs->every, cs->every, tick_cb, cs);
    cs->once = api->timer_start(10, 0, once_cb, cs);
    cs->later = api->timer_start(30, 0, later_cb, cs);
    return cs->tick && cs->once && cs->later ? CHANHOST_ACCEPT : 1011;
}

static void tk_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    conn_state *cs = api->get_data(c);
    json_t *m;

    (void)len;
    if (is_binary)
        return;
    if (strcmp(data, "stop") == 0) {
        api->timer_stop(cs->tick);
        cs->tick = NULL;
        api->timer_stop(api->timer_start(1, 0, never_cb, cs));
        m = json_pack("{s:s, s:i}", "type", "stopped", "ticks", cs->ticks);
        if (m)
            api->send_json(c, m);
        json_decref(m);
        if (!cs->quiet)
            cs->quiet = api->timer_start(5 * cs->every, 0, quiet_cb, cs);
    } else if (strcmp(data, "ping") == 0) {
        m = json_pack("{s:s, s:i}", "type", "pong", "gen", TICKER_GEN);
        if (m)
            api->send_json(c, m);
        json_decref(m);
    } else if (strncmp(data, "work:", 5) == 0) {
        enqueue(state, c, data + 5);
    } else {
        send_type(c, "error");
    }
}

/* Every timer that still points at cs goes with it. */
static void tk_disconnect(chanhost_conn *c, void *state, int code)
{
    conn_state *cs = api->get_data(c);

    (void)state;
    (void)code;
    if (!cs)
        return;
    api->timer_stop(cs->tick);
    api->timer_stop(cs->once);
    api->timer_stop(cs->later);
    api->timer_stop(cs->quiet);
    free(cs);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
        .name = "ticker", .version = "1.0." STR(TICKER_GEN), .init = tk_init, .fini = tk_fini,
        .connect = tk_connect, .receive = tk_receive, .disconnect = tk_disconnect, );
