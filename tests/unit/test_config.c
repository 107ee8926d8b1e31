/*
 * test_config.c -- unit tests of host/core/config.c: the defaults, the
 * diagnostics list, directives in files (paths relative to the file,
 * lists that append, routes, plugin settings, every bad line reported
 * with FILE:LINE, long lines, NUL bytes, a missing file), command-line
 * overrides and etc/chanhost.conf itself.  The table-driven cases (sizes,
 * durations, the tokenizer, one bad line, one good file) are in
 * test_config_parse.c.
 *
 * Each test gets a fresh config, diagnostics list and temporary directory
 * (setup/teardown, config_fixture.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_fixture.h"

/* --- defaults -------------------------------------------------------- */

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
                             "allowed_origins http://localhost:*\n"),
                     0);
    assert_int_equal(f->cfg.n_allowed_origins, 3);
    assert_string_equal(f->cfg.allowed_origins[0], "https://a.example.com");
    assert_string_equal(f->cfg.allowed_origins[1], ".example.org");
    assert_string_equal(f->cfg.allowed_origins[2], "http://localhost:*");
}

/* roles: role names append; a name that is not 1 to 32 of [a-z0-9_-] is
 * refused; user and admin are always known, others only when named. */
static void roles_append_and_are_checked(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "roles editor\n"
                             "roles moderator team_lead-2 Boss\n"),
                     1);
    expect_diag(f, 0, 2, "roles: 'Boss' is not a role name (1 to 32 of a-z, 0-9, _ and -)");
    assert_int_equal(f->cfg.n_roles, 1);
    assert_string_equal(f->cfg.roles[0], "editor");
    assert_true(ch_config_role_known(&f->cfg, "user"));
    assert_true(ch_config_role_known(&f->cfg, "admin"));
    assert_true(ch_config_role_known(&f->cfg, "editor"));
    assert_false(ch_config_role_known(&f->cfg, "moderator"));
    assert_false(ch_config_role_known(&f->cfg, "root"));
    assert_true(ch_role_name_ok("a") && ch_role_name_ok("team_lead-2"));
    assert_true(ch_role_name_ok("abcdefghijklmnopqrstuvwxyz012345"));
    assert_false(ch_role_name_ok("abcdefghijklmnopqrstuvwxyz0123456"));
    assert_false(ch_role_name_ok("") || ch_role_name_ok("Admin") || ch_role_name_ok("a b"));
}

static void routes_parsed_in_order(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "route /ws/echo/ echo\n"
                             "\n"
                             "route /ws/chat/<str:room>/ chat-2 reload=restart\n"
                             "route ws/x/ x_1 reload=keep\n"),
                     0);
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
                             "plugin_setting broadcast max 20\n"),
                     0);
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
                             "require_origin perhaps # comment\n"),
                     5);
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
    assert_int_equal(ch_config_apply(&f->cfg, "listen", "127.0.0.1:7000", "--listen", &f->diag), 0);
    assert_int_equal(ch_config_apply(&f->cfg, "max_message_size", "64kb", "--max_message_size",
                                     &f->diag),
                     0);
    assert_string_equal(f->cfg.listen_host, "127.0.0.1");
    assert_int_equal(f->cfg.listen_port, 7000);
    assert_int_equal(f->cfg.max_message_size, 65536);
}

