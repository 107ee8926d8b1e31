/*
 * store_sqlite_step.c -- how the SQLite engine (store_sqlite.c) runs one
 * step of an operation on its worker thread: the step's parameters bound
 * (a JSON array from its bind hook, or typed values from its args hook,
 * ch_st_typed), the statement executed, its rows handed over (a JSON
 * array of objects to its rows hook, or each row's typed columns to its
 * row hook), a failed statement mapped to a store status.  Owns nothing:
 * the statement is the engine's cache's, the request the engine's; what
 * a JSON hook returns is freed here.
 */
#include "store_impl.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A store status for a failed statement (by SQLite's extended code). */
static int map_error(int code)
{
    switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return CH_STORE_EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return CH_STORE_ENOENT;
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_CHECK:
        return CH_STORE_EINVAL;
    default:
        return CH_STORE_EIO;
    }
}

/* The number N of a parameter named "$N" (N a decimal of at most nine
 * digits, as the steps' SQL writes them), else 0.  Read here rather than
 * with strtoul: it runs for every parameter of every step, and strtoul's
 * locale and base handling were 2 % of the worker's instructions per
 * append (docs/performance.md, part 11). */
static unsigned long param_number(const char *name)
{
    unsigned long n = 0;
    int digits = 0;

    if (!name || name[0] != '$')
        return 0;
    for (name++; *name >= '0' && *name <= '9' && digits < 9; name++, digits++)
        n = n * 10 + (unsigned long)(*name - '0');
    return *name || digits == 0 ? 0 : n;
}

/* Bind params[i] to "$<i+1>", visiting the statement's parameters (those
 * it lacks are skipped; no name is formatted or searched for).  0, or -1
 * for a value of an unsupported type. */
static int bind_params(sqlite3_stmt *st, const json_t *params)
{
    unsigned long at;
    json_t *v;

    for (int idx = 1; idx <= sqlite3_bind_parameter_count(st); idx++) {
        at = param_number(sqlite3_bind_parameter_name(st, idx));
        v = at ? json_array_get(params, at - 1) : NULL;
        if (!v)
            continue;
        if (json_is_integer(v))
            sqlite3_bind_int64(st, idx, json_integer_value(v));
        else if (json_is_real(v))
            sqlite3_bind_double(st, idx, json_real_value(v));
        else if (json_is_string(v))
            sqlite3_bind_text(st, idx, json_string_value(v), (int)json_string_length(v),
                              SQLITE_STATIC);
        else if (json_is_boolean(v))
            sqlite3_bind_int(st, idx, json_is_true(v));
        else if (json_is_null(v))
            sqlite3_bind_null(st, idx);
        else
            return -1;
    }
    return 0;
}

/* The current row as an object keyed by column name: integers, null,
 * everything else as strings.  NULL if a text is not valid UTF-8. */
static json_t *row_json(sqlite3_stmt *st)
{
    json_t *row = json_object(), *v;
    char num[32];

    for (int c = 0; row && c < sqlite3_column_count(st); c++) {
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(st, c));
            break;
        case SQLITE_NULL:
            v = json_null();
            break;
        case SQLITE_FLOAT:
            snprintf(num, sizeof num, "%.17g", sqlite3_column_double(st, c));
            v = json_string(num);
            break;
        default:
            v = json_stringn((const char *)sqlite3_column_text(st, c),
                             (size_t)sqlite3_column_bytes(st, c));
        }
        if (!v || json_object_set_new(row, sqlite3_column_name(st, c), v) != 0) {
            json_decref(row);
            row = NULL;
        }
    }
    return row;
}

/* Execute st with params: a new array of its rows, or NULL after failing
 * req.  The statement is reset and its bindings cleared either way. */
