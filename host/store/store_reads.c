/*
 * store_reads.c -- the message store's read-side operations: read
 * receipts (read.mark, read.bulk) and what a user has not read yet
 * (unread.counts, rooms.for_user).  The same conventions as store_ops.c:
 * SQL written once for both engines where the dialects agree.
 */
#include "store_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX INT64_MAX

/* ---- unread counts and the rooms of a user ----------------------------- */

/* Messages of participant p's room that p has not read: not deleted, not
 * p's own, no receipt of p; from the room's counters (store_unread.c):
 * the others' live messages minus p's receipts of them. */
#define UNREAD_OF_P                                                               \
    "CAST(coalesce((SELECT sum(c.n) FROM room_live_counts c"                      \
    " WHERE c.room_id = p.room_id AND c.sender_id <> p.user_id), 0)"              \
    " - coalesce((SELECT c.n FROM room_read_counts c WHERE c.room_id = p.room_id" \
    " AND c.user_id = p.user_id), 0) AS BIGINT)"

/* unread.counts / rooms.for_user {user_id}. */
static int prep_user_id(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"user_id", 'i', 1, 1, ID_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_user_id, "user_id")

static int rows_unread(ch_store_req *req, json_t *rows)
{
    json_t *counts = json_object();
    size_t i;
    json_t *row;
    char id[24];

    json_array_foreach(rows, i, row)
    {
        snprintf(id, sizeof id, "%lld", (long long)ch_st_int(row, "room_id"));
        json_object_set_new(counts, id, json_integer(ch_st_int(row, "unread")));
    }
    req->result = json_pack("{s:o}", "counts", counts);
    return CH_STEP_DONE;
}

static const ch_store_step unread_steps[] = {
    {"SELECT p.room_id AS room_id, " UNREAD_OF_P " AS unread FROM participants p"
     " WHERE p.user_id = $1 ORDER BY p.room_id",
     bind_user_id, rows_unread},
};

/* Rooms by activity, newest first: the last message's time, else the
 * room's creation; then the higher id. */
static int cmp_activity(const void *a, const void *b)
{
    const json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    const json_t *la = json_object_get(ra, "last_message");
    const json_t *lb = json_object_get(rb, "last_message");
    int64_t ta = json_integer_value(json_object_get(json_is_object(la) ? la : ra, "created_at"));
    int64_t tb = json_integer_value(json_object_get(json_is_object(lb) ? lb : rb, "created_at"));

    if (ta != tb)
        return ta < tb ? 1 : -1;
    return ch_st_int(ra, "id") < ch_st_int(rb, "id") ? 1 : -1;
}

/* Give each room its last message (msgs: the last messages of several
 * rooms; copied by reference) and sort the rooms by activity. */
static void rooms_attach_last(json_t *rooms, json_t *msgs)
{
    size_t i, j;
    json_t *room, *msg;

    json_array_foreach(rooms, i, room)
    {
        json_array_foreach(msgs, j, msg)
        {
            if (ch_st_int(msg, "room_id") == ch_st_int(room, "id"))
                json_object_set(room, "last_message", msg);
        }
    }
    ch_st_sort(rooms, cmp_activity);
}

/* The user's rooms with their unread counts, into ctx "rooms". */
static int rows_user_rooms(ch_store_req *req, json_t *rows)
{
    json_t *rooms = json_array();
    size_t i;
    json_t *row, *room;

    json_array_foreach(rows, i, row)
    {
        room = ch_st_room_json(row);
        json_object_set_new(room, "unread", json_integer(ch_st_int(row, "unread")));
        json_object_set_new(room, "last_message", json_null());
        json_array_append_new(rooms, room);
    }
    json_object_set_new(req->ctx, "rooms", rooms);
    if (json_array_size(rooms) == 0) {
        req->result = json_pack("{s:[]}", "rooms");
        return CH_STEP_DONE;
    }
    return CH_STEP_NEXT;
}

/* The last message of each room into ctx "msgs" (decrypted). */
static int rows_last_msgs(ch_store_req *req, json_t *rows)
{
    return ch_st_msgs_from_rows(req, rows, NULL);
}

/* The receipts of the last messages; then the result, newest activity
 * first. */
static int rows_user_rooms_done(ch_store_req *req, json_t *rows)
{
    json_t *rooms = json_object_get(req->ctx, "rooms");

    ch_st_attach_receipts(json_object_get(req->ctx, "msgs"), rows);
    rooms_attach_last(rooms, json_object_get(req->ctx, "msgs"));
    req->result = json_pack("{s:O}", "rooms", rooms);
    return CH_STEP_DONE;
}

#define LAST_IDS_OF_USER                                                             \
    "(SELECT max(l.id) FROM messages l JOIN participants p ON p.room_id = l.room_id" \
    " WHERE p.user_id = $1 GROUP BY l.room_id)"

