/*
 * test_msg.c -- unit tests of host/core/msg.c: ch_buf reference counting,
 * unmasked frame headers at every length boundary (exact bytes), frame
 * building, and ch_msg (compact encoding, JSON reference, one shared
 * frame whose payload decodes back to the message, refusals, the same
 * bytes as jansson's compact encoding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"

/* ---- ch_buf ---------------------------------------------------------- */

static void buf_new_has_len_and_one_ref(void **state)
{
    ch_buf *b = ch_buf_new(7);

    (void)state;
    assert_non_null(b);
    assert_int_equal(b->len, 7);
    assert_int_equal(b->refs, 1);
    ch_buf_unref(b);
}

static void buf_new_zero_len(void **state)
{
    ch_buf *b = ch_buf_new(0);

    (void)state;
    assert_non_null(b);
    assert_int_equal(b->len, 0);
    ch_buf_unref(b);
}

static void buf_new_rejects_len_over_uint32(void **state)
{
    (void)state;
    _Static_assert(sizeof(size_t) > 4, "the test needs a 64-bit size_t");
    assert_null(ch_buf_new((size_t)UINT32_MAX + 1));
}

static void buf_from_copies_bytes(void **state)
{
    char src[] = "hello";
    ch_buf *b = ch_buf_from(src, 5);

    (void)state;
    assert_non_null(b);
    src[0] = 'J';
    assert_int_equal(b->len, 5);
    assert_memory_equal(b->data, "hello", 5);
    ch_buf_unref(b);
}

/* Two refs: the first unref must leave the buffer readable (ASan would
 * report a use after free otherwise), the second frees it. */
static void buf_ref_counts_up_and_down(void **state)
{
    ch_buf *b = ch_buf_from("abc", 3);

    (void)state;
    assert_ptr_equal(ch_buf_ref(b), b);
    assert_int_equal(b->refs, 2);
    ch_buf_unref(b);
    assert_int_equal(b->refs, 1);
    assert_memory_equal(b->data, "abc", 3);
    ch_buf_unref(b);
}

static void buf_unref_null_is_noop(void **state)
{
    (void)state;
    ch_buf_unref(NULL);
}

/* ---- frame headers ----------------------------------------------------- */

/* Header for len must have exactly `want` bytes, equal to `bytes`. */
static void check_header(int opcode, uint64_t len, const uint8_t *bytes, size_t want)
{
    uint8_t out[16];

    memset(out, 0xee, sizeof out);
    assert_int_equal(ch_ws_frame_header_len(len), want);
    assert_int_equal(ch_ws_frame_header(out, opcode, len), want);
    assert_memory_equal(out, bytes, want);
    assert_int_equal(out[want], 0xee); /* nothing written past it */
}

static void header_len_0(void **state)
{
    static const uint8_t want[] = {0x81, 0x00};

    (void)state;
    check_header(CH_WS_OP_TEXT, 0, want, sizeof want);
}

static void header_len_125_is_last_7bit(void **state)
{
    static const uint8_t want[] = {0x81, 125};

    (void)state;
    check_header(CH_WS_OP_TEXT, 125, want, sizeof want);
}

static void header_len_126_is_first_16bit(void **state)
{
    static const uint8_t want[] = {0x81, 126, 0x00, 126};

    (void)state;
    check_header(CH_WS_OP_TEXT, 126, want, sizeof want);
}

static void header_len_65535_is_last_16bit(void **state)
{
    static const uint8_t want[] = {0x81, 126, 0xff, 0xff};

    (void)state;
    check_header(CH_WS_OP_TEXT, 65535, want, sizeof want);
}

static void header_len_65536_is_first_64bit(void **state)
{
    static const uint8_t want[] = {0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00};

    (void)state;
    check_header(CH_WS_OP_TEXT, 65536, want, sizeof want);
}

