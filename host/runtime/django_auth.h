/*
 * django_auth.h -- logins of a Django project beside the host
 * (docs/django.md): the WebSocket handshake (upgrade.c) and the JSON API
 * (api/rest.c) accept what the Django app hands its users, when the
 * configuration names the Django database (django_database) and its
 * SECRET_KEY (django_secret_key_file / _env):
 *
 *   - the session cookie (django_session_cookie, default "sessionid"):
 *     a django_session row (django_session_engine db; expiry honoured) or
 *     the cookie itself (signed_cookies; django_session_age), decoded and
 *     verified as Django does (auth/django.h);
 *   - a DRF token: "Authorization: Token <key>", or 40 hex digits where
 *     the host looks for its own tokens (?token=, Bearer);
 *   - a SimpleJWT access token where the host looks for its own tokens,
 *     signed with django_jwt_key_* (default: SECRET_KEY).
 *
 * The user must exist in auth_user and be active; a session's
 * _auth_user_hash must match the user's current password field (a
 * password change logs the session out).  The identity is the Django
 * user's id and username, {"id", "username", "roles": ["user"]}, and the
 * user is created or refreshed in chanhost's own store (user.mirror) on
 * first sight, so rooms and participants use the Django ids.
 *
 * Every database read goes through a store opened on the Django database
 * as a foreign one (store.h): non-blocking libpq or SQLite's worker
 * thread; nothing blocks the loop.  Loop thread only.
 */
#ifndef CH_DJANGO_AUTH_H
#define CH_DJANGO_AUTH_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"

struct ch_store;
typedef struct ch_django_auth ch_django_auth;
typedef struct ch_django_call ch_django_call;

/* Read the Django settings of cfg (borrowed) and open the Django
 * database on loop (blocking: start-up only).  Returns 0 with a new
 * state in *out (NULL when django_database is unset or none; free with
 * ch_django_close), or -1 with the reason in err. */
int ch_django_open(uv_loop_t *loop, const ch_config *cfg, ch_django_auth **out, char *err,
                   size_t errlen);

/* Close the Django database (calls still queued finish first), free d,
 * then done(arg) on the loop.  Calls of d must be finished or cancelled. */
void ch_django_close(ch_django_auth *d, void (*done)(void *arg), void *arg);

/* The end of a login: user {"id", "username", "roles"} (borrowed for the
 * call; NULL: refused, why a static reason). */
typedef void (*ch_django_done)(void *arg, json_t *user, const char *why);

/* Start the login a request carries (header(ctx, name) gives a request
 * header or NULL, query the raw query string; both borrowed for this call
 * only).  own: chanhost's store for the user mirror (NULL: none).
 * Returns the call in flight, whose done(arg, ...) runs later on the
 * loop exactly once unless cancelled; or NULL, done never called, with
 * *refused a static reason when the credential was refused at once (a
 * forged or expired token or cookie), or *refused NULL when the request
 * carries no Django credential (or memory is short). */
ch_django_call *ch_django_begin(ch_django_auth *d, struct ch_store *own,
                                const char *(*header)(void *ctx, const char *name), void *ctx,
                                const char *query, ch_django_done done, void *arg,
                                const char **refused);

/* Drop a call in flight: done is never called (its memory goes when its
 * database read returns).  NULL: nothing. */
void ch_django_cancel(ch_django_call *call);

#endif
