/*
 * test_config.c -- unit tests of host/config.c: the defaults, size and
 * duration parsing, the tokenizer's quoting rules, every directive kind,
 * the FILE:LINE messages, relative paths, command-line overrides and
 * etc/chanhost.conf itself.
 *
 * Each test gets a fresh config, diagnostics list and temporary directory
 * (setup/teardown).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

typedef struct fx {
    char *dir;        /* real path of this test's temporary directory */
    char *conf;       /* dir/test.conf */
    char *example;    /* etc/chanhost.conf or its stand-in, once looked up */
    const void *param; /* the case of a table-driven test (its prestate) */
    ch_config cfg;
    ch_diag diag;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/chanhost-config-XXXXXX";

    assert_non_null(f);
    f->param = *state;
    assert_non_null(mkdtemp(tmpl));
    f->dir = realpath(tmpl, NULL);
    assert_non_null(f->dir);
    assert_true(asprintf(&f->conf, "%s/test.conf", f->dir) > 0);
    assert_int_equal(ch_config_init(&f->cfg), 0);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fx *f = *state;

    ch_config_free(&f->cfg);
    ch_diag_free(&f->diag);
    nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f->example);
    free(f->conf);
    free(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Write text to f->conf and load it; returns the number of problems. */
static int load(fx *f, const char *text)
{
    write_file(f->conf, text);
    return ch_config_load_file(&f->cfg, f->conf, &f->diag);
}

/* Assert that got equals the printf-formatted text. */
static void expect_str(const char *got, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void expect_str(const char *got, const char *fmt, ...)
{
    va_list ap;
    char *want = NULL;
    int same;

    va_start(ap, fmt);
    assert_true(vasprintf(&want, fmt, ap) >= 0);
    va_end(ap);
    same = got && strcmp(got, want) == 0;
    if (!same)
        print_error("got '%s'\nwant '%s'\n", got ? got : "(null)", want);
    free(want);
    assert_true(same);
}

/* Assert that no problem was reported (printing them if there were). */
static void expect_no_diag(fx *f)
{
    for (size_t i = 0; i < f->diag.n; i++)
        print_error("%s\n", f->diag.lines[i]);
    assert_int_equal(f->diag.n, 0);
}

/* Assert that diagnostic i is "<f->conf>:<line>: <msg>". */
static void expect_diag(fx *f, size_t i, int line, const char *msg)
{
    assert_true(i < f->diag.n);
    expect_str(f->diag.lines[i], "%s:%d: %s", f->conf, line, msg);
}

/* --- defaults -------------------------------------------------------- */

/* Every field has its documented default (but path). */
static void assert_config_is_default(const ch_config *c)
{
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 8000);
    assert_null(c->plugin_dir);
    assert_null(c->static_dir);
    assert_int_equal(c->n_allowed_origins, 0);
    assert_int_equal(c->require_origin, 0);
    assert_string_equal(c->layer, "memory");
    assert_string_equal(c->store, "none");
    assert_int_equal(c->n_routes, 0);
    assert_true(json_is_object(c->plugin_settings));
    assert_int_equal(json_object_size(c->plugin_settings), 0);
    assert_int_equal(c->max_message_size, 1024 * 1024);
    assert_int_equal(c->max_outbound_bytes, 4 * 1024 * 1024);
    assert_int_equal(c->max_request_line, 8 * 1024);
    assert_int_equal(c->max_header_bytes, 16 * 1024);
    assert_int_equal(c->max_headers, 100);
    assert_int_equal(c->max_body_size, 1024 * 1024);
    assert_int_equal(c->max_connections, 0);
    assert_int_equal(c->handshake_timeout, 5000);
    assert_int_equal(c->keepalive_timeout, 75000);
    assert_int_equal(c->idle_timeout, 0);
    assert_int_equal(c->ping_interval, 20000);
    assert_int_equal(c->ping_timeout, 30000);
    assert_int_equal(c->shutdown_timeout, 10000);
    assert_int_equal(c->group_expiry, 86400000);
    assert_int_equal(c->verbosity, 1);
}

static void defaults_are_the_documented_values(void **state)
{
    fx *f = *state;

    assert_null(f->cfg.path);
    assert_config_is_default(&f->cfg);
}

static void diag_collects_lines(void **state)
{
    fx *f = *state;

    ch_diag_add(&f->diag, "a %d", 1);
    for (int i = 0; i < 20; i++)
        ch_diag_add(&f->diag, "line %d", i);
    assert_int_equal(f->diag.n, 21);
    assert_string_equal(f->diag.lines[0], "a 1");
    assert_string_equal(f->diag.lines[20], "line 19");
    ch_diag_free(&f->diag);
    assert_int_equal(f->diag.n, 0);
    assert_null(f->diag.lines);
}

/* --- sizes and durations --------------------------------------------- */

/* One text for ch_parse_size or ch_parse_duration: its value, or -1. */
typedef struct num_case {
    const char *name;
    int (*parse)(const char *s, uint64_t *v);
    const char *text;
    int ret;
    uint64_t want;
} num_case;

#define SIZE(name, text, want) {name, ch_parse_size, text, 0, want}
#define NOT_SIZE(name, text) {name, ch_parse_size, text, -1, 0}
#define MS(name, text, want) {name, ch_parse_duration, text, 0, want}
#define NOT_MS(name, text) {name, ch_parse_duration, text, -1, 0}

static const num_case num_cases[] = {
    SIZE("size_zero", "0", 0), SIZE("size_bare_is_bytes", "512", 512),
    SIZE("size_k_is_1024", "64k", 65536), SIZE("size_kb_is_1024", "64kb", 65536),
    SIZE("size_m_is_1024_squared", "1m", 1048576), SIZE("size_mb_is_m", "1mb", 1048576),
    SIZE("size_g_is_1024_cubed", "1g", 1073741824), SIZE("size_gb_is_g", "2gb", 2147483648ull),
    SIZE("size_unit_upper_case", "64KB", 65536), SIZE("size_unit_mixed_case", "1Mb", 1048576),
    SIZE("size_max_uint64", "18446744073709551615", UINT64_MAX),
    SIZE("size_largest_gb", "17179869183g", 17179869183ull << 30),
    NOT_SIZE("size_refuses_empty", ""), NOT_SIZE("size_refuses_unknown_unit", "12q"),
    NOT_SIZE("size_refuses_negative", "-1"), NOT_SIZE("size_refuses_plus_sign", "+1"),
    NOT_SIZE("size_refuses_leading_blank", " 1"), NOT_SIZE("size_refuses_trailing_blank", "1 "),
    NOT_SIZE("size_refuses_fraction", "1.5k"), NOT_SIZE("size_refuses_unit_alone", "k"),
    NOT_SIZE("size_refuses_double_unit", "1kbb"), NOT_SIZE("size_refuses_b_suffix", "1b"),
    NOT_SIZE("size_refuses_hex", "0x10"), NOT_SIZE("size_refuses_terabytes", "1t"),
    NOT_SIZE("size_overflow_digits", "18446744073709551616"),
    NOT_SIZE("size_overflow_many_digits", "99999999999999999999999"),
    NOT_SIZE("size_overflow_g", "17179869184g"), NOT_SIZE("size_overflow_k", "18014398509481984k"),
    MS("duration_ms", "500ms", 500), MS("duration_s", "5s", 5000), MS("duration_m", "2m", 120000),
    MS("duration_h", "1h", 3600000), MS("duration_zero", "0", 0), MS("duration_zero_ms", "0ms", 0),
    MS("duration_unit_upper_case", "5S", 5000), MS("duration_bare_is_seconds", "30", 30000),
    MS("duration_day_in_seconds", "86400", 86400000),
    MS("duration_max_ms", "18446744073709551615ms", UINT64_MAX),
    MS("duration_largest_s", "18446744073709551s", 18446744073709551000ull),
    NOT_MS("duration_refuses_empty", ""), NOT_MS("duration_refuses_negative", "-1"),
    NOT_MS("duration_refuses_negative_s", "-1s"), NOT_MS("duration_refuses_unknown_unit", "5x"),
    NOT_MS("duration_refuses_fraction", "1.5s"), NOT_MS("duration_refuses_inner_blank", "5 s"),
    NOT_MS("duration_refuses_leading_blank", " 5s"), NOT_MS("duration_refuses_unit_alone", "s"),
    NOT_MS("duration_refuses_ms_alone", "ms"), NOT_MS("duration_refuses_sec", "5sec"),
    NOT_MS("duration_refuses_days", "1d"), NOT_MS("duration_refuses_double_unit", "5mss"),
    NOT_MS("duration_overflow_ms", "18446744073709551616ms"),
    NOT_MS("duration_overflow_s", "18446744073709552s"),
    NOT_MS("duration_overflow_bare", "18446744073709552"),
    NOT_MS("duration_overflow_h", "5124095576030432h"),
};

/* Run one num_case (f->param); a refused text leaves the value alone. */
static void parse_number(void **state)
{
    fx *f = *state;
    const num_case *c = f->param;
    uint64_t v = 12345;

    if (c->parse(c->text, &v) != c->ret)
        fail_msg("'%s' gave %s", c->text, c->ret ? "a value" : "an error");
    assert_int_equal(v, c->ret ? 12345 : c->want);
}

/* --- tokenizer ------------------------------------------------------- */

/* One line for ch_config_split: the words it gives, or its error. */
typedef struct split_case {
    const char *name, *line;
    int n;
    const char *words[4];
    const char *err;  /* non-NULL: a syntax error is expected */
} split_case;

#define SPLIT(name, line, n, ...) {name, line, n, {__VA_ARGS__}, NULL}
#define SPLIT_ERR(name, line, err) {name, line, 0, {NULL}, err}

static const split_case split_cases[] = {
    SPLIT("split_empty_line_gives_zero", "", 0, NULL),
    SPLIT("split_blank_line_gives_zero", "   \t  ", 0, NULL),
    SPLIT("split_crlf_only_gives_zero", "\r\n", 0, NULL),
    SPLIT("split_blanks_separate_args", "  route\t/ws/x/   echo  ", 3, "route", "/ws/x/", "echo"),
    SPLIT("split_comment_at_line_start", "# listen 1.2.3.4:5", 0, NULL),
    SPLIT("split_indented_comment_hides_quotes", "   #x \"unterminated", 0, NULL),
    SPLIT("split_comment_after_blank", "listen 9000 # the port", 2, "listen", "9000"),
    SPLIT("split_hash_inside_word_is_text", "a#b c#", 2, "a#b", "c#"),
    SPLIT("split_double_quotes_keep_blanks_and_hash", "x \"Hello  there # friend\"",
        2, "x", "Hello  there # friend"),
    SPLIT("split_double_quote_escapes", "\"q\\\"b\\\\s\\nn\\tt\\rr\"", 1, "q\"b\\s\nn\tt\rr"),
    SPLIT("split_hex_escape", "\"\\x41\\x7a\\xC3\\xa9\"", 1, "Az\xc3\xa9"),
    SPLIT("split_single_quotes_only_escape_quote", "'it\\'s' 'a\\nb' 'c\\\\d' 'say \"hi\"'",
        4, "it's", "a\\nb", "c\\\\d", "say \"hi\""),
    SPLIT("split_quotes_separated_by_blank", "\"a\"\t'b'", 2, "a", "b"),
    SPLIT("split_empty_quotes_give_empty_args", "x \"\" ''", 3, "x", "", ""),
    SPLIT("split_quote_inside_word_opens_quoting", "key\"a b\" next", 2, "keya b", "next"),
    SPLIT_ERR("split_hex_nul_refused", "\"\\x00\"", "\\x00 is not allowed"),
    SPLIT_ERR("split_short_hex_refused", "\"\\x4\"", "\\x needs two hex digits"),
    SPLIT_ERR("split_non_hex_refused", "\"\\xzz\"", "\\x needs two hex digits"),
    SPLIT_ERR("split_unknown_escape_refused", "\"a\\qb\"",
        "unknown escape (use \\\" \\\\ \\n \\t \\r \\xHH)"),
    SPLIT_ERR("split_unterminated_double_quote_refused", "route \"/ws/x/ echo",
        "unterminated quote"),
    SPLIT_ERR("split_unterminated_single_quote_refused", "route '/ws/x/ echo",
        "unterminated quote"),
    SPLIT_ERR("split_backslash_before_end_refused", "a \"ends in backslash\\",
        "unterminated quote"),
    SPLIT_ERR("split_escaped_single_quote_does_not_close", "a 'escaped end\\'",
        "unterminated quote"),
    SPLIT_ERR("split_closing_quote_then_word_refused", "\"a\"b",
        "a closing quote must be followed by a blank"),
    SPLIT_ERR("split_closing_quote_then_quote_refused", "'a'\"b\"",
        "a closing quote must be followed by a blank"),
};

/* Run one split_case (f->param). */
static void split_line(void **state)
{
    fx *f = *state;
    const split_case *c = f->param;
    char err[128] = "(none)", *dummy = NULL, **argv = &dummy;
    int n = ch_config_split(c->line, &argv, err, sizeof err);

    if (c->err) {
        assert_int_equal(n, -1);
        assert_null(argv);
        assert_string_equal(err, c->err);
        return;
    }
    if (n != c->n)
        fail_msg("'%s' split into %d words (%s), expected %d", c->line, n, err, c->n);
    assert_non_null(argv);
    for (int i = 0; i < n; i++)
        assert_string_equal(argv[i], c->words[i]);
    assert_null(argv[n]);
    ch_config_free_argv(argv);
}

/* --- one bad line --------------------------------------------------- */

/* A file of one bad line: the one message it must give. */
typedef struct line_case {
    const char *name, *line, *msg;
} line_case;

#define NOT_ADDR "' is not ADDR:PORT (use 127.0.0.1:8000, 8000 or [::1]:8000)"
#define NOT_LAYER "' is not memory, redis://... or unix://..."
#define NOT_STORE "' is not none, sqlite:PATH or postgresql://..."
#define NOT_PLUGIN "' is not a plugin name ([A-Za-z0-9_-]+)"

static const line_case line_cases[] = {
    {"listen_refuses_hostname", "listen localhost:80", "listen: 'localhost:80" NOT_ADDR},
    {"listen_refuses_port_over_65535", "listen 1.2.3.4:70000", "listen: '1.2.3.4:70000" NOT_ADDR},
    {"listen_refuses_unbracketed_v6", "listen ::1:80", "listen: '::1:80" NOT_ADDR},
    {"listen_refuses_v6_without_colon", "listen [::1]8080", "listen: '[::1]8080" NOT_ADDR},
    {"listen_refuses_v4_in_brackets", "listen [1.2.3.4]:80", "listen: '[1.2.3.4]:80" NOT_ADDR},
    {"listen_refuses_missing_port", "listen 1.2.3.4:", "listen: '1.2.3.4:" NOT_ADDR},
    {"listen_refuses_missing_v6_port", "listen [::1]:", "listen: '[::1]:" NOT_ADDR},
    {"listen_refuses_missing_host", "listen :80", "listen: ':80" NOT_ADDR},
    {"listen_refuses_junk_port", "listen 1.2.3.4:80x", "listen: '1.2.3.4:80x" NOT_ADDR},
    {"listen_refuses_short_v4", "listen 1.2.3:80", "listen: '1.2.3:80" NOT_ADDR},
    {"listen_refuses_bare_port_over_65535", "listen 65536",
     "listen: port '65536' is not in 0..65535"},
    {"empty_path_refused", "plugin_dir \"\"", "plugin_dir: the path is empty"},
    {"origin_with_blank_refused", "allowed_origins \"a b\"",
     "allowed_origins: 'a b' is not an origin (use *, https://chat.example.com, "
     "http://localhost:*, .example.com)"},
    {"require_origin_refuses_maybe", "require_origin maybe",
     "require_origin: 'maybe' is not yes or no"},
    {"layer_refuses_unknown_scheme", "layer mysql://x", "layer: 'mysql://x" NOT_LAYER},
    {"layer_refuses_tls_redis", "layer rediss://h:6380", "layer: 'rediss://h:6380" NOT_LAYER},
    {"layer_is_case_sensitive", "layer Memory", "layer: 'Memory" NOT_LAYER},
    {"store_refuses_empty_sqlite_path", "store sqlite:", "store: 'sqlite:" NOT_STORE},
    {"store_refuses_unknown_scheme", "store mysql://h", "store: 'mysql://h" NOT_STORE},
    {"route_reports_pattern_error", "route /ws/<foo:x>/ echo",
     "route: bad pattern '/ws/<foo:x>/': unknown converter 'foo'"},
    {"route_refuses_path_as_plugin", "route /ws/x/ ../evil", "route: '../evil" NOT_PLUGIN},
    {"route_refuses_empty_plugin", "route /ws/x/ ''", "route: '" NOT_PLUGIN},
    {"route_refuses_bad_reload", "route /ws/x/ echo reload=never",
     "route: 'reload=never' is not reload=keep or reload=restart"},
    {"route_needs_two_arguments", "route /ws/x/",
     "route: expected 2 to 3 arguments, got 1 (route PATTERN PLUGIN [reload=keep|restart])"},
    {"plugin_setting_refuses_bad_plugin", "plugin_setting bad/name k v",
     "plugin_setting: 'bad/name" NOT_PLUGIN},
    {"plugin_setting_refuses_empty_key", "plugin_setting p \"\" v",
     "plugin_setting: the key is empty"},
    {"plugin_setting_refuses_bad_utf8", "plugin_setting p k \"\\xff\"",
     "plugin_setting: the value is not valid UTF-8"},
    {"size_directive_refuses_12q", "max_message_size 12q",
     "max_message_size: '12q' is not a size (use 512, 64kb, 1mb)"},
    {"duration_directive_refuses_5x", "ping_timeout 5x",
     "ping_timeout: '5x' is not a duration (use 500ms, 5s, 2m, 1h)"},
    {"count_directive_refuses_minus_one", "max_headers -1",
     "max_headers: '-1' is not a non-negative integer"},
    {"verbosity_refuses_4", "verbosity 4", "verbosity: '4' is not a level 0..3"},
    {"unknown_directive", "lisen 127.0.0.1:80", "unknown directive 'lisen'"},
    {"include_is_not_a_directive", "include other.conf", "unknown directive 'include'"},
    {"listen_wrong_argument_count", "listen 1.2.3.4:5 6",
     "listen: expected 1 argument, got 2 (listen ADDR:PORT | PORT | [V6ADDR]:PORT)"},
    {"allowed_origins_needs_an_argument", "allowed_origins",
     "allowed_origins: expected 1 or more arguments, got 0 (allowed_origins ORIGIN...)"},
    {"plugin_setting_needs_three_arguments", "plugin_setting p k",
     "plugin_setting: expected 3 arguments, got 2 (plugin_setting PLUGIN KEY VALUE)"},
    {"verbosity_needs_an_argument", "verbosity",
     "verbosity: expected 1 argument, got 0 (verbosity 0..3)"},
    {"syntax_error_names_the_directive", "route \"/ws/x/ echo", "route: unterminated quote"},
    {"syntax_error_without_known_directive", "bogus \"x", "unterminated quote"},
};

/* Load one line_case (f->param): exactly its message, and the config is
 * still the default one. */
static void bad_line(void **state)
{
    fx *f = *state;
    const line_case *c = f->param;
    char *text;

    assert_true(asprintf(&text, "%s\n", c->line) > 0);
    assert_int_equal(load(f, text), 1);
    free(text);
    assert_int_equal(f->diag.n, 1);
    expect_diag(f, 0, 1, c->msg);
    assert_config_is_default(&f->cfg);
}

/* --- one good file -------------------------------------------------- */

/* A file that must load cleanly, and one field it must set. */
typedef struct good_case {
    const char *name, *text;
    size_t off;        /* of the field in ch_config */
    char type;         /* 'u' uint64_t, 'i' int, 's' string */
    uint64_t num;
    const char *str;
} good_case;

#define U64(name, text, field, v) {name, text, offsetof(ch_config, field), 'u', v, NULL}
#define INT(name, text, field, v) {name, text, offsetof(ch_config, field), 'i', v, NULL}
#define STR(name, text, field, v) {name, text, offsetof(ch_config, field), 's', 0, v}

static const good_case good_cases[] = {
    STR("listen_sets_host", "listen 0.0.0.0:9000", listen_host, "0.0.0.0"),
    INT("listen_sets_port", "listen 0.0.0.0:9000", listen_port, 9000),
    STR("listen_bare_port_keeps_host", "listen 0.0.0.0:1\nlisten 7000", listen_host, "0.0.0.0"),
    INT("listen_bare_port_sets_port", "listen 7000", listen_port, 7000),
    STR("listen_v6_host_without_brackets", "listen [::1]:8080", listen_host, "::1"),
    INT("listen_v6_port", "listen [::1]:8080", listen_port, 8080),
    INT("listen_port_zero", "listen 127.0.0.1:0", listen_port, 0),
    INT("listen_port_65535", "listen 65535", listen_port, 65535),
    INT("require_origin_yes", "require_origin yes", require_origin, 1),
    INT("require_origin_no_upper_case", "require_origin yes\nrequire_origin NO", require_origin, 0),
    INT("require_origin_yes_mixed_case", "require_origin Yes", require_origin, 1),
    STR("layer_memory", "layer redis://h\nlayer memory", layer, "memory"),
    STR("layer_redis", "layer redis://127.0.0.1:6379/0", layer, "redis://127.0.0.1:6379/0"),
    STR("layer_unix", "layer unix:///run/redis.sock", layer, "unix:///run/redis.sock"),
    STR("store_postgresql", "store postgresql://u@h/db", store, "postgresql://u@h/db"),
    STR("store_postgres", "store postgres://h/db", store, "postgres://h/db"),
    STR("store_sqlite_memory_kept", "store sqlite::memory:", store, "sqlite::memory:"),
    STR("store_sqlite_absolute_kept", "store sqlite:/var/x.db", store, "sqlite:/var/x.db"),
    STR("store_none", "store sqlite:/x\nstore none", store, "none"),
    STR("plugin_dir_absolute_kept", "plugin_dir /opt/p", plugin_dir, "/opt/p"),
    STR("static_dir_absolute_kept", "static_dir /srv/www", static_dir, "/srv/www"),
    U64("max_message_size_set", "max_message_size 64kb", max_message_size, 65536),
    U64("max_outbound_bytes_set", "max_outbound_bytes 2m", max_outbound_bytes, 2097152),
    U64("max_request_line_set", "max_request_line 512", max_request_line, 512),
    U64("max_header_bytes_set", "max_header_bytes 32KB", max_header_bytes, 32768),
    U64("max_body_size_set", "max_body_size 1g", max_body_size, 1073741824),
    U64("max_headers_zero", "max_headers 0", max_headers, 0),
    U64("max_connections_set", "max_connections 10000", max_connections, 10000),
    U64("handshake_timeout_ms", "handshake_timeout 500ms", handshake_timeout, 500),
    U64("keepalive_timeout_m", "keepalive_timeout 2m", keepalive_timeout, 120000),
    U64("idle_timeout_h", "idle_timeout 1h", idle_timeout, 3600000),
    U64("ping_interval_bare_seconds", "ping_interval 10", ping_interval, 10000),
    U64("ping_timeout_s", "ping_timeout 15s", ping_timeout, 15000),
    U64("shutdown_timeout_zero", "shutdown_timeout 0", shutdown_timeout, 0),
    U64("group_expiry_s", "group_expiry 3600s", group_expiry, 3600000),
    INT("verbosity_3", "verbosity 3", verbosity, 3),
    INT("last_scalar_wins", "verbosity 2\nverbosity 0", verbosity, 0),
    INT("crlf_line_endings", "verbosity 2\r\n", verbosity, 2),
    INT("missing_final_newline", "listen 9002", listen_port, 9002),
    U64("comment_after_value", "max_headers 5 # five", max_headers, 5),
};

/* Run one good_case (f->param). */
static void good_file(void **state)
{
    fx *f = *state;
    const good_case *c = f->param;
    const char *field = (const char *)&f->cfg + c->off;

    load(f, c->text);
    expect_no_diag(f);
    if (c->type == 'u')
        assert_int_equal(*(const uint64_t *)(const void *)field, c->num);
    else if (c->type == 'i')
        assert_int_equal(*(const int *)(const void *)field, c->num);
    else
        assert_string_equal(*(char *const *)(const void *)field, c->str);
}

/* --- directives ------------------------------------------------------ */

static void paths_are_relative_to_the_file(void **state)
{
    fx *f = *state;
    char *sub, *conf;

    assert_true(asprintf(&sub, "%s/sub", f->dir) > 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_true(asprintf(&conf, "%s/app.conf", sub) > 0);
    write_file(conf, "plugin_dir plugins\nstatic_dir ../web\nstore sqlite:data/db.sqlite\n");
    assert_int_equal(ch_config_load_file(&f->cfg, conf, &f->diag), 0);
    assert_string_equal(f->cfg.path, conf);
    expect_str(f->cfg.plugin_dir, "%s/plugins", sub);
    expect_str(f->cfg.static_dir, "%s/../web", sub);
    expect_str(f->cfg.store, "sqlite:%s/data/db.sqlite", sub);
    free(conf);
    free(sub);
}

static void relative_file_name_still_gives_absolute_paths(void **state)
{
    fx *f = *state;
    char *cwd = getcwd(NULL, 0);

    assert_non_null(cwd);
    write_file(f->conf, "plugin_dir ./p\n");
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(ch_config_load_file(&f->cfg, "test.conf", &f->diag), 0);
    assert_int_equal(chdir(cwd), 0);
    expect_str(f->cfg.plugin_dir, "%s/./p", f->dir);
    free(cwd);
}

static void allowed_origins_append(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "allowed_origins https://a.example.com .example.org\n"
                             "allowed_origins http://localhost:*\n"), 0);
    assert_int_equal(f->cfg.n_allowed_origins, 3);
    assert_string_equal(f->cfg.allowed_origins[0], "https://a.example.com");
    assert_string_equal(f->cfg.allowed_origins[1], ".example.org");
    assert_string_equal(f->cfg.allowed_origins[2], "http://localhost:*");
}

