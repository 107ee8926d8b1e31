/*
 * test_store_group.c -- appends queued together, as chatroom's arrive in
 * one commit window, give what the same appends give one at a time: on
 * PostgreSQL they run as grouped statements (store_pg_group.c, the groups
 * of store_append.c), one statement per step for the whole round; on
 * SQLite one statement each.  Covered: several rooms, two appends to one
 * room (positions in order), streamed and not, a client_msg_id repeated
 * within the batch and one repeated from an earlier batch (duplicates), a
 * sender who is no participant (EPERM) and a room that does not exist
 * (ENOENT) among them without disturbing the others, the unread counts
 * and the stream's events.  Run once per backend (store_fixture.h).
 */
#include "store_fixture.h"

#define N_APPENDS 9

/* One append of the batch: room index (-1: a room that does not exist),
 * sender, client_msg_id, streamed. */
typedef struct spec {
    int room;
    int sender;
    const char *cmid;
    int stream;
} spec;

static const spec BATCH[N_APPENDS] = {
    {0, 1, "g-0", 1},  /* room A */
    {1, 2, "g-1", 1},  /* room B */
    {0, 1, "g-0", 1},  /* repeats 0 within the batch */
    {0, 2, "g-3", 1},  /* room A again: the next position, the last of A */
    {2, 3, "pre", 1},  /* repeats a message of an earlier batch */
    {2, 1, "g-5", 0},  /* room C, not streamed, the last of C */
    {1, 9, "g-6", 1},  /* not a participant */
    {-1, 1, "g-7", 1}, /* no such room */
    {1, 3, "g-8", 1},  /* room B again, the last of B */
};

/* Queue every append of BATCH before running the loop (so that they
 * share a batch), then run it until all are answered. */
static void run_batch(fx *f, const int64_t *rooms, res *r)
{
    int done;

    for (int i = 0; i < N_APPENDS; i++) {
        const spec *b = &BATCH[i];
        int64_t room = b->room < 0 ? BIG : rooms[b->room];
        char content[16];

        snprintf(content, sizeof content, "text %d", i);
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s, s:s, s:b, s:b, s:b, s:b}", "room_id",
                                         I(room), "sender_id", I(b->sender), "content", content,
                                         "client_msg_id", b->cmid, "participant", 1, "unread", 1,
                                         "unread_defer", 1, "stream", b->stream),
                                       on_res, &r[i]),
                         0);
    }
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < N_APPENDS; i++)
            done += r[i].done;
    } while (done < N_APPENDS);
}

/* The stream events of room after position `after` (new reference). */
static json_t *events_after(fx *f, int64_t room, int64_t after)
{
    json_t *u = ok(f, "stream.read", J("{s:I, s:I}", "room_id", I(room), "after_pos", I(after)));
    json_t *ev = json_incref(GET(u, "events"));

    json_decref(u);
    return ev;
}

/* The content of stream event i of events (borrowed). */
static const char *event_text(const json_t *events, size_t i)
{
    return STR(GET(GET(NTH(events, i), "body"), "message"), "content");
}

