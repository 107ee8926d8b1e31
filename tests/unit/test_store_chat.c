/*
 * test_store_chat.c -- the chat plugins' store operations (host/store/store_chat.c):
 * unread.for_room (listed users, or the participants), message.append's
 * counts with "unread": true (and, with "unread_defer", once per room and
 * batch: ch_st_append_mark_batch), and read.mark_room; the unread
 * counters behind the counts (store_unread.c: triggers kept through
 * receipts, edits, deletes and undeletes, a room's deletion, a removed
 * participant, and migration 10's backfill of a database without them),
 * driven through the public store interface on a real uv loop, once per
 * backend, with the shared fixture of store_fixture.h: a fresh SQLite
 * file, then a fresh PostgreSQL database (the PostgreSQL group fails,
 * never skips, without CHANHOST_TEST_PG_URL).
 */
#include "store_fixture.h"

/* The shared store fixture plus two rooms and their messages. */
typedef struct chat_fx {
    fx f;                /* first: fx_teardown frees it as an fx */
    int64_t room, other; /* two rooms */
    int64_t m[6];        /* messages: see chat_setup */
} chat_fx;

/*
 * Each test starts with a store and two rooms: in `room`, m[0] and m[1]
 * by user 1, m[2] by user 2, m[3] by user 1 (deleted); in `other`, m[4]
 * by user 1.  Users 1, 2 and 3 are participants of `room`.
 */
static int chat_setup(void **state)
{
    chat_fx *c = calloc(1, sizeof *c);
    fx *f = &c->f;

    assert_non_null(c);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->s = open_store(&f->loop, G.key1, 0);
    c->room = new_room(f, "group");
    c->other = new_room(f, "group");
    for (int u = 1; u <= 3; u++)
        DO("participant.add", "{s:I, s:I}", "room_id", I(c->room), "user_id", I(u));
    c->m[0] = post(f, c->room, 1, "hello");
    c->m[1] = post(f, c->room, 1, "hello");
    c->m[2] = post(f, c->room, 2, "hello");
    c->m[3] = post(f, c->room, 1, "hello");
    c->m[4] = post(f, c->other, 1, "hello");
    DO("message.delete", "{s:I, s:I}", "id", I(c->m[3]), "sender_id", I(1));
    *state = c;
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
    json_t *r = ok(f, "read.mark_room",
                   J("{s:I, s:I, s:o}", "user_id", I(user), "room_id", I(room), "message_ids",
                     ids));
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
    chat_fx *x = *state;
    fx *f = &x->f;
    json_t *c;

    c = unread(f, x->room, J("[I, I, I, I, I]", I(1), I(2), I(3), I(3), I(9)));
    assert_int_equal(json_object_size(c), 4);
    assert_int_equal(count_of(c, 1), 1); /* m2 by user 2 */
    assert_int_equal(count_of(c, 2), 2); /* m0, m1 */
    assert_int_equal(count_of(c, 3), 3); /* m0, m1, m2 */
    assert_int_equal(count_of(c, 9), 3); /* not a participant: the room's count */
    json_decref(c);
    json_decref(ok(f, "read.mark", J("{s:I, s:[I]}", "user_id", I(2), "message_ids", I(x->m[0]))));
    c = unread(f, x->room, J("[I]", I(2)));
    assert_int_equal(count_of(c, 2), 1);
    json_decref(c);
    c = unread(f, x->other, J("[I, I]", I(1), I(2)));
    assert_int_equal(count_of(c, 1), 0);
    assert_int_equal(count_of(c, 2), 1);
    json_decref(c);
}

/* Without user_ids: every participant of the room, and only them. */
static void test_unread_of_participants(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    json_t *r, *c;

    r = ok(f, "unread.for_room", J("{s:I}", "room_id", I(x->room)));
    c = GET(r, "counts");
    assert_int_equal(json_object_size(c), 3);
    assert_int_equal(count_of(c, 1), 1);
    assert_int_equal(count_of(c, 2), 2);
    assert_int_equal(count_of(c, 3), 3);
    json_decref(r);
    r = ok(f, "unread.for_room", J("{s:I, s:n}", "room_id", I(x->other), "user_ids"));
    assert_int_equal(json_object_size(GET(r, "counts")), 0);
    json_decref(r);
}

