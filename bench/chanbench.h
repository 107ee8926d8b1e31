/*
 * chanbench.h -- shared declarations of chanbench, the load generator for
 * chanhost: options, the results that worker processes share with the
 * parent (one MAP_SHARED block), the WebSocket client connection, the
 * latency histogram and the scenario entry points.
 *
 * Process model.  The parent parses options, maps the shared block, forks
 * --procs workers (each with its own libuv loop and its share of the
 * connections), and coordinates them through atomic flags in the block:
 * workers connect and report READY, the parent sets `go`, workers run the
 * scenario and report DONE, the parent prints one line of figures and sets
 * `release`, workers close their connections and exit.
 */
#ifndef CHANBENCH_H
#define CHANBENCH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CB_MAX_PROCS 16
#define CB_HIST_SUB 32 /* linear sub-buckets per power of 2 */
#define CB_HIST_BUCKETS (64 * CB_HIST_SUB)

enum cb_scenario { CB_CONNS, CB_FANOUT, CB_ECHO, CB_CHAT };

#define CB_MAX_STEPS 16
#define CB_MAX_SERVER_PIDS 16 /* --server-pids: processes watched at most */

/* chat: one connection's room and token, from the --setup file. */
typedef struct cb_member {
    long room;      /* room id, path /ws/chat-room/<room>/ */
    long room_size; /* members of that room (deliveries per message) */
    char token[512];
} cb_member;

/* Command-line options (read-only once the workers are forked). */
typedef struct cb_opts {
    enum cb_scenario scenario;
    char host[64]; /* numeric IPv4 address of the host */
    int port;
    char path[256];             /* request target of the upgrade */
    long n;                     /* connections, all processes together */
    int procs;                  /* worker processes */
    int inflight;               /* handshakes in flight, all processes */
    int src_addrs;              /* bind to 127.0.0.2 ... 127.0.0.(1+k); 0: none */
    long messages;              /* K: messages (fanout) or round trips (echo) */
    int size;                   /* approximate message size in bytes */
    int window;                 /* fanout: messages not yet received by all */
    double rate;                /* fanout: messages/s; 0 = as fast as the window */
    int room;                   /* fanout room id */
    long host_pid;              /* 0: no RSS / CPU figures */
    double hold_s;              /* conns: keep the connections this long */
    double timeout_s;           /* bound of each phase */
    int spin;                   /* never sleep in epoll_wait (busy polling) */
    double steps[CB_MAX_STEPS]; /* chat: rates per connection, in order */
    int nsteps;
    int climb;          /* chat: steps past the last of --steps while all pass */
    int refine;         /* chat: steps between the best passed and the first failed */
    double step_s;      /* chat --steps: a step sends for this long at least */
    int step;           /* chat: the step running (part of client_msg_id) */
    uint64_t nonce;     /* chat: this chanbench run (part of client_msg_id) */
    double p99_max_ms;  /* chat: a step is sustained below this p99 */
    cb_member *members; /* chat: n entries (read before the fork) */
    int broadcast;      /* chat: rooms of the broadcast plugin (no token,
                                 no history, no acks) */
    /* --server-pids: a server's processes, whose CPU time is reported */
    long server_pids[CB_MAX_SERVER_PIDS];
    int nserver_pids;
} cb_opts;

/* Log-linear latency histogram in nanoseconds (about 3% resolution). */
typedef struct cb_hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[CB_HIST_BUCKETS];
} cb_hist;

/* The host's store stages from /metrics (stages.c): per stage, the
 * cumulative bucket counts and their bounds, the sum and the count. */
#define CB_STAGES_MAX 8
#define CB_STAGE_BUCKETS 24
typedef struct cb_stage {
    char name[16];
    int nb;
    double le_s[CB_STAGE_BUCKETS];
    uint64_t cum[CB_STAGE_BUCKETS];
    uint64_t count;
    double sum_s;
} cb_stage;
typedef struct cb_stages {
    int ok; /* read, with at least one stage */
    int n;
    cb_stage st[CB_STAGES_MAX];
} cb_stages;

/* Read the host's stages (GET /metrics on host:port) into out; 0, or -1
 * (no answer, or no stage: out->ok 0). */
int cb_stages_fetch(const char *host, int port, cb_stages *out);
/* Print " store_<stage>_mean_ms=.. _p50_ms=.. _p99_ms=.." for each stage
 * that counted calls between reading a and reading b (nothing unless both
 * are ok). */
void cb_stages_print(const cb_stages *a, const cb_stages *b);

enum cb_phase { CB_CONNECTING = 0, CB_READY, CB_DONE };

/* What one worker reports to the parent. */
typedef struct cb_wres {
    int phase;             /* enum cb_phase, atomic */
    uint64_t floor;        /* fanout: messages every client here has, atomic */
    uint64_t t_first_ns;   /* first connect started */
    uint64_t t_ready_ns;   /* last handshake answered (chat: last history) */
    uint64_t t_last_ns;    /* last message received */
    uint64_t ok, failed;   /* handshakes */
    uint64_t received;     /* data messages received */
    uint64_t expected;     /* chat: deliveries due to this worker's clients */
    uint64_t acks;         /* chat: acks received */
    uint64_t sent;         /* chat: messages sent */
    uint64_t order_errors; /* duplicate, missing or reordered messages */
    uint64_t incomplete;   /* clients that did not get all messages */
    uint64_t dropped;      /* connections lost after the handshake */
    uint64_t proto_errors; /* malformed frames or unexpected messages */
    uint64_t refused;      /* chat: messages the host answered with an error
                              frame "busy" or "store_unavailable" */
    double cpu_s;          /* this worker's CPU time in the measured phase */
    char first_error[160];
    cb_hist hist;
} cb_wres;

