/*
 * test_store_stream.c -- a room's stream (host/store/store_stream.c):
 * the positions that streamed changes take in their own transaction,
 * their sealed events as stream.read gives them back, "reset" for
 * another epoch, a position the room never had and a trimmed one, the
 * epoch made anew by stream.new_epoch, and message.history's pos.  Once
 * per backend, with the shared fixture of store_fixture.h (a fresh
 * SQLite file, then a fresh PostgreSQL database).
 */
#include "store_fixture.h"

/* stream.read of room after pos (epoch NULL: none given); new result. */
static json_t *read_after(fx *f, int64_t room, int64_t after, const char *epoch)
{
    json_t *p = J("{s:I, s:I}", "room_id", I(room), "after_pos", I(after));

    if (epoch)
        json_object_set_new(p, "epoch", json_string(epoch));
    return ok(f, "stream.read", p);
}

/* The kinds of a stream.read's events as "a,b,c" in buf. */
static const char *kinds(const json_t *r, char *buf, size_t n)
{
    size_t i, off = 0;
    json_t *ev;

    buf[0] = '\0';
    json_array_foreach(GET(r, "events"), i, ev)
    {
        off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s", i ? "," : "",
                                STR(ev, "kind"));
    }
    return buf;
}

/* Every streamed change takes the next position, in order; unchanged
 * calls (a receipt already made, a participant already in) take none. */
static void test_positions(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group"), id;
    json_t *r, *ev;
    char buf[256];

    DO("participant.add", "{s:I, s:I}", "room_id", I(room), "user_id", I(1));
    r = ok(f, "participant.add",
           J("{s:I, s:I, s:b}", "room_id", I(room), "user_id", I(2), "stream", 1));
    assert_int_equal(jint(r, "pos"), 1);
    assert_non_null(STR(r, "epoch"));
    assert_int_equal(strlen(STR(r, "epoch")), 16);
    json_decref(r);
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:{s:s}, s:b, s:b, s:b}", "room_id", I(room), "sender_id", I(1),
             "content", "secret words", "extra", "username", "alice", "participant", 1, "unread", 1,
             "stream", 1));
    assert_int_equal(jint(r, "pos"), 2);
    assert_true(json_is_object(GET(r, "unread")));
    id = jint(r, "id");
    json_decref(r);
    r = ok(f, "message.edit",
           J("{s:I, s:I, s:s, s:b}", "id", I(id), "sender_id", I(1), "content", "edited words",
             "stream", 1));
    assert_int_equal(jint(r, "pos"), 3);
    json_decref(r);
    r = ok(f, "read.mark_room",
           J("{s:I, s:I, s:[I], s:b, s:{s:s}}", "user_id", I(2), "room_id", I(room), "message_ids",
             I(id), "stream", 1, "stream_extra", "username", "bob"));
    assert_int_equal(jint(r, "pos"), 4);
    json_decref(r);
    r = ok(f, "read.mark_room",
           J("{s:I, s:I, s:[I], s:b}", "user_id", I(2), "room_id", I(room), "message_ids", I(id),
             "stream", 1));
    assert_null(GET(r, "pos")); /* nothing new: no position */
    json_decref(r);
    r = ok(f, "message.delete", J("{s:I, s:I, s:b}", "id", I(id), "sender_id", I(1), "stream", 1));
    assert_int_equal(jint(r, "pos"), 5);
    json_decref(r);
    r = ok(f, "participant.remove",
           J("{s:I, s:I, s:b}", "room_id", I(room), "user_id", I(2), "stream", 1));
    assert_int_equal(jint(r, "pos"), 6);
    json_decref(r);
    post(f, room, 1, "not streamed");

    r = read_after(f, room, 1, NULL);
    assert_int_equal(jint(r, "pos"), 6);
    assert_true(json_is_null(GET(r, "reset")));
    assert_string_equal(kinds(r, buf, sizeof buf), "message.append,message.edit,read.mark_room,"
                                                   "message.delete,participant.remove");
    ev = NTH(GET(r, "events"), 0);
    assert_int_equal(jint(ev, "pos"), 2);
    assert_string_equal(STR(GET(GET(ev, "body"), "message"), "content"), "secret words");
    assert_string_equal(STR(GET(GET(GET(ev, "body"), "message"), "extra"), "username"), "alice");
    ev = NTH(GET(r, "events"), 1);
    assert_string_equal(STR(GET(GET(ev, "body"), "message"), "content"), "edited words");
    ev = NTH(GET(r, "events"), 2);
    assert_int_equal(json_integer_value(NTH(GET(GET(ev, "body"), "marked"), 0)), id);
    assert_string_equal(STR(GET(GET(ev, "body"), "extra"), "username"), "bob");
    assert_true(TRUE(GET(GET(NTH(GET(r, "events"), 3), "body"), "message"), "is_deleted"));
    assert_int_equal(jint(GET(NTH(GET(r, "events"), 4), "body"), "user_id"), 2);
    json_decref(r);

    /* sealed at rest: the content is nowhere in the events table (a new
     * message's event names the key "edited_at" in clear: its fields but
     * the content are as clear as its row in messages) */
    assert_int_equal(raw_int("SELECT count(*) FROM room_events WHERE room_id = %lld"
                             " AND (body LIKE '%%secret words%%' OR body LIKE '%%edited words%%')",
                             (long long)room),
                     0);
}

