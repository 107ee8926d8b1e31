/*
 * test_layer_redis.c -- unit tests of the Redis channel-layer backend
 * (host/layer/layer_redis*.c) that need no server: payload encoding and
 * decoding (round trips and refusal of malformed payloads), the PUBLISH
 * command, url parsing and process ids of channel names.  The tests
 * against a real redis-server are in test_layer_redis_live.c and
 * test_layer_redis_outage.c.
 */
#include "layer_redis_fixture.h"

static const uint8_t ID_A[CH_RL_ID_LEN] = {0xde, 0xad, 0xbe, 0xef, 1, 2,  3,  4,
                                           5,    6,    7,    8,    9, 10, 11, 0xff};

/* ---- payloads ---------------------------------------------------------- */

static uint8_t *encode(const char *target, const char *text, uint64_t seq, size_t *len)
{
    uint8_t *buf;

    *len = ch_rl_payload_len(target, strlen(text));
    buf = malloc(*len);
    assert_non_null(buf);
    ch_rl_payload_write(buf, ID_A, seq, target, text, strlen(text));
    return buf;
}

static void payload_group_round_trip(void **state)
{
    const char *text = "{\"type\":\"chat_message\",\"message\":\"h\\u00e9\"}";
    ch_rl_payload p;
    size_t len;
    uint8_t *buf = encode(NULL, text, 0x0102030405060708ULL, &len);

    (void)state;
    assert_int_equal(len, CH_RL_HEADER + strlen(text));
    assert_int_equal(buf[0], CH_RL_VERSION);
    assert_int_equal(ch_rl_payload_decode(buf, len, 0, &p), 0);
    assert_memory_equal(p.sender, ID_A, CH_RL_ID_LEN);
    assert_true(p.seq == 0x0102030405060708ULL);
    assert_string_equal(p.target, "");
    assert_int_equal(p.text_len, strlen(text));
    assert_memory_equal(p.text, text, p.text_len);
    free(buf);
}

static void payload_direct_round_trip(void **state)
{
    const char *target = "chanhost." OTHER_HEX "!42", *text = "{\"type\":\"x\"}";
    ch_rl_payload p;
    size_t len;
    uint8_t *buf = encode(target, text, UINT64_MAX, &len);

    (void)state;
    assert_int_equal(len, CH_RL_HEADER + 1 + strlen(target) + strlen(text));
    assert_int_equal(ch_rl_payload_decode(buf, len, 1, &p), 0);
    assert_true(p.seq == UINT64_MAX);
    assert_string_equal(p.target, target);
    assert_int_equal(p.text_len, strlen(text));
    assert_memory_equal(p.text, text, p.text_len);
    /* the same bytes read as a group payload keep the name in the text */
    assert_int_equal(ch_rl_payload_decode(buf, len, 0, &p), 0);
    assert_int_equal(p.text_len, 1 + strlen(target) + strlen(text));
    free(buf);
}

static void payload_malformed_refused(void **state)
{
    const char *text = "{\"type\":\"x\"}";
    ch_rl_payload p;
    size_t len;
    uint8_t *g = encode(NULL, text, 1, &len), *d;
    uint8_t bad[CH_RL_HEADER + 120];

    (void)state;
    assert_int_equal(ch_rl_payload_decode(NULL, 0, 0, &p), -EINVAL);
    assert_int_equal(ch_rl_payload_decode(g, CH_RL_HEADER, 0, &p), -EINVAL); /* no text */
    assert_int_equal(ch_rl_payload_decode(g, 5, 0, &p), -EINVAL);            /* short */
    g[0] = CH_RL_VERSION + 1;
    assert_int_equal(ch_rl_payload_decode(g, len, 0, &p), -EINVAL); /* version */
    free(g);
    d = encode("chan.a!1", text, 1, &len);
    assert_int_equal(ch_rl_payload_decode(d, CH_RL_HEADER + 4, 1, &p), -EINVAL); /* cut name */
    assert_int_equal(ch_rl_payload_decode(d, CH_RL_HEADER + 9, 1, &p), -EINVAL); /* no text */
    free(d);
    memset(bad, 0, sizeof bad);
    bad[0] = CH_RL_VERSION;
    bad[CH_RL_HEADER] = 0; /* empty name */
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
    bad[CH_RL_HEADER] = 110; /* too long */
    memset(bad + CH_RL_HEADER + 1, 'a', 110);
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
    bad[CH_RL_HEADER] = 3;
    memcpy(bad + CH_RL_HEADER + 1, "a b{", 4); /* bad chars */
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
    memcpy(bad + CH_RL_HEADER + 1, "a\0b{", 4); /* NUL */
    assert_int_equal(ch_rl_payload_decode(bad, sizeof bad, 1, &p), -EINVAL);
}

