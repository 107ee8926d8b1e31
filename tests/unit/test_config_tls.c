/*
 * test_config_tls.c -- the TLS and log directives: `listen ADDR:PORT tls`
 * beside the plain listener, tls_certificate / tls_certificate_key with
 * the FILE:LINE each was set at, log_format, and their refusals.
 */
#include "config_fixture.h"

static void tls_listener_beside_plain(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "listen 0.0.0.0:8080\n"
                             "listen [::1]:8443 tls\n"
                             "tls_certificate certs/site.pem\n"
                             "tls_certificate_key /etc/ssl/site.key\n"),
                     0);
    expect_no_diag(f);
    assert_string_equal(f->cfg.listen_host, "0.0.0.0");
    assert_int_equal(f->cfg.listen_port, 8080);
    assert_string_equal(f->cfg.tls_listen_host, "::1");
    assert_int_equal(f->cfg.tls_listen_port, 8443);
    expect_str(f->cfg.tls_listen_where, "%s:2", f->conf);
    expect_str(f->cfg.tls_certificate, "%s/certs/site.pem", f->dir);
    expect_str(f->cfg.tls_certificate_where, "%s:3", f->conf);
    assert_string_equal(f->cfg.tls_certificate_key, "/etc/ssl/site.key");
    expect_str(f->cfg.tls_certificate_key_where, "%s:4", f->conf);
    assert_null(f->cfg.tls_ctx); /* made by the assembler, not the parser */
}

static void tls_bare_port_takes_the_plain_host(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "listen 10.0.0.1:80\nlisten 443 tls\n"), 0);
    assert_string_equal(f->cfg.tls_listen_host, "10.0.0.1");
    assert_int_equal(f->cfg.tls_listen_port, 443);
    assert_string_equal(f->cfg.listen_host, "10.0.0.1");
    assert_int_equal(f->cfg.listen_port, 80);
}

static void no_tls_by_default(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "listen 9000\n"), 0);
    assert_null(f->cfg.tls_listen_host);
    assert_null(f->cfg.tls_certificate);
    assert_int_equal(f->cfg.log_format, CH_LOG_FORMAT_TEXT);
}

static void tls_refusals(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "listen 127.0.0.1:443 ssl\n"
                             "listen nowhere:443 tls\n"
                             "tls_certificate \"\"\n"
                             "tls_certificate_key a b\n"),
                     4);
    expect_diag(f, 0, 1, "listen: 'ssl' is not tls (listen ADDR:PORT [tls])");
    expect_diag(f, 1, 2,
                "listen: 'nowhere:443' is not ADDR:PORT (use 127.0.0.1:8000, 8000 or [::1]:8000)");
    expect_diag(f, 2, 3, "tls_certificate: the path is empty");
    expect_diag(f, 3, 4,
                "tls_certificate_key: expected 1 argument, got 2 (tls_certificate_key PATH)");
    assert_null(f->cfg.tls_listen_host);
}

static void log_format_values(void **state)
{
    fx *f = *state;

    assert_int_equal(load(f, "log_format json\n"), 0);
    assert_int_equal(f->cfg.log_format, CH_LOG_FORMAT_JSON);
    assert_int_equal(load(f, "log_format text\n"), 0);
    assert_int_equal(f->cfg.log_format, CH_LOG_FORMAT_TEXT);
    assert_int_equal(load(f, "log_format JSON\n"), 1);
    expect_diag(f, 0, 1, "log_format: 'JSON' is not text or json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tls_listener_beside_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(tls_bare_port_takes_the_plain_host, setup, teardown),
        cmocka_unit_test_setup_teardown(no_tls_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(tls_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(log_format_values, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
