/*
 * test_store_rooms.c -- the store's operation over a user's rooms
 * (host/store/store_rooms.c: room.conversations), through the public
 * store interface on a real uv loop, once per backend, with the shared
 * fixture of store_fixture.h: a fresh SQLite file, then a fresh
 * PostgreSQL database (the PostgreSQL group fails, never skips, without
 * CHANHOST_TEST_PG_URL).
 */
#include "store_fixture.h"

/* The shared store fixture plus a range of user ids of this test's own. */
typedef struct support_fx {
    fx f;         /* first: fx_teardown frees it as an fx */
    int64_t base; /* this test's user ids start above it */
} support_fx;

static int support_setup(void **state)
{
    support_fx *x = calloc(1, sizeof *x);

    assert_non_null(x);
    assert_int_equal(uv_loop_init(&x->f.loop), 0);
    x->f.s = open_store(&x->f.loop, G.key1, 0);
    x->base = 1000000LL * ++G.seq;
    *state = x;
    return 0;
}

/* Room key (kind) with users as participants; its id. */
static int64_t room(fx *f, const char *key, const char *kind, int64_t u1, int64_t u2)
{
    json_t *r = ok(f, "room.get_or_create", J("{s:s, s:s}", "key", key, "kind", kind));
    int64_t id = json_integer_value(GET(GET(r, "room"), "id"));

    json_decref(r);
    json_decref(ok(f, "participant.add", J("{s:I, s:I}", "room_id", I(id), "user_id", I(u1))));
    if (u2)
        json_decref(ok(f, "participant.add", J("{s:I, s:I}", "room_id", I(id), "user_id", I(u2))));
    return id;
}

/* Append text to room as sender with an extra {"n": n}; the id. */
static int64_t post_n(fx *f, int64_t room_id, int64_t sender, const char *text, int n)
{
    json_t *r = ok(f, "message.append",
                   J("{s:I, s:I, s:s, s:{s:i}}", "room_id", I(room_id), "sender_id", I(sender),
                     "content", text, "extra", "n", n));
    int64_t id = json_integer_value(GET(r, "id"));

    json_decref(r);
    return id;
}

/* A key unique to this test: "<fmt ...>" with the test's base mixed in. */
static const char *key_of(int64_t base, char *buf, size_t n, const char *fmt, ...)
{
    char tail[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(buf, n, "t%lld:%s", (long long)base, tail);
    return buf;
}

/* room.conversations for user with prefix and limit (0: default);
 * the whole result (caller decrefs). */
static json_t *convs(fx *f, int64_t user, const char *prefix, int limit)
{
    json_t *p = J("{s:I, s:s, s:s}", "user_id", I(user), "kind", "ad_chat", "key_prefix", prefix);
    json_t *r;

    if (limit)
        json_object_set_new(p, "limit", json_integer(limit));
    r = ok(f, "room.conversations", p);
    assert_true(json_is_array(GET(r, "rooms")) && json_is_array(GET(r, "messages")));
    return r;
}

/* The ids of rooms[*] of a result. */
static int64_t room_at(const json_t *r, size_t i)
{
    return json_integer_value(GET(json_array_get(GET(r, "rooms"), i), "id"));
}

/* ---- tests --------------------------------------------------------------- */

/* Only the user's rooms of the kind whose key has the prefix, by id; the
 * last `limit` messages of each, merged oldest first, opened, with
 * extra. */
static void test_conversations(void **state)
{
    support_fx *x = *state;
    fx *f = &x->f;
    int64_t pub = x->base + 1, c1 = x->base + 2, c2 = x->base + 3, ids[6], more[6];
    char k[160], pre[160], text[32];
    int64_t r1, r2;
    json_t *cs, *m;

    r1 = room(f, key_of(x->base, k, sizeof k, "ad:1:client:%lld", (long long)c1), "ad_chat", c1,
              pub);
    r2 = room(f, key_of(x->base, k, sizeof k, "ad:1:client:%lld", (long long)c2), "ad_chat", c2,
              pub);
    room(f, key_of(x->base, k, sizeof k, "ad:11:client:%lld", (long long)c1), "ad_chat", c1, pub);
    room(f, key_of(x->base, k, sizeof k, "ad:1:client:999"), "ad_chat", c1, 0);  /* pub not in it */
    room(f, key_of(x->base, k, sizeof k, "ad:1:client:998"), "support", pub, 0); /* other kind */
    room(f, key_of(x->base, k, sizeof k, "ad:1"), "ad_chat", pub, 0);            /* prefix longer */
    for (int i = 0; i < 6; i++) {
        snprintf(text, sizeof text, "m%d", i);
        ids[i] = post_n(f, r1, i % 2 ? pub : c1, text, i);
        snprintf(text, sizeof text, "n%d", i);
        more[i] = post_n(f, r2, i % 2 ? pub : c2, text, i);
    }
    key_of(x->base, pre, sizeof pre, "ad:1:client:");
    cs = convs(f, pub, pre, 4);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 2);
    assert_int_equal(room_at(cs, 0), r1);
    assert_int_equal(room_at(cs, 1), r2);
    assert_string_equal(json_string_value(GET(json_array_get(GET(cs, "rooms"), 1), "kind")),
                        "ad_chat");
    /* the last 4 of r1 and of r2, merged by id */
    m = GET(cs, "messages");
    assert_int_equal(json_array_size(m), 8);
    for (int i = 0; i < 8; i++) {
        json_t *msg = json_array_get(m, (size_t)i);
        int n = 2 + i / 2, in_r1 = i % 2 == 0; /* m2 n2 m3 n3 ... */

        snprintf(text, sizeof text, "%s%d", in_r1 ? "m" : "n", n);
        assert_int_equal(json_integer_value(GET(msg, "id")), in_r1 ? ids[n] : more[n]);
        assert_int_equal(json_integer_value(GET(msg, "room_id")), in_r1 ? r1 : r2);
        assert_string_equal(json_string_value(GET(msg, "content")), text);
        assert_int_equal(json_integer_value(GET(GET(msg, "extra"), "n")), n);
    }
    json_decref(cs);
    /* a client sees only its own conversations; the default limit */
    cs = convs(f, c2, pre, 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 1);
    assert_int_equal(json_array_size(GET(cs, "messages")), 6);
    json_decref(cs);
    cs = convs(f, c1, pre, 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 2); /* r1 and client:999 */
    assert_int_equal(json_array_size(GET(cs, "messages")), 6);
    json_decref(cs);
}

