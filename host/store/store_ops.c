/*
 * store_ops.c -- the message store's operation table: for each operation
 * ("message.append", "read.mark" ...) its parameter check (prepare, on
 * the loop thread) and its SQL steps with their bind and rows hooks (on
 * the engine's thread), one step list for SQLite and, where the dialects
 * differ, one for PostgreSQL (message.append's are in store_append.c).
 * The shared helpers (parameter specs, row
 * decoding, message JSON with decryption) and the schema are in
 * store_schema.c.
 *
 * SQL here is written once for both engines wherever it can be:
 * $N placeholders, ON CONFLICT, RETURNING, CAST(... AS BIGINT) where
 * PostgreSQL could not infer a parameter's type, booleans as 0/1.
 */
#include "store_impl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define ID_MAX INT64_MAX

/* ---- rooms ------------------------------------------------------------- */

#define ROOM_COLS "id, key, kind, name, is_private, created_at, is_active, is_open"

/* room.get_or_create {key, kind, name?, is_private?, is_open?} (is_open
 * counts only for the call that creates the room). */
static int prep_room_goc(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"key", 's', 1, 1, 200},   {"kind", 's', 1, 1, 32},
                                    {"name", 's', 0, 0, 255},  {"is_private", 'b', 0, 0, 0},
                                    {"is_open", 'b', 0, 0, 0}, {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "is_private", json_false());
    ch_st_default(req, "is_open", json_false());
    return 0;
}

CH_ST_BIND(bind_room_goc, "key", "kind", "name", "is_private", "now", "is_open")
CH_ST_BIND(bind_key, "key")

/* The insert's rows: one if this call created the room. */
static int rows_room_created(ch_store_req *req, json_t *rows)
{
    json_object_set_new(req->ctx, "created", json_boolean(json_array_size(rows) > 0));
    return CH_STEP_NEXT;
}

/* The room's row into the result as "room" (ENOENT if there is none);
 * get_or_create also reports "created". */
static int rows_room(ch_store_req *req, json_t *rows)
{
    json_t *created = json_object_get(req->ctx, "created");

    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    req->result = json_pack("{s:o}", "room", ch_st_room_json(json_array_get(rows, 0)));
    if (created)
        json_object_set(req->result, "created", created);
    return CH_STEP_DONE;
}

static const ch_store_step room_goc_steps[] = {
    {"INSERT INTO rooms (key, kind, name, is_private, created_at, is_active, is_open)"
     " VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (key) DO NOTHING RETURNING id",
     bind_room_goc, rows_room_created},
    {"SELECT " ROOM_COLS " FROM rooms WHERE key = $1", bind_key, rows_room},
};

/* room.get {id} or {key}: exactly one of them. */
static int prep_room_get(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 0, 1, ID_MAX},
                                    {"key", 's', 0, 1, 200},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    return ch_st_one_of(req, "id", "key", NULL);
}

CH_ST_BIND(bind_id_key, "id", "key")

static const ch_store_step room_get_steps[] = {
    {"SELECT " ROOM_COLS " FROM rooms WHERE id = $1 OR key = $2", bind_id_key, rows_room},
};

/* room.set_active {id, is_active}. */
static int prep_room_active(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"is_active", 'b', 1, 0, 0},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_room_active, "id", "is_active")

static const ch_store_step room_active_steps[] = {
    {"UPDATE rooms SET is_active = $2 WHERE id = $1 RETURNING " ROOM_COLS, bind_room_active,
     rows_room},
};

/* ---- participants ------------------------------------------------------ */

/* participant.add / remove / check {room_id, user_id}; add and remove
 * take the stream parameters too (store_stream.c). */
static int prep_room_user(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"user_id", 'i', 1, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    return ch_st_stream_prep(req);
}

/* participant.list {room_id}. */
static int prep_room_id(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_room_id, "room_id")
CH_ST_BIND(bind_room_user, "room_id", "user_id")
CH_ST_BIND(bind_room_user_now, "room_id", "user_id", "now")

/* The room must exist (the first step of several operations). */
static int rows_room_exists(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    return CH_STEP_NEXT;
}

