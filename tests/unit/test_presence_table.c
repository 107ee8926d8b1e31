/*
 * test_presence_table.c -- unit tests of the compact tables inside
 * host/core/presence_book.c: (id, name) pairs interned once per book and
 * released with their last reference, a group of thousands of users
 * joining and leaving in any order (lists in ascending ids), a user in
 * many groups, the name precedence between local and other processes'
 * users, and an announcement listing an id twice.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "presence_book.h"

/* Assert that list (borrowed: [{"user_id", "username"}] or [[id, name]])
 * holds n items in strictly ascending ids. */
static void assert_ascending(const json_t *list, size_t n)
{
    json_int_t last = 0;
    size_t i;
    json_t *item;

    assert_int_equal(json_array_size(list), n);
    json_array_foreach(list, i, item)
    {
        json_t *id = json_is_array(item) ? json_array_get(item, 0)
                                         : json_object_get(item, "user_id");

        assert_true(json_integer_value(id) > last);
        last = json_integer_value(id);
    }
}

/* The name of user id in group's announced list, or NULL. */
static const char *listed_name(ch_pbook *b, const char *group, int64_t id, json_t **hold)
{
    json_t *item;
    size_t i;

    *hold = ch_pbook_list(b, group);
    json_array_foreach(*hold, i, item)
    {
        if (json_integer_value(json_object_get(item, "user_id")) == id)
            return json_string_value(json_object_get(item, "username"));
    }
    return NULL;
}

/* Diff group expecting joins and leaves of these sizes (ascending ids);
 * 0 and 0: no diff at all. */
static void expect_sizes(ch_pbook *b, const char *group, size_t joins, size_t leaves)
{
    json_t *d = ch_pbook_diff(b, group);

    if (!joins && !leaves) {
        assert_null(d);
        return;
    }
    assert_non_null(d);
    assert_ascending(json_object_get(d, "joins"), joins);
    assert_ascending(json_object_get(d, "leaves"), leaves);
    json_decref(d);
}

static void names_interned_once(void **state)
{
    ch_pbook *b = ch_pbook_new();
    json_t *ann = json_pack("[[I, s]]", (json_int_t)1, "ann");
    json_t *renamed = json_pack("[[I, s]]", (json_int_t)1, "anna");
    char g[16];

    (void)state;
    for (int i = 0; i < 50; i++) {
        snprintf(g, sizeof g, "g%d", i);
        assert_int_equal(ch_pbook_local_add(b, g, 2, "bob"), 1);
        assert_int_equal(ch_pbook_remote(b, g, "h2", 1, ann, 0), 1);
    }
    assert_int_equal(ch_pbook_names(b), 2); /* bob and ann, once each */
    assert_int_equal(ch_pbook_remote(b, "g0", "h3", 1, renamed, 0), 1);
    assert_int_equal(ch_pbook_names(b), 3); /* another name is another pair */
    expect_sizes(b, "g0", 2, 0);            /* ann counts once */
    for (int i = 0; i < 50; i++) {
        snprintf(g, sizeof g, "g%d", i);
        assert_int_equal(ch_pbook_local_remove(b, g, 2), 3);
        json_decref(ch_pbook_diff(b, g)); /* nobody here: the group goes */
    }
    assert_int_equal(ch_pbook_groups(b), 0);
    assert_int_equal(ch_pbook_names(b), 0); /* the last reference freed each */
    json_decref(ann);
    json_decref(renamed);
    ch_pbook_free(b);
}

static void thousands_in_any_order(void **state)
{
    ch_pbook *b = ch_pbook_new();
    const int64_t n = 5000;
    json_t *mine;
    char name[16];

    (void)state;
    for (int64_t k = 0; k < n; k++) { /* 1..n, scattered: 7919 is prime */
        int64_t id = (k * 7919) % n + 1;

        snprintf(name, sizeof name, "u%lld", (long long)id);
        assert_int_equal(ch_pbook_local_add(b, "big", id, name), k == 0);
        assert_int_equal(ch_pbook_local_add(b, "big", id, name), 0); /* a second tab */
    }
    assert_int_equal(ch_pbook_names(b), n);
    expect_sizes(b, "big", n, 0);
    for (int64_t id = 2; id <= n; id += 2) {
        assert_int_equal(ch_pbook_local_remove(b, "big", id), 0);
        assert_int_equal(ch_pbook_local_remove(b, "big", id), 1);
    }
    assert_true(ch_pbook_present(b, "big", 2)); /* until the diff */
    expect_sizes(b, "big", 0, n / 2);
    assert_false(ch_pbook_present(b, "big", 2));
    assert_true(ch_pbook_present(b, "big", 3));
    assert_int_equal(ch_pbook_local_remove(b, "big", 2), -ENOENT);
    assert_int_equal(ch_pbook_names(b), n / 2);
    mine = ch_pbook_local_users(b, "big");
    assert_ascending(mine, n / 2);
    assert_string_equal(json_string_value(json_array_get(json_array_get(mine, 0), 1)), "u1");
    json_decref(mine);
    ch_pbook_free(b);
}

