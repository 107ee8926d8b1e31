/*
 * test_router.c -- unit tests of host/core/router.c: what each Django converter
 * accepts and refuses, full matching, the optional leading '/', greedy
 * matching with backtracking, compile errors, parameter lookup and
 * percent-decoding of request paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

/* Compile pattern (which must compile) and match path; returns what
 * ch_pattern_match returns.  The params are freed here. */
static int matches(const char *pattern, const char *path)
{
    char err[128] = "";
    ch_pattern *p = ch_pattern_compile(pattern, err, sizeof err);
    int r;

    if (!p)
        fail_msg("pattern '%s' did not compile: %s", pattern, err);
    r = ch_pattern_match(p, path, NULL);
    ch_pattern_free(p);
    return r;
}

/* Match path against pattern, asserting a match, and check that parameter
 * `name` has `value`. */
static void expect_param(const char *pattern, const char *path, const char *name, const char *value)
{
    ch_pattern *p = ch_pattern_compile(pattern, NULL, 0);
    ch_route_params params;

    assert_non_null(p);
    assert_int_equal(ch_pattern_match(p, path, &params), 1);
    assert_non_null(ch_route_param(&params, name));
    assert_string_equal(ch_route_param(&params, name), value);
    ch_route_params_free(&params);
    ch_pattern_free(p);
}

/* The error ch_pattern_compile gives for pattern (which must not compile),
 * in a static buffer. */
static const char *compile_error(const char *pattern)
{
    static char err[128];
    ch_pattern *p;

    strcpy(err, "(none)");
    p = ch_pattern_compile(pattern, err, sizeof err);
    if (p) {
        ch_pattern_free(p);
        fail_msg("pattern '%s' compiled", pattern);
    }
    return err;
}

/* --- int ------------------------------------------------------------- */

static void int_accepts_digits(void **state)
{
    (void)state;
    expect_param("/ws/<int:n>/", "/ws/42/", "n", "42");
    expect_param("/ws/<int:n>/", "/ws/007/", "n", "007");
}

static void int_refuses_minus_one(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<int:n>/", "/ws/-1/"), 0);
}

static void int_refuses_empty(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<int:n>/", "/ws//"), 0);
}

static void int_refuses_letters_and_plus(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<int:n>/", "/ws/12a/"), 0);
    assert_int_equal(matches("/ws/<int:n>/", "/ws/+1/"), 0);
    assert_int_equal(matches("/ws/<int:n>/", "/ws/1.5/"), 0);
}

/* --- str ------------------------------------------------------------- */

static void str_accepts_anything_but_slash(void **state)
{
    (void)state;
    expect_param("/ws/<str:s>/", "/ws/a b.c~!%@/", "s", "a b.c~!%@");
}

static void str_refuses_slash(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<str:s>/", "/ws/a/b/"), 0);
}

static void str_refuses_empty(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<str:s>/", "/ws//"), 0);
}

static void bare_name_is_str(void **state)
{
    (void)state;
    expect_param("/ws/<room>/", "/ws/lobby-1/", "room", "lobby-1");
    assert_int_equal(matches("/ws/<room>/", "/ws/a/b/"), 0);
}

/* --- slug ------------------------------------------------------------ */

static void slug_accepts_letters_digits_dash_underscore(void **state)
{
    (void)state;
    expect_param("/ws/<slug:s>/", "/ws/Ab-9_x/", "s", "Ab-9_x");
}

static void slug_refuses_blank(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<slug:s>/", "/ws/a b/"), 0);
}

static void slug_refuses_dot_and_non_ascii(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<slug:s>/", "/ws/a.b/"), 0);
    assert_int_equal(matches("/ws/<slug:s>/", "/ws/caf\xc3\xa9/"), 0);
}

/* --- uuid ------------------------------------------------------------ */

static void uuid_accepts_lowercase_hex(void **state)
{
    (void)state;
    expect_param("/ws/<uuid:u>/", "/ws/0123abcd-4567-89ef-0a1b-2c3d4e5f6789/", "u",
                 "0123abcd-4567-89ef-0a1b-2c3d4e5f6789");
}

static void uuid_refuses_uppercase(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<uuid:u>/", "/ws/0123ABCD-4567-89ef-0a1b-2c3d4e5f6789/"), 0);
}

static void uuid_refuses_wrong_group_lengths(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<uuid:u>/", "/ws/0123abc-d4567-89ef-0a1b-2c3d4e5f6789/"), 0);
    assert_int_equal(matches("/ws/<uuid:u>/", "/ws/0123abcd-4567-89ef-0a1b-2c3d4e5f678/"), 0);
    assert_int_equal(matches("/ws/<uuid:u>/", "/ws/0123abcd-4567-89ef-0a1b-2c3d4e5f67890/"), 0);
    assert_int_equal(matches("/ws/<uuid:u>/", "/ws/0123abcd45678-9ef-0a1b-2c3d4e5f6789/"), 0);
}

