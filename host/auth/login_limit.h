/*
 * login_limit.h -- how many password attempts a key (an account's name, a
 * client address) may make: a fixed-size table of recent failures with
 * doubling delays.  Pure data: the caller gives the time, so tests drive
 * it without waiting.  Loop thread only.
 *
 * The rule, per key: the first `free` failures cost nothing; each failure
 * after them locks the key for `delay_ms` doubled per further failure
 * (1 s, 2 s, 4 s ...) up to `max_delay_ms`.  A locked key's attempts are
 * refused with the time left, and do not count.  A key quiet for
 * `max_delay_ms` after its last failure and lock starts afresh.
 *
 * Attempts in flight count: ch_login_limit_begin counts one as pending and
 * locks as if it had failed already, so many attempts sent at once get at
 * most `free` + 1 of them through (the password check is slow, and they
 * would all pass the check before any of them failed).
 * ch_login_limit_end settles it: a failure is counted; a success clears
 * the key's failures and lock when the rule says reset (an account), or
 * only drops the pending count (a client address: a success of one user
 * behind it does not forgive the failures of others).  Once no attempt
 * of a key is in flight, only its settled failures lock it.
 *
 * The table holds at most `max_entries` keys; a new key beyond that
 * evicts the one touched longest ago (memory stays bounded whatever
 * names or addresses a client makes up; an evicted key starts afresh).
 */
#ifndef CH_LOGIN_LIMIT_H
#define CH_LOGIN_LIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ch_login_limit ch_login_limit;

/* The rule of one kind of key (read at every call: a reload applies at
 * once).  free 0: the rule is off (begin always lets the attempt go). */
typedef struct ch_login_rule {
    unsigned free;         /* failures before the first delay */
    uint64_t delay_ms;     /* the first delay */
    uint64_t max_delay_ms; /* the cap of the doubling, and the quiet time */
    size_t max_entries;    /* the table's bound (at least 1) */
    int reset_on_success;  /* 1: a success clears the key */
} ch_login_rule;

/* An empty table (new; free with ch_login_limit_free), or NULL. */
ch_login_limit *ch_login_limit_new(void);

/* Free l and every key (NULL is fine). */
void ch_login_limit_free(ch_login_limit *l);

/* The milliseconds key (borrowed) must still wait at now (0: it may try).
 * Changes nothing but forgetting what has expired. */
uint64_t ch_login_limit_wait(ch_login_limit *l, const char *key, const ch_login_rule *rule,
                             uint64_t now);

/* Start an attempt of key at now: 0 and the attempt is pending (settle it
 * with ch_login_limit_end), or the milliseconds to wait (nothing
 * counted).  Out of memory: 0 and nothing counted (attempts are not
 * refused for the table's sake). */
uint64_t ch_login_limit_begin(ch_login_limit *l, const char *key, const ch_login_rule *rule,
                              uint64_t now);

/* Settle an attempt begun at an earlier time: ok 1 a success, 0 a
 * failure, -1 undecided (only the pending count drops).  A key evicted
 * meanwhile is left alone. */
void ch_login_limit_end(ch_login_limit *l, const char *key, const ch_login_rule *rule, int ok,
                        uint64_t now);

/* How many keys the table holds. */
size_t ch_login_limit_size(const ch_login_limit *l);

#endif
