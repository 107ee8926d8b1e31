/*
 * test_manage.c -- the management commands (host/manage/manage.c,
 * host/manage/manage_dump.c, host/store/store_export.c), run through ch_manage_run
 * with a real configuration and their output captured: export of a store
 * filled through the store's own operations, import into a fresh store,
 * and every row compared (the database's tables read directly, content
 * opened through message.history); bad import files; cleanup of empty
 * threads.  On SQLite always (stores in a temporary directory, with the
 * default key file next to them), and on PostgreSQL: fresh databases
 * chanhost_mgtest_<pid>_<n> on the server of CHANHOST_TEST_PG_URL,
 * dropped at the end; without CHANHOST_TEST_PG_URL those tests fail,
 * never skip.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "log.h"
#include "manage.h"
#include "store_pg_fixture.h"

/* A store under test: its config values and, for PostgreSQL, its database. */
typedef struct be {
    char store[700];
    char key[300];   /* "" for SQLite: the default key file */
    char dbname[96]; /* PostgreSQL */
    char path[300];  /* SQLite file */
} be;

static struct {
    char dir[64];
    int n;            /* databases and directories made */
    char dbs[16][96]; /* PostgreSQL databases to drop */
    int n_dbs;
} G;

/* What a command did. */
typedef struct outcome {
    int rc;
    char *out, *err;
} outcome;

#define J json_pack
#define I(x) ((json_int_t)(x))

/* ---- stores ------------------------------------------------------------- */

/* A new SQLite store in its own directory (so its key is its own). */
static void be_sqlite(be *b)
{
    char dir[200];

    memset(b, 0, sizeof *b);
    snprintf(dir, sizeof dir, "%s/s%d", G.dir, ++G.n);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(b->path, sizeof b->path, "%s/chanhost.db", dir);
    snprintf(b->store, sizeof b->store, "sqlite:%s", b->path);
}

/* A new, empty PostgreSQL database with its own key file. */
static void be_pg(be *b)
{
    char sql[160];

    memset(b, 0, sizeof *b);
    snprintf(b->dbname, sizeof b->dbname, "chanhost_mgtest_%d_%d", (int)getpid(), ++G.n);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", b->dbname);
    assert_int_equal(exec_on(E.base_url, sql), 0);
    snprintf(G.dbs[G.n_dbs++], sizeof G.dbs[0], "%s", b->dbname);
    url_with(b->store, sizeof b->store, E.base_url, NULL, b->dbname, NULL);
    snprintf(b->key, sizeof b->key, "%s/%s.key", G.dir, b->dbname);
}

/* The configuration a command line would give for b. */
static void be_config(const be *b, ch_config *cfg)
{
    ch_diag d = {0};

    assert_int_equal(ch_config_init(cfg), 0);
    ch_config_apply(cfg, "store", b->store, "test", &d);
    if (b->key[0])
        ch_config_apply(cfg, "store_key_file", b->key, "test", &d);
    if (d.n)
        fail_msg("config: %s", d.lines[0]);
    ch_diag_free(&d);
}

/* Run a command (NULL-terminated words) against b's store. */
static outcome run_cmd(const be *b, ...)
{
    char *argv[16];
    int argc = 0;
    size_t lo, le;
    FILE *out, *err;
    ch_config cfg;
    outcome o;
    va_list ap;

    va_start(ap, b);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
        argc++;
    va_end(ap);
    be_config(b, &cfg);
    out = open_memstream(&o.out, &lo);
    err = open_memstream(&o.err, &le);
    o.rc = ch_manage_run(&cfg, argc, argv, out, err);
    fclose(out);
    fclose(err);
    ch_config_free(&cfg);
    return o;
}

static void outcome_free(outcome *o)
{
    free(o->out);
    free(o->err);
}

/* A store of b opened directly, on a loop, for filling and checking. */
typedef struct conn {
    uv_loop_t loop;
    ch_store *s;
} conn;

static void conn_open(conn *c, const be *b)
{
    ch_store_opts o = {.url = b->store, .key_file = b->key};
    char err[512], *key = b->key[0] ? NULL : ch_default_key_file(b->store);

    if (key)
        o.key_file = key;
    assert_int_equal(uv_loop_init(&c->loop), 0);
    c->s = ch_store_open(&c->loop, &o, err, sizeof err);
    free(key);
    if (!c->s)
        fail_msg("ch_store_open(%s): %s", b->store, err);
}

