/*
 * test_store_vfs.c -- the SQLite engine's VFS (host/store/store_sqlite_vfs.c),
 * over a counting VFS registered here as the default beneath it (it sees
 * the writes that reach the WAL file, and can make them fail): a commit's
 * frames reach the file in a few writes of at most 64 KiB, not two per
 * page; a transaction far larger than the buffer commits whole; another
 * connection (the default VFS, its own file handle) sees every commit at
 * once; commits survive a process that exits without closing; a write
 * that fails fails the commit, which leaves nothing behind; frames rolled
 * back do not overwrite another connection's commit.  It owns its
 * temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_impl.h"
#include "wrap_vfs.h"

/* ---- the counting VFS beneath ----------------------------------------- */

static wrap_vfs cnt; /* "test-count": the WAL files wrapped */
static struct {
    int writes;      /* WAL writes seen */
    int64_t bytes;   /* their bytes */
    int largest;     /* the largest */
    int fail_writes; /* non-zero: WAL writes fail (SQLITE_IOERR_WRITE) */
} C;

static int c_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 off)
{
    if (C.fail_writes)
        return SQLITE_IOERR_WRITE;
    C.writes++;
    C.bytes += n;
    C.largest = n > C.largest ? n : C.largest;
    return wrap_write(f, d, n, off);
}

static const char *vfs_name; /* the store's, over the counting one */
static char dir[] = "/tmp/chanhost-vfs-XX"
                    "XX"
                    "XX"; /* mkdtemp's template, split so that it reads as no marker */

static int group_setup(void **state)
{
    (void)state;
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (wrap_vfs_register(&cnt, "test-count", SQLITE_OPEN_WAL, 1, 1) != SQLITE_OK)
        return -1;
    cnt.methods.xWrite = c_write;
    if (!mkdtemp(dir))
        return -1;
    vfs_name = ch_st_vfs_name();
    return vfs_name ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------ */

/* A fresh database file name in dir (any old one removed). */
static const char *fresh(const char *name)
{
    static char path[256];
    char cmd[800];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(cmd, sizeof cmd, "rm -f %s %s-wal %s-shm", path, path, path);
    assert_int_equal(system(cmd), 0);
    return path;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Open path with the store's VFS (vfs 1) or the default one (0), in WAL
 * mode, synchronous=FULL, a table t. */
static sqlite3 *open_db(const char *path, int vfs)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     vfs ? vfs_name : NULL),
                     SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                " CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)");
    return db;
}

/* Insert n rows of size-byte blobs in one transaction; SQLite's result. */
static int insert(sqlite3 *db, int n, int size)
{
    char sql[160];

    snprintf(sql, sizeof sql,
             "BEGIN; WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d)"
             " INSERT INTO t (b) SELECT randomblob(%d) FROM k; COMMIT",
             n, size);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* ---- tests -------------------------------------------------------------- */

/* 40 rows of 3000 bytes: about 40 pages, 80 writes by SQLite; they reach
 * the file in a handful, each at most 64 KiB, every byte counted. */
static void writes_are_gathered(void **state)
{
    sqlite3 *db = open_db(fresh("gather.db"), 1);
    int64_t frames;

    (void)state;
    memset(&C, 0, sizeof C);
    assert_int_equal(insert(db, 40, 3000), SQLITE_OK);
    frames = C.bytes / (24 + 4096);
    printf("# %lld frames in %d writes (largest %d bytes)\n", (long long)frames, C.writes,
           C.largest);
    assert_true(frames >= 40);
    assert_true(C.writes <= (int)(C.bytes / (64 * 1024)) + 2);
    assert_true(C.largest <= 64 * 1024);
    assert_int_equal(C.bytes % (24 + 4096), 0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 40);
    sqlite3_close(db);
}

/* 4 MiB in one transaction (SQLite's page cache spills into the WAL
 * before the commit), then another: whole, intact, reopened. */
static void large_transaction(void **state)
{
    const char *path = fresh("large.db");
    sqlite3 *db = open_db(path, 1);

    (void)state;
    assert_int_equal(insert(db, 1024, 4000), SQLITE_OK);
    assert_int_equal(insert(db, 10, 100), SQLITE_OK);
    sqlite3_close(db);
    db = open_db(path, 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 1034);
    assert_int_equal(one_int(db, "SELECT sum(length(b)) FROM t"), 1024 * 4000 + 10 * 100);
    assert_int_equal(one_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE"
                                 " integrity_check = 'ok'"),
                     1);
    sqlite3_close(db);
}

