/*
 * store_pg.h -- private to the PostgreSQL engine: a lane's state (one
 * connection, its queue and its batch in flight; store_pg_lanes.c is the
 * engine, over one or more lanes), shared by store_pg.c (a lane's entry
 * points, the queue and the pipelined batches), store_pg_conn.c (the
 * connections: the blocking one for migrations, the non-blocking one on
 * the loop, reconnection; the conversion of parameters and rows),
 * store_pg_notify.c (LISTEN and the notifications) and store_pg_group.c
 * (a round's grouped statements).
 * Nothing outside those files includes it.
 */
#ifndef CH_STORE_PG_H
#define CH_STORE_PG_H

#include <libpq-fe.h>
#include <uv.h>

#include "hmap.h"
#include "store_impl.h"

/* Connection states. */
enum { CH_PG_DOWN = 0, CH_PG_CONNECTING = 1, CH_PG_READY = 2 };

/* What a request of the batch in flight is doing (ch_pg_slot.state). */
enum {
    CH_PG_SLOT_FREE = 0, /* already handed back (ch_store_done) */
    CH_PG_SLOT_RUN,      /* has a step to run */
    CH_PG_SLOT_OK,       /* all its steps ran: waits for COMMIT */
    CH_PG_SLOT_FAIL      /* failed after writing: roll back, then fail or isolate */
};

typedef struct ch_pg_slot {
    ch_store_req *req;
    int state;
    long group; /* this round: its group's first member, or -1 (store_pg_group.c) */
} ch_pg_slot;

/* A result the pipeline owes us, in the order the commands were sent. */
enum {
    CH_PG_IT_BEGIN,
    CH_PG_IT_PREPARE,
    CH_PG_IT_STEP,
    CH_PG_IT_GROUP,
    CH_PG_IT_COMMIT,
    CH_PG_IT_ROLLBACK,
    CH_PG_IT_SYNC,
    CH_PG_IT_LISTEN
};

typedef struct ch_pg_item {
    int kind;
    int slot;        /* CH_PG_IT_STEP / GROUP (its first member) / PREPARE: index into slots */
    const char *sql; /* CH_PG_IT_PREPARE: the statement's text */
} ch_pg_item;

/* The phase of the batch in flight (CH_PG_LISTENING: no batch, the
 * LISTEN of store_pg_notify.c and its Sync). */
enum { CH_PG_IDLE = 0, CH_PG_ROUNDS, CH_PG_COMMITTING, CH_PG_ROLLING_BACK, CH_PG_LISTENING };

typedef struct ch_pg {
    ch_store *s;
    uv_loop_t *loop;
    char *url;
    char *dns_host;  /* a host name to resolve on the loop, or NULL */
    PGconn *conn;    /* NULL while down */
    uv_poll_t *poll; /* watches PQsocket(conn); NULL while down */
    int poll_events;
    uv_getaddrinfo_t dns;
    int dns_busy;
    uv_timer_t timer;       /* reconnect backoff, or the connect timeout */
    uv_timer_t close_timer; /* bounds ch_store_close */
    uv_idle_t kick;         /* starts the next batch after this loop turn */
    uv_timer_t window;      /* ends the commit window (store_queue.c) */
    ch_st_window win;       /* the commit window's state */
    int state;
    int ever_ready; /* a reconnect, not the first connect */
    unsigned backoff_ms;
    char last_error[200];
    char state_text[224];

    ch_store_req *q_head, *q_tail;       /* waiting */
    ch_store_req *solo_head, *solo_tail; /* waiting to run alone (isolated) */

    ch_pg_slot *slots; /* the batch in flight */
    size_t n_slots;
    ch_pg_item *items; /* results owed: [it_head, it_tail) */
    size_t it_head, it_tail;
    int head_got; /* the head item's result was read */
    int phase;
    int solo;      /* one request: its failure is final */
    int poisoned;  /* a request failed: roll back */
    int transient; /* serialization failure: roll back, retry all */
    int committed;
    int ungrouped;    /* this batch runs no grouped statement (store_pg_group.c) */
    int ungroup_next; /* nor does the next: a group of this one failed */

    char *listen;   /* owned: the channel to LISTEN on, or NULL */
    int listen_due; /* LISTEN not yet sent on this connection */

    ch_hmap prepared;  /* statements prepared on this connection (text -> text) */
    unsigned prep_gen; /* part of their names: see stmt_name */

    int closing;
    int finished;                /* shut down: waiting for close callbacks */
    int closed_handles;          /* close callbacks still to come */
    void (*released)(void *arg); /* called once the lane is freed */
    char tag[80];                /* its log lines' prefix: "postgresql" (one lane) or
                                  * "postgresql (connection 2 of 2)" */
    void *released_arg;
} ch_pg;

