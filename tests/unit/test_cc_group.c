/*
 * test_cc_group.c -- the chat plugins' layer group names made on demand
 * (plugins/common/frames.c's cc_group, compiled in): a lobby's
 * user_<id>, a room's prefix with its public id or room id, "" before
 * the room is known, and a kind that keeps its own name (group_offset);
 * and cc_name_id, which writes them as snprintf would.
 * The test owns the states it builds, all on the stack.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "chatcore.h"

/* A plugin kind that keeps its group name after the cc_conn. */
typedef struct own_conn {
    cc_conn cc;
    char group[CC_GROUP_MAX];
} own_conn;

static const cc_kind plain_kind = {.msg_type = "chat_message"};
static const cc_kind own_kind = {.msg_type = "message", .group_offset = offsetof(own_conn, group)};

static void room_groups_follow_the_ids(void **state)
{
    cc_plugin p = {.kind = &plain_kind};
    cc_conn cc = {.p = &p, .user_id = 7};
    char buf[CC_GROUP_MAX];

    (void)state;
    strcpy(p.set.group_prefix, "chat_");
    assert_string_equal(cc_group(&cc, buf), ""); /* room.get has not answered */
    cc.room_id = 42;
    assert_ptr_equal(cc_group(&cc, buf), buf);
    assert_string_equal(buf, "chat_42");
    cc.public_id = 9000; /* a task's comments: the public id names it */
    assert_string_equal(cc_group(&cc, buf), "chat_9000");
}

static void a_lobby_is_its_users_group(void **state)
{
    cc_plugin p = {.kind = &plain_kind};
    cc_conn cc = {.p = &p, .user_id = 123456789012345LL, .lobby = 1};
    char buf[CC_GROUP_MAX];

    (void)state;
    strcpy(p.set.group_prefix, "chat_");
    assert_string_equal(cc_group(&cc, buf), "user_123456789012345");
}

static void the_longest_name_fits(void **state)
{
    cc_plugin p = {.kind = &plain_kind};
    cc_conn cc = {.p = &p, .room_id = INT64_MAX};
    char buf[CC_GROUP_MAX];

    (void)state;
    memset(p.set.group_prefix, 'g', sizeof p.set.group_prefix - 1);
    assert_int_equal(strlen(cc_group(&cc, buf)), sizeof p.set.group_prefix - 1 + 19);
    assert_string_equal(buf + sizeof p.set.group_prefix - 1, "9223372036854775807");
}

static void a_kind_with_its_own_name_gives_it(void **state)
{
    cc_plugin p = {.kind = &own_kind};
    own_conn oc = {.cc = {.p = &p, .room_id = 5, .user_id = 3}};
    char buf[CC_GROUP_MAX];

    (void)state;
    assert_string_equal(cc_group(&oc.cc, buf), ""); /* not set yet */
    strcpy(oc.group, "support_5");
    assert_string_equal(cc_group(&oc.cc, buf), "support_5");
}

/* cc_name_id writes what snprintf("%s%lld") writes, cut short the same
 * way when the buffer is small. */
static void names_are_snprintfs(void **state)
{
    static const long long ids[] = {0, 7, -7, 1234567890123LL, INT64_MAX, INT64_MIN};
    static const char *const prefixes[] = {"", "user_", "a_long_group_prefix_"};
    char got[64], want[64];

    (void)state;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        for (size_t j = 0; j < sizeof prefixes / sizeof prefixes[0]; j++) {
            for (size_t size = 1; size <= sizeof got; size += 7) {
                memset(got, 'x', sizeof got);
                snprintf(want, size, "%s%lld", prefixes[j], ids[i]);
                assert_ptr_equal(cc_name_id(got, size, prefixes[j], ids[i]), got);
                assert_string_equal(got, want);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(room_groups_follow_the_ids),
        cmocka_unit_test(a_lobby_is_its_users_group),
        cmocka_unit_test(the_longest_name_fits),
        cmocka_unit_test(a_kind_with_its_own_name_gives_it),
        cmocka_unit_test(names_are_snprintfs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
