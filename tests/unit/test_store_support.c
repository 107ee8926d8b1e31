/*
 * test_store_support.c -- the support plugin's store operation
 * (host/store_support.c: support.conversations), through the public
 * store interface on a real uv loop, once per backend: always a fresh
 * SQLite file in a temporary directory, and PostgreSQL when
 * CHANHOST_TEST_PG_URL is set (a fresh database chanhost_support_<pid>
 * is created on that server and dropped at the end).  Without
 * CHANHOST_TEST_PG_URL the PostgreSQL group fails: it is never skipped
 * (./scripts/test starts a server and sets the variable).
 */
#include <ftw.h>
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

#define KEY_ENV "CHANHOST_TEST_SUPPORT_KEYS"
#define J json_pack
#define I(x) ((json_int_t)(x))
#define GET(o, k) json_object_get(o, k)

static struct {
    char url[600]; /* the backend under test */
    char dir[64];  /* temporary directory for the SQLite file */
    int seq;       /* for unique user ids and room keys */
} G;

typedef struct fx {
    uv_loop_t loop;
    ch_store *s;
    int64_t base; /* this test's user ids start above it */
} fx;

typedef struct res {
    int done, status;
    json_t *result;
    char error[200];
} res;

/* ---- plumbing ------------------------------------------------------------ */

