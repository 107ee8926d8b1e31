/*
 * test_layer_cr.c -- unit tests of the channels_redis codec
 * (host/layer/layer_cr_codec.c): decoding inbox members that channels_redis
 * 4.0.0 itself produced, packing the same messages into the same bytes,
 * round trips, the refusals of malformed members, and the channels_redis://
 * url (core/redis_url.c).
 *
 * The reference members were made with Debian's python3-channels-redis
 * 4.0.0 (python3-msgpack 1.0.3), /usr/bin/python3:
 *
 *   from channels_redis.core import RedisChannelLayer
 *   l = RedisChannelLayer(hosts=["redis://127.0.0.1:1"])
 *   l.serialize(message)      # 12 random bytes + msgpack.packb(use_bin_type=True)
 *
 * with the messages quoted above each array.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layer_cr.h"

#define CH_A "specific.527169f0e94d44fca56eaf2229620f5a!"

/* group_send's copy: {"type": "chat.message", "message": "hi",
 *  "__asgi_channel__": [CH_A "1", CH_A "2"]} */
static const char REF_GROUP[] = "\x26\x9e\x0d\x37\xf2\xa7\x4d\xe4\x52\xe6\xb4\x38"
                                "\x83\xa4\x74\x79\x70\x65\xac\x63\x68\x61\x74\x2e"
                                "\x6d\x65\x73\x73\x61\x67\x65\xa7\x6d\x65\x73\x73"
                                "\x61\x67\x65\xa2\x68\x69\xb0\x5f\x5f\x61\x73\x67"
                                "\x69\x5f\x63\x68\x61\x6e\x6e\x65\x6c\x5f\x5f\x92"
                                "\xd9\x2b\x73\x70\x65\x63\x69\x66\x69\x63\x2e\x35"
                                "\x32\x37\x31\x36\x39\x66\x30\x65\x39\x34\x64\x34"
                                "\x34\x66\x63\x61\x35\x36\x65\x61\x66\x32\x32\x32"
                                "\x39\x36\x32\x30\x66\x35\x61\x21\x31\xd9\x2b\x73"
                                "\x70\x65\x63\x69\x66\x69\x63\x2e\x35\x32\x37\x31"
                                "\x36\x39\x66\x30\x65\x39\x34\x64\x34\x34\x66\x63"
                                "\x61\x35\x36\x65\x61\x66\x32\x32\x32\x39\x36\x32"
                                "\x30\x66\x35\x61\x21\x32";

/* send's member: {"type": "direct_message", "n": -3, "big": 70000,
 *  "f": 1.5, "ok": True, "no": False, "nil": None,
 *  "list": [1, "x", {"k": "é"}], "bin": b"raw", "__asgi_channel__": CH_A "7"} */
static const char REF_SEND_BIN[] = "\x0c\x5c\x7f\xd0\xa6\xa3\xa4\x50\x65\x13\x27\x0e"
                                   "\x8a\xa4\x74\x79\x70\x65\xae\x64\x69\x72\x65\x63"
                                   "\x74\x5f\x6d\x65\x73\x73\x61\x67\x65\xa1\x6e\xfd"
                                   "\xa3\x62\x69\x67\xce\x00\x01\x11\x70\xa1\x66\xcb"
                                   "\x3f\xf8\x00\x00\x00\x00\x00\x00\xa2\x6f\x6b\xc3"
                                   "\xa2\x6e\x6f\xc2\xa3\x6e\x69\x6c\xc0\xa4\x6c\x69"
                                   "\x73\x74\x93\x01\xa1\x78\x81\xa1\x6b\xa2\xc3\xa9"
                                   "\xa3\x62\x69\x6e\xc4\x03\x72\x61\x77\xb0\x5f\x5f"
                                   "\x61\x73\x67\x69\x5f\x63\x68\x61\x6e\x6e\x65\x6c"
                                   "\x5f\x5f\xd9\x2b\x73\x70\x65\x63\x69\x66\x69\x63"
                                   "\x2e\x35\x32\x37\x31\x36\x39\x66\x30\x65\x39\x34"
                                   "\x64\x34\x34\x66\x63\x61\x35\x36\x65\x61\x66\x32"
                                   "\x32\x32\x39\x36\x32\x30\x66\x35\x61\x21\x37";