/* message.append with "unread": true answers the participants' counts
 * read in its own transaction (the new message counted, for all but its
 * sender), the same as unread.for_room right after; a duplicate, or an
 * append without it, has none. */
static void test_append_unread(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    json_t *r, *again, *u;

    json_decref(ok(f, "read.mark", J("{s:I, s:[I]}", "user_id", I(2), "message_ids", I(x->m[0]))));
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s, s:s, s:b}", "room_id", I(x->room), "sender_id", I(3), "content",
             "new", "client_msg_id", "u-1", "unread", 1));
    assert_false(TRUE(r, "duplicate"));
    assert_int_equal(json_object_size(GET(r, "unread")), 3);
    assert_int_equal(count_of(GET(r, "unread"), 1), 2); /* m2 and the new one */
    assert_int_equal(count_of(GET(r, "unread"), 2), 2); /* m1 and the new one */
    assert_int_equal(count_of(GET(r, "unread"), 3), 3); /* not its own */
    u = ok(f, "unread.for_room", J("{s:I}", "room_id", I(x->room)));
    assert_true(json_equal(GET(r, "unread"), GET(u, "counts")));
    json_decref(u);
    again = ok(f, "message.append",
               J("{s:I, s:I, s:s, s:s, s:b}", "room_id", I(x->room), "sender_id", I(3), "content",
                 "new", "client_msg_id", "u-1", "unread", 1));
    assert_true(TRUE(again, "duplicate"));
    assert_int_equal(json_integer_value(GET(again, "id")), json_integer_value(GET(r, "id")));
    assert_null(GET(again, "unread"));
    json_decref(again);
    json_decref(r);
    r = ok(f, "message.append",
           J("{s:I, s:I, s:s}", "room_id", I(x->other), "sender_id", I(1), "content", "x"));
    assert_null(GET(r, "unread"));
    json_decref(r);
}

/* A new request of op with params (stolen) and an empty ctx. */
static ch_store_req *hook_req(const char *op, json_t *params)
{
    ch_store_req *r = calloc(1, sizeof *r);

    assert_non_null(r);
    r->op = ch_store_op_find(op);
    r->params = params;
    r->ctx = json_object();
    return r;
}

/* The marking of a batch: an append that asks "unread" and
 * "unread_defer" leaves the counts to a later such append of the same
 * room; the last of each room, appends without unread_defer and other
 * operations keep them; a batch marked again is marked afresh.  A
 * marked append's insert then ends the request with "unread_deferred". */
static void test_mark_batch(void **state)
{
    static const int room[] = {1, 2, 1, 1, 2, 1, 3};
    static const int defer[] = {1, 1, 1, 0, 1, 1, 1};
    static const int later[] = {1, 1, 1, 0, 0, 0, 0};
    ch_store_req *r[8];
    const ch_store_step *st;
    json_t *rows;
    size_t n, ins = 0;

    (void)state;
    for (int i = 0; i < 7; i++)
        r[i] = hook_req("message.append", J("{s:I, s:I, s:s, s:s, s:b, s:b}", "room_id", I(room[i]),
                                            "sender_id", I(1), "content", "x", "client_msg_id", "c",
                                            "unread", 1, "unread_defer", defer[i]));
    r[7] = hook_req("unread.for_room", J("{s:I}", "room_id", I(1)));
    for (int i = 0; i < 8; i++)
        r[i]->next = i < 7 ? r[i + 1] : NULL;
    json_object_set_new(r[3]->ctx, "unread_later", json_true()); /* stale: not asked */
    ch_st_append_mark_batch(r[0]);
    ch_st_append_mark_batch(r[0]); /* again: the same marks */
    for (int i = 0; i < 7; i++)
        assert_int_equal(TRUE(r[i]->ctx, "unread_later"), later[i]);
    assert_null(GET(r[7]->ctx, "unread_later"));
    r[2]->next = NULL; /* a batch of r0..r2: r2 is now its room's last */
    ch_st_append_mark_batch(r[0]);
    assert_true(TRUE(r[0]->ctx, "unread_later"));
    assert_false(TRUE(r[1]->ctx, "unread_later"));
    assert_false(TRUE(r[2]->ctx, "unread_later"));
    st = ch_store_op_steps(r[0]->op, CH_STORE_SQLITE, &n);
    while (ins + 1 < n && st[ins + 1].rows != ch_st_rows_append_unread)
        ins++; /* the insert: the step before the unread counts (streams follow them) */
    assert_true(ins + 1 < n);
    rows = J("[{s:I, s:I, s:I}]", "id", I(9), "created_at", I(5), "duplicate", I(0));
    for (int i = 0; i < 3; i += 2) {
        r[i]->step = ins;
        assert_int_equal(st[ins].rows(r[i], rows), i ? CH_STEP_NEXT : CH_STEP_DONE);
        assert_int_equal(TRUE(r[i]->result, "unread_deferred"), !i);
    }
    json_decref(rows);
    for (int i = 0; i < 8; i++) {
        ch_store_req_rewind(r[i]);
        json_decref(r[i]->params);
        json_decref(r[i]->ctx);
        free(r[i]);
    }
}