static void on_res(int status, json_t *result, const char *error, void *arg)
{
    res *r = arg;

    r->done = 1;
    r->status = status;
    r->result = json_incref(result);
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static void on_closed(void *arg) { *(int *)arg = 1; }

static int fx_setup(void **state)
{
    ch_store_opts o = {.url = G.url, .key_env = KEY_ENV};
    fx *f = calloc(1, sizeof *f);
    char err[512] = "";

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->s = ch_store_open(&f->loop, &o, err, sizeof err);
    if (!f->s)
        fail_msg("ch_store_open(%s): %s", G.url, err);
    f->base = 1000000LL * ++G.seq;
    *state = f;
    return 0;
}

/* Close the store; the loop must end with no handle left. */
static int fx_teardown(void **state)
{
    fx *f = *state;
    int closed = 0;

    ch_store_close(f->s, on_closed, &closed);
    while (!closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* Call op and run the loop until its callback: the status (or the
 * refusal of ch_store_call); *out gets the result (new reference). */
static int call(fx *f, const char *op, json_t *params, json_t **out)
{
    res r = {0};
    int rc = ch_store_call(f->s, op, params, on_res, &r);

    *out = NULL;
    if (rc != 0)
        return rc;
    while (!r.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    *out = r.result;
    return r.status;
}

/* Call op, which must succeed; its result (caller decrefs). */
static json_t *ok(fx *f, const char *op, json_t *params)
{
    json_t *out;
    int rc = call(f, op, params, &out);

    if (rc != 0)
        fail_msg("%s: status %d", op, rc);
    return out;
}

/* Room key (kind) with users as participants; its id. */
static int64_t room(fx *f, const char *key, const char *kind, int64_t u1, int64_t u2)
{
    json_t *r = ok(f, "room.get_or_create", J("{s:s, s:s}", "key", key, "kind", kind));
    int64_t id = json_integer_value(GET(GET(r, "room"), "id"));

    json_decref(r);
    json_decref(ok(f, "participant.add", J("{s:I, s:I}", "room_id", I(id), "user_id", I(u1))));
    if (u2)
        json_decref(ok(f, "participant.add", J("{s:I, s:I}", "room_id", I(id), "user_id", I(u2))));
    return id;
}

/* Append text to room as sender with an extra {"n": n}; the id. */
static int64_t post(fx *f, int64_t room_id, int64_t sender, const char *text, int n)
{
    json_t *r = ok(f, "message.append", J("{s:I, s:I, s:s, s:{s:i}}", "room_id", I(room_id),
                                          "sender_id", I(sender), "content", text, "extra", "n",
                                          n));
    int64_t id = json_integer_value(GET(r, "id"));

    json_decref(r);
    return id;
}

/* A key unique to this test: "<fmt ...>" with the test's base mixed in. */
static const char *key_of(fx *f, char *buf, size_t n, const char *fmt, ...)
{
    char tail[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(buf, n, "t%lld:%s", (long long)f->base, tail);
    return buf;
}

/* support.conversations for user with prefix and limit (0: default);
 * the whole result (caller decrefs). */
static json_t *convs(fx *f, int64_t user, const char *prefix, int limit)
{
    json_t *p = J("{s:I, s:s, s:s}", "user_id", I(user), "kind", "ad_chat", "key_prefix", prefix);
    json_t *r;

    if (limit)
        json_object_set_new(p, "limit", json_integer(limit));
    r = ok(f, "support.conversations", p);
    assert_true(json_is_array(GET(r, "rooms")) && json_is_array(GET(r, "messages")));
    return r;
}

/* The ids of rooms[*] of a result. */
static int64_t room_at(const json_t *r, size_t i)
{
    return json_integer_value(GET(json_array_get(GET(r, "rooms"), i), "id"));
}

/* ---- tests --------------------------------------------------------------- */

/* Only the user's rooms of the kind whose key has the prefix, by id; the
 * last `limit` messages of each, merged oldest first, opened, with
 * extra. */
static void test_conversations(void **state)
{
    fx *f = *state;
    int64_t pub = f->base + 1, c1 = f->base + 2, c2 = f->base + 3, ids[6], more[6];
    char k[160], pre[160], text[32];
    int64_t r1, r2;
    json_t *cs, *m;

    r1 = room(f, key_of(f, k, sizeof k, "ad:1:client:%lld", (long long)c1), "ad_chat", c1, pub);
    r2 = room(f, key_of(f, k, sizeof k, "ad:1:client:%lld", (long long)c2), "ad_chat", c2, pub);
    room(f, key_of(f, k, sizeof k, "ad:11:client:%lld", (long long)c1), "ad_chat", c1, pub);
    room(f, key_of(f, k, sizeof k, "ad:1:client:999"), "ad_chat", c1, 0); /* pub not in it */
    room(f, key_of(f, k, sizeof k, "ad:1:client:998"), "support", pub, 0); /* other kind */
    room(f, key_of(f, k, sizeof k, "ad:1"), "ad_chat", pub, 0);           /* prefix longer */
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "m%d", i);
        ids[i] = post(f, r1, i % 2 ? pub : c1, text, i);
        snprintf(text, sizeof text, "n%d", i);
        more[i] = post(f, r2, i % 2 ? pub : c2, text, i);
    }
    key_of(f, pre, sizeof pre, "ad:1:client:");
    cs = convs(f, pub, pre, 4);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 2);
    assert_int_equal(room_at(cs, 0), r1);
    assert_int_equal(room_at(cs, 1), r2);
    assert_string_equal(json_string_value(GET(json_array_get(GET(cs, "rooms"), 1), "kind")),
                        "ad_chat");
    /* the last 4 of r1 and of r2, merged by id */
    m = GET(cs, "messages");
    assert_int_equal(json_array_size(m), 8);
    for (int i = 0; i < 8; i++) {
        json_t *msg = json_array_get(m, (size_t)i);
        int n = 2 + i / 2, in_r1 = i % 2 == 0; /* m2 n2 m3 n3 ... */

        snprintf(text, sizeof text, "%s%d", in_r1 ? "m" : "n", n);
        assert_int_equal(json_integer_value(GET(msg, "id")), in_r1 ? ids[n] : more[n]);
        assert_int_equal(json_integer_value(GET(msg, "room_id")), in_r1 ? r1 : r2);
        assert_string_equal(json_string_value(GET(msg, "content")), text);
        assert_int_equal(json_integer_value(GET(GET(msg, "extra"), "n")), n);
    }
    json_decref(cs);
    /* a client sees only its own conversations; the default limit */
    cs = convs(f, c2, pre, 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 1);
    assert_int_equal(json_array_size(GET(cs, "messages")), 6);
    json_decref(cs);
    cs = convs(f, c1, pre, 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 2); /* r1 and client:999 */
    assert_int_equal(json_array_size(GET(cs, "messages")), 6);
    json_decref(cs);
}

/* The prefix is compared in characters, not bytes. */
static void test_unicode_prefix(void **state)
{
    fx *f = *state;
    int64_t u = f->base + 1;
    char k[160], pre[160];
    json_t *cs;

    room(f, key_of(f, k, sizeof k, "\xc3\xa9t\xc3\xa9:a"), "ad_chat", u, 0);
    room(f, key_of(f, k, sizeof k, "\xc3\xa9t\xc3\xa9s:b"), "ad_chat", u, 0);
    cs = convs(f, u, key_of(f, pre, sizeof pre, "\xc3\xa9t\xc3\xa9:"), 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 1);
    json_decref(cs);
    cs = convs(f, u, key_of(f, pre, sizeof pre, "\xc3\xa9t\xc3\xa9"), 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 2);
    json_decref(cs);
}

/* No rooms: an empty list.  Bad parameters: EINVAL before queueing. */
static void test_empty_and_params(void **state)
{
    fx *f = *state;
    json_t *cs = convs(f, f->base + 7, "nothing:", 0), *out;

    assert_int_equal(json_array_size(GET(cs, "rooms")), 0);
    assert_int_equal(json_array_size(GET(cs, "messages")), 0);
    json_decref(cs);
    assert_int_equal(call(f, "support.conversations",
                          J("{s:I, s:s}", "user_id", I(1), "kind", "ad_chat"), &out),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "support.conversations",
                          J("{s:I, s:s, s:s, s:i}", "user_id", I(1), "kind", "ad_chat",
                            "key_prefix", "ad:", "limit", 501),
                          &out),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "support.conversations",
                          J("{s:i, s:s, s:s}", "user_id", 0, "kind", "ad_chat", "key_prefix",
                            "ad:"),
                          &out),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "support.conversations",
                          J("{s:I, s:s, s:s}", "user_id", I(1), "kind", "ad_chat",
                            "key_prefix", ""),
                          &out),
                     CH_STORE_EINVAL);
}

