/*
 * test_config_parse.c -- table-driven unit tests of host/core/config.c, one
 * named test per case: size and duration parsing, the tokenizer's
 * quoting rules (ch_config_split), a file of one bad line (the one
 * FILE:LINE message each directive kind gives, the config left at its
 * defaults) and a file that must load cleanly (the one field it sets).
 *
 * Each test gets a fresh config, diagnostics list and temporary directory
 * (setup/teardown, config_fixture.h), and its case as f->param.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_fixture.h"

/* --- sizes and durations --------------------------------------------- */

/* One text for ch_parse_size or ch_parse_duration: its value, or -1. */
typedef struct num_case {
    const char *name;
    int (*parse)(const char *s, uint64_t *v);
    const char *text;
    int ret;
    uint64_t want;
} num_case;

#define SIZE(name, text, want)             \
    {                                      \
        name, ch_parse_size, text, 0, want \
    }
#define NOT_SIZE(name, text)             \
    {                                    \
        name, ch_parse_size, text, -1, 0 \
    }
#define MS(name, text, want)                   \
    {                                          \
        name, ch_parse_duration, text, 0, want \
    }
#define NOT_MS(name, text)                   \
    {                                        \
        name, ch_parse_duration, text, -1, 0 \
    }

static const num_case num_cases[] = {
    SIZE("size_zero", "0", 0),
    SIZE("size_bare_is_bytes", "512", 512),
    SIZE("size_k_is_1024", "64k", 65536),
    SIZE("size_kb_is_1024", "64kb", 65536),
    SIZE("size_m_is_1024_squared", "1m", 1048576),
    SIZE("size_mb_is_m", "1mb", 1048576),
    SIZE("size_g_is_1024_cubed", "1g", 1073741824),
    SIZE("size_gb_is_g", "2gb", 2147483648ull),
    SIZE("size_unit_upper_case", "64KB", 65536),
    SIZE("size_unit_mixed_case", "1Mb", 1048576),
    SIZE("size_max_uint64", "18446744073709551615", UINT64_MAX),
    SIZE("size_largest_gb", "17179869183g", 17179869183ull << 30),
    NOT_SIZE("size_refuses_empty", ""),
    NOT_SIZE("size_refuses_unknown_unit", "12q"),
    NOT_SIZE("size_refuses_negative", "-1"),
    NOT_SIZE("size_refuses_plus_sign", "+1"),
    NOT_SIZE("size_refuses_leading_blank", " 1"),
    NOT_SIZE("size_refuses_trailing_blank", "1 "),
    NOT_SIZE("size_refuses_fraction", "1.5k"),
    NOT_SIZE("size_refuses_unit_alone", "k"),
    NOT_SIZE("size_refuses_double_unit", "1kbb"),
    NOT_SIZE("size_refuses_b_suffix", "1b"),
    NOT_SIZE("size_refuses_hex", "0x10"),
    NOT_SIZE("size_refuses_terabytes", "1t"),
    NOT_SIZE("size_overflow_digits", "18446744073709551616"),
    NOT_SIZE("size_overflow_many_digits", "99999999999999999999999"),
    NOT_SIZE("size_overflow_g", "17179869184g"),
    NOT_SIZE("size_overflow_k", "18014398509481984k"),
    MS("duration_ms", "500ms", 500),
    MS("duration_s", "5s", 5000),
    MS("duration_m", "2m", 120000),
    MS("duration_h", "1h", 3600000),
    MS("duration_zero", "0", 0),
    MS("duration_zero_ms", "0ms", 0),
    MS("duration_unit_upper_case", "5S", 5000),
    MS("duration_bare_is_seconds", "30", 30000),
    MS("duration_day_in_seconds", "86400", 86400000),
    MS("duration_max_ms", "18446744073709551615ms", UINT64_MAX),
    MS("duration_largest_s", "18446744073709551s", 18446744073709551000ull),
    NOT_MS("duration_refuses_empty", ""),
    NOT_MS("duration_refuses_negative", "-1"),
    NOT_MS("duration_refuses_negative_s", "-1s"),
    NOT_MS("duration_refuses_unknown_unit", "5x"),
    NOT_MS("duration_refuses_fraction", "1.5s"),
    NOT_MS("duration_refuses_inner_blank", "5 s"),
    NOT_MS("duration_refuses_leading_blank", " 5s"),
    NOT_MS("duration_refuses_unit_alone", "s"),
    NOT_MS("duration_refuses_ms_alone", "ms"),
    NOT_MS("duration_refuses_sec", "5sec"),
    NOT_MS("duration_refuses_days", "1d"),
    NOT_MS("duration_refuses_double_unit", "5mss"),
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
    const char *err; /* non-NULL: a syntax error is expected */
} split_case;

