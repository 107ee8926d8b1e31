/*
 * test_store.c -- the message store's test suite (host/store*.c), driven
 * through the public interface (ch_store_open / call / close) on a real
 * uv loop, once per backend: always a fresh SQLite file in a temporary
 * directory, and PostgreSQL when CHANHOST_TEST_PG_URL is set (a fresh
 * database chanhost_test_<pid> is created there and dropped at the end).
 * Without CHANHOST_TEST_PG_URL the suite fails: PostgreSQL is never
 * skipped (./scripts/test starts a server and sets the variable).  The raw database is read directly
 * (sqlite3 / libpq) to check sealing, tampering and key ids.
 */
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
#include "store_impl.h"

static struct {
    char url[600];          /* the backend under test */
    int pg;                 /* it is PostgreSQL */
    char dir[64];           /* temporary directory: key files, the SQLite file */
    char db[96];            /* the SQLite file */
    char key1[128];         /* keyring {1} */
    char key12[128];        /* keyring {1, 2}: the same key 1, and a key 2 */
    int seq;                /* for unique room keys and names */
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

static void on_res(int status, json_t *result, const char *error, void *arg)
{
    res *r = arg;

    r->done = 1;
    r->status = status;
    r->result = json_incref(result);
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

/* Open a store on loop with a keyring file and a queue bound. */
static ch_store *open_store(uv_loop_t *loop, const char *keys, uint32_t queue_max)
{
    ch_store_opts o = {.url = G.url, .key_file = keys, .queue_max = queue_max};
    char err[512] = "";
    ch_store *s = ch_store_open(loop, &o, err, sizeof err);

    if (!s)
        fail_msg("ch_store_open(%s): %s", G.url, err);
    return s;
}

static void on_closed(void *arg) { *(int *)arg = 1; }

/* Close s and run the loop until it is gone. */
static void close_store(uv_loop_t *loop, ch_store *s)
{
    int closed = 0;

    ch_store_close(s, on_closed, &closed);
    while (!closed)
        uv_run(loop, UV_RUN_ONCE);
}

/* Close the fixture's store and open it again with keys. */
static void reopen(fx *f, const char *keys)
{
    close_store(&f->loop, f->s);
    f->s = open_store(&f->loop, keys, 0);
}

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->s = open_store(&f->loop, G.key1, 0);
    *state = f;
    return 0;
}

/* Close the store; the loop must end with no handle left. */
static int fx_teardown(void **state)
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
static int call_err(fx *f, const char *op, json_t *params, json_t **out, char *err, size_t n)
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

static int call(fx *f, const char *op, json_t *params, json_t **out)
{
    char err[200];

    return call_err(f, op, params, out, err, sizeof err);
}

/* Call op, which must succeed; its result (caller decrefs). */
static json_t *ok(fx *f, const char *op, json_t *params)
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
static int64_t jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* A new room of kind with a unique key; its id. */
static int64_t new_room(fx *f, const char *kind)
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
static int64_t post(fx *f, int64_t room, int64_t sender, const char *text)
{
    json_t *r = ok(f, "message.append", J("{s:I, s:I, s:s}", "room_id", I(room), "sender_id",
                                          I(sender), "content", text));
    int64_t id = jint(r, "id");

    assert_false(TRUE(r, "duplicate"));
    json_decref(r);
    return id;
}

/* message.history with params; the messages array (new reference). */
static json_t *history(fx *f, json_t *params)
{
    json_t *r = ok(f, "message.history", params);
    json_t *m = json_incref(GET(r, "messages"));

    json_decref(r);
    assert_true(json_is_array(m));
    return m;
}

/* The ids of an array of messages (or of integers) as "1,2,3" in buf. */
static char *ids_text(const json_t *arr, char *buf, size_t n)
{
    size_t i, off = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(arr, i, v) {
        long long id = json_is_integer(v) ? json_integer_value(v) : jint(v, "id");

        off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%lld", i ? "," : "", id);
    }
    return buf;
}

/* n int64_t values as "1,2,3" in buf. */
static char *list(char *buf, size_t size, int n, ...)
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
static char *raw(const char *fmt, ...)
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
static int64_t raw_int(const char *fmt, ...)
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

/* Does the SQLite file (suffix "" or "-wal") contain needle? */
static int file_contains(const char *suffix, const char *needle)
{
    char path[sizeof G.db + 8];
    FILE *fp;
    char *buf;
    long size;
    size_t got;
    int found;

    snprintf(path, sizeof path, "%s%s", G.db, suffix);
    if (!(fp = fopen(path, "rb")))
        return 0;
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)size + 1);
    got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    found = memmem(buf, got, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

/* ---- rooms, participants, users ------------------------------------------- */

static void test_rooms(void **state)
{
    fx *f = *state;
    char key[210];
    json_t *r, *room;
    int64_t id;

    snprintf(key, sizeof key, "chat-room:%d", (int)getpid());
    r = ok(f, "room.get_or_create", J("{s:s, s:s, s:s, s:b}", "key", key, "kind", "chat-room",
                                      "name", "Seven", "is_private", 1));
    room = GET(r, "room");
    id = jint(room, "id");
    assert_true(TRUE(r, "created"));
    assert_string_equal(STR(room, "name"), "Seven");
    assert_true(TRUE(room, "is_private") && TRUE(room, "is_active"));
    assert_true(jint(room, "created_at") > 1600000000000LL);
    json_decref(r);
    r = ok(f, "room.get_or_create", J("{s:s, s:s}", "key", key, "kind", "chat-room"));
    assert_false(TRUE(r, "created"));
    assert_int_equal(jint(GET(r, "room"), "id"), id);
    json_decref(r);
    r = ok(f, "room.get", J("{s:s}", "key", key));
    assert_int_equal(jint(GET(r, "room"), "id"), id);
    json_decref(r);
    DO("room.set_active", "{s:I, s:b}", "id", I(id), "is_active", 0);
    r = ok(f, "room.get", J("{s:I}", "id", I(id)));
    assert_false(TRUE(GET(r, "room"), "is_active"));
    json_decref(r);
    EXPECT(CH_STORE_ENOENT, "room.get", "{s:I}", "id", BIG);
    EXPECT(CH_STORE_ENOENT, "room.get", "{s:s}", "key", "no-such");
    EXPECT(CH_STORE_ENOENT, "room.set_active", "{s:I, s:b}", "id", BIG, "is_active", 1);
    memset(key, 'k', 201);
    key[201] = '\0';
    EXPECT(CH_STORE_EINVAL, "room.get_or_create", "{s:s, s:s}", "key", key, "kind", "x");
    EXPECT(CH_STORE_EINVAL, "room.get_or_create", "{s:s}", "key", "a");
    EXPECT(CH_STORE_EINVAL, "room.get_or_create", "{s:s, s:s, s:i}", "key", "a", "kind", "x",
           "is_private", 1);
    EXPECT(CH_STORE_EINVAL, "room.get", "{s:I, s:s}", "id", I(id), "key", "a");
    EXPECT(CH_STORE_EINVAL, "room.get", "{s:s}", "id", "7");
    EXPECT(CH_STORE_EINVAL, "no.such.op", "{}");
    assert_int_equal(call(f, "room.get", json_array(), NULL), CH_STORE_EINVAL);
}

static void test_participants(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "support");
    char buf[64];
    json_t *r;

#define RU "{s:I, s:I}", "room_id", I(room), "user_id"
    DO("participant.add", RU, I(3));
    r = ok(f, "participant.add", J(RU, I(12)));
    assert_true(TRUE(r, "added"));
    json_decref(r);
    r = ok(f, "participant.add", J(RU, I(12)));
    assert_false(TRUE(r, "added"));
    json_decref(r);
    r = ok(f, "participant.check", J(RU, I(12)));
    assert_true(TRUE(r, "is_participant"));
    json_decref(r);
    r = ok(f, "participant.check", J(RU, I(99)));
    assert_false(TRUE(r, "is_participant"));
    json_decref(r);
    r = ok(f, "participant.list", J("{s:I}", "room_id", I(room)));
    assert_string_equal(ids_text(GET(r, "user_ids"), buf, sizeof buf), "3,12");
    json_decref(r);
    r = ok(f, "participant.remove", J(RU, I(12)));
    assert_true(TRUE(r, "removed"));
    json_decref(r);
    r = ok(f, "participant.remove", J(RU, I(12)));
    assert_false(TRUE(r, "removed"));
    json_decref(r);
    EXPECT(CH_STORE_EINVAL, "participant.add", RU, I(0));
    EXPECT(CH_STORE_EINVAL, "participant.check", "{s:I}", "room_id", I(room));
#undef RU
    EXPECT(CH_STORE_ENOENT, "participant.add", "{s:I, s:I}", "room_id", BIG, "user_id", I(1));
    EXPECT(CH_STORE_ENOENT, "participant.list", "{s:I}", "room_id", BIG);
}

