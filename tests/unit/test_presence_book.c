/*
 * test_presence_book.c -- unit tests of host/core/presence_book.c: local
 * connections counted per user (tabs count once), other processes'
 * announcements (sequence numbers, the empty announcement, expiry and
 * the grace after an outage), the batched diff, the flags ch_pbook_each
 * reports, and groups freed once nobody is left here.
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

/* The ids of a list of {"user_id", "username"} (borrowed), ascending,
 * as a compact string "1,2,3". */
static void ids_of(const json_t *list, char *out, size_t len)
{
    int64_t ids[64];
    size_t n = 0, i;
    json_t *item;

    json_array_foreach(list, i, item)
        ids[n++] = json_integer_value(json_object_get(item, "user_id"));
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (ids[b] < ids[a]) {
                int64_t t = ids[a];
                ids[a] = ids[b];
                ids[b] = t;
            }
    out[0] = '\0';
    for (i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%lld", i ? "," : "", (long long)ids[i]);
}

/* Diff group and check its joins and leaves ("" for none; NULL: no diff
 * at all). */
static void expect_diff(ch_pbook *b, const char *group, const char *joins, const char *leaves)
{
    json_t *d = ch_pbook_diff(b, group);
    char got[256];

    if (!joins) {
        assert_null(d);
        return;
    }
    assert_non_null(d);
    ids_of(json_object_get(d, "joins"), got, sizeof got);
    assert_string_equal(got, joins);
    ids_of(json_object_get(d, "leaves"), got, sizeof got);
    assert_string_equal(got, leaves);
    json_decref(d);
}

static void tabs_count_once(void **state)
{
    ch_pbook *b = ch_pbook_new();

    (void)state;
    assert_int_equal(ch_pbook_local_add(b, "g", 1, "ann"), 1); /* first here */
    assert_int_equal(ch_pbook_local_add(b, "g", 1, "ann"), 0);
    assert_int_equal(ch_pbook_local_add(b, "g", 2, "bob"), 0);
    expect_diff(b, "g", "1,2", "");
    expect_diff(b, "g", NULL, NULL);                       /* nothing changed since */
    assert_int_equal(ch_pbook_local_remove(b, "g", 1), 0); /* a tab left: ann stays */
    expect_diff(b, "g", NULL, NULL);
    assert_true(ch_pbook_present(b, "g", 1));
    assert_int_equal(ch_pbook_local_remove(b, "g", 1), 1); /* her last */
    expect_diff(b, "g", "", "1");
    assert_int_equal(ch_pbook_local_remove(b, "g", 1), -ENOENT);
    assert_int_equal(ch_pbook_local_remove(b, "g", 2), 3); /* last user, last here */
    assert_int_equal(ch_pbook_groups(b), 1);
    expect_diff(b, "g", NULL, NULL); /* nobody here to tell: the group goes */
    assert_int_equal(ch_pbook_groups(b), 0);
    assert_int_equal(ch_pbook_local_add(b, "g", 0, "nobody"), -EINVAL);
    ch_pbook_free(b);
}

/* [[id, name]...] of n users from first. */
static json_t *users(int64_t first, int n)
{
    json_t *a = json_array();

    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[I, s]", (json_int_t)(first + i), "u"));
    return a;
}

static void announcements_join_and_leave(void **state)
{
    ch_pbook *b = ch_pbook_new();
    json_t *two = users(10, 2), *none = json_array(), *bad = json_pack("[[s]]", "x");
    json_t *ten = users(10, 1), *eleven = users(11, 1);

    (void)state;
    /* nothing is kept for a group without local users */
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 1, two, 0), 0);
    ch_pbook_local_add(b, "g", 1, "ann");
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 1, two, 0), 1);
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 1, two, 0), 0); /* seen: once */
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 2, bad, 0), -EINVAL);
    expect_diff(b, "g", "1,10,11", "");
    /* a user on two processes leaves one: still present */
    assert_int_equal(ch_pbook_remote(b, "g", "h3", 1, eleven, 0), 1);
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 3, ten, 0), 1);
    expect_diff(b, "g", NULL, NULL);
    /* the empty announcement: its users leave at once */
    assert_int_equal(ch_pbook_remote(b, "g", "h2", 4, none, 0), 1);
    expect_diff(b, "g", "", "10");
    json_decref(two);
    json_decref(none);
    json_decref(bad);
    json_decref(ten);
    json_decref(eleven);
    ch_pbook_free(b);
}

