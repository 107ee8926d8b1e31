/*
 * test_store_chat.c -- the chat plugins' store operations (host/store_chat.c):
 * unread.for_room (listed users, or the participants) and read.mark_room,
 * driven through the public store interface (ch_store_open / call /
 * close) on a real uv loop, once per backend: always a fresh SQLite
 * file in a temporary directory, and PostgreSQL when CHANHOST_TEST_PG_URL
 * is set (a fresh database chanhost_chat_<pid> is created there and
 * dropped at the end).  Without CHANHOST_TEST_PG_URL the PostgreSQL
 * group fails: it is never skipped (./scripts/test sets it).
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
#include "store_crypt.h"

#define KEY_ENV "CHANHOST_TEST_CHAT_KEYS"
#define J json_pack
#define I(x) ((json_int_t)(x))
#define GET(o, k) json_object_get(o, k)

static struct {
    char url[600]; /* the backend under test */
    char dir[64];  /* temporary directory (the SQLite file) */
    int seq;       /* unique room keys */
} G;

typedef struct fx {
    uv_loop_t loop;
    ch_store *s;
    int64_t room, other; /* two rooms */
    int64_t m[6];        /* messages: see fx_setup */
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

/* Call op and run the loop until it answers: its status (or the call's
 * refusal); *out gets the result (new reference) when out is not NULL. */
static int call(fx *f, const char *op, json_t *params, json_t **out)
{
    res r = {0};
    int rc = ch_store_call(f->s, op, params, on_res, &r);

    if (out)
        *out = NULL;
    if (rc != 0)
        return rc;
    while (!r.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    if (r.status != 0)
        fprintf(stderr, "%s: %d %s\n", op, r.status, r.error);
    if (out)
        *out = r.result;
    else
        json_decref(r.result);
    return r.status;
}

/* Call op, which must succeed: its result (caller decrefs). */
static json_t *ok(fx *f, const char *op, json_t *params)
{
    json_t *out;

    assert_int_equal(call(f, op, params, &out), 0);
    assert_true(json_is_object(out));
    return out;
}

/* A new room with a unique key; its id. */
static int64_t new_room(fx *f)
{
    char key[64];
    json_t *r;
    int64_t id;

    snprintf(key, sizeof key, "group:chat-test-%d-%d", (int)getpid(), ++G.seq);
    r = ok(f, "room.get_or_create", J("{s:s, s:s}", "key", key, "kind", "group"));
    id = json_integer_value(GET(GET(r, "room"), "id"));
    json_decref(r);
    return id;
}

static int64_t post(fx *f, int64_t room, int64_t sender)
{
    json_t *r = ok(f, "message.append", J("{s:I, s:I, s:s}", "room_id", I(room), "sender_id",
                                          I(sender), "content", "hello"));
    int64_t id = json_integer_value(GET(r, "id"));

    json_decref(r);
    return id;
}

/*
 * Each test starts with a store and two rooms: in `room`, m[0] and m[1]
 * by user 1, m[2] by user 2, m[3] by user 1 (deleted); in `other`, m[4]
 * by user 1.  Users 1, 2 and 3 are participants of `room`.
 */
static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    ch_store_opts o = {.url = G.url, .key_env = KEY_ENV};
    char err[512] = "";

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->s = ch_store_open(&f->loop, &o, err, sizeof err);
    if (!f->s)
        fail_msg("ch_store_open(%s): %s", G.url, err);
    f->room = new_room(f);
    f->other = new_room(f);
    for (int u = 1; u <= 3; u++)
        json_decref(ok(f, "participant.add",
                       J("{s:I, s:I}", "room_id", I(f->room), "user_id", I(u))));
    f->m[0] = post(f, f->room, 1);
    f->m[1] = post(f, f->room, 1);
    f->m[2] = post(f, f->room, 2);
    f->m[3] = post(f, f->room, 1);
    f->m[4] = post(f, f->other, 1);
    json_decref(ok(f, "message.delete", J("{s:I, s:I}", "id", I(f->m[3]), "sender_id", I(1))));
    *state = f;
    return 0;
}

static void on_closed(void *arg) { *(int *)arg = 1; }

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

/* unread.for_room's counts for ids (a json array, stolen). */
static json_t *unread(fx *f, int64_t room, json_t *ids)
{
    json_t *r = ok(f, "unread.for_room", J("{s:I, s:o}", "room_id", I(room), "user_ids", ids));
    json_t *counts = json_incref(GET(r, "counts"));

    json_decref(r);
    assert_true(json_is_object(counts));
    return counts;
}

static int64_t count_of(const json_t *counts, int64_t user)
{
    char key[24];
    json_t *v;

    snprintf(key, sizeof key, "%lld", (long long)user);
    v = GET(counts, key);
    if (!json_is_integer(v))
        fail_msg("no count for user %lld", (long long)user);
    return json_integer_value(v);
}

/* read.mark_room's "marked" as "id,id" text. */
static char *mark(fx *f, int64_t user, int64_t room, json_t *ids, char *buf, size_t n)
{
    json_t *r = ok(f, "read.mark_room", J("{s:I, s:I, s:o}", "user_id", I(user), "room_id",
                                          I(room), "message_ids", ids));
    size_t i, off = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(GET(r, "marked"), i, v)
        off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%lld", i ? "," : "",
                                (long long)json_integer_value(v));
    json_decref(r);
    return buf;
}