static void test_users(void **state)
{
    fx *f = *state;
    char name[64], email[80];
    json_t *r, *u;
    int64_t id;

    snprintf(name, sizeof name, "alice.%d_%d", (int)getpid(), ++G.seq);
    snprintf(email, sizeof email, "%s@example.org", name);
    r = ok(f, "user.create", J("{s:s, s:s, s:s, s:s}", "username", name, "email", email,
                               "password", "pbkdf2_sha256$1$x$y", "role", "publisher"));
    u = GET(r, "user");
    id = jint(u, "id");
    assert_string_equal(STR(u, "role"), "publisher");
    assert_null(GET(u, "password"));
    json_decref(r);
    EXPECT(CH_STORE_EEXIST, "user.create", "{s:s, s:s}", "username", name, "password", "h");
    EXPECT(CH_STORE_EEXIST, "user.create", "{s:s, s:s, s:s}", "username", "other", "email", email,
           "password", "h");
    r = ok(f, "user.get", J("{s:s}", "email", email));
    u = GET(r, "user");
    assert_int_equal(jint(u, "id"), id);
    assert_string_equal(STR(u, "password"), "pbkdf2_sha256$1$x$y");
    assert_true(TRUE(u, "is_active"));
    json_decref(r);
    r = ok(f, "user.get", J("{s:I}", "id", I(id)));
    assert_string_equal(STR(GET(r, "user"), "username"), name);
    json_decref(r);
    r = ok(f, "user.list", J("{}"));
    assert_true(json_array_size(GET(r, "users")) >= 1);
    assert_null(GET(NTH(GET(r, "users"), 0), "password"));
    json_decref(r);
    EXPECT(CH_STORE_ENOENT, "user.get", "{s:s}", "username", "nobody-here");
    EXPECT(CH_STORE_EINVAL, "user.get", "{s:I, s:s}", "id", I(id), "username", name);
    EXPECT(CH_STORE_EINVAL, "user.create", "{s:s, s:s}", "username", "bad name", "password", "h");
    EXPECT(CH_STORE_EINVAL, "user.create", "{s:s, s:s, s:s}", "username", "b", "password", "h",
           "role", "root");
    EXPECT(CH_STORE_EINVAL, "user.create", "{s:s}", "username", "b");
}