/* An insert or delete with RETURNING: whether it touched a row (a
 * streamed change when it did). */
static int rows_added(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b}", "added", json_array_size(rows) > 0);
    return ch_st_stream_next(req, json_array_size(rows) > 0);
}

static int rows_removed(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b}", "removed", json_array_size(rows) > 0);
    return ch_st_stream_next(req, json_array_size(rows) > 0);
}

static int rows_is_participant(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b}", "is_participant", json_array_size(rows) > 0);
    return CH_STEP_DONE;
}

/* The room (left-joined with its participants): ENOENT without rows. */
static int rows_participants(ch_store_req *req, json_t *rows)
{
    json_t *ids = json_array();
    size_t i;
    json_t *row;

    if (json_array_size(rows) == 0) {
        json_decref(ids);
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    }
    json_array_foreach(rows, i, row)
    {
        if (json_is_integer(json_object_get(row, "user_id")))
            json_array_append(ids, json_object_get(row, "user_id"));
    }
    req->result = json_pack("{s:o}", "user_ids", ids);
    return CH_STEP_DONE;
}

static const ch_store_step part_add_steps[] = {
    {"SELECT id FROM rooms WHERE id = $1", bind_room_id, rows_room_exists},
    {"INSERT INTO participants (room_id, user_id, joined_at) VALUES ($1, $2, $3)"
     " ON CONFLICT DO NOTHING RETURNING room_id",
     bind_room_user_now, rows_added},
    CH_ST_STREAM_STEPS,
};

static const ch_store_step part_remove_steps[] = {
    {"DELETE FROM participants WHERE room_id = $1 AND user_id = $2 RETURNING room_id",
     bind_room_user, rows_removed},
    CH_ST_STREAM_STEPS,
};

static const ch_store_step part_check_steps[] = {
    {"SELECT room_id FROM participants WHERE room_id = $1 AND user_id = $2", bind_room_user,
     rows_is_participant},
};

static const ch_store_step part_list_steps[] = {
    {"SELECT r.id AS id, p.user_id AS user_id FROM rooms r"
     " LEFT JOIN participants p ON p.room_id = r.id WHERE r.id = $1 ORDER BY p.user_id",
     bind_room_id, rows_participants},
};

/* ---- messages ------------------------------------------------------------ */

#define CONTENT_MAX 65536

/* message.append {room_id, sender_id, content, client_msg_id?, extra?,
 * participant?}: a client_msg_id is generated when none is given ("srv-"
 * + 32 hex), so every append can be retried; extra goes to ctx "extra" as
 * JSON text.  participant true: the sender must be a participant of the
 * room in the append's own transaction (EPERM otherwise), so a message
 * racing its sender's removal is never stored after the removal
 * committed (SQLite runs one writer at a time; PostgreSQL reads the
 * participant row FOR SHARE, so a concurrent removal waits for the
 * append's commit, or the append waits for the removal's and sees no
 * row).  unread true: a new message's result also holds "unread", the
 * room's participants' unread counts (as unread.for_room's "counts")
 * read in the append's own transaction, so the caller needs no second
 * round trip (not for a duplicate).  unread_defer true (with unread):
 * when a later append of the same room in the same transaction also asks
 * for the counts, this one skips them and its result says
 * "unread_deferred": true (ch_st_append_mark_batch). */
static int prep_append(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"sender_id", 'i', 1, 1, ID_MAX},
                                    {"content", 'B', 1, 0, CONTENT_MAX},
                                    {"client_msg_id", 's', 0, 1, 100},
                                    {"extra", 'o', 0, 0, 0},
                                    {"participant", 'b', 0, 0, 0},
                                    {"unread", 'b', 0, 0, 0},
                                    {"unread_defer", 'b', 0, 0, 0},
                                    {NULL, 0, 0, 0, 0}};
    unsigned char rnd[16];
    char id[4 + 32 + 1] = "srv-";

    if (ch_st_check(req, spec) != 0 || ch_st_extra(req) != 0 || ch_st_stream_prep(req) != 0)
        return req->status;
    if (!json_object_get(req->params, "client_msg_id") ||
        json_is_null(json_object_get(req->params, "client_msg_id"))) {
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return ch_store_fail(req, CH_STORE_EINVAL, "no randomness for a client_msg_id");
        for (size_t i = 0; i < sizeof rnd; i++)
            snprintf(id + 4 + 2 * i, 3, "%02x", rnd[i]);
        json_object_set_new(req->params, "client_msg_id", json_string(id));
    }
    return 0;
}

