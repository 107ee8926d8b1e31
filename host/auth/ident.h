/*
 * ident.h -- a connection's authenticated user in a compact form: the id,
 * the username and the roles as plain data (about 40 bytes for a usual
 * user) instead of the jansson object the handshake's checks produce
 * (about 650 bytes: an object, its hash table, strings, an array).  The
 * SDK's scalar calls (api->user_id, api->username, api->user_has_role,
 * ABI 1.3) read it directly; the JSON form older plugins ask for with
 * api->user is built on that first call and kept with the identity.
 * Sub-system auth: includes core headers only.
 */
#ifndef CH_IDENT_H
#define CH_IDENT_H

#include <jansson.h>
#include <stdint.h>

/* One user's identity, owned by whoever made it (ch_ident_free). */
typedef struct ch_ident {
    int64_t id;       /* > 0 */
    json_t *json;     /* {"id", "username", "roles"}: built by ch_ident_json
                         (or kept from the start when the roles or the name
                         do not fit the compact form), or NULL */
    uint32_t n_roles; /* role strings after the username in names */
    char names[];     /* "username\0role\0role\0" */
} ch_ident;

/* The identity of user (borrowed), a {"id": positive integer, "username":
 * string, "roles": array} object as ch_auth_user makes: a new ch_ident
 * (the caller frees it with ch_ident_free), or NULL when user is not such
 * an object or memory is short.  A user whose username or roles hold a
 * NUL byte or whose roles are not all strings keeps its JSON as well
 * (a reference to user), so that ch_ident_json gives back exactly it. */
ch_ident *ch_ident_new(const json_t *user);

/* The username (owned by ident, valid as long as it is). */
const char *ch_ident_username(const ch_ident *ident);

/* 1 if ident has role `role` (borrowed), else 0 (also for NULL). */
int ch_ident_has_role(const ch_ident *ident, const char *role);

/* The JSON form {"id", "username", "roles": [...]}, equal to what
 * ch_ident_new was given: built on the first call and kept in ident
 * (borrowed, valid as long as ident is).  NULL when ident is NULL or
 * memory is short (logged). */
const json_t *ch_ident_json(ch_ident *ident);

/* Free ident and its JSON form (NULL is ignored). */
void ch_ident_free(ch_ident *ident);

#endif
