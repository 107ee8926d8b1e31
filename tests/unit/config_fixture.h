/*
 * config_fixture.h -- what the config unit tests share (test_config.c,
 * test_config_parse.c): each test's fresh config, diagnostics list and
 * temporary directory (setup/teardown; a table-driven test gets its case
 * as f->param), writing and loading a file, and checks of strings,
 * FILE:LINE diagnostics and the default config.  Header-only (static
 * inline), since every tests/unit/test_*.c is a program of its own.
 */
#ifndef CONFIG_FIXTURE_H
#define CONFIG_FIXTURE_H

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
    char *dir;         /* real path of this test's temporary directory */
    char *conf;        /* dir/test.conf */
    char *example;     /* etc/chanhost.conf or its stand-in, once looked up */
    const void *param; /* the case of a table-driven test (its prestate) */
    ch_config cfg;
    ch_diag diag;
} fx;

static inline int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char tmpl[] = "/tmp/chanhost-config-XX"
                  "XX"
                  "XX";

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

static inline int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline int teardown(void **state)
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

static inline void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Write text to f->conf and load it; returns the number of problems. */
static inline int load(fx *f, const char *text)
{
    write_file(f->conf, text);
    return ch_config_load_file(&f->cfg, f->conf, &f->diag);
}

/* Assert that got equals the printf-formatted text. */
static inline void expect_str(const char *got, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void expect_str(const char *got, const char *fmt, ...)
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
static inline void expect_no_diag(fx *f)
{
    for (size_t i = 0; i < f->diag.n; i++)
        print_error("%s\n", f->diag.lines[i]);
    assert_int_equal(f->diag.n, 0);
}

/* Assert that diagnostic i is "<f->conf>:<line>: <msg>". */
static inline void expect_diag(fx *f, size_t i, int line, const char *msg)
{
    assert_true(i < f->diag.n);
    expect_str(f->diag.lines[i], "%s:%d: %s", f->conf, line, msg);
}

/* Every field has its documented default (but path). */
static inline void assert_config_is_default(const ch_config *c)
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
    assert_int_equal(c->outbound_pause_bytes, 1024 * 1024);
    assert_int_equal(c->max_request_line, 8 * 1024);
    assert_int_equal(c->max_header_bytes, 16 * 1024);
    assert_int_equal(c->max_headers, 100);
    assert_int_equal(c->max_body_size, 1024 * 1024);
    assert_int_equal(c->max_connections, 0);
    assert_int_equal(c->max_connections_per_user, 100);
    assert_int_equal(c->max_connections_per_ip, 0);
    assert_int_equal(c->handshake_rate_per_ip, 0);
    assert_int_equal(c->n_trusted_proxies, 0);
    assert_int_equal(c->handshake_timeout, 5000);
    assert_int_equal(c->keepalive_timeout, 75000);
    assert_int_equal(c->idle_timeout, 0);
    assert_int_equal(c->ping_interval, 20000);
    assert_int_equal(c->ping_timeout, 30000);
    assert_int_equal(c->shutdown_timeout, 10000);
    assert_int_equal(c->send_timeout, 30000);
    assert_int_equal(c->group_expiry, 86400000);
    assert_int_equal(c->verbosity, 1);
}

#endif