/* message.history {room_id, limit?, before_id?, after_id?}: one statement
 * with two halves, ascending after after_id and descending before
 * before_id, of which the unused one gets LIMIT 0. */
static int prep_history(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"limit", 'i', 0, 1, 500},
                                    {"before_id", 'i', 0, 1, ID_MAX},
                                    {"after_id", 'i', 0, 0, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};
    json_t *after;
    int64_t limit;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "limit", json_integer(50));
    ch_st_default(req, "before_id", json_integer(ID_MAX));
    after = json_object_get(req->params, "after_id");
    limit = json_integer_value(json_object_get(req->params, "limit"));
    json_object_set_new(req->ctx, "after", json_integer(json_integer_value(after)));
    json_object_set_new(req->ctx, "lim_a", json_integer(json_is_integer(after) ? limit : 0));
    json_object_set_new(req->ctx, "lim_b", json_integer(json_is_integer(after) ? 0 : limit));
    return 0;
}

CH_ST_BIND(bind_history, "room_id", "@after", "@lim_a", "before_id", "@lim_b")
CH_ST_BIND(bind_receipts, "@room_id", "@lo", "@hi")
CH_ST_BIND(bind_id, "id")

/* The room's key into ctx "room_key" (ENOENT without the room), and its
 * stream position and the store's epoch, read before the page (a change
 * between them is in both the page and the stream after pos, never in
 * neither), into ctx "stream" for the result. */
static int rows_room_key(ch_store_req *req, json_t *rows)
{
    const json_t *row = json_array_get(rows, 0);

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    json_object_set_new(req->ctx, "room_key", json_string(ch_st_str(row, "key")));
    json_object_set_new(req->ctx, "stream",
                        json_pack("{s:I, s:s}", "pos", (json_int_t)ch_st_int(row, "pos"), "epoch",
                                  ch_st_str(row, "epoch")));
    return CH_STEP_NEXT;
}

/* The page of messages; an empty page ends the operation. */
static int rows_history(ch_store_req *req, json_t *rows)
{
    const char *key = json_string_value(json_object_get(req->ctx, "room_key"));

    if (ch_st_msgs_from_rows(req, rows, key) != CH_STEP_NEXT)
        return req->status;
    if (json_array_size(json_object_get(req->ctx, "msgs")) > 0)
        return CH_STEP_NEXT;
    req->result = json_pack("{s:[]}", "messages");
    json_object_update(req->result, json_object_get(req->ctx, "stream"));
    return CH_STEP_DONE;
}

/* One message (ENOENT if none) into ctx "msgs". */
static int rows_msg_one(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such message");
    return ch_st_msgs_from_rows(req, rows, NULL);
}

/* Receipts into ctx "msgs"; the result is the list or its one message. */
static int rows_receipts_list(ch_store_req *req, json_t *rows)
{
    json_t *msgs = json_object_get(req->ctx, "msgs");

    ch_st_attach_receipts(msgs, rows);
    req->result = json_pack("{s:O}", "messages", msgs);
    json_object_update(req->result, json_object_get(req->ctx, "stream"));
    return CH_STEP_DONE;
}

static int rows_receipts_one(ch_store_req *req, json_t *rows)
{
    json_t *msgs = json_object_get(req->ctx, "msgs");

    ch_st_attach_receipts(msgs, rows);
    req->result = json_pack("{s:O}", "message", json_array_get(msgs, 0));
    return ch_st_stream_next(req, 1);
}

#define HISTORY_HALF(cond, order, lim)                                    \
    "SELECT * FROM (SELECT " MSG_COLS " FROM messages WHERE room_id = $1" \
    " AND id > $2 AND id < $4 ORDER BY id " order " LIMIT " lim ") AS " cond
