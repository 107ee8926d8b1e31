/*
 * test_proxy.c -- unit tests of host/core/proxy.c: addresses and CIDR
 * blocks (IPv4, IPv6, ports, brackets, garbage), and the client and
 * scheme that X-Forwarded-For / X-Real-IP / X-Forwarded-Proto give from
 * trusted proxies only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"

/* The text of a 16-byte address (IPv4 unmapped) in a static buffer. */
static const char *text(const uint8_t ip[16])
{
    static char buf[64];

    if (ch_ip_is_v4(ip))
        return inet_ntop(AF_INET, ip + 12, buf, sizeof buf);
    return inet_ntop(AF_INET6, ip, buf, sizeof buf);
}

/* The address s parsed (it must parse), as 16 bytes in a static buffer. */
static const uint8_t *ip(const char *s)
{
    static uint8_t out[4][16];
    static int next;
    uint8_t *o = out[next++ % 4];

    assert_int_equal(ch_ip_parse(s, strlen(s), o), 0);
    return o;
}

/* The text of a parsed address s. */
static const char *parsed(const char *s) { return text(ip(s)); }

static void test_ip_parse(void **state)
{
    uint8_t out[16];

    (void)state;
    assert_string_equal(parsed("192.0.2.1"), "192.0.2.1");
    assert_string_equal(parsed("  192.0.2.1\t"), "192.0.2.1");
    assert_string_equal(parsed("192.0.2.1:8080"), "192.0.2.1");
    assert_string_equal(parsed("2001:db8::1"), "2001:db8::1");
    assert_string_equal(parsed("[2001:db8::1]"), "2001:db8::1");
    assert_string_equal(parsed("[2001:db8::1]:443"), "2001:db8::1");
    assert_string_equal(parsed("::ffff:10.1.2.3"), "10.1.2.3"); /* mapped: IPv4 */
    assert_true(ch_ip_is_v4(ip("10.1.2.3")));
    assert_false(ch_ip_is_v4(ip("::1")));
    static const char *bad[] = {"",         " ",         "unknown",
                                "1.2.3",    "1.2.3.4.5", "256.1.1.1",
                                "1.2.3.4:", "1.2.3.4:x", "1.2.3.4:123456",
                                "[::1",     "[::1]x",    "[1.2.3.4]",
                                "::g",      "1.2.3.4/8", "example.com",
                                "_hidden"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ch_ip_parse(bad[i], strlen(bad[i]), out), -EINVAL);
    /* only len bytes are read */
    assert_int_equal(ch_ip_parse("10.0.0.1, 10.0.0.2", 8, out), 0);
    assert_string_equal(text(out), "10.0.0.1");
}

static void test_cidr(void **state)
{
    ch_cidr b[3];

    (void)state;
    assert_int_equal(ch_cidr_parse("10.0.0.0/8", &b[0]), 0);
    assert_int_equal(b[0].bits, 104);
    assert_int_equal(ch_cidr_parse("fd00::/8", &b[1]), 0);
    assert_int_equal(ch_cidr_parse("192.0.2.7", &b[2]), 0); /* one address */
    assert_int_equal(b[2].bits, 128);
    assert_true(ch_cidr_match(b, 3, ip("10.255.1.2")));
    assert_false(ch_cidr_match(b, 3, ip("11.0.0.1")));
    assert_true(ch_cidr_match(b, 3, ip("fd12:3456::1")));
    assert_false(ch_cidr_match(b, 3, ip("fe80::1")));
    assert_true(ch_cidr_match(b, 3, ip("192.0.2.7")));
    assert_false(ch_cidr_match(b, 3, ip("192.0.2.8")));
    assert_true(ch_cidr_match(b, 3, ip("::ffff:10.0.0.9"))); /* dual-stack peer */
    assert_false(ch_cidr_match(b, 0, ip("10.0.0.1")));
    /* host bits are cleared; odd prefixes */
    assert_int_equal(ch_cidr_parse("172.16.5.4/12", &b[0]), 0);
    assert_true(ch_cidr_match(b, 1, ip("172.31.255.255")));
    assert_false(ch_cidr_match(b, 1, ip("172.32.0.0")));
    assert_int_equal(ch_cidr_parse("0.0.0.0/0", &b[0]), 0);
    assert_true(ch_cidr_match(b, 1, ip("203.0.113.9")));
    assert_false(ch_cidr_match(b, 1, ip("2001:db8::1"))); /* IPv4's all is not IPv6's */
    assert_int_equal(ch_cidr_parse("::/0", &b[0]), 0);
    assert_true(ch_cidr_match(b, 1, ip("2001:db8::1")));
    static const char *bad[] = {"",          "/8",           "10.0.0.0/33", "::/129",
                                "10.0.0.0/", "10.0.0.0/-1",  "10.0.0.0/8x", "10.0.0/8",
                                "x/8",       "10.0.0.0/0008"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ch_cidr_parse(bad[i], &b[0]), -EINVAL);
}