static void header_64bit_is_big_endian(void **state)
{
    static const uint8_t want[] = {0x82, 127, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

    (void)state;
    check_header(CH_WS_OP_BINARY, 0x0102030405060708ull, want, sizeof want);
}

static void header_sets_fin_and_opcode_mask_clear(void **state)
{
    static const uint8_t close_hdr[] = {0x88, 2};
    static const uint8_t ping_hdr[] = {0x89, 0};
    static const uint8_t pong_hdr[] = {0x8a, 5};

    (void)state;
    check_header(CH_WS_OP_CLOSE, 2, close_hdr, sizeof close_hdr);
    check_header(CH_WS_OP_PING, 0, ping_hdr, sizeof ping_hdr);
    check_header(CH_WS_OP_PONG, 5, pong_hdr, sizeof pong_hdr);
}

static void frame_new_small_is_header_plus_payload(void **state)
{
    ch_buf *f = ch_ws_frame_new(CH_WS_OP_TEXT, "hi", 2);

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->len, 4);
    assert_memory_equal(f->data, "\x81\x02hi", 4);
    assert_int_equal(f->refs, 1);
    ch_buf_unref(f);
}

static void frame_new_empty_payload(void **state)
{
    ch_buf *f = ch_ws_frame_new(CH_WS_OP_CLOSE, NULL, 0);

    (void)state;
    assert_non_null(f);
    assert_int_equal(f->len, 2);
    assert_memory_equal(f->data, "\x88\x00", 2);
    ch_buf_unref(f);
}

static void frame_new_70000_uses_64bit_length(void **state)
{
    size_t n = 70000;
    uint8_t *p = malloc(n);
    ch_buf *f;

    (void)state;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)i;
    f = ch_ws_frame_new(CH_WS_OP_BINARY, p, n);
    assert_non_null(f);
    assert_int_equal(f->len, 10 + n);
    assert_int_equal(f->data[1], 127);
    assert_memory_equal(f->data + 10, p, n);
    ch_buf_unref(f);
    free(p);
}

/* ---- ch_msg ------------------------------------------------------------ */

/* The payload of an unmasked frame f; sets *len. */
static const uint8_t *frame_payload(const ch_buf *f, uint64_t *len)
{
    const uint8_t *d = f->data;

    assert_true(f->len >= 2);
    assert_int_equal(d[0], 0x81);
    assert_int_equal(d[1] & 0x80, 0);
    if ((d[1] & 0x7f) < 126) {
        *len = d[1] & 0x7f;
        d += 2;
    } else if ((d[1] & 0x7f) == 126) {
        *len = (uint64_t)d[2] << 8 | d[3];
        d += 4;
    } else {
        *len = 0;
        for (int i = 0; i < 8; i++)
            *len = *len << 8 | d[2 + i];
        d += 10;
    }
    assert_int_equal(*len, f->len - (uint64_t)(d - f->data));
    return d;
}

static void msg_from_json_encodes_compact(void **state)
{
    json_t *obj = json_pack("{s:s, s:[i,i]}", "type", "chat.message", "x", 1, 2);
    const char *err = NULL;
    ch_msg *m = ch_msg_from_json(obj, &err);

    (void)state;
    assert_non_null(m);
    assert_null(err);
    assert_int_equal(m->refs, 1);
    assert_string_equal(m->type, "chat.message");
    assert_null(strchr(m->text, ' '));
    assert_int_equal(m->text_len, strlen(m->text));
    assert_null(m->frame); /* built only when asked */
    ch_msg_unref(m);
    json_decref(obj);
}

static void msg_from_json_takes_own_json_ref(void **state)
{
    json_t *obj = json_pack("{s:s}", "type", "t");
    const char *err;
    ch_msg *m;

    (void)state;
    assert_int_equal(obj->refcount, 1);
    m = ch_msg_from_json(obj, &err);
    assert_non_null(m);
    assert_ptr_equal(m->json, obj);
    assert_int_equal(obj->refcount, 2);
    ch_msg_unref(m);
    assert_int_equal(obj->refcount, 1);
    json_decref(obj);
}

static void msg_outlives_callers_json_ref(void **state)
{
    json_t *obj = json_pack("{s:s, s:s}", "type", "greet", "who", "world");
    const char *err;
    ch_msg *m = ch_msg_from_json(obj, &err);

    (void)state;
    json_decref(obj);
    assert_string_equal(m->type, "greet");
    assert_string_equal(json_string_value(json_object_get(m->json, "who")), "world");
    ch_msg_unref(m);
}