/* The prefix is compared in characters, not bytes. */
static void test_unicode_prefix(void **state)
{
    support_fx *x = *state;
    fx *f = &x->f;
    int64_t u = x->base + 1;
    char k[160], pre[160];
    json_t *cs;

    room(f, key_of(x->base, k, sizeof k, "\xc3\xa9t\xc3\xa9:a"), "ad_chat", u, 0);
    room(f, key_of(x->base, k, sizeof k, "\xc3\xa9t\xc3\xa9s:b"), "ad_chat", u, 0);
    cs = convs(f, u, key_of(x->base, pre, sizeof pre, "\xc3\xa9t\xc3\xa9:"), 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 1);
    json_decref(cs);
    cs = convs(f, u, key_of(x->base, pre, sizeof pre, "\xc3\xa9t\xc3\xa9"), 0);
    assert_int_equal(json_array_size(GET(cs, "rooms")), 2);
    json_decref(cs);
}

/* No rooms: an empty list.  Bad parameters: EINVAL before queueing. */
static void test_empty_and_params(void **state)
{
    support_fx *x = *state;
    fx *f = &x->f;
    json_t *cs = convs(f, x->base + 7, "nothing:", 0), *out;

    assert_int_equal(json_array_size(GET(cs, "rooms")), 0);
    assert_int_equal(json_array_size(GET(cs, "messages")), 0);
    json_decref(cs);
    assert_int_equal(call(f, "room.conversations",
                          J("{s:I, s:s}", "user_id", I(1), "kind", "ad_chat"), &out),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "room.conversations",
                          J("{s:I, s:s, s:s, s:i}", "user_id", I(1), "kind", "ad_chat",
                            "key_prefix", "ad:", "limit", 501),
                          &out),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "room.conversations",
                          J("{s:i, s:s, s:s}", "user_id", 0, "kind", "ad_chat", "key_prefix",
                            "ad:"),
                          &out),
                     CH_STORE_EINVAL);
    assert_int_equal(call(f, "room.conversations",
                          J("{s:I, s:s, s:s}", "user_id", I(1), "kind", "ad_chat", "key_prefix",
                            ""),
                          &out),
                     CH_STORE_EINVAL);
}

int main(void)
{
#define ST(name) cmocka_unit_test_setup_teardown(name, support_setup, fx_teardown)
    const struct CMUnitTest tests[] = {ST(test_conversations), ST(test_unicode_prefix),
                                       ST(test_empty_and_params)};
#undef ST

    return store_suite_main("store_rooms", tests, sizeof tests / sizeof tests[0]);
}