/* The block shared by the parent and every worker. */
typedef struct cb_shared {
    int go;            /* parent -> workers: run the scenario, atomic */
    int release;       /* parent -> workers: close and exit, atomic */
    uint64_t start_ns; /* fanout/echo: when the run started */
    cb_wres w[CB_MAX_PROCS];
} cb_shared;

typedef struct cb_worker cb_worker;
typedef struct cb_client cb_client;

enum cb_client_state { CB_C_CONNECTING, CB_C_HANDSHAKE, CB_C_OPEN, CB_C_CLOSED };

/* One WebSocket client connection. */
struct cb_client {
    uv_tcp_t tcp; /* tcp.data == this */
    uv_connect_t creq;
    cb_worker *wk;
    uint32_t index; /* within the worker */
    uint8_t state;  /* enum cb_client_state */
    uint8_t closing;
    uint8_t *pend; /* bytes of an incomplete frame or response */
    uint32_t pend_len, pend_cap;
    uint32_t mask_state; /* xorshift state for masking keys */
    uint64_t count;      /* data messages received */
    uint64_t expect;     /* sequence number of the next message (chat:
                                 deliveries due) */
    uint64_t acks;       /* chat: acks received */
    uint8_t has_history; /* chat: the history frame arrived */
    char *request;       /* chat: own upgrade request (NULL: the worker's) */
    size_t request_len;
};

/* One worker process: its loop, clients and scenario state. */
struct cb_worker {
    const cb_opts *o;
    cb_shared *sh;
    cb_wres *res;
    int id;
    uv_loop_t loop;
    uv_timer_t tick;
    uv_idle_t spin; /* --spin 1: keeps the loop from blocking */
    cb_client *clients;
    long n;            /* clients of this worker */
    long first_global; /* global index of clients[0] */
    long next;         /* next client to connect */
    long inflight, max_inflight;
    long settled;   /* handshakes answered or failed */
    long histories; /* chat: clients whose history arrived (all of them
                       on the broadcast plugin, which sends none) */
    int in_connect; /* inside cb_connect_more */
    char *request;  /* the upgrade request */
    size_t request_len;
    uint8_t *rbuf; /* shared read buffer */
    size_t rbuf_size;
    int started; /* the scenario's run began */
    uint64_t deadline_ns;
    double cpu_mark;       /* cb_self_cpu_s() at the start of the phase */
    uint64_t *at;          /* fanout: clients having received k messages */
    uint64_t sent;         /* fanout: messages sent (worker 0) */
    uint64_t next_send_ns; /* fanout at a fixed rate */
    long finished;         /* echo: clients done */
};

/* ---- time, histogram, /proc (stats.c) -------------------------------- */
uint64_t cb_now_ns(void);
void cb_hist_add(cb_hist *h, uint64_t v);
void cb_hist_merge(cb_hist *into, const cb_hist *from);
uint64_t cb_hist_quantile(const cb_hist *h, double q);
long cb_rss_kb(long pid);   /* VmRSS of pid and its descendants in kB, -1 if unknown */
double cb_cpu_s(long pid);  /* user + system CPU seconds of pid, -1 if unknown */
double cb_self_cpu_s(void); /* user + system CPU seconds of this process */
void cb_raise_nofile(void);

/* ---- client connections (wsclient.c) --------------------------------- */
int cb_worker_init(cb_worker *wk);
void cb_connect_more(cb_worker *wk);
int cb_send_text(cb_client *c, const char *data, size_t len);
void cb_client_close(cb_client *c);
void cb_close_all(cb_worker *wk);
void cb_fail(cb_worker *wk, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- scenarios (scenarios.c), called by wsclient.c and worker.c ----- */
void cb_on_text(cb_client *c, const char *data, size_t len);
void cb_on_read_done(cb_worker *wk);
int cb_run_prepare(cb_worker *wk);
void cb_run_start(cb_worker *wk);
void cb_run_tick(cb_worker *wk);
int cb_run_done(const cb_worker *wk);
void cb_run_finish(cb_worker *wk);

/* ---- the chat scenario (chat.c), called by scenarios.c ------------- */
int cb_chat_load(cb_opts *o, const char *file);
int cb_chat_prepare(cb_worker *wk);
void cb_chat_text(cb_client *c, const char *data, size_t len);
void cb_chat_pump(cb_worker *wk);
int cb_chat_done(const cb_worker *wk);
void cb_chat_finish(cb_worker *wk);
size_t cb_body_make(char *out, size_t cap, uint64_t seq, int size);
int cb_body_parse(const char *s, size_t len, uint64_t *seq, uint64_t *ns);

/* ---- a worker process (worker.c) ------------------------------------- */
int cb_worker_main(const cb_opts *o, cb_shared *sh, int id, long n, long first);

#endif