static void uuid_refuses_non_hex(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/<uuid:u>/", "/ws/0123abcg-4567-89ef-0a1b-2c3d4e5f6789/"), 0);
}

static void uuid_followed_by_more_text(void **state)
{
    (void)state;
    expect_param("<uuid:u>.json", "0123abcd-4567-89ef-0a1b-2c3d4e5f6789.json", "u",
                 "0123abcd-4567-89ef-0a1b-2c3d4e5f6789");
}

/* --- path ------------------------------------------------------------ */

static void path_accepts_slashes(void **state)
{
    (void)state;
    expect_param("/files/<path:p>", "/files/a/b/c.txt", "p", "a/b/c.txt");
}

static void path_refuses_empty(void **state)
{
    (void)state;
    assert_int_equal(matches("/files/<path:p>", "/files/"), 0);
}

static void path_backtracks_before_literal_suffix(void **state)
{
    (void)state;
    expect_param("<path:p>/end/", "a/b/end/", "p", "a/b");
    expect_param("<path:p>/end/", "/x/end/end/", "p", "x/end");
    assert_int_equal(matches("<path:p>/end/", "a/b/end/x"), 0);
}

static void greedy_first_converter_like_a_regex(void **state)
{
    (void)state;
    expect_param("<slug:a><int:b>", "ab12", "a", "ab1");
    expect_param("<slug:a><int:b>", "ab12", "b", "2");
    expect_param("<path:a>/<path:b>", "x/y/z", "a", "x/y");
    expect_param("<path:a>/<path:b>", "x/y/z", "b", "z");
}

static void hostile_path_does_not_explode(void **state)
{
    char *path = malloc(2001);

    (void)state;
    assert_non_null(path);
    memset(path, 'x', 2000);
    path[2000] = '\0';
    /* naive backtracking would try ~2000^4 splits */
    assert_int_equal(matches("<path:a>x<path:b>x<path:c>x<path:d>y", path), 0);
    path[1999] = 'y';
    assert_int_equal(matches("<path:a>x<path:b>x<path:c>x<path:d>y", path), 1);
    free(path);
}

/* --- whole-path rules ------------------------------------------------ */

static void multiple_params_in_order(void **state)
{
    ch_pattern *p = ch_pattern_compile("/ws/<slug:org>/<int:room>/<str:user>/", NULL, 0);
    ch_route_params params;

    (void)state;
    assert_non_null(p);
    assert_int_equal(ch_pattern_match(p, "/ws/acme/7/bob smith/", &params), 1);
    assert_int_equal(params.n, 3);
    assert_string_equal(params.names[0], "org");
    assert_string_equal(params.names[1], "room");
    assert_string_equal(params.names[2], "user");
    assert_string_equal(params.values[0], "acme");
    assert_string_equal(params.values[1], "7");
    assert_string_equal(params.values[2], "bob smith");
    assert_string_equal(ch_route_param(&params, "room"), "7");
    ch_route_params_free(&params);
    ch_pattern_free(p);
}

static void leading_slash_optional_on_both_sides(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/chat/", "/ws/chat/"), 1);
    assert_int_equal(matches("/ws/chat/", "ws/chat/"), 1);
    assert_int_equal(matches("ws/chat/", "/ws/chat/"), 1);
    assert_int_equal(matches("ws/chat/", "ws/chat/"), 1);
}

static void only_one_leading_slash_is_optional(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/chat/", "//ws/chat/"), 0);
}

static void trailing_slash_mismatch_refused(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/chat/", "/ws/chat"), 0);
    assert_int_equal(matches("/ws/chat", "/ws/chat/"), 0);
    assert_int_equal(matches("/ws/<int:n>/", "/ws/5"), 0);
}

static void full_match_required(void **state)
{
    (void)state;
    assert_int_equal(matches("/ws/chat/", "/ws/chat/extra"), 0);
    assert_int_equal(matches("/ws/chat/", "/x/ws/chat/"), 0);
    assert_int_equal(matches("/ws/chat/", "/ws/cha"), 0);
}

static void root_pattern_matches_root_only(void **state)
{
    (void)state;
    assert_int_equal(matches("/", "/"), 1);
    assert_int_equal(matches("/", ""), 1);
    assert_int_equal(matches("/", "/x"), 0);
}

static void literal_pattern_has_no_params(void **state)
{
    ch_pattern *p = ch_pattern_compile("/ws/echo/", NULL, 0);
    ch_route_params params;

    (void)state;
    assert_non_null(p);
    assert_int_equal(ch_pattern_match(p, "/ws/echo/", &params), 1);
    assert_int_equal(params.n, 0);
    assert_null(ch_route_param(&params, "x"));
    ch_route_params_free(&params);
    ch_pattern_free(p);
}

