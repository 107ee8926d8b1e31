/*
 * test_redis_url.c -- the Redis layer's url syntax beyond one server
 * (host/core/redis_url.c): redis-sentinel:// urls and the space-separated
 * list of a sharded layer, for the native and the channels_redis format,
 * and the layer directive's check.  The single-server forms are tested in
 * test_layer_redis.c and test_layer_cr.c.  Owns nothing beyond its cases.
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

static void cr_url_list_parsed(void **state)
{
    char err[256];
    ch_rl_url *urls;
    ch_cr_opts o;

    (void)state;
    assert_int_equal(ch_cr_url_list_parse("channels_redis://a:1/2?prefix=app "
                                          "channels_redis+unix:///r.sock?db=3&prefix=app",
                                          &urls, &o, err, sizeof err),
                     2);
    assert_string_equal(urls[0].where, "a:1");
    assert_int_equal(urls[0].db, 2);
    assert_true(urls[1].is_unix);
    assert_int_equal(urls[1].db, 3);
    assert_string_equal(o.prefix, "app");
    assert_int_equal(o.capacity, 100);
    free(urls);
    /* a sentinel url of the channels_redis kind: the sentinels and the
     * master, the layer's settings from the query */
    assert_int_equal(ch_cr_url_list_parse("channels_redis+sentinel://:pw@s1,s2:26380/mymaster/2"
                                          "?prefix=app&capacity=7",
                                          &urls, &o, err, sizeof err),
                     1);
    assert_int_equal(urls[0].n_sentinels, 2);
    assert_string_equal(urls[0].sentinels[0].host, "s1");
    assert_int_equal(urls[0].sentinels[0].port, 26379);
    assert_int_equal(urls[0].sentinels[1].port, 26380);
    assert_string_equal(urls[0].master, "mymaster");
    assert_string_equal(urls[0].password, "pw");
    assert_int_equal(urls[0].db, 2);
    assert_string_equal(o.prefix, "app");
    assert_int_equal(o.capacity, 7);
    free(urls);
}

static void cr_url_list_refused(void **state)
{
    char err[256];
    ch_rl_url *urls;
    ch_cr_opts o;

    (void)state;
    assert_int_equal(ch_cr_url_list_parse("channels_redis://a channels_redis://b?prefix=x", &urls,
                                          &o, err, sizeof err),
                     -EINVAL);
    assert_null(urls);
    assert_string_equal(err, "channels_redis url 2: prefix, capacity, expiry and group_expiry "
                             "must be those of url 1");
    assert_int_equal(ch_cr_url_list_parse("channels_redis://a?expiry=5 channels_redis://b", &urls,
                                          &o, err, sizeof err),
                     -EINVAL);
    assert_int_equal(ch_cr_url_list_parse("channels_redis://a channels_redis://b:0", &urls, &o, err,
                                          sizeof err),
                     -EINVAL);
    assert_string_equal(err, "channels_redis url 2: bad redis url: port '0' is not a number in "
                             "1..65535");
    assert_int_equal(ch_cr_url_list_parse("channels_redis+sentinel://s1/m?db=1", &urls, &o, err,
                                          sizeof err),
                     -EINVAL);
    assert_string_equal(err, "bad channels_redis url: unknown parameter 'db' (prefix, capacity, "
                             "expiry and group_expiry are allowed)");
}

static void layer_value_checked(void **state)
{
    char err[256], *v;

    (void)state;
    v = ch_rl_layer_value((char *[]){"redis://a", "redis-sentinel://s/m"}, 2, err, sizeof err);
    assert_non_null(v);
    assert_string_equal(v, "redis://a redis-sentinel://s/m");
    free(v);
    v = ch_rl_layer_value((char *[]){"channels_redis://a/0", "channels_redis://b/0"}, 2, err,
                          sizeof err);
    assert_non_null(v);
    assert_string_equal(v, "channels_redis://a/0 channels_redis://b/0");
    free(v);
    assert_null(
        ch_rl_layer_value((char *[]){"channels_redis://a", "redis://b"}, 2, err, sizeof err));
    assert_string_equal(err, "url 2: channels_redis urls and redis urls cannot be mixed");
    assert_null(
        ch_rl_layer_value((char *[]){"redis://a", "channels_redis://b"}, 2, err, sizeof err));
    assert_string_equal(err, "url 2: channels_redis urls and redis urls cannot be mixed");
    assert_null(ch_rl_layer_value((char *[]){"memcached://a"}, 1, err, sizeof err));
    assert_string_equal(err, "'memcached://a' is not memory, redis://..., unix://..., "
                             "redis-sentinel://... or channels_redis://...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sentinel_url_parsed), cmocka_unit_test(sentinel_url_refused),
        cmocka_unit_test(url_list_parsed),     cmocka_unit_test(url_list_refused),
        cmocka_unit_test(cr_url_list_parsed),  cmocka_unit_test(cr_url_list_refused),
        cmocka_unit_test(layer_value_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