/* The client ch_proxy_client names, as text, with trusted 127.0.0.1 and
 * 10.0.0.2 (or the blocks of list when given). */
static const char *client(const char *peer, const char *xff, const char *xrip, int *from_header)
{
    ch_cidr t[3];
    uint8_t out[16], p[16];

    assert_int_equal(ch_cidr_parse("127.0.0.1", &t[0]), 0);
    assert_int_equal(ch_cidr_parse("10.0.0.2", &t[1]), 0);
    assert_int_equal(ch_cidr_parse("fd00::/8", &t[2]), 0);
    memcpy(p, ip(peer), 16);
    *from_header = ch_proxy_client(p, xff, xrip, t, 3, out);
    return text(out);
}

static void test_client(void **state)
{
    int h;

    (void)state;
    /* untrusted peer: its own address, whatever it writes */
    assert_string_equal(client("192.0.2.9", "1.2.3.4", "5.6.7.8", &h), "192.0.2.9");
    assert_false(h);
    /* trusted peer without the headers */
    assert_string_equal(client("127.0.0.1", NULL, NULL, &h), "127.0.0.1");
    assert_false(h);
    /* the rightmost untrusted address: a client's own forgery on the left is ignored */
    assert_string_equal(client("127.0.0.1", "6.6.6.6, 1.2.3.4 ,10.0.0.2", NULL, &h), "1.2.3.4");
    assert_true(h);
    /* all trusted: the leftmost */
    assert_string_equal(client("127.0.0.1", "10.0.0.2, 127.0.0.1", NULL, &h), "10.0.0.2");
    /* empty entries and an empty header: the peer */
    assert_string_equal(client("127.0.0.1", " , ,", NULL, &h), "127.0.0.1");
    assert_false(h);
    assert_string_equal(client("127.0.0.1", "", NULL, &h), "127.0.0.1");
    /* IPv6 clients and proxies, ports and brackets */
    assert_string_equal(client("127.0.0.1", "2001:db8::1", NULL, &h), "2001:db8::1");
    assert_string_equal(client("fd00::5", "[2001:db8::7]:5000, fd00::9", NULL, &h), "2001:db8::7");
    assert_string_equal(client("::ffff:127.0.0.1", "198.51.100.4:1234", NULL, &h), "198.51.100.4");
    /* garbage: the walk stops at the hop that wrote it */
    assert_string_equal(client("127.0.0.1", "1.2.3.4, bogus, 10.0.0.2", NULL, &h), "10.0.0.2");
    assert_string_equal(client("127.0.0.1", "1.2.3.4, unknown", "7.7.7.7", &h), "7.7.7.7");
    assert_string_equal(client("127.0.0.1", "1.2.3.4, unknown", NULL, &h), "127.0.0.1");
    assert_false(h);
    /* X-Real-IP when X-Forwarded-For names none; X-Forwarded-For first */
    assert_string_equal(client("127.0.0.1", NULL, " 203.0.113.5 ", &h), "203.0.113.5");
    assert_true(h);
    assert_string_equal(client("127.0.0.1", "198.51.100.1", "203.0.113.5", &h), "198.51.100.1");
    assert_string_equal(client("127.0.0.1", NULL, "nonsense", &h), "127.0.0.1");
    assert_false(h);
}

static void test_https(void **state)
{
    (void)state;
    assert_true(ch_proxy_https("https"));
    assert_true(ch_proxy_https(" HTTPS"));
    assert_true(ch_proxy_https("wss"));
    assert_true(ch_proxy_https("https, http"));
    assert_false(ch_proxy_https("http"));
    assert_false(ch_proxy_https("http, https"));
    assert_false(ch_proxy_https("httpsx"));
    assert_false(ch_proxy_https(""));
    assert_false(ch_proxy_https(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_client),
        cmocka_unit_test(test_https),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
