/*
 * store_rooms.c -- the message store's operations over several rooms of
 * a user at once, looked up through ch_st_rooms_op by ch_store_op_find
 * (store_ops.c):
 *
 *   room.conversations {user_id, kind, key_prefix, limit?}
 *       -> {"rooms": [room...], "messages": [message...]}
 *
 * The rooms of `kind` whose key starts with key_prefix and in which
 * user_id takes part (e.g. every "<topic>:<id>:client:<uid>" room a
 * plugin keeps for one topic), by room id, and the last `limit` messages
 * (default 50, at most 500) of each of them, all merged oldest first
 * (by id; each names its room_id), as message.history gives them but
 * with "read_by" left empty.
 *
 * The SQL is the same on SQLite and PostgreSQL: the prefix is compared
 * with substr() over its length in characters (a LIKE pattern would
 * need escaping and a range over key would depend on PostgreSQL's
 * collation), and the rooms are reached through participants_user, so
 * the cost is that of the user's own rooms.  The last `limit` messages
 * of each room come from the (room_id, id) index: the id `limit - 1`
 * places below the newest is the lower bound of the room's range.
 */
#include "store_rooms.h"
#include "store_impl.h"

#include "chanhost_kit.h" /* chk_utf8_chars, shared with the plugins */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ID_MAX INT64_MAX

/* The messages columns as store_ops.c's MSG_COLS_M reads them. */
#define CONV_MSG_COLS                                                                 \
    "m.id AS id, m.room_id AS room_id, m.sender_id AS sender_id, m.key_id AS key_id," \
    " m.nonce AS nonce, m.content AS content, m.created_at AS created_at,"            \
    " m.edited_at AS edited_at, m.is_deleted AS is_deleted,"                          \
    " m.client_msg_id AS client_msg_id, m.extra AS extra"

/* The user's rooms of the kind with the prefix: $1 user, $2 kind, $3 the
 * prefix's length in characters, $4 the prefix. */
#define CONV_FROM " FROM participants p JOIN rooms r ON r.id = p.room_id"
#define CONV_WHERE \
    " WHERE p.user_id = $1 AND r.kind = $2 AND substr(r.key, 1, CAST($3 AS INTEGER)) = $4"

/* Check the parameters; ctx gets "prefix_len" and "offset" (limit - 1). */
static int prep_conversations(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"user_id", 'i', 1, 1, ID_MAX},
                                    {"kind", 's', 1, 1, 32},
                                    {"key_prefix", 's', 1, 1, 200},
                                    {"limit", 'i', 0, 1, 500},
                                    {NULL, 0, 0, 0, 0}};
    const char *prefix;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "limit", json_integer(50));
    prefix = json_string_value(json_object_get(req->params, "key_prefix"));
    json_object_set_new(req->ctx, "prefix_len",
                        json_integer((json_int_t)chk_utf8_chars(prefix, strlen(prefix))));
    json_object_set_new(req->ctx, "offset",
                        json_integer(json_integer_value(json_object_get(req->params, "limit")) -
                                     1));
    return 0;
}

CH_ST_BIND(bind_conv_rooms, "user_id", "kind", "@prefix_len", "key_prefix")
CH_ST_BIND(bind_conv_msgs, "user_id", "kind", "@prefix_len", "key_prefix", "@offset")

/* The rooms into ctx "rooms"; none ends the operation with empty lists. */
static int rows_conv_rooms(ch_store_req *req, json_t *rows)
{
    json_t *rooms = json_array();
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row) json_array_append_new(rooms, ch_st_room_json(row));
    if (json_array_size(rooms) == 0) {
        req->result = json_pack("{s:o, s:[]}", "rooms", rooms, "messages");
        return CH_STEP_DONE;
    }
    json_object_set_new(req->ctx, "rooms", rooms);
    return CH_STEP_NEXT;
}

/* The messages, opened and ordered by id, and the rooms: the result. */
static int rows_conv_msgs(ch_store_req *req, json_t *rows)
{
    if (ch_st_msgs_from_rows(req, rows, NULL) != CH_STEP_NEXT)
        return req->status;
    req->result = json_pack("{s:O, s:O}", "rooms", json_object_get(req->ctx, "rooms"), "messages",
                            json_object_get(req->ctx, "msgs"));
    return CH_STEP_DONE;
}

static const ch_store_step conversations_steps[] = {
    {"SELECT r.id AS id, r.key AS key, r.kind AS kind, r.name AS name,"
     " r.is_private AS is_private, r.created_at AS created_at, r.is_active AS is_active,"
     " r.is_open AS is_open" CONV_FROM CONV_WHERE " ORDER BY r.id",
     bind_conv_rooms, rows_conv_rooms},
    {"SELECT " CONV_MSG_COLS ", r.key AS room_key" CONV_FROM
     " JOIN messages m ON m.room_id = r.id" CONV_WHERE
     " AND m.id >= coalesce((SELECT y.id FROM messages y WHERE y.room_id = r.id"
     " ORDER BY y.id DESC LIMIT 1 OFFSET $5), 0) ORDER BY m.id",
     bind_conv_msgs, rows_conv_msgs},
};

static const ch_store_op rooms_ops[] = {
    CH_ST_OP("room.conversations", 0, prep_conversations, conversations_steps),
};

const ch_store_op *ch_st_rooms_op(const char *name)
{
    return ch_st_find(rooms_ops, CH_ST_N(rooms_ops), name);
}