/* The keys of obj, in their order, as "a,b,c" in buf. */
static const char *keys(const json_t *obj, char *buf, size_t n)
{
    size_t off = 0;
    const char *k;
    json_t *v;

    buf[0] = '\0';
    json_object_foreach((json_t *)obj, k, v)
    {
        off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s", off ? "," : "", k);
    }
    return buf;
}

/* A message.append's event is the message in the store's shape, keys
 * sorted at every level, escapes and non-ASCII text kept, with and without
 * extra and stream_extra. */
static void test_append_body(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group");
    const char *content = "say \"hi\"\n\\ \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 </x>";
    json_t *extra = J("{s:s, s:{s:f, s:[i, s]}, s:n}", "z", "\xc3\xa9\"\t", "a", "y", 1.5, "b", 1,
                      "x", "m");
    json_t *sx = J("{s:b, s:n}", "q", 1, "b");
    json_t *r, *ev, *want;
    char buf[256];

    DO("participant.add", "{s:I, s:I}", "room_id", I(room), "user_id", I(1));
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:s, s:O, s:O, s:b}", "room_id", I(room), "sender_id", I(1),
             "content", content, "client_msg_id", "c\"1/\xc3\xa9", "extra", extra, "stream_extra",
             sx, "stream", 1));
    want = J("{s:O, s:{s:s, s:s, s:I, s:n, s:O, s:I, s:b, s:[], s:I, s:I}}", "extra", sx, "message",
             "client_msg_id", "c\"1/\xc3\xa9", "content", content, "created_at",
             I(jint(r, "created_at")), "edited_at", "extra", extra, "id", I(jint(r, "id")),
             "is_deleted", 0, "read_by", "room_id", I(room), "sender_id", I(1));
    json_decref(r);
    post(f, room, 1, "not streamed");
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:s, s:b}", "room_id", I(room), "sender_id", I(1), "content", "plain",
             "client_msg_id", "c2", "stream", 1));
    json_decref(r);

    r = read_after(f, room, 0, NULL);
    assert_int_equal(json_array_size(GET(r, "events")), 2);
    ev = GET(NTH(GET(r, "events"), 0), "body");
    assert_true(json_equal(ev, want));
    assert_string_equal(keys(ev, buf, sizeof buf), "extra,message");
    assert_string_equal(keys(GET(ev, "message"), buf, sizeof buf),
                        "client_msg_id,content,created_at,edited_at,extra,id,is_deleted,"
                        "read_by,room_id,sender_id");
    assert_string_equal(keys(GET(GET(ev, "message"), "extra"), buf, sizeof buf), "a,m,z");
    ev = GET(NTH(GET(r, "events"), 1), "body");
    assert_string_equal(keys(ev, buf, sizeof buf), "message");
    assert_true(json_is_null(GET(GET(ev, "message"), "extra")));
    assert_string_equal(STR(GET(ev, "message"), "content"), "plain");
    assert_string_equal(STR(GET(ev, "message"), "client_msg_id"), "c2");
    json_decref(r);
    json_decref(want);
    json_decref(extra);
    json_decref(sx);
}

