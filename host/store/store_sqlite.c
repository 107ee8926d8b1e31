/*
 * store_sqlite.c -- the SQLite engine of the message store
 * (ch_store_sqlite_engine): "sqlite:PATH", a file in WAL mode with
 * synchronous=FULL, foreign keys on.
 *
 * One worker thread owns the database handle after open.  The loop
 * thread pushes requests onto a mutex-protected FIFO and signals a
 * condition variable (once per wake-up of the worker, not per request);
 * the worker takes up to batch_max requests (after the commit window of
 * store_queue.c, when traffic suggests more will come: a timed wait on
 * the condition variable, which the loop signals only when the batch is
 * full or the store closes), runs
 * them in ONE transaction (group commit; a failing request rolls back
 * alone: run_batch says how), commits, and hands the
 * batch back through a done list and a write to an eventfd the loop
 * polls (only when the loop has not been told since it last took the
 * list; neither the signal nor the write is made with the mutex held).
 * An eventfd, not a uv_async_t: libuv 1.44's async callback spins (then
 * sched_yield) while the sending thread is still inside its write, which
 * the loop, woken by that very write, often saw.  The loop's
 * callback calls ch_store_done for each, so callbacks run on the loop
 * thread only, after the commit (a failed COMMIT fails the whole batch
 * with EIO).  Several processes (`workers N`) writing one file take
 * turns (store_turn.c) around their writing transactions.  The worker
 * keeps a cache of prepared statements keyed by SQL text, each prepared
 * once; store_sqlite_step.c runs a step with one.  Only open and migrate
 * block (start-up,
 * command line).
 */
#include "store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hmap.h"
#include "log.h"
#include "secret.h"
#include "store_ckpt.h"
#include "store_turn.h"

#define HOT_SLOTS 64       /* the statement cache's front, by SQL text address */
#define GUARDED_BATCHES 64 /* after a failed request: batches run with savepoints */

/* One entry of the statement cache's front: the address of a step's SQL
 * text (the op tables' static strings) and its statement, owned by the
 * cache (stmts). */
typedef struct sq_hot {
    const char *sql;
    sqlite3_stmt *st;
} sq_hot;

typedef struct sq {
    ch_store *s;
    sqlite3 *db; /* the worker's after open */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    uv_poll_t poll;                /* on efd, the loop's */
    int efd;                       /* eventfd: the worker tells the loop (-1: none) */
    ch_store_req *q_head, *q_tail; /* submitted, waiting (mu) */
    ch_store_req *d_head, *d_tail; /* finished, for the loop (mu) */
    int idle;                      /* the worker waits, not yet woken (mu) */
    int windowing;                 /* the worker waits in the commit window (mu) */
    ch_st_window win;              /* the commit window (mu) */
    ch_st_turn turn;               /* the writers' turn of the file (worker after open) */
    ch_st_ckpt ckpt;               /* when the worker checkpoints (worker after open) */
    int told;                      /* efd written, the loop has not taken d_head since (mu) */
    int stopping;                  /* close was asked (mu) */
    int exited;                    /* the worker closed the db and ends (mu) */
    int joined;                    /* loop thread only */
    uint32_t batch_max;
    char state[224];     /* "ok" or "down: why" (mu) */
    char state_out[224]; /* the loop's copy, for state() */
    ch_hmap stmts;       /* SQL text -> sqlite3_stmt* (worker) */
    /* stmts looked up by the SQL text's address first (worker) */
    sq_hot hot[HOT_SLOTS];
    unsigned guarded; /* batches still to run with savepoints (worker; run_batch) */
} sq;

static uv_once_t lib_once = UV_ONCE_INIT;

static int64_t wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- opening and migrations (blocking) ----------------------------------- */

/* Run sql (statements without results); -1 with the reason in err. */
static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

