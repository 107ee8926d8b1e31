/*
 * test_store_ckpt.c -- the WAL's checkpoints of the SQLite engine
 * (host/store/store_sqlite_ckpt.c).  Without a thread: no automatic
 * checkpoint inside COMMIT, one passive checkpoint of the whole WAL from
 * ch_st_ckpt_run once it is large enough.  With the thread: its rounds
 * copy on their own connection while the worker's connection commits;
 * the worker copies itself only what was committed during a round's last
 * pass, after which the WAL starts again from its first frame; a
 * connection that is not in WAL mode is refused.
 *
 * The thread's connection is opened on a VFS registered here ("test-gate")
 * that stops the first database write of each pass (the first after the
 * start or after SQLite's SQLITE_FCNTL_CKPT_DONE, the end of a pass's
 * copy) until the test lets it go: so the test commits at known points
 * of a round.  It owns a temporary
 * directory, removed at the end.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_ckpt.h"
#include "wrap_vfs.h"

/* ---- the gate: a VFS whose database writes wait at each pass ------------ */

static wrap_vfs gate; /* "test-gate": the main database files wrapped */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int passes;  /* passes that reached their first write */
    int allowed; /* passes let through (the rest wait) */
    int in_pass; /* a pass has written and not yet synced */
} G = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static int g_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 off)
{
    pthread_mutex_lock(&G.mu);
    if (!G.in_pass) {
        G.in_pass = 1;
        G.passes++;
        pthread_cond_broadcast(&G.cv);
        while (G.passes > G.allowed)
            pthread_cond_wait(&G.cv, &G.mu);
    }
    pthread_mutex_unlock(&G.mu);
    return wrap_write(f, d, n, off);
}
/* SQLite tells the database file when a checkpoint's copy ends (it syncs
 * the file only when no commit came meanwhile). */
static int g_ctl(sqlite3_file *f, int op, void *a)
{
    if (op == SQLITE_FCNTL_CKPT_DONE) {
        pthread_mutex_lock(&G.mu);
        G.in_pass = 0;
        pthread_mutex_unlock(&G.mu);
    }
    return wrap_ctl(f, op, a);
}

/* Wait (at most 10 s) until n passes have reached their first write. */
static void wait_for_pass(int n)
{
    struct timespec until;
    int reached;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&G.mu);
    while (G.passes < n && pthread_cond_timedwait(&G.cv, &G.mu, &until) == 0)
        ;
    reached = G.passes;
    pthread_mutex_unlock(&G.mu);
    assert_int_equal(reached, n);
}

/* Let n passes through in all. */
static void allow(int n)
{
    pthread_mutex_lock(&G.mu);
    G.allowed = n;
    pthread_cond_broadcast(&G.cv);
    pthread_mutex_unlock(&G.mu);
}

/* ---- fixture ------------------------------------------------------------ */

static char dir[] = "/tmp/chanhost-ckpt-XX"
                    "XX"
                    "XX"; /* mkdtemp's template */
static char db_path[64];