static void msg_ref_keeps_message_alive(void **state)
{
    json_t *obj = json_pack("{s:s}", "type", "t");
    const char *err;
    ch_msg *m = ch_msg_from_json(obj, &err);

    (void)state;
    json_decref(obj);
    assert_ptr_equal(ch_msg_ref(m), m);
    assert_int_equal(m->refs, 2);
    ch_msg_unref(m);
    assert_string_equal(m->text, "{\"type\":\"t\"}");
    ch_msg_unref(m);
}

static void msg_unref_null_is_noop(void **state)
{
    (void)state;
    ch_msg_unref(NULL);
}

static void msg_frame_is_shared_not_copied(void **state)
{
    ch_msg *m = ch_msg_from_text("{\"type\":\"t\"}", 12, NULL);
    ch_buf *f1, *f2;

    (void)state;
    assert_non_null(m);
    f1 = ch_msg_frame(m);
    f2 = ch_msg_frame(m);
    assert_non_null(f1);
    assert_ptr_equal(f1, f2);
    assert_ptr_equal(m->frame, f1);
    assert_int_equal(f1->refs, 1); /* borrowed: no ref taken */
    ch_msg_unref(m);
}

static void msg_frame_payload_decodes_to_message(void **state)
{
    json_t *obj = json_pack("{s:s, s:s, s:i}", "type", "chat.message", "text",
                            "caf\xc3\xa9 \"quoted\"", "n", 42);
    const char *err;
    ch_msg *m = ch_msg_from_json(obj, &err);
    const uint8_t *payload;
    uint64_t len;
    json_t *back;

    (void)state;
    payload = frame_payload(ch_msg_frame(m), &len);
    assert_int_equal(len, m->text_len);
    assert_memory_equal(payload, m->text, len);
    back = json_loadb((const char *)payload, len, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, obj));
    json_decref(back);
    json_decref(obj);
    ch_msg_unref(m);
}

static void msg_frame_large_payload_decodes(void **state)
{
    char *big = malloc(70001);
    json_t *obj;
    ch_msg *m;
    const uint8_t *payload;
    uint64_t len;
    const char *err;

    (void)state;
    memset(big, 'x', 70000);
    big[70000] = '\0';
    obj = json_pack("{s:s, s:s}", "type", "big", "data", big);
    m = ch_msg_from_json(obj, &err);
    assert_non_null(m);
    payload = frame_payload(ch_msg_frame(m), &len);
    assert_true(len > 65535);
    assert_int_equal(ch_msg_frame(m)->data[1], 127);
    assert_memory_equal(payload, m->text, len);
    ch_msg_unref(m);
    json_decref(obj);
    free(big);
}

static void msg_frame_survives_msg_with_own_ref(void **state)
{
    ch_msg *m = ch_msg_from_text("{\"type\":\"t\"}", 12, NULL);
    ch_buf *f = ch_buf_ref(ch_msg_frame(m));

    (void)state;
    ch_msg_unref(m);
    assert_int_equal(f->refs, 1);
    assert_memory_equal(f->data, "\x81\x0c{\"type\":\"t\"}", 14);
    ch_buf_unref(f);
}

static void msg_from_text_reencodes_compact(void **state)
{
    static const char text[] = " { \"type\" : \"a.b\" ,\n \"v\" : [ 1 , 2 ] } ";
    const char *err = NULL;
    ch_msg *m = ch_msg_from_text(text, sizeof text - 1, &err);

    (void)state;
    assert_non_null(m);
    assert_string_equal(m->text, "{\"type\":\"a.b\",\"v\":[1,2]}");
    assert_string_equal(m->type, "a.b");
    assert_int_equal(m->json->refcount, 1); /* the parse's ref was dropped */
    ch_msg_unref(m);
}

static void msg_from_text_uses_len_not_nul(void **state)
{
    static const char text[] = "{\"type\":\"t\"}GARBAGE";
    const char *err = NULL;
    ch_msg *m = ch_msg_from_text(text, 12, &err);

    (void)state;
    assert_non_null(m);
    ch_msg_unref(m);
}

/* ---- refusals ---------------------------------------------------------- */

static void refuse_json(json_t *obj, const char *want)
{
    const char *err = NULL;

    assert_null(ch_msg_from_json(obj, &err));
    assert_non_null(err);
    assert_string_equal(err, want);
    json_decref(obj);
}

