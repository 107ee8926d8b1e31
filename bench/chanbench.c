/*
 * chanbench.c -- the entry point of chanbench, the load generator for
 * chanhost: the command line, the worker processes (forked, each with its
 * own libuv loop, coordinated through one shared memory block) and the one
 * line of figures each scenario prints, `NAME key=value ...`.
 *
 *   chanbench conns  --url ws://127.0.0.1:PORT/ws/echo/ --n N [--host-pid PID]
 *   chanbench conns  --url ws://127.0.0.1:PORT --n N --setup FILE  (chat rooms, tokens)
 *   chanbench fanout --url ws://127.0.0.1:PORT --n N --room R --messages K --size B
 *   chanbench echo   --url ws://127.0.0.1:PORT/ws/echo/ --n C --messages K
 *   chanbench chat   --url ws://127.0.0.1:PORT --setup FILE --n N --rate R [--steps R1,R2..
 *                    [--climb K] [--refine K] [--step-s S]]
 *
 * The exit status is 0 only if every handshake succeeded and, for fanout
 * and echo, every client got every message exactly once and in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chanbench.h"

#define POLL_NS 2000000ull     /* the parent looks at the workers' flags */
#define SETTLE_NS 300000000ull /* conns: let the host finish before RSS */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: chanbench conns|fanout|echo|chat --url ws://127.x.x.x:PORT[/path] [options]\n"
            "  --n N            connections (all processes; default 1000)\n"
            "  --procs P        worker processes, each with its own loop (default 1)\n"
            "  --inflight I     handshakes in flight, all processes (default 500)\n"
            "  --src-addrs K    bind to 127.0.0.2 .. 127.0.0.(K+1); 0: no bind (default 4)\n"
            "  --host-pid PID   report the host's CPU time (and for conns its VmRSS)\n"
            "  --server-pids P1,P2..  a server's processes on this machine (PostgreSQL's\n"
            "                   backend and helpers): their CPU time too, and with the\n"
            "                   host's (at most 16)\n"
            "  --hold S         conns: keep the connections S seconds, or until\n"
            "                   SIGUSR1 (default 0)\n"
            "  --room R         fanout: room id, path /ws/broadcast/R/ (default 1)\n"
            "  --messages K     fanout: messages sent; echo: round trips each (default 100)\n"
            "  --size B         message size in bytes (default 100)\n"
            "  --window W       fanout: messages not yet received by all (default 8)\n"
            "  --rate R         fanout: send R messages/s (still windowed; default: max)\n"
            "  --timeout S      bound of each phase in seconds (default 120)\n"
            "  --spin 1         workers busy-poll instead of sleeping in epoll_wait\n"
            "  --setup FILE     chat, conns: \"ROOM_ID TOKEN\" per connection "
            "(bench/chat_setup.py)\n"
            "  --rate R         chat: messages/s per connection (default 1)\n"
            "  --steps R1,R2..  chat: run each rate in turn, report the max sustained one\n"
            "  --climb K        chat --steps: when every rate is sustained, up to K more\n"
            "                   steps, each 1.5x the last (default 0)\n"
            "  --refine K       chat --steps: after the first rate not sustained, up to K\n"
            "                   steps halfway between the best sustained and the lowest\n"
            "                   not sustained (default 0)\n"
            "  --step-s S       chat --steps: each step sends for S seconds at least\n"
            "                   (more than --messages at high rates; default 0)\n"
            "  --plugin P       chat: chatroom (default) or broadcast (rooms, no tokens, no acks)\n"
            "  --p99-max MS     chat: a rate is sustained while p99 < MS (default 100)\n");
}

/* Parse ws://A.B.C.D:PORT[/path] (loopback only).  Returns 0 or -1. */
static int parse_url(cb_opts *o, const char *url)
{
    const char *p = url + 5, *colon, *slash;
    struct sockaddr_in sa;
    size_t hl;

    if (strncmp(url, "ws://", 5) != 0 || !(colon = strchr(p, ':')))
        return -1;
    hl = (size_t)(colon - p);
    if (hl == 0 || hl >= sizeof o->host || strncmp(p, "127.", 4) != 0)
        return -1;
    memcpy(o->host, p, hl);
    o->host[hl] = '\0';
    if (uv_ip4_addr(o->host, 0, &sa) != 0)
        return -1;
    o->port = (int)strtol(colon + 1, NULL, 10);
    slash = strchr(colon, '/');
    snprintf(o->path, sizeof o->path, "%s", slash ? slash : "/");
    return o->port > 0 && o->port < 65536 ? 0 : -1;
}