/* Appends queued together on the real engine: each result has the counts
 * or says they were deferred, the last append of a room never defers,
 * and its counts are the room's after every one of them.  Three in four
 * are streamed: each of those has the room's next position (PostgreSQL:
 * the event with the counts, or alone for a deferring append). */
static void test_append_batch(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    res r[12] = {{0}};
    int done, last = -1;
    json_t *u;
    int64_t pos[2] = {0, 0};

    for (int i = 0; i < 12; i++) {
        int64_t room = i % 3 == 2 ? x->other : x->room;
        char cmid[16];

        snprintf(cmid, sizeof cmid, "b-%d", i);
        if (room == x->room)
            last = i;
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s, s:s, s:b, s:b, s:b}", "room_id", I(room),
                                         "sender_id", I(1 + i % 2), "content", "b", "client_msg_id",
                                         cmid, "unread", 1, "unread_defer", 1, "stream",
                                         i % 4 != 3),
                                       on_res, &r[i]),
                         0);
    }
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        done = 0;
        for (int i = 0; i < 12; i++)
            done += r[i].done;
    } while (done < 12);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(r[i].status, 0);
        assert_int_equal(json_is_object(GET(r[i].result, "unread")),
                         !TRUE(r[i].result, "unread_deferred"));
        if (i % 4 == 3) {
            assert_null(GET(r[i].result, "pos"));
        } else {
            assert_true(jint(r[i].result, "pos") > pos[i % 3 == 2]);
            pos[i % 3 == 2] = jint(r[i].result, "pos");
        }
    }
    u = ok(f, "stream.read", J("{s:I, s:I}", "room_id", I(x->room), "after_pos", I(pos[0] - 1)));
    assert_int_equal(json_array_size(GET(u, "events")), 1);
    assert_string_equal(STR(GET(GET(NTH(GET(u, "events"), 0), "body"), "message"), "content"), "b");
    json_decref(u);
    assert_false(TRUE(r[last].result, "unread_deferred"));
    assert_false(TRUE(r[11].result, "unread_deferred"));
    u = ok(f, "unread.for_room", J("{s:I}", "room_id", I(x->room)));
    assert_true(json_equal(GET(r[last].result, "unread"), GET(u, "counts")));
    assert_int_equal(count_of(GET(u, "counts"), 3), 3 + 8);
    json_decref(u);
    for (int i = 0; i < 12; i++)
        json_decref(r[i].result);
}

/* Receipts only for this room's messages of others, each once. */
static void test_mark_room(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    char buf[128], want[128];
    json_t *c;

    mark(f, 2, x->room,
         J("[I, I, I, I, I, I]", I(x->m[0]), I(x->m[1]), I(x->m[2]), I(x->m[3]), I(x->m[4]),
           I(1) << 40),
         buf, sizeof buf);
    snprintf(want, sizeof want, "%lld,%lld", (long long)x->m[0], (long long)x->m[1]);
    assert_string_equal(buf, want);
    assert_string_equal(mark(f, 2, x->room, J("[I, I]", I(x->m[0]), I(x->m[1])), buf, sizeof buf),
                        "");
    assert_string_equal(mark(f, 3, x->room, J("[I]", I(x->m[4])), buf, sizeof buf), "");
    assert_string_equal(mark(f, 1, x->room, J("[I, I]", I(x->m[0]), I(x->m[1])), buf, sizeof buf),
                        "");
    c = unread(f, x->room, J("[I, I]", I(2), I(3)));
    assert_int_equal(count_of(c, 2), 0);
    assert_int_equal(count_of(c, 3), 3);
    json_decref(c);
}

