/*
 * test_store_pg.c -- the message store's PostgreSQL engine
 * (host/store/store_pg.c, host/store/store_pg_conn.c) against a real server:
 * migrations (applied once, by hosts starting together; a newer schema
 * refused; an unreachable server at start-up), group commit of a burst,
 * throughput with and without group commit, the loop never blocked by a
 * batch in flight, the queue bound, a server error and a hook's refusal
 * isolated to their request, a serialization failure retried, a
 * reconnect after the server ends the session (the host name resolved
 * on the loop), notifications of deleted participants heard (again after
 * a reconnect), close working off the queue, a room deleted before or
 * during an append (no message left without its room).  The outages are in
 * test_store_pg_outage.c; the environment is described in
 * store_pg_fixture.h.
 */
#include "store_pg_fixture.h"

/* ---- tests: migrations --------------------------------------------------- */

typedef struct mig_job {
    pthread_t t;
    const char *url;
    int rc;
} mig_job;

static void *migrate_thread(void *arg)
{
    mig_job *j = arg;
    char err[256];

    j->rc = ch_store_pg_engine.migrate(j->url, err, sizeof err);
    return NULL;
}

/* Four hosts migrating a fresh database at once: each succeeds, each
 * migration is applied once; a database newer than the host is refused. */
static void migrations_concurrent_and_once(void **state)
{
    char url[1024], db[80], sql[160], err[256];
    mig_job j[4];
    size_t n;
    PGconn *c;

    (void)state;
    need_pg(0);
    ch_store_migrations(CH_STORE_PG, &n);
    snprintf(db, sizeof db, "%s_mig", E.db);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    assert_int_equal(exec_on(E.base_url, sql), 0);
    url_with(url, sizeof url, E.base_url, NULL, db, NULL);
    for (int i = 0; i < 4; i++) {
        j[i].url = url;
        assert_int_equal(pthread_create(&j[i].t, NULL, migrate_thread, &j[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(j[i].t, NULL);
        assert_int_equal(j[i].rc, 0);
    }
    c = PQconnectdb(url);
    PQclear(PQexec(c, "INSERT INTO schema_migrations VALUES (999, 0)"));
    PGresult *r = PQexec(c, "SELECT count(*) FROM schema_migrations WHERE version < 999");
    assert_int_equal(atoi(PQgetvalue(r, 0, 0)), (int)n);
    PQclear(r);
    PQfinish(c);
    assert_int_not_equal(ch_store_pg_engine.migrate(url, err, sizeof err), 0);
    assert_non_null(strstr(err, "newer"));
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", db);
    assert_int_equal(exec_on(E.base_url, sql), 0);
}

/* An unreachable server at start-up: open fails with libpq's reason. */
static void open_fails_when_unreachable(void **state)
{
    ch_store_opts o = {.url = "postgresql://postgres@127.0.0.1:1/none", .key_env = KEY_ENV};
    char err[512] = "";
    uv_loop_t loop;

    (void)state;
    need_pg(0);
    uv_loop_init(&loop);
    assert_null(ch_store_open(&loop, &o, err, sizeof err));
    assert_non_null(strstr(err, "postgresql:"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- tests: batches -------------------------------------------------------- */

/* 200 appends submitted together: all succeed, in one or two transactions. */
static void burst_is_group_committed(void **state)
{
    fx f;
    rec r[200] = {{0}};
    recs rs = {r, 200};
    uint64_t before;

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:burst");
    before = ch_store_pg_commits();
    append_n(&f, r, 200, 7, "burst");
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 200);
    printf("# 200-append burst: %llu transaction(s)\n",
           (unsigned long long)(ch_store_pg_commits() - before));
    assert_true(ch_store_pg_commits() - before <= 2);
    assert_int_equal(room_msgs(&f), 200);
    fx_close(&f);
}

/* Appends per second with group commit (and without: batch_max 1). */
static double measure_rate(size_t n, uint32_t batch_max, const char *room, uint64_t *txns)
{
    fx f;
    rec *r = calloc(n, sizeof *r);
    recs rs = {r, n};
    uint64_t t0, t1, c0;

    fx_open(&f, E.url, (uint32_t)n + 10, batch_max, room);
    c0 = ch_store_pg_commits();
    t0 = uv_hrtime();
    append_n(&f, r, n, 8, room);
    assert_true(run_until(&f, all_done, &rs, 120000));
    t1 = uv_hrtime();
    assert_all_ok(r, n);
    *txns = ch_store_pg_commits() - c0;
    fx_close(&f);
    free(r);
    return (double)n / ((double)(t1 - t0) / 1e9);
}

static void throughput(void **state)
{
    uint64_t tg, t1;
    double grouped, single;

    (void)state;
    need_pg(0);
    grouped = measure_rate(5000, 0, "chat-room:rate-grouped", &tg);
    single = measure_rate(500, 1, "chat-room:rate-single", &t1);
    printf("# appends/s: %.0f with group commit (5000 in %llu transactions), %.0f one per "
           "transaction (500 in %llu)\n",
           grouped, (unsigned long long)tg, single, (unsigned long long)t1);
    assert_true(tg < 5000 / 10);
}

typedef struct probe {
    uv_timer_t t;
    uint64_t last, max_gap, ticks;
} probe;

static void on_probe(uv_timer_t *t)
{
    probe *p = t->data;
    uint64_t now = uv_hrtime();

    if (p->last && now - p->last > p->max_gap)
        p->max_gap = now - p->last;
    p->last = now;
    p->ticks++;
}

/* The loop is never blocked: a 2 ms timer keeps firing on time while
 * 2000 appends are in flight. */
static void loop_not_blocked(void **state)
{
    fx f;
    rec *r;
    recs rs = {NULL, 2000};
    probe p = {0};
    uint64_t t0;

    (void)state;
    need_pg(0);
    rs.r = r = calloc(2000, sizeof *r);
    fx_open(&f, E.url, 0, 0, "chat-room:timers");
    uv_timer_init(&f.loop, &p.t);
    p.t.data = &p;
    uv_timer_start(&p.t, on_probe, 2, 2);
    t0 = uv_hrtime();
    append_n(&f, r, 2000, 9, "timers");
    assert_true(run_until(&f, all_done, &rs, 60000));
    assert_all_ok(r, 2000);
    printf("# 2000 appends in %.0f ms; 2 ms timer fired %llu times, longest gap %.1f ms\n",
           (double)(uv_hrtime() - t0) / 1e6, (unsigned long long)p.ticks, (double)p.max_gap / 1e6);
    assert_true(p.ticks > 5);
    assert_true(p.max_gap < 100 * 1000000ULL);
    uv_close((uv_handle_t *)&p.t, NULL);
    fx_close(&f);
    free(r);
}

/* A full queue refuses with EBUSY, at once; what was admitted completes. */
static void queue_bound_is_ebusy(void **state)
{
    fx f;
    rec r[11] = {{0}};
    recs rs = {r, 10};

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 10, 0, "chat-room:bound");
    append_n(&f, r, 10, 10, "bound");
    assert_int_equal(append(&f, 10, "bound-x", &r[10]), CH_STORE_EBUSY);
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 10);
    assert_int_equal(r[10].done, 0);
    fx_close(&f);
}

/* A server error in one request of a batch: that request alone fails
 * (EIO with the server's message), the others are committed together. */
static void server_error_is_isolated(void **state)
{
    fx f;
    rec r[50] = {{0}};
    recs rs = {r, 50};
    uint64_t before;

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:isolate");
    q_exec(test_trigger);
    before = ch_store_pg_commits();
    append_n(&f, r, 25, 11, "iso-a");
    assert_int_equal(append(&f, 11, "boom-1", &r[25]), 0);
    append_n(&f, r + 26, 24, 11, "iso-b");
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].status, i == 25 ? CH_STORE_EIO : 0);
    }
    assert_non_null(strstr(r[25].error, "boom: refused by a test trigger"));
    assert_int_equal(room_msgs(&f), 49);
    assert_int_equal(ch_store_pg_commits() - before, 1);
    fx_close(&f);
}

