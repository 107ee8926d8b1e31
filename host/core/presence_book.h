/*
 * presence_book.h -- the bookkeeping of presence (docs/presence.md): per
 * group, the users present through this process's connections (counted
 * per connection, so several tabs of a user count once), the users other
 * processes announced (per process id, with the time last heard and the
 * sequence number of its last announcement), and the set last announced
 * to the group's clients, from which the batched diffs are computed.
 *
 * Plain data: no loop, no layer, no I/O; times are passed in (ms).  The
 * runtime's presence service (runtime/presence.c) drives it.  Users are
 * keyed by their id; each (id, name) pair is interned once per book
 * however many groups and processes list it, and each group keeps a
 * compact table of its users (docs/presence.md, "Memory").  Every list
 * the book answers is in ascending user id order.
 */
#ifndef CH_PRESENCE_BOOK_H
#define CH_PRESENCE_BOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ch_pbook ch_pbook;

/* Flags of a group (ch_pbook_each). */
#define CH_PBOOK_LOCAL_CHANGED 1u /* this process's users changed: announce them */
#define CH_PBOOK_DIRTY 2u         /* the union may differ from the announced set */
#define CH_PBOOK_ASK 4u           /* first local user: ask the others for theirs */

/* A new, empty book (free with ch_pbook_free), or NULL when out of memory. */
ch_pbook *ch_pbook_new(void);

/* Free b and everything it holds (NULL is ignored). */
void ch_pbook_free(ch_pbook *b);

/* One more local connection of user (id > 0, name borrowed and interned)
 * in group (borrowed, copied).  The first connection's name is kept while
 * the user has local connections.  Returns 1 if the group had no local user
 * before (the first: the caller joins the group's sync channel), 0 if it
 * had, or -ENOMEM / -EINVAL. */
int ch_pbook_local_add(ch_pbook *b, const char *group, int64_t user, const char *name);

/* One local connection of user in group fewer.  Returns a bit set: 1 if
 * that was the user's last local connection there, 2 if the group has no
 * local user left; 0 if nothing changed; -ENOENT if user was not there. */
int ch_pbook_local_remove(ch_pbook *b, const char *group, int64_t user);

/* Another process's announcement for group: its id (borrowed), its
 * sequence number, its users (borrowed array of [id, name] pairs; an
 * empty array: it has none left, and is forgotten; an id listed twice
 * counts once) at time now.  Only
 * applied for a group with local users and a seq newer than the last
 * one from that process.  Returns 1 applied, 0 ignored, -EINVAL (bad
 * users), -ENOMEM. */
int ch_pbook_remote(ch_pbook *b, const char *group, const char *host, uint64_t seq,
                    const json_t *users, uint64_t now);

/* Another process asked for group's users: they are announced at the
 * next tick (CH_PBOOK_LOCAL_CHANGED).  No-op for a group without local
 * users. */
void ch_pbook_asked(ch_pbook *b, const char *group);

/* Forget every other process not heard from since now - expiry_ms.
 * Returns how many (group, process) entries went. */
size_t ch_pbook_expire(ch_pbook *b, uint64_t now, uint64_t expiry_ms);

/* Count every other process as heard from at now (after an outage of
 * this process's own layer: it did not hear them, they did not go). */
void ch_pbook_touch_all(ch_pbook *b, uint64_t now);

/* Call fn(group, flags, arg) for every group (group borrowed, valid during
 * the call).  fn must not add or remove local users; it may call
 * ch_pbook_local_users, ch_pbook_diff and ch_pbook_list.  The local-changed
 * and ask flags are cleared after the call. */
void ch_pbook_each(ch_pbook *b, void (*fn)(const char *group, unsigned flags, void *arg),
                   void *arg);

/* This process's users of group as an array of [id, name] pairs (new
 * reference; empty if none), or NULL when out of memory. */
json_t *ch_pbook_local_users(ch_pbook *b, const char *group);

/* The users last announced in group, as [{"user_id", "username"}, ...]
 * (new reference; empty for an unknown group), or NULL when out of
 * memory. */
json_t *ch_pbook_list(ch_pbook *b, const char *group);

/* Non-zero if user is in group's announced set. */
int ch_pbook_present(ch_pbook *b, const char *group, int64_t user);

/* The change of group since the last call: {"joins": [...], "leaves":
 * [...]} in ch_pbook_list's item shape (new reference), or NULL if
 * nothing changed (or out of memory).  The announced set becomes the
 * union of the local and the other processes' users.  A group left with
 * nobody anywhere is freed here. */
json_t *ch_pbook_diff(ch_pbook *b, const char *group);

/* Groups held (for tests and /metrics). */
size_t ch_pbook_groups(const ch_pbook *b);

/* Distinct (id, name) records interned (for tests). */
size_t ch_pbook_names(const ch_pbook *b);

#endif
