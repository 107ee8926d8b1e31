/*
 * test_store_chat.c -- the chat plugins' store operations (host/store/store_chat.c):
 * unread.for_room (listed users, or the participants), message.append's
 * counts with "unread": true (and, with "unread_defer", once per room and
 * batch: ch_st_append_mark_batch), and read.mark_room,
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
 * and its counts are the room's after every one of them. */
static void test_append_batch(void **state)
{
    chat_fx *x = *state;
    fx *f = &x->f;
    res r[12] = {{0}};
    int done, last = -1;
    json_t *u;

    for (int i = 0; i < 12; i++) {
        int64_t room = i % 3 == 2 ? x->other : x->room;
        char cmid[16];

        snprintf(cmid, sizeof cmid, "b-%d", i);
        if (room == x->room)
            last = i;
        assert_int_equal(ch_store_call(f->s, "message.append",
                                       J("{s:I, s:I, s:s, s:s, s:b, s:b}", "room_id", I(room),
                                         "sender_id", I(1 + i % 2), "content", "b", "client_msg_id",
                                         cmid, "unread", 1, "unread_defer", 1),
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
    }
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
    const struct CMUnitTest tests[] = {CT(test_unread_counts), CT(test_unread_of_participants),
                                       CT(test_append_unread), CT(test_mark_batch),
                                       CT(test_append_batch),  CT(test_mark_room),
                                       CT(test_params)};
#undef CT

    return store_suite_main("store_chat", tests, sizeof tests / sizeof tests[0]);
}