/* A hook's refusal inside a batch: a read-only request fails alone at
 * once (the batch goes on); one refused after its statement may have
 * written (an UPDATE that found nothing) rolls the batch back, fails
 * alone, and the others are committed together. */
static void hook_failures_in_a_batch(void **state)
{
    fx f;
    rec r[22] = {{0}};
    recs rs = {r, 22};
    uint64_t before;
    json_int_t missing = (json_int_t)1 << 60; /* no such message, no such room */

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:hooks");
    before = ch_store_pg_commits();
    append_n(&f, r, 10, 18, "hooks-a");
    assert_int_equal(ch_store_call(f.s, "message.get", json_pack("{s:I}", "id", missing), on_rec,
                                   &r[10]),
                     0);
    assert_int_equal(ch_store_call(f.s, "room.set_active",
                                   json_pack("{s:I, s:b}", "id", missing, "is_active", 0), on_rec,
                                   &r[11]),
                     0);
    append_n(&f, r + 12, 10, 18, "hooks-b");
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    for (size_t i = 0; i < 22; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].status, i == 10 || i == 11 ? CH_STORE_ENOENT : 0);
    }
    assert_int_equal(ch_store_pg_commits() - before, 1);
    assert_true(status_int(&f, "retries") >= 20);
    assert_int_equal(room_msgs(&f), 20);
    fx_close(&f);
}

