/*
 * store_sessions.c -- the message store's operations on the tokens and
 * accounts behind open connections (migration 6's revoked_tokens, and
 * users.is_active), looked up through ch_st_sessions_op:
 *
 *   token.revoke {token_hash, user_id, exp, now}   -> {"revoked": true}
 *       Add a token (its SHA-256, hex) to the revocation list, shared by
 *       every host on the store, until its exp (seconds); the entries whose
 *       exp is before now are pruned in the same transaction.
 *   session.check {token_hash, user_id}   -> {"revoked": bool, "active": bool}
 *       Whether that token is revoked and its user active (a user the
 *       store does not know counts as active: its tokens come from
 *       elsewhere, a Django project's for instance).
 *   user.set_active {id, is_active}   -> {"updated": bool}
 *       Activate or deactivate a user (false: no such user).
 *   user.seen {user_id}   -> {"updated": bool}
 *       The user's last-seen time becomes now (milliseconds since 1970;
 *       migration 7's users.last_seen), written by the presence service
 *       when a user's last connection in a group leaves a host.
 *   room.last_seen {room_id}   -> {"users": [{user_id, username, last_seen}]}
 *       The room's participants with their last-seen time (null: never
 *       seen leaving), by user id; no such room: ENOENT.
 *
 * On PostgreSQL a revocation and a deactivation are announced to every
 * host by the schema's triggers (store_impl.h, CH_PG_SESSION_TRIGGER).
 */
#include "store_sessions.h"
#include "store_impl.h"

#include <stdint.h>

#define ID_MAX INT64_MAX

/* Migration 5 (store_impl.h): the revocation list, by the token's
 * SHA-256 (hex), pruned by exp. */
#define REVOKED_TOKENS                 \
    "CREATE TABLE revoked_tokens (\n"  \
    "  token_hash TEXT PRIMARY KEY,\n" \
    "  user_id BIGINT NOT NULL,\n"     \
    "  exp BIGINT NOT NULL);\n"        \
    "CREATE INDEX revoked_tokens_exp ON revoked_tokens (exp)"
const char ch_st_sessions_sqlite_v6[] = REVOKED_TOKENS;
const char ch_st_sessions_pg_v6[] = REVOKED_TOKENS ";\n" CH_PG_SESSION_TRIGGER;

/* Migration 7: users.last_seen (user.seen), milliseconds, NULL: never. */
const char ch_st_sessions_v7[] = "ALTER TABLE users ADD COLUMN last_seen BIGINT";

/* token.revoke: the parameters. */
static int prep_revoke(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"token_hash", 's', 1, 64, 64},
                                    {"user_id", 'i', 1, 1, ID_MAX},
                                    {"exp", 'i', 1, 0, ID_MAX},
                                    {"now", 'i', 1, 0, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_prune, "now")
CH_ST_BIND(bind_revoke, "token_hash", "user_id", "exp")

/* The revocation is in. */
static int rows_revoked(ch_store_req *req, json_t *rows)
{
    (void)rows;
    req->result = json_pack("{s:b}", "revoked", 1);
    return CH_STEP_DONE;
}

static const ch_store_step revoke_steps[] = {
    {"DELETE FROM revoked_tokens WHERE exp < $1", bind_prune, NULL},
    {"INSERT INTO revoked_tokens (token_hash, user_id, exp) VALUES ($1, $2, $3)"
     " ON CONFLICT DO NOTHING",
     bind_revoke, rows_revoked},
};

/* session.check: the parameters. */
static int prep_check(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"token_hash", 's', 1, 64, 64},
                                    {"user_id", 'i', 1, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_check, "token_hash", "user_id")

/* The one row of the check. */
static int rows_check(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);

    req->result = json_pack("{s:b, s:b}", "revoked", ch_st_int(row, "revoked") != 0, "active",
                            ch_st_int(row, "active") != 0);
    return CH_STEP_DONE;
}

static const ch_store_step check_steps[] = {
    {"SELECT (SELECT count(*) FROM revoked_tokens WHERE token_hash = $1) AS revoked,"
     " coalesce((SELECT is_active FROM users WHERE id = $2), 1) AS active",
     bind_check, rows_check},
};

/* user.set_active: the parameters. */
static int prep_set_active(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"is_active", 'b', 1, 0, 0},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_set_active, "id", "is_active")

/* Whether a row was updated. */
static int rows_set_active(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b}", "updated", json_array_size(rows) > 0);
    return CH_STEP_DONE;
}

static const ch_store_step set_active_steps[] = {
    {"UPDATE users SET is_active = $2 WHERE id = $1 RETURNING id", bind_set_active,
     rows_set_active},
};

/* user.seen: the parameters. */
static int prep_seen(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"user_id", 'i', 1, 1, ID_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_seen, "user_id", "now")

static const ch_store_step seen_steps[] = {
    {"UPDATE users SET last_seen = $2 WHERE id = $1 RETURNING id", bind_seen, rows_set_active},
};

/* room.last_seen: the parameters. */
static int prep_room_seen(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_room_seen, "room_id")

/* The room's rows: the first (the room itself, user_id NULL when it has
 * no participant) says it exists. */
static int rows_room_seen(ch_store_req *req, json_t *rows)
{
    json_t *users, *row;
    size_t i;

    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    users = json_array();
    json_array_foreach(rows, i, row)
    {
        json_t *seen = json_object_get(row, "last_seen");

        if (ch_st_int(row, "user_id") > 0)
            json_array_append_new(users,
                                  json_pack("{s:I, s:O, s:O}", "user_id",
                                            (json_int_t)ch_st_int(row, "user_id"), "username",
                                            json_object_get(row, "username"), "last_seen",
                                            json_is_integer(seen) ? seen : json_null()));
    }
    req->result = json_pack("{s:o}", "users", users);
    return CH_STEP_DONE;
}

static const ch_store_step room_seen_steps[] = {
    {"SELECT p.user_id AS user_id, u.username AS username, u.last_seen AS last_seen FROM rooms r"
     " LEFT JOIN participants p ON p.room_id = r.id LEFT JOIN users u ON u.id = p.user_id"
     " WHERE r.id = $1 ORDER BY p.user_id",
     bind_room_seen, rows_room_seen},
};

static const ch_store_op sessions_ops[] = {
    CH_ST_OP("token.revoke", 1, prep_revoke, revoke_steps),
    CH_ST_OP("session.check", 0, prep_check, check_steps),
    CH_ST_OP("user.set_active", 1, prep_set_active, set_active_steps),
    CH_ST_OP("user.seen", 1, prep_seen, seen_steps),
    CH_ST_OP("room.last_seen", 0, prep_room_seen, room_seen_steps),
};

const ch_store_op *ch_st_sessions_op(const char *name)
{
    return ch_st_find(sessions_ops, CH_ST_N(sessions_ops), name);
}
