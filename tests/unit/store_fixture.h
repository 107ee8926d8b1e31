/*
 * store_fixture.h -- what the message store's suites share (test_store.c,
 * test_store_read.c, test_store_engine.c): the backend under test, key
 * files in a temporary directory, a store on a uv loop, calls run to
 * their callback, helpers for rooms, messages and id lists, raw reads of
 * the database (sqlite3 / libpq), and store_suite_main, which runs a
 * program's tests once per backend: always against a fresh SQLite file,
 * then against a fresh PostgreSQL database chanhost_test_<suite>_<pid> on
 * the server of CHANHOST_TEST_PG_URL, created before and dropped after.
 * Without CHANHOST_TEST_PG_URL the PostgreSQL group fails: it is never
 * skipped (./scripts/test starts a server and sets the variable).
 * Header-only (static inline), since every tests/unit/test_*.c is a
 * program of its own.
 */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "store_chat.h"
#include "store_impl.h"
#include "store_rooms.h"

static struct {
    char url[600];   /* the backend under test */
    int pg;          /* it is PostgreSQL */
    char dir[64];    /* temporary directory: key files, the SQLite file */
    char db[96];     /* the SQLite file */
    char key1[128];  /* keyring {1} */
    char key12[128]; /* keyring {1, 2}: the same key 1, and a key 2 */
    int seq;         /* for unique room keys and names */
} G;

typedef struct fx {
    uv_loop_t loop;
    ch_store *s;
} fx;

typedef struct res {
    int done, status;
    json_t *result;
    char error[200];
} res;

#define J json_pack
#define I(x) ((json_int_t)(x))
#define GET(o, k) json_object_get(o, k)
#define STR(o, k) json_string_value(json_object_get(o, k))
#define TRUE(o, k) json_is_true(json_object_get(o, k))
#define NTH(a, i) json_array_get(a, i)
#define BIG ((json_int_t)1 << 50) /* an id nothing has */
/* Call op (params: json_pack(...)) and expect status st. */
#define EXPECT(st, op, ...) assert_int_equal(call(f, op, J(__VA_ARGS__), NULL), st)
/* Call op, which must succeed; drop the result. */
#define DO(op, ...) json_decref(ok(f, op, J(__VA_ARGS__)))

/* ---- plumbing ------------------------------------------------------------ */

static inline void on_res(int status, json_t *result, const char *error, void *arg)
{
    res *r = arg;

    r->done = 1;
    r->status = status;
    r->result = json_incref(result);
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

/* The roles the store accepts here: those of etc/chanhost.conf (user,
 * admin and its roles line), as app.c's check of the config would. */
static inline int fixture_role_known(void *arg, const char *role)
{
    (void)arg;
    return strcmp(role, "user") == 0 || strcmp(role, "admin") == 0 ||
           strcmp(role, "publisher") == 0;
}

/* Open a store on loop with a keyring file and a queue bound; the extra
 * operation tables and the role check registered as the host does
 * (app.c). */
static inline ch_store *open_store(uv_loop_t *loop, const char *keys, uint32_t queue_max)
{
    ch_store_opts o = {.url = G.url, .key_file = keys, .queue_max = queue_max};
    char err[512] = "";
    ch_store *s;

    assert_int_equal(ch_store_ops_register(ch_st_chat_op), 0);
    assert_int_equal(ch_store_ops_register(ch_st_rooms_op), 0);
    ch_store_roles_check(fixture_role_known, NULL);
    s = ch_store_open(loop, &o, err, sizeof err);

    if (!s)
        fail_msg("ch_store_open(%s): %s", G.url, err);
    return s;
}

static inline void on_closed(void *arg) { *(int *)arg = 1; }

/* Close s and run the loop until it is gone. */
static inline void close_store(uv_loop_t *loop, ch_store *s)
{
    int closed = 0;

    ch_store_close(s, on_closed, &closed);
    while (!closed)
        uv_run(loop, UV_RUN_ONCE);
}

/* Close the fixture's store and open it again with keys. */
static inline void reopen(fx *f, const char *keys)
{
    close_store(&f->loop, f->s);
    f->s = open_store(&f->loop, keys, 0);
}

static inline int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->s = open_store(&f->loop, G.key1, 0);
    *state = f;
    return 0;
}