/* "R1,R2,..." into o->steps.  Returns 0 or -1. */
static int parse_steps(cb_opts *o, const char *v)
{
    char *end;

    for (o->nsteps = 0; *v && o->nsteps < CB_MAX_STEPS; v = *end ? end + 1 : end) {
        o->steps[o->nsteps] = strtod(v, &end);
        if (end == v || (*end && *end != ',') || o->steps[o->nsteps] <= 0)
            return -1;
        o->nsteps++;
    }
    return *v ? -1 : 0;
}

/* "P1,P2,..." into o->server_pids.  Returns 0 or -1. */
static int parse_server_pids(cb_opts *o, const char *v)
{
    char *end;

    for (o->nserver_pids = 0; *v && o->nserver_pids < CB_MAX_SERVER_PIDS;
         v = *end ? end + 1 : end) {
        o->server_pids[o->nserver_pids] = strtol(v, &end, 10);
        if (end == v || (*end && *end != ',') || o->server_pids[o->nserver_pids] <= 0)
            return -1;
        o->nserver_pids++;
    }
    return *v ? -1 : 0;
}

/* One option and its value into o.  Returns 0 or -1. */
static int set_option(cb_opts *o, const char *name, const char *v)
{
    if (strcmp(name, "--url") == 0)
        return parse_url(o, v);
    if (strcmp(name, "--steps") == 0)
        return parse_steps(o, v);
    if (strcmp(name, "--setup") == 0)
        return cb_chat_load(o, v);
    if (strcmp(name, "--server-pids") == 0)
        return parse_server_pids(o, v);
    if (strcmp(name, "--n") == 0)
        o->n = atol(v);
    else if (strcmp(name, "--procs") == 0)
        o->procs = atoi(v);
    else if (strcmp(name, "--inflight") == 0)
        o->inflight = atoi(v);
    else if (strcmp(name, "--src-addrs") == 0)
        o->src_addrs = atoi(v);
    else if (strcmp(name, "--host-pid") == 0)
        o->host_pid = atol(v);
    else if (strcmp(name, "--hold") == 0)
        o->hold_s = atof(v);
    else if (strcmp(name, "--room") == 0)
        o->room = atoi(v);
    else if (strcmp(name, "--messages") == 0)
        o->messages = atol(v);
    else if (strcmp(name, "--size") == 0)
        o->size = atoi(v);
    else if (strcmp(name, "--window") == 0)
        o->window = atoi(v);
    else if (strcmp(name, "--rate") == 0)
        o->rate = atof(v);
    else if (strcmp(name, "--timeout") == 0)
        o->timeout_s = atof(v);
    else if (strcmp(name, "--spin") == 0)
        o->spin = atoi(v);
    else if (strcmp(name, "--plugin") == 0)
        o->broadcast = strcmp(v, "broadcast") == 0 ? 1 : strcmp(v, "chatroom") == 0 ? 0 : -1;
    else if (strcmp(name, "--climb") == 0)
        o->climb = atoi(v);
    else if (strcmp(name, "--refine") == 0)
        o->refine = atoi(v);
    else if (strcmp(name, "--step-s") == 0)
        o->step_s = atof(v);
    else if (strcmp(name, "--p99-max") == 0)
        o->p99_max_ms = atof(v);
    else
        return -1;
    return 0;
}

