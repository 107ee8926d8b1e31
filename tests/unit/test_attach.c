/*
 * test_attach.c -- the parsers of attachments: http.h's Range header
 * (every form, the refusals, and a sweep checking the result always
 * stays inside the body), rest.h's media type, type allow-list and file
 * name of an upload, and the upload path that is streamed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "rest.h"

/* ch_http_range(v, size) gives rc and, for 1, [first, last]. */
static void range_is(const char *v, uint64_t size, int rc, uint64_t first, uint64_t last)
{
    uint64_t a = 7, b = 7;

    assert_int_equal(ch_http_range(v, size, &a, &b), rc);
    if (rc == 1) {
        assert_int_equal(a, first);
        assert_int_equal(b, last);
    }
}

static void range_forms(void **state)
{
    (void)state;
    range_is("bytes=0-99", 1000, 1, 0, 99);
    range_is("bytes=100-", 1000, 1, 100, 999);
    range_is("bytes=900-5000", 1000, 1, 900, 999); /* clipped */
    range_is("bytes=-100", 1000, 1, 900, 999);
    range_is("bytes=-5000", 1000, 1, 0, 999); /* the whole body */
    range_is("bytes= 5-5 ", 1000, 1, 5, 5);
    range_is("bytes=999-999", 1000, 1, 999, 999);
}

static void range_unsatisfiable(void **state)
{
    (void)state;
    range_is("bytes=1000-", 1000, -1, 0, 0);
    range_is("bytes=1000-2000", 1000, -1, 0, 0);
    range_is("bytes=-0", 1000, -1, 0, 0);
    range_is("bytes=0-", 0, -1, 0, 0);
    range_is("bytes=-1", 0, -1, 0, 0);
}

static void range_ignored(void **state)
{
    (void)state;
    range_is(NULL, 1000, 0, 0, 0);
    range_is("", 1000, 0, 0, 0);
    range_is("items=0-1", 1000, 0, 0, 0);
    range_is("bytes=0-1,5-9", 1000, 0, 0, 0); /* several: the whole body */
    range_is("bytes=5-1", 1000, 0, 0, 0);
    range_is("bytes=-", 1000, 0, 0, 0);
    range_is("bytes=a-b", 1000, 0, 0, 0);
    range_is("bytes=1", 1000, 0, 0, 0);
    range_is("bytes=--1", 1000, 0, 0, 0);
    range_is("bytes=+1-2", 1000, 0, 0, 0);
    range_is("bytes=99999999999999999999-", 1000, 0, 0, 0); /* overflow */
    range_is("bytes=0-99999999999999999999", 1000, 0, 0, 0);
}

/* Every small range text over small bodies: a 1 is always inside. */
static void range_sweep(void **state)
{
    static const char *const forms[] = {"bytes=%d-%d", "bytes=%d-", "bytes=-%d", "bytes=%d"};
    char v[64];

    (void)state;
    for (uint64_t size = 0; size < 12; size++)
        for (size_t f = 0; f < 4; f++)
            for (int a = 0; a < 14; a++)
                for (int b = 0; b < 14; b++) {
                    uint64_t first = 0, last = 0;
                    int rc;

                    snprintf(v, sizeof v, forms[f], a, b);
                    rc = ch_http_range(v, size, &first, &last);
                    assert_true(rc >= -1 && rc <= 1);
                    if (rc == 1)
                        assert_true(first <= last && last < size);
                    if (rc == -1)
                        assert_true(size == 0 || (uint64_t)a >= size || f == 2);
                }
}