#define CH_PG_MAX_ATTEMPTS 10
#define CH_PG_BACKOFF_MIN_MS 100
#define CH_PG_BACKOFF_MAX_MS 5000
#define CH_PG_CONNECT_TIMEOUT_MS 10000
#define CH_PG_CLOSE_TIMEOUT_MS 10000

/* store_pg_conn.c */
int ch_pg_migrate_blocking(const char *url, int *version, int *applied, PGconn **keep, char *err,
                           size_t errlen);
void ch_pg_conn_adopt(ch_pg *pg, PGconn *conn);
int ch_pg_check_url(const char *url, char **dns_host, char *err, size_t errlen);
void ch_pg_conn_start(ch_pg *pg);
void ch_pg_conn_lost(ch_pg *pg, const char *why);
int ch_pg_flush(ch_pg *pg);
void ch_pg_conn_shutdown(ch_pg *pg);
const char **ch_pg_text_params(ch_store_req *req, json_t *params, int *n);
json_t *ch_pg_rows_json(const PGresult *res);
int ch_pg_conn_level(const ch_pg *pg, const char *state);
int ch_pg_map_error(const char *state);

/* store_pg.c, for store_pg_lanes.c: lane i of n's open (NULL and err on
 * failure), submit (req stolen until ch_store_done), state (valid until
 * the next call) and close (the lane calls released(arg) once freed). */
ch_pg *ch_pg_open(ch_store *s, const char *url, size_t i, size_t n, void (*released)(void *),
                  void *arg, char *err, size_t errlen);
void ch_pg_submit(ch_pg *pg, ch_store_req *req);
const char *ch_pg_state(ch_pg *pg);
void ch_pg_close(ch_pg *pg);

/* store_pg_notify.c: LISTEN on channel on this lane's connection (again
 * after each reconnect); 0 or -ENOMEM.  For store_pg_lanes.c. */
int ch_pg_listen(ch_pg *pg, const char *channel);
int ch_pg_listen_start(ch_pg *pg);
int ch_pg_listen_result(ch_pg *pg, const PGresult *res);
void ch_pg_listen_synced(ch_pg *pg);
void ch_pg_take_notifies(ch_pg *pg);

/* store_pg_group.c, for store_pg.c */
int ch_pg_send_groups(ch_pg *pg);
int ch_pg_group_result(ch_pg *pg, size_t first, const PGresult *res);

/* store_pg.c, for store_pg_group.c */
void ch_pg_push_item(ch_pg *pg, int kind, size_t slot, const char *sql);
int ch_pg_stmt_name(ch_pg *pg, size_t slot, const char *sql, char *name, size_t len);
void ch_pg_slot_failed(ch_pg *pg, size_t i, size_t ran);
int ch_pg_stmt_failed(ch_pg *pg, int slot, const PGresult *res);
void ch_pg_step_rows(ch_pg *pg, size_t i, json_t *rows);

/* store_pg.c, for store_pg_conn.c and store_pg_notify.c */
void ch_pg_on_ready(ch_pg *pg);
void ch_pg_batch_requeue(ch_pg *pg, const char *why);
int ch_pg_read_results(ch_pg *pg);
void ch_pg_handle_closed(uv_handle_t *h);
void ch_pg_release(ch_pg *pg);

#endif