static void set_flag(void *arg) { *(int *)arg = 1; }

static void conn_close(conn *c)
{
    int closed = 0;

    ch_store_close(c->s, set_flag, &closed);
    while (!closed)
        uv_run(&c->loop, UV_RUN_ONCE);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

typedef struct got {
    int done, status;
    json_t *result;
    char error[200];
} got;

static void on_got(int status, json_t *result, const char *error, void *arg)
{
    got *g = arg;

    g->done = 1;
    g->status = status;
    g->result = json_incref(result);
    snprintf(g->error, sizeof g->error, "%s", error ? error : "");
}

/* Call op, which must succeed: its result (caller decrefs). */
static json_t *ok(conn *c, const char *op, json_t *params)
{
    got g = {0};

    assert_int_equal(ch_store_call(c->s, op, params, on_got, &g), 0);
    while (!g.done)
        uv_run(&c->loop, UV_RUN_ONCE);
    if (g.status != 0)
        fail_msg("%s: %d %s", op, g.status, g.error);
    return g.result;
}

#define DO(c, op, ...) json_decref(ok(c, op, J(__VA_ARGS__)))

/* result[obj][key] as an integer. */
static int64_t iget(const json_t *r, const char *obj, const char *key)
{
    const json_t *o = obj ? json_object_get(r, obj) : r;

    return json_integer_value(json_object_get(o, key));
}

/* ---- the raw tables --------------------------------------------------- */

/* Every row of sql on b's database as text lines "v|v|...", NULL as
 * "NULL" (malloc'd). */
static char *dump_sqlite(const be *b, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);

    assert_int_equal(sqlite3_open_v2(b->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++)
            fprintf(f, "%s%s", c ? "|" : "",
                    sqlite3_column_type(st, c) == SQLITE_NULL
                        ? "NULL"
                        : (const char *)sqlite3_column_text(st, c));
        fputc('\n', f);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    fclose(f);
    return buf;
}

/* The same over libpq (PostgreSQL sends every value as text). */
static char *dump_pg(const be *b, const char *sql)
{
    PGconn *c = PQconnectdb(b->store);
    PGresult *r = PQexec(c, sql);
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);

    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    for (int i = 0; i < PQntuples(r); i++) {
        for (int j = 0; j < PQnfields(r); j++)
            fprintf(f, "%s%s", j ? "|" : "", PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
        fputc('\n', f);
    }
    PQclear(r);
    PQfinish(c);
    fclose(f);
    return buf;
}

/* The rows of sql on b's database, whatever its engine. */
static char *dump(const be *b, const char *sql)
{
    return b->dbname[0] ? dump_pg(b, sql) : dump_sqlite(b, sql);
}

/* The rows every table holds, but sealed content (key ids, nonces and
 * ciphertexts differ: the target seals with its own key). */
static const char *const tables[] = {
    "SELECT id, username, email, password, role, is_active, created_at FROM users ORDER BY id",
    "SELECT id, key, kind, name, is_private, created_at, is_active FROM rooms ORDER BY id",
    "SELECT room_id, user_id, joined_at FROM participants ORDER BY room_id, user_id",
    /* one query on two lines, parenthesised: not a missing comma */
    ("SELECT id, room_id, sender_id, created_at, edited_at, is_deleted, client_msg_id, extra"
     " FROM messages ORDER BY id"),
    "SELECT message_id, user_id, read_at FROM read_receipts ORDER BY message_id, user_id",
};

static void assert_same_tables(const be *a, const be *b)
{
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char *x = dump(a, tables[i]), *y = dump(b, tables[i]);

        if (strcmp(x, y) != 0)
            fail_msg("%s\n--- source:\n%s--- target:\n%s", tables[i], x, y);
        free(x);
        free(y);
    }
}

/* Rows in all five tables together. */
static long long count_rows(const be *b)
{
    char *t = dump(b, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM rooms) +"
                      " (SELECT count(*) FROM participants) + (SELECT count(*) FROM messages) +"
                      " (SELECT count(*) FROM read_receipts)");
    long long n = strtoll(t, NULL, 10);

    free(t);
    return n;
}