#define SPLIT(name, line, n, ...)          \
    {                                      \
        name, line, n, {__VA_ARGS__}, NULL \
    }
#define SPLIT_ERR(name, line, err) \
    {                              \
        name, line, 0, {NULL}, err \
    }

static const split_case split_cases[] = {
    SPLIT("split_empty_line_gives_zero", "", 0, NULL),
    SPLIT("split_blank_line_gives_zero", "   \t  ", 0, NULL),
    SPLIT("split_crlf_only_gives_zero", "\r\n", 0, NULL),
    SPLIT("split_blanks_separate_args", "  route\t/ws/x/   echo  ", 3, "route", "/ws/x/", "echo"),
    SPLIT("split_comment_at_line_start", "# listen 1.2.3.4:5", 0, NULL),
    SPLIT("split_indented_comment_hides_quotes", "   #x \"unterminated", 0, NULL),
    SPLIT("split_comment_after_blank", "listen 9000 # the port", 2, "listen", "9000"),
    SPLIT("split_hash_inside_word_is_text", "a#b c#", 2, "a#b", "c#"),
    SPLIT("split_double_quotes_keep_blanks_and_hash", "x \"Hello  there # friend\"", 2, "x",
          "Hello  there # friend"),
    SPLIT("split_double_quote_escapes", "\"q\\\"b\\\\s\\nn\\tt\\rr\"", 1, "q\"b\\s\nn\tt\rr"),
    SPLIT("split_hex_escape", "\"\\x41\\x7a\\xC3\\xa9\"", 1, "Az\xc3\xa9"),
    SPLIT("split_single_quotes_only_escape_quote", "'it\\'s' 'a\\nb' 'c\\\\d' 'say \"hi\"'", 4,
          "it's", "a\\nb", "c\\\\d", "say \"hi\""),
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
#define NOT_LAYER \
    "' is not memory, redis://..., unix://..., redis-sentinel://... or channels_redis://..."
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
    {"layer_cr_refuses_unknown_param", "layer channels_redis://h:1/0?hosts=2",
     "layer: bad channels_redis url: unknown parameter 'hosts' (prefix, capacity, expiry and "
     "group_expiry are allowed)"},
    {"layer_cr_refuses_zero_capacity", "layer channels_redis://h:1/0?capacity=0",
     "layer: bad channels_redis url: capacity '0' is not a number > 0"},
    {"layer_memory_is_not_a_shard", "layer redis://a memory",
     "layer: 'memory' is not redis://..., unix://..., redis-sentinel://... or "
     "channels_redis://..."},
    {"layer_names_the_bad_shard", "layer redis://a:6379 redis://b:x",
     "layer: redis url 2: bad redis url: port 'x' is not a number in 1..65535"},
    {"layer_cr_shards_share_settings", "layer channels_redis://a/0 channels_redis://b/0?prefix=x",
     "layer: channels_redis url 2: prefix, capacity, expiry and group_expiry must be those of "
     "url 1"},
    {"layer_cr_and_redis_not_mixed", "layer channels_redis://a/0 redis://b/0",
     "layer: url 2: channels_redis urls and redis urls cannot be mixed"},
    {"layer_sentinel_needs_master", "layer redis-sentinel://s1:26379",
     "layer: bad redis url: missing or bad master name (expected "
     "redis-sentinel://[:password@]host[:port][,host[:port]...]/master[/db])"},
    {"layer_sentinel_bad_second_sentinel", "layer redis-sentinel://s1,s2:0/m",
     "layer: bad redis url: port '0' is not a number in 1..65535"},
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
    {"listen_wrong_argument_count", "listen 1.2.3.4:5 tls 6",
     "listen: expected 1 to 2 arguments, got 3 (listen ADDR:PORT | PORT | [V6ADDR]:PORT [tls])"},
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
    size_t off; /* of the field in ch_config */
    char type;  /* 'u' uint64_t, 'i' int, 's' string */
    uint64_t num;
    const char *str;
} good_case;

