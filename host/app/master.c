/*
 * master.c -- owns the master process of `workers N` (N > 1) and its
 * state: the reserved listen address, one slot per worker (its process,
 * its link, its restart timer and backoff), the workers' command line
 * and environment, and the master's signal handlers.
 *
 * The master holds no client connection and loads no plugin.  It binds
 * the listen address with SO_REUSEPORT without listening (so port 0 is
 * resolved once and a busy port fails here, in one line), then starts
 * the workers by running this binary again with the same arguments plus
 * -p PORT and CH_WORKER_ENV set; each worker binds its own SO_REUSEPORT
 * listener on that port and the kernel spreads the connections.  A TLS
 * listener (`listen ADDR:PORT tls`) is reserved the same way and passed
 * on as --listen "ADDR:PORT tls".  Worker
 * 1 starts alone and the others once it is ready, so store migrations,
 * the store's key file and the token secret file are made once, by it.
 *
 * Each worker has a link (layer/link.h) on a socketpair: it says READY
 * when it serves, and with `layer memory` the master relays every group
 * and channel send of one worker to all the others (the hub).  A worker
 * that dies is started again after a delay: 100 ms, doubled for each
 * death within 10 s of its start, at most 5 s.  SIGHUP is passed to every
 * worker (each reloads on its own); SIGTERM/SIGINT are passed on and the
 * master exits once all have stopped.  A worker whose master is gone (its
 * link closes) stops gracefully.
 */
#include "master.h"

#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "app_host.h"
#include "link.h"
#include "log.h"
#include "notify.h"

#define RESTART_MIN_MS 100
#define RESTART_MAX_MS 5000
#define STABLE_MS 10000 /* a worker that lived this long restarts at once */

extern char **environ;

struct master;

typedef struct worker {
    struct master *m;
    int index; /* 1..n */
    uv_process_t proc;
    int running; /* proc is live: its exit not seen yet */
    int ready;
    ch_link *link;
    uv_timer_t restart;
    uint64_t started_ms;
    uint64_t backoff_ms;
} worker;

typedef struct master {
    uv_loop_t loop;
    int n;
    worker w[CH_WORKERS_MAX];
    char **argv; /* the workers' command line (own array; its strings are
                    main's argv, exe and port) */
    char exe[PATH_MAX];
    char port[8];
    char run_key[65]; /* CH_RUN_KEY_ENV's value */
    char listen_addr[64];
    int reserve_fd; /* the reserved address, bound, not listening */
    int tls_fd;     /* the TLS one (`listen ADDR:PORT tls`), -1: none */
    char tls_addr[64];
    char tls_arg[80]; /* the workers' "--listen" value: "ADDR:PORT tls" */
    uv_signal_t sig_term, sig_int, sig_hup;
    int stopping;
    int announced; /* every worker was ready once: the Listening line */
    int failed;
} master;

int ch_master_workers(const ch_config *cfg)
{
    unsigned n = cfg->workers ? (unsigned)cfg->workers : uv_available_parallelism();

    return n < 1 ? 1 : n > CH_WORKERS_MAX ? CH_WORKERS_MAX : (int)n;
}

static int spawn_worker(worker *w);

/* Close the master's own handles once no worker runs: uv_run ends. */
static void master_close(master *m)
{
    int i;

    for (i = 0; i < m->n; i++)
        if (m->w[i].running)
            return;
    for (i = 0; i < m->n; i++)
        if (!uv_is_closing((uv_handle_t *)&m->w[i].restart))
            uv_close((uv_handle_t *)&m->w[i].restart, NULL);
    if (!uv_is_closing((uv_handle_t *)&m->sig_term)) {
        uv_close((uv_handle_t *)&m->sig_term, NULL);
        uv_close((uv_handle_t *)&m->sig_int, NULL);
        uv_close((uv_handle_t *)&m->sig_hup, NULL);
    }
}

/* Pass signum to every running worker. */
static void signal_workers(master *m, int signum)
{
    int i;

    for (i = 0; i < m->n; i++)
        if (m->w[i].running)
            uv_process_kill(&m->w[i].proc, signum);
}