/* ---- data --------------------------------------------------------------- */

static const char nul_text[] = "before\0after";

/* Fill b through the store's operations: users (one deactivated, one
 * without email), rooms (private, inactive, an empty thread),
 * participants, messages (unicode, an embedded NUL, extras, an edit, a
 * delete, given and generated client_msg_ids), read receipts. */
static void fill(const be *b)
{
    conn c;
    json_t *r;
    int64_t alice, bob, carol, t, g, m1, m2, m3;

    conn_open(&c, b);
    r = ok(&c, "user.create",
           J("{s:s, s:s, s:s}", "username", "alice", "email", "a@example.com", "password",
             "pbkdf2_sha256$1000$salt$hashA"));
    alice = iget(r, "user", "id");
    json_decref(r);
    r = ok(&c, "user.create", J("{s:s, s:s}", "username", "bob", "password", "pbkdf2$bob"));
    bob = iget(r, "user", "id");
    json_decref(r);
    DO(&c, "user.import", "{s:i, s:s, s:s, s:s, s:b, s:I}", "id", 40, "username", "carol",
       "password", "x$y", "role", "admin", "is_active", 0, "created_at", I(1700000000123));
    carol = 40;
    r = ok(&c, "room.get_or_create",
           J("{s:s, s:s, s:s}", "key", "thread:1-2", "kind", "thread", "name", "Alice & Bob"));
    t = iget(r, "room", "id");
    json_decref(r);
    r = ok(&c, "room.get_or_create",
           J("{s:s, s:s, s:b}", "key", "chat-room:7", "kind", "chat", "is_private", 1));
    g = iget(r, "room", "id");
    json_decref(r);
    DO(&c, "room.set_active", "{s:I, s:b}", "id", I(g), "is_active", 0);
    DO(&c, "room.get_or_create", "{s:s, s:s}", "key", "thread:9-9", "kind", "thread");
    DO(&c, "participant.add", "{s:I, s:I}", "room_id", I(t), "user_id", I(alice));
    DO(&c, "participant.add", "{s:I, s:I}", "room_id", I(t), "user_id", I(bob));
    DO(&c, "participant.add", "{s:I, s:I}", "room_id", I(g), "user_id", I(carol));
    r = ok(&c, "message.append",
           J("{s:I, s:I, s:s, s:s, s:{s:i, s:[b, n]}}", "room_id", I(t), "sender_id", I(alice),
             "content", "héllo ✓ \"quoted\"\n", "client_msg_id", "c-1", "extra", "b", 1, "a", 1));
    m1 = iget(r, NULL, "id");
    json_decref(r);
    r = ok(&c, "message.append",
           J("{s:I, s:I, s:s#}", "room_id", I(t), "sender_id", I(bob), "content", nul_text,
             (int)(sizeof nul_text - 1)));
    m2 = iget(r, NULL, "id");
    json_decref(r);
    r = ok(&c, "message.append",
           J("{s:I, s:I, s:s}", "room_id", I(g), "sender_id", I(carol), "content", "to delete"));
    m3 = iget(r, NULL, "id");
    json_decref(r);
    DO(&c, "message.append", "{s:I, s:I, s:s}", "room_id", I(t), "sender_id", I(alice), "content",
       "");
    DO(&c, "message.edit", "{s:I, s:I, s:s}", "id", I(m1), "sender_id", I(alice), "content",
       "héllo, edited");
    DO(&c, "message.delete", "{s:I, s:I}", "id", I(m3), "sender_id", I(carol));
    DO(&c, "read.mark", "{s:I, s:[I]}", "user_id", I(bob), "message_ids", I(m1));
    DO(&c, "read.mark", "{s:I, s:[I]}", "user_id", I(alice), "message_ids", I(m2));
    DO(&c, "read.bulk", "{s:I, s:I}", "user_id", I(carol), "room_id", I(t));
    conn_close(&c);
}