static void command_line_lists_append(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "route /ws/echo/ echo\nallowed_origins .a.com\n"
                             "plugin_setting p a 1\n"),
                     0);
    assert_int_equal(ch_config_apply(&f->cfg, "route", "'/ws/chat/<str:room>/' chat", "--route",
                                     &f->diag),
                     0);
    assert_int_equal(ch_config_apply(&f->cfg, "allowed_origins", "*", "--allowed_origins",
                                     &f->diag),
                     0);
    assert_int_equal(ch_config_apply(&f->cfg, "plugin_setting", "p b \"two words\"",
                                     "--plugin_setting", &f->diag),
                     0);
    assert_int_equal(f->cfg.n_routes, 2);
    assert_string_equal(f->cfg.routes[0].pattern, "/ws/echo/");
    assert_string_equal(f->cfg.routes[1].pattern, "/ws/chat/<str:room>/");
    assert_string_equal(f->cfg.routes[1].where, "--route");
    assert_int_equal(f->cfg.n_allowed_origins, 2);
    assert_string_equal(f->cfg.allowed_origins[1], "*");
    assert_string_equal(json_string_value(
                            json_object_get(json_object_get(f->cfg.plugin_settings, "p"), "a")),
                        "1");
    assert_string_equal(json_string_value(
                            json_object_get(json_object_get(f->cfg.plugin_settings, "p"), "b")),
                        "two words");
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
                                     &f->diag),
                     1);
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

static void workers_auto_or_a_count(void **state)
{
    fx *f = *state;

    assert_int_equal(f->cfg.workers, 0); /* auto */
    assert_int_equal(ch_config_apply(&f->cfg, "workers", "6", "--workers", &f->diag), 0);
    assert_int_equal(f->cfg.workers, 6);
    assert_int_equal(ch_config_apply(&f->cfg, "workers", "auto", "--workers", &f->diag), 0);
    assert_int_equal(f->cfg.workers, 0);
    assert_int_equal(ch_config_apply(&f->cfg, "workers", "0", "--workers", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "workers", "65", "--workers", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "workers", "-2", "--workers", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "workers", "2x", "--workers", &f->diag), 1);
    assert_int_equal(f->cfg.workers, 0);
    assert_string_equal(f->diag.lines[0],
                        "--workers: '0' is not auto or a number of workers (1-64)");
}

/* store_connections: 2 by default, 1 to 16, anything else refused with
 * the value named and the setting kept. */
static void store_connections_a_count(void **state)
{
    fx *f = *state;

    assert_int_equal(f->cfg.store_connections, 2);
    assert_int_equal(ch_config_apply(&f->cfg, "store_connections", "16", "--sc", &f->diag), 0);
    assert_int_equal(f->cfg.store_connections, 16);
    assert_int_equal(ch_config_apply(&f->cfg, "store_connections", "1", "--sc", &f->diag), 0);
    assert_int_equal(f->cfg.store_connections, 1);
    assert_int_equal(ch_config_apply(&f->cfg, "store_connections", "0", "--sc", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "store_connections", "17", "--sc", &f->diag), 1);
    assert_int_equal(ch_config_apply(&f->cfg, "store_connections", "2x", "--sc", &f->diag), 1);
    assert_int_equal(f->cfg.store_connections, 1);
    assert_string_equal(f->diag.lines[1],
                        "--sc: store_connections: '17' is not a number of connections (1-16)");
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

    if (src && *src && asprintf(&path, "%s/etc/chanhost.conf", src) > 0 && access(path, R_OK) == 0)
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

#define T(name)                            \
    {                                      \
#name, name, setup, teardown, NULL \
    }

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        T(defaults_are_the_documented_values),
        T(diag_collects_lines),
        T(paths_are_relative_to_the_file),
        T(relative_file_name_still_gives_absolute_paths),
        T(allowed_origins_append),
        T(roles_append_and_are_checked),
        T(routes_parsed_in_order),
        T(plugin_setting_json_shape),
        T(every_bad_line_reported_with_path_and_line),
        T(long_lines),
        T(nul_byte_in_line_refused),
        T(cannot_open_is_one_problem),
        T(command_line_scalar_overrides_file),
        T(command_line_lists_append),
        T(command_line_paths_are_relative_to_cwd),
        T(command_line_messages_start_with_where),
        T(workers_auto_or_a_count),
        T(store_connections_a_count),
        T(is_directive_knows_the_table),
        T(example_config_parses_cleanly),
        T(example_config_commented_examples_parse),
    };

    return cmocka_run_group_tests_name("test_config", fixed, NULL, NULL);
}