/* The same without "bin" (what a JSON message can hold). */
static const char REF_SEND[] = "\xba\x00\xae\xb2\x84\x41\xc6\x0a\x59\xe1\xde\x0a"
                               "\x89\xa4\x74\x79\x70\x65\xae\x64\x69\x72\x65\x63"
                               "\x74\x5f\x6d\x65\x73\x73\x61\x67\x65\xa1\x6e\xfd"
                               "\xa3\x62\x69\x67\xce\x00\x01\x11\x70\xa1\x66\xcb"
                               "\x3f\xf8\x00\x00\x00\x00\x00\x00\xa2\x6f\x6b\xc3"
                               "\xa2\x6e\x6f\xc2\xa3\x6e\x69\x6c\xc0\xa4\x6c\x69"
                               "\x73\x74\x93\x01\xa1\x78\x81\xa1\x6b\xa2\xc3\xa9"
                               "\xb0\x5f\x5f\x61\x73\x67\x69\x5f\x63\x68\x61\x6e"
                               "\x6e\x65\x6c\x5f\x5f\xd9\x2b\x73\x70\x65\x63\x69"
                               "\x66\x69\x63\x2e\x35\x32\x37\x31\x36\x39\x66\x30"
                               "\x65\x39\x34\x64\x34\x34\x66\x63\x61\x35\x36\x65"
                               "\x61\x66\x32\x32\x32\x39\x36\x32\x30\x66\x35\x61"
                               "\x21\x37";

/* A normal channel's member: {"type": "chat_message", "message": "hello django"} */
static const char REF_PLAIN[] = "\x89\x2f\x90\x2b\xd2\x3f\x08\x24\x12\x8b\x2f\x33"
                                "\x82\xa4\x74\x79\x70\x65\xac\x63\x68\x61\x74\x5f"
                                "\x6d\x65\x73\x73\x61\x67\x65\xa7\x6d\x65\x73\x73"
                                "\x61\x67\x65\xac\x68\x65\x6c\x6c\x6f\x20\x64\x6a"
                                "\x61\x6e\x67\x6f";

#define SEND_JSON                                                                             \
    "{\"type\":\"direct_message\",\"n\":-3,\"big\":70000,\"f\":1.5,\"ok\":true,\"no\":false," \
    "\"nil\":null,\"list\":[1,\"x\",{\"k\":\"\\u00e9\"}]}"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

static void assert_json_equal(const json_t *a, const char *text)
{
    json_t *b = parse(text);

    if (!json_equal(a, b)) {
        char *got = json_dumps(a, JSON_COMPACT);

        fail_msg("got %s, want %s", got, text);
    }
    json_decref(b);
}

/* ---- decoding channels_redis's bytes ---------------------------------- */

static void decodes_a_group_copy(void **state)
{
    ch_cr_msg m;
    const char *why = NULL;

    (void)state;
    assert_int_equal(ch_cr_decode(REF_GROUP, sizeof REF_GROUP - 1, &m, &why), 0);
    assert_json_equal(m.obj, "{\"type\":\"chat.message\",\"message\":\"hi\"}");
    assert_json_equal(m.targets, "[\"" CH_A "1\",\"" CH_A "2\"]");
    json_decref(m.obj);
    json_decref(m.targets);
}

static void decodes_a_send_with_every_type(void **state)
{
    ch_cr_msg m;
    const char *why = NULL;
    json_t *want = parse(SEND_JSON);

    (void)state;
    assert_int_equal(ch_cr_decode(REF_SEND_BIN, sizeof REF_SEND_BIN - 1, &m, &why), 0);
    json_object_set_new(want, "bin", json_string("raw"));
    assert_true(json_equal(m.obj, want));
    assert_json_equal(m.targets, "[\"" CH_A "7\"]");
    json_decref(want);
    json_decref(m.obj);
    json_decref(m.targets);
}