/* Every room's history and every user as the operations give them. */
static json_t *view(const be *b)
{
    conn c;
    json_t *v = json_object(), *rooms, *r;

    conn_open(&c, b);
    rooms = ok(&c, "export.rooms", J("{}"));
    for (size_t i = 0; i < json_array_size(json_object_get(rooms, "rooms")); i++) {
        int64_t id = iget(json_array_get(json_object_get(rooms, "rooms"), i), NULL, "id");
        char key[32];

        snprintf(key, sizeof key, "history-%lld", (long long)id);
        r = ok(&c, "message.history", J("{s:I, s:i}", "room_id", I(id), "limit", 500));
        json_object_set(v, key, json_object_get(r, "messages"));
        json_decref(r);
        snprintf(key, sizeof key, "participants-%lld", (long long)id);
        r = ok(&c, "participant.list", J("{s:I}", "room_id", I(id)));
        json_object_set(v, key, r);
        json_decref(r);
    }
    json_object_set_new(v, "rooms", rooms);
    json_object_set_new(v, "alice", ok(&c, "user.get", J("{s:s}", "username", "alice")));
    json_object_set_new(v, "users", ok(&c, "export.users", J("{}")));
    conn_close(&c);
    return v;
}

/* The text of a file (malloc'd). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- tests -------------------------------------------------------------- */

/* Fill a, export it, import into the empty b, export b: the files are
 * equal, every table row is equal, the opened content and the users are
 * equal; a second import skips everything; b goes on allocating ids. */
static void roundtrip(const be *a, const be *b)
{
    char fa[200], fb[200], *ta, *tb;
    json_t *va, *vb;
    outcome o;
    conn c;

    fill(a);
    snprintf(fa, sizeof fa, "%s/export-%d-a.jsonl", G.dir, G.n);
    snprintf(fb, sizeof fb, "%s/export-%d-b.jsonl", G.dir, G.n);
    o = run_cmd(a, "export", "--output", fa, NULL);
    if (o.rc != 0)
        fail_msg("export: %s", o.err);
    assert_non_null(strstr(o.out, "  messages       4\n"));
    assert_non_null(strstr(o.out, "  read receipts  5\n"));
    outcome_free(&o);
    o = run_cmd(b, "import", fa, NULL);
    if (o.rc != 0)
        fail_msg("import: %s", o.err);
    assert_non_null(strstr(o.out, "  users          3 imported, 0 skipped"));
    assert_non_null(strstr(o.out, "  participants   3 imported, 0 skipped"));
    outcome_free(&o);
    o = run_cmd(b, "export", "--output", fb, NULL);
    assert_int_equal(o.rc, 0);
    outcome_free(&o);
    ta = slurp(fa);
    tb = slurp(fb);
    assert_string_equal(ta, tb);
    assert_non_null(strstr(ta, "\"content\":\"before\\u0000after\""));
    assert_non_null(strstr(ta, "\"extra\":{\"a\":[true,null],\"b\":1}"));
    free(ta);
    free(tb);
    assert_same_tables(a, b);
    va = view(a);
    vb = view(b);
    if (!json_equal(va, vb))
        fail_msg("the stores' views differ");
    json_decref(va);
    json_decref(vb);
    o = run_cmd(b, "import", fa, NULL);
    assert_int_equal(o.rc, 0);
    assert_non_null(strstr(o.out, "  messages       0 imported, 4 skipped"));
    assert_non_null(strstr(o.out, "  read receipts  0 imported, 5 skipped"));
    outcome_free(&o);
    assert_same_tables(a, b);
    conn_open(&c, b);
    json_t *r = ok(&c, "message.append",
                   J("{s:i, s:i, s:s}", "room_id", 1, "sender_id", 1, "content",
                     "after the import"));
    assert_int_equal(iget(r, NULL, "id"), 5);
    json_decref(r);
    r = ok(&c, "room.get_or_create", J("{s:s, s:s}", "key", "new", "kind", "chat"));
    assert_int_equal(iget(r, "room", "id"), 4);
    json_decref(r);
    conn_close(&c);
}

static void test_roundtrip_sqlite(void **state)
{
    be a, b;

    (void)state;
    be_sqlite(&a);
    be_sqlite(&b);
    roundtrip(&a, &b);
}

static void test_roundtrip_pg(void **state)
{
    be a, b;

    (void)state;
    need_pg(0);
    be_pg(&a);
    be_pg(&b);
    roundtrip(&a, &b);
}