static int setup(void **state)
{
    (void)state;
    /* the main database files (their WAL and shared memory as usual) */
    if (wrap_vfs_register(&gate, "test-gate", SQLITE_OPEN_MAIN_DB, 2, 0) != SQLITE_OK)
        return -1;
    gate.methods.xWrite = g_write;
    gate.methods.xFileControl = g_ctl;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The worker's connection to dir/name (db_path from here on): WAL, a
 * checkpoint every 8 pages, a table. */
static sqlite3 *open_worker(const char *name)
{
    sqlite3 *db = NULL;

    snprintf(db_path, sizeof db_path, "%s/%s", dir, name);
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=8; "
                                  "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

/* n commits of a row of 3,000 bytes each (a page or more each). */
static void commit_rows(sqlite3 *db, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(sqlite3_exec(db, "INSERT INTO t (y) VALUES (printf('%.3000c', 'x'))", NULL,
                                      NULL, NULL),
                         SQLITE_OK);
}

static int64_t count_rows(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

static void test_without_a_thread_the_worker_checkpoints_once_the_wal_is_large(void **state)
{
    sqlite3 *db = open_worker("alone.db");
    ch_st_ckpt c;

    (void)state;
    ch_st_ckpt_init(&c, db);
    assert_int_equal(c.frames_max, 8);
    commit_rows(db, 12);
    /* The commits checkpointed nothing: a checkpoint of the whole WAL
     * would have let the next commit start it again from its first
     * frame. */
    assert_true(c.frames >= 12);
    ch_st_ckpt_run(&c, db);
    assert_int_equal(c.frames, 0);
    assert_int_equal(c.on_worker, 1);
    /* It was checkpointed whole: the next commit starts it again. */
    commit_rows(db, 1);
    assert_true(c.frames > 0 && c.frames < 4);
    /* Below the size: no checkpoint. */
    ch_st_ckpt_run(&c, db);
    assert_true(c.frames > 0);
    assert_int_equal(c.on_worker, 1);
    sqlite3_close(db);
}

static void test_a_round_copies_on_its_own_connection_while_the_worker_commits(void **state)
{
    sqlite3 *db = open_worker("round.db"), *ck = NULL;
    ch_st_ckpt c;
    int base = G.passes;

    (void)state;
    allow(base); /* every pass from here on waits until let go */
    ch_st_ckpt_init(&c, db);
    assert_int_equal(sqlite3_open_v2(db_path, &ck, SQLITE_OPEN_READWRITE, "test-gate"), SQLITE_OK);
    assert_int_equal(sqlite3_exec(ck, "PRAGMA synchronous=FULL", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(ch_st_ckpt_start(&c, ck), 0);

    commit_rows(db, 12);
    ch_st_ckpt_run(&c, db); /* asks the thread, returns at once */
    wait_for_pass(base + 1);
    /* The first pass is held in its first write: the worker commits. */
    commit_rows(db, 5);
    ch_st_ckpt_run(&c, db); /* a round runs: nothing here */
    assert_int_equal(c.on_worker, 0);
    allow(base + 1);
    /* The second pass takes the 5 commits, held again: 3 more after it
     * began, which no pass of this round copies. */
    wait_for_pass(base + 2);
    commit_rows(db, 3);
    allow(base + 100);
    ch_st_ckpt_wait(&c, 1);
    assert_true(c.frames >= 20); /* the WAL did not start again */
    /* The worker copies the 3 itself; its next commit starts the WAL
     * from its first frame. */
    ch_st_ckpt_run(&c, db);
    assert_int_equal(c.on_worker, 1);
    commit_rows(db, 1);
    assert_true(c.frames > 0 && c.frames < 4);
    ch_st_ckpt_stop(&c);
    assert_null(c.db);
    assert_int_equal(c.rounds, 1);
    sqlite3_close(db);
    assert_int_equal(count_rows(), 21);
}

static void test_a_connection_not_in_wal_mode_is_refused(void **state)
{
    sqlite3 *db = open_worker("refused.db"), *other = NULL;
    ch_st_ckpt c;
    char path[80];

    (void)state;
    ch_st_ckpt_init(&c, db);
    snprintf(path, sizeof path, "%s-rollback", db_path);
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "CREATE TABLE u (x)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(ch_st_ckpt_start(&c, other), -1); /* and closed */
    assert_null(c.db);
    /* The worker checkpoints itself. */
    commit_rows(db, 12);
    ch_st_ckpt_run(&c, db);
    assert_int_equal(c.on_worker, 1);
    ch_st_ckpt_stop(&c); /* nothing to stop */
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_a_thread_the_worker_checkpoints_once_the_wal_is_large),
        cmocka_unit_test(test_a_round_copies_on_its_own_connection_while_the_worker_commits),
        cmocka_unit_test(test_a_connection_not_in_wal_mode_is_refused),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