static void refuse_text(const char *text, const char *want_prefix)
{
    const char *err = NULL;

    assert_null(ch_msg_from_text(text, strlen(text), &err));
    assert_non_null(err);
    assert_memory_equal(err, want_prefix, strlen(want_prefix));
}

static void json_without_type_refused(void **state)
{
    (void)state;
    refuse_json(json_pack("{s:s}", "text", "x"), "message has no string \"type\"");
}

static void json_with_non_string_type_refused(void **state)
{
    (void)state;
    refuse_json(json_pack("{s:i}", "type", 3), "message has no string \"type\"");
    refuse_json(json_pack("{s:n}", "type"), "message has no string \"type\"");
}

static void json_non_object_refused(void **state)
{
    (void)state;
    refuse_json(json_pack("[s]", "type"), "message is not a JSON object");
    refuse_json(json_string("type"), "message is not a JSON object");
}

static void json_null_refused(void **state)
{
    const char *err = NULL;

    (void)state;
    assert_null(ch_msg_from_json(NULL, &err));
    assert_string_equal(err, "message is not a JSON object");
}

static void text_bad_json_refused(void **state)
{
    (void)state;
    refuse_text("{\"type\":", "invalid JSON: ");
    refuse_text("", "invalid JSON: ");
    refuse_text("{\"type\":\"t\"} x", "invalid JSON: ");
}

static void text_non_object_refused(void **state)
{
    (void)state;
    refuse_text("[1,2]", "message is not a JSON object");
}

static void text_without_type_refused(void **state)
{
    (void)state;
    refuse_text("{\"kind\":\"t\"}", "message has no string \"type\"");
}

/* m's text is exactly jansson's compact encoding of obj (stolen). */
static void check_same_as_jansson(json_t *obj)
{
    char *want = json_dumps(obj, JSON_COMPACT);
    ch_msg *m = ch_msg_from_json(obj, NULL);

    assert_non_null(want);
    assert_non_null(m);
    assert_string_equal(m->text, want);
    assert_int_equal(m->text_len, strlen(want));
    ch_msg_unref(m);
    free(want);
    json_decref(obj);
}

/* The host's encoder writes what jansson writes, byte for byte: plain
 * values, escapes, non-ASCII text, reals, keys needing escapes, empty and
 * nested containers, the integer extremes, a key order that is not
 * sorted. */