#define RECEIPTS_OF_RANGE                                                          \
    "SELECT x.message_id AS message_id, x.user_id AS user_id FROM read_receipts x" \
    " JOIN messages m ON m.id = x.message_id WHERE m.room_id = $1"                 \
    " AND x.message_id BETWEEN $2 AND $3 ORDER BY x.message_id, x.user_id"
#define MSG_BY_ID                                              \
    "SELECT " MSG_COLS_M ", r.key AS room_key FROM messages m" \
    " JOIN rooms r ON r.id = m.room_id WHERE m.id = $1"

static const ch_store_step history_steps[] = {
    {"SELECT key, stream_pos AS pos, " CH_ST_EPOCH_SQL " AS epoch FROM rooms WHERE id = $1",
     bind_room_id, rows_room_key},
    {HISTORY_HALF("a", "ASC", "$3") " UNION ALL " HISTORY_HALF("b", "DESC", "$5"), bind_history,
     rows_history},
    {RECEIPTS_OF_RANGE, bind_receipts, rows_receipts_list},
};

/* message.get {id}. */
static int prep_msg_get(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

static const ch_store_step msg_get_steps[] = {
    {MSG_BY_ID, bind_id, rows_msg_one},
    {RECEIPTS_OF_RANGE, bind_receipts, rows_receipts_one},
};

/* message.edit {id, sender_id, content, room_id?} and message.delete
 * {id, sender_id, room_id?}; ctx "delete" tells them apart.  room_id,
 * when given, is the room the caller expects the message in (another
 * room's message: ENOENT); it also names the call's room, which the
 * PostgreSQL engine's lanes go by (store_pg_lanes.c). */
static int prep_edit(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"sender_id", 'i', 1, 1, ID_MAX},
                                    {"content", 'B', 1, 0, CONTENT_MAX},
                                    {"room_id", 'i', 0, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    return ch_st_stream_prep(req);
}

static int prep_delete(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"sender_id", 'i', 1, 1, ID_MAX},
                                    {"room_id", 'i', 0, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0 || ch_st_stream_prep(req) != 0)
        return req->status;
    json_object_set_new(req->ctx, "delete", json_true());
    return 0;
}

/* The message to change: it must exist (in room_id's room, when given),
 * be the sender's and not be deleted.  Seals the new content (edit) or
 * "" (delete) into ctx and keeps the changed message in ctx "msgs" for
 * the result (the old content is not opened: a damaged message can
 * still be deleted). */
static int rows_edit_check(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0), *msg;
    int del = json_is_true(json_object_get(req->ctx, "delete"));
    json_t *c = json_object_get(req->params, "content");
    const char *plain = del ? "" : json_string_value(c);
    size_t len = del ? 0 : json_string_length(c);
    int64_t id = json_integer_value(json_object_get(req->params, "id"));
    int64_t sender = json_integer_value(json_object_get(req->params, "sender_id"));
    json_t *room = json_object_get(req->params, "room_id");

    if (!row || (room && ch_st_int(row, "room_id") != json_integer_value(room)))
        return ch_store_fail(req, CH_STORE_ENOENT, "no such message");
    if (ch_st_int(row, "sender_id") != sender)
        return ch_store_fail(req, CH_STORE_EPERM, "message %lld is not %lld's", (long long)id,
                             (long long)sender);
    if (ch_st_int(row, "is_deleted"))
        return ch_store_fail(req, CH_STORE_EPERM, "message %lld is deleted", (long long)id);
    if (ch_st_seal(req, ch_st_str(row, "room_key"), id, plain, len) != 0)
        return req->status;
    msg = ch_st_msg_json(req, row, NULL, plain, len);
    if (!msg)
        return ch_store_fail(req, CH_STORE_EIO, "out of memory");
    json_object_set_new(msg, "is_deleted", json_boolean(del));
    if (!del)
        json_object_set_new(msg, "edited_at", json_integer(req->now_ms));
    json_object_set(req->ctx, "edited_at", json_object_get(msg, "edited_at"));
    json_object_set_new(req->ctx, "is_deleted", json_integer(del));
    json_object_set_new(req->ctx, "room_id", json_integer(ch_st_int(row, "room_id")));
    json_object_set_new(req->ctx, "lo", json_integer(id));
    json_object_set_new(req->ctx, "hi", json_integer(id));
    json_object_set_new(req->ctx, "msgs", json_pack("[o]", msg));
    return CH_STEP_NEXT;
}