/* A reader with the default VFS, its own handle on the WAL, sees each
 * commit as soon as it is made. */
static void another_connection_sees_commits(void **state)
{
    const char *path = fresh("reader.db");
    sqlite3 *w = open_db(path, 1), *r = open_db(path, 0);

    (void)state;
    for (int i = 1; i <= 20; i++) {
        assert_int_equal(insert(w, 3, 2000), SQLITE_OK);
        assert_int_equal(one_int(r, "SELECT count(*) FROM t"), 3 * i);
    }
    sqlite3_close(r);
    sqlite3_close(w);
}

/* A process that commits and exits without closing: every commit is in
 * the file. */
static void commits_survive_exit(void **state)
{
    const char *path = fresh("exit.db");
    pid_t pid;
    int status;
    sqlite3 *db;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        db = open_db(path, 1);
        for (int i = 0; i < 10; i++)
            if (insert(db, 10, 1500) != SQLITE_OK)
                _exit(1);
        _exit(0); /* no close: nothing flushed on the way out */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    db = open_db(path, 0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), 100);
    sqlite3_close(db);
}

/* The WAL's writes fail: the commit fails (they were gathered, so the
 * sync carries the failure); afterwards the rows are not there, and the
 * next commit works. */
static void failed_write_fails_the_commit(void **state)
{
    const char *path = fresh("fail.db");
    sqlite3 *db = open_db(path, 1), *r;

    (void)state;
    assert_int_equal(insert(db, 5, 100), SQLITE_OK);
    C.fail_writes = 1;
    assert_int_not_equal(insert(db, 30, 3000), SQLITE_OK);
    C.fail_writes = 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); /* if still open */
    assert_int_equal(insert(db, 2, 100), SQLITE_OK);
    r = open_db(path, 0);
    assert_int_equal(one_int(r, "SELECT count(*) FROM t"), 7);
    sqlite3_close(r);
    sqlite3_close(db);
}

/* A transaction large enough to spill frames into the WAL before its
 * commit (a 10-page cache), rolled back; then another connection (its
 * own handle, the default VFS) commits; then the first commits again:
 * the rolled-back frames must reach the file (or vanish) before the
 * other connection writes where they were, never after, or they would
 * overwrite its commit.  Both commits are there, the file intact.  (Here
 * SQLite's own reads during the rollback flush them; the VFS's flush
 * before the write lock is given up covers a rollback that reads
 * nothing.) */
static void rollback_then_other_writer(int rows)
{
    char sql[200];
    const char *path = fresh("rollback.db");
    sqlite3 *a = open_db(path, 1), *b = open_db(path, 0);

    exec_ok(a, "PRAGMA cache_size=10");
    assert_int_equal(insert(a, 5, 100), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "BEGIN; WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k"
             " WHERE i < %d) INSERT INTO t (b) SELECT randomblob(3000) FROM k",
             rows);
    exec_ok(a, sql);
    exec_ok(a, "ROLLBACK");
    assert_int_equal(insert(b, 50, 3000), SQLITE_OK);
    assert_int_equal(insert(a, 1, 100), SQLITE_OK);
    assert_int_equal(one_int(a, "SELECT count(*) FROM t"), 56);
    sqlite3_close(a);
    sqlite3_close(b);
    b = open_db(path, 0);
    assert_int_equal(one_int(b, "SELECT count(*) FROM t"), 56);
    assert_int_equal(one_int(b, "SELECT count(*) FROM pragma_integrity_check WHERE"
                                " integrity_check = 'ok'"),
                     1);
    sqlite3_close(b);
}

static void rolled_back_frames_overwrite_nothing(void **state)
{
    (void)state;
    for (int rows = 12; rows <= 40; rows += 2)
        rollback_then_other_writer(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_are_gathered),
        cmocka_unit_test(large_transaction),
        cmocka_unit_test(another_connection_sees_commits),
        cmocka_unit_test(commits_survive_exit),
        cmocka_unit_test(failed_write_fails_the_commit),
        cmocka_unit_test(rolled_back_frames_overwrite_nothing),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