/* Close the store; the loop must end with no handle left. */
static inline int fx_teardown(void **state)
{
    fx *f = *state;

    if (f->s)
        close_store(&f->loop, f->s);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* Call op and run the loop until its callback: the status (or
 * ch_store_call's refusal); *out gets the result (new reference). */
static inline int call_err(fx *f, const char *op, json_t *params, json_t **out, char *err, size_t n)
{
    res r = {0};
    int rc = ch_store_call(f->s, op, params, on_res, &r);

    if (out)
        *out = NULL;
    if (rc != 0)
        return rc;
    while (!r.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    if (out)
        *out = r.result;
    else
        json_decref(r.result);
    snprintf(err, n, "%s", r.error);
    return r.status;
}

static inline int call(fx *f, const char *op, json_t *params, json_t **out)
{
    char err[200];

    return call_err(f, op, params, out, err, sizeof err);
}

/* Call op, which must succeed; its result (caller decrefs). */
static inline json_t *ok(fx *f, const char *op, json_t *params)
{
    char err[200];
    json_t *out;
    int rc = call_err(f, op, params, &out, err, sizeof err);

    if (rc != 0)
        fail_msg("%s: status %d: %s", op, rc, err);
    assert_true(json_is_object(out));
    return out;
}

/* The integer at key (of an object). */
static inline int64_t jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* A new room of kind with a unique key; its id. */
static inline int64_t new_room(fx *f, const char *kind)
{
    char key[64];
    json_t *r;
    int64_t id;

    snprintf(key, sizeof key, "%s:%d-%d", kind, (int)getpid(), ++G.seq);
    r = ok(f, "room.get_or_create", J("{s:s, s:s}", "key", key, "kind", kind));
    assert_true(TRUE(r, "created"));
    id = jint(GET(r, "room"), "id");
    json_decref(r);
    return id;
}

/* Append text to room as sender; the new id. */
static inline int64_t post(fx *f, int64_t room, int64_t sender, const char *text)
{
    json_t *r = ok(f, "message.append",
                   J("{s:I, s:I, s:s}", "room_id", I(room), "sender_id", I(sender), "content",
                     text));
    int64_t id = jint(r, "id");

    assert_false(TRUE(r, "duplicate"));
    json_decref(r);
    return id;
}

/* message.history with params; the messages array (new reference). */
static inline json_t *history(fx *f, json_t *params)
{
    json_t *r = ok(f, "message.history", params);
    json_t *m = json_incref(GET(r, "messages"));

    json_decref(r);
    assert_true(json_is_array(m));
    return m;
}

/* The ids of an array of messages (or of integers) as "1,2,3" in buf. */
static inline char *ids_text(const json_t *arr, char *buf, size_t n)
{
    size_t i, off = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        long long id = json_is_integer(v) ? json_integer_value(v) : jint(v, "id");

        off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%lld", i ? "," : "", id);
    }
    return buf;
}

/* n int64_t values as "1,2,3" in buf. */
static inline char *list(char *buf, size_t size, int n, ...)
{
    size_t off = 0;
    va_list ap;

    buf[0] = '\0';
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, off < size ? size - off : 0, "%s%lld", i ? "," : "",
                                (long long)va_arg(ap, int64_t));
    va_end(ap);
    return buf;
}

/* ---- the raw database ---------------------------------------------------- */

/* The first column of the first row of a query, as text (malloc'd, ""
 * for NULL), or NULL without a row.  Statements without rows too. */
static inline char *raw(const char *fmt, ...)
{
    char sql[2048], *out = NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (G.pg) {
        PGconn *c = PQconnectdb(G.url);
        PGresult *r = PQexec(c, sql);

        if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("raw %s: %s", sql, PQerrorMessage(c));
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
            out = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db;
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_open(G.db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            fail_msg("raw %s: %s", sql, sqlite3_errmsg(db));
        if (sqlite3_step(st) == SQLITE_ROW)
            out = strdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
                                                    : "");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return out;
}

/* An integer from the raw database. */
static inline int64_t raw_int(const char *fmt, ...)
{
    char sql[2048], *t;
    va_list ap;
    int64_t v;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    t = raw("%s", sql);
    assert_non_null(t);
    v = strtoll(t, NULL, 10);
    free(t);
    return v;
}

/* Run statements (several, separated by semicolons; a printf format) on
 * the raw database, with SQLite's foreign keys on as the store has them. */
static inline void raw_exec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void raw_exec(const char *fmt, ...)
{
    char *sql = NULL;
    va_list ap;

    va_start(ap, fmt);
    assert_true(vasprintf(&sql, fmt, ap) >= 0);
    va_end(ap);
    if (G.pg) {
        PGconn *c = PQconnectdb(G.url);
        PGresult *r = PQexec(c, sql);

        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("raw_exec: %s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
    } else {
        sqlite3 *db;
        char *msg = NULL;

        assert_int_equal(sqlite3_open(G.db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("raw_exec: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    free(sql);
}

static inline void test_pg_required(void **state)
{
    (void)state;
    fail_msg("CHANHOST_TEST_PG_URL is not set: the PostgreSQL backend must be tested too "
             "(./scripts/test starts a PostgreSQL server and sets it)");
}

/* ---- backends --------------------------------------------------------------- */

/* base with its database name replaced by db, into G.url. */
static inline void set_pg_url(const char *base, const char *db)
{
    const char *host = strstr(base, "://") ? strstr(base, "://") + 3 : base;
    const char *q = strchr(host, '?'), *slash = strchr(host, '/');
    const char *end = slash && (!q || slash < q) ? slash : q ? q : host + strlen(host);

    snprintf(G.url, sizeof G.url, "%.*s/%s%s", (int)(end - base), base, db, q ? q : "");
}

/* Run "<verb> DATABASE <db><tail>" on the server at url: 0, or 1 after
 * printing why (a failure, never a skip). */
static inline int pg_admin(const char *url, const char *verb, const char *db, const char *tail)
{
    char text[200];
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    int failed;

    snprintf(text, sizeof text, "%s DATABASE %s%s", verb, db, tail);
    r = PQexec(c, text);
    failed = PQresultStatus(r) != PGRES_COMMAND_OK;
    if (failed)
        fprintf(stderr, "test_store: %s on %s: %s", text, url, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return failed;
}

/* Write a keyring file holding lines a and b (may be NULL), mode 0600. */
static inline void write_keys(const char *path, const char *a, const char *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, a, strlen(a)) < 0 || (b && write(fd, b, strlen(b)) < 0) ||
        close(fd) != 0) {
        perror(path);
        exit(1);
    }
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

/* Run the n tests as the group "<suite>.sqlite" against a fresh SQLite
 * file, then as "<suite>.postgresql" against a fresh database
 * chanhost_test_<suite>_<pid> (or fail that group without
 * CHANHOST_TEST_PG_URL); main's exit status: the number of failures. */
static inline int store_suite_main(const char *suite, const struct CMUnitTest *tests, size_t n)
{
    const struct CMUnitTest pg_required[] = {cmocka_unit_test(test_pg_required)};
    const char *pg = getenv("CHANHOST_TEST_PG_URL");
    char *k1 = ch_keyring_new_key_line(1), *k2 = ch_keyring_new_key_line(2), db[64], group[64];
    int failed;

    snprintf(G.dir, sizeof G.dir,
             "/tmp/chanhost-store-XX"
             "XX"
             "XX");
    if (!k1 || !k2 || !mkdtemp(G.dir))
        return 1;
    snprintf(G.key1, sizeof G.key1, "%s/keys1", G.dir);
    snprintf(G.key12, sizeof G.key12, "%s/keys12", G.dir);
    write_keys(G.key1, k1, NULL);
    write_keys(G.key12, k1, k2);
    snprintf(G.db, sizeof G.db, "%s/var/s.db", G.dir);
    snprintf(G.url, sizeof G.url, "sqlite:%s", G.db);
    snprintf(group, sizeof group, "%s.sqlite", suite);
    failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    snprintf(group, sizeof group, "%s.postgresql", suite);
    if (pg && *pg) {
        snprintf(db, sizeof db, "chanhost_test_%s_%d", suite, (int)getpid());
        set_pg_url(pg, db);
        G.pg = 1;
        if (pg_admin(pg, "CREATE", db, "") != 0)
            failed++;
        else
            failed += _cmocka_run_group_tests(group, tests, n, NULL, NULL) +
                      pg_admin(pg, "DROP", db, " WITH (FORCE)");
    } else {
        failed += _cmocka_run_group_tests(group, pg_required, 1, NULL, NULL);
    }
    nftw(G.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(k1);
    free(k2);
    return failed;
}

#endif
