/*
 * store_export.c -- the message store's operations for backups (the
 * `chanhost export` and `chanhost import` commands, manage.c): whole
 * rows in id order, page by page, with what the other operations leave
 * out (password hashes, join and read times), and the imports of the
 * rows that hang off rooms and messages (participants, read receipts).
 * Also ch_store_check_params: an operation's parameter check without
 * running it, so an import can refuse a bad line before it applies any
 * part of it.
 *
 * Operations (looked up through ch_st_export_op, after store_ops.c's and
 * store_schema.c's tables):
 *   export.users    {after_id?, limit?} -> {"users": [user + "password"]}
 *   export.rooms    {after_id?, limit?} -> {"rooms": [room + "participants":
 *                                           [{"user_id", "joined_at"}]]}
 *   export.messages {after_id?, limit?} -> {"messages": [message (opened) +
 *                                           "room_key", "read_by":
 *                                           [{"user_id", "read_at"}]]}
 *   participant.import {room_id, user_id, joined_at} -> {"imported": bool}
 *   read.import        {message_id, user_id, read_at} -> {"imported": bool}
 * Both refuse (ENOENT) a room, message or user that is not in the store.
 * The SQL is the same on SQLite and PostgreSQL.
 */
#include "store_attach.h"
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX INT64_MAX

/* ---- pages: {after_id?, limit?} ---------------------------------------- */

/* store_impl.h: after_id defaults to 0 (from the start), limit to 500
 * (at most 1000). */
int ch_st_prep_page(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"after_id", 'i', 0, 0, ID_MAX},
                                    {"limit", 'i', 0, 1, 1000},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "after_id", json_integer(0));
    ch_st_default(req, "limit", json_integer(500));
    return 0;
}

CH_ST_BIND(bind_page, "after_id", "limit")
CH_ST_BIND(bind_range, "@lo", "@hi")

/* Remember the id range of a page (ordered by id) in ctx "lo" and "hi". */
static void page_range(ch_store_req *req, const json_t *page)
{
    size_t n = json_array_size(page);

    json_object_set_new(req->ctx, "lo", json_integer(ch_st_int(json_array_get(page, 0), "id")));
    json_object_set_new(req->ctx, "hi",
                        json_integer(ch_st_int(json_array_get(page, n ? n - 1 : 0), "id")));
}

/*
 * Merge child rows (ordered by fk) into the list of parents (ordered by
 * id): each row becomes {c1: row[c1], c2: row[c2]} appended to the
 * parent's array named field.  One pass over each list; rows without a
 * parent in the page are dropped.
 */
static void attach_children(json_t *parents, const json_t *rows, const char *fk, const char *field,
                            const char *c1, const char *c2)
{
    size_t i, j = 0, n = json_array_size(rows);
    json_t *p, *row;
    int64_t id;

    json_array_foreach(parents, i, p)
    {
        id = ch_st_int(p, "id");
        while (j < n && ch_st_int(json_array_get(rows, j), fk) < id)
            j++;
        for (; j < n && ch_st_int((row = json_array_get(rows, j)), fk) == id; j++)
            json_array_append_new(json_object_get(p, field),
                                  json_pack("{s:I, s:I}", c1, (json_int_t)ch_st_int(row, c1), c2,
                                            (json_int_t)ch_st_int(row, c2)));
    }
}

/* ---- export.users ------------------------------------------------------- */

/* The page of users, each with its password hash. */
static int rows_export_users(ch_store_req *req, json_t *rows)
{
    return ch_st_users_result(req, rows, 1);
}

static const ch_store_step export_users_steps[] = {
    {"SELECT id, username, email, role, is_active, created_at, password FROM users"
     " WHERE id > $1 ORDER BY id LIMIT $2",
     bind_page, rows_export_users},
};

/* ---- export.rooms ------------------------------------------------------- */

/* The page of rooms into ctx "rooms" (participants still empty); an
 * empty page ends the operation. */
static int rows_export_rooms(ch_store_req *req, json_t *rows)
{
    json_t *rooms = json_array(), *room;
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        room = ch_st_room_json(row);
        json_object_set_new(room, "participants", json_array());
        json_array_append_new(rooms, room);
    }
    json_object_set_new(req->ctx, "rooms", rooms);
    if (json_array_size(rooms) == 0) {
        req->result = json_pack("{s:[]}", "rooms");
        return CH_STEP_DONE;
    }
    page_range(req, rooms);
    return CH_STEP_NEXT;
}

/* The participants of the page's rooms; then the result. */
static int rows_export_participants(ch_store_req *req, json_t *rows)
{
    json_t *rooms = json_object_get(req->ctx, "rooms");

    attach_children(rooms, rows, "room_id", "participants", "user_id", "joined_at");
    req->result = json_pack("{s:O}", "rooms", rooms);
    return CH_STEP_DONE;
}

static const ch_store_step export_rooms_steps[] = {
    {"SELECT id, key, kind, name, is_private, created_at, is_active, is_open FROM rooms"
     " WHERE id > $1 ORDER BY id LIMIT $2",
     bind_page, rows_export_rooms},
    {"SELECT room_id, user_id, joined_at FROM participants"
     " WHERE room_id BETWEEN $1 AND $2 ORDER BY room_id, user_id",
     bind_range, rows_export_participants},
};

/* ---- export.messages ---------------------------------------------------- */

/* The page of messages, opened with their rooms' keys, into ctx "msgs"
 * (read_by still empty); an empty page ends the operation, a message
 * that cannot be opened fails it (EIO, naming the message). */
