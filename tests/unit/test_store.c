/*
 * test_store.c -- the message store's test suite (host/store/), part
 * one: rooms, participants and users; appending messages (deduplication
 * by client_msg_id, generated ids, size limits, PostgreSQL's retry
 * hooks), editing and deleting them; cleanup of empty threads and
 * imports.  History, read receipts and unread counts are in
 * test_store_read.c; group commit, the queue bound, close, status,
 * encryption at rest, keys and migrations in test_store_engine.c.
 * Driven through the public interface (ch_store_open / call / close) on
 * a real uv loop, once per backend: a fresh SQLite file, then a fresh
 * PostgreSQL database chanhost_test_store_<pid> (store_fixture.h; without
 * CHANHOST_TEST_PG_URL the suite fails).  The raw database is read
 * directly (sqlite3 / libpq) to check what was stored.
 */
#include "store_fixture.h"

/* ---- rooms, participants, users ------------------------------------------- */

static void test_rooms(void **state)
{
    fx *f = *state;
    char key[210];
    json_t *r, *room;
    int64_t id;

    snprintf(key, sizeof key, "chat-room:%d", (int)getpid());
    r = ok(f, "room.get_or_create",
           J("{s:s, s:s, s:s, s:b}", "key", key, "kind", "chat-room", "name", "Seven", "is_private",
             1));
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
    r = ok(f, "user.create",
           J("{s:s, s:s, s:s, s:s}", "username", name, "email", email, "password",
             "pbkdf2_sha256$1$x$y", "role", "publisher"));
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
                             " AND room_id = %lld",
                             (long long)room),
                     1);
    json_decref(a);
    json_decref(b);
    /* a generated client_msg_id: "srv-" and 32 hex digits, new each time */
    a = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:{s:s}}", "room_id", I(room), "sender_id", I(7), "content", "x",
             "extra", "sender_role", "publisher"));
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

/* message.append with "participant": true stores only a participant's
 * message (EPERM once the sender was removed, nothing stored); without it
 * anyone's, as before; a retry of a message stored while a participant
 * is still acked as the duplicate it is. */
static void test_append_participant(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room");
    json_t *a, *b;

#define RU "{s:I, s:I}", "room_id", I(room), "user_id"
#define AP                                                                               \
    "{s:I, s:I, s:s, s:b, s:s}", "room_id", I(room), "sender_id", I(5), "content", "hi", \
        "participant", 1, "client_msg_id"
    EXPECT(CH_STORE_EPERM, "message.append", AP, "p-0");
    DO("participant.add", RU, I(5));
    a = ok(f, "message.append", J(AP, "p-1"));
    assert_false(TRUE(a, "duplicate"));
    DO("participant.remove", RU, I(5));
    b = ok(f, "message.append", J(AP, "p-1"));
    assert_true(TRUE(b, "duplicate"));
    assert_int_equal(jint(a, "id"), jint(b, "id"));
    json_decref(a);
    json_decref(b);
    EXPECT(CH_STORE_EPERM, "message.append", AP, "p-2");
    assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE room_id = %lld AND"
                             " client_msg_id <> 'p-1'",
                             (long long)room),
                     0);
    DO("message.append", "{s:I, s:I, s:s, s:b}", "room_id", I(room), "sender_id", I(5), "content",
       "x", "participant", 0);
    EXPECT(CH_STORE_EINVAL, "message.append", "{s:I, s:I, s:s, s:s}", "room_id", I(room),
           "sender_id", I(5), "content", "x", "participant", "yes");
#undef AP
#undef RU
}