static void literal_angle_close_is_text(void **state)
{
    (void)state;
    assert_int_equal(matches("/a>b/", "/a>b/"), 1);
}

static void no_match_leaves_params_empty(void **state)
{
    ch_pattern *p = ch_pattern_compile("/ws/<int:n>/", NULL, 0);
    ch_route_params params;

    (void)state;
    assert_non_null(p);
    memset(&params, 0x5a, sizeof params);
    assert_int_equal(ch_pattern_match(p, "/ws/x/", &params), 0);
    assert_int_equal(params.n, 0);
    assert_null(params.buf);
    assert_null(ch_route_param(&params, "n"));
    ch_route_params_free(&params);
    ch_pattern_free(p);
}

static void values_are_copies(void **state)
{
    ch_pattern *p = ch_pattern_compile("/ws/<str:a>/<str:b>/", NULL, 0);
    ch_route_params params;
    char path[] = "/ws/one/two/";

    (void)state;
    assert_non_null(p);
    assert_int_equal(ch_pattern_match(p, path, &params), 1);
    memset(path, '#', strlen(path));
    assert_string_equal(ch_route_param(&params, "a"), "one");
    assert_string_equal(ch_route_param(&params, "b"), "two");
    assert_non_null(params.buf);
    assert_true(params.values[0] >= params.buf && params.values[1] > params.values[0]);
    ch_route_params_free(&params);
    assert_null(params.buf);
    ch_route_params_free(&params);
    ch_pattern_free(p);
}

static void route_param_lookups(void **state)
{
    ch_pattern *p = ch_pattern_compile("/ws/<int:room_id>/<slug:nick>/", NULL, 0);
    ch_route_params params;

    (void)state;
    assert_non_null(p);
    assert_int_equal(ch_pattern_match(p, "/ws/12/ann/", &params), 1);
    assert_string_equal(ch_route_param(&params, "room_id"), "12");
    assert_string_equal(ch_route_param(&params, "nick"), "ann");
    assert_null(ch_route_param(&params, "room"));
    assert_null(ch_route_param(&params, "ROOM_ID"));
    assert_null(ch_route_param(&params, NULL));
    assert_null(ch_route_param(NULL, "nick"));
    ch_route_params_free(&params);
    ch_pattern_free(p);
}

static void pattern_text_is_the_source(void **state)
{
    ch_pattern *p = ch_pattern_compile("/ws/<int:n>/", NULL, 0);

    (void)state;
    assert_non_null(p);
    assert_string_equal(ch_pattern_text(p), "/ws/<int:n>/");
    ch_pattern_free(p);
}

/* --- compile errors -------------------------------------------------- */

static void unknown_converter_refused(void **state)
{
    (void)state;
    assert_string_equal(compile_error("/ws/<foo:x>/"), "unknown converter 'foo'");
}

static void unterminated_angle_refused(void **state)
{
    (void)state;
    assert_string_equal(compile_error("/ws/<int:x"), "unterminated '<'");
    assert_string_equal(compile_error("/ws/<a<b>/"), "unterminated '<'");
}

static void duplicate_name_refused(void **state)
{
    (void)state;
    assert_string_equal(compile_error("/ws/<int:x>/<str:x>/"), "duplicate parameter 'x'");
}

static void too_many_params_refused(void **state)
{
    (void)state;
    assert_string_equal(compile_error("<a>/<b>/<c>/<d>/<e>/<f>/<g>/<h>/<i>"),
                        "more than 8 parameters");
}

static void eight_params_allowed(void **state)
{
    (void)state;
    expect_param("<a>/<b>/<c>/<d>/<e>/<f>/<g>/<h>", "1/2/3/4/5/6/7/8", "h", "8");
}

static void bad_parameter_names_refused(void **state)
{
    (void)state;
    assert_string_equal(compile_error("/ws/<int:1a>/"), "invalid parameter name '1a'");
    assert_string_equal(compile_error("/ws/<>/"), "invalid parameter name ''");
    assert_string_equal(compile_error("/ws/<int:>/"), "invalid parameter name ''");
    assert_string_equal(compile_error("/ws/<int:a b>/"), "invalid parameter name 'a b'");
}

static void compile_error_with_null_err_buffer(void **state)
{
    (void)state;
    assert_null(ch_pattern_compile("<foo:x>", NULL, 0));
}

/* --- percent-decoding ------------------------------------------------ */

