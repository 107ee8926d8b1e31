/*
 * membership.h -- authorization that follows room membership on open
 * connections: a connection bound to a room (api->bind_room, after its
 * plugin checked that the user is a participant) is closed with 4003 as
 * soon as its user is removed from that room, on every host that shares
 * the channel layer.  Sub-system runtime.
 *
 * How: binding joins the connection to its user's host group
 * "chanhost.user.<user id>"; a successful participant.remove (whoever
 * called it: the HTTP API, a plugin's store_call or store_exec; the
 * assembler registers ch_membership_observe as the store's observer)
 * sends {"type": "chanhost.membership", "room_id", "user_id", "removed":
 * true} to that group; each host's connections of that user bound to that
 * room close with 4003.  Messages of type "chanhost.membership" are the
 * host's: they never reach a plugin or a client.
 *
 * Hosts that share only a PostgreSQL store: its database notifies every
 * row deleted from participants, whoever deleted it (store.h's
 * CH_STORE_CHANNEL_PARTICIPANTS, payload {"room_id", "user_id"}); the
 * assembler registers ch_membership_notified with ch_store_listen, which
 * delivers the same message to this host's members of the user's group
 * only (never re-published: every host hears the database itself).  A
 * host on both paths closes once; the second delivery finds the
 * connection closing and does nothing.
 */
#ifndef CH_MEMBERSHIP_H
#define CH_MEMBERSHIP_H

#include <jansson.h>
#include <stdint.h>

#include "msg.h"
#include "ws.h"

typedef struct ch_app ch_app;

/* The store observer (store.h's ch_store_observer; arg: the ch_app,
 * borrowed): a participant.remove that removed a row tells that user's
 * connections.  op, params and result are borrowed. */
void ch_membership_observe(void *arg, const char *op, const json_t *params, const json_t *result);

/* The store's notification function (store.h's ch_store_notify_fn; arg:
 * the ch_app, borrowed): a participant deleted in the database (payload,
 * borrowed, as ch_membership_parse reads it) closes this host's
 * connections of that user bound to that room; a session change on the
 * same channel goes to ch_session_notified (session.h).  A payload that
 * is neither is logged and ignored. */
void ch_membership_notified(void *arg, const char *channel, const char *payload);

/* Read a notification's payload (borrowed): a JSON object with integers
 * room_id >= 1 and user_id >= 1 (other keys ignored).  Returns 0 with
 * *room_id and *user_id set, or -EINVAL. */
int ch_membership_parse(const char *payload, int64_t *room_id, int64_t *user_id);

/* The host group of user_id's connections, "chanhost.user.<id>", into
 * buf (64 bytes). */
void ch_membership_user_group(char buf[64], int64_t user_id);

/* Send m (borrowed; NULL counts as out of memory) to user_id's host group
 * on every host sharing the layer.  Returns 0, -ENOMEM, or the layer's
 * refusal; the caller logs what a failure means for it. */
int ch_membership_user_send(ch_app *app, int64_t user_id, ch_msg *m);

/* Join w (borrowed) to its user's host group (an accepted connection
 * with a token user: session.h's messages reach it there).  Returns 0
 * (also when w has no user) or the layer's negative errno. */
int ch_membership_join_user(ch_app *app, ch_ws *w);

/* Tell every host's connections of user_id bound to room_id that the
 * user was removed from it (a layer message to the user's group).
 * Returns 0 or a negative errno-style value (logged). */
int ch_membership_removed(ch_app *app, int64_t room_id, int64_t user_id);

/* api->bind_room: bind w (borrowed) to room_id > 0 (a later call
 * rebinds) and join its user's group.  Returns CHANHOST_OK,
 * CHANHOST_ERR_INVALID (no authenticated user, a bad id, a closing
 * connection) or CHANHOST_ERR_NOMEM. */
int ch_membership_bind(ch_app *app, ch_ws *w, int64_t room_id);

/* A layer message for w (both borrowed): 1 if it is the host's
 * membership message (taken here: w is closed with 4003 when it names w's
 * user and bound room), else 0. */
int ch_membership_message(ch_ws *w, const ch_msg *msg);

#endif