static void one_user_in_many_groups(void **state)
{
    ch_pbook *b = ch_pbook_new();
    char g[16];

    (void)state;
    for (int i = 0; i < 300; i++) {
        snprintf(g, sizeof g, "room%d", i);
        assert_int_equal(ch_pbook_local_add(b, g, 42, "carol"), 1);
        assert_int_equal(ch_pbook_local_add(b, g, 42, "carol"), 0);
        expect_sizes(b, g, 1, 0);
    }
    assert_int_equal(ch_pbook_groups(b), 300);
    assert_int_equal(ch_pbook_names(b), 1);
    for (int i = 0; i < 300; i++) {
        snprintf(g, sizeof g, "room%d", i);
        assert_int_equal(ch_pbook_local_remove(b, g, 42), 0);
        assert_int_equal(ch_pbook_local_remove(b, g, 42), 3);
        assert_true(ch_pbook_present(b, g, 42)); /* announced until the diff */
    }
    assert_int_equal(ch_pbook_names(b), 1); /* the announced entries hold it */
    for (int i = 0; i < 300; i++) {
        snprintf(g, sizeof g, "room%d", i);
        expect_sizes(b, g, 0, 0);
    }
    assert_int_equal(ch_pbook_groups(b), 0);
    assert_int_equal(ch_pbook_names(b), 0);
    ch_pbook_free(b);
}

static void local_name_wins_and_duplicates_count_once(void **state)
{
    ch_pbook *b = ch_pbook_new();
    json_t *twice = json_pack("[[I, s], [I, s], [I, s]]", (json_int_t)7, "dan", (json_int_t)5,
                              "eve", (json_int_t)7, "dan");
    json_t *hold;

    (void)state;
    ch_pbook_local_add(b, "g", 5, "eve-here");
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 1, twice, 0), 1);
    expect_sizes(b, "g", 2, 0); /* 5 and 7, each once */
    assert_string_equal(listed_name(b, "g", 5, &hold), "eve-here");
    json_decref(hold);
    assert_string_equal(listed_name(b, "g", 7, &hold), "dan");
    json_decref(hold);
    /* eve's last tab here goes: still listed by h2, under h2's name */
    assert_int_equal(ch_pbook_local_remove(b, "g", 5), 3);
    ch_pbook_local_add(b, "g", 9, "fay");
    expect_sizes(b, "g", 1, 0);
    assert_string_equal(listed_name(b, "g", 5, &hold), "eve");
    json_decref(hold);
    assert_int_equal(ch_pbook_names(b), 3); /* dan, eve (h2's), fay */
    json_decref(twice);
    ch_pbook_free(b);
}

static void expiry_releases_names(void **state)
{
    ch_pbook *b = ch_pbook_new();
    json_t *many = json_array();

    (void)state;
    for (int i = 1000; i > 0; i--) /* descending: the book sorts them */
        json_array_append_new(many, json_pack("[i, s]", i, "r"));
    ch_pbook_local_add(b, "g", 2000, "me");
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 1, many, 0), 1);
    assert_int_equal(ch_pbook_names(b), 1001);
    expect_sizes(b, "g", 1001, 0);
    assert_int_equal(ch_pbook_expire(b, 10000, 5000), 1);
    expect_sizes(b, "g", 0, 1000);
    assert_int_equal(ch_pbook_names(b), 1);
    json_decref(many);
    ch_pbook_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_interned_once),
        cmocka_unit_test(thousands_in_any_order),
        cmocka_unit_test(one_user_in_many_groups),
        cmocka_unit_test(local_name_wins_and_duplicates_count_once),
        cmocka_unit_test(expiry_releases_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