static void expiry_and_grace(void **state)
{
    ch_pbook *b = ch_pbook_new();
    json_t *u = users(20, 3);

    (void)state;
    ch_pbook_local_add(b, "g", 1, "ann");
    ch_pbook_remote(b, "g", "h2", 1, u, 1000);
    expect_diff(b, "g", "1,20,21,22", "");
    assert_int_equal(ch_pbook_expire(b, 3000, 2000), 0); /* exactly at the bound: kept */
    ch_pbook_touch_all(b, 5000);                         /* an outage here ended */
    assert_int_equal(ch_pbook_expire(b, 6500, 2000), 0);
    assert_int_equal(ch_pbook_expire(b, 7001, 2000), 1);
    expect_diff(b, "g", "", "20,21,22");
    json_decref(u);
    ch_pbook_free(b);
}

/* ch_pbook_each's callback: record the flags of group "g" and "h". */
static void record(const char *group, unsigned flags, void *arg)
{
    unsigned *seen = arg;

    seen[group[0] == 'h'] = flags | 0x100;
}

static void each_reports_flags_once(void **state)
{
    ch_pbook *b = ch_pbook_new();
    unsigned seen[2] = {0, 0};
    json_t *list, *mine;

    (void)state;
    ch_pbook_local_add(b, "g", 1, "ann");
    ch_pbook_local_add(b, "h", 2, "bob");
    ch_pbook_each(b, record, seen);
    assert_int_equal(seen[0], 0x100 | CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_DIRTY | CH_PBOOK_ASK);
    seen[0] = seen[1] = 0;
    ch_pbook_each(b, record, seen); /* announced: only the diff is due */
    assert_int_equal(seen[0], 0x100 | CH_PBOOK_DIRTY);
    expect_diff(b, "g", "1", "");
    ch_pbook_asked(b, "g"); /* another process asks: announce again */
    seen[0] = 0;
    ch_pbook_each(b, record, seen);
    assert_int_equal(seen[0], 0x100 | CH_PBOOK_LOCAL_CHANGED);
    list = ch_pbook_list(b, "g");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "username")),
                        "ann");
    mine = ch_pbook_local_users(b, "h");
    assert_int_equal(json_integer_value(json_array_get(json_array_get(mine, 0), 0)), 2);
    json_decref(list);
    json_decref(mine);
    ch_pbook_free(b);
}

/* The diff made inside ch_pbook_each of a group with nobody left here
 * frees it only after the walk. */
static void diff_during_each(const char *group, unsigned flags, void *arg)
{
    json_t *d = ch_pbook_diff(arg, group);

    (void)flags;
    json_decref(d);
}

static void groups_freed_after_the_walk(void **state)
{
    ch_pbook *b = ch_pbook_new();
    char name[16];

    (void)state;
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "g%d", i);
        ch_pbook_local_add(b, name, 1, "ann");
        ch_pbook_local_remove(b, name, 1);
    }
    assert_int_equal(ch_pbook_groups(b), 50);
    ch_pbook_each(b, diff_during_each, b);
    assert_int_equal(ch_pbook_groups(b), 0);
    ch_pbook_free(b);
}

static void many_users_one_diff(void **state)
{
    ch_pbook *b = ch_pbook_new();
    json_t *d, *list;

    (void)state;
    for (int64_t i = 1; i <= 2000; i++)
        ch_pbook_local_add(b, "big", i, "u");
    d = ch_pbook_diff(b, "big");
    assert_int_equal(json_array_size(json_object_get(d, "joins")), 2000);
    assert_null(ch_pbook_diff(b, "big"));
    list = ch_pbook_list(b, "big");
    assert_int_equal(json_array_size(list), 2000);
    json_decref(d);
    json_decref(list);
    ch_pbook_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tabs_count_once),
        cmocka_unit_test(announcements_join_and_leave),
        cmocka_unit_test(expiry_and_grace),
        cmocka_unit_test(each_reports_flags_once),
        cmocka_unit_test(groups_freed_after_the_walk),
        cmocka_unit_test(many_users_one_diff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