/* ch_percent_decode of a C string, compared with want (NULL: refused). */
static void expect_decoded(const char *src, const char *want)
{
    char *got = ch_percent_decode(src, strlen(src));

    if (!want) {
        if (got)
            fail_msg("'%s' decoded to '%s', expected a refusal", src, got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void decode_plain_and_escapes(void **state)
{
    (void)state;
    expect_decoded("/ws/chat/", "/ws/chat/");
    expect_decoded("%41%62%2f%2F", "Ab//");
    expect_decoded("a+b%20c", "a+b c");
    expect_decoded("", "");
}

static void decode_refuses_malformed_escapes(void **state)
{
    (void)state;
    expect_decoded("%", NULL);
    expect_decoded("abc%4", NULL);
    expect_decoded("%G0", NULL);
    expect_decoded("%0g", NULL);
    expect_decoded("%%41", NULL);
}

static void decode_refuses_encoded_nul(void **state)
{
    (void)state;
    expect_decoded("/ws/a%00b/", NULL);
}

static void decode_respects_length(void **state)
{
    char *got = ch_percent_decode("abc%41", 3);
    char raw[] = {'a', '\0', 'b'};

    (void)state;
    assert_non_null(got);
    assert_string_equal(got, "abc");
    free(got);
    assert_null(ch_percent_decode("ab%4", 4));
    assert_null(ch_percent_decode(raw, sizeof raw));
}

static void encoded_slash_is_a_slash_for_str(void **state)
{
    char *path = ch_percent_decode("/ws/a%2Fb/", strlen("/ws/a%2Fb/"));

    (void)state;
    assert_non_null(path);
    assert_string_equal(path, "/ws/a/b/");
    assert_int_equal(matches("/ws/<str:s>/", path), 0);
    expect_param("/ws/<path:p>/", path, "p", "a/b");
    free(path);
}

static void decoded_utf8_reaches_the_param(void **state)
{
    char *path = ch_percent_decode("/ws/caf%C3%A9/", strlen("/ws/caf%C3%A9/"));

    (void)state;
    assert_non_null(path);
    expect_param("/ws/<str:room>/", path, "room", "caf\xc3\xa9");
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(int_accepts_digits),
        cmocka_unit_test(int_refuses_minus_one),
        cmocka_unit_test(int_refuses_empty),
        cmocka_unit_test(int_refuses_letters_and_plus),
        cmocka_unit_test(str_accepts_anything_but_slash),
        cmocka_unit_test(str_refuses_slash),
        cmocka_unit_test(str_refuses_empty),
        cmocka_unit_test(bare_name_is_str),
        cmocka_unit_test(slug_accepts_letters_digits_dash_underscore),
        cmocka_unit_test(slug_refuses_blank),
        cmocka_unit_test(slug_refuses_dot_and_non_ascii),
        cmocka_unit_test(uuid_accepts_lowercase_hex),
        cmocka_unit_test(uuid_refuses_uppercase),
        cmocka_unit_test(uuid_refuses_wrong_group_lengths),
        cmocka_unit_test(uuid_refuses_non_hex),
        cmocka_unit_test(uuid_followed_by_more_text),
        cmocka_unit_test(path_accepts_slashes),
        cmocka_unit_test(path_refuses_empty),
        cmocka_unit_test(path_backtracks_before_literal_suffix),
        cmocka_unit_test(greedy_first_converter_like_a_regex),
        cmocka_unit_test(hostile_path_does_not_explode),
        cmocka_unit_test(multiple_params_in_order),
        cmocka_unit_test(leading_slash_optional_on_both_sides),
        cmocka_unit_test(only_one_leading_slash_is_optional),
        cmocka_unit_test(trailing_slash_mismatch_refused),
        cmocka_unit_test(full_match_required),
        cmocka_unit_test(root_pattern_matches_root_only),
        cmocka_unit_test(literal_pattern_has_no_params),
        cmocka_unit_test(literal_angle_close_is_text),
        cmocka_unit_test(no_match_leaves_params_empty),
        cmocka_unit_test(values_are_copies),
        cmocka_unit_test(route_param_lookups),
        cmocka_unit_test(pattern_text_is_the_source),
        cmocka_unit_test(unknown_converter_refused),
        cmocka_unit_test(unterminated_angle_refused),
        cmocka_unit_test(duplicate_name_refused),
        cmocka_unit_test(too_many_params_refused),
        cmocka_unit_test(eight_params_allowed),
        cmocka_unit_test(bad_parameter_names_refused),
        cmocka_unit_test(compile_error_with_null_err_buffer),
        cmocka_unit_test(decode_plain_and_escapes),
        cmocka_unit_test(decode_refuses_malformed_escapes),
        cmocka_unit_test(decode_refuses_encoded_nul),
        cmocka_unit_test(decode_respects_length),
        cmocka_unit_test(encoded_slash_is_a_slash_for_str),
        cmocka_unit_test(decoded_utf8_reaches_the_param),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