static void test_pg_required(void **state)
{
    (void)state;
    fail_msg("CHANHOST_TEST_PG_URL is not set: the PostgreSQL backend must be tested too "
             "(./scripts/test starts a PostgreSQL server and sets it)");
}

/* ---- backends --------------------------------------------------------------- */

/* base with its database name replaced by db, into G.url. */
static void set_pg_url(const char *base, const char *db)
{
    const char *host = strstr(base, "://") ? strstr(base, "://") + 3 : base;
    const char *q = strchr(host, '?'), *slash = strchr(host, '/');
    const char *end = slash && (!q || slash < q) ? slash : q ? q : host + strlen(host);

    snprintf(G.url, sizeof G.url, "%.*s/%s%s", (int)(end - base), base, db, q ? q : "");
}

/* Run the statement fmt (one %s: db) on the server at url: 0, or 1
 * after printing why. */
static int pg_admin(const char *url, const char *fmt, const char *db)
{
    char text[200];
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    int failed;

    snprintf(text, sizeof text, fmt, db);
    r = PQexec(c, text);
    failed = PQresultStatus(r) != PGRES_COMMAND_OK;
    if (failed)
        fprintf(stderr, "test_store_support: %s on %s: %s", text, url, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return failed;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The PostgreSQL group on a fresh database, or a failure without one. */
static int run_pg(const struct CMUnitTest *tests, size_t n)
{
    const struct CMUnitTest required[] = {cmocka_unit_test(test_pg_required)};
    const char *pg = getenv("CHANHOST_TEST_PG_URL");
    char db[64];

    if (!pg || !*pg)
        return cmocka_run_group_tests_name("store_support.postgresql", required, NULL, NULL);
    snprintf(db, sizeof db, "chanhost_support_%d", (int)getpid());
    set_pg_url(pg, db);
    pg_admin(pg, "DROP DATABASE IF EXISTS %s", db);
    if (pg_admin(pg, "CREATE DATABASE %s", db) != 0)
        return 1;
    return _cmocka_run_group_tests("store_support.postgresql", tests, n, NULL, NULL) +
           pg_admin(pg, "DROP DATABASE %s WITH (FORCE)", db);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {T(test_conversations), T(test_unicode_prefix),
                                       T(test_empty_and_params)};
#undef T
    char *key = ch_keyring_new_key_line(1);
    int failed;

    snprintf(G.dir, sizeof G.dir, "/tmp/chanhost-support-XX" "XX" "XX");
    if (!key || !mkdtemp(G.dir))
        return 1;
    setenv(KEY_ENV, key, 1);
    free(key);
    snprintf(G.url, sizeof G.url, "sqlite:%s/s.db", G.dir);
    failed = cmocka_run_group_tests_name("store_support.sqlite", tests, NULL, NULL);
    failed += run_pg(tests, sizeof tests / sizeof tests[0]);
    nftw(G.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}