static void routes_parsed_in_order(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "route /ws/echo/ echo\n"
                             "\n"
                             "route /ws/chat/<str:room>/ chat-2 reload=restart\n"
                             "route ws/x/ x_1 reload=keep\n"), 0);
    assert_int_equal(f->cfg.n_routes, 3);
    assert_string_equal(f->cfg.routes[0].pattern, "/ws/echo/");
    assert_string_equal(f->cfg.routes[0].plugin, "echo");
    assert_int_equal(f->cfg.routes[0].reload, CH_RELOAD_KEEP);
    assert_string_equal(f->cfg.routes[1].pattern, "/ws/chat/<str:room>/");
    assert_string_equal(f->cfg.routes[1].plugin, "chat-2");
    assert_int_equal(f->cfg.routes[1].reload, CH_RELOAD_RESTART);
    assert_int_equal(f->cfg.routes[2].reload, CH_RELOAD_KEEP);
    expect_str(f->cfg.routes[1].where, "%s:3", f->conf);
}

static void plugin_setting_json_shape(void **state)
{
    fx *f = *state;
    char *text;

    assert_int_equal(load(f, "plugin_setting broadcast motd \"Hello there\"\n"
                             "plugin_setting broadcast max 10\n"
                             "plugin_setting echo prefix '> '\n"
                             "plugin_setting broadcast max 20\n"), 0);
    text = json_dumps(f->cfg.plugin_settings, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    assert_string_equal(text, "{\"broadcast\":{\"max\":\"20\",\"motd\":\"Hello there\"},"
                              "\"echo\":{\"prefix\":\"> \"}}");
    free(text);
}

static void every_bad_line_reported_with_path_and_line(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "# a config with mistakes\n"
                             "listen 127.0.0.1:9001\n"
                             "lisen 1\n"
                             "max_message_size 12q\n"
                             "\n"
                             "route \"/ws/x/ echo\n"
                             "verbosity 9\n"
                             "route /ws/ok/ ok\n"
                             "require_origin perhaps # comment\n"), 5);
    assert_int_equal(f->diag.n, 5);
    expect_diag(f, 0, 3, "unknown directive 'lisen'");
    expect_diag(f, 1, 4, "max_message_size: '12q' is not a size (use 512, 64kb, 1mb)");
    expect_diag(f, 2, 6, "route: unterminated quote");
    expect_diag(f, 3, 7, "verbosity: '9' is not a level 0..3");
    expect_diag(f, 4, 9, "require_origin: 'perhaps' is not yes or no");
    /* the good lines around the bad ones were still parsed */
    assert_int_equal(f->cfg.listen_port, 9001);
    assert_int_equal(f->cfg.n_routes, 1);
}