/* Idempotent retries at the level of the hooks (PostgreSQL's steps): an
 * id that an earlier attempt of the same request allocated is no
 * duplicate; any other existing id is.  With "unread" true, the insert
 * goes on to the unread step (the fourth; streamed, the third: the counts
 * and the event row in one statement) for a message that is no duplicate
 * only. */
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
    /* the unread step with the event row, alone, and the stream's event
     * steps (store_stream.c): the insert takes the room's position itself */
    assert_int_equal(n, 4 + 2);
    req.keys = keys;
    req.ctx = json_object();
    req.params = J("{s:I, s:I, s:s, s:s}", "room_id", I(1), "sender_id", I(2), "content", "hi",
                   "client_msg_id", "c1");
    rows = J("[{s:s, s:I}]", "key", "chat-room:1", "new_id", I(77));
    assert_int_equal(st[0].rows(&req, rows), CH_STEP_NEXT);
    json_decref(rows);
    for (int other = 0; other < 2; other++) {
        ch_store_req_rewind(&req);
        rows = J("[{s:I, s:I, s:I}]", "id", I(other ? 70 : 77), "created_at", I(5), "duplicate",
                 I(1));
        assert_int_equal(st[1].rows(&req, rows), CH_STEP_DONE);
        assert_int_equal(TRUE(req.result, "duplicate"), other);
        json_decref(rows);
    }
    /* streamed: a retry finding its own committed attempt streams nothing
     * again; a row inserted now goes on past the unread step */
    json_object_set_new(req.params, "stream", json_true());
    ch_store_req_rewind(&req);
    rows = J("[{s:I, s:I, s:I}]", "id", I(77), "created_at", I(5), "duplicate", I(1));
    assert_int_equal(st[1].rows(&req, rows), CH_STEP_DONE);
    json_decref(rows);
    ch_store_req_rewind(&req);
    req.step = 1;
    rows = J("[{s:I, s:I, s:I, s:I, s:s, s:s}]", "id", I(77), "created_at", I(5), "duplicate", I(0),
             "pos", I(9), "key", "chat-room:1", "epoch", "e1");
    assert_int_equal(st[1].rows(&req, rows), CH_STEP_NEXT);
    assert_int_equal(req.step, 3); /* the engine runs step 5, the first stream step */
    assert_string_equal(st[4].sql, "INSERT INTO room_events (room_id, pos, kind, key_id, nonce,"
                                   " body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)");
    assert_int_equal(jint(req.ctx, "ev_pos"), 9); /* the event is sealed for position 9 */
    assert_string_equal(json_string_value(GET(req.ctx, "ev_epoch")), "e1");
    /* streamed with unread: the counts and the event in one statement */
    json_object_set_new(req.params, "unread", json_true());
    ch_store_req_rewind(&req);
    req.step = 1;
    assert_int_equal(st[1].rows(&req, rows), CH_STEP_NEXT);
    assert_int_equal(req.step, 1); /* the engine runs step 3 */
    json_decref(rows);
    rows = J("[{s:I, s:I}]", "user_id", I(4), "unread", I(1));
    req.step = 2;
    assert_int_equal(st[2].rows(&req, rows), CH_STEP_DONE); /* no trim at position 9 */
    assert_int_equal(jint(req.result, "pos"), 9);
    assert_int_equal(json_integer_value(GET(GET(req.result, "unread"), "4")), 1);
    json_decref(rows);
    rows = J("[{s:I, s:I, s:I, s:I, s:s, s:s}]", "id", I(77), "created_at", I(5), "duplicate", I(0),
             "pos", I(9), "key", "chat-room:1", "epoch", "e1");
    json_object_del(req.params, "unread");
    json_object_del(req.params, "stream");
    /* a position taken for a call that does not stream fails the request */
    ch_store_req_rewind(&req);
    req.step = 1;
    assert_true(st[1].rows(&req, rows) < 0);
    json_decref(rows);
    json_object_set_new(req.params, "unread", json_true());
    for (int other = 0; other < 2; other++) {
        ch_store_req_rewind(&req);
        rows = J("[{s:I, s:I, s:I}]", "id", I(other ? 70 : 77), "created_at", I(5), "duplicate",
                 I(1));
        req.step = 1;
        assert_int_equal(st[1].rows(&req, rows), other ? CH_STEP_DONE : CH_STEP_NEXT);
        if (!other)
            assert_int_equal(req.step, 2); /* the engine runs step 4, the unread step alone */
        json_decref(rows);
    }
    rows = J("[{s:I, s:I}, {s:I, s:I}]", "user_id", I(2), "unread", I(0), "user_id", I(4), "unread",
             I(3));
    ch_store_req_rewind(&req);
    req.result = json_object();
    assert_int_equal(st[3].rows(&req, rows), CH_STEP_DONE);
    assert_int_equal(json_integer_value(GET(GET(req.result, "unread"), "4")), 3);
    assert_int_equal(json_integer_value(GET(GET(req.result, "unread"), "2")), 0);
    json_decref(rows);
    ch_store_req_rewind(&req);
    json_decref(req.params);
    json_decref(req.ctx);
    ch_keyring_free(keys);
    free(line);
}

static void test_edit_delete(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "chat-room"), id = post(f, room, 5, "first");
    int64_t other = new_room(f, "chat-room");
    char *nonce = raw("SELECT nonce FROM messages WHERE id = %lld", (long long)id), *nonce2;
    json_t *r, *m;

#define ED(who) "{s:I, s:I, s:s}", "id", I(id), "sender_id", I(who), "content"
#define DEL(who) "{s:I, s:I}", "id", I(id), "sender_id", I(who)
    EXPECT(CH_STORE_EPERM, "message.edit", ED(6), "not yours");
    /* room_id, when given, must be the message's room */
    EXPECT(CH_STORE_ENOENT, "message.edit", "{s:I, s:I, s:s, s:I}", "id", I(id), "sender_id", I(5),
           "content", "elsewhere", "room_id", I(other));
    EXPECT(CH_STORE_ENOENT, "message.delete", "{s:I, s:I, s:I}", "id", I(id), "sender_id", I(5),
           "room_id", I(other));
    EXPECT(CH_STORE_EINVAL, "message.edit", "{s:I, s:I, s:s, s:s}", "id", I(id), "sender_id", I(5),
           "content", "x", "room_id", "1");
    r = ok(f, "message.edit",
           J("{s:I, s:I, s:s, s:I}", "id", I(id), "sender_id", I(5), "content", "second", "room_id",
             I(room)));
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
                             (long long)empty),
                     0);
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
    import_twice(f, "room.import",
                 J("{s:I, s:s, s:s, s:s, s:b, s:I, s:b}", "id", rid, "key", key, "kind",
                   "chat-room", "name", "old", "is_private", 0, "created_at", t0, "is_active", 1));
    import_twice(f, "user.import",
                 J("{s:I, s:s, s:n, s:s, s:s, s:b, s:I}", "id", uid, "username", name, "email",
                   "password", "h", "role", "admin", "is_active", 1, "created_at", t0));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_rooms),
        T(test_participants),
        T(test_users),
        T(test_append_dedup),
        T(test_append_participant),
        cmocka_unit_test(test_append_retry_hooks),
        T(test_edit_delete),
        T(test_cleanup),
        T(test_imports),
    };

    return store_suite_main("store", tests, sizeof tests / sizeof tests[0]);
}