/* A serialization failure rolls the batch back and runs it again. */
static void serialization_failure_is_retried(void **state)
{
    fx f;
    rec r[30] = {{0}};
    recs rs = {r, 30};

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:serial");
    q_exec(test_trigger);
    append_n(&f, r, 30, 12, "serial");
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 30);
    assert_true(status_int(&f, "retries") >= 30);
    assert_int_equal(room_msgs(&f), 30);
    fx_close(&f);
}

/* The store's own sessions. */
static long long backends(void)
{
    return q_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                 " AND application_name = 'chanhost'");
}

/* End the store's sessions from the server's side (as an administrator
 * or a failover would); how many there were. */
static long long terminate_backends(void)
{
    return q_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND application_name = 'chanhost'");
}

/* The store's backend is terminated by the server (pg_terminate_backend):
 * the store notices while idle, reconnects by itself (resolving the host
 * name "localhost" on the loop, not in libpq), and serves again. */
static void reconnect_resolves_host_name(void **state)
{
    char url[1024], hostport[300];
    PQconninfoOption *o;
    const char *host = NULL, *port = "5432";
    fx f;
    rec r[5] = {{0}};
    recs rs = {r, 5};

    (void)state;
    need_pg(0);
    o = PQconninfoParse(E.url, NULL);
    for (PQconninfoOption *p = o; p && p->keyword; p++) {
        if (strcmp(p->keyword, "host") == 0 && p->val)
            host = p->val;
        if (strcmp(p->keyword, "port") == 0 && p->val)
            port = p->val;
    }
    if (!host || (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0)) {
        PQconninfoFree(o);
        fail_msg("CHANHOST_TEST_PG_URL must name a server on 127.0.0.1 or localhost");
    }
    snprintf(hostport, sizeof hostport, "localhost:%s", port);
    PQconninfoFree(o);
    url_with(url, sizeof url, E.url, hostport, NULL, NULL);
    fx_open(&f, url, 0, 0, "chat-room:dns");
    assert_true(is_ok(&f));
    assert_int_equal(terminate_backends(), 1);
    assert_true(run_until(&f, is_down, &f, WAIT_MS));
    assert_true(run_until(&f, is_ok, &f, WAIT_MS));
    assert_int_equal(status_int(&f, "reconnects"), 1);
    append_n(&f, r, 5, 19, "dns");
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 5);
    fx_close(&f);
}

/* ---- tests: notifications ------------------------------------------------ */

typedef struct heard {
    int n;
    char channel[64];
    json_t *payload; /* the last one */
} heard;

static void on_heard(void *arg, const char *channel, const char *payload)
{
    heard *h = arg;

    h->n++;
    snprintf(h->channel, sizeof h->channel, "%s", channel);
    json_decref(h->payload);
    h->payload = json_loads(payload, 0, NULL);
}

typedef struct want_heard {
    heard *h;
    int n;
} want_heard;

static int heard_n(void *arg)
{
    want_heard *w = arg;

    return w->h->n >= w->n;
}

/* The store's connection has run its LISTEN and is idle, the LISTEN
 * committed (pg_stat_activity shows a session's last statement). */