/* ---- messages --------------------------------------------------------------- */

static void test_append_dedup(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room");
    json_t *a, *b, *m;
    char *big = malloc(65538);
    const char *cmid;

#define AP "{s:I, s:I, s:s, s:s}", "room_id", I(room), "sender_id", I(7), "content"
    a = ok(f, "message.append", J(AP, "hello", "client_msg_id", "msg-1"));
    b = ok(f, "message.append", J(AP, "hello again", "client_msg_id", "msg-1"));
    assert_false(TRUE(a, "duplicate"));
    assert_true(TRUE(b, "duplicate"));
    assert_int_equal(jint(a, "id"), jint(b, "id"));
    assert_int_equal(jint(a, "created_at"), jint(b, "created_at"));
    assert_string_equal(STR(b, "client_msg_id"), "msg-1");
    assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE client_msg_id = 'msg-1'"
                             " AND room_id = %lld", (long long)room), 1);
    json_decref(a);
    json_decref(b);
    /* a generated client_msg_id: "srv-" and 32 hex digits, new each time */
    a = ok(f, "message.append", J("{s:I, s:I, s:s, s:{s:s}}", "room_id", I(room), "sender_id", I(7),
                                  "content", "x", "extra", "sender_role", "publisher"));
    b = ok(f, "message.append",
           J("{s:I, s:I, s:s}", "room_id", I(room), "sender_id", I(7), "content", "x"));
    cmid = STR(a, "client_msg_id");
    assert_int_equal(strlen(cmid), 36);
    assert_int_equal(strncmp(cmid, "srv-", 4), 0);
    assert_int_equal(strspn(cmid + 4, "0123456789abcdef"), 32);
    assert_string_not_equal(cmid, STR(b, "client_msg_id"));
    assert_true(jint(b, "id") > jint(a, "id"));
    m = ok(f, "message.get", J("{s:I}", "id", I(jint(a, "id"))));
    assert_string_equal(STR(GET(GET(m, "message"), "extra"), "sender_role"), "publisher");
    assert_string_equal(STR(GET(m, "message"), "client_msg_id"), cmid);
    json_decref(m);
    json_decref(a);
    json_decref(b);
    /* 64 KiB of content is fine, one byte more is not */
    memset(big, 'z', 65537);
    big[65536] = '\0';
    DO("message.append", AP, big, "client_msg_id", "big");
    big[65536] = 'z';
    big[65537] = '\0';
    EXPECT(CH_STORE_EINVAL, "message.append", AP, big, "client_msg_id", "big2");
    free(big);
    EXPECT(CH_STORE_EINVAL, "message.append", AP, "x", "client_msg_id", "");
    EXPECT(CH_STORE_EINVAL, "message.append", AP, "x", "extra", "not an object");
#undef AP
    EXPECT(CH_STORE_EINVAL, "message.append", "{s:I, s:I}", "room_id", I(room), "sender_id", I(7));
    EXPECT(CH_STORE_ENOENT, "message.append", "{s:I, s:I, s:s}", "room_id", BIG, "sender_id", I(7),
           "content", "x");
}

/* Idempotent retries at the level of the hooks (PostgreSQL's steps): an
 * id that an earlier attempt of the same request allocated is no
 * duplicate; any other existing id is. */
static void test_append_retry_hooks(void **state)
{
    const ch_store_op *op = ch_store_op_find("message.append");
    ch_store_req req = {.op = op};
    char err[200], *line = ch_keyring_new_key_line(1);
    ch_keyring *keys = ch_keyring_parse(line, err, sizeof err);
    const ch_store_step *st;
    json_t *rows;
    size_t n;

    (void)state;
    assert_non_null(keys);
    st = ch_store_op_steps(op, CH_STORE_PG, &n);
    assert_int_equal(n, 2);
    req.keys = keys;
    req.ctx = json_object();
    req.params = J("{s:I, s:I, s:s, s:s}", "room_id", I(1), "sender_id", I(2), "content", "hi",
                   "client_msg_id", "c1");
    rows = J("[{s:s, s:I}]", "key", "chat-room:1", "new_id", I(77));
    assert_int_equal(st[0].rows(&req, rows), CH_STEP_NEXT);
    json_decref(rows);
    for (int other = 0; other < 2; other++) {
        ch_store_req_rewind(&req);
        rows = J("[{s:I, s:I, s:I}]", "id", I(other ? 70 : 77), "created_at", I(5),
                 "duplicate", I(1));
        assert_int_equal(st[1].rows(&req, rows), CH_STEP_DONE);
        assert_int_equal(TRUE(req.result, "duplicate"), other);
        json_decref(rows);
    }
    ch_store_req_rewind(&req);
    json_decref(req.params);
    json_decref(req.ctx);
    ch_keyring_free(keys);
    free(line);
}

static void test_history(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), ids[30], before = 0;
    json_t *m, *all = json_array(), *tail = json_array(), *paged = json_array(), *last;
    char got[512], want[512];

    for (int i = 0; i < 30; i++) {
        snprintf(got, sizeof got, "message %d", i);
        ids[i] = post(f, room, 1 + i % 3, got);
        if (i >= 15)
            json_array_append_new(tail, json_integer(ids[i]));
        json_array_append_new(all, json_integer(ids[i]));
    }
