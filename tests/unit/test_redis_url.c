/*
 * test_redis_url.c -- the Redis layer's url syntax beyond one server
 * (host/core/redis_url.c): redis-sentinel:// urls and the space-separated
 * list of a sharded layer.  The single-server forms are tested in
 * test_layer_redis.c.  Owns nothing beyond its cases.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_url.h"

static void sentinel_url_parsed(void **state)
{
    char err[256];
    ch_rl_url u;

    (void)state;
    assert_int_equal(ch_rl_url_parse("redis-sentinel://:p%40ss@s1,10.0.0.2:26380,[::1]:7/mymaster/"
                                     "4",
                                     &u, err, sizeof err),
                     0);
    assert_int_equal(u.n_sentinels, 3);
    assert_string_equal(u.sentinels[0].host, "s1");
    assert_int_equal(u.sentinels[0].port, 26379);
    assert_string_equal(u.sentinels[1].host, "10.0.0.2");
    assert_int_equal(u.sentinels[1].port, 26380);
    assert_string_equal(u.sentinels[2].host, "::1");
    assert_int_equal(u.sentinels[2].port, 7);
    assert_string_equal(u.master, "mymaster");
    assert_string_equal(u.password, "p@ss");
    assert_int_equal(u.db, 4);
    assert_string_equal(u.where, "sentinel:mymaster");
    assert_int_equal(ch_rl_url_parse("redis-sentinel://127.0.0.1:26379/m", &u, err, sizeof err), 0);
    assert_int_equal(u.n_sentinels, 1);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    /* a plain url has no sentinels */
    assert_int_equal(ch_rl_url_parse("redis://h", &u, err, sizeof err), 0);
    assert_int_equal(u.n_sentinels, 0);
}

static void sentinel_url_refused(void **state)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"redis-sentinel://s1", "master name"},
        {"redis-sentinel://s1/", "master name"},
        {"redis-sentinel://s1,/m", "host"},
        {"redis-sentinel://s1:99999/m", "port"},
        {"redis-sentinel://s1/m/x", "database"},
        {"redis-sentinel://s1/m?x=1", "query"},
        {"redis-sentinel://a,b,c,d,e,f,g,h,i/m", "more than 8 sentinels"},
        {"redis-sentinel://secret@s1/m", "':'"},
    };
    char err[256];
    ch_rl_url u;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ch_rl_url_parse(bad[i].url, &u, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].why))
            fail_msg("%s: '%s' does not mention '%s'", bad[i].url, err, bad[i].why);
    }
}

static void url_list_parsed(void **state)
{
    char err[256];
    ch_rl_url *urls;

    (void)state;
    assert_int_equal(ch_rl_url_list_parse("redis://a:1/2", &urls, err, sizeof err), 1);
    assert_string_equal(urls[0].where, "a:1");
    free(urls);
    assert_int_equal(ch_rl_url_list_parse(" redis://a:1  unix:///r.sock\tredis-sentinel://s/m ",
                                          &urls, err, sizeof err),
                     3);
    assert_string_equal(urls[0].where, "a:1");
    assert_true(urls[1].is_unix);
    assert_string_equal(urls[2].master, "m");
    free(urls);
}

static void url_list_refused(void **state)
{
    char err[256], *many = calloc(65, 12);
    ch_rl_url *urls = (ch_rl_url *)&err; /* must come back NULL */

    (void)state;
    assert_int_equal(ch_rl_url_list_parse("redis://a redis://b:0", &urls, err, sizeof err),
                     -EINVAL);
    assert_null(urls);
    assert_string_equal(err, "redis url 2: bad redis url: port '0' is not a number in 1..65535");
    /* one url alone: the parser's reason, no position */
    assert_int_equal(ch_rl_url_list_parse(" redis://b:0 ", &urls, err, sizeof err), -EINVAL);
    assert_string_equal(err, "bad redis url: port '0' is not a number in 1..65535");
    assert_int_equal(ch_rl_url_list_parse("  ", &urls, err, sizeof err), -EINVAL);
    assert_string_equal(err, "no redis url");
    assert_non_null(many);
    for (int i = 0; i < 65; i++)
        strcat(many, "redis://h ");
    assert_int_equal(ch_rl_url_list_parse(many, &urls, err, sizeof err), -EINVAL);
    assert_string_equal(err, "more than 64 redis servers");
    many[64 * 10] = '\0';
    assert_int_equal(ch_rl_url_list_parse(many, &urls, err, sizeof err), 64);
    free(urls);
    free(many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sentinel_url_parsed),
        cmocka_unit_test(sentinel_url_refused),
        cmocka_unit_test(url_list_parsed),
        cmocka_unit_test(url_list_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
