/*
 * store_pg_fixture.h -- what the PostgreSQL store tests share
 * (test_store_pg.c, test_store_pg_outage.c): the test database on the
 * server named by CHANHOST_TEST_PG_URL (chanhost_pgtest_<pid>, created
 * by the group setup and dropped by its teardown), the server's control
 * command CHANHOST_TEST_PG_CTL, a store on its own uv loop, calls
 * recorded with their callbacks, waits bounded by timeouts, and a test
 * trigger on messages.  Without CHANHOST_TEST_PG_URL the tests fail.  Header-only (static inline), since
 * every tests/unit/test_*.c is a program of its own.
 */
#ifndef STORE_PG_FIXTURE_H
#define STORE_PG_FIXTURE_H

#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "store.h"
#include "store_impl.h"

#define KEY_ENV "CHANHOST_TEST_PG_KEYS"
#define WAIT_MS 30000

/* ---- the server and the test database ----------------------------------- */

static struct {
    const char *base_url; /* CHANHOST_TEST_PG_URL */
    const char *ctl;      /* CHANHOST_TEST_PG_CTL */
    int ready;
    char db[64];
    char url[1024]; /* the test database */
    PGconn *admin;  /* to the test database, for checks */
} E;

/* url with its host:port and/or its database replaced (NULL: kept) and
 * extra_query (or NULL) appended to its query string. */
static inline void url_with(char *out, size_t len, const char *url, const char *hostport,
                            const char *db, const char *extra_query)
{
    const char *rest = strstr(url, "://") + 3;
    int auth_len = (int)strcspn(rest, "/?");
    const char *at = memchr(rest, '@', (size_t)auth_len);
    const char *hp = at ? at + 1 : rest;
    const char *path = rest + auth_len;
    int path_len = (int)strcspn(path, "?");
    const char *query = path[path_len] == '?' ? path + path_len + 1 : "";
    char host[300], name[128];

    snprintf(host, sizeof host, "%.*s", (int)(rest + auth_len - hp), hp);
    snprintf(name, sizeof name, "%.*s", path_len ? path_len - 1 : 0, path_len ? path + 1 : "");
    snprintf(out, len, "%.*s%s/%s%s%s%s%s", (int)(hp - url), url, hostport ? hostport : host,
             db ? db : name, (*query || extra_query) ? "?" : "", query,
             (*query && extra_query) ? "&" : "", extra_query ? extra_query : "");
}