/* The hand-built PUBLISH equals hiredis's own formatting. */
static void publish_command_matches_hiredis(void **state)
{
    const char *text = "{\"type\":\"t\",\"m\":\"\\r\\n\"}";
    size_t len, plen;
    uint8_t *payload = encode(NULL, text, 7, &plen);
    char *mine = ch_rl_publish_command("chanhost:g:room_1", ID_A, 7, NULL, text, strlen(text),
                                       &len);
    char *theirs = NULL;
    int tlen = redisFormatCommand(&theirs, "PUBLISH %s %b", "chanhost:g:room_1", payload, plen);

    (void)state;
    assert_non_null(mine);
    assert_int_equal(len, (size_t)tlen);
    assert_memory_equal(mine, theirs, len);
    free(mine);
    redisFreeCommand(theirs);
    free(payload);
}

/* ---- urls and names ------------------------------------------------------ */

static void url_parse_accepts(void **state)
{
    ch_rl_url u;
    char err[256];

    (void)state;
    assert_int_equal(ch_rl_url_parse("redis://127.0.0.1", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.where, "127.0.0.1:6379");
    assert_int_equal(ch_rl_url_parse("redis://:s%40cret@cache.local:6380/3", &u, err, sizeof err),
                     0);
    assert_string_equal(u.host, "cache.local");
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s@cret");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
    assert_int_equal(ch_rl_url_parse("redis://app:pw@[::1]:7000/", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.user, "app");
    assert_string_equal(u.where, "[::1]:7000");
    assert_int_equal(ch_rl_url_parse("unix:///run/redis/redis.sock?db=2&password=x%26y", &u, err,
                                     sizeof err),
                     0);
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "x&y");
    assert_int_equal(ch_layer_redis_url_check("unix:///tmp/r.sock", err, sizeof err), 0);
}

static void url_parse_refuses(void **state)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"redis://", "host"},
        {"redis://:6379", "host"},
        {"redis://h:0", "port"},
        {"redis://h:65536", "port"},
        {"redis://h:63a9", "port"},
        {"redis://h/zero", "database"},
        {"redis://secret@h", "':'"},
        {"redis://h?db=1", "query"},
        {"redis://[::1:6379", "IPv6"},
        {"redis://:%zz@h", "escape"},
        {"unix://relative.sock", "absolute"},
        {"unix:///r.sock?timeout=1", "unknown parameter"},
        {"unix:///r.sock?db=x", "db"},
        {"http://h", "not a redis url"},
    };
    char err[256];
    ch_rl_url u;
    uv_loop_t loop;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(ch_rl_url_parse(bad[i].url, &u, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].why))
            fail_msg("%s: '%s' does not mention '%s'", bad[i].url, err, bad[i].why);
    }
    /* the password never appears in a message */
    ch_rl_url_parse("redis://:hunter2@h:x", &u, err, sizeof err);
    assert_null(strstr(err, "hunter2"));
    /* ch_layer_new refuses a bad url with the parser's reason */
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_null(ch_layer_new(&loop, "redis://h:99999", NULL, on_deliver, NULL, err, sizeof err));
    assert_non_null(strstr(err, "port '99999'"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void channel_process_ids(void **state)
{
    char hex[33];
    uint8_t id[CH_RL_ID_LEN];

    (void)state;
    assert_int_equal(ch_rl_channel_process("chanhost." OTHER_HEX "!17", hex), 0);
    assert_string_equal(hex, OTHER_HEX);
    assert_int_equal(ch_rl_id_parse(hex, id), 0);
    assert_int_equal(id[0], 0x01);
    assert_int_equal(id[15], 0xef);
    assert_int_equal(ch_rl_channel_process("specific." OTHER_HEX "!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost.0123!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost." OTHER_HEX "0!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost.0123456789ABCDEF0123456789abcdef!1", hex), -1);
    assert_int_equal(ch_rl_channel_process("chanhost." OTHER_HEX, hex), -1);
    assert_int_equal(ch_rl_id_parse("0123456789abcdef0123456789abcdeg", id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(payload_group_round_trip),
        cmocka_unit_test(payload_direct_round_trip),
        cmocka_unit_test(payload_malformed_refused),
        cmocka_unit_test(publish_command_matches_hiredis),
        cmocka_unit_test(url_parse_accepts),
        cmocka_unit_test(url_parse_refuses),
        cmocka_unit_test(channel_process_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