/* ---- the counters (store_unread.c) ----------------------------------------- */

/* The counter rows that disagree with a count from scratch, either way
 * (rows at 0 stand for no row). */
static int64_t counters_off(void)
{
#define LIVE                                                                                   \
    "SELECT room_id, sender_id, count(*) FROM messages WHERE is_deleted = 0 GROUP BY room_id," \
    " sender_id"
#define READ                                                                               \
    "SELECT m.room_id, x.user_id, count(*) FROM messages m JOIN read_receipts x"           \
    " ON x.message_id = m.id WHERE m.is_deleted = 0 AND x.user_id <> m.sender_id GROUP BY" \
    " m.room_id, x.user_id"
    return raw_int("SELECT (SELECT count(*) FROM (SELECT room_id, sender_id, n FROM"
                   " room_live_counts WHERE n <> 0 EXCEPT " LIVE ") a)"
                   " + (SELECT count(*) FROM (" LIVE " EXCEPT SELECT room_id, sender_id, n"
                   " FROM room_live_counts) b)"
                   " + (SELECT count(*) FROM (SELECT room_id, user_id, n FROM room_read_counts"
                   " WHERE n <> 0 EXCEPT " READ ") c)"
                   " + (SELECT count(*) FROM (" READ " EXCEPT SELECT room_id, user_id, n"
                   " FROM room_read_counts) d)");
#undef LIVE
#undef READ
}

/* The definition, counted from the messages themselves: user's unread in
 * room (live, not the user's own, without the user's receipt). */
static int64_t unread_by_scan(int64_t room, int64_t user)
{
    return raw_int("SELECT count(*) FROM messages m WHERE m.room_id = %lld AND m.is_deleted = 0"
                   " AND m.sender_id <> %lld AND NOT EXISTS (SELECT 1 FROM read_receipts x"
                   " WHERE x.message_id = m.id AND x.user_id = %lld)",
                   (long long)room, (long long)user, (long long)user);
}

/* Every count of the room's users 1..4 (unread.for_room, unread.counts)
 * is the scan's, and the counters are exact. */
static void check_room(fx *f, int64_t room)
{
    json_t *c = unread(f, room, J("[I, I, I, I]", I(1), I(2), I(3), I(4))), *r;
    char key[24];

    snprintf(key, sizeof key, "%lld", (long long)room);
    for (int64_t u = 1; u <= 4; u++) {
        assert_int_equal(count_of(c, u), unread_by_scan(room, u));
        r = ok(f, "unread.counts", J("{s:I}", "user_id", I(u)));
        if (GET(GET(r, "counts"), key))
            assert_int_equal(json_integer_value(GET(GET(r, "counts"), key)),
                             unread_by_scan(room, u));
        json_decref(r);
    }
    json_decref(c);
    assert_int_equal(counters_off(), 0);
}

/* Receipts, edits, deletes, an undelete, a changed sender, a receipt
 * moved to another reader, a receipt and a message deleted in SQL: the
 * counts stay the scan's. */