static void msg_encoding_matches_jansson(void **state)
{
    json_t *deep = json_pack("{s:s}", "type", "deep"), *cur = deep;

    (void)state;
    check_same_as_jansson(json_pack("{s:s, s:I, s:I, s:I, s:b, s:b, s:n}", "type", "t", "zero",
                                    (json_int_t)0, "min", (json_int_t)INT64_MIN, "max",
                                    (json_int_t)INT64_MAX, "yes", 1, "no", 0, "nothing"));
    check_same_as_jansson(json_pack("{s:s, s:s, s:s, s:s}", "type", "esc", "q", "a\"b\\c/d", "ctl",
                                    "tab\there\nnew\x01\x1f\x7f", "utf8",
                                    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    check_same_as_jansson(
        json_pack("{s:s, s:f, s:f, s:f}", "type", "real", "a", 1.0, "b", 0.1, "c", -2.5e300));
    check_same_as_jansson(json_pack("{s:s, s:{}, s:[], s:[{}, [], [i, s, n]], s:{s:{s:[]}}}",
                                    "type", "nest", "o", "a", "l", 1, "x", "in", "k", "j", "m"));
    check_same_as_jansson(json_pack("{s:s, s:s, s:i, s:s}", "zz", "first", "type", "t", "a\"k\n", 3,
                                    "", "empty key"));
    check_same_as_jansson(json_pack("{s:s, s:s}", "type", "", "caf\xc3\xa9", "key"));
    for (int i = 0; i < 100; i++) { /* deeper than the encoder goes itself */
        json_t *next = json_object();

        json_object_set_new(cur, "n", next);
        cur = next;
    }
    check_same_as_jansson(deep);
}

/* A string jansson cannot encode (bytes that are not UTF-8) inside an
 * object fails the message as before. */
static void msg_encoding_refuses_bad_utf8(void **state)
{
    json_t *obj = json_pack("{s:s}", "type", "t");
    const char *err = NULL;

    (void)state;
    json_object_set_new(obj, "bad", json_stringn_nocheck("\xff\xfe", 2));
    assert_null(ch_msg_from_json(obj, &err));
    assert_non_null(err);
    json_decref(obj);
}

/* ch_msg_check_json: the length ch_msg_from_json's text has, and its
 * refusals with the same reasons. */
static void msg_check_json_gives_length_and_refusals(void **state)
{
    json_t *obj = json_pack("{s:s, s:i, s:s}", "type", "note", "n", 42, "s", "caf\xc3\xa9\n");
    json_t *bad = json_pack("{s:s}", "type", "t");
    const char *err = NULL, *err2 = NULL;
    ch_msg *m = ch_msg_from_json(obj, NULL);
    size_t len = 0;

    (void)state;
    assert_non_null(m);
    assert_int_equal(ch_msg_check_json(obj, &len, &err), 0);
    assert_int_equal(len, m->text_len);
    ch_msg_unref(m);
    json_object_set_new(bad, "x", json_stringn_nocheck("\xff", 1));
    assert_int_equal(ch_msg_check_json(bad, &len, &err), -1);
    assert_null(ch_msg_from_json(bad, &err2));
    assert_string_equal(err, err2);
    json_object_set_new(bad, "type", json_integer(1));
    assert_int_equal(ch_msg_check_json(bad, &len, &err), -1);
    assert_null(ch_msg_from_json(bad, &err2));
    assert_string_equal(err, err2);
    assert_int_equal(ch_msg_check_json(json_null(), &len, &err), -1);
    json_decref(bad);
    json_decref(obj);
}

/* ch_msg_check_json_max: a bound at most max and at least the length
 * when it answers without encoding; the exact length when the bound
 * passes max or says nothing; the same refusals as ch_msg_check_json. */
static void msg_check_json_max_bounds_and_refuses(void **state)
{
    json_t *obj = json_pack("{s:s, s:i, s:[b, n, {s:i}], s:b}", "type", "notification", "n",
                            -1234567, "a", 1, "k", 7, "f", 0);
    json_t *odd = json_pack("{s:s, s:s, s:f}", "type", "t", "s", "caf\xc3\xa9", "r", 1.5);
    json_t *bad = json_pack("{s:s}", "type", "t");
    const char *err = NULL, *err2 = NULL;
    ch_msg *m = ch_msg_from_json(obj, NULL), *mo = ch_msg_from_json(odd, NULL);
    size_t len = 0, bound = 0, exact;

    (void)state;
    assert_non_null(m);
    assert_non_null(mo);
    exact = m->text_len;
    assert_int_equal(ch_msg_check_json_max(obj, 1u << 20, &bound, &err), 0);
    assert_true(bound >= exact && bound <= 1u << 20);
    /* under the bound but over the length: encoded, the exact length */
    assert_int_equal(ch_msg_check_json_max(obj, exact, &len, &err), 0);
    assert_int_equal(len, exact);
    assert_int_equal(ch_msg_check_json_max(obj, exact - 1, &len, &err), 0);
    assert_int_equal(len, exact);
    /* no bound (escapes, a real): encoded */
    assert_int_equal(ch_msg_check_json_max(odd, 1u << 20, &len, &err), 0);
    assert_int_equal(len, mo->text_len);
    assert_int_equal(ch_msg_check_json_max(obj, SIZE_MAX, &len, &err), 0);
    assert_true(len >= exact && len < SIZE_MAX / 2);
    json_object_set_new(bad, "x", json_stringn_nocheck("\xff", 1));
    assert_int_equal(ch_msg_check_json_max(bad, 1u << 20, &len, &err), -1);
    assert_null(ch_msg_from_json(bad, &err2));
    assert_string_equal(err, err2);
    json_object_set_new(bad, "type", json_integer(1));
    assert_int_equal(ch_msg_check_json_max(bad, 1u << 20, &len, &err), -1);
    assert_null(ch_msg_from_json(bad, &err2));
    assert_string_equal(err, err2);
    assert_int_equal(ch_msg_check_json_max(json_null(), 1u << 20, &len, &err), -1);
    ch_msg_unref(m);
    ch_msg_unref(mo);
    json_decref(bad);
    json_decref(odd);
    json_decref(obj);
}

/* A value nested past the encoder's depth, or one holding itself, has no
 * bound: ch_msg_check_json_max answers as the encoding does. */
static void msg_check_json_max_deep_and_cyclic(void **state)
{
    json_t *deep = json_pack("{s:s}", "type", "t"), *cur = deep;
    json_t *cyc = json_pack("{s:s}", "type", "t");
    const char *err = NULL;
    ch_msg *m;
    size_t len = 0;

    (void)state;
    for (int i = 0; i < 40; i++) {
        json_t *next = json_object();

        json_object_set_new(cur, "d", next);
        cur = next;
    }
    m = ch_msg_from_json(deep, NULL);
    assert_non_null(m);
    assert_int_equal(ch_msg_check_json_max(deep, 1u << 20, &len, &err), 0);
    assert_int_equal(len, m->text_len);
    ch_msg_unref(m);
    json_object_set_new(cyc, "a", json_object());
    assert_int_equal(json_object_set(json_object_get(cyc, "a"), "back", cyc), 0);
    assert_int_equal(ch_msg_check_json_max(cyc, 1u << 20, &len, &err), -1);
    assert_null(ch_msg_from_json(cyc, NULL));
    json_object_del(json_object_get(cyc, "a"), "back");
    json_decref(cyc);
    json_decref(deep);
}

static void refusal_with_null_err_is_safe(void **state)
{
    (void)state;
    assert_null(ch_msg_from_text("nope", 4, NULL));
    assert_null(ch_msg_from_json(NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_new_has_len_and_one_ref),
        cmocka_unit_test(buf_new_zero_len),
        cmocka_unit_test(buf_new_rejects_len_over_uint32),
        cmocka_unit_test(buf_from_copies_bytes),
        cmocka_unit_test(buf_ref_counts_up_and_down),
        cmocka_unit_test(buf_unref_null_is_noop),
        cmocka_unit_test(header_len_0),
        cmocka_unit_test(header_len_125_is_last_7bit),
        cmocka_unit_test(header_len_126_is_first_16bit),
        cmocka_unit_test(header_len_65535_is_last_16bit),
        cmocka_unit_test(header_len_65536_is_first_64bit),
        cmocka_unit_test(header_64bit_is_big_endian),
        cmocka_unit_test(header_sets_fin_and_opcode_mask_clear),
        cmocka_unit_test(frame_new_small_is_header_plus_payload),
        cmocka_unit_test(frame_new_empty_payload),
        cmocka_unit_test(frame_new_70000_uses_64bit_length),
        cmocka_unit_test(msg_from_json_encodes_compact),
        cmocka_unit_test(msg_from_json_takes_own_json_ref),
        cmocka_unit_test(msg_outlives_callers_json_ref),
        cmocka_unit_test(msg_ref_keeps_message_alive),
        cmocka_unit_test(msg_unref_null_is_noop),
        cmocka_unit_test(msg_frame_is_shared_not_copied),
        cmocka_unit_test(msg_frame_payload_decodes_to_message),
        cmocka_unit_test(msg_frame_large_payload_decodes),
        cmocka_unit_test(msg_frame_survives_msg_with_own_ref),
        cmocka_unit_test(msg_from_text_reencodes_compact),
        cmocka_unit_test(msg_from_text_uses_len_not_nul),
        cmocka_unit_test(json_without_type_refused),
        cmocka_unit_test(json_with_non_string_type_refused),
        cmocka_unit_test(json_non_object_refused),
        cmocka_unit_test(json_null_refused),
        cmocka_unit_test(text_bad_json_refused),
        cmocka_unit_test(text_non_object_refused),
        cmocka_unit_test(text_without_type_refused),
        cmocka_unit_test(refusal_with_null_err_is_safe),
        cmocka_unit_test(msg_encoding_matches_jansson),
        cmocka_unit_test(msg_encoding_refuses_bad_utf8),
        cmocka_unit_test(msg_check_json_gives_length_and_refusals),
        cmocka_unit_test(msg_check_json_max_bounds_and_refuses),
        cmocka_unit_test(msg_check_json_max_deep_and_cyclic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