static json_t *run_stmt(sqlite3 *db, ch_store_req *req, sqlite3_stmt *st, const json_t *params)
{
    json_t *rows = json_array(), *row;
    int rc;

    if (bind_params(st, params) != 0) {
        ch_store_fail(req, CH_STORE_EINVAL, "unsupported parameter type");
        rc = SQLITE_MISUSE;
    } else {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!(row = row_json(st))) {
                ch_store_fail(req, CH_STORE_EIO, "a column is not valid UTF-8");
                break;
            }
            json_array_append_new(rows, row);
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            ch_store_fail(req, map_error(sqlite3_extended_errcode(db)), "sqlite: %s",
                          sqlite3_errmsg(db));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* Bind args[0..n) to "$1".."$n" as bind_params does; texts borrowed
 * (SQLITE_STATIC: the step's values outlive its execution). */
static void bind_args(sqlite3_stmt *st, const ch_st_val *args, int n)
{
    unsigned long at;

    for (int idx = 1; idx <= sqlite3_bind_parameter_count(st); idx++) {
        at = param_number(sqlite3_bind_parameter_name(st, idx));
        if (at < 1 || at > (unsigned long)n)
            continue;
        if (args[at - 1].type == 'i')
            sqlite3_bind_int64(st, idx, args[at - 1].i);
        else if (args[at - 1].type == 't')
            sqlite3_bind_text(st, idx, args[at - 1].s, (int)args[at - 1].len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, idx);
    }
}

/* The current row's columns as typed values into cols (at most max; the
 * rest are not read): integers, nulls, everything else as text (reals
 * as SQLite's text of them).  Texts borrowed until the next step or
 * reset of st.  Returns how many. */
static size_t row_vals(sqlite3_stmt *st, ch_st_val *cols, size_t max)
{
    size_t n = (size_t)sqlite3_column_count(st);

    n = n < max ? n : max;
    for (size_t c = 0; c < n; c++) {
        switch (sqlite3_column_type(st, (int)c)) {
        case SQLITE_INTEGER:
            cols[c] = ch_st_vi(sqlite3_column_int64(st, (int)c));
            break;
        case SQLITE_NULL:
            cols[c] = (ch_st_val){'n', 0, NULL, 0};
            break;
        default:
            cols[c] = ch_st_vt((const char *)sqlite3_column_text(st, (int)c), 0);
            cols[c].len = (size_t)sqlite3_column_bytes(st, (int)c); /* after the text */
        }
    }
    return n;
}

/* A step's typed path (see ch_st_typed): its arguments bound from the
 * args hook (else the step's JSON bind), its rows handed column by column
 * to the row hook (none: the rows are not read, CH_STEP_NEXT).  Returns
 * the hook's CH_STEP_* or a failure status (req->status set); st is
 * reset and its bindings cleared either way. */
static int run_typed(sqlite3 *db, ch_store_req *req, const ch_store_step *step,
                     const ch_st_typed *t, sqlite3_stmt *st)
{
    ch_st_val args[CH_ST_ARGS_MAX], cols[CH_ST_ARGS_MAX];
    json_t *params = NULL;
    size_t rows = 0;
    int n = 0, rc = SQLITE_DONE, hook = 0;

    if (t->args)
        n = t->args(req, args);
    else if (step->bind && !(params = step->bind(req)))
        n = req->status ? req->status : ch_store_fail(req, CH_STORE_EIO, "bind failed");
    if (n < 0)
        return n;
    if (!params)
        bind_args(st, args, n);
    else if (bind_params(st, params) != 0) {
        json_decref(params);
        sqlite3_clear_bindings(st);
        return ch_store_fail(req, CH_STORE_EINVAL, "unsupported parameter type");
    }
    while (hook == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (t->row)
            hook = t->row(req, cols, row_vals(st, cols, CH_ST_ARGS_MAX));
    }
    if (hook == 0 && rc != SQLITE_DONE)
        hook = ch_store_fail(req, map_error(sqlite3_extended_errcode(db)), "sqlite: %s",
                             sqlite3_errmsg(db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    json_decref(params);
    if (hook == 0)
        hook = t->row ? t->row(req, NULL, rows) : CH_STEP_NEXT;
    if (hook < 0 && req->status == 0)
        ch_store_fail(req, CH_STORE_EIO, "operation failed");
    return hook < 0 ? req->status : hook;
}

/* See store_impl.h. */
int ch_sq_step(struct sqlite3 *db, struct sqlite3_stmt *st, ch_store_req *req,
               const ch_store_step *step, const ch_st_typed *t)
{
    json_t *params, *rows;
    int rc;

    if (t && (t->args || t->row))
        return run_typed(db, req, step, t, st);
    if (!(params = step->bind ? step->bind(req) : json_array()))
        return req->status ? req->status : ch_store_fail(req, CH_STORE_EIO, "bind failed");
    rows = run_stmt(db, req, st, params);
    json_decref(params);
    if (!rows)
        return req->status;
    rc = step->rows ? step->rows(req, rows) : CH_STEP_NEXT;
    json_decref(rows);
    if (rc < 0 && req->status == 0)
        ch_store_fail(req, CH_STORE_EIO, "operation failed");
    return rc < 0 ? req->status : rc;
}