static void decodes_a_normal_channel_message(void **state)
{
    ch_cr_msg m;
    const char *why = NULL;

    (void)state;
    assert_int_equal(ch_cr_decode(REF_PLAIN, sizeof REF_PLAIN - 1, &m, &why), 0);
    assert_json_equal(m.obj, "{\"type\":\"chat_message\",\"message\":\"hello django\"}");
    assert_int_equal(json_array_size(m.targets), 0);
    json_decref(m.obj);
    json_decref(m.targets);
}

/* ---- packing the same bytes ------------------------------------------- */

/* member's bytes after the random prefix equal ref's. */
static void assert_same_body(const char *member, size_t len, const char *ref, size_t reflen)
{
    assert_int_equal(len, reflen);
    assert_memory_equal(member + CH_CR_RANDOM, ref + CH_CR_RANDOM, len - CH_CR_RANDOM);
}

static void packs_a_send_as_channels_redis_does(void **state)
{
    json_t *obj = parse(SEND_JSON);
    size_t len = 0;
    char *member = ch_cr_member(obj, CH_A "7", &len);

    (void)state;
    assert_non_null(member);
    assert_same_body(member, len, REF_SEND, sizeof REF_SEND - 1);
    free(member);
    json_decref(obj);
}

static void packs_a_normal_channel_message(void **state)
{
    json_t *obj = parse("{\"type\":\"chat_message\",\"message\":\"hello django\"}");
    size_t len = 0;
    char *a = ch_cr_member(obj, NULL, &len), *b;
    size_t blen = 0;

    (void)state;
    assert_non_null(a);
    assert_same_body(a, len, REF_PLAIN, sizeof REF_PLAIN - 1);
    b = ch_cr_member(obj, NULL, &blen);
    assert_non_null(b);
    assert_memory_not_equal(a, b, CH_CR_RANDOM); /* the prefix is random */
    free(a);
    free(b);
    json_decref(obj);
}

static void round_trips(void **state)
{
    json_t *obj = parse("{\"type\":\"x.y\",\"s\":\"\\u20ac\",\"i\":-9007199254740993,\"u\":"
                        "18446744073709551,\"r\":-0.25,\"a\":[[],{}],\"long\":\"" CH_A CH_A "\"}");
    size_t len = 0;
    char *member = ch_cr_member(obj, CH_A "9", &len);
    const char *why = NULL;
    ch_cr_msg m;

    (void)state;
    assert_non_null(member);
    assert_int_equal(ch_cr_decode(member, len, &m, &why), 0);
    assert_true(json_equal(m.obj, obj));
    assert_json_equal(m.targets, "[\"" CH_A "9\"]");
    json_decref(m.obj);
    json_decref(m.targets);
    free(member);
    json_decref(obj);
}

static void refuses_to_pack_the_reserved_key(void **state)
{
    json_t *obj = parse("{\"type\":\"x\",\"__asgi_channel__\":\"a!b\"}");
    size_t len = 0;

    (void)state;
    assert_null(ch_cr_member(obj, NULL, &len));
    json_decref(obj);
}

/* ---- refusals ---------------------------------------------------------- */

static void refuses(const char *body, size_t len, const char *why_part)
{
    char buf[256];
    const char *why = NULL;
    ch_cr_msg m;

    memset(buf, 0x55, CH_CR_RANDOM);
    memcpy(buf + CH_CR_RANDOM, body, len);
    assert_int_equal(ch_cr_decode(buf, CH_CR_RANDOM + len, &m, &why), -EINVAL);
    assert_null(m.obj);
    assert_null(m.targets);
    assert_non_null(why);
    if (!strstr(why, why_part))
        fail_msg("reason '%s' lacks '%s'", why, why_part);
}