/* Stop every worker (SIGTERM) and exit when all have stopped. */
static void master_stop(master *m)
{
    int i;

    m->stopping = 1;
    for (i = 0; i < m->n; i++)
        uv_timer_stop(&m->w[i].restart);
    signal_workers(m, SIGTERM);
    master_close(m);
}

static void on_signal(uv_signal_t *s, int signum)
{
    master *m = s->data;

    if (signum == SIGHUP) {
        ch_log(CH_LOG_INFO, "received SIGHUP: every worker reloads");
        /* each worker reloads on its own and reports nothing back: the
         * master's reload is done once the signal is passed on */
        ch_notify_reloading();
        signal_workers(m, SIGHUP);
        ch_notify_ready(m->listen_addr);
        return;
    }
    ch_log(CH_LOG_INFO, "received %s, shutting down %d worker(s)",
           signum == SIGTERM ? "SIGTERM" : "SIGINT", m->n);
    ch_notify_stopping();
    master_stop(m);
}

/* A worker serves: start the others after worker 1 (the first start),
 * and log the Listening line once every worker served. */
static void worker_ready(worker *w)
{
    master *m = w->m;
    int i, all = 1;

    w->ready = 1;
    ch_log(CH_LOG_INFO, "worker %d (pid %d) ready", w->index, w->proc.pid);
    if (m->stopping)
        return;
    for (i = 0; i < m->n; i++) {
        if (!m->w[i].running && !m->announced && spawn_worker(&m->w[i]) != 0) {
            m->failed = 1;
            master_stop(m);
            return;
        }
        all = all && m->w[i].ready;
    }
    if (all && !m->announced) {
        m->announced = 1;
        ch_log(CH_LOG_INFO, "Listening on TCP address %s (%d workers)", m->listen_addr, m->n);
        if (m->tls_fd >= 0)
            ch_log(CH_LOG_INFO, "Listening on TLS address %s (%d workers)", m->tls_addr, m->n);
        ch_notify_ready(m->listen_addr);
    }
}

/* A frame from worker w: READY, or a send or a snapshot to relay to
 * every other. */
static void on_frame(ch_link *k, const ch_link_frame *f, void *arg)
{
    worker *w = arg;
    master *m = w->m;
    ch_buf *buf;
    int i;

    (void)k;
    if (f->kind == CH_LINK_READY) {
        worker_ready(w);
        return;
    }
    if (f->kind != CH_LINK_GROUP && f->kind != CH_LINK_CHANNEL && f->kind != CH_LINK_STATS)
        return;
    if (!(buf = ch_buf_from(f->raw, f->raw_len))) {
        ch_log(CH_LOG_ERROR, "master: out of memory relaying a send");
        return;
    }
    for (i = 0; i < m->n; i++)
        if (&m->w[i] != w && m->w[i].link)
            ch_link_send_buf(m->w[i].link, buf);
    ch_buf_unref(buf);
}

/* The link of w closed (the worker is exiting): drop it. */
static void on_link_gone(ch_link *k, void *arg)
{
    worker *w = arg;

    ch_link_close(k);
    if (w->link == k)
        w->link = NULL;
}

static void on_restart(uv_timer_t *t)
{
    worker *w = t->data;

    if (!w->m->stopping && spawn_worker(w) != 0)
        uv_timer_start(&w->restart, on_restart, RESTART_MAX_MS, 0);
}

static void on_proc_closed(uv_handle_t *h) { (void)h; }

