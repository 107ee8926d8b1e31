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
 * valid token (auth.h: signature, exp) of the connection's own user, the
 * connection's expiry moves to T's exp and the host answers
 * {"type": "refresh", "ok": true, "exp": <T's exp>}; else it answers
 * {"type": "refresh", "ok": false, "error": <reason>} and the connection
 * keeps its old expiry.  Any other message goes to the plugin.
 */
#ifndef CH_SESSION_H
#define CH_SESSION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ws.h"

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

#endif
