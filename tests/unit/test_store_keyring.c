/*
 * test_store_keyring.c -- unit tests of host/store/store_crypt.c's keyring
 * text: every parse error names its line and never quotes a key (bad ids,
 * a duplicate id, a key of the wrong length, garbage base64, no keys).
 * The rest of store_crypt.c is test_store_crypt.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "store_crypt.h"

/* The keyring text made from fmt, with every %s replaced by the base64
 * of key_bytes bytes of 0x5a, must fail to parse, and err must hold want1
 * and want2 (if given) but never the key's text. */
static void parse_fails(const char *fmt, size_t key_bytes, const char *want1, const char *want2)
{
    unsigned char raw[48];
    char key[68], text[512], err[256] = "";

    assert_true(key_bytes <= sizeof raw);
    memset(raw, 0x5a, key_bytes);
    EVP_EncodeBlock((unsigned char *)key, raw, (int)key_bytes);
    snprintf(text, sizeof text, fmt, key, key, key);
    if (ch_keyring_parse(text, err, sizeof err))
        fail_msg("parsed: %s", text);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("err \"%s\" lacks \"%s\" / \"%s\"", err, want1, want2 ? want2 : "");
    if (key_bytes > 0 && strstr(err, "Wlpa"))
        fail_msg("err \"%s\" quotes the key", err);
}

static void parse_errors_bad_id(void **state)
{
    const char *fmts[] = {"# keys\n\n0:%s\n",     "# keys\n\n-1:%s\n", "#\n\nx:%s",
                          "\n\n1x:%s\n",          "\n\n:%s\n",         "\n\n+1:%s\n",
                          "\n\n99999999999:%s\n", "\n\n1 2:%s\n"};

    (void)state;
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
        parse_fails(fmts[i], 32, "keyring:3:", "positive integer");
    parse_fails("1:%s\n%s\n", 32, "keyring:2:", "ID:BASE64");
}

static void parse_errors_duplicate_id(void **state)
{
    (void)state;
    parse_fails("1:%s\n2:%s\n# c\n01:%s\n", 32,
                "keyring:4:", "key id 1 appears twice (first on line 1)");
}

static void parse_errors_key_length(void **state)
{
    (void)state;
    parse_fails("\n1:%s\n", 31, "keyring:2: key is not 32 bytes of base64", "decodes to 31");
    parse_fails("\n\n1:%s\n", 33, "keyring:3: key is not 32 bytes of base64", "decodes to 33");
    parse_fails("1:\n", 0, "keyring:1: key is not 32 bytes", NULL);
}

static void parse_errors_garbage_base64(void **state)
{
    (void)state;
    parse_fails("1:!!!!this is not base64 at all!!!!\n", 0, "keyring:1: key is not valid base64",
                NULL);
    parse_fails("1:WlpaWlpa lpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=\n", 0,
                "keyring:1:", "not valid base64");
    /* canonical ends "Wlo=": 'p' has low bits set before the '=' */
    parse_fails("#\n1:WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlp=\n", 0,
                "keyring:2:", "not valid base64");
    parse_fails("1:%s=\n", 32, "keyring:1:", "not valid base64");
}

static void parse_errors_no_keys(void **state)
{
    char err[64] = "";

    (void)state;
    parse_fails("", 0, "keyring:1: no keys", NULL);
    parse_fails("# only a comment\n\n   \n", 0, "keyring:3: no keys", NULL);
    parse_fails("\n\n\n\n", 0, "keyring:4: no keys", NULL);
    assert_null(ch_keyring_parse(NULL, err, sizeof err));
    assert_true(err[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_errors_bad_id),     cmocka_unit_test(parse_errors_duplicate_id),
        cmocka_unit_test(parse_errors_key_length), cmocka_unit_test(parse_errors_garbage_base64),
        cmocka_unit_test(parse_errors_no_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
