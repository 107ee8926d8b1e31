/*
 * test_ident.c -- the compact identity of a connection's user
 * (auth/ident.h): the scalar reads, the JSON form built on demand equal
 * to what it was made from, and the users kept as JSON (NUL bytes,
 * roles that are not strings, extra keys).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ident.h"

/* A {"id", "username", "roles"} object (new reference). */
static json_t *user(json_int_t id, const char *name, json_t *roles)
{
    json_t *u = json_pack("{s:I, s:s, s:o}", "id", id, "username", name, "roles", roles);

    assert_non_null(u);
    return u;
}

static void compact_reads_and_builds_json_once(void **state)
{
    json_t *u = user(42, "wendy", json_pack("[s, s]", "publisher", "admin"));
    ch_ident *id = ch_ident_new(u);
    const json_t *j;

    (void)state;
    assert_non_null(id);
    assert_null(id->json); /* nothing built until asked */
    assert_int_equal(id->id, 42);
    assert_string_equal(ch_ident_username(id), "wendy");
    assert_true(ch_ident_has_role(id, "admin"));
    assert_true(ch_ident_has_role(id, "publisher"));
    assert_false(ch_ident_has_role(id, "user"));
    assert_false(ch_ident_has_role(id, "admi"));
    assert_false(ch_ident_has_role(id, NULL));
    j = ch_ident_json(id);
    assert_non_null(j);
    assert_true(json_equal((json_t *)j, u));
    assert_ptr_equal(ch_ident_json(id), j); /* kept */
    assert_true(ch_ident_has_role(id, "admin"));
    assert_string_equal(ch_ident_username(id), "wendy");
    ch_ident_free(id);
    json_decref(u);
}

static void no_roles(void **state)
{
    json_t *u = user(7, "x", json_array());
    ch_ident *id = ch_ident_new(u);

    (void)state;
    assert_non_null(id);
    assert_false(ch_ident_has_role(id, "user"));
    assert_true(json_equal((json_t *)ch_ident_json(id), u));
    ch_ident_free(id);
    json_decref(u);
}

/* What the compact form cannot hold exactly keeps its JSON. */
static void odd_users_keep_their_json(void **state)
{
    json_t *odd[3], *name = json_stringn("a\0b", 3);
    size_t i;

    (void)state;
    odd[0] = json_pack("{s:I, s:O, s:[]}", "id", (json_int_t)1, "username", name, "roles");
    odd[1] = user(2, "bo", json_pack("[s, i]", "admin", 5));
    odd[2] = user(3, "cy", json_pack("[s]", "admin"));
    json_object_set_new(odd[2], "extra", json_true());
    for (i = 0; i < 3; i++) {
        ch_ident *id = ch_ident_new(odd[i]);

        assert_non_null(id);
        assert_ptr_equal(id->json, odd[i]);
        assert_ptr_equal(ch_ident_json(id), odd[i]);
        assert_int_equal(id->id, (int64_t)i + 1);
        ch_ident_free(id);
    }
    assert_true(ch_ident_has_role(NULL, "admin") == 0);
    {
        ch_ident *id = ch_ident_new(odd[1]);

        assert_true(ch_ident_has_role(id, "admin"));
        assert_string_equal(ch_ident_username(id), "bo");
        ch_ident_free(id);
    }
    for (i = 0; i < 3; i++)
        json_decref(odd[i]);
    json_decref(name);
}

static void not_a_user_is_refused(void **state)
{
    json_t *bad[4];

    (void)state;
    bad[0] = json_pack("{s:I, s:s, s:[]}", "id", (json_int_t)0, "username", "z", "roles");
    bad[1] = json_pack("{s:s, s:s, s:[]}", "id", "1", "username", "z", "roles");
    bad[2] = json_pack("{s:I, s:i, s:[]}", "id", (json_int_t)1, "username", 3, "roles");
    bad[3] = json_pack("{s:I, s:s}", "id", (json_int_t)1, "username", "z");
    for (size_t i = 0; i < 4; i++) {
        assert_null(ch_ident_new(bad[i]));
        json_decref(bad[i]);
    }
    assert_null(ch_ident_new(NULL));
    assert_null(ch_ident_json(NULL));
    assert_null(ch_ident_username(NULL));
    ch_ident_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_reads_and_builds_json_once),
        cmocka_unit_test(no_roles),
        cmocka_unit_test(odd_users_keep_their_json),
        cmocka_unit_test(not_a_user_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