/* ---- tests ----------------------------------------------------------------- */

/* Unread: not deleted, not one's own, not read; one entry per user. */
static void test_unread_counts(void **state)
{
    fx *f = *state;
    json_t *c;

    c = unread(f, f->room, J("[I, I, I, I, I]", I(1), I(2), I(3), I(3), I(9)));
    assert_int_equal(json_object_size(c), 4);
    assert_int_equal(count_of(c, 1), 1); /* m2 by user 2 */
    assert_int_equal(count_of(c, 2), 2); /* m0, m1 */
    assert_int_equal(count_of(c, 3), 3); /* m0, m1, m2 */
    assert_int_equal(count_of(c, 9), 3); /* not a participant: the room's count */
    json_decref(c);
    json_decref(ok(f, "read.mark", J("{s:I, s:[I]}", "user_id", I(2), "message_ids", I(f->m[0]))));
    c = unread(f, f->room, J("[I]", I(2)));
    assert_int_equal(count_of(c, 2), 1);
    json_decref(c);
    c = unread(f, f->other, J("[I, I]", I(1), I(2)));
    assert_int_equal(count_of(c, 1), 0);
    assert_int_equal(count_of(c, 2), 1);
    json_decref(c);
}

/* Without user_ids: every participant of the room, and only them. */
static void test_unread_of_participants(void **state)
{
    fx *f = *state;
    json_t *r, *c;

    r = ok(f, "unread.for_room", J("{s:I}", "room_id", I(f->room)));
    c = GET(r, "counts");
    assert_int_equal(json_object_size(c), 3);
    assert_int_equal(count_of(c, 1), 1);
    assert_int_equal(count_of(c, 2), 2);
    assert_int_equal(count_of(c, 3), 3);
    json_decref(r);
    r = ok(f, "unread.for_room", J("{s:I, s:n}", "room_id", I(f->other), "user_ids"));
    assert_int_equal(json_object_size(GET(r, "counts")), 0);
    json_decref(r);
}

/* Receipts only for this room's messages of others, each once. */
static void test_mark_room(void **state)
{
    fx *f = *state;
    char buf[128], want[128];
    json_t *c;

    mark(f, 2, f->room,
         J("[I, I, I, I, I, I]", I(f->m[0]), I(f->m[1]), I(f->m[2]), I(f->m[3]), I(f->m[4]),
           I(1) << 40),
         buf, sizeof buf);
    snprintf(want, sizeof want, "%lld,%lld", (long long)f->m[0], (long long)f->m[1]);
    assert_string_equal(buf, want);
    assert_string_equal(mark(f, 2, f->room, J("[I, I]", I(f->m[0]), I(f->m[1])), buf, sizeof buf),
                        "");
    assert_string_equal(mark(f, 3, f->room, J("[I]", I(f->m[4])), buf, sizeof buf), "");
    assert_string_equal(mark(f, 1, f->room, J("[I, I]", I(f->m[0]), I(f->m[1])), buf, sizeof buf),
                        "");
    c = unread(f, f->room, J("[I, I]", I(2), I(3)));
    assert_int_equal(count_of(c, 2), 0);
    assert_int_equal(count_of(c, 3), 3);
    json_decref(c);
}