#define H(...) history(f, J("{s:I" __VA_ARGS__))
    m = H(", s:i}", "room_id", I(room), "limit", 10);
    last = NTH(m, 9);
    assert_int_equal(json_array_size(m), 10);
    assert_int_equal(jint(NTH(m, 0), "id"), ids[20]);
    assert_int_equal(jint(last, "id"), ids[29]);
    assert_string_equal(STR(last, "content"), "message 29");
    assert_int_equal(jint(last, "sender_id"), 1 + 29 % 3);
    assert_true(json_is_null(GET(last, "edited_at")) && json_is_null(GET(last, "extra")));
    assert_false(TRUE(last, "is_deleted"));
    assert_int_equal(json_array_size(GET(last, "read_by")), 0);
    json_decref(m);
    /* after_id: exactly the later ones, oldest first, up to limit */
    m = H(", s:I, s:i}", "room_id", I(room), "after_id", I(ids[14]), "limit", 500);
    assert_string_equal(ids_text(m, got, sizeof got), ids_text(tail, want, sizeof want));
    json_decref(m);
    m = H(", s:I, s:i}", "room_id", I(room), "after_id", I(ids[14]), "limit", 5);
    assert_string_equal(ids_text(m, got, sizeof got),
                        list(want, sizeof want, 5, ids[15], ids[16], ids[17], ids[18], ids[19]));
    json_decref(m);
    /* before_id paging from the end gives everything, in order */
    do {
        m = before ? H(", s:I, s:i}", "room_id", I(room), "before_id", I(before), "limit", 7)
                   : H(", s:i}", "room_id", I(room), "limit", 7);
        assert_true(json_array_size(m) <= 7);
        before = json_array_size(m) ? jint(NTH(m, 0), "id") : 0;
        json_array_extend(m, paged);
        json_decref(paged);
        paged = m;
    } while (before);
    assert_string_equal(ids_text(paged, got, sizeof got), ids_text(all, want, sizeof want));
    m = H("}", "room_id", I(room));
    assert_int_equal(json_array_size(m), 30); /* the default limit is 50 */
#undef H
    json_decref(m);
    json_decref(paged);
    json_decref(all);
    json_decref(tail);
    EXPECT(CH_STORE_EINVAL, "message.history", "{s:I, s:i}", "room_id", I(room), "limit", 0);
    EXPECT(CH_STORE_EINVAL, "message.history", "{s:I, s:i}", "room_id", I(room), "limit", 501);
    EXPECT(CH_STORE_ENOENT, "message.history", "{s:I}", "room_id", BIG);
}

static void test_edit_delete(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), id = post(f, room, 5, "first");
    char *nonce = raw("SELECT nonce FROM messages WHERE id = %lld", (long long)id), *nonce2;
    json_t *r, *m;

#define ED(who) "{s:I, s:I, s:s}", "id", I(id), "sender_id", I(who), "content"
#define DEL(who) "{s:I, s:I}", "id", I(id), "sender_id", I(who)
    EXPECT(CH_STORE_EPERM, "message.edit", ED(6), "not yours");
    r = ok(f, "message.edit", J(ED(5), "second"));
    m = GET(r, "message");
    assert_string_equal(STR(m, "content"), "second");
    assert_true(jint(m, "edited_at") >= jint(m, "created_at"));
    json_decref(r);
    nonce2 = raw("SELECT nonce FROM messages WHERE id = %lld", (long long)id);
    assert_string_not_equal(nonce, nonce2); /* sealed again with a fresh nonce */
    r = ok(f, "message.get", J("{s:I}", "id", I(id)));
    assert_string_equal(STR(GET(r, "message"), "content"), "second");
    json_decref(r);
    EXPECT(CH_STORE_EPERM, "message.delete", DEL(6));
    r = ok(f, "message.delete", J(DEL(5)));
    assert_true(TRUE(GET(r, "message"), "is_deleted"));
    assert_string_equal(STR(GET(r, "message"), "content"), "");
    json_decref(r);
    r = ok(f, "message.get", J("{s:I}", "id", I(id)));
    assert_string_equal(STR(GET(r, "message"), "content"), "");
    json_decref(r);
    EXPECT(CH_STORE_EPERM, "message.edit", ED(5), "again");
    EXPECT(CH_STORE_EPERM, "message.delete", DEL(5));
    EXPECT(CH_STORE_EINVAL, "message.edit", DEL(5));
    id = BIG;
    EXPECT(CH_STORE_ENOENT, "message.edit", ED(5), "x");
    EXPECT(CH_STORE_ENOENT, "message.delete", DEL(5));
    EXPECT(CH_STORE_ENOENT, "message.get", "{s:I}", "id", I(id));
#undef ED
#undef DEL
    free(nonce);
    free(nonce2);
}

/* ---- read receipts and unread counts ----------------------------------------- */

/* The "marked" ids of a read.* call as text in buf. */
static char *marked(fx *f, const char *op, json_t *params, char *buf, size_t n)
{
    json_t *r = ok(f, op, params);

    ids_text(GET(r, "marked"), buf, n);
    json_decref(r);
    return buf;
}

/* read.mark's parameters: user and the n message ids that follow. */
static json_t *mark(int64_t user, int n, ...)
{
    json_t *ids = json_array();
    va_list ap;

    va_start(ap, n);
    for (int i = 0; i < n; i++)
        json_array_append_new(ids, json_integer(va_arg(ap, int64_t)));
    va_end(ap);
    return J("{s:I, s:o}", "user_id", I(user), "message_ids", ids);
}