static void long_lines(void **state)
{
    fx *f = *state;
    size_t n = (size_t)64 * 1024;
    char *text = malloc(n + 64);

    assert_non_null(text);
    strcpy(text, "allowed_origins ");
    memset(text + 16, 'a', n - 16);
    strcpy(text + n, "\n");
    assert_int_equal(load(f, text), 0);
    assert_int_equal(strlen(f->cfg.allowed_origins[0]), n - 16);
    memset(text + 16, 'a', n - 15);
    strcpy(text + n + 1, "\nverbosity 0\n");
    assert_int_equal(load(f, text), 1);
    expect_diag(f, 0, 1, "the line is longer than 64 KiB");
    assert_int_equal(f->cfg.verbosity, 0);
    free(text);
}

static void nul_byte_in_line_refused(void **state)
{
    fx *f = *state;
    FILE *fp = fopen(f->conf, "w");

    assert_non_null(fp);
    assert_int_equal(fwrite("verbosity 2\nlisten 1\0 2\n", 1, 24, fp), 24);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(ch_config_load_file(&f->cfg, f->conf, &f->diag), 1);
    expect_diag(f, 0, 2, "the line contains a NUL byte");
    assert_int_equal(f->cfg.verbosity, 2);
}

static void cannot_open_is_one_problem(void **state)
{
    fx *f = *state;
    char *path;

    assert_true(asprintf(&path, "%s/missing.conf", f->dir) > 0);
    assert_int_equal(ch_config_load_file(&f->cfg, path, &f->diag), 1);
    assert_int_equal(f->diag.n, 1);
    expect_str(f->diag.lines[0], "%s: cannot open: No such file or directory", path);
    assert_null(f->cfg.path);
    free(path);
}