/* A SQLite store moved to PostgreSQL. */
static void test_sqlite_to_pg(void **state)
{
    be a, b;

    (void)state;
    need_pg(0);
    be_sqlite(&a);
    be_pg(&b);
    roundtrip(&a, &b);
}

/* Import path into b: the outcome (caller frees). */
static outcome import_text(const be *b, const char *name, const char *text)
{
    char path[200];

    snprintf(path, sizeof path, "%s/%s", G.dir, name);
    write_file(path, text);
    return run_cmd(b, "import", path, NULL);
}

#define USER_LINE                                                         \
    "{\"type\":\"user\",\"id\":3,\"username\":\"u3\",\"password\":\"h\"," \
    "\"created_at\":5}\n"
#define ROOM_LINE                                                     \
    "{\"type\":\"room\",\"id\":2,\"key\":\"r2\",\"kind\":\"thread\"," \
    "\"created_at\":6,\"participants\":[{\"user_id\":3,\"joined_at\":7}]}\n"

/* Bad lines are all reported as FILE:LINE: reason and nothing of the
 * file is applied: the store is not even opened. */
static void test_import_bad_lines(void **state)
{
    be b;
    outcome o;

    (void)state;
    be_sqlite(&b);
    o = import_text(&b, "bad1.jsonl",
                    USER_LINE "\n{\"type\":\"room\",\"id\":2,\"key\":\"r2\",\"kind\":\"thread\","
                              "\"created_at\":6,\"participants\":[{\"user_id\":3,\"joined_at\":7},"
                              "{\"user_id\":\"x\",\"joined_at\":7}]}\n"
                              "{\"type\":\"message\",\"id\":1\n"
                              "[1]\n"
                              "{\"type\":\"thing\"}\n"
                              "{\"type\":\"user\",\"id\":4,\"username\":\"no spaces\","
                              "\"password\":\"h\",\"created_at\":1}\n");
    assert_int_equal(o.rc, 1);
    assert_non_null(strstr(o.err, "/bad1.jsonl:3: participants[1]: user_id: expected an integer"));
    assert_non_null(strstr(o.err, "/bad1.jsonl:4: invalid JSON: "));
    assert_non_null(strstr(o.err, "/bad1.jsonl:5: expected a JSON object"));
    assert_non_null(strstr(o.err, "/bad1.jsonl:6: type: expected"));
    assert_non_null(strstr(o.err, "/bad1.jsonl:7: username: only letters"));
    assert_non_null(strstr(o.err, "5 bad line(s); nothing imported"));
    assert_null(strstr(o.err, ":1:"));
    outcome_free(&o);
    assert_int_equal(access(b.path, F_OK), -1); /* the store was not even opened */
}

/* A line the store refuses (its room is nowhere) stops the import:
 * lines before it are in, nothing of it is (not its receipts either). */
static void test_import_refused_line(void **state)
{
    be b;
    outcome o;

    (void)state;
    be_sqlite(&b);
    o = import_text(&b, "refused.jsonl",
                    USER_LINE ROOM_LINE
                    "{\"type\":\"message\",\"id\":1,\"room_id\":99,\"sender_id\":3,"
                    "\"content\":\"x\",\"created_at\":8,\"client_msg_id\":\"m1\","
                    "\"read_by\":[{\"user_id\":4,\"read_at\":9}]}\n");
    assert_int_equal(o.rc, 1);
    assert_non_null(strstr(o.err, "/refused.jsonl:3: no such room"));
    assert_non_null(strstr(o.out, "  rooms          1 imported, 0 skipped"));
    assert_non_null(strstr(o.out, "  messages       0 imported, 0 skipped"));
    outcome_free(&o);
    assert_int_equal(count_rows(&b), 3);
    /* a message line without its room on a fresh store: nothing at all */
    be_sqlite(&b);
    o = import_text(&b, "orphan.jsonl",
                    "{\"type\":\"message\",\"id\":1,\"room_id\":1,\"sender_id\":3,"
                    "\"content\":\"x\",\"created_at\":8,\"client_msg_id\":\"m1\","
                    "\"read_by\":[{\"user_id\":4,\"read_at\":9}]}\n");
    assert_int_equal(o.rc, 1);
    assert_non_null(strstr(o.err, "/orphan.jsonl:1: no such room"));
    outcome_free(&o);
    assert_int_equal(count_rows(&b), 0);
}

