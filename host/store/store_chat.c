/*
 * store_chat.c -- the message store's read-receipt operations over one
 * room, for any chat plugin, that store_ops.c does not have:
 *
 *   unread.for_room {room_id, user_ids?: [1..500 ids]}
 *       -> {"counts": {"<user_id>": n}}: for each user (without
 *          user_ids: each participant of the room), the room's messages
 *          that are not deleted, not the user's own and carry no receipt
 *          of the user (the lobby's per-room badge);
 *   read.mark_room {user_id, room_id, message_ids: [1..500 ids]}
 *       -> {"marked": [ids, ascending]}: read.mark restricted to one
 *          room, so a client cannot mark messages of rooms it is not in;
 *          never the reader's own messages (seed 004's blue-tick bug).
 *
 * The id lists go to the statement as one JSON text, expanded by
 * json_each (SQLite) or json_array_elements_text (PostgreSQL); the rest
 * of the SQL is shared.  The counting statement (CH_ST_UNREAD_SQL,
 * store_impl.h) is also message.append's last step with "unread": true,
 * whose hooks are here too.  ch_store_op_find (store_ops.c) looks names up
 * here with ch_st_chat_op.
 */
#include "store_chat.h"
#include "store_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX INT64_MAX

/* The array parameter `name` as compact JSON text in ctx "ids". */
static int ids_to_ctx(ch_store_req *req, const char *name)
{
    char *ids = json_dumps(json_object_get(req->params, name), JSON_COMPACT);

    if (!ids)
        return ch_store_fail(req, CH_STORE_EINVAL, "out of memory");
    json_object_set_new(req->ctx, "ids", json_string(ids));
    free(ids);
    return 0;
}

/* ---- unread.for_room ------------------------------------------------------ */

/* Without user_ids: ctx "ids" is [] and ctx "all" 1 (the participants). */
static int prep_unread_room(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"user_ids", 'a', 0, 1, 500},
                                    {NULL, 0, 0, 0, 0}};
    json_t *ids;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ids = json_object_get(req->params, "user_ids");
    json_object_set_new(req->ctx, "all", json_integer(!ids || json_is_null(ids)));
    if (!ids || json_is_null(ids)) {
        json_object_set_new(req->ctx, "ids", json_string("[]"));
        return 0;
    }
    return ids_to_ctx(req, "user_ids");
}

CH_ST_BIND(bind_unread_room, "room_id", "@ids", "@all")

/* The rows {user_id, unread} as {"<user_id>": n} (new reference). */
static json_t *counts_of(const json_t *rows)
{
    json_t *counts = json_object(), *row;
    size_t i;
    char id[24];

    json_array_foreach(rows, i, row)
    {
        snprintf(id, sizeof id, "%lld", (long long)ch_st_int(row, "user_id"));
        json_object_set_new(counts, id, json_integer(ch_st_int(row, "unread")));
    }
    return counts;
}

/* {"counts": {"<user_id>": n}}. */
static int rows_unread_room(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:o}", "counts", counts_of(rows));
    return CH_STEP_DONE;
}

/* message.append's unread step: the room, no listed ids, its
 * participants (new array). */
json_t *ch_st_bind_append_unread(ch_store_req *req)
{
    return json_pack("[O, s, i]", json_object_get(req->params, "room_id"), "[]", 1);
}

/* The counts (rows borrowed) into the append's result as "unread". */
int ch_st_rows_append_unread(ch_store_req *req, json_t *rows)
{
    json_object_set_new(req->result, "unread", counts_of(rows));
    return ch_st_stream_next(req, json_is_true(json_object_get(req->ctx, "inserted")));
}

/* PostgreSQL's unread step with the stream's event row in the same
 * statement ($1..$3 as ch_st_bind_append_unread, then the event's
 * position, kind, key_id, nonce, sealed body and time; new array). */
json_t *ch_st_bind_append_unread_event(ch_store_req *req)
{
    json_t *a = ch_st_bind_append_unread(req), *ev = ch_st_stream_bind_event(req);

    json_array_remove(ev, 0); /* the event's room: $1 */
    json_array_extend(a, ev);
    json_decref(ev);
    return a;
}

/* Its rows (borrowed): the counts as ch_st_rows_append_unread, then the
 * event is written (ch_st_stream_rows_event): CH_STEP_DONE, or
 * CH_STEP_NEXT with req->step moved past the two single steps that
 * follow it (the unread step and the event alone), to the trim. */
int ch_st_rows_append_unread_event(ch_store_req *req, json_t *rows)
{
    int rc;

    json_object_set_new(req->result, "unread", counts_of(rows));
    rc = ch_st_stream_rows_event(req, NULL);
    if (rc == CH_STEP_NEXT)
        req->step += 2;
    return rc;
}

static const ch_store_step unread_room_steps[] = {
    {CH_ST_UNREAD_SQL(CH_ST_SQLITE_IDS("$2")), bind_unread_room, rows_unread_room},
};

static const ch_store_step unread_room_pg_steps[] = {
    {CH_ST_UNREAD_SQL(CH_ST_PG_IDS("$2")), bind_unread_room, rows_unread_room},
};

/* ---- read.mark_room -------------------------------------------------------- */

/* The ids as JSON text in ctx "ids". */
static int prep_mark_room(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"user_id", 'i', 1, 1, ID_MAX},
                                    {"room_id", 'i', 1, 1, ID_MAX},
                                    {"message_ids", 'a', 1, 1, 500},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0 || ch_st_stream_prep(req) != 0)
        return req->status;
    return ids_to_ctx(req, "message_ids");
}

CH_ST_BIND(bind_mark_room, "user_id", "now", "@ids", "room_id")

/* The receipts inserted, ascending. */
static int rows_marked_room(ch_store_req *req, json_t *rows)
{
    json_t *ids = json_array(), *row;
    size_t i;

    json_array_foreach(rows, i, row)
    {
        json_array_append_new(ids, json_integer(ch_st_int(row, "message_id")));
    }
    ch_st_sort_by_id(ids, 0);
    req->result = json_pack("{s:o}", "marked", ids);
    return ch_st_stream_next(req, json_array_size(ids) > 0);
}

#define MARK_ROOM(ids)                                                     \
    "INSERT INTO read_receipts (message_id, user_id, read_at)"             \
    " SELECT m.id, CAST($1 AS BIGINT), CAST($2 AS BIGINT) FROM messages m" \
    " WHERE m.id IN (" ids ") AND m.room_id = $4"                          \
    " AND m.sender_id <> $1 AND m.is_deleted = 0"                          \
    " ON CONFLICT DO NOTHING RETURNING message_id"

static const ch_store_step mark_room_steps[] = {
    {MARK_ROOM(CH_ST_SQLITE_IDS("$3")), bind_mark_room, rows_marked_room},
    CH_ST_STREAM_STEPS,
};

static const ch_store_step mark_room_pg_steps[] = {
    {MARK_ROOM(CH_ST_PG_IDS("$3")), bind_mark_room, rows_marked_room},
    CH_ST_STREAM_STEPS,
};

/* ---- the table ------------------------------------------------------------- */

static const ch_store_op chat_ops[] = {
    CH_ST_OP2("unread.for_room", 0, prep_unread_room, unread_room_steps, unread_room_pg_steps),
    CH_ST_OP2("read.mark_room", 1, prep_mark_room, mark_room_steps, mark_room_pg_steps),
};

/* Looked up by ch_store_op_find (store_ops.c). */
const ch_store_op *ch_st_chat_op(const char *name)
{
    return ch_st_find(chat_ops, CH_ST_N(chat_ops), name);
}