static void test_read_receipts(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), a1, a2, b1, b2, gone;
    char got[128], want[128];
    json_t *m, *many = json_array();

    a1 = post(f, room, 1, "a1");
    b1 = post(f, room, 2, "b1");
    a2 = post(f, room, 1, "a2");
    b2 = post(f, room, 2, "b2");
    gone = post(f, room, 2, "b3");
    DO("message.delete", "{s:I, s:I}", "id", I(gone), "sender_id", I(2));
#define BULK(u) "{s:I, s:I}", "user_id", I(u), "room_id", I(room)
    /* alice (1) reads everything: only bob's live messages are marked */
    assert_string_equal(marked(f, "read.mark", mark(1, 5, a1, b1, a2, b2, gone), got, sizeof got),
                        list(want, sizeof want, 2, b1, b2));
    assert_string_equal(marked(f, "read.mark", mark(1, 2, b1, b2), got, sizeof got), "");
    /* user 3 reads in bulk up to a2, then the rest; bob (2) alice's only */
    assert_string_equal(marked(f, "read.bulk", J("{s:I, s:I, s:I}", "user_id", I(3), "room_id",
                                                 I(room), "up_to_id", I(a2)), got, sizeof got),
                        list(want, sizeof want, 3, a1, b1, a2));
    assert_string_equal(marked(f, "read.bulk", J(BULK(3)), got, sizeof got),
                        list(want, sizeof want, 1, b2));
    assert_string_equal(marked(f, "read.bulk", J(BULK(2)), got, sizeof got),
                        list(want, sizeof want, 2, a1, a2));
#undef BULK
    m = history(f, J("{s:I}", "room_id", I(room)));
    assert_string_equal(ids_text(GET(NTH(m, 0), "read_by"), got, sizeof got), "2,3");
    assert_string_equal(ids_text(GET(NTH(m, 1), "read_by"), got, sizeof got), "1,3");
    assert_string_equal(ids_text(GET(NTH(m, 4), "read_by"), got, sizeof got), "");
    json_decref(m);
    m = ok(f, "message.get", J("{s:I}", "id", I(b2)));
    assert_string_equal(ids_text(GET(GET(m, "message"), "read_by"), got, sizeof got), "1,3");
    json_decref(m);
    for (int i = 1; i <= 501; i++)
        json_array_append_new(many, json_integer(i));
    EXPECT(CH_STORE_EINVAL, "read.mark", "{s:I, s:o}", "user_id", I(1), "message_ids", many);
    EXPECT(CH_STORE_EINVAL, "read.mark", "{s:I, s:[]}", "user_id", I(1), "message_ids");
    EXPECT(CH_STORE_EINVAL, "read.mark", "{s:I, s:[s]}", "user_id", I(1), "message_ids", "7");
    EXPECT(CH_STORE_EINVAL, "read.bulk", "{s:I}", "user_id", I(1));
}

/* The unread count of room for user (from unread.counts); -1 if absent. */
static int64_t unread(fx *f, int64_t user, int64_t room)
{
    json_t *r = ok(f, "unread.counts", J("{s:I}", "user_id", I(user)));
    char key[24];
    json_t *v;
    int64_t n;

    snprintf(key, sizeof key, "%lld", (long long)room);
    v = GET(GET(r, "counts"), key);
    n = v ? json_integer_value(v) : -1;
    json_decref(r);
    return n;
}

static void test_unread_counts(void **state)
{
    fx *f = *state;
    int64_t r1 = new_room(f, "chats"), r2 = new_room(f, "chats"), r3 = new_room(f, "chats");
    int64_t user = 900000 + getpid() % 1000, other = user + 1, m;
    json_t *res, *rooms;

    for (int i = 0; i < 3; i++)
        DO("participant.add", "{s:I, s:I}", "room_id", I(i == 0 ? r1 : i == 1 ? r2 : r3),
           "user_id", I(user));
    post(f, r1, other, "one");
    m = post(f, r1, other, "two");
    post(f, r1, user, "mine");
    post(f, r2, other, "three");
    assert_int_equal(unread(f, user, r1), 2);
    assert_int_equal(unread(f, user, r2), 1);
    assert_int_equal(unread(f, user, r3), 0);
    assert_int_equal(unread(f, other, r1), -1); /* not a participant */
    DO("read.mark", "{s:I, s:[I]}", "user_id", I(user), "message_ids", I(m));
    assert_int_equal(unread(f, user, r1), 1);
    DO("message.delete", "{s:I, s:I}", "id", I(m - 1), "sender_id", I(other));
    assert_int_equal(unread(f, user, r1), 0);
    /* rooms.for_user: newest activity first, with unread and last message */
    res = ok(f, "rooms.for_user", J("{s:I}", "user_id", I(user)));
    rooms = GET(res, "rooms");
    assert_int_equal(json_array_size(rooms), 3);
    assert_int_equal(jint(NTH(rooms, 0), "id"), r2);
    assert_int_equal(jint(NTH(rooms, 0), "unread"), 1);
    assert_string_equal(STR(GET(NTH(rooms, 0), "last_message"), "content"), "three");
    assert_int_equal(jint(NTH(rooms, 1), "id"), r1);
    assert_string_equal(STR(GET(NTH(rooms, 1), "last_message"), "content"), "mine");
    assert_int_equal(jint(NTH(rooms, 2), "id"), r3);
    assert_true(json_is_null(GET(NTH(rooms, 2), "last_message")));
    json_decref(res);
    res = ok(f, "rooms.for_user", J("{s:I}", "user_id", BIG));
    assert_int_equal(json_array_size(GET(res, "rooms")), 0);
    json_decref(res);
    EXPECT(CH_STORE_EINVAL, "unread.counts", "{s:s}", "user_id", "x");
}

