/*
 * test_plugins_version.c -- unit tests of the loader's version rules
 * (ch_plugin_check_descriptor in host/runtime/plugins.c) and of the SDK's
 * header-only helpers CHANHOST_API_HAS and chanhost_strerror: same minor,
 * older minor (shorter descriptor, read through a zero-filled copy), newer
 * minor and other major refused with messages that say so, descriptors
 * too small, a larger descriptor declaring an older minor, jansson, and
 * the mandatory and optional fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins.h"

/* The size of an ABI 1.0 descriptor (everything up to disconnect). */
#define DESC_1_0 (offsetof(chanhost_plugin, adopt))

/* A descriptor in a buffer larger than any descriptor, filled with 0xAB
 * past what the test sets, so that reading beyond struct_size shows. */
typedef struct desc_buf {
    union {
        chanhost_plugin d;
        unsigned char bytes[sizeof(chanhost_plugin) + 64];
    } u;
} desc_buf;

static void fake_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    (void)c;
    (void)state;
    (void)data;
    (void)len;
    (void)is_binary;
}

static int fake_adopt(chanhost_conn *c, void *state, void *old_data)
{
    (void)c;
    (void)state;
    (void)old_data;
    return 0;
}

/* A valid descriptor of struct_size bytes for SDK 1.minor, with only the
 * mandatory fields set; the bytes after struct_size are garbage. */
static void make(desc_buf *b, uint32_t struct_size, uint16_t major, uint16_t minor)
{
    chanhost_plugin d = {0};

    memset(b, 0xAB, sizeof *b);
    d.struct_size = struct_size;
    d.abi_major = major;
    d.abi_minor = minor;
    d.jansson_major = JANSSON_MAJOR_VERSION;
    d.name = "probe";
    d.version = "1.0";
    d.receive = fake_receive;
    memcpy(b->u.bytes, &d, struct_size < sizeof d ? struct_size : sizeof d);
}

/* Run the check; returns its result with the reason in err. */
static int check(const desc_buf *b, chanhost_plugin *out, char *err, size_t errlen)
{
    err[0] = '\0';
    return ch_plugin_check_descriptor(&b->u.d, "probe", "/p/probe.so", out, err, errlen);
}

static void same_minor_is_accepted_and_copied(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
    b.u.d.adopt = fake_adopt;
    assert_int_equal(check(&b, &out, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_string_equal(out.name, "probe");
    assert_ptr_equal(out.receive, fake_receive);
    assert_ptr_equal(out.adopt, fake_adopt);
}

static void older_minor_reads_newer_fields_as_null(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, DESC_1_0, CHANHOST_ABI_MAJOR, 0);
    /* the bytes where a newer descriptor has adopt are garbage */
    assert_int_not_equal(b.u.bytes[DESC_1_0], 0);
    assert_int_equal(check(&b, &out, err, sizeof err), 0);
    assert_null(out.adopt);
    assert_null(out.connect);
    assert_null(out.disconnect);
    assert_ptr_equal(out.receive, fake_receive);
    assert_int_equal(out.abi_minor, 0);
}

/* A 1.1 descriptor ends before the endpoints of 1.2: they read as none. */
static void minor_1_1_has_no_endpoints(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, (uint32_t)offsetof(chanhost_plugin, endpoints), CHANHOST_ABI_MAJOR, 1);
    b.u.d.adopt = fake_adopt;
    assert_int_not_equal(b.u.bytes[offsetof(chanhost_plugin, endpoints)], 0);
    assert_int_equal(check(&b, &out, err, sizeof err), 0);
    assert_ptr_equal(out.adopt, fake_adopt);
    assert_null(out.endpoints);
    assert_int_equal(out.n_endpoints, 0);
}

static void newer_minor_is_refused_saying_both_versions(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256], want[128];

    (void)state;
    make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR + 2);
    assert_int_equal(check(&b, &out, err, sizeof err), -1);
    snprintf(want, sizeof want, "built for SDK %d.%d, this host speaks %d.%d", CHANHOST_ABI_MAJOR,
             CHANHOST_ABI_MINOR + 2, CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "plugin 'probe' (/p/probe.so)"));
    assert_non_null(strstr(err, "upgrade the host or rebuild the plugin"));
}

static void other_major_is_refused(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256], want[64];

    (void)state;
    make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR + 1, 0);
    assert_int_equal(check(&b, &out, err, sizeof err), -1);
    snprintf(want, sizeof want, "ABI major version %d", CHANHOST_ABI_MAJOR + 1);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "rebuild"));

    make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR - 1, CHANHOST_ABI_MINOR);
    assert_int_equal(check(&b, &out, err, sizeof err), -1);
    snprintf(want, sizeof want, "ABI major version %d", CHANHOST_ABI_MAJOR - 1);
    assert_non_null(strstr(err, want));
}

