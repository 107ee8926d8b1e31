/*
 * test_multipart.c -- net/multipart.c: a form with a file and a field
 * parsed whole and split at every byte (the same events either way),
 * delimiter look-alikes inside the data, the boundary parameter's forms,
 * and the malformed bodies refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "multipart.h"

/* What the events saw, as text: "B(disp|type)" "D(data)" "E"; the data
 * of one part is gathered in cur first, so any split compares equal. */
typedef struct seen {
    char log[4096], cur[1024];
    size_t len, cur_len;
} seen;

static void add(seen *s, const char *text, size_t n)
{
    assert_true(n < sizeof s->log - s->len);
    memcpy(s->log + s->len, text, n);
    s->len += n;
    s->log[s->len] = '\0';
}

/* Log the gathered data, if any. */
static void flush(seen *s)
{
    if (!s->cur_len)
        return;
    add(s, "D(", 2);
    add(s, s->cur, s->cur_len);
    add(s, ")", 1);
    s->cur_len = 0;
}

static int on_begin(void *arg, const ch_mp_part *p)
{
    seen *s = arg;

    flush(s);
    add(s, "B(", 2);
    add(s, p->disposition, strlen(p->disposition));
    add(s, "|", 1);
    add(s, p->content_type, strlen(p->content_type));
    add(s, ")", 1);
    return 0;
}

static int on_data(void *arg, const char *d, size_t n)
{
    seen *s = arg;

    assert_true(n > 0 && n < sizeof s->cur - s->cur_len);
    memcpy(s->cur + s->cur_len, d, n);
    s->cur_len += n;
    return 0;
}

static int on_end(void *arg)
{
    seen *s = arg;

    flush(s);
    add(s, "E", 1);
    return 0;
}

static const ch_mp_events events = {on_begin, on_data, on_end};

static const char form[] = "preamble\r\n--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                           "Content-Type: image/png\r\n\r\n"
                           "PNG\r\n--XyY\r\n-XyZ\r--XyZ--\r\n\r\n\r\r\n-end"
                           "\r\n--XyZ  \r\n"
                           "content-disposition: form-data; name=\"note\"\r\n\r\n"
                           "hi"
                           "\r\n--XyZ--\r\nepilogue\r\n--XyZ\r\n";

static const char want[] = "B(form-data; name=\"file\"; filename=\"a.png\"|image/png)"
                           "D(PNG\r\n--XyY\r\n-XyZ\r--XyZ--\r\n\r\n\r\r\n-end)E"
                           "B(form-data; name=\"note\"|)D(hi)E";

/* Feed text in pieces of at most step bytes; returns the last rc. */
static int feed_in(ch_multipart *m, const char *text, size_t len, size_t step)
{
    int rc = 0;

    for (size_t i = 0; i < len && rc == 0; i += step)
        rc = ch_mp_feed(m, text + i, len - i < step ? len - i : step);
    return rc;
}

static void whole_and_split(void **state)
{
    (void)state;
    for (size_t step = 1; step <= sizeof form; step++) {
        seen s = {0};
        ch_multipart m;

        ch_mp_init(&m, "XyZ", &events, &s);
        assert_int_equal(feed_in(&m, form, sizeof form - 1, step), 0);
        assert_string_equal(s.log, want);
        assert_true(ch_mp_done(&m));
    }
}

static void starts_with_crlf_and_empty_parts(void **state)
{
    static const char body[] = "\r\n--b\r\n\r\n\r\n--b\r\n\r\nx\r\n--b--";
    seen s = {0};
    ch_multipart m;

    (void)state;
    ch_mp_init(&m, "b", &events, &s);
    assert_int_equal(ch_mp_feed(&m, body, sizeof body - 1), 0);
    s.log[s.len] = '\0';
    assert_string_equal(s.log, "B(|)EB(|)D(x)E");
    assert_true(ch_mp_done(&m));
}

static void unfinished_is_not_done(void **state)
{
    static const char body[] = "--b\r\n\r\nabc\r\n--";
    seen s = {0};
    ch_multipart m;

    (void)state;
    ch_mp_init(&m, "b", &events, &s);
    assert_int_equal(ch_mp_feed(&m, body, sizeof body - 1), 0);
    assert_false(ch_mp_done(&m));
}

static void malformed(void **state)
{
    static const char *const bodies[] = {
        "--b\r\nContent-Type: x\r\n", /* fine so far: not an error yet */
        "--bX\r\n\r\n",               /* garbage after the delimiter */
        "--b\r\nName: a\0b\r\n\r\n",  /* NUL in the headers */
        "--b-x",                      /* one dash */
    };
    static const size_t lens[] = {22, 9, 18, 5};
    static const int rcs[] = {0, -1, -1, -1};
    char big[CH_MP_HEADERS_MAX + 64];

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        seen s = {0};
        ch_multipart m;

        ch_mp_init(&m, "b", &events, &s);
        assert_int_equal(ch_mp_feed(&m, bodies[i], lens[i]), rcs[i]);
    }
    memset(big, 'h', sizeof big);
    memcpy(big, "--b\r\nX: ", 8);
    {
        seen s = {0};
        ch_multipart m;

        ch_mp_init(&m, "b", &events, &s);
        assert_int_equal(ch_mp_feed(&m, big, sizeof big), -1); /* headers too long */
    }
}

/* An event's non-zero value stops the feed and is returned. */
static int stop_at_data(void *arg, const char *d, size_t n)
{
    (void)arg;
    (void)d;
    (void)n;
    return 7;
}

static void an_event_stops_it(void **state)
{
    static const ch_mp_events stop = {NULL, stop_at_data, NULL};
    ch_multipart m;

    (void)state;
    ch_mp_init(&m, "XyZ", &stop, NULL);
    assert_int_equal(ch_mp_feed(&m, form, sizeof form - 1), 7);
}

static void boundary_parameter(void **state)
{
    char b[CH_MP_BOUNDARY_MAX + 1], long_b[200];

    (void)state;
    assert_int_equal(ch_mp_boundary("multipart/form-data; boundary=abc123", b), 0);
    assert_string_equal(b, "abc123");
    assert_int_equal(ch_mp_boundary("multipart/form-data;charset=x; BOUNDARY=\"a b:c\"", b), 0);
    assert_string_equal(b, "a b:c");
    assert_int_equal(ch_mp_boundary("multipart/form-data; boundary=----WebKit1;x=y", b), 0);
    assert_string_equal(b, "----WebKit1");
    assert_int_equal(ch_mp_boundary("multipart/form-data", b), -1);
    assert_int_equal(ch_mp_boundary(NULL, b), -1);
    assert_int_equal(ch_mp_boundary("multipart/form-data; boundary=", b), -1);
    assert_int_equal(ch_mp_boundary("multipart/form-data; boundary=\"open", b), -1);
    assert_int_equal(ch_mp_boundary("multipart/form-data; boundary=a\rb", b), -1);
    assert_int_equal(ch_mp_boundary("multipart/form-data; boundary=\"ends \"", b), -1);
    snprintf(long_b, sizeof long_b, "m/f; boundary=%071d", 0);
    assert_int_equal(ch_mp_boundary(long_b, b), -1);
    snprintf(long_b, sizeof long_b, "m/f; boundary=%070d", 0);
    assert_int_equal(ch_mp_boundary(long_b, b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_and_split),
        cmocka_unit_test(starts_with_crlf_and_empty_parts),
        cmocka_unit_test(unfinished_is_not_done),
        cmocka_unit_test(malformed),
        cmocka_unit_test(an_event_stops_it),
        cmocka_unit_test(boundary_parameter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