/* The update matched nothing: the message changed in between. */
static int rows_edit_updated(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_EPERM, "message changed concurrently");
    return CH_STEP_NEXT;
}

CH_ST_BIND(bind_edit, "id", "@key_id", "@nonce", "@sealed", "@edited_at", "@is_deleted",
           "sender_id")

static const ch_store_step edit_steps[] = {
    {MSG_BY_ID, bind_id, rows_edit_check},
    {"UPDATE messages SET key_id = $2, nonce = $3, content = $4, edited_at = $5,"
     " is_deleted = $6 WHERE id = $1 AND sender_id = $7 AND is_deleted = 0 RETURNING id",
     bind_edit, rows_edit_updated},
    {RECEIPTS_OF_RANGE, bind_receipts, rows_receipts_one},
    CH_ST_STREAM_STEPS,
};

/* ---- cleanup ----------------------------------------------------------- */

/* cleanup.empty_threads {dry_run?, kind? ("thread")}. */
static int prep_cleanup(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"dry_run", 'b', 0, 0, 0},
                                    {"kind", 's', 0, 1, 32},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "kind", json_string("thread"));
    ch_st_default(req, "dry_run", json_false());
    return 0;
}

CH_ST_BIND(bind_kind, "kind")

/* The empty rooms; a dry run ends here. */
static int rows_empty_rooms(ch_store_req *req, json_t *rows)
{
    if (!json_is_true(json_object_get(req->params, "dry_run")))
        return CH_STEP_NEXT;
    req->result = json_pack("{s:o, s:b}", "rooms", ch_st_ids_of(rows, "id"), "deleted", 0);
    return CH_STEP_DONE;
}

/* PostgreSQL's: rows_empty_rooms, and for the deletes the ids locked, as
 * JSON text in ctx "ids". */
static int rows_locked_rooms(ch_store_req *req, json_t *rows)
{
    json_t *ids;
    char *text;

    if (rows_empty_rooms(req, rows) != CH_STEP_NEXT)
        return CH_STEP_DONE;
    ids = ch_st_ids_of(rows, "id");
    text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    json_decref(ids);
    if (!text)
        return ch_store_fail(req, CH_STORE_EIO, "out of memory");
    json_object_set_new(req->ctx, "ids", json_string(text));
    free(text);
    return CH_STEP_NEXT;
}

/* The rooms deleted (the authority: rooms may have changed meanwhile). */
static int rows_deleted_rooms(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:o, s:b}", "rooms", ch_st_ids_of(rows, "id"), "deleted", 1);
    return CH_STEP_DONE;
}

#define EMPTY_ROOMS                                    \
    "SELECT r.id AS id FROM rooms r WHERE r.kind = $1" \
    " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = r.id) ORDER BY r.id"

static const ch_store_step cleanup_steps[] = {
    {EMPTY_ROOMS, bind_kind, rows_empty_rooms},
    {"DELETE FROM attachments WHERE room_id IN (SELECT r.id FROM rooms r WHERE r.kind = $1"
     " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = r.id)) RETURNING id",
     bind_kind, ch_st_rows_gone},
    {"DELETE FROM rooms WHERE kind = $1"
     " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = rooms.id) RETURNING id",
     bind_kind, rows_deleted_rooms},
};

/*
 * PostgreSQL: another host's append may commit a room's first message
 * while this runs.  A DELETE that waits for the append's lock on the row
 * (FOR KEY SHARE) re-checks the row after the wait but not its NOT EXISTS,
 * whose snapshot is the statement's: the room went, and the acknowledged
 * message with it.  So the empty rooms are locked first (FOR UPDATE: it
 * waits for an append under way, and makes the next wait for this
 * transaction), and the deletes, each a statement with a snapshot of its
 * own taken after those locks, take only those rooms and check them
 * again.  SQLite has one writer at a time: its steps need neither.
 */