static int listening(void *arg)
{
    (void)arg;
    return q_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                 " AND application_name = 'chanhost' AND state = 'idle'"
                 " AND query = 'LISTEN " CH_STORE_CHANNEL_PARTICIPANTS "'") == 1;
}

/* Delete participant user of the fixture's room in plain SQL; wait for
 * the n-th notification and check it names that room and user. */
static void delete_is_heard(fx *f, heard *h, int64_t user, int n)
{
    char sql[160];
    want_heard w = {h, n};

    snprintf(sql, sizeof sql, "DELETE FROM participants WHERE room_id = %lld AND user_id = %lld",
             (long long)f->room_id, (long long)user);
    q_exec(sql);
    assert_true(run_until(f, heard_n, &w, WAIT_MS));
    assert_int_equal(h->n, n);
    assert_string_equal(h->channel, CH_STORE_CHANNEL_PARTICIPANTS);
    assert_int_equal(json_integer_value(json_object_get(h->payload, "room_id")), f->room_id);
    assert_int_equal(json_integer_value(json_object_get(h->payload, "user_id")), user);
}

/* ch_store_listen: a row deleted from participants by another session is
 * heard once its transaction commits (one rolled back is not), counted in
 * the status; after the server ends the session the store listens again
 * on its new connection.  A bad channel name is refused. */
static void deleted_participants_are_heard(void **state)
{
    fx f;
    heard h = {0};
    char sql[200];

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:notify");
    assert_int_equal(ch_store_listen(f.s, "Bad-Name", on_heard, &h), CH_STORE_EINVAL);
    assert_int_equal(ch_store_listen(f.s, CH_STORE_CHANNEL_PARTICIPANTS, on_heard, &h), 0);
    assert_true(run_until(&f, listening, NULL, WAIT_MS));
    snprintf(sql, sizeof sql,
             "INSERT INTO participants (room_id, user_id, joined_at) VALUES (%lld, 41, 0),"
             " (%lld, 42, 0), (%lld, 43, 0), (%lld, 44, 0)",
             (long long)f.room_id, (long long)f.room_id, (long long)f.room_id,
             (long long)f.room_id);
    q_exec(sql);
    delete_is_heard(&f, &h, 41, 1);
    snprintf(sql, sizeof sql,
             "BEGIN; DELETE FROM participants WHERE room_id = %lld AND user_id = 42; ROLLBACK",
             (long long)f.room_id);
    q_exec(sql);
    delete_is_heard(&f, &h, 43, 2); /* the rolled-back 42 was never heard */
    assert_int_equal(terminate_backends(), 1);
    assert_true(run_until(&f, is_down, &f, WAIT_MS));
    assert_true(run_until(&f, is_ok, &f, WAIT_MS));
    assert_true(run_until(&f, listening, NULL, WAIT_MS));
    delete_is_heard(&f, &h, 44, 3);
    assert_int_equal(status_int(&f, "notifications"), 3);
    json_decref(h.payload);
    fx_close(&f);
}

/* close works off the queue before it finishes. */
static void close_drains_the_queue(void **state)
{
    fx f;
    rec r[300] = {{0}};

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:close");
    append_n(&f, r, 300, 13, "close");
    ch_store_close(f.s, on_closed, &f);
    assert_true(run_until(&f, is_closed, &f, WAIT_MS));
    assert_all_ok(r, 300);
    uv_close((uv_handle_t *)&f.tick, NULL);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    assert_int_equal(room_msgs(&f), 300);
}

/* ---- tests: a room deleted while an append runs -------------------------- */

/* A statement formatted into a static buffer (valid until the next call). */
static const char *q_sql(const char *fmt, ...)
{
    static char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return sql;
}

/* How many sessions of the test database wait for a lock. */
static int lock_waits(void)
{
    return (int)q_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND wait_event_type = 'Lock'");
}

static int one_waits(void *arg) { return (void)arg, lock_waits() >= 1; }
static int two_wait(void *arg) { return (void)arg, lock_waits() >= 2; }

/* The room's delete first (uncommitted): the append waits for it on the
 * room's row (no foreign key checks messages.room_id on PostgreSQL since
 * schema version 13: the append's own lock does), then finds no room. */