/* The dry run lists the empty threads and deletes nothing; the real run
 * deletes exactly those; --kind picks another kind. */
static void test_cleanup(void **state)
{
    be b;
    conn c;
    outcome o;
    char want[64];

    (void)state;
    be_sqlite(&b);
    fill(&b); /* rooms: 1 thread with messages, 2 chat with one, 3 empty thread */
    conn_open(&c, &b);
    DO(&c, "room.get_or_create", "{s:s, s:s}", "key", "empty-chat", "kind", "chat");
    DO(&c, "room.get_or_create", "{s:s, s:s}", "key", "thread:8-8", "kind", "thread");
    conn_close(&c);
    o = run_cmd(&b, "cleanup-empty-threads", "--dry-run", NULL);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.out, "would delete 2 empty thread room(s): 3 5\n");
    outcome_free(&o);
    assert_int_equal(count_rows(&b), 3 + 5 + 3 + 4 + 5);
    o = run_cmd(&b, "cleanup-empty-threads", NULL);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.out, "deleted 2 empty thread room(s): 3 5\n");
    outcome_free(&o);
    o = run_cmd(&b, "cleanup-empty-threads", NULL);
    assert_string_equal(o.out, "deleted 0 empty thread room(s)\n");
    outcome_free(&o);
    o = run_cmd(&b, "cleanup-empty-threads", "--kind", "chat", NULL);
    snprintf(want, sizeof want, "deleted 1 empty chat room(s): 4\n");
    assert_string_equal(o.out, want);
    outcome_free(&o);
    char *rooms = dump(&b, "SELECT id FROM rooms ORDER BY id");
    assert_string_equal(rooms, "1\n2\n");
    free(rooms);
}

/* Usage errors exit 2, failures 1, each with one clear line. */
static void test_errors(void **state)
{
    be b, none = {.store = "none"};
    outcome o;

    (void)state;
    be_sqlite(&b);
    o = run_cmd(&b, "export", "--bogus", NULL);
    assert_int_equal(o.rc, 2);
    assert_non_null(strstr(o.err, "chanhost export: unknown argument --bogus"));
    outcome_free(&o);
    o = run_cmd(&b, "import", NULL);
    assert_int_equal(o.rc, 2);
    outcome_free(&o);
    o = run_cmd(&b, "frobnicate", NULL);
    assert_int_equal(o.rc, 2);
    outcome_free(&o);
    o = run_cmd(&b, "export", NULL);
    assert_int_equal(o.rc, 1);
    assert_non_null(strstr(o.err, "chanhost export: no database at "));
    outcome_free(&o);
    o = run_cmd(&none, "cleanup-empty-threads", NULL);
    assert_int_equal(o.rc, 1);
    assert_non_null(strstr(o.err, "no store configured"));
    outcome_free(&o);
    o = run_cmd(&b, "import", "/nonexistent/file.jsonl", NULL);
    assert_int_equal(o.rc, 1);
    assert_non_null(strstr(o.err, "/nonexistent/file.jsonl: No such file"));
    outcome_free(&o);
    o = run_cmd(&b, "export", "--help", NULL);
    assert_int_equal(o.rc, 0);
    assert_non_null(strstr(o.out, "usage: chanhost [options] export"));
    outcome_free(&o);
}

/* ---- setup ---------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    snprintf(G.dir, sizeof G.dir,
             "/tmp/chanhost_manage_XX"
             "XX"
             "XX");
    if (!mkdtemp(G.dir))
        return -1;
    return group_setup(state);
}

static int teardown(void **state)
{
    char sql[160];

    for (int i = 0; i < G.n_dbs; i++) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", G.dbs[i]);
        exec_on(E.base_url, sql);
    }
    nftw(G.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return group_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_sqlite),
        cmocka_unit_test(test_import_bad_lines),
        cmocka_unit_test(test_import_refused_line),
        cmocka_unit_test(test_cleanup),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_roundtrip_pg),
        cmocka_unit_test(test_sqlite_to_pg),
    };

    ch_log_set_verbosity(0);
    return cmocka_run_group_tests_name("manage", tests, setup, teardown);
}