/* --- command line ---------------------------------------------------- */

static void command_line_scalar_overrides_file(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "listen 0.0.0.0:9000\nmax_message_size 2mb\n"), 0);
    assert_int_equal(ch_config_apply(&f->cfg, "listen", "127.0.0.1:7000", "--listen", &f->diag),
                     0);
    assert_int_equal(ch_config_apply(&f->cfg, "max_message_size", "64kb", "--max_message_size",
                                     &f->diag), 0);
    assert_string_equal(f->cfg.listen_host, "127.0.0.1");
    assert_int_equal(f->cfg.listen_port, 7000);
    assert_int_equal(f->cfg.max_message_size, 65536);
}

static void command_line_lists_append(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "route /ws/echo/ echo\nallowed_origins .a.com\n"
                             "plugin_setting p a 1\n"), 0);
    assert_int_equal(ch_config_apply(&f->cfg, "route", "'/ws/chat/<str:room>/' chat",
                                     "--route", &f->diag), 0);
    assert_int_equal(ch_config_apply(&f->cfg, "allowed_origins", "*", "--allowed_origins",
                                     &f->diag), 0);
    assert_int_equal(ch_config_apply(&f->cfg, "plugin_setting", "p b \"two words\"",
                                     "--plugin_setting", &f->diag), 0);
    assert_int_equal(f->cfg.n_routes, 2);
    assert_string_equal(f->cfg.routes[0].pattern, "/ws/echo/");
    assert_string_equal(f->cfg.routes[1].pattern, "/ws/chat/<str:room>/");
    assert_string_equal(f->cfg.routes[1].where, "--route");
    assert_int_equal(f->cfg.n_allowed_origins, 2);
    assert_string_equal(f->cfg.allowed_origins[1], "*");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(f->cfg.plugin_settings, "p"), "a")), "1");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(f->cfg.plugin_settings, "p"), "b")), "two words");
}