static const ch_store_step rooms_for_user_steps[] = {
    {"SELECT r.id AS id, r.key AS key, r.kind AS kind, r.name AS name,"
     " r.is_private AS is_private, r.created_at AS created_at, r.is_active AS "
     "is_active, r.is_open AS is_open, " UNREAD_OF_P
     " AS unread FROM participants p JOIN rooms r ON r.id = p.room_id"
     " WHERE p.user_id = $1",
     bind_user_id, rows_user_rooms},
    {"SELECT " MSG_COLS_M ", r.key AS room_key FROM messages m"
     " JOIN rooms r ON r.id = m.room_id WHERE m.id IN " LAST_IDS_OF_USER " ORDER BY m.id",
     bind_user_id, rows_last_msgs},
    {"SELECT x.message_id AS message_id, x.user_id AS user_id FROM read_receipts x"
     " WHERE x.message_id IN " LAST_IDS_OF_USER " ORDER BY x.message_id, x.user_id",
     bind_user_id, rows_user_rooms_done},
};

/* ---- read receipts ----------------------------------------------------- */

/* read.mark {user_id, message_ids: [1..500 ids]}; the ids go to the
 * statement as one JSON text (ctx "ids"). */
static int prep_read_mark(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"user_id", 'i', 1, 1, ID_MAX},
                                    {"message_ids", 'a', 1, 1, 500},
                                    {NULL, 0, 0, 0, 0}};
    char *ids;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ids = json_dumps(json_object_get(req->params, "message_ids"), JSON_COMPACT);
    if (!ids)
        return ch_store_fail(req, CH_STORE_EINVAL, "out of memory");
    json_object_set_new(req->ctx, "ids", json_string(ids));
    free(ids);
    return 0;
}

/* read.bulk {user_id, room_id, up_to_id?}. */
static int prep_read_bulk(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"user_id", 'i', 1, 1, ID_MAX},
                                    {"room_id", 'i', 1, 1, ID_MAX},
                                    {"up_to_id", 'i', 0, 0, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0 || ch_st_stream_prep(req) != 0)
        return req->status;
    ch_st_default(req, "up_to_id", json_integer(ID_MAX));
    return 0;
}

CH_ST_BIND(bind_read_mark, "user_id", "now", "@ids")
CH_ST_BIND(bind_read_bulk, "user_id", "room_id", "now", "up_to_id")

/* The receipts inserted: {"marked": [message ids, ascending]} (then
 * read.bulk's stream steps when streamed and some were). */
static int rows_marked(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:o}", "marked", ch_st_ids_of(rows, "message_id"));
    return ch_st_stream_next(req, json_array_size(rows) > 0);
}

#define READ_MARK_HEAD                                         \
    "INSERT INTO read_receipts (message_id, user_id, read_at)" \
    " SELECT m.id, CAST($1 AS BIGINT), CAST($2 AS BIGINT) FROM messages m WHERE m.id IN "
#define READ_MARK_TAIL                            \
    " AND m.sender_id <> $1 AND m.is_deleted = 0" \
    " ON CONFLICT DO NOTHING RETURNING message_id"

static const ch_store_step read_mark_steps[] = {
    {READ_MARK_HEAD "(SELECT CAST(value AS BIGINT) FROM json_each($3))" READ_MARK_TAIL,
     bind_read_mark, rows_marked},
};

static const ch_store_step read_mark_pg_steps[] = {
    {READ_MARK_HEAD "(SELECT CAST(v AS BIGINT) FROM json_array_elements_text(CAST($3 AS json))"
                    " AS v)" READ_MARK_TAIL,
     bind_read_mark, rows_marked},
};

static const ch_store_step read_bulk_steps[] = {
    {"INSERT INTO read_receipts (message_id, user_id, read_at)"
     " SELECT m.id, CAST($1 AS BIGINT), CAST($3 AS BIGINT) FROM messages m"
     " WHERE m.room_id = $2 AND m.id <= $4 AND m.sender_id <> $1 AND m.is_deleted = 0"
     " AND NOT EXISTS (SELECT 1 FROM read_receipts x WHERE x.message_id = m.id"
     " AND x.user_id = $1) ON CONFLICT DO NOTHING RETURNING message_id",
     bind_read_bulk, rows_marked},
    CH_ST_STREAM_STEPS,
};

#define OP CH_ST_OP
#define OP2 CH_ST_OP2

static const ch_store_op ops[] = {
    OP2("read.mark", 1, prep_read_mark, read_mark_steps, read_mark_pg_steps),
    OP("read.bulk", 1, prep_read_bulk, read_bulk_steps),
    OP("unread.counts", 0, prep_user_id, unread_steps),
    OP("rooms.for_user", 0, prep_user_id, rooms_for_user_steps),
};

const ch_store_op *ch_st_reads_op(const char *name) { return ch_st_find(ops, CH_ST_N(ops), name); }