static void append_after_room_delete(void **state)
{
    fx f;
    rec r = {0};

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:deleted-first");
    q_exec(q_sql("BEGIN; DELETE FROM rooms WHERE id = %lld", (long long)f.room_id));
    assert_int_equal(append(&f, 21, "after-delete", &r), 0);
    assert_true(run_until(&f, one_waits, NULL, WAIT_MS));
    assert_int_equal(r.done, 0);
    q_exec("COMMIT");
    assert_true(run_until(&f, rec_done, &r, WAIT_MS));
    assert_int_equal(r.status, CH_STORE_ENOENT);
    assert_int_equal(room_msgs(&f), 0);
    fx_close(&f);
}

/* The append first: it holds its room's lock while it waits (here for a
 * message with its client_msg_id that another session inserted and has
 * not committed); the room's delete waits for the append, which then
 * commits, and the delete's trigger takes the new message along: no
 * message is left without its room. */
static void room_delete_after_append(void **state)
{
    fx f;
    rec r = {0};
    PGconn *del;
    PGresult *res;

    (void)state;
    need_pg(0);
    del = PQconnectdb(E.url);
    assert_int_equal(PQstatus(del), CONNECTION_OK);
    fx_open(&f, E.url, 0, 0, "chat-room:deleted-after");
    q_exec(q_sql("BEGIN; INSERT INTO messages (room_id, sender_id, key_id, nonce, content,"
                 " created_at, client_msg_id) VALUES (%lld, 22, 1, 'n', 'c', 0, 'held')",
                 (long long)f.room_id));
    assert_int_equal(append(&f, 22, "held", &r), 0);
    assert_true(run_until(&f, one_waits, NULL, WAIT_MS));
    assert_int_equal(PQsendQuery(del,
                                 q_sql("DELETE FROM rooms WHERE id = %lld", (long long)f.room_id)),
                     1);
    assert_true(run_until(&f, two_wait, NULL, WAIT_MS));
    q_exec("ROLLBACK");
    assert_true(run_until(&f, rec_done, &r, WAIT_MS));
    assert_int_equal(r.status, 0);
    assert_false(r.dup);
    while ((res = PQgetResult(del))) {
        assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        assert_string_equal(PQcmdTuples(res), "1");
        PQclear(res);
    }
    PQfinish(del);
    assert_int_equal(room_msgs(&f), 0);
    assert_int_equal(q_int("SELECT count(*) FROM messages m WHERE NOT EXISTS"
                           " (SELECT 1 FROM rooms r WHERE r.id = m.room_id)"),
                     0);
    fx_close(&f);
}

/* ---- tests: two connections, by room ------------------------------------ */

/* Queue an append of sender 23 to room (client_msg_id cmid, or none). */
static int append_in(fx *f, int64_t room, const char *cmid, rec *r)
{
    json_t *p = json_pack("{s:I, s:I, s:s}", "room_id", (json_int_t)room, "sender_id",
                          (json_int_t)23, "content", "one lane per room");

    if (cmid)
        json_object_set_new(p, "client_msg_id", json_string(cmid));
    return ch_store_call(f->s, "message.append", p, on_rec, r);
}

/* Queue n appends alternately to rooms a and b (r[i] is room a's for even
 * i), wait for them; each stored, each room's ids rising in the order
 * the appends were made. */