static void command_line_paths_are_relative_to_cwd(void **state)
{
    fx *f = *state;
    char *cwd = getcwd(NULL, 0);

    assert_non_null(cwd);
    assert_int_equal(load(f, "plugin_dir p\n"), 0);
    assert_int_equal(ch_config_apply(&f->cfg, "plugin_dir", "rel/dir", "--plugin_dir", &f->diag),
                     0);
    expect_str(f->cfg.plugin_dir, "%s/rel/dir", cwd);
    assert_int_equal(ch_config_apply(&f->cfg, "static_dir", "w", "test:1", &f->diag), 0);
    expect_str(f->cfg.static_dir, "%s/w", f->dir);
    free(cwd);
}

static void command_line_messages_start_with_where(void **state)
{
    fx *f = *state;

    assert_int_equal(ch_config_apply(&f->cfg, "max_message_size", "12q", "--max_message_size",
                                     &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "route", "\"/ws/x/ echo", "--route", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "lisen", "1", "--lisen", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "static_dir", "", "--static_dir", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "verbosity", "7", "-v", &f->diag), 1);
    assert_int_equal(f->diag.n, 5);
    assert_string_equal(f->diag.lines[0],
                        "--max_message_size: '12q' is not a size (use 512, 64kb, 1mb)");
    assert_string_equal(f->diag.lines[1], "--route: unterminated quote");
    assert_string_equal(f->diag.lines[2], "--lisen: unknown directive 'lisen'");
    assert_string_equal(f->diag.lines[3],
                        "--static_dir: expected 1 argument, got 0 (static_dir PATH)");
    assert_string_equal(f->diag.lines[4], "-v: verbosity: '7' is not a level 0..3");
}

