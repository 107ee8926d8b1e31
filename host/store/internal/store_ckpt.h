/*
 * store_ckpt.h -- the WAL's checkpoints of the SQLite engine's file,
 * taken out of COMMIT and, when the store has a second connection for
 * them, off the worker thread (store_sqlite_ckpt.c).  The worker reports
 * each batch's end (ch_st_ckpt_run); a checkpoint thread copies the WAL
 * into the database while the worker goes on with the next batches.
 */
#ifndef CH_STORE_CKPT_H
#define CH_STORE_CKPT_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

typedef struct ch_st_ckpt {
    int64_t frames_max; /* checkpoint at this WAL size, in pages (0: never) */
    int frames;         /* the WAL's pages after the worker's last commit (worker) */
    sqlite3 *db;        /* owned: the checkpoint thread's connection (NULL: none,
                           the worker checkpoints itself) */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    int want;    /* a round is asked (mu) */
    int running; /* the thread is in a round (mu) */
    int stop;    /* the thread is to end (mu) */
    /* the thread's rounds and the checkpoints the worker ran itself,
     * since init (for the tests) */
    uint64_t rounds;    /* mu */
    uint64_t on_worker; /* worker */
    uint64_t seen;      /* the rounds the worker has acted on (worker) */
} ch_st_ckpt;

/* Checkpoint db (borrowed; the worker's) from ch_st_ckpt_run instead of
 * inside COMMIT: reads the wal_autocheckpoint pragma's value into c and
 * installs a WAL hook (which replaces SQLite's automatic checkpoints).
 * Until ch_st_ckpt_start, the worker runs the checkpoints itself. */
void ch_st_ckpt_init(ch_st_ckpt *c, sqlite3 *db);

/* Start the checkpoint thread with its own connection ckdb (stolen:
 * closed here on failure, by ch_st_ckpt_stop otherwise), opened on the
 * same file and VFS as the worker's.  0, or -1 (the worker then goes on
 * checkpointing itself).  Nothing to start when frames_max is 0. */
int ch_st_ckpt_start(ch_st_ckpt *c, sqlite3 *ckdb);

/* The worker, after handing a batch back and giving the turn (db
 * borrowed: its connection): once the WAL holds frames_max pages, a
 * passive checkpoint, run by the thread if there is one (this returns at
 * once), else here.  A round of the thread that writers outran is
 * finished here, so that the next commit starts the WAL again from its
 * first frame instead of growing it. */
void ch_st_ckpt_run(ch_st_ckpt *c, sqlite3 *db);

/* Wait until the thread has ended at least n rounds since start (the
 * tests' way to know a round is over); at once when there is no thread. */
void ch_st_ckpt_wait(ch_st_ckpt *c, uint64_t n);

/* End the thread (waiting for its round) and close its connection;
 * before the worker closes its own, so that the worker's close is the
 * last and checkpoints what is left.  Nothing if none was started. */
void ch_st_ckpt_stop(ch_st_ckpt *c);

#endif