static void test_counters_follow_changes(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    char buf[128];
    json_t *c;

    check_room(f, x->room);
    json_decref(ok(f, "read.mark", J("{s:I, s:[I]}", "user_id", I(2), "message_ids", I(x->m[0]))));
    mark(f, 3, x->room, J("[I, I, I]", I(x->m[0]), I(x->m[1]), I(x->m[2])), buf, sizeof buf);
    json_decref(ok(f, "read.mark", J("{s:I, s:[I]}", "user_id", I(1), "message_ids", I(x->m[0]))));
    check_room(f, x->room);
    c = unread(f, x->room, J("[I, I, I]", I(1), I(2), I(3)));
    assert_int_equal(count_of(c, 1), 1);
    assert_int_equal(count_of(c, 2), 1);
    assert_int_equal(count_of(c, 3), 0);
    json_decref(c);
    DO("message.edit", "{s:I, s:I, s:s}", "id", I(x->m[1]), "sender_id", I(1), "content", "again");
    check_room(f, x->room);
    DO("message.delete", "{s:I, s:I}", "id", I(x->m[0]), "sender_id", I(1));
    check_room(f, x->room);
    c = unread(f, x->room, J("[I]", I(2)));
    assert_int_equal(count_of(c, 2), 1); /* m1 */
    json_decref(c);
    raw_exec("UPDATE messages SET is_deleted = 0 WHERE id = %lld", (long long)x->m[0]);
    check_room(f, x->room);
    raw_exec("UPDATE messages SET sender_id = 3 WHERE id = %lld", (long long)x->m[1]);
    check_room(f, x->room);
    raw_exec("UPDATE read_receipts SET user_id = 4 WHERE message_id = %lld AND user_id = 3",
             (long long)x->m[2]);
    check_room(f, x->room);
    raw_exec("DELETE FROM read_receipts WHERE message_id = %lld AND user_id = 4",
             (long long)x->m[2]);
    check_room(f, x->room);
    raw_exec("DELETE FROM messages WHERE id = %lld", (long long)x->m[0]); /* read by 2 and 3 */
    check_room(f, x->room);
    c = unread(f, x->room, J("[I, I, I]", I(1), I(2), I(3)));
    assert_int_equal(count_of(c, 1), 2); /* m1 (now 3's), m2 */
    assert_int_equal(count_of(c, 2), 1); /* m1 */
    assert_int_equal(count_of(c, 3), 1); /* m2, its receipt gone */
    json_decref(c);
    check_room(f, x->other);
}

/* A deleted room takes its counters along (and its messages' receipts);
 * the other room's stay exact. */
static void test_counters_room_deleted(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    char buf[128];
    json_t *c;

    mark(f, 2, x->room, J("[I, I]", I(x->m[0]), I(x->m[2])), buf, sizeof buf);
    mark(f, 2, x->other, J("[I]", I(x->m[4])), buf, sizeof buf);
    raw_exec("DELETE FROM rooms WHERE id = %lld", (long long)x->room);
    /* its messages go too (SQLite: the foreign key's cascade; PostgreSQL:
     * rooms_rows_delete, schema version 13) */
    assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE room_id = %lld",
                             (long long)x->room),
                     0);
    assert_int_equal(raw_int("SELECT count(*) FROM room_live_counts WHERE room_id = %lld",
                             (long long)x->room),
                     0);
    assert_int_equal(raw_int("SELECT count(*) FROM room_read_counts WHERE room_id = %lld",
                             (long long)x->room),
                     0);
    check_room(f, x->other);
    c = unread(f, x->other, J("[I]", I(2)));
    assert_int_equal(count_of(c, 2), 0);
    json_decref(c);
    post(f, x->other, 3, "after");
    check_room(f, x->other);
}

/* A removed participant is no longer listed; asked for by id, their count
 * is still the scan's (their receipts stay). */
static void test_counters_member_removed(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    char buf[128];
    json_t *r;

    mark(f, 3, x->room, J("[I]", I(x->m[0])), buf, sizeof buf);
    DO("participant.remove", "{s:I, s:I}", "room_id", I(x->room), "user_id", I(3));
    r = ok(f, "unread.for_room", J("{s:I}", "room_id", I(x->room)));
    assert_int_equal(json_object_size(GET(r, "counts")), 2);
    assert_null(GET(GET(r, "counts"), "3"));
    json_decref(r);
    check_room(f, x->room);
    assert_int_equal(unread_by_scan(x->room, 3), 2);
}

/* A database from before migration 10 (its objects dropped, then written
 * without them), brought up to date by the migration's text (and on
 * PostgreSQL version 12's): the
 * backfilled counters are exact, and kept from then on. */
