/*
 * test_membership.c -- unit tests of host/runtime/membership.c's reading
 * of the store's removal notifications (ch_membership_parse): the
 * payload PostgreSQL's trigger sends (json_build_object's spacing) and a
 * compact one are read; anything else (not JSON, not an object, a
 * missing, non-integer, zero or negative id, a repeated key, NULL) is
 * refused with -EINVAL and leaves the outputs alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "membership.h"

/* The trigger's payload and a compact one with an extra key. */
static void parses_the_trigger_payload(void **state)
{
    int64_t room = 0, user = 0;

    (void)state;
    assert_int_equal(ch_membership_parse("{\"room_id\" : 12, \"user_id\" : 34}", &room, &user), 0);
    assert_int_equal(room, 12);
    assert_int_equal(user, 34);
    assert_int_equal(ch_membership_parse("{\"user_id\":9007199254740993,\"room_id\":1,\"x\":[]}",
                                         &room, &user),
                     0);
    assert_int_equal(room, 1);
    assert_int_equal(user, 9007199254740993LL);
}

/* Every malformed payload is refused and the outputs stay as they were. */
static void refuses_what_is_not_a_removal(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[12, 34]",
        "12",
        "{\"room_id\": 12}",
        "{\"user_id\": 34}",
        "{\"room_id\": \"12\", \"user_id\": 34}",
        "{\"room_id\": 12, \"user_id\": 3.5}",
        "{\"room_id\": 0, \"user_id\": 34}",
        "{\"room_id\": 12, \"user_id\": -1}",
        "{\"room_id\": 12, \"user_id\": null}",
        "{\"room_id\": 12, \"user_id\": 34, \"user_id\": 35}",
        "{\"room_id\": 12, \"user_id\": 34",
    };
    int64_t room = 77, user = 88;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ch_membership_parse(bad[i], &room, &user) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(room, 77);
        assert_int_equal(user, 88);
    }
    assert_int_equal(ch_membership_parse(NULL, &room, &user), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_the_trigger_payload),
        cmocka_unit_test(refuses_what_is_not_a_removal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