static void on_worker_exit(uv_process_t *p, int64_t status, int signum)
{
    worker *w = p->data;
    master *m = w->m;
    uint64_t lived = uv_now(&m->loop) - w->started_ms;

    w->running = 0;
    w->ready = 0;
    uv_close((uv_handle_t *)p, on_proc_closed);
    if (w->link) {
        ch_link_close(w->link);
        w->link = NULL;
    }
    if (m->stopping) {
        ch_log(CH_LOG_INFO, "worker %d (pid %d) stopped", w->index, p->pid);
        master_close(m);
        return;
    }
    if (signum)
        ch_log(CH_LOG_WARN, "worker %d (pid %d) killed by signal %d", w->index, p->pid, signum);
    else
        ch_log(CH_LOG_WARN, "worker %d (pid %d) exited with status %lld", w->index, p->pid,
               (long long)status);
    if (!m->announced) { /* start-up failed: give up */
        ch_log(CH_LOG_ERROR, "a worker failed to start; stopping");
        m->failed = 1;
        master_stop(m);
        return;
    }
    w->backoff_ms = lived >= STABLE_MS || !w->backoff_ms ? RESTART_MIN_MS
                    : w->backoff_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS
                                                         : w->backoff_ms * 2;
    ch_log(CH_LOG_INFO, "restarting worker %d in %llu ms", w->index,
           (unsigned long long)w->backoff_ms);
    uv_timer_start(&w->restart, on_restart, w->backoff_ms, 0);
}

/* environ plus CH_WORKER_ENV=index and the run key: a new array (free
 * the array and its first two strings), or NULL. */
static char **worker_env(const master *m, int index)
{
    size_t n = 0, i;
    char **env;

    while (environ[n])
        n++;
    if (!(env = calloc(n + 3, sizeof *env)))
        return NULL;
    if (asprintf(&env[0], "%s=%d", CH_WORKER_ENV, index) < 0 ||
        asprintf(&env[1], "%s=%s", CH_RUN_KEY_ENV, m->run_key) < 0) {
        free(env[0]);
        free(env);
        return NULL;
    }
    for (i = 0; i < n; i++)
        env[i + 2] = environ[i];
    return env;
}

/* Start worker w with a new link.  Returns 0 or -1 (logged). */
static int spawn_worker(worker *w)
{
    master *m = w->m;
    uv_process_options_t o = {0};
    uv_stdio_container_t stdio[4];
    char **env = worker_env(m, w->index), err[256];
    int sv[2], rc, i;

    if (!env || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        ch_log(CH_LOG_ERROR, "worker %d: %s", w->index, env ? strerror(errno) : "out of memory");
        if (env) {
            free(env[0]);
            free(env[1]);
        }
        free(env);
        return -1;
    }
    for (i = 0; i < 3; i++) {
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = i;
    }
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = sv[1];
    o.file = m->exe;
    o.args = m->argv;
    o.env = env;
    o.stdio = stdio;
    o.stdio_count = 4;
    o.exit_cb = on_worker_exit;
    w->proc.data = w;
    rc = uv_spawn(&m->loop, &w->proc, &o);
    close(sv[1]);
    free(env[0]);
    free(env[1]);
    free(env);
    if (rc != 0) {
        close(sv[0]);
        ch_log(CH_LOG_ERROR, "cannot start worker %d: %s", w->index, uv_strerror(rc));
        return -1;
    }
    w->running = 1;
    w->started_ms = uv_now(&m->loop);
    w->link = ch_link_open(&m->loop, sv[0], 0, on_frame, on_link_gone, w, err, sizeof err);
    if (!w->link)
        ch_log(CH_LOG_ERROR, "worker %d: %s", w->index, err);
    ch_log(CH_LOG_INFO, "worker %d started (pid %d)", w->index, w->proc.pid);
    return 0;
}

/* Bind host:port (borrowed) with SO_REUSEPORT into *fd, and write the
 * address bound into addr[64] and its port into port[8].  Returns 0 or
 * -1 (logged). */
static int reserve_address(const char *host, int want, int *fd, char *addr, char *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int v6 = strchr(host, ':') != NULL, p, rc;

    rc = v6 ? uv_ip6_addr(host, want, (struct sockaddr_in6 *)&ss)
            : uv_ip4_addr(host, want, (struct sockaddr_in *)&ss);
    if (rc == 0)
        rc = ch_app_bind_shared((struct sockaddr *)&ss, fd);
    if (rc == 0 && getsockname(*fd, (struct sockaddr *)&ss, &len) != 0)
        rc = -errno;
    if (rc != 0) {
        ch_log(CH_LOG_ERROR, "cannot listen on %s:%d: %s", host, want,
               rc == -EADDRINUSE ? "address already in use" : strerror(-rc));
        return -1;
    }
    if (v6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
        p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        snprintf(addr, 64, "[%s]:%d", ip, p);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(addr, 64, "%s:%d", ip, p);
    }
    snprintf(port, 8, "%d", p);
    return 0;
}