/* A streamed message.append without stream_extra seals once: its event
 * row holds the message row's own ciphertext, key_id and nonce (its
 * other fields in clear, as messages holds them), and stream.read opens
 * it into the same body as a sealed one, which an edit leaves as it was.
 * The content is bound to its message: an event whose message id was
 * changed, or whose ciphertext is another message's, cannot be read. */
static void test_append_by_ref(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group"), a, b;
    char *body, *ct_a, *ct_b, buf[256];
    json_t *r, *ev;

    DO("participant.add", "{s:I, s:I}", "room_id", I(room), "user_id", I(1));
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:{s:s}, s:s, s:b}", "room_id", I(room), "sender_id", I(1),
             "content", "first \"quoted\" words", "extra", "username", "alice", "client_msg_id",
             "k1", "stream", 1));
    a = jint(r, "id");
    json_decref(r);
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:s, s:b}", "room_id", I(room), "sender_id", I(1), "content",
             "second", "client_msg_id", "k2", "stream", 1));
    b = jint(r, "id");
    json_decref(r);
    /* one seal: the event's key, nonce and ciphertext are the row's */
    assert_int_equal(raw_int("SELECT count(*) FROM room_events e JOIN messages m ON m.id = %lld"
                             " WHERE e.room_id = %lld AND e.pos = 1 AND e.nonce = m.nonce"
                             " AND e.key_id = m.key_id AND e.body LIKE '{\"c\":\"' || m.content"
                             " || '\",%%'",
                             (long long)a, (long long)room),
                     1);
    assert_int_equal(raw_int("SELECT count(*) FROM room_events WHERE room_id = %lld"
                             " AND (body LIKE '%%quoted%%' OR body LIKE '%%second%%')",
                             (long long)room),
                     0);
    DO("message.edit", "{s:I, s:I, s:s, s:b}", "id", I(a), "sender_id", I(1), "content", "changed",
       "stream", 1);
    r = read_after(f, room, 0, NULL);
    assert_int_equal(json_array_size(GET(r, "events")), 3);
    ev = GET(NTH(GET(r, "events"), 0), "body");
    assert_string_equal(keys(ev, buf, sizeof buf), "message");
    assert_string_equal(keys(GET(ev, "message"), buf, sizeof buf),
                        "client_msg_id,content,created_at,edited_at,extra,id,is_deleted,"
                        "read_by,room_id,sender_id");
    assert_string_equal(STR(GET(ev, "message"), "content"), "first \"quoted\" words");
    assert_string_equal(STR(GET(GET(ev, "message"), "extra"), "username"), "alice");
    assert_int_equal(jint(GET(ev, "message"), "id"), a);
    assert_int_equal(jint(GET(ev, "message"), "room_id"), room);
    assert_string_equal(STR(GET(GET(NTH(GET(r, "events"), 1), "body"), "message"), "content"),
                        "second");
    assert_string_equal(STR(GET(GET(NTH(GET(r, "events"), 2), "body"), "message"), "content"),
                        "changed");
    json_decref(r);

    /* the second event names the first message: its content no longer opens */
    body = raw("SELECT body FROM room_events WHERE room_id = %lld AND pos = 2", (long long)room);
    raw_exec("UPDATE room_events SET body = replace(body, '\"id\":%lld,', '\"id\":%lld,')"
             " WHERE room_id = %lld AND pos = 2",
             (long long)b, (long long)a, (long long)room);
    assert_int_equal(call(f, "stream.read", J("{s:I, s:I}", "room_id", I(room), "after_pos", I(1)),
                          NULL),
                     CH_STORE_EIO);
    /* the second event carries the first message's ciphertext: no either */
    ct_a = raw("SELECT content FROM messages WHERE id = %lld", (long long)a);
    ct_b = raw("SELECT content FROM messages WHERE id = %lld", (long long)b);
    raw_exec("UPDATE room_events SET body = replace('%s', '%s', '%s')"
             " WHERE room_id = %lld AND pos = 2",
             body, ct_b, ct_a, (long long)room);
    assert_int_equal(call(f, "stream.read", J("{s:I, s:I}", "room_id", I(room), "after_pos", I(1)),
                          NULL),
                     CH_STORE_EIO);
    raw_exec("UPDATE room_events SET body = '%s' WHERE room_id = %lld AND pos = 2", body,
             (long long)room);
    r = read_after(f, room, 1, NULL);
    assert_string_equal(STR(GET(GET(NTH(GET(r, "events"), 0), "body"), "message"), "content"),
                        "second");
    json_decref(r);
    free(body);
    free(ct_a);
    free(ct_b);
}