static void test_batch_as_one_at_a_time(void **state)
{
    fx *f = *state;
    int64_t rooms[3], pre;
    res r[N_APPENDS] = {{0}};
    uint64_t groups = ch_store_pg_groups();
    json_t *ev, *u;

    for (int k = 0; k < 3; k++) {
        rooms[k] = new_room(f, "group");
        for (int user = 1; user <= 3; user++)
            DO("participant.add", "{s:I, s:I}", "room_id", I(rooms[k]), "user_id", I(user));
    }
    json_decref(ok(f, "message.append",
                   J("{s:I, s:I, s:s, s:s}", "room_id", I(rooms[2]), "sender_id", I(3), "content",
                     "earlier", "client_msg_id", "pre")));
    pre = raw_int("SELECT id FROM messages WHERE client_msg_id = 'pre'");
    run_batch(f, rooms, r);

    for (int i = 0; i < N_APPENDS; i++)
        if (i != 6 && i != 7)
            assert_int_equal(r[i].status, 0);
    assert_int_equal(r[6].status, CH_STORE_EPERM);
    assert_int_equal(r[7].status, CH_STORE_ENOENT);
    /* new ids in the order of the calls; the repeats are duplicates */
    assert_true(jint(r[0].result, "id") < jint(r[1].result, "id"));
    assert_true(jint(r[1].result, "id") < jint(r[3].result, "id"));
    assert_true(jint(r[3].result, "id") < jint(r[5].result, "id"));
    assert_true(jint(r[5].result, "id") < jint(r[8].result, "id"));
    assert_false(TRUE(r[0].result, "duplicate"));
    assert_true(TRUE(r[2].result, "duplicate"));
    assert_int_equal(jint(r[2].result, "id"), jint(r[0].result, "id"));
    assert_true(TRUE(r[4].result, "duplicate"));
    assert_int_equal(jint(r[4].result, "id"), pre);
    /* positions: each room's in the order of the calls, none unstreamed */
    assert_int_equal(jint(r[3].result, "pos"), jint(r[0].result, "pos") + 1);
    assert_int_equal(jint(r[8].result, "pos"), jint(r[1].result, "pos") + 1);
    assert_null(GET(r[5].result, "pos"));
    ev = events_after(f, rooms[0], jint(r[0].result, "pos") - 1);
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(event_text(ev, 0), "text 0");
    assert_string_equal(event_text(ev, 1), "text 3");
    json_decref(ev);
    ev = events_after(f, rooms[1], jint(r[1].result, "pos") - 1);
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(event_text(ev, 0), "text 1");
    assert_string_equal(event_text(ev, 1), "text 8");
    json_decref(ev);
    /* the last append of each room has the counts after the batch */
    for (int k = 0; k < 3; k++) {
        int last = k == 0 ? 3 : k == 1 ? 8 : 5;

        u = ok(f, "unread.for_room", J("{s:I}", "room_id", I(rooms[k])));
        assert_true(json_equal(GET(r[last].result, "unread"), GET(u, "counts")));
        json_decref(u);
    }
    assert_int_equal(jint(GET(r[3].result, "unread"), "3"), 2); /* g-0 and g-3 */
    assert_int_equal(jint(GET(r[8].result, "unread"), "1"), 2); /* g-1 and g-8 */
    assert_int_equal(jint(GET(r[5].result, "unread"), "2"), 2); /* earlier, g-5 */
    if (G.pg)
        assert_true(ch_store_pg_groups() - groups >= 3); /* each of the three steps */
    else
        assert_int_equal(ch_store_pg_groups(), groups);
    for (int i = 0; i < N_APPENDS; i++)
        json_decref(r[i].result);
}

/* Appends without counts (as the support plugin makes them): streamed
 * appends to three rooms, two to one, queued together: ids and positions
 * in order, every event written, and on PostgreSQL each step grouped. */
static void test_batch_without_counts(void **state)
{
    fx *f = *state;
    int64_t rooms[3];
    res r[4] = {{0}};
    uint64_t groups = ch_store_pg_groups();
    const int room_of[4] = {0, 1, 0, 2};
    int done;
    json_t *ev;

    for (int k = 0; k < 3; k++)
        rooms[k] = new_room(f, "group");
    for (int i = 0; i < 4; i++) {
        char text[8];

        snprintf(text, sizeof text, "c%d", i);
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s, s:s, s:b}", "room_id",
                                         I(rooms[room_of[i]]), "sender_id", I(1 + i), "content",
                                         text, "client_msg_id", text, "stream", 1),
                                       on_res, &r[i]),
                         0);
    }
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = r[0].done + r[1].done + r[2].done + r[3].done;
    } while (done < 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].status, 0);
        assert_null(GET(r[i].result, "unread"));
        if (i > 0)
            assert_true(jint(r[i - 1].result, "id") < jint(r[i].result, "id"));
    }
    assert_int_equal(jint(r[2].result, "pos"), jint(r[0].result, "pos") + 1);
    for (int k = 0; k < 3; k++) {
        ev = events_after(f, rooms[k], 0);
        assert_int_equal(json_array_size(ev), k == 0 ? 2 : 1);
        assert_string_equal(event_text(ev, 0), k == 0 ? "c0" : k == 1 ? "c1" : "c3");
        if (k == 0)
            assert_string_equal(event_text(ev, 1), "c2");
        json_decref(ev);
    }
    if (G.pg)
        assert_true(ch_store_pg_groups() - groups >= 3); /* first, insert, event */
    for (int i = 0; i < 4; i++)
        json_decref(r[i].result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {T(test_batch_as_one_at_a_time),
                                       T(test_batch_without_counts)};

    return store_suite_main("store_group", tests, sizeof tests / sizeof tests[0]);
}