#define U64(name, text, field, v)                            \
    {                                                        \
        name, text, offsetof(ch_config, field), 'u', v, NULL \
    }
#define INT(name, text, field, v)                            \
    {                                                        \
        name, text, offsetof(ch_config, field), 'i', v, NULL \
    }
#define STR(name, text, field, v)                         \
    {                                                     \
        name, text, offsetof(ch_config, field), 's', 0, v \
    }

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
    STR("layer_shards_joined", "layer  redis://a:6379/0\tunix:///r.sock  redis-sentinel://s/m",
        layer, "redis://a:6379/0 unix:///r.sock redis-sentinel://s/m"),
    STR("store_postgresql", "store postgresql://u@h/db", store, "postgresql://u@h/db"),
    STR("store_postgres", "store postgres://h/db", store, "postgres://h/db"),
    STR("store_sqlite_memory_kept", "store sqlite::memory:", store, "sqlite::memory:"),
    STR("store_sqlite_absolute_kept", "store sqlite:/var/x.db", store, "sqlite:/var/x.db"),
    STR("store_none", "store sqlite:/x\nstore none", store, "none"),
    STR("plugin_dir_absolute_kept", "plugin_dir /opt/p", plugin_dir, "/opt/p"),
    STR("static_dir_absolute_kept", "static_dir /srv/www", static_dir, "/srv/www"),
    U64("max_message_size_set", "max_message_size 64kb", max_message_size, 65536),
    U64("max_outbound_bytes_set", "max_outbound_bytes 2m", max_outbound_bytes, 2097152),
    U64("outbound_pause_bytes_set", "outbound_pause_bytes 256kb", outbound_pause_bytes, 262144),
    U64("max_request_line_set", "max_request_line 512", max_request_line, 512),
    U64("max_header_bytes_set", "max_header_bytes 32KB", max_header_bytes, 32768),
    U64("max_body_size_set", "max_body_size 1g", max_body_size, 1073741824),
    U64("attachment_max_size_set", "attachment_max_size 25mb", attachment_max_size, 26214400),
    STR("attachment_types_set", "attachment_types image/png,text/*", attachment_types,
        "image/png,text/*"),
    STR("attachment_dir_absolute_kept", "attachment_dir /srv/files", attachment_dir,
        "/srv/files"),
    U64("attachment_sweep_interval_set", "attachment_sweep_interval 30s",
        attachment_sweep_interval, 30000),
    U64("max_headers_zero", "max_headers 0", max_headers, 0),
    U64("max_connections_set", "max_connections 10000", max_connections, 10000),
    U64("handshake_timeout_ms", "handshake_timeout 500ms", handshake_timeout, 500),
    U64("keepalive_timeout_m", "keepalive_timeout 2m", keepalive_timeout, 120000),
    U64("idle_timeout_h", "idle_timeout 1h", idle_timeout, 3600000),
    U64("ping_interval_bare_seconds", "ping_interval 10", ping_interval, 10000),
    U64("ping_timeout_s", "ping_timeout 15s", ping_timeout, 15000),
    U64("shutdown_timeout_zero", "shutdown_timeout 0", shutdown_timeout, 0),
    U64("group_expiry_s", "group_expiry 3600s", group_expiry, 3600000),
    U64("send_timeout_s", "send_timeout 5s", send_timeout, 5000),
    U64("send_timeout_off", "send_timeout 0", send_timeout, 0),
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

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define CASES(table, fn)                                              \
    for (size_t i = 0; i < N_OF(table); i++)                          \
        tests[n++] = (struct CMUnitTest)                              \
        {                                                             \
            (table)[i].name, fn, setup, teardown, (void *)&(table)[i] \
        }

/* One named test per case of each table. */
int main(void)
{
    struct CMUnitTest
        tests[N_OF(num_cases) + N_OF(split_cases) + N_OF(good_cases) + N_OF(line_cases)];
    size_t n = 0;

    CASES(num_cases, parse_number);
    CASES(split_cases, split_line);
    CASES(good_cases, good_file);
    CASES(line_cases, bad_line);
    return _cmocka_run_group_tests("test_config_parse", tests, n, NULL, NULL);
}