/* ---- cleanup and imports ------------------------------------------------------ */

static void test_cleanup(void **state)
{
    fx *f = *state;
    int64_t empty = new_room(f, "thread"), used = new_room(f, "thread");
    char got[64], want[64];
    json_t *r;

    post(f, used, 1, "keep me");
    DO("participant.add", "{s:I, s:I}", "room_id", I(empty), "user_id", I(1));
    list(want, sizeof want, 1, empty);
    r = ok(f, "cleanup.empty_threads", J("{s:b}", "dry_run", 1));
    assert_string_equal(ids_text(GET(r, "rooms"), got, sizeof got), want);
    assert_false(TRUE(r, "deleted"));
    json_decref(r);
    DO("room.get", "{s:I}", "id", I(empty));
    r = ok(f, "cleanup.empty_threads", J("{}"));
    assert_string_equal(ids_text(GET(r, "rooms"), got, sizeof got), want);
    assert_true(TRUE(r, "deleted"));
    json_decref(r);
    EXPECT(CH_STORE_ENOENT, "room.get", "{s:I}", "id", I(empty));
    assert_int_equal(raw_int("SELECT count(*) FROM participants WHERE room_id = %lld",
                             (long long)empty), 0);
    DO("room.get", "{s:I}", "id", I(used));
    r = ok(f, "cleanup.empty_threads", J("{s:s}", "kind", "no-such-kind"));
    assert_int_equal(json_array_size(GET(r, "rooms")), 0);
    json_decref(r);
}

/* Call an import twice: imported the first time, not the second. */
static void import_twice(fx *f, const char *op, json_t *params)
{
    json_t *r = ok(f, op, json_deep_copy(params));

    assert_true(TRUE(r, "imported"));
    json_decref(r);
    r = ok(f, op, params);
    assert_false(TRUE(r, "imported"));
    json_decref(r);
}

static void test_imports(void **state)
{
    fx *f = *state;
    json_int_t rid = 7000000 + G.seq, uid = 8000000 + G.seq, mid = 9000000 + G.seq, t0 = I(15e11);
    char key[64], name[64];
    json_t *r, *m;

    snprintf(key, sizeof key, "import:%lld", (long long)rid);
    snprintf(name, sizeof name, "imported%lld", (long long)uid);
    import_twice(f, "room.import", J("{s:I, s:s, s:s, s:s, s:b, s:I, s:b}", "id", rid, "key", key,
                                     "kind", "chat-room", "name", "old", "is_private", 0,
                                     "created_at", t0, "is_active", 1));
    import_twice(f, "user.import", J("{s:I, s:s, s:n, s:s, s:s, s:b, s:I}", "id", uid, "username",
                                     name, "email", "password", "h", "role", "admin", "is_active",
                                     1, "created_at", t0));
    import_twice(f, "message.import",
                 J("{s:I, s:I, s:I, s:s, s:I, s:I, s:s, s:{s:s}}", "id", mid, "room_id", rid,
                   "sender_id", uid, "content", "from Django", "created_at", t0 + 1, "edited_at",
                   t0 + 2, "client_msg_id", "django-1", "extra", "sender_role", "admin"));
    m = ok(f, "message.get", J("{s:I}", "id", mid));
    assert_string_equal(STR(GET(m, "message"), "content"), "from Django");
    assert_int_equal(jint(GET(m, "message"), "created_at"), t0 + 1);
    assert_int_equal(jint(GET(m, "message"), "edited_at"), t0 + 2);
    json_decref(m);
    /* ids given out afterwards are above the imported ones */
    assert_true(post(f, rid, uid, "after the import") > mid);
    assert_true(new_room(f, "chat-room") > rid);
    snprintf(name, sizeof name, "fresh%d_%d", (int)getpid(), ++G.seq);
    r = ok(f, "user.create", J("{s:s, s:s}", "username", name, "password", "h"));
    assert_true(jint(GET(r, "user"), "id") > uid);
    json_decref(r);
    EXPECT(CH_STORE_ENOENT, "message.import", "{s:I, s:I, s:I, s:s, s:I, s:s}", "id", mid + 1,
           "room_id", BIG, "sender_id", uid, "content", "x", "created_at", t0, "client_msg_id",
           "c");
    EXPECT(CH_STORE_EINVAL, "room.import", "{s:I, s:s}", "id", rid, "key", key);
}

/* ---- group commit, queue bound, close --------------------------------------- */

typedef struct slot {
    int done, status;
    int64_t id;
} slot;

static void on_slot(int status, json_t *result, const char *error, void *arg)
{
    slot *s = arg;

    (void)error;
    s->done = 1;
    s->status = status;
    s->id = status == 0 ? json_integer_value(GET(result, "id")) : 0;
}