/* Check the options against each other and the open-file limit. */
static int check_options(cb_opts *o)
{
    struct rlimit rl;

    if (o->port == 0 || o->n < 1 || o->procs < 1 || o->procs > CB_MAX_PROCS || o->inflight < 1 ||
        o->messages < 1 || o->size < 0 || o->size > 60000 || o->window < 1 || o->timeout_s <= 0 ||
        o->src_addrs < 0 || o->src_addrs > 250) {
        fprintf(stderr, "chanbench: bad or missing option value\n");
        return -1;
    }
    if (o->scenario == CB_CHAT &&
        (!o->members || o->broadcast < 0 || o->rate <= 0 || o->p99_max_ms <= 0)) {
        fprintf(stderr, "chanbench: chat needs --setup (after --n) and a --rate above 0\n");
        return -1;
    }
    if (o->scenario == CB_FANOUT)
        snprintf(o->path, sizeof o->path, "/ws/broadcast/%d/", o->room);
    else if (strcmp(o->path, "/") == 0)
        snprintf(o->path, sizeof o->path, "/ws/echo/");
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)(o->n / o->procs + 64) > rl.rlim_cur) {
        fprintf(stderr,
                "chanbench: %ld connections per process exceed the open-file limit %lu;"
                " use more --procs\n",
                (o->n + o->procs - 1) / o->procs, (unsigned long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* The command line into o.  Returns 0 or -1 (usage printed). */
static int parse_args(cb_opts *o, int argc, char **argv)
{
    int i;

    *o = (cb_opts){.n = 1000,
                   .procs = 1,
                   .inflight = 500,
                   .src_addrs = 4,
                   .messages = 100,
                   .size = 100,
                   .window = 8,
                   .room = 1,
                   .timeout_s = 120,
                   .p99_max_ms = 100};
    if (argc < 2 || (strcmp(argv[1], "conns") != 0 && strcmp(argv[1], "fanout") != 0 &&
                     strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "chat") != 0)) {
        usage(stderr);
        return -1;
    }
    o->scenario = strcmp(argv[1], "conns") == 0 ? CB_CONNS
                  : argv[1][0] == 'f'           ? CB_FANOUT
                  : argv[1][0] == 'e'           ? CB_ECHO
                                                : CB_CHAT;
    if (o->scenario == CB_CHAT)
        o->rate = 1;
    for (i = 2; i < argc; i += 2) {
        if (i + 1 >= argc || set_option(o, argv[i], argv[i + 1]) != 0) {
            fprintf(stderr, "chanbench: bad option %s\n", argv[i]);
            usage(stderr);
            return -1;
        }
    }
    return check_options(o);
}

/* Fork the workers; worker i gets an equal share of the connections. */
static int spawn(const cb_opts *o, cb_shared *sh, pid_t *pids)
{
    long first = 0, share;
    int i;

    for (i = 0; i < o->procs; i++) {
        share = o->n / o->procs + (i < o->n % o->procs ? 1 : 0);
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("chanbench: fork");
            __atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE); /* the others exit */
            return -1;
        }
        if (pids[i] == 0)
            _exit(cb_worker_main(o, sh, i, share, first));
        first += share;
    }
    return 0;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Non-zero (and said on stderr) if worker i has ended; it is reaped. */
static int worker_died(pid_t pid, int i)
{
    int st;

    if (waitpid(pid, &st, WNOHANG) != pid)
        return 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "chanbench: worker %d killed by signal %d\n", i, WTERMSIG(st));
    else
        fprintf(stderr, "chanbench: worker %d exited early (%d)\n", i, WEXITSTATUS(st));
    return 1;
}

/* Wait until every worker reached phase (or beyond).  Returns 0, or -1 on
 * timeout or when a worker died. */
static int wait_phase(const cb_opts *o, cb_shared *sh, const pid_t *pids, int phase)
{
    uint64_t deadline = cb_now_ns() + (uint64_t)(o->timeout_s * 1e9) + 1000000000u;
    int i, all;

    for (;;) {
        for (all = 1, i = 0; i < o->procs; i++) {
            if (__atomic_load_n(&sh->w[i].phase, __ATOMIC_ACQUIRE) >= phase)
                continue;
            if (worker_died(pids[i], i))
                return -1;
            all = 0;
        }
        if (all)
            return 0;
        if (cb_now_ns() > deadline)
            return -1;
        sleep_ns(POLL_NS);
    }
}

