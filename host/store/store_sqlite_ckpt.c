/*
 * store_sqlite_ckpt.c -- the WAL's checkpoints of the SQLite engine's
 * file (store_ckpt.h): when they run, and on which thread.  Owns the
 * checkpoint thread and its connection.
 *
 * Why out of COMMIT: SQLite's automatic checkpoint runs inside the
 * COMMIT that crosses wal_autocheckpoint, so that batch's callbacks (and,
 * with the turn held, every other worker) waited for the copy and its
 * fsyncs.  Why off the worker: even after the batch, a checkpoint of 4,000
 * pages took the worker 21 ms (p50; up to 35 ms) at 18 messages a second
 * per connection, 61 times in a 10 s step (docs/performance.md, part 13):
 * calls queued behind it meanwhile, and a tenth of the worker's time went
 * to copying.  A passive checkpoint on a second connection
 * never blocks the writer (WAL: the writer appends while pages already
 * committed are copied), so the thread copies while the worker goes on.
 *
 * What the worker still does: a pass copies the WAL as it was when the
 * pass began, and SQLite starts the WAL again from its first frame only
 * for a writer that begins while every frame has been copied (and no
 * reader needs an old one).  The worker's commits outrun the thread's
 * passes, so the WAL would keep growing, and the worker would ask for
 * rounds back to back.  The thread therefore passes again while a pass
 * finds more than CATCH_UP frames committed during the one before (at
 * most PASSES times), and the worker copies the rest itself, between two
 * of its batches, where no commit of its own can outrun it.
 */
#include "store_ckpt.h"

#include "log.h"

#define CATCH_UP 64 /* frames a round may leave to the worker */
#define PASSES 4    /* passes of one round, at most */

/* After each commit (sqlite3_wal_hook, on the worker thread; db and name
 * borrowed): note the WAL's size. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((ch_st_ckpt *)arg)->frames = frames;
    return SQLITE_OK;
}

/* See store_ckpt.h.  Without the pragma's value, SQLite's automatic
 * checkpoints stay. */
void ch_st_ckpt_init(ch_st_ckpt *c, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;

    *c = (ch_st_ckpt){0};
    if (sqlite3_prepare_v2(db, "PRAGMA wal_autocheckpoint", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        c->frames_max = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (c->frames_max > 0)
        sqlite3_wal_hook(db, on_wal, c);
}

/* A passive checkpoint on the worker's connection db (borrowed): it
 * copies what no reader still needs and never waits for a lock. */
static void checkpoint_here(ch_st_ckpt *c, sqlite3 *db)
{
    c->frames = 0;
    c->on_worker++;
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* One round on the thread's connection: a pass, and more while a pass
 * finds more than CATCH_UP frames committed during the one before (at
 * most PASSES).  A failure is logged once per run of failures; the
 * worker asks again once the WAL is large again. */
static void round_once(ch_st_ckpt *c, int *failing)
{
    int rc, log = -1, done = -1, before = 0;

    for (int pass = 0; pass < PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK) {
            /* SQLITE_BUSY: another connection (another worker's thread)
             * is checkpointing; that one copies */
            if (rc != SQLITE_BUSY && !*failing)
                ch_log(CH_LOG_WARN, "store: sqlite checkpoint failed: %s", sqlite3_errmsg(c->db));
            *failing = rc != SQLITE_BUSY;
            return;
        }
        *failing = 0;
        if (pass > 0 && log - before <= CATCH_UP)
            break;
        before = done;
    }
}

/* The checkpoint thread: a round each time the worker asks, until stop. */
static void ckpt_thread(void *arg)
{
    ch_st_ckpt *c = arg;
    int failing = 0;

    uv_mutex_lock(&c->mu);
    for (;;) {
        while (!c->want && !c->stop)
            uv_cond_wait(&c->cond, &c->mu);
        if (c->stop)
            break;
        c->want = 0;
        c->running = 1;
        uv_mutex_unlock(&c->mu);
        round_once(c, &failing);
        uv_mutex_lock(&c->mu);
        c->running = 0;
        c->rounds++;
        uv_cond_broadcast(&c->cond); /* for ch_st_ckpt_wait */
    }
    uv_mutex_unlock(&c->mu);
}

/* See store_ckpt.h.  The connection must have read the file once to know
 * it is in WAL mode (a checkpoint on a connection that has not is a no-op
 * that reports success): the journal_mode query does that. */
int ch_st_ckpt_start(ch_st_ckpt *c, sqlite3 *ckdb)
{
    sqlite3_stmt *st = NULL;
    int wal = 0;

    if (c->frames_max <= 0 || !ckdb) {
        sqlite3_close(ckdb);
        return c->frames_max <= 0 ? 0 : -1;
    }
    if (sqlite3_prepare_v2(ckdb, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal || uv_mutex_init(&c->mu) != 0) {
        sqlite3_close(ckdb);
        return -1;
    }
    if (uv_cond_init(&c->cond) != 0) {
        uv_mutex_destroy(&c->mu);
        sqlite3_close(ckdb);
        return -1;
    }
    c->db = ckdb;
    if (uv_thread_create(&c->thread, ckpt_thread, c) != 0) {
        uv_cond_destroy(&c->cond);
        uv_mutex_destroy(&c->mu);
        sqlite3_close(ckdb);
        c->db = NULL;
        return -1;
    }
    return 0;
}

/* See store_ckpt.h.  seen: the rounds the worker has acted on.  After a
 * round, the worker copies what was committed during its last pass: its
 * own next transaction then finds the WAL copied whole, and SQLite
 * starts it again from its first frame (without this, a round that the
 * worker's commits outran leaves the WAL as large as it was, and the
 * worker would ask for rounds back to back). */
void ch_st_ckpt_run(ch_st_ckpt *c, sqlite3 *db)
{
    int ended;

    if (c->frames_max <= 0 || c->frames < c->frames_max)
        return;
    if (!c->db) {
        checkpoint_here(c, db);
        return;
    }
    uv_mutex_lock(&c->mu);
    if (c->running || c->want) {
        uv_mutex_unlock(&c->mu);
        return;
    }
    ended = c->rounds != c->seen;
    c->seen = c->rounds;
    if (!ended) {
        c->want = 1;
        uv_cond_broadcast(&c->cond); /* the thread, and any ch_st_ckpt_wait */
    }
    uv_mutex_unlock(&c->mu);
    if (ended)
        checkpoint_here(c, db);
}

/* See store_ckpt.h.  The thread broadcasts the condition at each round's
 * end; it waits on the same one for work, but never while it broadcasts. */
void ch_st_ckpt_wait(ch_st_ckpt *c, uint64_t n)
{
    if (!c->db)
        return;
    uv_mutex_lock(&c->mu);
    while (c->rounds < n && !c->stop)
        uv_cond_wait(&c->cond, &c->mu);
    uv_mutex_unlock(&c->mu);
}

/* See store_ckpt.h. */
void ch_st_ckpt_stop(ch_st_ckpt *c)
{
    if (!c->db)
        return;
    uv_mutex_lock(&c->mu);
    c->stop = 1;
    uv_cond_broadcast(&c->cond); /* the thread, and any ch_st_ckpt_wait */
    uv_mutex_unlock(&c->mu);
    uv_thread_join(&c->thread);
    uv_cond_destroy(&c->cond);
    uv_mutex_destroy(&c->mu);
    sqlite3_close(c->db);
    c->db = NULL;
}