static void too_small_struct_size_is_refused(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, DESC_1_0 - sizeof(void *), CHANHOST_ABI_MAJOR, 0);
    assert_int_equal(check(&b, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "struct_size"));

    make(&b, 0, CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
    b.u.d.struct_size = 0;
    b.u.d.abi_major = CHANHOST_ABI_MAJOR;
    b.u.d.abi_minor = CHANHOST_ABI_MINOR;
    assert_int_equal(check(&b, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "struct_size 0"));
}

/* A plugin built against a newer header that declares an older minor
 * (CHANHOST_PLUGIN_INIT_MINOR): this host copies what it knows only. */
static void larger_descriptor_declaring_older_minor_is_accepted(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, sizeof(chanhost_plugin) + 32, CHANHOST_ABI_MAJOR, 0);
    memset(&out, 0xCD, sizeof out);
    assert_int_equal(check(&b, &out, err, sizeof err), 0);
    assert_ptr_equal(out.receive, fake_receive);
    assert_null(out.adopt);
}

static void other_jansson_is_refused(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
    b.u.d.jansson_major = JANSSON_MAJOR_VERSION + 1;
    assert_int_equal(check(&b, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "jansson"));
}

static void missing_mandatory_fields_are_named(void **state)
{
    static const char *const fields[] = {"name", "version", "receive"};
    desc_buf b;
    chanhost_plugin out;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof fields / sizeof *fields; i++) {
        make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
        if (i == 0)
            b.u.d.name = NULL;
        else if (i == 1)
            b.u.d.version = NULL;
        else
            b.u.d.receive = NULL;
        assert_int_equal(check(&b, &out, err, sizeof err), -1);
        assert_non_null(strstr(err, "mandatory"));
        assert_non_null(strstr(err, fields[i]));
    }
}

static void optional_callbacks_may_all_be_null(void **state)
{
    desc_buf b;
    chanhost_plugin out;
    char err[256];

    (void)state;
    make(&b, sizeof(chanhost_plugin), CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
    assert_int_equal(check(&b, &out, err, sizeof err), 0);
    assert_null(out.init);
    assert_null(out.fini);
    assert_null(out.connect);
    assert_null(out.disconnect);
    assert_null(out.group_message);
    assert_null(out.adopt);
}

/* ---- the plugin side: CHANHOST_API_HAS, chanhost_strerror ----------- */

static void api_has_follows_struct_size(void **state)
{
    chanhost_api api = {0};
    const chanhost_api *a = &api;

    (void)state;
    api.struct_size = sizeof api;
    assert_true(CHANHOST_API_HAS(a, log));
    assert_true(CHANHOST_API_HAS(a, user));
    /* a 1.0 host's table ends before the store members */
    api.struct_size = (uint32_t)offsetof(chanhost_api, store_call);
    assert_true(CHANHOST_API_HAS(a, group_size));
    assert_false(CHANHOST_API_HAS(a, store_call));
    assert_false(CHANHOST_API_HAS(a, user));
    /* a member is there only when all of it is */
    api.struct_size = (uint32_t)(offsetof(chanhost_api, user) + sizeof api.user - 1);
    assert_true(CHANHOST_API_HAS(a, now_ms));
    assert_false(CHANHOST_API_HAS(a, user));
}

static void strerror_names_every_code(void **state)
{
    static const int codes[] = {
        CHANHOST_ERR_INVALID, CHANHOST_ERR_CLOSED,   CHANHOST_ERR_NOMEM,
        CHANHOST_ERR_TOO_BIG, CHANHOST_ERR_STATE,    CHANHOST_STORE_ENOENT,
        CHANHOST_STORE_EPERM, CHANHOST_STORE_EINVAL, CHANHOST_STORE_EBUSY,
        CHANHOST_STORE_EIO,   CHANHOST_STORE_EEXIST, CHANHOST_STORE_ECANCELED,
    };
    size_t i;

    (void)state;
    assert_string_equal(chanhost_strerror(CHANHOST_OK), "success");
    assert_string_equal(chanhost_strerror(-9999), "unknown error");
    assert_string_equal(chanhost_strerror(1000), "unknown error");
    for (i = 0; i < sizeof codes / sizeof *codes; i++) {
        assert_non_null(chanhost_strerror(codes[i]));
        assert_string_not_equal(chanhost_strerror(codes[i]), "unknown error");
    }
    assert_non_null(strstr(chanhost_strerror(CHANHOST_ERR_TOO_BIG), "max_message_size"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_minor_is_accepted_and_copied),
        cmocka_unit_test(older_minor_reads_newer_fields_as_null),
        cmocka_unit_test(newer_minor_is_refused_saying_both_versions),
        cmocka_unit_test(other_major_is_refused),
        cmocka_unit_test(minor_1_1_has_no_endpoints),
        cmocka_unit_test(too_small_struct_size_is_refused),
        cmocka_unit_test(larger_descriptor_declaring_older_minor_is_accepted),
        cmocka_unit_test(other_jansson_is_refused),
        cmocka_unit_test(missing_mandatory_fields_are_named),
        cmocka_unit_test(optional_callbacks_may_all_be_null),
        cmocka_unit_test(api_has_follows_struct_size),
        cmocka_unit_test(strerror_names_every_code),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