static void media_types(void **state)
{
    char t[32];

    (void)state;
    assert_int_equal(ch_rest_media_type("Image/PNG", t, sizeof t), 0);
    assert_string_equal(t, "image/png");
    assert_int_equal(ch_rest_media_type("text/plain ; charset=utf-8", t, sizeof t), 0);
    assert_string_equal(t, "text/plain");
    assert_int_equal(ch_rest_media_type("application/vnd.ms-excel", t, sizeof t), 0);
    assert_int_equal(ch_rest_media_type(NULL, t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("image", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("image/", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("/png", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("image/png\r\nX-A: b", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("image/p ng", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("image/a/b", t, sizeof t), -1);
    assert_int_equal(ch_rest_media_type("application/an-extremely-long-subtype", t, sizeof t), -1);
}

static void allow_list(void **state)
{
    (void)state;
    assert_true(ch_rest_type_allowed(NULL, "image/png"));
    assert_true(ch_rest_type_allowed(NULL, "image/svg+xml"));
    assert_true(ch_rest_type_allowed(NULL, "application/pdf"));
    assert_true(ch_rest_type_allowed(NULL, "text/plain"));
    assert_false(ch_rest_type_allowed(NULL, "text/html"));
    assert_false(ch_rest_type_allowed(NULL, "application/pdfx"));
    assert_false(ch_rest_type_allowed(NULL, "imagex/png"));
    assert_true(ch_rest_type_allowed("text/csv, audio/*", "audio/ogg"));
    assert_true(ch_rest_type_allowed("text/csv, audio/*", "text/csv"));
    assert_false(ch_rest_type_allowed("text/csv, audio/*", "image/png"));
    assert_false(ch_rest_type_allowed("", "image/png"));
    assert_true(ch_rest_type_allowed("*", "anything/at-all"));
}

/* ch_rest_file_name(query, disposition) is want. */
static void name_is(const char *query, const char *disp, const char *want)
{
    char out[CH_REST_FILE_NAME_MAX + 1];

    memset(out, 'z', sizeof out);
    ch_rest_file_name(query, disp, out);
    assert_string_equal(out, want);
}

static void file_names(void **state)
{
    char long_name[1000], want[CH_REST_FILE_NAME_MAX + 1];

    (void)state;
    name_is("name=a%20b.png", NULL, "a b.png");
    name_is("x=1&name=c.txt&y=2", "attachment; filename=\"d.txt\"", "c.txt");
    name_is(NULL, "attachment; filename=\"d e.txt\"", "d e.txt");
    name_is("", "inline; filename=plain.txt; size=3", "plain.txt");
    name_is("name=..%2F..%2Fetc%2Fpasswd", NULL, "passwd");
    name_is("name=C:%5Cdir%5Cx.doc", NULL, "x.doc");
    name_is("name=a%0Ab%7F", NULL, "a_b_");
    name_is("name=..", NULL, "file");
    name_is("name=", NULL, "file");
    name_is(NULL, NULL, "file");
    name_is("name=dir%2F", NULL, "file");
    /* cut at a character boundary: 2-byte characters, limit even or odd */
    for (size_t i = 0; i < 150; i++)
        memcpy(long_name + 5 + 6 * i, "%C3%BC", 6);
    memcpy(long_name, "name=", 5);
    long_name[5 + 6 * 150] = '\0';
    for (size_t i = 0; i < CH_REST_FILE_NAME_MAX / 2; i++)
        memcpy(want + 2 * i, "\xc3\xbc", 2);
    want[CH_REST_FILE_NAME_MAX / 2 * 2] = '\0';
    name_is(long_name, NULL, want);
}

static void streamed_paths(void **state)
{
    static const char *const yes[] = {"/api/rooms/1/attachments/", "/api/rooms/42/attachments",
                                      "/api/rooms/7/attachments/?name=a.png"};
    static const char *const no[] = {"/api/rooms//attachments/",  "/api/rooms/1/attachments/x",
                                     "/api/rooms/1/messages/",    "/api/attachments/1/",
                                     "/api/rooms/1/attachmentsx", "/api/rooms/a/attachments/"};

    (void)state;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        assert_true(ch_rest_streamed(HTTP_POST, yes[i], strlen(yes[i])));
        assert_false(ch_rest_streamed(HTTP_GET, yes[i], strlen(yes[i])));
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(ch_rest_streamed(HTTP_POST, no[i], strlen(no[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_forms),   cmocka_unit_test(range_unsatisfiable),
        cmocka_unit_test(range_ignored), cmocka_unit_test(range_sweep),
        cmocka_unit_test(media_types),   cmocka_unit_test(allow_list),
        cmocka_unit_test(file_names),    cmocka_unit_test(streamed_paths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