/* A full list of 500 ids works; the bounds and shapes are checked. */
static void test_params(void **state)
{
    fx *f = *state;
    json_t *ids = json_array(), *c;

    for (int i = 1; i <= 500; i++)
        json_array_append_new(ids, json_integer(i));
    c = unread(f, f->room, json_deep_copy(ids));
    assert_int_equal(json_object_size(c), 500);
    assert_int_equal(count_of(c, 500), 3);
    json_decref(c);
    json_array_append_new(ids, json_integer(501));
    assert_int_equal(call(f, "unread.for_room", J("{s:I, s:o}", "room_id", I(f->room), "user_ids",
                                                  ids), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "unread.for_room", J("{s:I, s:[]}", "room_id", I(f->room),
                                                  "user_ids"), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "unread.for_room", J("{s:I, s:[s]}", "room_id", I(f->room),
                                                  "user_ids", "1"), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "unread.for_room", J("{s:[I]}", "user_ids", I(1)), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "read.mark_room", J("{s:I, s:[I]}", "user_id", I(2), "message_ids",
                                                 I(f->m[0])), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "read.mark_room", J("{s:I, s:I, s:[I]}", "user_id", I(2), "room_id",
                                                 I(f->room), "message_ids", I(0)), NULL),
                     CH_STORE_EINVAL);
}

static void test_pg_required(void **state)
{
    (void)state;
    fail_msg("CHANHOST_TEST_PG_URL is not set: the PostgreSQL backend must be tested too "
             "(./scripts/test starts a PostgreSQL server and sets it)");
}

/* ---- backends ---------------------------------------------------------------- */

/* base with its database name replaced by db, into G.url. */
static void set_pg_url(const char *base, const char *db)
{
    const char *host = strstr(base, "://") ? strstr(base, "://") + 3 : base;
    const char *q = strchr(host, '?'), *slash = strchr(host, '/');
    const char *end = slash && (!q || slash < q) ? slash : q ? q : host + strlen(host);

    snprintf(G.url, sizeof G.url, "%.*s/%s%s", (int)(end - base), base, db, q ? q : "");
}

/* Run "<verb> DATABASE <db><tail>" on the server at url: 0, or 1. */
static int pg_admin(const char *url, const char *verb, const char *db, const char *tail)
{
    char text[200];
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    int failed;

    snprintf(text, sizeof text, "%s DATABASE %s%s", verb, db, tail);
    r = PQexec(c, text);
    failed = PQresultStatus(r) != PGRES_COMMAND_OK;
    if (failed)
        fprintf(stderr, "test_store_chat: %s: %s", text, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return failed;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The PostgreSQL group: on a fresh database, or failed without one. */
static int run_pg(const struct CMUnitTest *tests, size_t n)
{
    const struct CMUnitTest required[] = {cmocka_unit_test(test_pg_required)};
    const char *pg = getenv("CHANHOST_TEST_PG_URL");
    char db[64];

    if (!pg || !*pg)
        return cmocka_run_group_tests_name("store_chat.postgresql", required, NULL, NULL);
    snprintf(db, sizeof db, "chanhost_chat_%d", (int)getpid());
    set_pg_url(pg, db);
    if (pg_admin(pg, "CREATE", db, "") != 0)
        return 1;
    return _cmocka_run_group_tests("store_chat.postgresql", tests, n, NULL, NULL) +
           pg_admin(pg, "DROP", db, " WITH (FORCE)");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {T(test_unread_counts), T(test_unread_of_participants),
                                         T(test_mark_room), T(test_params)};
#undef T
    char *key = ch_keyring_new_key_line(1);
    int failed;

    snprintf(G.dir, sizeof G.dir, "/tmp/chanhost-chat-XX" "XX" "XX");
    if (!key || !mkdtemp(G.dir))
        return 1;
    setenv(KEY_ENV, key, 1);
    free(key);
    snprintf(G.url, sizeof G.url, "sqlite:%s/chat.db", G.dir);
    failed = cmocka_run_group_tests_name("store_chat.sqlite", tests, NULL, NULL);
    failed += run_pg(tests, sizeof tests / sizeof tests[0]);
    nftw(G.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}