static void appends_in_order(fx *f, int64_t a, int64_t b, rec *r, size_t n)
{
    recs rs = {r, n};

    for (size_t i = 0; i < n; i++)
        assert_int_equal(append_in(f, i % 2 ? b : a, NULL, &r[i]), 0);
    assert_true(run_until(f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, n);
    for (size_t i = 2; i < n; i++)
        assert_true(r[i].id > r[i - 2].id);
}

/* Open f with two lanes and make rooms (keys prefix-0, prefix-1, ...)
 * until rooms[0] is one of the first lane (an even id) and rooms[1] one
 * of the second. */
static void open_two_lanes(fx *f, const char *prefix, int64_t rooms[2])
{
    char key[64];
    json_t *res;
    int64_t id;

    rooms[0] = rooms[1] = 0;
    snprintf(key, sizeof key, "%s-0", prefix);
    fx_connections = 2;
    fx_open(f, E.url, 0, 0, key);
    fx_connections = 0;
    rooms[f->room_id % 2] = f->room_id;
    for (int i = 1; i < 8 && (!rooms[0] || !rooms[1]); i++) {
        snprintf(key, sizeof key, "%s-%d", prefix, i);
        res = call_ok(f, "room.get_or_create", json_pack("{s:s, s:s}", "key", key, "kind", "chat"));
        id = json_integer_value(json_object_get(json_object_get(res, "room"), "id"));
        if (!rooms[id % 2])
            rooms[id % 2] = id;
        json_decref(res);
    }
    assert_true(rooms[0] > 0 && rooms[1] > 0);
}

/* Hold room's lane: another session's uncommitted message with the
 * client_msg_id cmid, and an append of the same one (held) that waits for
 * it.  The caller ends it with q_exec("ROLLBACK"). */
static void hold_lane(fx *f, int64_t room, const char *cmid, rec *held)
{
    q_exec(q_sql("BEGIN; INSERT INTO messages (room_id, sender_id, key_id, nonce, content,"
                 " created_at, client_msg_id) VALUES (%lld, 23, 1, 'n', 'c', 0, '%s')",
                 (long long)room, cmid));
    assert_int_equal(append_in(f, room, cmid, held), 0);
    assert_true(run_until(f, one_waits, NULL, WAIT_MS));
}

/* store_connections 2: two sessions; a room's calls run on its lane
 * (room id modulo 2), so an append held up on room a (another session's
 * uncommitted insert of its client_msg_id) does not hold up room b's,
 * on the other lane (one connection would queue them behind it); a
 * room's appends keep their order; both lanes reconnect after the server
 * ends their sessions (the state names the lane down); close drains. */
static void lanes_by_room(void **state)
{
    fx f;
    rec held = {0}, r[40] = {{0}};
    recs rs = {r, 20};
    int64_t rooms[2], a, b;

    (void)state;
    need_pg(0);
    open_two_lanes(&f, "chat-room:lanes", rooms);
    a = f.room_id;
    b = rooms[a % 2 == 0];
    assert_int_equal(backends(), 2);
    hold_lane(&f, a, "lane-held", &held);
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(append_in(&f, b, NULL, &r[i]), 0);
    assert_true(run_until(&f, all_done, &rs, WAIT_MS));
    assert_all_ok(r, 20);
    assert_int_equal(held.done, 0);
    q_exec("ROLLBACK");
    assert_true(run_until(&f, rec_done, &held, WAIT_MS));
    assert_int_equal(held.status, 0);
    assert_false(held.dup);
    memset(r, 0, sizeof r);
    appends_in_order(&f, a, b, r, 40);
    assert_int_equal(terminate_backends(), 2);
    assert_true(run_until(&f, is_down, &f, WAIT_MS));
    assert_true(run_until(&f, is_ok, &f, WAIT_MS));
    assert_int_equal(status_int(&f, "reconnects"), 2);
    assert_int_equal(backends(), 2);
    memset(r, 0, sizeof r);
    appends_in_order(&f, a, b, r, 40);
    assert_int_equal(room_msgs_of(a), 1 + 20 + 20);
    assert_int_equal(room_msgs_of(b), 20 + 20 + 20);
    fx_close(&f);
}

/* An edit or a delete that names its room (room_id) runs in that room's
 * lane: it commits while the first lane waits for a lock.  The held room
 * is the first lane's (an even id of two lanes); the edited message is in
 * a room of the other lane.  Without room_id the edit would wait in the
 * first lane. */
static void edits_in_their_rooms_lane(void **state)
{
    fx f;
    rec held = {0}, m = {0}, ed = {0}, del = {0};
    int64_t rooms[2], odd;

    (void)state;
    need_pg(0);
    open_two_lanes(&f, "chat-room:edit-lanes", rooms);
    odd = rooms[1];
    assert_int_equal(append_in(&f, odd, NULL, &m), 0);
    assert_true(run_until(&f, rec_done, &m, WAIT_MS));
    assert_int_equal(m.status, 0);
    hold_lane(&f, rooms[0], "edit-held", &held);
    assert_int_equal(ch_store_call(f.s, "message.edit",
                                   json_pack("{s:I, s:I, s:s, s:I}", "id", (json_int_t)m.id,
                                             "sender_id", (json_int_t)23, "content", "edited",
                                             "room_id", (json_int_t)odd),
                                   on_rec, &ed),
                     0);
    assert_true(run_until(&f, rec_done, &ed, WAIT_MS));
    assert_int_equal(ed.status, 0);
    assert_int_equal(held.done, 0); /* the first lane still waits */
    assert_int_equal(ch_store_call(f.s, "message.delete",
                                   json_pack("{s:I, s:I, s:I}", "id", (json_int_t)m.id, "sender_id",
                                             (json_int_t)23, "room_id", (json_int_t)odd),
                                   on_rec, &del),
                     0);
    assert_true(run_until(&f, rec_done, &del, WAIT_MS));
    assert_int_equal(del.status, 0);
    assert_int_equal(held.done, 0);
    q_exec("ROLLBACK");
    assert_true(run_until(&f, rec_done, &held, WAIT_MS));
    assert_int_equal(held.status, 0);
    fx_close(&f);
}

/* cleanup.empty_threads against a first message committed while it
 * waits: another session (another host's append) holds the empty
 * thread's row FOR KEY SHARE, as an append does, and inserts its first
 * message; the cleanup waits for it.  Once that commits, the thread has
 * a message: it is neither deleted nor listed, and its message stays. */
static void cleanup_spares_a_thread_given_a_message_meanwhile(void **state)
{
    fx f;
    rec r = {.keep = 1};
    json_t *res, *rooms;
    int64_t thread;

    (void)state;
    need_pg(0);
    fx_open(&f, E.url, 0, 0, "chat-room:cleanup-race");
    res = call_ok(&f, "room.get_or_create",
                  json_pack("{s:s, s:s}", "key", "thread:cleanup-race", "kind", "thread"));
    thread = json_integer_value(json_object_get(json_object_get(res, "room"), "id"));
    json_decref(res);
    q_exec(q_sql("BEGIN; SELECT 1 FROM rooms WHERE id = %lld FOR KEY SHARE;"
                 " INSERT INTO messages (room_id, sender_id, key_id, nonce, content, created_at,"
                 " client_msg_id) VALUES (%lld, 22, 1, 'n', 'c', 0, 'first')",
                 (long long)thread, (long long)thread));
    assert_int_equal(ch_store_call(f.s, "cleanup.empty_threads", json_object(), on_rec, &r), 0);
    assert_true(run_until(&f, one_waits, NULL, WAIT_MS));
    q_exec("COMMIT");
    assert_true(run_until(&f, rec_done, &r, WAIT_MS));
    assert_int_equal(r.status, 0);
    rooms = json_object_get(r.result, "rooms");
    for (size_t i = 0; i < json_array_size(rooms); i++)
        assert_int_not_equal(json_integer_value(json_array_get(rooms, i)), thread);
    json_decref(r.result);
    assert_int_equal(room_msgs_of(thread), 1);
    assert_int_equal(q_int("SELECT count(*) FROM rooms WHERE id = %lld", (long long)thread), 1);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrations_concurrent_and_once),
        cmocka_unit_test(open_fails_when_unreachable),
        cmocka_unit_test(burst_is_group_committed),
        cmocka_unit_test(throughput),
        cmocka_unit_test(loop_not_blocked),
        cmocka_unit_test(queue_bound_is_ebusy),
        cmocka_unit_test(server_error_is_isolated),
        cmocka_unit_test(hook_failures_in_a_batch),
        cmocka_unit_test(serialization_failure_is_retried),
        cmocka_unit_test(reconnect_resolves_host_name),
        cmocka_unit_test(deleted_participants_are_heard),
        cmocka_unit_test(close_drains_the_queue),
        cmocka_unit_test(append_after_room_delete),
        cmocka_unit_test(room_delete_after_append),
        cmocka_unit_test(lanes_by_room),
        cmocka_unit_test(edits_in_their_rooms_lane),
        cmocka_unit_test(cleanup_spares_a_thread_given_a_message_meanwhile),
    };

    if (getenv("CHANHOST_TEST_FILTER")) /* e.g. "restart*": run only matching tests */
        cmocka_set_test_filter(getenv("CHANHOST_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
