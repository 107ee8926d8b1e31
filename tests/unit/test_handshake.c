/*
 * test_handshake.c -- unit tests for host/ws/handshake.c (opening handshake,
 * Sec-WebSocket-Accept, Origin policy, subprotocol offers) and for the
 * header helpers of host/core/request.c.  Requests are built by filling a
 * ch_req by hand; nothing here does I/O.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <http_parser.h>

#include "handshake.h"
#include "request.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Append a header even if one of that name exists (a repeated header).
 * Strings are borrowed (string literals in these tests). */
static void add_header(ch_req *r, const char *name, const char *value)
{
    r->names[r->n_headers] = name;
    r->values[r->n_headers++] = value;
}

/* Set header name (lower-case) to value, replacing the first entry of that
 * name, or appending one.  value NULL removes that entry. */
static void set_header(ch_req *r, const char *name, const char *value)
{
    size_t rest;

    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcmp(r->names[i], name) != 0)
            continue;
        if (value) {
            r->values[i] = value;
            return;
        }
        rest = r->n_headers - i - 1;
        memmove(&r->names[i], &r->names[i + 1], rest * sizeof r->names[0]);
        memmove(&r->values[i], &r->values[i + 1], rest * sizeof r->values[0]);
        r->n_headers--;
        return;
    }
    if (value)
        add_header(r, name, value);
}

/* The RFC 6455 section 1.3 request, with a same-host Origin. */
static ch_req good_req(void)
{
    ch_req r;

    memset(&r, 0, sizeof r);
    r.method = HTTP_GET;
    r.method_name = "GET";
    r.http_major = 1;
    r.http_minor = 1;
    r.target = r.path = "/chat";
    r.query = r.body = "";
    r.upgrade = 1;
    r.keep_alive = 1;
    set_header(&r, "host", "server.example.com");
    set_header(&r, "upgrade", "websocket");
    set_header(&r, "connection", "Upgrade");
    set_header(&r, "sec-websocket-key", RFC_KEY);
    set_header(&r, "origin", "http://server.example.com");
    set_header(&r, "sec-websocket-protocol", "chat, superchat");
    set_header(&r, "sec-websocket-version", "13");
    return r;
}

/* Run the check with an empty policy; assert the status and reason. */
static void expect(const ch_req *r, int status, const char *reason)
{
    ch_origin_policy pol = {NULL, 0, 0};
    ch_handshake hs;
    int rc;

    memset(&hs, 0x5a, sizeof hs);
    rc = ch_handshake_check(r, &pol, &hs);
    assert_int_equal(hs.status, status);
    if (status == 0) {
        assert_int_equal(rc, 0);
        assert_null(hs.reason);
        assert_string_equal(hs.accept, RFC_ACCEPT);
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(hs.reason);
        assert_string_equal(hs.reason, reason);
        assert_string_equal(hs.accept, "");
    }
}

/* ch_origin_allowed with a list of allowed entries (NULL-terminated). */
static int allowed_with(const char *origin, const char *host, int require, ...)
{
    char *list[16];
    size_t n = 0;
    va_list ap;
    ch_origin_policy pol;

    va_start(ap, require);
    for (char *e; (e = va_arg(ap, char *)) && n < 16;)
        list[n++] = e;
    va_end(ap);
    pol.allowed = list;
    pol.n_allowed = n;
    pol.require_origin = require;
    return ch_origin_allowed(origin, host, &pol);
}

#define ALLOWED(origin, host, ...) allowed_with(origin, host, 0, __VA_ARGS__, (char *)NULL)
#define NOLIST(origin, host) allowed_with(origin, host, 0, (char *)NULL)

/* ------------------------------------------------------------------ */
/* Sec-WebSocket-Accept                                                */
/* ------------------------------------------------------------------ */

static void test_accept_rfc_example(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(ch_handshake_accept_key(RFC_KEY, out), 0);
    assert_string_equal(out, RFC_ACCEPT);
    assert_int_equal(strlen(out), 28);
}