static void refuses_malformed_members(void **state)
{
    const char *why = NULL;
    ch_cr_msg m;

    (void)state;
    assert_int_equal(ch_cr_decode("0123456789ab", 12, &m, &why), -EINVAL);
    refuses("\x91\x01", 2, "not a msgpack map");
    refuses("\x81\xa1k", 3, "not one complete");
    refuses("\x80\x80", 2, "not one complete");
    refuses("\x81\x01\x01", 3, "map key");
    refuses("\x81\xa1k\xd4\x01\x00", 6, "no JSON form");                          /* fixext 1 */
    refuses("\x81\xa1k\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 12, "no JSON form"); /* > int64 */
    refuses("\x81\xa1k\xa2\xc3\x28", 6, "UTF-8");
    refuses("\x81\xb0__asgi_channel__\x01", 19, "neither");
    refuses("\x81\xb0__asgi_channel__\x91\x01", 20, "non-string");
    /* containers declaring more elements, strings more bytes, than are
     * left: refused before msgpack-c allocates from the count (a map32 of
     * 0x2b73... pairs made it ask for 64 GiB: fuzz_cr_codec's
     * regress_map32_huge_count) */
    refuses("\xdf\x2b\x73\x70\x65\xa1k\x01", 8, "not one complete");
    refuses("\xdd\xff\xff\xff\xff\x01", 6, "not one complete");
    refuses("\x81\xa1k\xdb\xff\xff\xff\xff", 8, "not one complete");
    refuses("\x81\xa1k\xc6\x00\x00\x10\x00\x01", 9, "not one complete");
    refuses("\x81\xa1k\xc1", 4, "not one complete");
}

/* Empty strings, as key and as value (msgpack-c may hand them out with a
 * NULL pointer: fuzz_cr_codec's regress_empty_key_null_ptr). */
static void decodes_empty_strings(void **state)
{
    static const char body[] = "\x83\xa1k\xa0\xa0\x01\xb0__asgi_channel__\xa3" "a!b";
    char buf[64];
    const char *why = NULL;
    ch_cr_msg m;

    (void)state;
    memset(buf, 0x55, CH_CR_RANDOM);
    memcpy(buf + CH_CR_RANDOM, body, sizeof body - 1);
    assert_int_equal(ch_cr_decode(buf, CH_CR_RANDOM + sizeof body - 1, &m, &why), 0);
    assert_string_equal(json_string_value(json_object_get(m.obj, "k")), "");
    assert_int_equal(json_integer_value(json_object_get(m.obj, "")), 1);
    json_decref(m.obj);
    json_decref(m.targets);
}

/* ---- the url ----------------------------------------------------------- */

static void parses_the_url(void **state)
{
    ch_rl_url u;
    ch_cr_opts o;
    char err[256];

    (void)state;
    assert_int_equal(ch_cr_url_parse("channels_redis://:pw@h:7/3", &u, &o, err, sizeof err), 0);
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 7);
    assert_int_equal(u.db, 3);
    assert_string_equal(u.password, "pw");
    assert_string_equal(o.prefix, "asgi");
    assert_int_equal(o.capacity, 100);
    assert_int_equal(o.expiry_s, 60);
    assert_int_equal(o.group_expiry_s, 86400);
    assert_int_equal(ch_cr_url_parse("channels_redis://h/0?prefix=app&capacity=5&expiry=9"
                                     "&group_expiry=77",
                                     &u, &o, err, sizeof err),
                     0);
    assert_string_equal(o.prefix, "app");
    assert_int_equal(o.capacity, 5);
    assert_int_equal(o.expiry_s, 9);
    assert_int_equal(o.group_expiry_s, 77);
    assert_int_equal(ch_cr_url_parse("channels_redis+unix:///run/r.sock?db=2&prefix=p&password=x",
                                     &u, &o, err, sizeof err),
                     0);
    assert_true(u.is_unix);
    assert_string_equal(u.path, "/run/r.sock");
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "x");
    assert_string_equal(o.prefix, "p");
    assert_int_equal(ch_cr_url_parse("channels_redis://h/0?db=1", &u, &o, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "unknown parameter 'db'"));
    assert_int_equal(ch_cr_url_parse("redis://h/0", &u, &o, err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_a_group_copy),
        cmocka_unit_test(decodes_a_send_with_every_type),
        cmocka_unit_test(decodes_a_normal_channel_message),
        cmocka_unit_test(packs_a_send_as_channels_redis_does),
        cmocka_unit_test(packs_a_normal_channel_message),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(refuses_to_pack_the_reserved_key),
        cmocka_unit_test(refuses_malformed_members),
        cmocka_unit_test(decodes_empty_strings),
        cmocka_unit_test(parses_the_url),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