static void is_directive_knows_the_table(void **state)
{
    (void)state;
    assert_true(ch_config_is_directive("listen"));
    assert_true(ch_config_is_directive("route"));
    assert_true(ch_config_is_directive("group_expiry"));
    assert_false(ch_config_is_directive("lisen"));
    assert_false(ch_config_is_directive("include"));
    assert_false(ch_config_is_directive("Listen"));
    assert_false(ch_config_is_directive(""));
    assert_false(ch_config_is_directive(NULL));
}

/* --- etc/chanhost.conf ----------------------------------------------- */

/* A stand-in for etc/chanhost.conf when the source tree cannot be found. */
static const char example_copy[] =
    "listen 127.0.0.1:8000\nplugin_dir ../build/plugins\nlayer memory\nstore none\n"
    "route /ws/echo/ echo\nroute /ws/broadcast/<int:room_id>/ broadcast\n"
    "# max_message_size 1mb\n";

/* The path of etc/chanhost.conf in the source tree (malloc'd), found via
 * $CHANHOST_SOURCE_DIR or this file's own path; if neither is readable,
 * example_copy written into f->dir/etc/. */
static char *find_example(fx *f)
{
    const char *src = getenv("CHANHOST_SOURCE_DIR"), *me = __FILE__;
    const char *tail = strstr(me, "tests/unit/test_config.c");
    char *path = NULL;

    if (src && *src && asprintf(&path, "%s/etc/chanhost.conf", src) > 0 &&
        access(path, R_OK) == 0)
        return path;
    free(path);
    path = NULL;
    if (tail && asprintf(&path, "%.*setc/chanhost.conf", (int)(tail - me), me) > 0 &&
        access(path, R_OK) == 0)
        return path;
    free(path);
    assert_true(asprintf(&path, "%s/etc", f->dir) > 0);
    assert_int_equal(mkdir(path, 0700), 0);
    free(path);
    assert_true(asprintf(&path, "%s/etc/chanhost.conf", f->dir) > 0);
    write_file(path, example_copy);
    return path;
}