/* The single integer of a one-row query (e.g. a version). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return 0;
    }
    snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return -1;
}

/* Switch to WAL (an in-memory database keeps "memory"); -1 if refused. */
static int set_wal(sqlite3 *db, int in_memory, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    int ok;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    ok = mode && strcmp(mode, in_memory ? "memory" : "wal") == 0;
    if (!ok)
        snprintf(err, errlen, "sqlite: cannot switch to WAL mode (journal mode %s)",
                 mode ? mode : sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

/* Create PATH (mode 0600, so that its -wal and -shm siblings get that
 * mode too) and its directories, unless it exists. */
static int create_file(const char *path, char *err, size_t errlen)
{
    int fd;

    if (ch_make_parent_dirs(path, 0750, err, errlen) != 0)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

/* SQLite's process-wide settings, before the library initialises (the
 * first open): no memory statistics, which take a global mutex around
 * every allocation (if something in the process initialised SQLite
 * before, the call is refused, SQLITE_MISUSE, and the default stays);
 * then the VFS that gathers WAL writes (store_sqlite_vfs.c). */
static const char *vfs_name; /* store_sqlite_vfs.c's, or NULL: the default */

static void lib_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    vfs_name = ch_st_vfs_name();
}

/* Open a connection to path with flags (SQLITE_OPEN_READWRITE or
 * _READONLY; the connection is used by one thread at a time), extended
 * result codes and the busy timeout.  Returns the handle (the caller
 * closes it), or NULL with the reason in err. */
static sqlite3 *db_connect(const char *path, int flags, char *err, size_t errlen)
{
    sqlite3 *db = NULL;

    uv_once(&lib_once, lib_setup);
    /* the store's own file gathers its WAL writes (store_sqlite_vfs.c);
     * another application's (read-only) is opened as SQLite would */
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX,
                        flags & SQLITE_OPEN_READWRITE ? vfs_name : NULL) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: cannot open %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_handler(db, ch_st_busy_wait, NULL);
    return db;
}

/* Open PATH (":memory:": a private in-memory database) with WAL, synchronous=FULL,
 * foreign keys, busy timeout, CH_ST_SQLITE_CACHE: the handle, or NULL with err. */
static sqlite3 *db_open(const char *path, char *err, size_t errlen)
{
    int in_memory = strcmp(path, ":memory:") == 0;
    sqlite3 *db = NULL;

    if (sqlite3_libversion_number() < 3038000) {
        snprintf(err, errlen, "sqlite: version %s is too old (3.38 or newer needed)",
                 sqlite3_libversion());
        return NULL;
    }
    if (!*path) {
        snprintf(err, errlen, "sqlite: empty path (use sqlite:PATH)");
        return NULL;
    }
    if (!in_memory && create_file(path, err, errlen) != 0)
        return NULL;
    if (!(db = db_connect(path, SQLITE_OPEN_READWRITE, err, errlen)))
        return NULL;
    if (set_wal(db, in_memory, err, errlen) != 0 ||
        exec_sql(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; " CH_ST_SQLITE_CACHE, err,
                 errlen) != 0) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Open another application's database at path read-only, as it is: no
 * file created, no pragma changed (its journal mode is its own), a busy
 * timeout.  Returns the handle, or NULL with the reason in err. */
static sqlite3 *db_open_foreign(const char *path, char *err, size_t errlen)
{
    return db_connect(path, SQLITE_OPEN_READONLY, err, errlen);
}

/* Record that version v was applied. */
static int record_version(sqlite3 *db, int64_t v, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db,
                           "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                           -1, &st, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, v);
        sqlite3_bind_int64(st, 2, wall_ms());
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Apply the missing migrations in one transaction: *version is the
 * schema version after, *applied how many ran.  -1 with err on failure
 * (nothing applied) or for a database newer than this program. */
static int migrate_db(sqlite3 *db, int64_t *version, int *applied, char *err, size_t errlen)
{
    size_t n;
    const char *const *m = ch_store_migrations(CH_STORE_SQLITE, &n);
    int64_t cur = 0;

    *applied = 0;
    if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) != 0)
        return -1;
    if (exec_sql(db, CH_STORE_MIGRATIONS_TABLE, err, errlen) != 0 ||
        query_int(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", &cur, err,
                  errlen) != 0)
        goto fail;
    if (cur > (int64_t)n) {
        snprintf(err, errlen, "database schema version %lld is newer than this chanhost (%zu)",
                 (long long)cur, n);
        goto fail;
    }
    for (int64_t v = cur; v < (int64_t)n; v++, (*applied)++)
        if (exec_sql(db, m[v], err, errlen) != 0 || record_version(db, v + 1, err, errlen) != 0)
            goto fail;
    if (exec_sql(db, "COMMIT", err, errlen) != 0)
        goto fail;
    *version = (int64_t)n;
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    *applied = 0;
    return -1;
}

/* ---- the worker: statements and steps -------------------------------------- */

/* The prepared statement for sql (borrowed: the cache owns it), or NULL.
 * Each SQL text is prepared once: the cache is keyed by the text; its
 * front, keyed by the text's address, spares the hash of a long text for
 * the steps' static strings (a plugin's text at a reused address is
 * compared, never taken for another). */
static sqlite3_stmt *stmt_get(sq *e, const char *sql)
{
    sq_hot *h = &e->hot[((uintptr_t)sql >> 3) % HOT_SLOTS];
    sqlite3_stmt *st;

    if (h->sql == sql && strcmp(sqlite3_sql(h->st), sql) == 0)
        return h->st;
    st = ch_hmap_get(&e->stmts, sql);
    if (!st) {
        if (sqlite3_prepare_v3(e->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
            return NULL;
        if (ch_hmap_put(&e->stmts, sql, st) < 0) {
            sqlite3_finalize(st);
            return NULL;
        }
    }
    h->sql = sql;
    h->st = st;
    return st;
}

/* Run a statement without parameters or rows (transaction control). */
static int exec_cached(sq *e, const char *sql)
{
    sqlite3_stmt *st = stmt_get(e, sql);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

    if (st)
        sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Run one step with its cached statement (store_sqlite_step.c's
 * ch_sq_step; t: the step's typed hooks, or NULL).  Returns the hook's
 * CH_STEP_* or a failure status (req->status set). */
static int run_step(sq *e, ch_store_req *req, const ch_store_step *step, const ch_st_typed *t)
{
    sqlite3_stmt *st = stmt_get(e, step->sql);

    return st ? ch_sq_step(e->db, st, req, step, t)
              : ch_store_fail(req, CH_STORE_EIO, "sqlite: %s", sqlite3_errmsg(e->db));
}

/* Run req's steps from req->step on; a success without a result gets
 * {}. */
static void run_steps(sq *e, ch_store_req *req)
{
    size_t n;
    const ch_store_step *steps = ch_store_op_steps(req->op, CH_STORE_SQLITE, &n);

    req->attempts++;
    for (; req->step < n; req->step++) {
        if (run_step(e, req, &steps[req->step],
                     req->op->typed ? &req->op->typed[req->step] : NULL) != CH_STEP_NEXT)
            break;
    }
    if (req->status == 0 && !req->result)
        req->result = json_object();
}

/* Run one request inside its own savepoint; a failure rolls back its
 * writes alone.  Returns -1 if the enclosing transaction is gone (an
 * error that made SQLite roll everything back). */
static int run_guarded(sq *e, ch_store_req *req)
{
    if (exec_cached(e, "SAVEPOINT req") != 0) {
        ch_store_fail(req, CH_STORE_EIO, "sqlite: %s", sqlite3_errmsg(e->db));
        return -1;
    }
    run_steps(e, req);
    if (sqlite3_get_autocommit(e->db))
        return -1;
    if (req->status != 0 && exec_cached(e, "ROLLBACK TO req") != 0)
        return -1;
    return exec_cached(e, "RELEASE req");
}

/* Run the batch's requests without savepoints (the transaction begun).
 * 0: every one succeeded.  Else one failed, or the transaction is gone:
 * the batch's work is rolled back and its requests rewound for another
 * attempt (ch_store_req_rewind: what their ops keep in ctx stays). */
static int run_plain(sq *e, ch_store_req *batch)
{
    ch_store_req *r;

    for (r = batch; r; r = r->next) {
        run_steps(e, r);
        if (r->status != 0 || sqlite3_get_autocommit(e->db))
            break;
    }
    if (!r)
        return 0;
    if (!sqlite3_get_autocommit(e->db))
        exec_cached(e, "ROLLBACK");
    /* Every call is rewound, but only those that ran (up to and
     * including the failing one, r) are counted as run again. */
    int ran = 1;
    for (ch_store_req *q = batch; q; q = q->next) {
        ch_store_req_rewind(q);
        if (ran)
            ch_store_count_retry(e->s);
        ran = ran && q != r;
    }
    return -1;
}

/* Fail every request of a batch with EIO (nothing of it committed). */
static void fail_batch(ch_store_req *batch, const char *why)
{
    for (ch_store_req *r = batch; r; r = r->next) {
        json_decref(r->result);
        r->result = NULL;
        ch_store_fail(r, CH_STORE_EIO, "%s", why);
    }
}

/* Set the state shown by /healthz: "ok", or "down: why". */
static void set_state(sq *e, const char *why)
{
    uv_mutex_lock(&e->mu);
    snprintf(e->state, sizeof e->state, "%s%s", why ? "down: " : "ok", why ? why : "");
    uv_mutex_unlock(&e->mu);
}

/* BEGIN the batch's transaction (IMMEDIATE when it writes); on failure
 * the batch fails.  0 or -1. */
static int begin(sq *e, ch_store_req *batch, int writes)
{
    char why[200];

    if (exec_cached(e, writes ? "BEGIN IMMEDIATE" : "BEGIN") == 0)
        return 0;
    snprintf(why, sizeof why, "sqlite: begin: %s", sqlite3_errmsg(e->db));
    fail_batch(batch, why);
    set_state(e, why);
    return -1;
}

/* End the batch's transaction: COMMIT, unless broken (a request found
 * it gone); when that fails, or broken, the whole batch fails. */
static void commit(sq *e, ch_store_req *batch, int broken)
{
    char why[200];

    if (broken || exec_cached(e, "COMMIT") != 0) {
        snprintf(why, sizeof why, "sqlite: %s: %s", broken ? "transaction aborted" : "commit",
                 sqlite3_errmsg(e->db));
        if (!sqlite3_get_autocommit(e->db))
            exec_cached(e, "ROLLBACK");
        fail_batch(batch, why);
        set_state(e, why);
        return;
    }
    ch_st_stamp_batch(batch, 1, uv_hrtime());
    ch_store_count_commit(e->s);
    set_state(e, NULL);
}

/* Run a batch in one transaction: IMMEDIATE when any request writes.
 * Savepoints isolate a failing request, but a SAVEPOINT and its RELEASE
 * per request cost two statements and the pager's savepoint state (about
 * a twentieth of the worker's time per append, docs/performance.md part
 * 11), and requests rarely fail.  So a batch first runs without them;
 * when a request fails, the transaction is rolled back and the batch runs
 * again with a savepoint per request, as do the next GUARDED_BATCHES
 * batches (failures come in runs: a client retrying a refused call).
 * Ops are written to run again (PostgreSQL reruns batches the same way),
 * and the failing request fails again on its own. */
static void run_batch(sq *e, ch_store_req *batch)
{
    int writes = 0, broken = 0;

    for (ch_store_req *r = batch; r; r = r->next)
        writes |= r->op->writes;
    if (begin(e, batch, writes) != 0)
        return;
    if (!e->guarded) {
        if (run_plain(e, batch) == 0) {
            commit(e, batch, 0);
            return;
        }
        e->guarded = GUARDED_BATCHES;
        if (begin(e, batch, writes) != 0)
            return;
    }
    e->guarded--;
    for (ch_store_req *r = batch; r && !broken; r = r->next)
        broken = run_guarded(e, r) != 0;
    commit(e, batch, broken);
}

/* The commit window (mu held, work queued): wait until the batch's
 * window ends, unless it is full or the store closes (the loop then
 * signals, once); a batch that does not wait goes on at once, and so
 * does one whose file another worker is writing (waiting for the turn
 * gathers the calls instead).  A batch that starts with a write takes
 * the turn (store_turn.h; mu released meanwhile), so that the calls
 * queued during that wait join it.  Then take up to batch_max requests;
 * NULL-terminated; the caller gives the turn after the transaction. */
static ch_store_req *take_batch(sq *e)
{
    ch_store_req *batch;
    uint64_t now;

    if (e->win.end_ns && ch_st_turn_busy(&e->turn))
        e->win.end_ns = 0; /* another worker writes: the wait for the turn is the window */
    e->windowing = e->win.end_ns != 0;
    while (!e->stopping && e->win.held < ch_st_window_cap(&e->win, e->batch_max) &&
           (now = uv_hrtime()) < e->win.end_ns)
        uv_cond_timedwait(&e->cond, &e->mu, e->win.end_ns - now);
    e->windowing = 0;
    if (e->q_head->op->writes && e->turn.fd >= 0) {
        uv_mutex_unlock(&e->mu);
        ch_st_turn_take(&e->turn);
        uv_mutex_lock(&e->mu);
    }
    ch_st_window_taken(&e->win);
    batch = ch_st_fifo_take(&e->q_head, &e->q_tail, e->batch_max);
    ch_st_stamp_batch(batch, 0, uv_hrtime());
    return batch;
}

/* The checkpoint thread (store_sqlite_ckpt.c), on the worker thread as
 * it starts: its own connection to the worker's file, with the same
 * synchronous setting (the checkpoint's fsyncs).  Without it (warned),
 * the worker checkpoints between its batches as before. */
static void ckpt_start(sq *e)
{
    const char *path = sqlite3_db_filename(e->db, "main");
    char why[256] = "cannot start it";
    sqlite3 *ck;

    if (e->ckpt.frames_max <= 0 || !path || !*path)
        return;
    ck = db_connect(path, SQLITE_OPEN_READWRITE, why, sizeof why);
    if (ck && exec_sql(ck, "PRAGMA synchronous=FULL", why, sizeof why) != 0) {
        sqlite3_close(ck);
        ck = NULL;
    }
    if (!ck || ch_st_ckpt_start(&e->ckpt, ck) != 0)
        ch_log(CH_LOG_WARN, "store: no checkpoint thread (%s); the store's thread checkpoints",
               why);
}

/* The worker: batches until asked to stop with nothing left; then it
 * closes the database and says so through the eventfd. */
static void worker(void *arg)
{
    sq *e = arg;
    ch_store_req *batch, *last;
    size_t pos = 0;
    void *st;

    ckpt_start(e);
    uv_mutex_lock(&e->mu);
    for (;;) {
        e->idle = 1;
        while (!e->q_head && !e->stopping)
            uv_cond_wait(&e->cond, &e->mu);
        e->idle = 0;
        if (!e->q_head)
            break;
        batch = take_batch(e);
        uv_mutex_unlock(&e->mu);
        ch_st_append_mark_batch(batch);
        run_batch(e, batch);
        ch_st_turn_give(&e->turn);
        for (last = batch; last->next; last = last->next)
            ;
        uv_mutex_lock(&e->mu);
        ch_st_window_done(&e->win);
        if (e->d_tail)
            e->d_tail->next = batch;
        else
            e->d_head = batch;
        e->d_tail = last;
        if (!e->told) {
            e->told = 1;
            uv_mutex_unlock(&e->mu);
            ch_st_eventfd_tell(e->efd);
            uv_mutex_lock(&e->mu);
        }
        uv_mutex_unlock(&e->mu);
        ch_st_ckpt_run(&e->ckpt, e->db);
        uv_mutex_lock(&e->mu);
    }
    uv_mutex_unlock(&e->mu);
    ch_st_ckpt_stop(&e->ckpt);
    while (ch_hmap_next(&e->stmts, &pos, NULL, &st))
        sqlite3_finalize(st);
    ch_hmap_free(&e->stmts);
    sqlite3_close(e->db);
    e->db = NULL;
    uv_mutex_lock(&e->mu);
    e->exited = 1;
    uv_mutex_unlock(&e->mu);
    ch_st_eventfd_tell(e->efd);
}

/* ---- the loop side --------------------------------------------------------- */

/* The poll handle is closed (or was never made): the eventfd, the lock
 * and the state go; the store hears the engine is closed. */
static void on_closed(uv_handle_t *h)
{
    sq *e = (sq *)((char *)h - offsetof(sq, poll));
    ch_store *s = e->s;

    if (e->efd >= 0)
        close(e->efd);
    ch_st_turn_close(&e->turn);
    uv_cond_destroy(&e->cond);
    uv_mutex_destroy(&e->mu);
    free(e);
    if (s)
        ch_store_engine_closed(s);
}

/* The eventfd is readable: hand finished requests to the store; after
 * the worker's exit, join it (it has already returned or is returning)
 * and close the handle.  The eventfd is read before the list is taken,
 * so a batch the worker adds after the read either is in this list or
 * comes with a write of its own. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    sq *e = h->data;
    ch_store_req *done, *next;
    uint64_t count;
    int exited;

    (void)status;
    (void)events;
    while (read(e->efd, &count, sizeof count) < 0 && errno == EINTR)
        ;
    uv_mutex_lock(&e->mu);
    done = e->d_head;
    e->d_head = e->d_tail = NULL;
    e->told = 0;
    exited = e->exited;
    snprintf(e->state_out, sizeof e->state_out, "%s", e->state);
    uv_mutex_unlock(&e->mu);
    for (; done; done = next) {
        next = done->next;
        done->next = NULL;
        ch_store_done(e->s, done);
    }
    if (exited && !e->joined) {
        e->joined = 1;
        uv_thread_join(&e->thread);
        uv_close((uv_handle_t *)&e->poll, on_closed);
    }
}

/* Queue req for the worker (the engine owns it until ch_store_done);
 * the lock is held for a list append and the window's bookkeeping only.
 * Only a worker that waits and was not woken yet is signalled: one
 * wake-up for all the requests a loop iteration submits (a running
 * worker takes them when its batch is done), and none for the calls of
 * a commit window until it is full.  The signal goes after the unlock,
 * so that the woken worker does not block at once on the mutex the loop
 * still holds. */
static void sq_submit(void *self, ch_store_req *req)
{
    sq *e = self;
    uint64_t now = uv_hrtime();
    int wake, full;

    uv_mutex_lock(&e->mu);
    full = ch_st_window_arrive(&e->win, e->q_head != NULL, req->op->writes, now, e->batch_max);
    ch_st_fifo_push(&e->q_head, &e->q_tail, req);
    wake = e->idle || (full && e->windowing);
    e->idle = 0;
    e->windowing &= !full;
    uv_mutex_unlock(&e->mu);
    if (wake)
        uv_cond_signal(&e->cond);
}

/* "ok", or "down: why" after a failed batch (a copy the loop owns). */
static const char *sq_state(void *self)
{
    sq *e = self;

    uv_mutex_lock(&e->mu);
    snprintf(e->state_out, sizeof e->state_out, "%s", e->state);
    uv_mutex_unlock(&e->mu);
    return e->state_out;
}

/* Ask the worker to finish the queue and stop; on_poll completes. */
static void sq_close(void *self)
{
    sq *e = self;

    uv_mutex_lock(&e->mu);
    e->stopping = 1;
    uv_cond_signal(&e->cond);
    uv_mutex_unlock(&e->mu);
}

/* Open the database, apply migrations, start the worker.  On failure
 * everything is undone (the poll handle, if initialised, is closed and
 * frees the state later on the loop). */
static int sq_open(ch_store *s, const char *url, void **self, char *err, size_t errlen)
{
    sq *e = calloc(1, sizeof *e);
    const char *path = url + strlen("sqlite:");
    int64_t version;
    int applied;
    char why[256];

    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (ch_store_is_foreign(s)) {
        e->db = db_open_foreign(path, err, errlen);
        version = applied = 0;
    } else {
        e->db = db_open(path, err, errlen);
    }
    if (!e->db ||
        (!ch_store_is_foreign(s) && migrate_db(e->db, &version, &applied, err, errlen) != 0)) {
        sqlite3_close(e->db);
        free(e);
        return -1;
    }
    if (applied)
        ch_log(CH_LOG_INFO, "store: sqlite schema now at version %lld (applied %d)",
               (long long)version, applied);
    e->s = s;
    e->turn.fd = -1;
    if (!ch_store_is_foreign(s) && strcmp(path, ":memory:") != 0 &&
        ch_st_turn_open(&e->turn, path, why, sizeof why) != 0)
        ch_log(CH_LOG_WARN, "store: %s; writers go without a turn", why);
    if (!ch_store_is_foreign(s))
        ch_st_ckpt_init(&e->ckpt, e->db);
    e->batch_max = ch_store_batch_max(s);
    ch_st_window_init(&e->win, ch_store_commit_delay_ms(s), CH_ST_WINDOW_RUN_MS);
    snprintf(e->state, sizeof e->state, "ok");
    uv_mutex_init(&e->mu);
    uv_cond_init(&e->cond);
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->efd < 0 || uv_poll_init(ch_store_loop(s), &e->poll, e->efd) != 0) {
        snprintf(err, errlen, "sqlite: cannot create the worker's eventfd");
        sqlite3_close(e->db);
        e->s = NULL;
        on_closed((uv_handle_t *)&e->poll);
        return -1;
    }
    e->poll.data = e;
    if (uv_poll_start(&e->poll, UV_READABLE, on_poll) != 0 ||
        uv_thread_create(&e->thread, worker, e) != 0) {
        snprintf(err, errlen, "sqlite: cannot start the worker thread");
        sqlite3_close(e->db);
        e->s = NULL;
        uv_close((uv_handle_t *)&e->poll, on_closed);
        return -1;
    }
    *self = e;
    return 0;
}

/* `chanhost migrate` for sqlite:PATH: blocking; prints a summary. */
static int sq_migrate(const char *url, char *err, size_t errlen)
{
    sqlite3 *db = db_open(url + strlen("sqlite:"), err, errlen);
    int64_t version = 0;
    int applied = 0;
    int rc;

    if (!db)
        return -1;
    rc = migrate_db(db, &version, &applied, err, errlen);
    sqlite3_close(db);
    if (rc == 0)
        printf("schema at version %lld (applied %d migrations)\n", (long long)version, applied);
    fflush(stdout);
    return rc;
}

const ch_store_engine ch_store_sqlite_engine = {
    .name = "sqlite",
    .kind = CH_STORE_SQLITE,
    .open = sq_open,
    .submit = sq_submit,
    .state = sq_state,
    .close = sq_close,
    .migrate = sq_migrate,
};