/* Run the loop until the n slots are done; all must have succeeded. */
static void wait_slots(fx *f, slot *s, int n)
{
    int left = n;

    while (left > 0) {
        uv_run(&f->loop, UV_RUN_ONCE);
        left = n;
        for (int i = 0; i < n; i++)
            left -= s[i].done;
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(s[i].status, 0);
}

/* Queue n appends to room before running the loop, then run it until all
 * are done: each must succeed, ids increasing in submission order.
 * Returns the seconds it took. */
static double append_many(fx *f, int64_t room, int n)
{
    slot *s = calloc((size_t)n, sizeof *s);
    struct timeval t0, t1;

    gettimeofday(&t0, NULL);
    for (int i = 0; i < n; i++)
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s}", "room_id", I(room), "sender_id",
                                         I(1 + i % 5), "content", "group commit"),
                                       on_slot, &s[i]),
                         0);
    wait_slots(f, s, n);
    gettimeofday(&t1, NULL);
    for (int i = 1; i < n; i++)
        assert_true(s[i].id > s[i - 1].id);
    free(s);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
}

static void test_group_commit(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room");
    json_t *m;

    append_many(f, room, 500);
    m = history(f, J("{s:I, s:i}", "room_id", I(room), "limit", 500));
    assert_int_equal(json_array_size(m), 500);
    json_decref(m);
}

static void test_append_rate(void **state)
{
    fx *f = *state;
    double secs = append_many(f, new_room(f, "chat-room"), 10000);

    print_message("    %s: 10000 appends in %.3f s = %.0f appends/s\n",
                  G.pg ? "postgresql" : "sqlite", secs, 10000 / secs);
}

static void test_queue_bound(void **state)
{
    fx *f = *state;
    ch_store *small = open_store(&f->loop, G.key1, 10);
    slot s[10] = {{0}};

    for (int i = 0; i < 10; i++)
        assert_int_equal(ch_store_call(small, "user.list", J("{}"), on_slot, &s[i]), 0);
    assert_int_equal(ch_store_call(small, "user.list", J("{}"), on_slot, NULL), CH_STORE_EBUSY);
    wait_slots(f, s, 10);
    close_store(&f->loop, small);
}

static void test_close_drains(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room");
    slot s[50] = {{0}};
    int closed = 0;

    for (int i = 0; i < 50; i++)
        assert_int_equal(ch_store_call(f->s, i % 2 ? "message.append" : "room.get",
                                       J("{s:I, s:I, s:I, s:s}", "id", I(room), "room_id", I(room),
                                         "sender_id", I(1), "content", "drain"),
                                       on_slot, &s[i]),
                         0);
    ch_store_close(f->s, on_closed, &closed);
    assert_int_equal(ch_store_call(f->s, "user.list", J("{}"), on_slot, NULL), CH_STORE_EBUSY);
    f->s = NULL;
    while (!closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    for (int i = 0; i < 50; i++)
        assert_true(s[i].done && s[i].status == 0);
    assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE room_id = %lld", (long long)room),
                     25);
}

static void test_status_and_none(void **state)
{
    fx *f = *state;
    json_t *st = ch_store_status(f->s);
    ch_store_opts none = {.url = "none"}, bad = {.url = "mysql://x"};
    char err[200];
    ch_store *s;

    assert_string_equal(STR(st, "backend"), G.pg ? "postgresql" : "sqlite");
    assert_string_equal(STR(st, "state"), "ok");
    json_decref(st);
    s = ch_store_open(&f->loop, &none, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(ch_store_call(s, "user.list", J("{}"), on_slot, NULL), CH_STORE_EIO);
    close_store(&f->loop, s);
    assert_null(ch_store_open(&f->loop, &bad, err, sizeof err));
    /* sqlite::memory: is a private database, not a file named so */
    none.url = "sqlite::memory:";
    none.key_file = G.key1;
    s = ch_store_open(&f->loop, &none, err, sizeof err);
    assert_non_null(s);
    close_store(&f->loop, f->s);
    f->s = s;
    assert_true(new_room(f, "in-memory") > 0);
    assert_int_equal(access(":memory:", F_OK), -1);
}

/* ---- encryption at rest, keys, migrations ------------------------------------ */

static void test_no_plaintext(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), id;
    char marker[64];
    json_t *m;

    snprintf(marker, sizeof marker, "PLAINTEXT-MARKER-%d-%d", (int)getpid(), ++G.seq);
    id = post(f, room, 1, marker);
    post(f, room, 2, marker);
    DO("message.edit", "{s:I, s:I, s:s}", "id", I(id), "sender_id", I(1), "content", marker);
    m = history(f, J("{s:I}", "room_id", I(room)));
    assert_string_equal(STR(NTH(m, 0), "content"), marker);
    assert_string_equal(STR(NTH(m, 1), "content"), marker);
    json_decref(m);
    assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE content LIKE '%%%s%%'"
                             " OR nonce LIKE '%%%s%%'", marker, marker), 0);
    if (G.pg)
        return;
    close_store(&f->loop, f->s);
    f->s = NULL;
    assert_false(file_contains("", marker));
    assert_false(file_contains("-wal", marker));
    assert_true(file_contains("", "chat-room:")); /* the scan does see plain text */
    f->s = open_store(&f->loop, G.key1, 0);
}

/* message.get's status for id. */
static int get_status(fx *f, int64_t id, char *err, size_t n)
{
    json_t *out;
    int rc = call_err(f, "message.get", J("{s:I}", "id", I(id)), &out, err, n);

    json_decref(out);
    return rc;
}