/* Release the workers and reap them (killing any that hang). */
static void release(const cb_opts *o, cb_shared *sh, pid_t *pids)
{
    uint64_t deadline;
    int i, st;

    __atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
    for (i = 0; i < o->procs; i++) {
        deadline = cb_now_ns() + 10000000000ull;
        while (waitpid(pids[i], &st, WNOHANG) == 0) {
            if (cb_now_ns() > deadline) {
                kill(pids[i], SIGKILL);
                waitpid(pids[i], &st, 0);
                break;
            }
            sleep_ns(POLL_NS);
        }
    }
}

/* The workers' results added up into one. */
static void totals(const cb_opts *o, const cb_shared *sh, cb_wres *t)
{
    const cb_wres *w;
    int i;

    memset(t, 0, sizeof *t);
    for (i = 0; i < o->procs; i++) {
        w = &sh->w[i];
        if (w->t_first_ns && (!t->t_first_ns || w->t_first_ns < t->t_first_ns))
            t->t_first_ns = w->t_first_ns;
        if (w->t_ready_ns > t->t_ready_ns)
            t->t_ready_ns = w->t_ready_ns;
        if (w->t_last_ns > t->t_last_ns)
            t->t_last_ns = w->t_last_ns;
        t->ok += w->ok;
        t->failed += w->failed;
        t->received += w->received;
        t->expected += w->expected;
        t->acks += w->acks;
        t->sent += w->sent;
        t->order_errors += w->order_errors;
        t->incomplete += w->incomplete;
        t->dropped += w->dropped;
        t->proto_errors += w->proto_errors;
        t->refused += w->refused;
        t->cpu_s += w->cpu_s;
        cb_hist_merge(&t->hist, &w->hist);
        if (!t->first_error[0] && w->first_error[0])
            snprintf(t->first_error, sizeof t->first_error, "worker %d: %s", i, w->first_error);
    }
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

/* What --host-pid lets us see of the host at one moment, and
 * --server-pids of the server's processes (-1: gone or unknown). */
typedef struct host_sample {
    long rss_kb;
    double cpu_s;
    double server_cpu_s[CB_MAX_SERVER_PIDS];
} host_sample;

/* The host's VmRSS and CPU time now (-1 each without --host-pid), and
 * each server process's CPU time. */
static host_sample sample(const cb_opts *o)
{
    host_sample s = {-1, -1.0, {0}};

    if (o->host_pid) {
        s.rss_kb = cb_rss_kb(o->host_pid);
        s.cpu_s = cb_cpu_s(o->host_pid);
    }
    for (int i = 0; i < o->nserver_pids; i++)
        s.server_cpu_s[i] = cb_cpu_s(o->server_pids[i]);
    return s;
}

/* The server processes' CPU time from a to b, over those seen at both
 * ends (a process that ended in between is not counted). */
static double server_cpu(const cb_opts *o, const host_sample *a, const host_sample *b)
{
    double sum = 0.0;

    for (int i = 0; i < o->nserver_pids; i++)
        if (a->server_cpu_s[i] >= 0 && b->server_cpu_s[i] >= 0)
            sum += b->server_cpu_s[i] - a->server_cpu_s[i];
    return sum;
}

/* CPU time over a run of el seconds: chanbench's own (all workers) and,
 * with --host-pid, the host's, also per operation; with --server-pids
 * also the server's, and host plus server per operation. */
static void print_cpu(const cb_opts *o, const cb_wres *t, host_sample a, host_sample b, double el,
                      uint64_t ops, const char *per)
{
    double cpu = b.cpu_s - a.cpu_s;

    printf(" client_cpu_s=%.2f client_busy_pct=%.0f", t->cpu_s,
           el > 0.001 ? 100.0 * t->cpu_s / el : 0.0);
    if (!o->host_pid || a.cpu_s < 0 || b.cpu_s < 0)
        return;
    printf(" host_cpu_s=%.2f host_busy_pct=%.0f host_us_per_%s=%.2f", cpu,
           el > 0.001 ? 100.0 * cpu / el : 0.0, per, ops ? cpu * 1e6 / (double)ops : 0.0);
    if (o->nserver_pids) {
        double srv = server_cpu(o, &a, &b);

        printf(" server_cpu_s=%.2f server_busy_pct=%.0f total_us_per_%s=%.2f", srv,
               el > 0.001 ? 100.0 * srv / el : 0.0, per,
               ops ? (cpu + srv) * 1e6 / (double)ops : 0.0);
    }
}

/* conns: the handshake rate and, with --host-pid, the host's RSS and CPU. */
static int report_conns(const cb_opts *o, const cb_wres *t, host_sample h0, host_sample h1,
                        int timed_out)
{
    double el = t->t_ready_ns > t->t_first_ns ? secs(t->t_ready_ns - t->t_first_ns) : 0.0;
    int good = !timed_out && t->failed == 0 && t->ok == (uint64_t)o->n;

    printf("conns n=%ld procs=%d ok=%" PRIu64 " failed=%" PRIu64 " elapsed_s=%.3f"
           " rate_conn_s=%.0f",
           o->n, o->procs, t->ok, t->failed, el, el > 0 ? (double)t->ok / el : 0.0);
    if (o->host_pid)
        printf(" rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f", h0.rss_kb, h1.rss_kb,
               t->ok ? (double)(h1.rss_kb - h0.rss_kb) * 1024.0 / (double)t->ok : 0.0);
    print_cpu(o, t, h0, h1, el, t->ok, "conn");
    printf(" result=%s\n", good ? "ok" : "FAIL");
    return good ? 0 : 1;
}

/* The deliveries a second of the last chat run reported (run_steps). */
static double last_deliveries_s;

/* fanout / echo: throughput, latency quantiles, host CPU and the delivery
 * check. */
static int report_run(const cb_opts *o, const cb_shared *sh, const cb_wres *t, host_sample h0,
                      host_sample h1, const cb_stages sg[2], int timed_out)
{
    uint64_t expect = o->scenario == CB_CHAT ? t->expected : (uint64_t)o->n * (uint64_t)o->messages;
    double el = t->t_last_ns > sh->start_ns ? secs(t->t_last_ns - sh->start_ns) : 0.0;
    int good = !timed_out && t->failed == 0 && t->received == expect && t->order_errors == 0 &&
               t->incomplete == 0 && t->dropped == 0 && t->proto_errors == 0 && t->refused == 0;

    if (o->scenario == CB_CHAT)
        good = good && t->acks == (o->broadcast ? 0 : (uint64_t)o->n) * (uint64_t)o->messages &&
               cb_hist_quantile(&t->hist, 0.99) < o->p99_max_ms * 1e6;
    if (o->scenario == CB_CHAT) {
        last_deliveries_s = el > 0 ? (double)t->received / el : 0.0;
        printf("chat plugin=%s n=%ld messages=%ld size=%d rate=%.1f procs=%d sent=%" PRIu64
               " acks=%" PRIu64 " deliveries=%" PRIu64 " expected=%" PRIu64
               " elapsed_s=%.3f deliveries_s=%.0f",
               o->broadcast ? "broadcast" : "chatroom", o->n, o->messages, o->size, o->rate,
               o->procs, t->sent, t->acks, t->received, t->expected, el, last_deliveries_s);
    } else if (o->scenario == CB_FANOUT)
        printf("fanout n=%ld room=%d messages=%ld size=%d window=%d rate=%.0f procs=%d spin=%d "
               "deliveries=%" PRIu64 " elapsed_s=%.3f deliveries_s=%.0f",
               o->n, o->room, o->messages, o->size, o->window, o->rate, o->procs, o->spin,
               t->received, el, el > 0 ? (double)t->received / el : 0.0);
    else
        printf("echo n=%ld messages=%ld size=%d procs=%d spin=%d round_trips=%" PRIu64
               " elapsed_s=%.3f msgs_s=%.0f",
               o->n, o->messages, o->size, o->procs, o->spin, t->received, el,
               el > 0 ? (double)t->received / el : 0.0);
    printf(" p50_us=%.0f p99_us=%.0f max_us=%.0f", cb_hist_quantile(&t->hist, 0.50) / 1e3,
           cb_hist_quantile(&t->hist, 0.99) / 1e3, t->hist.max / 1e3);
    print_cpu(o, t, h0, h1, el, t->received, o->scenario == CB_ECHO ? "msg" : "delivery");
    cb_stages_print(&sg[0], &sg[1]);
    if (o->scenario == CB_CHAT)
        printf(" refused_msgs=%" PRIu64, t->refused);
    printf(" failed=%" PRIu64 " order_errors=%" PRIu64 " incomplete=%" PRIu64 " dropped=%" PRIu64
           " proto_errors=%" PRIu64 " result=%s\n",
           t->failed, t->order_errors, t->incomplete, t->dropped, t->proto_errors,
           good ? "ok" : "FAIL");
    return good ? 0 : 1;
}

/* Set by SIGUSR1: the end of conns' --hold (bench/run's memory sends it
 * once it has sampled the host). */
static volatile sig_atomic_t hold_end;

static void on_usr1(int sig)
{
    (void)sig;
    hold_end = 1;
}

/* Sleep s seconds unless (or until) SIGUSR1 came. */
static void hold(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    while (!hold_end && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* conns: connect all, measure, hold, release. */
static int run_conns(const cb_opts *o, cb_shared *sh, pid_t *pids, host_sample h0)
{
    int timed_out = wait_phase(o, sh, pids, CB_READY) != 0, rc;
    host_sample h1 = sample(o);
    cb_wres *t = calloc(1, sizeof *t);

    if (!t)
        return 1;
    sleep_ns(SETTLE_NS);
    h1.rss_kb = sample(o).rss_kb;
    totals(o, sh, t);
    rc = report_conns(o, t, h0, h1, timed_out);
    fflush(stdout);
    if (t->first_error[0])
        fprintf(stderr, "chanbench: %s\n", t->first_error);
    if (o->hold_s > 0)
        hold(o->hold_s);
    release(o, sh, pids);
    free(t);
    return rc;
}

/* fanout / echo: connect all, go, wait for the end, release, report. */
static int run_messages(const cb_opts *o, cb_shared *sh, pid_t *pids)
{
    int timed_out = wait_phase(o, sh, pids, CB_READY) != 0, rc;
    cb_wres *t = calloc(1, sizeof *t);
    host_sample h0 = {-1, -1.0, {0}}, h1 = h0;
    cb_stages sg[2] = {{0}}; /* the store's stages: chat steps of the chatroom only */
    int stages = o->scenario == CB_CHAT && !o->broadcast;

    if (!t)
        return 1;
    totals(o, sh, t);
    if (!timed_out && t->failed == 0) {
        if (stages)
            cb_stages_fetch(o->host, o->port, &sg[0]);
        h0 = sample(o);
        sh->start_ns = cb_now_ns();
        __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
        timed_out = wait_phase(o, sh, pids, CB_DONE) != 0;
        h1 = sample(o);
        if (stages)
            cb_stages_fetch(o->host, o->port, &sg[1]);
    }
    release(o, sh, pids);
    totals(o, sh, t);
    rc = report_run(o, sh, t, h0, h1, sg, timed_out);
    if (t->first_error[0])
        fprintf(stderr, "chanbench: %s\n", t->first_error);
    free(t);
    return rc;
}

/* Wait (at most 10 s) until the host's CPU time grows by less than 10 ms
 * in 100 ms: a step that was not sustained may leave it working through
 * a backlog, which the next step must not inherit.  Nothing without
 * --host-pid. */
static void settle(const cb_opts *o)
{
    double last = o->host_pid ? cb_cpu_s(o->host_pid) : -1, now;

    for (int i = 0; last >= 0 && i < 100; i++, last = now) {
        usleep(100000);
        now = cb_cpu_s(o->host_pid);
        if (now < 0 || now - last < 0.010)
            return;
    }
}

/* One step at rate, with fresh workers and connections, each sending
 * messages (or more: --step-s at this rate): 1 sustained, 0 not, -1 the
 * workers could not start.  Each step gets its own number (part of the
 * client_msg_ids). */
static int run_step(cb_opts *o, cb_shared *sh, pid_t *pids, double rate, long messages)
{
    long for_time = (long)(rate * o->step_s + 0.999);
    int rc;

    settle(o);
    memset(sh, 0, sizeof *sh);
    o->rate = rate;
    o->messages = for_time > messages ? for_time : messages;
    if (spawn(o, sh, pids) != 0)
        return -1;
    rc = run_messages(o, sh, pids) == 0;
    o->step++;
    fflush(stdout);
    return rc;
}

/* What a ladder of steps found so far (0: nothing yet). */
typedef struct ladder {
    long messages;                  /* --messages: per connection and step, at least */
    double best, best_deliveries_s; /* the highest rate sustained */
    double refused;                 /* the lowest rate not sustained */
} ladder;

/* Run a step at rate and note its outcome in l.  -1 if the workers could
 * not start. */
static int ladder_step(cb_opts *o, cb_shared *sh, pid_t *pids, ladder *l, double rate)
{
    int rc = run_step(o, sh, pids, rate, l->messages);

    if (rc > 0 && rate > l->best) {
        l->best = rate;
        l->best_deliveries_s = last_deliveries_s;
    } else if (rc == 0 && (!l->refused || rate < l->refused)) {
        l->refused = rate;
    }
    return rc < 0 ? -1 : 0;
}

/* rate to 0.1 message/s, as the lines print it. */
static double tenths(double rate) { return (double)(long)(rate * 10 + 0.5) / 10; }

/*
 * chat --steps: one run per rate until a rate is not sustained (p99 over
 * --p99-max, or a message not delivered or acked), each at least
 * --step-s long (a step of 20 messages at 80 a second is over in a
 * quarter of a second, too short for a queue to build up).  If every rate was
 * sustained, --climb more steps at 1.5x the last, until one is not; then
 * --refine steps halfway between the best sustained rate and the lowest
 * one not sustained, so that the maximum is found to within a fraction
 * of the ladder's gap instead of the gap (10 and 20: within 2.5 after two
 * refinements).  One line ends it with the highest sustained rate, the
 * deliveries a second measured at it (a short step delivers less than
 * its rate names), and the lowest refused rate (0: every rate run was
 * sustained, so the maximum is at least the one reported).  Returns 0 if
 * the first rate was sustained.
 */
static int run_steps(cb_opts *o, cb_shared *sh, pid_t *pids)
{
    ladder l = {.messages = o->messages};
    double rate;
    long i;

    for (i = 0; i < o->nsteps && !l.refused; i++)
        if (ladder_step(o, sh, pids, &l, o->steps[i]) < 0)
            return 1;
    for (i = 0; i < o->climb && l.best > 0 && !l.refused; i++)
        if (ladder_step(o, sh, pids, &l, tenths(l.best * 1.5)) < 0)
            return 1;
    for (i = 0; i < o->refine && l.best > 0 && l.refused > 0; i++) {
        rate = tenths((l.best + l.refused) / 2);
        if (rate <= l.best || rate >= l.refused)
            break;
        if (ladder_step(o, sh, pids, &l, rate) < 0)
            return 1;
    }
    printf("chat_steps n=%ld max_sustained_rate=%.1f deliveries_s=%.0f refused_rate=%.1f "
           "p99_max_ms=%.0f result=%s\n",
           o->n, l.best, l.best_deliveries_s, l.refused, o->p99_max_ms, l.best > 0 ? "ok" : "FAIL");
    return l.best > 0 ? 0 : 1;
}

/* Parse, map the shared block, note the host's state, fork the workers and
 * run the scenario.  Exit status: 0 ok, 1 a check failed, 2 bad usage. */
int main(int argc, char **argv)
{
    pid_t pids[CB_MAX_PROCS];
    cb_shared *sh;
    host_sample h0;
    cb_opts o;

    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGUSR1, &(struct sigaction){.sa_handler = on_usr1}, NULL); /* no SA_RESTART */

    cb_raise_nofile();
    if (parse_args(&o, argc, argv) != 0)
        return 2;
    o.nonce = cb_now_ns();
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("chanbench: mmap");
        return 1;
    }
    h0 = sample(&o);
    if (o.host_pid && (h0.rss_kb < 0 || h0.cpu_s < 0)) {
        fprintf(stderr, "chanbench: no /proc/%ld/status\n", o.host_pid);
        return 2;
    }
    if (o.scenario == CB_CHAT && o.nsteps > 0)
        return run_steps(&o, sh, pids);
    if (spawn(&o, sh, pids) != 0)
        return 1;
    return o.scenario == CB_CONNS ? run_conns(&o, sh, pids, h0) : run_messages(&o, sh, pids);
}
