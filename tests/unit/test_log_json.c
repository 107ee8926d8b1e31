/*
 * test_log_json.c -- `log_format json` lines (log_json.h): the fixed
 * fields, key=value words as fields of their own, and valid JSON (checked
 * by jansson) for any message bytes: quotes, backslashes, control
 * characters, invalid and overlong UTF-8, NUL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log_json.h"

/* The line for msg[0..len) (worker 0, no plugin) parsed; the caller
 * decrefs it.  Asserts one object and the trailing newline. */
static json_t *line_of(const char *msg, size_t len, int worker, const char *plugin)
{
    ch_log_parts p = {"2026-12-03T11:54:54+00:00", "INFO", worker, plugin,
                      plugin ? strlen(plugin) : 0, msg,    len};
    size_t n = 0;
    char *s = ch_log_json(&p, &n);
    json_error_t err;
    json_t *o;

    assert_non_null(s);
    assert_int_equal(strlen(s), n);
    assert_true(n > 2 && s[n - 1] == '\n');
    assert_null(memchr(s, '\n', n - 1)); /* one line */
    o = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!o)
        print_error("not JSON (%s): %s\n", err.text, s);
    assert_non_null(o);
    assert_true(json_is_object(o));
    free(s);
    return o;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void fixed_fields(void **state)
{
    json_t *o = line_of("Listening on TCP address 127.0.0.1:8000", 39, 3, "chat");

    (void)state;
    assert_string_equal(str(o, "time"), "2026-12-03T11:54:54+00:00");
    assert_string_equal(str(o, "level"), "INFO");
    assert_int_equal(json_integer_value(json_object_get(o, "worker")), 3);
    assert_string_equal(str(o, "plugin"), "chat");
    assert_string_equal(str(o, "message"), "Listening on TCP address 127.0.0.1:8000");
    assert_int_equal(json_object_size(o), 5);
    json_decref(o);
    o = line_of("x", 1, 0, NULL);
    assert_null(json_object_get(o, "worker"));
    assert_null(json_object_get(o, "plugin"));
    json_decref(o);
}

static void key_value_words(void **state)
{
    const char *m = "WebSocket DISCONNECT /ws/a=b/ [1.2.3.4:5] code=1000 reason= x.y-z=\"q\" "
                    "code=9 level=DEBUG 9bad=1 =lone time=0";
    json_t *o = line_of(m, strlen(m), 0, NULL);

    (void)state;
    assert_string_equal(str(o, "message"), m);
    assert_string_equal(str(o, "code"), "1000"); /* the first one wins */
    assert_string_equal(str(o, "reason"), "");
    assert_string_equal(str(o, "x.y-z"), "\"q\"");
    assert_string_equal(str(o, "level"), "INFO"); /* fixed fields stay */
    assert_string_equal(str(o, "time"), "2026-12-03T11:54:54+00:00");
    assert_null(json_object_get(o, "9bad"));
    assert_null(json_object_get(o, "/ws/a"));
    assert_int_equal(json_object_size(o), 6);
    json_decref(o);
}

static void any_bytes_are_valid_json(void **state)
{
    static const char m[] = "q\"uote\\ back\ttab\nnl\r\x01\x1f\x7f nul:\0: "
                            "ok:h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 "
                            "bad:\xff\xfe \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x9c k=\xc3";
    json_t *o = line_of(m, sizeof m - 1, 0, NULL);
    const char *msg = str(o, "message");

    (void)state;
    assert_non_null(msg);
    assert_non_null(strstr(msg, "q\"uote\\ back\ttab\nnl\r\x01\x1f\x7f nul:"));
    assert_int_equal(json_string_length(json_object_get(o, "message")),
                     sizeof m - 1 + 14 * 2); /* 14 bad bytes: 1 -> 3 (U+FFFD) */
    assert_non_null(strstr(msg + strlen(msg) + 1, "ok:h\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"));
    assert_string_equal(str(o, "k"), "\xef\xbf\xbd");
    json_decref(o);
}

static void many_pairs_are_bounded(void **state)
{
    char m[4096];
    size_t n = 0;
    json_t *o;

    (void)state;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(m + n, sizeof m - n, "k%d=%d ", i, i);
    o = line_of(m, n, 0, NULL);
    assert_int_equal(json_object_size(o), 3 + 32);
    assert_string_equal(str(o, "k31"), "31");
    assert_null(json_object_get(o, "k32"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixed_fields),
        cmocka_unit_test(key_value_words),
        cmocka_unit_test(any_bytes_are_valid_json),
        cmocka_unit_test(many_pairs_are_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