/* find_example's answer, kept in f (freed by teardown). */
static const char *example_path(fx *f)
{
    if (!f->example)
        f->example = find_example(f);
    return f->example;
}

static void example_config_parses_cleanly(void **state)
{
    fx *f = *state;
    const char *path = example_path(f);
    size_t n;

    ch_config_load_file(&f->cfg, path, &f->diag);
    expect_no_diag(f);
    assert_string_equal(f->cfg.listen_host, "127.0.0.1");
    assert_int_equal(f->cfg.listen_port, 8000);
    assert_string_equal(f->cfg.layer, "memory");
    n = strlen(f->cfg.store);
    assert_true(n > 23 && strncmp(f->cfg.store, "sqlite:/", 8) == 0);
    assert_string_equal(f->cfg.store + n - 23, "/etc/../var/chanhost.db");
    n = strlen(f->cfg.plugin_dir);
    assert_true(f->cfg.plugin_dir[0] == '/' && n > 21);
    assert_string_equal(f->cfg.plugin_dir + n - 21, "/etc/../build/plugins");
    assert_true(f->cfg.n_routes >= 2);
    assert_string_equal(f->cfg.routes[0].pattern, "/ws/echo/");
    assert_string_equal(f->cfg.routes[0].plugin, "echo");
    assert_string_equal(f->cfg.routes[1].pattern, "/ws/broadcast/<int:room_id>/");
    assert_string_equal(f->cfg.routes[1].plugin, "broadcast");
}

