/*
 * session.h -- the token behind an open WebSocket connection: it ends
 * when the token does, and a client may hand over a fresh one before
 * then.  Sub-system runtime.
 *
 * Expiry.  A connection authenticated by a token (auth.h) gets
 * w->expires_ms, the loop time of the token's exp; ws.c's deadline (one
 * node on the app's heap, no timer of its own) closes it then with 4001
 * "token expired".  Connections authenticated otherwise (a Django
 * session) or anonymous ones have no expiry.
 *
 * Refresh.  A text message {"type": "refresh", "token": T} is the
 * host's, whatever the route: it never reaches the plugin.  When T is a
 * valid token (auth.h: signature, exp) of the connection's own user and
 * the store (when there is one) answers session.check for it that it is
 * not revoked and its user active, the connection's expiry moves to T's
 * exp and the host answers {"type": "refresh", "ok": true, "exp": <T's
 * exp>}; else it answers {"type": "refresh", "ok": false, "error":
 * <reason>} ("revoked", "user inactive" for the store's refusals) and the
 * connection keeps its old expiry.  The store is asked asynchronously:
 * the answer frame follows its answer (a failed check admits, as at the
 * handshake).  Any other message goes to the plugin.
 *
 * Revocation and deactivation.  Logout adds its token to the store's
 * revocation list (token.revoke, store_sessions.h; shared by every host
 * on the store); deactivating a user sets users.is_active.  A handshake
 * whose token is revoked or whose user is inactive (session.check, asked
 * before the plugin's connect) goes on without a user: the plugin refuses
 * it as it refuses a bad token (4001).  Open connections: every
 * connection with a token user joins its user's host group
 * "chanhost.user.<id>" (membership.h) when accepted; ch_session_revoked
 * and ch_session_deactivated send {"type": "chanhost.session", "user_id",
 * "token" | "deactivated"} to it, and each host closes that user's
 * connections with that token (or all of them) with 4001.  Hosts that
 * share only PostgreSQL hear the database's notification of the same
 * (CH_PG_SESSION_TRIGGER, on the membership channel):
 * ch_session_notified delivers it to this host's members of the group.
 * Messages of type "chanhost.session" never reach a plugin or a client.
 */
#ifndef CH_SESSION_H
#define CH_SESSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "ws.h"

typedef struct ch_app ch_app;

/* The loop time (ms) at which a token with exp (seconds since the
 * epoch) ends, given the wall clock wall_ms and the loop's now_ms at the
 * same instant: now_ms + (exp * 1000 - wall_ms), at least now_ms. */
uint64_t ch_session_expiry_ms(int64_t exp, uint64_t wall_ms, uint64_t now_ms);

/* The token of a refresh message text[0..len) (borrowed): a new malloc'd
 * string (the caller wipes it with OPENSSL_cleanse and frees it), or NULL
 * when the text is not a JSON object whose "type" is "refresh".  *is_refresh
 * is 1 when "type" is "refresh" (the token may then still be NULL: absent,
 * not a string, or memory short), else 0. */
char *ch_session_refresh_token(const char *text, size_t len, int *is_refresh);

/* Start w's expiry from verified claims (borrowed): exp as auth.h reads
 * it.  w is borrowed. */
void ch_session_start(ch_ws *w, const json_t *claims);

/* A client message for w (text borrowed): 1 if it was a refresh, taken
 * and answered here; 0 for the plugin. */
int ch_session_message(ch_ws *w, const char *text, size_t len);

/* The token hash the revocation list keys on: SHA-256 of token
 * (borrowed) as 64 lowercase hex digits into hex (65 bytes); returns the
 * tag a connection keeps (its first 8 bytes). */
uint64_t ch_session_token_hash(const char *token, char hex[65]);

/* Ask the store whether w's token (hex, its hash) is revoked or its user
 * inactive, before the plugin sees w: 1 when the check is in flight
 * (reading stops, the handshake timeout runs; done(w) runs after, with
 * w->ident dropped if so), 0 when there is nothing to check (no
 * store, no token user) or it could not be queued (logged; done is not
 * called). */
int ch_session_check(ch_ws *w, const char *hex, void (*done)(ch_ws *w));

/* Tell every host's connections of user_id with the token of hash hex
 * (borrowed) that it was revoked, or (hex NULL) that the user was
 * deactivated: they close with 4001.  Returns 0 or a negative errno-style
 * value (logged). */
int ch_session_revoked(ch_app *app, int64_t user_id, const char *hex);

/* A layer message for w (both borrowed): 1 if it is the host's session
 * message (taken here), else 0. */
int ch_session_group_message(ch_ws *w, const ch_msg *msg);

/* The database announced a session change (payload borrowed: {"user_id",
 * "token"} or {"user_id", "deactivated": true}): 1 when it was one (this
 * host's connections of the user told), 0 when the payload is no session
 * change. */
int ch_session_notified(ch_app *app, const char *payload);

#endif