/* Reserve the listen addresses of cfg (borrowed): the plain one and the
 * TLS one if any (the workers are told its port with --listen).  Returns
 * 0 or -1 (logged). */
static int reserve_addresses(master *m, const ch_config *cfg)
{
    char port[8];

    m->tls_fd = -1;
    if (reserve_address(cfg->listen_host, cfg->listen_port, &m->reserve_fd, m->listen_addr,
                        m->port) != 0)
        return -1;
    if (!cfg->tls_listen_host)
        return 0;
    if (reserve_address(cfg->tls_listen_host, cfg->tls_listen_port, &m->tls_fd, m->tls_addr,
                        port) != 0) {
        close(m->reserve_fd);
        return -1;
    }
    snprintf(m->tls_arg, sizeof m->tls_arg, "%s tls", m->tls_addr);
    return 0;
}

/* The workers' command line: this binary, argv[1..], -p PORT; and the
 * run key.  Returns 0 or -1. */
static int master_prepare(master *m, int argc, char **argv)
{
    unsigned char key[32];
    ssize_t n = readlink("/proc/self/exe", m->exe, sizeof m->exe - 1);
    int i;

    if (n <= 0 || RAND_bytes(key, sizeof key) != 1 ||
        !(m->argv = calloc(argc + 5, sizeof *m->argv)))
        return -1;
    m->exe[n] = '\0';
    for (i = 0; i < 32; i++)
        snprintf(m->run_key + 2 * i, 3, "%02x", key[i]);
    m->argv[0] = m->exe;
    for (i = 1; i < argc; i++)
        m->argv[i] = argv[i];
    m->argv[argc] = "-p";
    m->argv[argc + 1] = m->port;
    if (m->tls_arg[0]) {
        m->argv[argc + 2] = "--listen";
        m->argv[argc + 3] = m->tls_arg;
    }
    return 0;
}

int ch_master_run(const ch_config *cfg, int argc, char **argv)
{
    master *m = calloc(1, sizeof *m);
    int i, rc;

    if (!m || reserve_addresses(m, cfg) != 0 || master_prepare(m, argc, argv) != 0) {
        if (m)
            free(m->argv);
        free(m);
        return 1;
    }
    m->n = ch_master_workers(cfg);
    uv_loop_init(&m->loop);
    uv_signal_init(&m->loop, &m->sig_term);
    uv_signal_init(&m->loop, &m->sig_int);
    uv_signal_init(&m->loop, &m->sig_hup);
    m->sig_term.data = m->sig_int.data = m->sig_hup.data = m;
    uv_signal_start(&m->sig_term, on_signal, SIGTERM);
    uv_signal_start(&m->sig_int, on_signal, SIGINT);
    uv_signal_start(&m->sig_hup, on_signal, SIGHUP);
    for (i = 0; i < m->n; i++) {
        m->w[i].m = m;
        m->w[i].index = i + 1;
        uv_timer_init(&m->loop, &m->w[i].restart);
        m->w[i].restart.data = &m->w[i];
    }
    ch_log(CH_LOG_INFO, "master (pid %d): %d workers on %s", (int)getpid(), m->n, m->listen_addr);
    if (spawn_worker(&m->w[0]) != 0) {
        m->failed = 1;
        master_stop(m);
    }
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
    close(m->reserve_fd);
    if (m->tls_fd >= 0)
        close(m->tls_fd);
    rc = m->failed ? 1 : 0;
    ch_log(CH_LOG_INFO, "stopped");
    free(m->argv);
    free(m);
    return rc;
}