/* Another epoch, a position past the room's, and the present one. */
static void test_epoch(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group");
    json_t *r, *h;
    char *epoch;

    DO("participant.add", "{s:I, s:I, s:b}", "room_id", I(room), "user_id", I(1), "stream", 1);
    r = read_after(f, room, 0, NULL);
    epoch = strdup(STR(r, "epoch"));
    assert_int_equal(json_array_size(GET(r, "events")), 1);
    json_decref(r);
    h = ok(f, "message.history", J("{s:I}", "room_id", I(room)));
    assert_int_equal(jint(h, "pos"), 1);
    assert_string_equal(STR(h, "epoch"), epoch);
    json_decref(h);

    r = read_after(f, room, 1, epoch);
    assert_true(json_is_null(GET(r, "reset")));
    assert_int_equal(json_array_size(GET(r, "events")), 0);
    json_decref(r);
    r = read_after(f, room, 0, "0000000000000000");
    assert_string_equal(STR(r, "reset"), "epoch");
    assert_int_equal(json_array_size(GET(r, "events")), 0);
    json_decref(r);
    r = read_after(f, room, 2, epoch);
    assert_string_equal(STR(r, "reset"), "epoch");
    json_decref(r);

    r = ok(f, "stream.new_epoch", J("{}"));
    assert_string_not_equal(STR(r, "epoch"), epoch);
    json_decref(r);
    r = read_after(f, room, 0, epoch);
    assert_string_equal(STR(r, "reset"), "epoch");
    json_decref(r);
    free(epoch);
}

/* With stream_keep 3, the 64th position trims everything up to 61: a
 * reader after 60 must reload, one after 61 gets 62..64. */
static void test_retention(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group");
    json_t *r;

    for (int u = 1; u <= 64; u++)
        DO("participant.add", "{s:I, s:I, s:b, s:I}", "room_id", I(room), "user_id", I(u), "stream",
           1, "stream_keep", I(3));
    assert_int_equal(raw_int("SELECT count(*) FROM room_events WHERE room_id = %lld",
                             (long long)room),
                     3);
    r = read_after(f, room, 60, NULL);
    assert_string_equal(STR(r, "reset"), "retention");
    json_decref(r);
    r = read_after(f, room, 61, NULL);
    assert_true(json_is_null(GET(r, "reset")));
    assert_int_equal(json_array_size(GET(r, "events")), 3);
    assert_int_equal(jint(NTH(GET(r, "events"), 0), "pos"), 62);
    json_decref(r);
    EXPECT(CH_STORE_EINVAL, "participant.add", "{s:I, s:I, s:b, s:I}", "room_id", I(room),
           "user_id", I(1), "stream", 1, "stream_keep", I(0));
    EXPECT(CH_STORE_EINVAL, "stream.read", "{s:I}", "room_id", I(room));
    EXPECT(CH_STORE_ENOENT, "stream.read", "{s:I, s:I}", "room_id", BIG, "after_pos", I(0));
}

