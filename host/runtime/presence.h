/*
 * presence.h -- presence as a host service (docs/presence.md): who is
 * connected to a group, per user, on every process sharing the channel
 * layer, with batched join/leave diffs to the group's present
 * connections.  Sub-system runtime; the SDK calls are api->presence_*
 * (ABI 1.4).
 *
 * How: a connection a plugin tracks in group G counts its user in this
 * process's book (core/presence_book.h) and is one of G's recipients
 * here; while G has one, the process's presence endpoint is a member of
 * the host group "chanhost.presence.<G>" (one membership per process and
 * group, refreshed at each heartbeat).  Every presence_interval the process sends its
 * own users of each group that changed (and of every group each
 * presence_heartbeat) to that host group as {"type":
 * "chanhost.presence", "group", "host", "seq", "users": [[id, name]...],
 * "ask"}; the other processes with present connections in G take it
 * (such messages are the host's: they never reach a plugin or a client)
 * and forget a process not heard from for presence_expiry.  Then each
 * group whose union changed gets one {"type": "presence_diff", "joins",
 * "leaves"} delivered to its present connections here, through the
 * plugin's group_message (or forwarded as it is).  The same messages
 * travel on every layer: memory (and the workers' link), redis://,
 * channels_redis://.
 */
#ifndef CH_PRESENCE_H
#define CH_PRESENCE_H

#include <jansson.h>
#include <stdint.h>

#include "msg.h"
#include "ws.h"

typedef struct ch_app ch_app;

/* The longest group name presence accepts (the host group adds 18). */
#define CH_PRESENCE_GROUP_MAX 80

/* Start the service for app (borrowed; its layer and config must exist):
 * the book and the interval timer (unreferenced: it never keeps the loop
 * alive).  Returns 0 or -ENOMEM. */
int ch_presence_init(ch_app *app);

/* Stop the timer and free the book (when the host stops, with the other
 * loop handles; the connections are gone by then).  Safe without init. */
void ch_presence_close(void);

/* api->presence_track: count w's user present in group (borrowed,
 * copied) for as long as w stays there.  Idempotent per connection and
 * group.  Returns CHANHOST_OK, CHANHOST_ERR_INVALID (no user, a closing
 * connection, a bad or too long group name), CHANHOST_ERR_NOMEM. */
int ch_presence_track(ch_ws *w, const char *group);

/* api->presence_untrack: the opposite (not tracked: CHANHOST_ERR_STATE). */
int ch_presence_untrack(ch_ws *w, const char *group);

/* The connection goes: untrack it from every group (runtime's
 * ch_ws_gone). */
void ch_presence_gone(ch_ws *w);

/* api->presence_list: the users announced in group (the set the diffs
 * start from) as [{"user_id", "username"}, ...], a new reference (empty
 * array if unknown here), NULL when out of memory or group is NULL. */
json_t *ch_presence_list(const char *group);

/* A layer message for w: non-zero if it was the host's presence
 * announcement (taken here, once per message: the book ignores a
 * sequence number it has seen), zero for any other message. */
int ch_presence_message(ch_ws *w, const ch_msg *msg);

/* The layer's delivery to ep (borrowed) of msg (borrowed), asked first by
 * the assembler's delivery function: 1 if ep is the process's presence
 * endpoint (msg taken as ch_presence_message takes it), else 0 (ep is a
 * connection's). */
int ch_presence_deliver(ch_endpoint *ep, const ch_msg *msg);

#endif