static int rows_export_msgs(ch_store_req *req, json_t *rows)
{
    json_t *msgs = json_array(), *msg;
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        msg = ch_st_msg_json(req, row, ch_st_str(row, "room_key"), NULL, 0);
        if (!msg) {
            json_decref(msgs);
            return req->status ? req->status : ch_store_fail(req, CH_STORE_EIO, "out of memory");
        }
        json_object_set_new(msg, "room_key", json_string(ch_st_str(row, "room_key")));
        json_array_append_new(msgs, msg);
    }
    json_object_set_new(req->ctx, "msgs", msgs);
    if (json_array_size(msgs) == 0) {
        req->result = json_pack("{s:[]}", "messages");
        return CH_STEP_DONE;
    }
    page_range(req, msgs);
    return CH_STEP_NEXT;
}

/* The read receipts of the page's messages; then the result. */
static int rows_export_receipts(ch_store_req *req, json_t *rows)
{
    json_t *msgs = json_object_get(req->ctx, "msgs");

    attach_children(msgs, rows, "message_id", "read_by", "user_id", "read_at");
    req->result = json_pack("{s:O}", "messages", msgs);
    return CH_STEP_DONE;
}

static const ch_store_step export_msgs_steps[] = {
    {"SELECT " MSG_COLS_M ", r.key AS room_key"
     " FROM messages m JOIN rooms r ON r.id = m.room_id"
     " WHERE m.id > $1 ORDER BY m.id LIMIT $2",
     bind_page, rows_export_msgs},
    {"SELECT message_id, user_id, read_at FROM read_receipts"
     " WHERE message_id BETWEEN $1 AND $2 ORDER BY message_id, user_id",
     bind_range, rows_export_receipts},
};

/* ---- participant.import and read.import --------------------------------- */

/* participant.import {room_id, user_id, joined_at}. */
static int prep_part_import(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"user_id", 'i', 1, 1, ID_MAX},
                                    {"joined_at", 'i', 1, 0, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

/* read.import {message_id, user_id, read_at}. */
static int prep_read_import(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"message_id", 'i', 1, 1, ID_MAX},
                                    {"user_id", 'i', 1, 1, ID_MAX},
                                    {"read_at", 'i', 1, 0, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_part_room, "room_id")
CH_ST_BIND(bind_import_user, "user_id")
CH_ST_BIND(bind_part_import, "room_id", "user_id", "joined_at")
CH_ST_BIND(bind_read_msg, "message_id")
CH_ST_BIND(bind_read_import, "message_id", "user_id", "read_at")

/* The row the import hangs off must exist (a clear ENOENT rather than a
 * foreign-key error). */
static int rows_need_room(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    return CH_STEP_NEXT;
}

static int rows_need_msg(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such message");
    return CH_STEP_NEXT;
}

/* The insert's rows: {"imported": false} when the row was there. */
static int rows_row_imported(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b}", "imported", json_array_size(rows) > 0);
    return CH_STEP_DONE;
}

static const ch_store_step part_import_steps[] = {
    {"SELECT id FROM rooms WHERE id = $1", bind_part_room, rows_need_room},
    {"SELECT id FROM users WHERE id = $1", bind_import_user, ch_st_rows_need_user},
    {"INSERT INTO participants (room_id, user_id, joined_at) VALUES ($1, $2, $3)"
     " ON CONFLICT DO NOTHING RETURNING room_id",
     bind_part_import, rows_row_imported},
};

static const ch_store_step read_import_steps[] = {
    {"SELECT id FROM messages WHERE id = $1", bind_read_msg, rows_need_msg},
    {"SELECT id FROM users WHERE id = $1", bind_import_user, ch_st_rows_need_user},
    {"INSERT INTO read_receipts (message_id, user_id, read_at) VALUES ($1, $2, $3)"
     " ON CONFLICT DO NOTHING RETURNING message_id",
     bind_read_import, rows_row_imported},
};

/* ---- the table ---------------------------------------------------------- */

static const ch_store_op export_ops[] = {
    CH_ST_OP("export.users", 0, ch_st_prep_page, export_users_steps),
    CH_ST_OP("export.rooms", 0, ch_st_prep_page, export_rooms_steps),
    CH_ST_OP("export.messages", 0, ch_st_prep_page, export_msgs_steps),
    CH_ST_OP("participant.import", 1, prep_part_import, part_import_steps),
    CH_ST_OP("read.import", 1, prep_read_import, read_import_steps),
};

/* Looked up by ch_st_schema_op after its own table; then the
 * attachments' (store_attach.c). */
const ch_store_op *ch_st_export_op(const char *name)
{
    const ch_store_op *op = ch_st_find(export_ops, CH_ST_N(export_ops), name);

    return op ? op : ch_st_attach_op(name);
}

/*
 * Run op's parameter check (its prepare, exactly as ch_store_call would)
 * on a copy of params, without queueing anything.  params is borrowed.
 * Returns 0, or CH_STORE_EINVAL with the reason in err ("unknown
 * operation", "not an object", or the check's own "name: expected ...").
 */
int ch_store_check_params(const char *op, const json_t *params, char *err, size_t errlen)
{
    const ch_store_op *o = ch_store_op_find(op);
    ch_store_req req;
    int rc = 0;

    memset(&req, 0, sizeof req);
    if (!o || !json_is_object(params)) {
        snprintf(err, errlen, "%s", o ? "parameters: not an object" : "unknown operation");
        return CH_STORE_EINVAL;
    }
    req.op = o;
    req.params = json_deep_copy(params);
    req.ctx = json_object();
    if (!req.params || !req.ctx)
        rc = ch_store_fail(&req, CH_STORE_EINVAL, "out of memory");
    else if (o->prepare)
        rc = o->prepare(&req) != 0 ? CH_STORE_EINVAL : 0;
    if (rc != 0)
        snprintf(err, errlen, "%s", req.error);
    json_decref(req.params);
    json_decref(req.ctx);
    json_decref(req.result);
    return rc;
}