#define CLEANUP_IDS_PG \
    "(SELECT CAST(v AS BIGINT) FROM json_array_elements_text(CAST($1 AS json)) AS v)"

CH_ST_BIND(bind_ids, "@ids")

static const ch_store_step cleanup_pg_steps[] = {
    {EMPTY_ROOMS " FOR UPDATE OF r", bind_kind, rows_locked_rooms},
    {"DELETE FROM attachments WHERE room_id IN (SELECT r.id FROM rooms r WHERE r.id "
     "IN " CLEANUP_IDS_PG " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = r.id))"
     " RETURNING id",
     bind_ids, ch_st_rows_gone},
    {"DELETE FROM rooms WHERE id IN " CLEANUP_IDS_PG
     " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = rooms.id) RETURNING id",
     bind_ids, rows_deleted_rooms},
};

/* ---- the table ---------------------------------------------------------- */

#define OP CH_ST_OP
#define OP2 CH_ST_OP2

static const ch_store_op ops[] = {
    OP("room.get_or_create", 1, prep_room_goc, room_goc_steps),
    OP("room.get", 0, prep_room_get, room_get_steps),
    OP("room.set_active", 1, prep_room_active, room_active_steps),
    OP("participant.add", 1, prep_room_user, part_add_steps),
    OP("participant.remove", 1, prep_room_user, part_remove_steps),
    OP("participant.check", 0, prep_room_user, part_check_steps),
    OP("participant.list", 0, prep_room_id, part_list_steps),
    {"message.append",
     1,
     prep_append,
     {ch_st_append_steps, ch_st_append_pg_steps},
     {CH_ST_APPEND_STEPS, CH_ST_APPEND_PG_STEPS},
     NULL,
     ch_st_append_typed},
    OP("message.history", 0, prep_history, history_steps),
    OP("message.get", 0, prep_msg_get, msg_get_steps),
    OP("message.edit", 1, prep_edit, edit_steps),
    OP("message.delete", 1, prep_delete, edit_steps),
    OP2("cleanup.empty_threads", 1, prep_cleanup, cleanup_steps, cleanup_pg_steps),
};

/* The operation tables registered by the assembler (store.h), e.g. the
 * chat plugins' (store_chat.c): process-wide, set at start on the loop
 * thread. */
static ch_store_op_lookup registered[8];
static size_t n_registered;

int ch_store_ops_register(ch_store_op_lookup find)
{
    for (size_t i = 0; i < n_registered; i++)
        if (registered[i] == find)
            return 0;
    if (n_registered == CH_ST_N(registered))
        return -ENOSPC;
    registered[n_registered++] = find;
    return 0;
}

/* The table above, then the reads' (store_reads.c), the registered
 * tables, and the schema's (which chains to the exports). */
const ch_store_op *ch_store_host_op(const char *name)
{
    const ch_store_op *op = ch_st_find(ops, CH_ST_N(ops), name);

    if (!op && name)
        op = ch_st_reads_op(name);
    if (!op && name)
        op = ch_st_stream_op(name);
    for (size_t i = 0; !op && name && i < n_registered; i++)
        op = registered[i](name);
    if (!op && name)
        op = ch_st_schema_op(name);
    return op;
}

/* The host's operations, then the plugins' installed ones. */
const ch_store_op *ch_store_op_find(const char *name)
{
    const ch_store_op *op = ch_store_host_op(name);

    return op || !name ? op : ch_st_plugin_op(name);
}

/* PostgreSQL's own steps where the op has them, else the common ones. */
const ch_store_step *ch_store_op_steps(const ch_store_op *op, int kind, size_t *n)
{
    int k = kind == CH_STORE_PG && op->steps[CH_STORE_PG] ? CH_STORE_PG : CH_STORE_SQLITE;

    *n = op->n_steps[k];
    return op->steps[k];
}