static void test_tamper(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), a = post(f, room, 1, "a"), b = post(f, room, 1, "b");
#define COL(c, id) raw("SELECT " c " FROM messages WHERE id = %lld", (long long)(id))
    char *ca = COL("content", a), *na = COL("nonce", a), *cb = COL("content", b);
    char *nb = COL("nonce", b), *bad = strdup(ca), err[200];
#undef COL
#define SET(c, n, id)                                                                        \
    free(raw("UPDATE messages SET content = '%s', nonce = '%s' WHERE id = %lld", c, n,        \
             (long long)(id)))

    bad[2] = bad[2] == 'A' ? 'B' : 'A'; /* a few bits of the ciphertext changed */
    SET(bad, na, a);
    assert_int_equal(get_status(f, a, err, sizeof err), CH_STORE_EIO);
    assert_non_null(strstr(err, "cannot be opened"));
    EXPECT(CH_STORE_EIO, "message.history", "{s:I}", "room_id", I(room));
    assert_int_equal(get_status(f, b, err, sizeof err), 0);
    /* b's sealed content moved into a's row: bound to b's id, it fails */
    SET(cb, nb, a);
    assert_int_equal(get_status(f, a, err, sizeof err), CH_STORE_EIO);
    SET(ca, na, a);
    assert_int_equal(get_status(f, a, err, sizeof err), 0);
#undef SET
    free(ca);
    free(na);
    free(cb);
    free(nb);
    free(bad);
}

static void test_key_rotation(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), old = post(f, room, 1, "under key 1"), neu;
    char err[200];
    json_t *m;

    reopen(f, G.key12);
    neu = post(f, room, 1, "under key 2");
    m = history(f, J("{s:I}", "room_id", I(room)));
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(STR(NTH(m, 0), "content"), "under key 1");
    assert_string_equal(STR(NTH(m, 1), "content"), "under key 2");
    json_decref(m);
    assert_int_equal(raw_int("SELECT key_id FROM messages WHERE id = %lld", (long long)old), 1);
    assert_int_equal(raw_int("SELECT key_id FROM messages WHERE id = %lld", (long long)neu), 2);
    /* without key 2 the new row is an error, never plaintext or garbage */
    reopen(f, G.key1);
    assert_int_equal(get_status(f, old, err, sizeof err), 0);
    assert_int_equal(get_status(f, neu, err, sizeof err), CH_STORE_EIO);
}

static void test_migrations(void **state)
{
    fx *f = *state;
    ch_store *again = open_store(&f->loop, G.key1, 0);
    ch_store_opts o = {.url = G.url, .key_file = G.key1};
    size_t n;

    ch_store_migrations(G.pg ? CH_STORE_PG : CH_STORE_SQLITE, &n);
    close_store(&f->loop, again);
    assert_int_equal(ch_store_migrate_cli(&o), 0);
    assert_int_equal(raw_int("SELECT max(version) FROM schema_migrations"), (int64_t)n);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_migrations"), (int64_t)n);
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

/* Run "<verb> DATABASE <db><tail>" on the server at url: 0, or 1 after
 * printing why (a failure, never a skip). */
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
        fprintf(stderr, "test_store: %s on %s: %s", text, url, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return failed;
}

/* Write a keyring file holding lines a and b (may be NULL), mode 0600. */
static void write_keys(const char *path, const char *a, const char *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, a, strlen(a)) < 0 || (b && write(fd, b, strlen(b)) < 0) ||
        close(fd) != 0) {
        perror(path);
        exit(1);
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_rooms), T(test_participants), T(test_users), T(test_append_dedup),
        cmocka_unit_test(test_append_retry_hooks), T(test_history), T(test_edit_delete),
        T(test_read_receipts), T(test_unread_counts), T(test_cleanup), T(test_imports),
        T(test_group_commit), T(test_append_rate), T(test_queue_bound), T(test_close_drains),
        T(test_status_and_none), T(test_no_plaintext), T(test_tamper), T(test_key_rotation),
        T(test_migrations),
    };
#undef T
    const struct CMUnitTest pg_required[] = {cmocka_unit_test(test_pg_required)};
    const char *pg = getenv("CHANHOST_TEST_PG_URL");
    char *k1 = ch_keyring_new_key_line(1), *k2 = ch_keyring_new_key_line(2), db[64];
    int failed;

    snprintf(G.dir, sizeof G.dir, "/tmp/chanhost-store-XXXXXX");
    if (!k1 || !k2 || !mkdtemp(G.dir))
        return 1;
    snprintf(G.key1, sizeof G.key1, "%s/keys1", G.dir);
    snprintf(G.key12, sizeof G.key12, "%s/keys12", G.dir);
    write_keys(G.key1, k1, NULL);
    write_keys(G.key12, k1, k2);
    snprintf(G.db, sizeof G.db, "%s/var/s.db", G.dir);
    snprintf(G.url, sizeof G.url, "sqlite:%s", G.db);
    failed = cmocka_run_group_tests_name("store.sqlite", tests, NULL, NULL);
    if (pg && *pg) {
        snprintf(db, sizeof db, "chanhost_test_%d", (int)getpid());
        set_pg_url(pg, db);
        G.pg = 1;
        if (pg_admin(pg, "CREATE", db, "") != 0)
            failed++;
        else
            failed += cmocka_run_group_tests_name("store.postgresql", tests, NULL, NULL) +
                      pg_admin(pg, "DROP", db, " WITH (FORCE)");
    } else {
        failed += cmocka_run_group_tests_name("store.postgresql", pg_required, NULL, NULL);
    }
    nftw(G.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(k1);
    free(k2);
    return failed;
}