static void test_accept_other_key(void **state)
{
    char out[32];

    (void)state;
    /* bytes 1..16, expected value from Python's hashlib/base64 */
    assert_int_equal(ch_handshake_accept_key("AQIDBAUGBwgJCgsMDQ4PEA==", out), 0);
    assert_string_equal(out, "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
}

static void assert_bad_key(const char *key)
{
    char out[32];

    memset(out, 'x', sizeof out);
    assert_int_equal(ch_handshake_accept_key(key, out), -1);
    assert_string_equal(out, "");
}

static void test_key_null(void **state)
{
    (void)state;
    assert_bad_key(NULL);
}
static void test_key_empty(void **state)
{
    (void)state;
    assert_bad_key("");
}
static void test_key_too_short(void **state)
{
    (void)state;
    assert_bad_key("YWFhYWFhYWFhYQ==");
}
static void test_key_15_bytes(void **state)
{
    (void)state;
    assert_bad_key("YWFhYWFhYWFhYWFhYWFh");
}
static void test_key_17_bytes(void **state)
{
    (void)state;
    assert_bad_key("YWFhYWFhYWFhYWFhYWFhYWE=");
}
static void test_key_18_bytes(void **state)
{
    (void)state;
    assert_bad_key("YWFhYWFhYWFhYWFhYWFhYWFh");
}
static void test_key_missing_padding(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub25jZQ");
}
static void test_key_one_pad_only(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub25jZQ=");
}
static void test_key_bad_char(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub25jZ!==");
}
static void test_key_urlsafe_char(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub2-jZQ==");
}
static void test_key_inner_space(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbX BsZSBub25jZQ==");
}
static void test_key_pad_in_middle(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNh=XBsZSBub25jZQ==");
}
static void test_key_three_pads(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub25jZ===");
}
/* strict base64 (core/b64.h): the unused low bits of the last character are 0 */
static void test_key_unused_bits_set(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub25jZR==");
}
static void test_key_too_long(void **state)
{
    (void)state;
    assert_bad_key("dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==");
}

/* ------------------------------------------------------------------ */
/* ch_handshake_check: each failure, and their precedence              */
/* ------------------------------------------------------------------ */

/*
 * One named test per request: good_req() changed by the statements given,
 * then the expected status and reason (NULL, 0 when valid).
 */
#define CHECK_CASE(name, status, reason, ...)   \
    static void test_check_##name(void **state) \
    {                                           \
        ch_req r = good_req();                  \
                                                \
        (void)state;                            \
        __VA_ARGS__;                            \
        expect(&r, status, reason);             \
    }

CHECK_CASE(valid, 0, NULL, (void)0)
CHECK_CASE(post, 405, "bad_method", r.method = HTTP_POST; r.method_name = "POST")
CHECK_CASE(post_bad_version_is_405, 405, "bad_method", r.method = HTTP_POST;
           set_header(&r, "sec-websocket-version", "8"); set_header(&r, "sec-websocket-key", "bad"))
CHECK_CASE(head, 405, "bad_method", r.method = HTTP_HEAD)
CHECK_CASE(http10, 400, "bad_request", r.http_minor = 0)
CHECK_CASE(http09, 400, "bad_request", r.http_major = 0; r.http_minor = 9)
CHECK_CASE(http10_post_is_405, 405, "bad_method", r.http_minor = 0; r.method = HTTP_POST)
CHECK_CASE(http10_no_upgrade_is_400, 400, "bad_request", r.http_minor = 0;
           set_header(&r, "upgrade", NULL))
CHECK_CASE(no_upgrade, 426, "not_websocket", set_header(&r, "upgrade", NULL))
CHECK_CASE(upgrade_other, 426, "not_websocket", set_header(&r, "upgrade", "h2c"))
CHECK_CASE(no_upgrade_before_connection, 426, "not_websocket", set_header(&r, "upgrade", NULL);
           set_header(&r, "connection", NULL); set_header(&r, "sec-websocket-version", "8"))
CHECK_CASE(upgrade_mixed_case, 0, NULL, set_header(&r, "upgrade", "WebSocket"))
CHECK_CASE(upgrade_list, 0, NULL, set_header(&r, "upgrade", "h2c, WEBSOCKET"))
CHECK_CASE(upgrade_repeated_header, 0, NULL, set_header(&r, "upgrade", "h2c");
           add_header(&r, "upgrade", "websocket"))
CHECK_CASE(no_connection, 400, "bad_request", set_header(&r, "connection", NULL))
CHECK_CASE(connection_keep_alive_only, 400, "bad_request",
           set_header(&r, "connection", "keep-alive"))
CHECK_CASE(connection_uppercase, 0, NULL, set_header(&r, "connection", "UPGRADE"))
CHECK_CASE(connection_list, 0, NULL, set_header(&r, "connection", "keep-alive, Upgrade"))
CHECK_CASE(connection_lookalike, 400, "bad_request",
           set_header(&r, "connection", "upgrades, keep-alive"))
CHECK_CASE(no_connection_before_version, 400, "bad_request", set_header(&r, "connection", "close");
           set_header(&r, "sec-websocket-version", "8"))
CHECK_CASE(version_8, 426, "bad_version", set_header(&r, "sec-websocket-version", "8"))
CHECK_CASE(version_missing, 426, "bad_version", set_header(&r, "sec-websocket-version", NULL))
CHECK_CASE(version_130, 426, "bad_version", set_header(&r, "sec-websocket-version", "130"))
CHECK_CASE(bad_version_before_key, 426, "bad_version",
           set_header(&r, "sec-websocket-version", "12");
           set_header(&r, "sec-websocket-key", "short"))
CHECK_CASE(bad_key, 400, "bad_key", set_header(&r, "sec-websocket-key", "YWFhYWFhYWFhYWFhYWFhYWE="))
CHECK_CASE(missing_key, 400, "bad_key", set_header(&r, "sec-websocket-key", NULL))
CHECK_CASE(bad_key_before_origin, 400, "bad_key", set_header(&r, "sec-websocket-key", "!!!!");
           set_header(&r, "origin", "http://evil.example"))
CHECK_CASE(bad_origin, 403, "bad_origin", set_header(&r, "origin", "http://evil.example"))
CHECK_CASE(null_origin, 403, "bad_origin", set_header(&r, "origin", "null"))
CHECK_CASE(no_origin, 0, NULL, set_header(&r, "origin", NULL))

static void test_check_no_origin_required(void **state)
{
    ch_req r = good_req();
    ch_origin_policy pol = {NULL, 0, 1};
    ch_handshake hs;

    (void)state;
    set_header(&r, "origin", NULL);
    assert_int_equal(ch_handshake_check(&r, &pol, &hs), -1);
    assert_int_equal(hs.status, 403);
    assert_string_equal(hs.reason, "bad_origin");
}

static void test_check_origin_from_policy(void **state)
{
    ch_req r = good_req();
    char *list[] = {"https://app.example.org"};
    ch_origin_policy pol = {list, 1, 1};
    ch_handshake hs;

    (void)state;
    set_header(&r, "origin", "https://app.example.org");
    assert_int_equal(ch_handshake_check(&r, &pol, &hs), 0);
    assert_int_equal(hs.status, 0);
    assert_string_equal(hs.accept, RFC_ACCEPT);
}

static void test_check_null_policy(void **state)
{
    ch_req r = good_req();
    ch_handshake hs;

    (void)state;
    assert_int_equal(ch_handshake_check(&r, NULL, &hs), 0);
    set_header(&r, "origin", "http://evil.example");
    assert_int_equal(ch_handshake_check(&r, NULL, &hs), -1);
    assert_int_equal(hs.status, 403);
}

static void test_check_header_names_any_case(void **state)
{
    ch_req r = good_req();

    (void)state;
    /* http.c stores lower-case names, but lookups must not depend on it */
    for (size_t i = 0; i < r.n_headers; i++)
        if (strcmp(r.names[i], "sec-websocket-key") == 0)
            r.names[i] = "Sec-WebSocket-Key";
    expect(&r, 0, NULL);
}

/* ------------------------------------------------------------------ */
/* Origin policy                                                       */
/* ------------------------------------------------------------------ */

static void test_origin_absent(void **state)
{
    (void)state;
    assert_true(allowed_with(NULL, "example.com", 0, (char *)NULL));
    assert_false(allowed_with(NULL, "example.com", 1, (char *)NULL));
    assert_false(allowed_with(NULL, "example.com", 1, "*", (char *)NULL));
    assert_true(ch_origin_allowed(NULL, NULL, NULL));
}

static void test_origin_null_refused(void **state)
{
    (void)state;
    assert_false(NOLIST("null", "example.com"));
    assert_false(ALLOWED("null", "example.com", "*"));
}

static void test_origin_unparsable(void **state)
{
    (void)state;
    assert_false(ALLOWED("", "example.com", "*"));
    assert_false(ALLOWED("example.com", "example.com", "*"));
    assert_false(ALLOWED("ftp://example.com", "example.com", "*"));
    assert_false(ALLOWED("file://", "example.com", "*"));
    assert_false(ALLOWED("http://", "example.com", "*"));
    assert_false(ALLOWED("http://exa mple.com", "example.com", "*"));
    assert_false(ALLOWED("http://example.com:", "example.com", "*"));
    assert_false(ALLOWED("http://example.com:0", "example.com", "*"));
    assert_false(ALLOWED("http://example.com:65536", "example.com", "*"));
    assert_false(ALLOWED("http://example.com:*", "example.com", "*"));
    assert_false(ALLOWED("http://user@example.com", "example.com", "*"));
    assert_false(ALLOWED("http://example.com/path", "example.com", "*"));
    assert_false(ALLOWED("http://example.com/8080", "example.com", "*"));
    assert_false(ALLOWED("http://.example.com", "example.com", "*"));
    assert_false(ALLOWED("http://[::1", "example.com", "*"));
    assert_false(ALLOWED("http://[]", "example.com", "*"));
    assert_false(ALLOWED("http://[::1]x", "example.com", "*"));
    assert_false(ALLOWED("http://[::1x:80", "example.com", "*"));
}

static void test_origin_trailing_slash(void **state)
{
    (void)state;
    assert_true(NOLIST("http://example.com/", "example.com"));
    assert_false(NOLIST("http://example.com//", "example.com"));
}

static void test_origin_own_host(void **state)
{
    (void)state;
    assert_true(NOLIST("http://example.com", "example.com"));
    assert_true(NOLIST("http://example.com", "example.com:80"));
    assert_true(NOLIST("http://example.com:80", "example.com"));
    assert_true(NOLIST("https://example.com", "example.com"));
    assert_true(NOLIST("https://example.com", "example.com:443"));
    assert_true(NOLIST("http://example.com:8000", "example.com:8000"));
}

static void test_origin_own_host_other_port(void **state)
{
    (void)state;
    assert_false(NOLIST("http://example.com:8001", "example.com:8000"));
    assert_false(NOLIST("http://example.com:8000", "example.com"));
    assert_false(NOLIST("https://example.com", "example.com:80"));
    assert_false(NOLIST("http://example.com", NULL));
    assert_false(NOLIST("http://example.com", "bad host"));
}

static void test_origin_own_host_other_port_allowed(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://example.com:8001", "example.com:8000", "http://example.com:8001"));
    assert_true(ALLOWED("http://example.com:8001", "example.com:8000", "example.com"));
    assert_false(ALLOWED("http://example.com:8001", "example.com:8000", "http://example.com:8002"));
}

static void test_origin_other_host(void **state)
{
    (void)state;
    assert_false(NOLIST("http://evil.example", "example.com"));
    assert_false(NOLIST("http://example.com.evil.example", "example.com"));
}

static void test_origin_localhost_any_port(void **state)
{
    (void)state;
    assert_true(NOLIST("http://localhost", "example.com"));
    assert_true(NOLIST("http://localhost:3000", "example.com"));
    assert_true(NOLIST("https://127.0.0.1:5173", "example.com"));
    assert_true(NOLIST("http://[::1]:8080", "example.com"));
    assert_true(NOLIST("http://LocalHost:1", NULL));
    assert_false(NOLIST("http://localhost.evil.example", "example.com"));
    assert_false(NOLIST("http://127.0.0.2", "example.com"));
}

static void test_origin_star(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://evil.example", "example.com", "*"));
    assert_true(ALLOWED("https://x.y.z:9", NULL, "nope.example", "*"));
}

static void test_origin_exact_full(void **state)
{
    (void)state;
    assert_true(ALLOWED("https://app.example.org", "example.com", "https://app.example.org"));
    assert_true(ALLOWED("https://app.example.org:443", "example.com", "https://app.example.org"));
    assert_true(ALLOWED("https://app.example.org", "example.com", "https://app.example.org:443"));
    assert_false(ALLOWED("http://app.example.org", "example.com", "https://app.example.org"));
    assert_false(ALLOWED("https://app.example.org:8443", "example.com", "https://app.example.org"));
    assert_false(ALLOWED("https://www.app.example.org", "example.com", "https://app.example.org"));
}

static void test_origin_full_with_port(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://app.example.org:8080", NULL, "http://app.example.org:8080"));
    assert_false(ALLOWED("http://app.example.org", NULL, "http://app.example.org:8080"));
}

static void test_origin_wildcard_port(void **state)
{
    (void)state;
    assert_true(ALLOWED("https://app.example.org:8443", NULL, "https://app.example.org:*"));
    assert_true(ALLOWED("https://app.example.org", NULL, "https://app.example.org:*"));
    assert_false(ALLOWED("http://app.example.org:8443", NULL, "https://app.example.org:*"));
    assert_false(ALLOWED("https://other.example.org:8443", NULL, "https://app.example.org:*"));
}

static void test_origin_ws_schemes(void **state)
{
    (void)state;
    assert_true(NOLIST("ws://example.com", "example.com"));
    assert_true(ALLOWED("wss://app.example.org", NULL, "https://app.example.org"));
    assert_true(ALLOWED("https://app.example.org", NULL, "wss://app.example.org"));
    assert_false(ALLOWED("ws://app.example.org", NULL, "https://app.example.org"));
}

static void test_origin_host_pattern(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://example.org", NULL, "example.org"));
    assert_true(ALLOWED("https://example.org:1234", NULL, "example.org"));
    assert_false(ALLOWED("http://sub.example.org", NULL, "example.org"));
    assert_false(ALLOWED("http://badexample.org", NULL, "example.org"));
}

static void test_origin_host_pattern_with_port(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://example.org:8000", NULL, "example.org:8000"));
    assert_false(ALLOWED("http://example.org:8001", NULL, "example.org:8000"));
    assert_true(ALLOWED("https://example.org:8001", NULL, "example.org:*"));
}

static void test_origin_subdomain_pattern(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://example.org", NULL, ".example.org"));
    assert_true(ALLOWED("https://a.example.org", NULL, ".example.org"));
    assert_true(ALLOWED("https://a.b.example.org:8443", NULL, ".example.org"));
    assert_false(ALLOWED("https://badexample.org", NULL, ".example.org"));
    assert_false(ALLOWED("https://example.org.evil.example", NULL, ".example.org"));
    assert_false(ALLOWED("https://org", NULL, ".example.org"));
}

static void test_origin_subdomain_in_full_origin(void **state)
{
    (void)state;
    assert_true(ALLOWED("https://a.example.org", NULL, "https://.example.org"));
    assert_false(ALLOWED("http://a.example.org", NULL, "https://.example.org"));
}

static void test_origin_non_matching_subdomain(void **state)
{
    (void)state;
    assert_false(ALLOWED("https://www.example.org", NULL, "api.example.org"));
    assert_false(ALLOWED("https://www.example.org", NULL, ".api.example.org"));
    assert_false(ALLOWED("https://www.example.org", NULL, "https://api.example.org"));
}

static void test_origin_bad_entries_ignored(void **state)
{
    (void)state;
    assert_false(ALLOWED("https://example.org", NULL, ".", "", "ftp://example.org", "https://"));
    assert_true(ALLOWED("https://example.org", NULL, "junk entry", "example.org"));
}

static void test_origin_uppercase(void **state)
{
    (void)state;
    assert_true(ALLOWED("http://EXAMPLE.ORG", NULL, "example.org"));
    assert_true(ALLOWED("HTTPS://Sub.EXAMPLE.org", NULL, ".Example.Org"));
    assert_true(ALLOWED("https://App.Example.Org", NULL, "HTTPS://app.example.org"));
    assert_true(NOLIST("http://Example.COM", "EXAMPLE.com"));
}

static void test_origin_ipv6(void **state)
{
    (void)state;
    assert_true(NOLIST("http://[::1]", NULL));
    assert_true(NOLIST("http://[2001:db8::1]:8080", "[2001:db8::1]:8080"));
    assert_true(NOLIST("http://[2001:DB8::1]", "[2001:db8::1]"));
    assert_false(NOLIST("http://[2001:db8::1]:8081", "[2001:db8::1]:8080"));
    assert_true(ALLOWED("http://[2001:db8::2]:9", NULL, "[2001:db8::2]"));
    assert_true(ALLOWED("https://[2001:db8::2]", NULL, "https://[2001:db8::2]"));
    assert_false(ALLOWED("https://[2001:db8::3]", NULL, "https://[2001:db8::2]"));
    assert_false(NOLIST("http://[::2]:8080", NULL));
}

/* ------------------------------------------------------------------ */
/* Subprotocol offers                                                  */
/* ------------------------------------------------------------------ */

static void test_subproto_none(void **state)
{
    (void)state;
    assert_false(ch_subprotocol_offered(NULL, "chat"));
    assert_false(ch_subprotocol_offered("", "chat"));
    assert_false(ch_subprotocol_offered("chat", ""));
    assert_false(ch_subprotocol_offered("chat", NULL));
}

static void test_subproto_single(void **state)
{
    (void)state;
    assert_true(ch_subprotocol_offered("chat", "chat"));
}

static void test_subproto_list(void **state)
{
    (void)state;
    assert_true(ch_subprotocol_offered("chat, superchat", "superchat"));
    assert_true(ch_subprotocol_offered("chat, superchat", "chat"));
    assert_false(ch_subprotocol_offered("chat, superchat", "super"));
}

static void test_subproto_blanks(void **state)
{
    (void)state;
    assert_true(ch_subprotocol_offered("  chat ,\tjson.v1\t", "json.v1"));
    assert_true(ch_subprotocol_offered(",, chat ,", "chat"));
}

static void test_subproto_case_sensitive(void **state)
{
    (void)state;
    assert_false(ch_subprotocol_offered("Chat", "chat"));
    assert_false(ch_subprotocol_offered("chat", "CHAT"));
}

static void test_subproto_prefix(void **state)
{
    (void)state;
    assert_false(ch_subprotocol_offered("chatty", "chat"));
    assert_false(ch_subprotocol_offered("cha", "chat"));
    assert_false(ch_subprotocol_offered("chat v2", "chat"));
}

/* ------------------------------------------------------------------ */
/* request.c helpers                                                   */
/* ------------------------------------------------------------------ */

static void test_req_header_lookup(void **state)
{
    ch_req r = good_req();

    (void)state;
    assert_string_equal(ch_req_header(&r, "host"), "server.example.com");
    assert_string_equal(ch_req_header(&r, "Sec-WebSocket-Version"), "13");
    assert_null(ch_req_header(&r, "cookie"));
    assert_null(ch_req_header(&r, NULL));
    assert_null(ch_req_header(NULL, "host"));
}

static void test_req_header_first_of_repeats(void **state)
{
    ch_req r = good_req();

    (void)state;
    add_header(&r, "host", "second.example.com");
    assert_string_equal(ch_req_header(&r, "HOST"), "server.example.com");
}

static void test_token_basic(void **state)
{
    (void)state;
    assert_true(ch_header_has_token("Upgrade", "upgrade"));
    assert_true(ch_header_has_token("keep-alive, Upgrade", "upgrade"));
    assert_true(ch_header_has_token("keep-alive,UPGRADE", "Upgrade"));
    assert_true(ch_header_has_token("  upgrade\t", "upgrade"));
    assert_true(ch_header_has_token("keep-alive, Upgrade", "KEEP-ALIVE"));
}

static void test_token_absent(void **state)
{
    (void)state;
    assert_false(ch_header_has_token(NULL, "upgrade"));
    assert_false(ch_header_has_token("", "upgrade"));
    assert_false(ch_header_has_token("keep-alive", "upgrade"));
    assert_false(ch_header_has_token("upgraded", "upgrade"));
    assert_false(ch_header_has_token("upgrad", "upgrade"));
    assert_false(ch_header_has_token("up grade", "upgrade"));
    assert_false(ch_header_has_token("upgrade", ""));
    assert_false(ch_header_has_token("upgrade", NULL));
}

static void test_list_next(void **state)
{
    const char *cur = " a , bb,,\tccc\t,", *e;
    size_t len = 0;

    (void)state;
    e = ch_header_list_next(&cur, &len);
    assert_non_null(e);
    assert_int_equal(len, 1);
    assert_memory_equal(e, "a", 1);
    e = ch_header_list_next(&cur, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(e, "bb", 2);
    e = ch_header_list_next(&cur, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(e, "ccc", 3);
    assert_null(ch_header_list_next(&cur, &len));
    assert_null(ch_header_list_next(&cur, &len));
    cur = NULL;
    assert_null(ch_header_list_next(&cur, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rfc_example),
        cmocka_unit_test(test_accept_other_key),
        cmocka_unit_test(test_key_null),
        cmocka_unit_test(test_key_empty),
        cmocka_unit_test(test_key_too_short),
        cmocka_unit_test(test_key_15_bytes),
        cmocka_unit_test(test_key_17_bytes),
        cmocka_unit_test(test_key_18_bytes),
        cmocka_unit_test(test_key_missing_padding),
        cmocka_unit_test(test_key_one_pad_only),
        cmocka_unit_test(test_key_bad_char),
        cmocka_unit_test(test_key_urlsafe_char),
        cmocka_unit_test(test_key_inner_space),
        cmocka_unit_test(test_key_pad_in_middle),
        cmocka_unit_test(test_key_three_pads),
        cmocka_unit_test(test_key_unused_bits_set),
        cmocka_unit_test(test_key_too_long),
        cmocka_unit_test(test_check_valid),
        cmocka_unit_test(test_check_post),
        cmocka_unit_test(test_check_post_bad_version_is_405),
        cmocka_unit_test(test_check_head),
        cmocka_unit_test(test_check_http10),
        cmocka_unit_test(test_check_http09),
        cmocka_unit_test(test_check_http10_post_is_405),
        cmocka_unit_test(test_check_http10_no_upgrade_is_400),
        cmocka_unit_test(test_check_no_upgrade),
        cmocka_unit_test(test_check_upgrade_other),
        cmocka_unit_test(test_check_no_upgrade_before_connection),
        cmocka_unit_test(test_check_upgrade_mixed_case),
        cmocka_unit_test(test_check_upgrade_list),
        cmocka_unit_test(test_check_upgrade_repeated_header),
        cmocka_unit_test(test_check_no_connection),
        cmocka_unit_test(test_check_connection_keep_alive_only),
        cmocka_unit_test(test_check_connection_uppercase),
        cmocka_unit_test(test_check_connection_list),
        cmocka_unit_test(test_check_connection_lookalike),
        cmocka_unit_test(test_check_no_connection_before_version),
        cmocka_unit_test(test_check_version_8),
        cmocka_unit_test(test_check_version_missing),
        cmocka_unit_test(test_check_version_130),
        cmocka_unit_test(test_check_bad_version_before_key),
        cmocka_unit_test(test_check_bad_key),
        cmocka_unit_test(test_check_missing_key),
        cmocka_unit_test(test_check_bad_key_before_origin),
        cmocka_unit_test(test_check_bad_origin),
        cmocka_unit_test(test_check_null_origin),
        cmocka_unit_test(test_check_no_origin),
        cmocka_unit_test(test_check_no_origin_required),
        cmocka_unit_test(test_check_origin_from_policy),
        cmocka_unit_test(test_check_null_policy),
        cmocka_unit_test(test_check_header_names_any_case),
        cmocka_unit_test(test_origin_absent),
        cmocka_unit_test(test_origin_null_refused),
        cmocka_unit_test(test_origin_unparsable),
        cmocka_unit_test(test_origin_trailing_slash),
        cmocka_unit_test(test_origin_own_host),
        cmocka_unit_test(test_origin_own_host_other_port),
        cmocka_unit_test(test_origin_own_host_other_port_allowed),
        cmocka_unit_test(test_origin_other_host),
        cmocka_unit_test(test_origin_localhost_any_port),
        cmocka_unit_test(test_origin_star),
        cmocka_unit_test(test_origin_exact_full),
        cmocka_unit_test(test_origin_full_with_port),
        cmocka_unit_test(test_origin_wildcard_port),
        cmocka_unit_test(test_origin_ws_schemes),
        cmocka_unit_test(test_origin_host_pattern),
        cmocka_unit_test(test_origin_host_pattern_with_port),
        cmocka_unit_test(test_origin_subdomain_pattern),
        cmocka_unit_test(test_origin_subdomain_in_full_origin),
        cmocka_unit_test(test_origin_non_matching_subdomain),
        cmocka_unit_test(test_origin_bad_entries_ignored),
        cmocka_unit_test(test_origin_uppercase),
        cmocka_unit_test(test_origin_ipv6),
        cmocka_unit_test(test_subproto_none),
        cmocka_unit_test(test_subproto_single),
        cmocka_unit_test(test_subproto_list),
        cmocka_unit_test(test_subproto_blanks),
        cmocka_unit_test(test_subproto_case_sensitive),
        cmocka_unit_test(test_subproto_prefix),
        cmocka_unit_test(test_req_header_lookup),
        cmocka_unit_test(test_req_header_first_of_repeats),
        cmocka_unit_test(test_token_basic),
        cmocka_unit_test(test_token_absent),
        cmocka_unit_test(test_list_next),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