/* Streamed appends (PostgreSQL takes the position in the insert itself):
 * with and without the unread step, each takes the next position and
 * writes its event, the 64th trims as any change does, and a repeated
 * client_msg_id (a duplicate) takes no position. */
static void test_append_positions(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group");
    json_t *r;
    char cid[16];

    DO("participant.add", "{s:I, s:I}", "room_id", I(room), "user_id", I(1));
    for (int i = 1; i <= 65; i++) {
        snprintf(cid, sizeof cid, "c%d", i < 65 ? i : 64);
        r = ok(f, "message.append",
               J("{s:I, s:I, s:s, s:s, s:b, s:b, s:b, s:I}", "room_id", I(room), "sender_id", I(1),
                 "content", cid, "client_msg_id", cid, "participant", 1, "unread", i % 2 == 0,
                 "stream", 1, "stream_keep", I(3)));
        if (i < 65)
            assert_int_equal(jint(r, "pos"), i);
        else
            assert_true(TRUE(r, "duplicate") && !GET(r, "pos"));
        json_decref(r);
    }
    assert_int_equal(raw_int("SELECT stream_pos FROM rooms WHERE id = %lld", (long long)room), 64);
    assert_int_equal(raw_int("SELECT count(*) FROM room_events WHERE room_id = %lld",
                             (long long)room),
                     3);
    r = read_after(f, room, 61, NULL);
    assert_int_equal(json_array_size(GET(r, "events")), 3);
    assert_int_equal(jint(NTH(GET(r, "events"), 0), "pos"), 62);
    assert_string_equal(STR(GET(GET(NTH(GET(r, "events"), 0), "body"), "message"), "content"),
                        "c62");
    assert_string_equal(STR(GET(GET(NTH(GET(r, "events"), 1), "body"), "message"), "content"),
                        "c63");
    json_decref(r);
    /* the room deleted: its events and messages go with it (SQLite: the
     * foreign keys' cascades; PostgreSQL: rooms_rows_delete) */
    raw_exec("DELETE FROM rooms WHERE id = %lld", (long long)room);
    assert_int_equal(raw_int("SELECT count(*) FROM room_events WHERE room_id = %lld",
                             (long long)room),
                     0);
    assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE room_id = %lld", (long long)room),
                     0);
}

/* A page holds at most limit events, "more" says whether others follow. */
static void test_pages(void **state)
{
    fx *f = *state;
    int64_t room = new_room(f, "group");
    json_t *r;

    for (int u = 1; u <= 5; u++)
        DO("participant.add", "{s:I, s:I, s:b}", "room_id", I(room), "user_id", I(u), "stream", 1);
    r = ok(f, "stream.read",
           J("{s:I, s:I, s:I}", "room_id", I(room), "after_pos", I(1), "limit", I(2)));
    assert_int_equal(json_array_size(GET(r, "events")), 2);
    assert_true(TRUE(r, "more"));
    json_decref(r);
    r = ok(f, "stream.read",
           J("{s:I, s:I, s:I}", "room_id", I(room), "after_pos", I(3), "limit", I(2)));
    assert_int_equal(jint(NTH(GET(r, "events"), 1), "pos"), 5);
    assert_false(TRUE(r, "more"));
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {T(test_positions), T(test_append_body),      T(test_append_by_ref), T(test_epoch),
                                       T(test_retention), T(test_append_positions), T(test_pages)};

    return store_suite_main("store_stream", tests, sizeof tests / sizeof tests[0]);
}