/* Every commented-out example "# DIRECTIVE ..." of the example file must
 * parse too: uncomment them all into a new file and load that. */
static void example_config_commented_examples_parse(void **state)
{
    fx *f = *state;
    const char *path = example_path(f);
    char *line = NULL, word[64];
    FILE *in = fopen(path, "r"), *out = fopen(f->conf, "w");
    size_t cap = 0, examples = 0;

    assert_non_null(in);
    assert_non_null(out);
    while (getline(&line, &cap, in) > 0) {
        if (sscanf(line, "# %63[a-z_] ", word) == 1 && ch_config_is_directive(word) &&
            line[2 + strlen(word)] == ' ') {
            assert_true(fputs(line + 2, out) >= 0);
            examples++;
        }
    }
    free(line);
    (void)fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_true(examples >= 1);
    ch_config_load_file(&f->cfg, f->conf, &f->diag);
    expect_no_diag(f);
}

#define T(name) {#name, name, setup, teardown, NULL}
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define CASES(table, fn)                                                          \
    for (size_t i = 0; i < N_OF(table); i++)                                      \
        tests[n++] = (struct CMUnitTest){(table)[i].name, fn, setup, teardown, (void *)&(table)[i]}

/* The fixed tests, then one named test per case of each table. */
int main(void)
{
    static const struct CMUnitTest fixed[] = {
        T(defaults_are_the_documented_values),
        T(diag_collects_lines), T(paths_are_relative_to_the_file),
        T(relative_file_name_still_gives_absolute_paths), T(allowed_origins_append),
        T(routes_parsed_in_order), T(plugin_setting_json_shape),
        T(every_bad_line_reported_with_path_and_line), T(long_lines),
        T(nul_byte_in_line_refused), T(cannot_open_is_one_problem),
        T(command_line_scalar_overrides_file), T(command_line_lists_append),
        T(command_line_paths_are_relative_to_cwd), T(command_line_messages_start_with_where),
        T(is_directive_knows_the_table), T(example_config_parses_cleanly),
        T(example_config_commented_examples_parse),
    };
    struct CMUnitTest tests[N_OF(fixed) + N_OF(num_cases) + N_OF(split_cases) +
                            N_OF(good_cases) + N_OF(line_cases)];
    size_t n = 0;

    for (size_t i = 0; i < N_OF(fixed); i++)
        tests[n++] = fixed[i];
    CASES(num_cases, parse_number);
    CASES(split_cases, split_line);
    CASES(good_cases, good_file);
    CASES(line_cases, bad_line);
    return _cmocka_run_group_tests("test_config", tests, n, NULL, NULL);
}
