/*
 * test_store_read.c -- the message store's reading side (host/store/):
 * message history (limits, after_id, before_id paging), read receipts
 * (read.mark, read.bulk, read_by), unread counts and rooms.for_user.
 * Driven through the public interface on a real uv loop, once per
 * backend: a fresh SQLite file, then a fresh PostgreSQL database
 * chanhost_test_store_read_<pid> (store_fixture.h; without
 * CHANHOST_TEST_PG_URL the suite fails).
 */
#include "store_fixture.h"

/* ---- history --------------------------------------------------------------- */

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
    assert_string_equal(marked(f, "read.bulk",
                               J("{s:I, s:I, s:I}", "user_id", I(3), "room_id", I(room), "up_to_id",
                                 I(a2)),
                               got, sizeof got),
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
    json_t *got, *rooms;

    for (int i = 0; i < 3; i++)
        DO("participant.add", "{s:I, s:I}", "room_id",
           I(i == 0   ? r1
             : i == 1 ? r2
                      : r3),
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
    got = ok(f, "rooms.for_user", J("{s:I}", "user_id", I(user)));
    rooms = GET(got, "rooms");
    assert_int_equal(json_array_size(rooms), 3);
    assert_int_equal(jint(NTH(rooms, 0), "id"), r2);
    assert_int_equal(jint(NTH(rooms, 0), "unread"), 1);
    assert_string_equal(STR(GET(NTH(rooms, 0), "last_message"), "content"), "three");
    assert_int_equal(jint(NTH(rooms, 1), "id"), r1);
    assert_string_equal(STR(GET(NTH(rooms, 1), "last_message"), "content"), "mine");
    assert_int_equal(jint(NTH(rooms, 2), "id"), r3);
    assert_true(json_is_null(GET(NTH(rooms, 2), "last_message")));
    json_decref(got);
    got = ok(f, "rooms.for_user", J("{s:I}", "user_id", BIG));
    assert_int_equal(json_array_size(GET(got, "rooms")), 0);
    json_decref(got);
    EXPECT(CH_STORE_EINVAL, "unread.counts", "{s:s}", "user_id", "x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_history),
        T(test_read_receipts),
        T(test_unread_counts),
    };

    return store_suite_main("store_read", tests, sizeof tests / sizeof tests[0]);
}
