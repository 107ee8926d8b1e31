/*
 * test_store_step.c -- one step on the SQLite engine
 * (host/store/store_sqlite_step.c, ch_sq_step) through its typed hooks
 * (ch_st_typed): parameters from an args hook or, without one, from the
 * step's JSON bind; each row's columns (integer, text, null) handed to
 * the row hook, then its end with the row count; a failing row hook stops
 * the rows and fails the step; a failing statement's status mapped.  An
 * in-memory database; it owns nothing past each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_impl.h"

#define TWO_ROWS "SELECT $1 + 1 AS x, $2 AS t, NULL AS z UNION ALL SELECT 7, 'q', NULL"

/* What the row hook saw: up to 4 rows of (x, t, z's type), and the end. */
static struct {
    int64_t x[4];
    char t[4][8];
    char z[4];
    size_t rows, end_n;
    int ended, fail_at; /* fail_at: the row (1-based) whose call fails; 0 none */
} seen;

/* The parameters 41 and "ab" (the text's first two bytes). */
static int args_two(ch_store_req *req, ch_st_val *args)
{
    (void)req;
    args[0] = ch_st_vi(41);
    args[1] = ch_st_vt("abc", 2);
    return 2;
}

/* The same as a JSON bind hook (new array). */
static json_t *bind_two(ch_store_req *req)
{
    (void)req;
    return json_pack("[i, s]", 41, "ab");
}

/* Record each row (copies: the columns are borrowed for the call), then
 * the end: CH_STEP_DONE. */
static int row_seen(ch_store_req *req, const ch_st_val *cols, size_t n)
{
    if (!cols) {
        seen.ended = 1;
        seen.end_n = n;
        return CH_STEP_DONE;
    }
    assert_int_equal(n, 3);
    assert_true(seen.rows < 4);
    if (++seen.rows == (size_t)seen.fail_at)
        return ch_store_fail(req, CH_STORE_EINVAL, "row %zu refused", seen.rows);
    assert_int_equal(cols[0].type, 'i');
    assert_int_equal(cols[1].type, 't');
    assert_true(cols[1].len < sizeof seen.t[0]);
    seen.x[seen.rows - 1] = cols[0].i;
    memcpy(seen.t[seen.rows - 1], cols[1].s, cols[1].len);
    seen.t[seen.rows - 1][cols[1].len] = '\0';
    seen.z[seen.rows - 1] = cols[2].type;
    return 0;
}

/* Run sql as one step with the hooks given on a fresh in-memory database
 * (setup: statements run first, or NULL); the step's result. */
static int run_one(const char *setup, const char *sql, json_t *(*bind)(ch_store_req *),
                   const ch_st_typed *t, ch_store_req *req)
{
    const ch_store_step step = {sql, bind, NULL};
    sqlite3 *db;
    sqlite3_stmt *st;
    int rc, fail_at = seen.fail_at;

    memset(&seen, 0, sizeof seen);
    seen.fail_at = fail_at;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    if (setup)
        assert_int_equal(sqlite3_exec(db, setup, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    rc = ch_sq_step(db, st, req, &step, t);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Both ways of binding give the same rows; the end comes once with 2. */
static void typed_rows_from_args_or_bind(void **state)
{
    static const ch_st_typed with_args = {args_two, row_seen}, with_bind = {NULL, row_seen};
    ch_store_req req = {0};

    (void)state;
    for (int i = 0; i < 2; i++) {
        seen.fail_at = 0;
        assert_int_equal(run_one(NULL, TWO_ROWS, i ? bind_two : NULL, i ? &with_bind : &with_args,
                                 &req),
                         CH_STEP_DONE);
        assert_int_equal(req.status, 0);
        assert_int_equal(seen.rows, 2);
        assert_true(seen.ended);
        assert_int_equal(seen.end_n, 2);
        assert_int_equal(seen.x[0], 42);
        assert_string_equal(seen.t[0], "ab");
        assert_int_equal(seen.z[0], 'n');
        assert_int_equal(seen.x[1], 7);
        assert_string_equal(seen.t[1], "q");
    }
}

/* A row hook's failure stops the rows: no end call, the step fails with
 * its status. */
static void typed_row_failure_stops(void **state)
{
    static const ch_st_typed t = {args_two, row_seen};
    ch_store_req req = {0};

    (void)state;
    seen.fail_at = 1;
    assert_int_equal(run_one(NULL, TWO_ROWS, NULL, &t, &req), CH_STORE_EINVAL);
    assert_int_equal(req.status, CH_STORE_EINVAL);
    assert_int_equal(seen.rows, 1);
    assert_false(seen.ended);
}

/* A statement that fails (a unique key taken) fails the step, EEXIST,
 * before the end call. */
static void typed_statement_failure_mapped(void **state)
{
    static const ch_st_typed t = {args_two, row_seen};
    ch_store_req req = {0};

    (void)state;
    seen.fail_at = 0;
    assert_int_equal(run_one("CREATE TABLE u (v INTEGER UNIQUE); INSERT INTO u VALUES (41)",
                             "INSERT INTO u (v) VALUES ($1)", NULL, &t, &req),
                     CH_STORE_EEXIST);
    assert_int_equal(req.status, CH_STORE_EEXIST);
    assert_false(seen.ended);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typed_rows_from_args_or_bind),
        cmocka_unit_test(typed_row_failure_stops),
        cmocka_unit_test(typed_statement_failure_mapped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