static void test_counters_backfill(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    char buf[128];

    close_store(&f->loop, f->s);
    raw_exec("%s",
             G.pg ? "DROP TABLE room_live_counts, room_read_counts;"
                    " DROP FUNCTION ch_unread_message() CASCADE;"
                    " DROP FUNCTION ch_unread_messages_added() CASCADE;"
                    " DROP FUNCTION ch_unread_receipt() CASCADE;"
                    " DROP FUNCTION ch_unread_receipts_added() CASCADE;"
                    " DROP FUNCTION ch_unread_receipts_gone() CASCADE;"
                    " DROP FUNCTION ch_unread_room() CASCADE"
                  : "DROP TRIGGER messages_count_insert; DROP TRIGGER messages_count_update;"
                    " DROP TRIGGER messages_count_delete; DROP TRIGGER read_receipts_count_insert;"
                    " DROP TRIGGER read_receipts_count_update;"
                    " DROP TRIGGER read_receipts_count_delete; DROP TRIGGER rooms_counts_delete;"
                    " DROP TABLE room_live_counts; DROP TABLE room_read_counts");
    f->s = open_store(&f->loop, G.key1, 0); /* at the version it was: nothing re-applied */
    post(f, x->room, 2, "old");
    post(f, x->other, 3, "old");
    mark(f, 3, x->room, J("[I, I, I]", I(x->m[0]), I(x->m[1]), I(x->m[2])), buf, sizeof buf);
    mark(f, 1, x->room, J("[I]", I(x->m[2])), buf, sizeof buf);
    DO("message.delete", "{s:I, s:I}", "id", I(x->m[1]), "sender_id", I(1));
    close_store(&f->loop, f->s);
    raw_exec("%s", G.pg ? ch_st_unread_pg_v10 : ch_st_unread_sqlite_v10);
    if (G.pg) /* and version 12's statement trigger in place of the row one */
        raw_exec("%s", ch_st_unread_pg_v12);
    f->s = open_store(&f->loop, G.key1, 0);
    assert_true(raw_int("SELECT count(*) FROM room_read_counts WHERE n > 0") >= 2);
    check_room(f, x->room);
    check_room(f, x->other);
    post(f, x->room, 3, "new");
    check_room(f, x->room);
}

/* A full list of 500 ids works; the bounds and shapes are checked. */
static void test_params(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    json_t *ids = json_array(), *c;

    for (int i = 1; i <= 500; i++)
        json_array_append_new(ids, json_integer(i));
    c = unread(f, x->room, json_deep_copy(ids));
    assert_int_equal(json_object_size(c), 500);
    assert_int_equal(count_of(c, 500), 3);
    json_decref(c);
    json_array_append_new(ids, json_integer(501));
    assert_int_equal(call(f, "unread.for_room",
                          J("{s:I, s:o}", "room_id", I(x->room), "user_ids", ids), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "unread.for_room", J("{s:I, s:[]}", "room_id", I(x->room), "user_ids"),
                          NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "unread.for_room",
                          J("{s:I, s:[s]}", "room_id", I(x->room), "user_ids", "1"), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "unread.for_room", J("{s:[I]}", "user_ids", I(1)), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "read.mark_room",
                          J("{s:I, s:[I]}", "user_id", I(2), "message_ids", I(x->m[0])), NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "read.mark_room",
                          J("{s:I, s:I, s:[I]}", "user_id", I(2), "room_id", I(x->room),
                            "message_ids", I(0)),
                          NULL),
                     CH_STORE_EINVAL);
}

int main(void)
{
#define CT(name) cmocka_unit_test_setup_teardown(name, chat_setup, fx_teardown)
    const struct CMUnitTest tests[] = {CT(test_unread_counts),
                                       CT(test_unread_of_participants),
                                       CT(test_append_unread),
                                       CT(test_mark_batch),
                                       CT(test_append_batch),
                                       CT(test_mark_room),
                                       CT(test_counters_follow_changes),
                                       CT(test_counters_room_deleted),
                                       CT(test_counters_member_removed),
                                       CT(test_counters_backfill),
                                       CT(test_params)};
#undef CT

    return store_suite_main("store_chat", tests, sizeof tests / sizeof tests[0]);
}
