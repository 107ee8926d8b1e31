/*
 * test_store_engine.c -- the message store's machinery (host/store/):
 * group commit of queued appends (their rate: bench/store_append.c), the
 * queue bound, close draining what is queued, status and the "none" and
 * in-memory stores, encryption at rest (no plaintext in the database or
 * the SQLite files), tampered rows refused, key rotation and migrations.  Driven through
 * the public interface on a real uv loop, once per backend: a fresh
 * SQLite file, then a fresh PostgreSQL database
 * chanhost_test_store_engine_<pid> (store_fixture.h; without
 * CHANHOST_TEST_PG_URL the suite fails).  The raw database is read
 * directly (sqlite3 / libpq) to check sealing, tampering and key ids.
 */
#include "store_fixture.h"

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
 * are done: each must succeed, ids increasing in submission order. */
static void append_many(fx *f, int64_t room, int n)
{
    slot *s = calloc((size_t)n, sizeof *s);

    for (int i = 0; i < n; i++)
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s}", "room_id", I(room), "sender_id",
                                         I(1 + i % 5), "content", "group commit"),
                                       on_slot, &s[i]),
                         0);
    wait_slots(f, s, n);
    for (int i = 1; i < n; i++)
        assert_true(s[i].id > s[i - 1].id);
    free(s);
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

/* The store's "retries" counter now. */
static json_int_t retries(fx *f)
{
    json_t *st = ch_store_status(f->s);
    json_int_t n = json_integer_value(GET(st, "retries"));

    json_decref(st);
    return n;
}

/* Queue an append to room from sender 1, then one to no room, then
 * another to room, before the loop runs (so that they share a batch,
 * unless the worker takes the first before the others are queued): the
 * one without a room fails alone with ENOENT, the other two are stored.
 * Returns how much "retries" grew. */
static json_int_t batch_with_failure(fx *f, int64_t room)
{
    slot s[3] = {{0}};
    json_int_t before = retries(f);
    int64_t rooms[3] = {room, BIG, room};

    for (int i = 0; i < 3; i++)
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s}", "room_id", I(rooms[i]), "sender_id",
                                         I(1), "content", "isolated"),
                                       on_slot, &s[i]),
                         0);
    while (!s[0].done || !s[1].done || !s[2].done)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(s[0].status, 0);
    assert_int_equal(s[1].status, CH_STORE_ENOENT);
    assert_int_equal(s[2].status, 0);
    assert_true(s[2].id > s[0].id);
    return retries(f) - before;
}

/* A request that fails inside a batch fails alone, the others commit.
 * SQLite runs a batch without savepoints first; a failure rolls it back
 * and runs it again with one per request (the calls that ran, up to the
 * failing one, counted as retries),
 * and so do the next 64 batches (a failure then costs no retry); after
 * them, batches run without savepoints again.  (PostgreSQL's reruns are
 * test_store_pg.c's.) */
static void test_failure_isolated(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room");
    json_t *m;
    json_int_t first = batch_with_failure(f, room), second = batch_with_failure(f, room);

    if (!G.pg) {
        /* The call after the failing one never ran: not a retry. */
        assert_in_range(first, 1, 2);
        assert_int_equal(second, 0);
    }
    append_many(f, room, 1);
    for (int i = 0; i < 64; i++) /* one batch each: the guarded ones run out */
        DO("message.append", "{s:I, s:I, s:s}", "room_id", I(room), "sender_id", I(2), "content",
           "after");
    if (batch_with_failure(f, room) == 0 && !G.pg)
        fail_msg("after 64 guarded batches a failure should be retried again");
    m = history(f, J("{s:I, s:i}", "room_id", I(room), "limit", 500));
    assert_int_equal(json_array_size(m), 3 * 2 + 1 + 64);
    json_decref(m);
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
                             " OR nonce LIKE '%%%s%%'",
                             marker, marker),
                     0);
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
#define SET(c, n, id)                                                                  \
    free(raw("UPDATE messages SET content = '%s', nonce = '%s' WHERE id = %lld", c, n, \
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
    /* version 11 dropped version 4's index */
    assert_int_equal(raw_int(G.pg ? "SELECT count(*) FROM pg_indexes WHERE indexname = "
                                    "'messages_room_live'"
                                  : "SELECT count(*) FROM sqlite_master WHERE name = "
                                    "'messages_room_live'"),
                     0);
    /* version 12: on PostgreSQL the insert's counting trigger is one per
     * statement (bit 0 of tgtype set means FOR EACH ROW) */
    if (!G.pg)
        return;
    assert_int_equal(raw_int("SELECT count(*) FROM pg_trigger WHERE tgname = "
                             "'messages_count_insert' AND (tgtype & 1) = 0"),
                     1);
    /* version 13: messages and room_events name their rooms without a
     * foreign key; a statement trigger on rooms deletes them */
    assert_int_equal(raw_int("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND"
                             " conrelid IN ('messages'::regclass, 'room_events'::regclass)"),
                     0);
    assert_int_equal(raw_int("SELECT count(*) FROM pg_trigger WHERE tgname = "
                             "'rooms_rows_delete' AND (tgtype & 1) = 0"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_group_commit), T(test_failure_isolated), T(test_queue_bound),
        T(test_close_drains), T(test_status_and_none),  T(test_no_plaintext),
        T(test_tamper),       T(test_key_rotation),     T(test_migrations),
    };

    return store_suite_main("store_engine", tests, sizeof tests / sizeof tests[0]);
}