/* Run sql on a new connection to url; 0 if it succeeded. */
static inline int exec_on(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;

    if (!ok)
        fprintf(stderr, "test_store_pg: %s: %s", sql,
                r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* The first value of a query on the test database, as an integer (the
 * admin connection is re-made after a server restart). */
static inline long long q_int(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    PGresult *r;
    long long v;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (PQstatus(E.admin) != CONNECTION_OK || PQtransactionStatus(E.admin) == PQTRANS_UNKNOWN)
        PQreset(E.admin);
    r = PQexec(E.admin, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQreset(E.admin);
        PQclear(r);
        r = PQexec(E.admin, sql);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* How many messages the fixture's room holds. */
static inline long long room_msgs_of(int64_t room_id)
{
    return q_int("SELECT count(*) FROM messages WHERE room_id = %lld", (long long)room_id);
}

static inline void q_exec(const char *sql)
{
    PGresult *r;

    (void)q_int("SELECT 1");
    r = PQexec(E.admin, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Run the control command with action appended; its exit status. */
static inline int ctl_now(const char *action)
{
    char cmd[1024];

    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", E.ctl, action);
    return system(cmd);
}

/* The server answers (after a test that stopped it: start it again). */
static inline void ensure_server_up(void)
{
    if (E.ctl && PQping(E.base_url) == PQPING_NO_RESPONSE)
        ctl_now("start");
}

/* A test's teardown: the server runs again even if the test failed
 * while it was stopped. */
static inline int server_up(void **state)
{
    (void)state;
    ensure_server_up();
    return 0;
}

static inline int group_setup(void **state)
{
    char sql[128], *key;

    (void)state;
    E.base_url = getenv("CHANHOST_TEST_PG_URL");
    E.ctl = getenv("CHANHOST_TEST_PG_CTL");
    if (E.ctl && !*E.ctl)
        E.ctl = NULL;
    if (!E.base_url || !*E.base_url)
        return 0;
    ensure_server_up();
    snprintf(E.db, sizeof E.db, "chanhost_pgtest_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", E.db);
    exec_on(E.base_url, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", E.db);
    if (exec_on(E.base_url, sql) != 0)
        return -1;
    url_with(E.url, sizeof E.url, E.base_url, NULL, E.db, NULL);
    E.admin = PQconnectdb(E.url);
    if (PQstatus(E.admin) != CONNECTION_OK)
        return -1;
    key = ch_keyring_new_key_line(1);
    setenv(KEY_ENV, key, 1);
    free(key);
    E.ready = 1;
    return 0;
}

static inline int group_teardown(void **state)
{
    char sql[128];

    (void)state;
    if (!E.ready)
        return 0;
    PQfinish(E.admin);
    ensure_server_up();
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", E.db);
    return exec_on(E.base_url, sql);
}

/* Fail without a server: PostgreSQL is never skipped (./scripts/test
 * starts one and sets the variables). */
static inline void need_pg(int with_ctl)
{
    if (!E.ready || (with_ctl && !E.ctl))
        fail_msg("CHANHOST_TEST_PG_URL%s is not set (./scripts/test starts PostgreSQL and "
                 "sets it)",
                 with_ctl ? " / CHANHOST_TEST_PG_CTL" : "");
}

/* ---- a store on a loop --------------------------------------------------- */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) regularly */
    ch_store *s;
    int closed;
    int64_t room_id;
} fx;

typedef struct rec {
    int done, status, dup;
    int64_t id;
    char error[160];
    json_t *result; /* kept when keep is set */
    int keep;
} rec;

static inline void on_rec(int status, json_t *result, const char *error, void *arg)
{
    rec *r = arg;

    r->done++;
    r->status = status;
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    if (result) {
        r->dup = json_is_true(json_object_get(result, "duplicate"));
        r->id = json_integer_value(json_object_get(result, "id"));
        if (r->keep)
            r->result = json_incref(result);
    }
}

static inline void on_tick(uv_timer_t *t) { (void)t; }

/* Run the loop until pred(arg) holds or ms pass; pred's final value. */
static inline int run_until(fx *f, int (*pred)(void *), void *arg, uint64_t ms)
{
    uint64_t end;

    uv_update_time(&f->loop);
    end = uv_now(&f->loop) + ms;
    while (!pred(arg) && uv_now(&f->loop) < end)
        uv_run(&f->loop, UV_RUN_ONCE);
    return pred(arg);
}

static inline int rec_done(void *arg) { return ((rec *)arg)->done > 0; }

typedef struct recs {
    rec *r;
    size_t n;
} recs;

static inline int all_done(void *arg)
{
    recs *rs = arg;

    for (size_t i = 0; i < rs->n; i++)
        if (!rs->r[i].done)
            return 0;
    return 1;
}

/* Call op and wait for its callback; the result is kept (decref it). */
static inline json_t *call_ok(fx *f, const char *op, json_t *params)
{
    rec r = {.keep = 1};

    assert_int_equal(ch_store_call(f->s, op, params, on_rec, &r), 0);
    assert_true(run_until(f, rec_done, &r, WAIT_MS));
    if (r.status != 0)
        fail_msg("%s: %d %s", op, r.status, r.error);
    return r.result;
}

/* The connections fx_open asks for (0: the store's default, one). */
static uint32_t fx_connections;

/* Open a store on a new loop (queue_max, batch_max: 0 for defaults;
 * fx_connections) and make the room named key. */
static inline void fx_open(fx *f, const char *url, uint32_t queue_max, uint32_t batch_max,
                           const char *room)
{
    ch_store_opts o = {.url = url,
                       .key_env = KEY_ENV,
                       .queue_max = queue_max,
                       .batch_max = batch_max,
                       .connections = fx_connections};
    char err[512];
    json_t *r;

    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, on_tick, 5, 5);
    f->s = ch_store_open(&f->loop, &o, err, sizeof err);
    if (!f->s)
        fail_msg("ch_store_open: %s", err);
    r = call_ok(f, "room.get_or_create", json_pack("{s:s, s:s}", "key", room, "kind", "chat"));
    f->room_id = json_integer_value(json_object_get(json_object_get(r, "room"), "id"));
    json_decref(r);
    assert_true(f->room_id > 0);
}

static inline long long room_msgs(const fx *f) { return room_msgs_of(f->room_id); }

static inline void on_closed(void *arg) { ((fx *)arg)->closed = 1; }
static inline int is_closed(void *arg) { return ((fx *)arg)->closed; }

static inline void fx_close(fx *f)
{
    ch_store_close(f->s, on_closed, f);
    assert_true(run_until(f, is_closed, f, 15000));
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static inline int append(fx *f, int64_t sender, const char *cmid, rec *r)
{
    json_t *p = json_pack("{s:I, s:I, s:s}", "room_id", (json_int_t)f->room_id, "sender_id",
                          (json_int_t)sender, "content", "hello, PostgreSQL");

    if (cmid)
        json_object_set_new(p, "client_msg_id", json_string(cmid));
    return ch_store_call(f->s, "message.append", p, on_rec, r);
}

/* Submit n appends from sender with client_msg_ids "<prefix>-<i>". */
static inline void append_n(fx *f, rec *r, size_t n, int64_t sender, const char *prefix)
{
    char id[64];

    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%s-%zu", prefix, i);
        assert_int_equal(append(f, sender, id, &r[i]), 0);
    }
}

static inline void assert_all_ok(rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i].done != 1 || r[i].status != 0)
            fail_msg("call %zu: done %d status %d (%s)", i, r[i].done, r[i].status, r[i].error);
        assert_false(r[i].dup);
    }
}

static inline const char *store_state(fx *f, char *buf, size_t len)
{
    json_t *st = ch_store_status(f->s);

    snprintf(buf, len, "%s", json_string_value(json_object_get(st, "state")));
    json_decref(st);
    return buf;
}

static inline long long status_int(fx *f, const char *name)
{
    json_t *st = ch_store_status(f->s);
    long long v = json_integer_value(json_object_get(st, name));

    json_decref(st);
    return v;
}

static inline int is_ok(void *arg)
{
    char buf[256];

    return strcmp(store_state(arg, buf, sizeof buf), "ok") == 0;
}

static inline int is_down(void *arg)
{
    char buf[256];

    return strncmp(store_state(arg, buf, sizeof buf), "down: ", 6) == 0;
}

/* ---- the server's control, off the loop --------------------------------- */

typedef struct ctl_job {
    uv_work_t w;
    const char *action;
    int rc, done;
} ctl_job;

static inline void ctl_work(uv_work_t *w) { ((ctl_job *)w)->rc = ctl_now(((ctl_job *)w)->action); }
static inline void ctl_after(uv_work_t *w, int status)
{
    (void)status;
    ((ctl_job *)w)->done = 1;
}
static inline int ctl_done(void *arg) { return ((ctl_job *)arg)->done; }

/* Start the control command with action on libuv's thread pool. */
static inline void ctl_async(fx *f, ctl_job *job, const char *action)
{
    memset(job, 0, sizeof *job);
    job->action = action;
    assert_int_equal(uv_queue_work(&f->loop, &job->w, ctl_work, ctl_after), 0);
}

/* A trigger on messages for the tests: client_msg_ids "boom..." are
 * refused (a server error), the first "serial..." raises a serialization
 * failure, the first attempt of "restart-100" sleeps 5 s (a batch in
 * flight across a restart). */
static const char *const test_trigger __attribute__((unused)) =
    "CREATE SEQUENCE IF NOT EXISTS test_fail_once;\n"
    "CREATE SEQUENCE IF NOT EXISTS test_slow_once;\n"
    "CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger AS $$ BEGIN\n"
    " IF NEW.client_msg_id LIKE 'boom%' THEN RAISE EXCEPTION 'boom: refused by a test trigger';"
    " END IF;\n"
    " IF NEW.client_msg_id LIKE 'serial%' AND nextval('test_fail_once') = 1 THEN"
    " RAISE EXCEPTION 'simulated serialization failure' USING ERRCODE = '40001'; END IF;\n"
    " IF NEW.client_msg_id = 'restart-100' AND nextval('test_slow_once') = 1 THEN"
    " PERFORM pg_sleep(5); END IF;\n"
    " RETURN NEW; END $$ LANGUAGE plpgsql;\n"
    "DROP TRIGGER IF EXISTS test_fail ON messages;\n"
    "CREATE TRIGGER test_fail BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION test_fail()";

#endif
