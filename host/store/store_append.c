/*
 * store_append.c -- what message.append does on the engine's thread
 * (its parameters are checked on the loop by store_ops.c's prep_append,
 * which also lists it in the operation table): its steps per engine,
 * their hooks, and the batch's marks of appends that leave their unread
 * counts to a later one (ch_st_append_mark_batch).  SQLite's steps run
 * typed (ch_st_typed: no JSON array or row object per step); PostgreSQL's
 * fold the dedup, the insert and the stream position into fewer round
 * trips.  Owns nothing beyond a call: what a hook makes goes into the
 * request's ctx and result (the request's).
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CH_ST_BIND(bind_dedup, "room_id", "sender_id", "client_msg_id")
CH_ST_BIND(bind_append, "@id", "room_id", "sender_id", "@key_id", "@nonce", "@sealed", "now",
           "client_msg_id", "@extra")

/* The room's key (borrowed) and a new message id: seal the content for
 * them (ctx id, key_id, nonce, sealed) and remember the id in ctx
 * "attempt_ids".  With "participant" true, a sender who is no participant
 * (member 0) ends the append with EPERM, unless it is a retry of a
 * message stored before (dup: PostgreSQL's dup column; SQLite's first
 * step answered a duplicate already: row_seal_or_found). */
static int seal_new(ch_store_req *req, const char *key, int64_t new_id, int member, int dup)
{
    json_t *c = json_object_get(req->params, "content");
    json_t *ids = json_object_get(req->ctx, "attempt_ids");

    if (json_is_true(json_object_get(req->params, "participant")) && !member && !dup)
        return ch_store_fail(req, CH_STORE_EPERM, "the sender is not a participant of the room");
    if (ch_st_seal(req, key, new_id, json_string_value(c), json_string_length(c)) != 0)
        return req->status;
    if (!ids) {
        ids = json_array();
        json_object_set_new_nocheck(req->ctx, "attempt_ids", ids);
    }
    json_array_append_new(ids, json_integer(new_id));
    return CH_STEP_NEXT;
}

/* seal_new for the row {key, new_id, member, dup} (PostgreSQL). */
static int rows_seal_new(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    return seal_new(req, ch_st_str(row, "key"), ch_st_int(row, "new_id"),
                    ch_st_int(row, "member") != 0, ch_st_int(row, "dup") != 0);
}

/* The result of an append (id, created_at, duplicate: the row found or
 * inserted): a duplicate of an id this request allocated itself (an earlier attempt
 * that did commit) is no duplicate.  more: the unread step follows, and
 * runs (CH_STEP_NEXT) for a new message when "unread" is true, unless a
 * later append of the batch reads the counts (ctx "unread_later"); else
 * the stream steps after it (the unread step skipped) with "stream": true.
 * A rows hook may move req->step on: both engines then run the step
 * after req->step (store_sqlite.c's loop, store_pg.c's step_result). */
static int append_result(ch_store_req *req, int64_t id, int64_t created_at, int found, int more)
{
    int dup = found;
    json_t *ids = json_object_get(req->ctx, "attempt_ids");
    size_t i;
    json_t *v;

    json_array_foreach(ids, i, v)
    {
        if (json_integer_value(v) == id)
            dup = 0;
    }
    req->result = json_object();
    json_object_set_new_nocheck(req->result, "id", json_integer(id));
    json_object_set_new_nocheck(req->result, "created_at", json_integer(created_at));
    json_object_set_new_nocheck(req->result, "duplicate", json_boolean(dup));
    json_object_set_nocheck(req->result, "client_msg_id",
                            json_object_get(req->params, "client_msg_id"));
    /* only a row inserted by this attempt is streamed (a retry finding its
     * own earlier, committed attempt streamed it then) */
    json_object_set_new_nocheck(req->ctx, "inserted", json_boolean(!found));
    if (!more || dup)
        return CH_STEP_DONE;
    if (json_is_true(json_object_get(req->params, "unread"))) {
        if (!json_is_true(json_object_get(req->ctx, "unread_later")))
            return CH_STEP_NEXT;
        json_object_set_new_nocheck(req->result, "unread_deferred", json_true());
    }
    if (ch_st_stream_next(req, !found) == CH_STEP_DONE)
        return CH_STEP_DONE;
    req->step++; /* past the unread step: the engine runs the one after it */
    return CH_STEP_NEXT;
}

/* The room of an append that may defer its counts ("unread" and
 * "unread_defer" true), else 0. */
static int64_t deferring_room(const ch_store_req *req)
{
    if (strcmp(req->op->name, "message.append") != 0 ||
        !json_is_true(json_object_get(req->params, "unread")) ||
        !json_is_true(json_object_get(req->params, "unread_defer")))
        return 0;
    return json_integer_value(json_object_get(req->params, "room_id"));
}

/* See store_impl.h.  Each request's mark is set afresh, so a batch run
 * again (or a request run again alone) is marked for what it is now. */
void ch_st_append_mark_batch(ch_store_req *head)
{
    size_t n = 0, i = 0;
    int64_t *rooms;
    int later;

    for (ch_store_req *r = head; r; r = r->next)
        n++;
    if (n == 0 || !(rooms = malloc(n * sizeof *rooms)))
        return; /* out of memory: nothing marked, every append counts */
    for (ch_store_req *r = head; r; r = r->next)
        rooms[i++] = deferring_room(r);
    i = 0;
    for (ch_store_req *r = head; r; r = r->next, i++) {
        later = 0;
        for (size_t j = i + 1; rooms[i] && !later && j < n; j++)
            later = rooms[j] == rooms[i];
        if (later)
            json_object_set_new_nocheck(r->ctx, "unread_later", json_true());
        else
            json_object_del(r->ctx, "unread_later");
    }
    free(rooms);
}

/* The insert (and, on PostgreSQL, the dedup in the same statement). */
static int rows_append_inserted(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);

    if (!row)
        return ch_store_fail(req, CH_STORE_EIO, "append raced with a concurrent duplicate");
    return append_result(req, ch_st_int(row, "id"), ch_st_int(row, "created_at"),
                         ch_st_int(row, "duplicate") != 0, 1);
}

/*
 * SQLite's append runs typed (ch_st_typed, store_sqlite.c): parameters
 * bound from the request and ctx, rows read column by column, no JSON
 * array or row object per step.
 */

/* The first step's parameters: room_id, sender_id, client_msg_id. */
static int args_dedup(ch_store_req *req, ch_st_val *args)
{
    args[0] = ch_st_vj(json_object_get(req->params, "room_id"));
    args[1] = ch_st_vj(json_object_get(req->params, "sender_id"));
    args[2] = ch_st_vj(json_object_get(req->params, "client_msg_id"));
    return 3;
}

/* SQLite's first step, its row (APPEND_FIRST's columns): the message
 * this one repeats (dup_id, dup_at) ends the append as its duplicate;
 * else seal_new, and with "stream" true the room's next position, key and
 * the epoch go to ctx ("ev_pos", "ev_key", "ev_epoch") for the stream's
 * steps (the position is taken by APPEND_POS, in this transaction).  No
 * row: ENOENT. */
static int row_seal_or_found(ch_store_req *req, const ch_st_val *cols, size_t n)
{
    if (!cols) /* a duplicate's result is made: done */
        return !n            ? ch_store_fail(req, CH_STORE_ENOENT, "no such room")
               : req->result ? CH_STEP_DONE
                             : CH_STEP_NEXT;
    if (n < 7 || cols[0].type != 't' || cols[1].type != 'i')
        return ch_store_fail(req, CH_STORE_EIO, "append: unexpected row");
    if (cols[3].type == 'i' && cols[3].i) {
        append_result(req, cols[3].i, cols[4].i, 1, 0);
        return 0;
    }
    if (json_is_true(json_object_get(req->params, "stream"))) {
        json_object_set_new_nocheck(req->ctx, "ev_pos", json_integer(cols[5].i + 1));
        json_object_set_new_nocheck(req->ctx, "ev_key", json_stringn(cols[0].s, cols[0].len));
        json_object_set_new_nocheck(req->ctx, "ev_epoch", json_stringn(cols[6].s, cols[6].len));
    }
    return seal_new(req, cols[0].s, cols[1].i, cols[2].type == 'i' && cols[2].i, 0) < 0
               ? req->status
               : 0;
}

/* The insert's parameters: as bind_append's names. */
static int args_append(ch_store_req *req, ch_st_val *args)
{
    json_t *p = req->params, *c = req->ctx;

    args[0] = ch_st_vj(json_object_get(c, "id"));
    args[1] = ch_st_vj(json_object_get(p, "room_id"));
    args[2] = ch_st_vj(json_object_get(p, "sender_id"));
    args[3] = ch_st_vj(json_object_get(c, "key_id"));
    args[4] = ch_st_vj(json_object_get(c, "nonce"));
    args[5] = ch_st_vj(json_object_get(c, "sealed"));
    args[6] = ch_st_vi(req->now_ms);
    args[7] = ch_st_vj(json_object_get(p, "client_msg_id"));
    args[8] = ch_st_vj(json_object_get(c, "extra"));
    return 9;
}

/* SQLite's insert (no RETURNING: an ephemeral table per call): what it
 * would return is known, the id allocated and sealed for (ctx "id"), the
 * timestamp bound, not a duplicate (a conflict fails the statement,
 * EEXIST, before this hook runs). */
static int row_append_stored(ch_store_req *req, const ch_st_val *cols, size_t n)
{
    (void)n;
    if (cols)
        return 0;
    return append_result(req, json_integer_value(json_object_get(req->ctx, "id")), req->now_ms, 0,
                         1);
}

/* row_append_stored as the insert's JSON rows hook (rows unused). */
static int rows_append_stored(ch_store_req *req, json_t *rows)
{
    (void)rows;
    return row_append_stored(req, NULL, 0);
}

/* The unread step's parameters: as ch_st_bind_append_unread. */
static int args_append_unread(ch_store_req *req, ch_st_val *args)
{
    args[0] = ch_st_vj(json_object_get(req->params, "room_id"));
    args[1] = ch_st_vt("[]", 2);
    args[2] = ch_st_vi(1);
    return 3;
}

/* Its rows (user_id, unread) into the result's "unread" as
 * ch_st_rows_append_unread does; then the stream's steps or done. */
static int row_append_unread(ch_store_req *req, const ch_st_val *cols, size_t n)
{
    json_t *counts = json_object_get(req->result, "unread");
    char id[24], *p = id + sizeof id;
    uint64_t u;

    if (!counts) {
        counts = json_object();
        json_object_set_new_nocheck(req->result, "unread", counts);
    }
    if (!cols)
        return ch_st_stream_next(req, json_is_true(json_object_get(req->ctx, "inserted")));
    if (n < 2)
        return ch_store_fail(req, CH_STORE_EIO, "append: unexpected unread row");
    if (cols[0].type != 'i' || cols[0].i < 0)
        return ch_store_fail(req, CH_STORE_EIO, "append: unexpected unread row");
    *--p = '\0'; /* the user id in decimal, as ch_st_rows_append_unread writes it */
    u = (uint64_t)cols[0].i;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    json_object_set_new_nocheck(counts, p, json_integer(cols[1].i));
    return 0;
}

/* The stream position's parameters (room, the new position of ctx
 * "ev_pos"); after the update the event is sealed for it. */
static int args_append_pos(ch_store_req *req, ch_st_val *args)
{
    args[0] = ch_st_vj(json_object_get(req->params, "room_id"));
    args[1] = ch_st_vj(json_object_get(req->ctx, "ev_pos"));
    return 2;
}

/* The update is done: seal the event (ch_st_stream_seal) for ctx's
 * position, key and epoch. */
static int row_append_pos(ch_store_req *req, const ch_st_val *cols, size_t n)
{
    json_t *c = req->ctx;

    if (cols)
        return 0;
    if (n != 0 || !json_is_integer(json_object_get(c, "ev_pos")))
        return ch_store_fail(req, CH_STORE_EIO, "append: no stream position");
    return ch_st_stream_seal(req, json_string_value(json_object_get(c, "ev_key")),
                             json_integer_value(json_object_get(c, "ev_pos")),
                             json_string_value(json_object_get(c, "ev_epoch")));
}

/* SQLite's unread step of an append (bound as ch_st_bind_append_unread:
 * no listed ids, the participants): CH_ST_UNREAD_SQL's counts for the
 * room's participants only, read in the participants' key order, so that
 * SQLite needs no temporary table (CH_ST_UNREAD_SQL's materialized CTEs,
 * UNION and ORDER BY make five per call); the same rows. */
#define APPEND_UNREAD_SQLITE                                                                  \
    "SELECT p.user_id AS user_id, CAST((SELECT coalesce(sum(c.n), 0) FROM room_live_counts c" \
    " WHERE c.room_id = $1)"                                                                  \
    " - coalesce((SELECT c.n FROM room_live_counts c WHERE c.room_id = $1"                    \
    " AND c.sender_id = p.user_id), 0)"                                                       \
    " - coalesce((SELECT c.n FROM room_read_counts c WHERE c.room_id = $1"                    \
    " AND c.user_id = p.user_id), 0) AS BIGINT) AS unread"                                    \
    " FROM participants p WHERE p.room_id = $1 ORDER BY p.room_id, p.user_id"

#define APPEND_INSERT                                                                   \
    "INSERT INTO messages (id, room_id, sender_id, key_id, nonce, content, created_at," \
    " is_deleted, client_msg_id, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)"

/* SQLite's append, typed only (ch_st_append_typed): the room's key, a new id,
 * the membership, the message this one repeats, the room's stream
 * position and the epoch; the insert; the unread counts; the room's new
 * position (read by the first step: one writer, the same transaction);
 * CH_ST_STREAM_EVENT_STEPS.  The JSON hooks are those the typed ones
 * stand for, where there are some. */
const ch_store_step ch_st_append_steps[] = {
    {"SELECT r.key AS key, (SELECT coalesce(max(id), 0) + 1 FROM messages) AS new_id,"
     " (SELECT 1 FROM participants WHERE room_id = $1 AND user_id = $2) AS member,"
     " d.id AS dup_id, d.created_at AS dup_at, r.stream_pos AS pos, " CH_ST_EPOCH_SQL
     " AS epoch FROM rooms r LEFT JOIN messages d"
     " ON d.room_id = $1 AND d.sender_id = $2 AND d.client_msg_id = $3 WHERE r.id = $1",
     bind_dedup, NULL},
    {APPEND_INSERT, bind_append, rows_append_stored},
    {APPEND_UNREAD_SQLITE, ch_st_bind_append_unread, ch_st_rows_append_unread},
    {"UPDATE rooms SET stream_pos = $2 WHERE id = $1", NULL, NULL},
    CH_ST_STREAM_EVENT_STEPS,
};

const ch_st_typed ch_st_append_typed[] = {
    {args_dedup, row_seal_or_found},
    {args_append, row_append_stored},
    {args_append_unread, row_append_unread},
    {args_append_pos, row_append_pos},
    CH_ST_STREAM_EVENT_TYPED,
};
CH_ST_TYPED_FITS(ch_st_append_steps, ch_st_append_typed);
_Static_assert(CH_ST_N(ch_st_append_steps) == CH_ST_APPEND_STEPS, "CH_ST_APPEND_STEPS");

CH_ST_BIND(bind_append_pg, "@id", "room_id", "sender_id", "@key_id", "@nonce", "@sealed", "now",
           "client_msg_id", "@extra", "stream")

/*
 * PostgreSQL's insert (rows borrowed), which also takes the room's stream
 * position when the row is new and the call streams (CH_ST_STREAM_POS_SQL
 * folded in).  As rows_append_inserted; with a position ("pos", "key",
 * "epoch") the event is sealed here (ch_st_stream_rows_pos).  The engine
 * then runs the unread step and the event row in one statement, or the
 * unread step alone, or the event alone (append_pg_steps): two round
 * trips per batch fewer than the position and the event as steps.
 */
static int rows_append_pg(ch_store_req *req, json_t *rows)
{
    const json_t *row = json_array_get(rows, 0);
    size_t at = req->step;
    int rc = rows_append_inserted(req, rows), unread = req->step == at;
    int has_pos = row && json_is_integer(json_object_get(row, "pos"));

    if (rc != CH_STEP_NEXT && !has_pos)
        return rc;
    if (rc != CH_STEP_NEXT || (!has_pos && !unread)) /* never a position without its event */
        return req->status ? req->status
                           : ch_store_fail(req, CH_STORE_EIO, "append: stream position unmatched");
    if (has_pos && (rc = ch_st_stream_rows_pos(req, rows)) != CH_STEP_NEXT)
        return rc;
    req->step = at + (has_pos ? (unread ? 0 : 2) : 1); /* the engine runs the step after it */
    return CH_STEP_NEXT;
}

/* PostgreSQL's steps.  The first locks the room's row FOR KEY SHARE:
 * since schema version 13 messages.room_id is no foreign key on
 * PostgreSQL (its check cost an SPI query per row), and the lock is what
 * that check took.  A room deleted first makes the append wait for the
 * delete's commit and then find no room (ENOENT); a room deleted after
 * waits for the append's commit, and its trigger (rooms_rows_delete)
 * then sees the new message and deletes it with the room's others. */
const ch_store_step ch_st_append_pg_steps[] = {
    {"SELECT key, nextval('messages_id_seq') AS new_id, (SELECT 1 FROM participants"
     " WHERE room_id = $1 AND user_id = $2 FOR SHARE) AS member, (SELECT 1 FROM messages"
     " WHERE room_id = $1 AND sender_id = $2 AND client_msg_id = $3) AS dup"
     " FROM rooms WHERE id = $1 FOR KEY SHARE",
     bind_dedup, rows_seal_new},
    {"WITH ins AS (" APPEND_INSERT " ON CONFLICT (room_id, sender_id, client_msg_id)"
     " DO NOTHING RETURNING id, created_at),"
     " pos AS (UPDATE rooms SET stream_pos = stream_pos + 1 WHERE id = $2"
     " AND CAST($10 AS boolean) AND EXISTS (SELECT 1 FROM ins) RETURNING stream_pos, key)"
     " SELECT ins.id, ins.created_at, 0 AS duplicate, pos.stream_pos AS pos, pos.key AS key,"
     " CASE WHEN pos.key IS NOT NULL THEN " CH_ST_EPOCH_SQL " END AS epoch"
     " FROM ins LEFT JOIN pos ON TRUE UNION ALL"
     " SELECT id, created_at, 1, NULL, NULL, NULL FROM messages WHERE room_id = $2"
     " AND sender_id = $3 AND client_msg_id = $8 AND NOT EXISTS (SELECT 1 FROM ins)",
     bind_append_pg, rows_append_pg},
    {"WITH ev AS (INSERT INTO room_events (room_id, pos, kind, key_id, nonce, body, created_at)"
     " VALUES ($1, $4, $5, $6, $7, $8, $9))"
     " SELECT * FROM (" CH_ST_UNREAD_SQL(CH_ST_PG_IDS("$2")) ") AS u ORDER BY 1",
     ch_st_bind_append_unread_event, ch_st_rows_append_unread_event},
    {CH_ST_UNREAD_SQL(CH_ST_PG_IDS("$2")), ch_st_bind_append_unread, ch_st_rows_append_unread},
    CH_ST_STREAM_EVENT_STEPS,
};
_Static_assert(CH_ST_N(ch_st_append_pg_steps) == CH_ST_APPEND_PG_STEPS, "CH_ST_APPEND_PG_STEPS");

/* The element k of a group's $1 (ch_st_group) as q's row k, with the
 * columns cols (text: "CAST(j.e ->> n AS type) AS name, ..."). */
#define GROUP_ROWS(cols)                                 \
    "WITH q AS MATERIALIZED (SELECT j.i - 1 AS k, " cols \
    " FROM jsonb_array_elements(CAST($1 AS jsonb)) WITH ORDINALITY AS j(e, i))"

/*
 * The unread step with the event row (ch_st_append_pg_steps[2]) for a
 * round's appends at once (ch_st_group): the event rows in one INSERT,
 * and each append's counts as CH_ST_UNREAD_SQL gives them (the listed
 * ids and, with the flag, the participants; the room's live count less
 * the user's own and read), through one LATERAL subquery whose plan is
 * made once per statement and rescanned per append, instead of one
 * statement each (with the other groups, 18-20 % less server CPU per
 * append: docs/performance.md, part 7).  Element k of $1 holds that step's
 * parameters: room, ids, flag, then the event's position, kind, key_id,
 * nonce, body and time.
 */
#define APPEND_UNREAD_EVENT_GROUP                                                               \
    GROUP_ROWS("CAST(j.e ->> 0 AS BIGINT) AS room_id, j.e ->> 1 AS ids,"                        \
               " CAST(j.e ->> 2 AS INTEGER) AS flag, CAST(j.e ->> 3 AS BIGINT) AS pos,"         \
               " j.e ->> 4 AS kind, CAST(j.e ->> 5 AS INTEGER) AS key_id, j.e ->> 6 AS nonce,"  \
               " j.e ->> 7 AS body, CAST(j.e ->> 8 AS BIGINT) AS created_at")                   \
    ","                                                                                         \
    " ev AS (INSERT INTO room_events (room_id, pos, kind, key_id, nonce, body, created_at)"     \
    " SELECT q.room_id, q.pos, q.kind, q.key_id, q.nonce, q.body, q.created_at FROM q"          \
    " ORDER BY q.k)"                                                                            \
    " SELECT q.k AS _i, x.user_id, x.unread FROM q CROSS JOIN LATERAL"                          \
    " (SELECT t.uid AS user_id, CAST((SELECT coalesce(sum(c.n), 0) FROM room_live_counts c"     \
    " WHERE c.room_id = q.room_id) - sum(t.n) AS BIGINT) AS unread FROM"                        \
    " (SELECT CAST(v AS BIGINT) AS uid, 1 AS m, 0 AS n"                                         \
    " FROM json_array_elements_text(CAST(q.ids AS json)) AS v"                                  \
    " UNION ALL SELECT p.user_id, 1, 0 FROM participants p WHERE p.room_id = q.room_id"         \
    " AND q.flag = 1"                                                                           \
    " UNION ALL SELECT c.sender_id, 0, c.n FROM room_live_counts c WHERE c.room_id = q.room_id" \
    " UNION ALL SELECT c.user_id, 0, c.n FROM room_read_counts c WHERE c.room_id = q.room_id)"  \
    " AS t GROUP BY t.uid HAVING max(t.m) = 1) AS x ORDER BY 1, 2"

/*
 * The first step (ch_st_append_pg_steps[0]) for a round's appends: the
 * same columns, the same lock on each room; the new ids are taken in the
 * appends' order, as one statement each would take them.  $1's elements:
 * room, sender, client_msg_id.
 */
#define APPEND_FIRST_GROUP                                                                      \
    GROUP_ROWS("CAST(j.e ->> 0 AS BIGINT) AS room_id, CAST(j.e ->> 1 AS BIGINT) AS sender_id,"  \
               " j.e ->> 2 AS cmid")                                                            \
    " SELECT s.k AS _i, s.key, nextval('messages_id_seq') AS new_id, s.member, s.dup FROM"      \
    " (SELECT q.k, r.key, (SELECT 1 FROM participants p WHERE p.room_id = q.room_id"            \
    " AND p.user_id = q.sender_id FOR SHARE) AS member, (SELECT 1 FROM messages m"              \
    " WHERE m.room_id = q.room_id AND m.sender_id = q.sender_id AND m.client_msg_id = q.cmid)"  \
    " AS dup FROM q JOIN rooms r ON r.id = q.room_id ORDER BY q.k OFFSET 0 FOR KEY SHARE OF r)" \
    " AS s ORDER BY 1"

/*
 * The insert (ch_st_append_pg_steps[1]) for a round's appends: the rows
 * in one INSERT; a room's streamed new messages take its next positions
 * in the appends' order (one UPDATE per room, by their number), as one
 * statement each would.  A message found is a duplicate, whether it was
 * there before (messages) or inserted by an earlier append of the same
 * statement (ins: the statement cannot see its own rows in the table),
 * as after that append's own statement.  $1's elements: as
 * bind_append_pg's.
 */
#define APPEND_INSERT_GROUP                                                                     \
    GROUP_ROWS("CAST(j.e ->> 0 AS BIGINT) AS id, CAST(j.e ->> 1 AS BIGINT) AS room_id,"         \
               " CAST(j.e ->> 2 AS BIGINT) AS sender_id, CAST(j.e ->> 3 AS INTEGER) AS key_id," \
               " j.e ->> 4 AS nonce, j.e ->> 5 AS content, CAST(j.e ->> 6 AS BIGINT) AS at,"    \
               " j.e ->> 7 AS cmid, j.e ->> 8 AS extra, CAST(j.e ->> 9 AS boolean) AS stream")  \
    ", ins AS (INSERT INTO messages (id, room_id, sender_id, key_id, nonce, content,"           \
    " created_at, is_deleted, client_msg_id, extra) SELECT q.id, q.room_id, q.sender_id,"       \
    " q.key_id, q.nonce, q.content, q.at, 0, q.cmid, q.extra FROM q ORDER BY q.k"               \
    " ON CONFLICT (room_id, sender_id, client_msg_id) DO NOTHING RETURNING id, created_at),"    \
    " s AS (SELECT q.k, q.room_id, row_number() OVER w AS nth, count(*) OVER w AS cnt"          \
    " FROM q JOIN ins ON ins.id = q.id WHERE q.stream WINDOW w AS (PARTITION BY q.room_id"      \
    " ORDER BY q.k ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)),"                 \
    " pos AS (UPDATE rooms r SET stream_pos = r.stream_pos + c.cnt FROM (SELECT DISTINCT"       \
    " s.room_id, s.cnt FROM s) AS c WHERE r.id = c.room_id RETURNING r.id, r.stream_pos,"       \
    " r.key)"                                                                                   \
    " SELECT q.k AS _i, ins.id, ins.created_at, 0 AS duplicate,"                                \
    " pos.stream_pos - s.cnt + s.nth AS pos, pos.key AS key,"                                   \
    " CASE WHEN pos.key IS NOT NULL THEN " CH_ST_EPOCH_SQL " END AS epoch"                      \
    " FROM q JOIN ins ON ins.id = q.id LEFT JOIN s ON s.k = q.k LEFT JOIN pos"                  \
    " ON pos.id = s.room_id UNION ALL SELECT q.k, m.id, m.created_at, 1, NULL, NULL, NULL"      \
    " FROM q JOIN messages m ON m.room_id = q.room_id AND m.sender_id = q.sender_id"            \
    " AND m.client_msg_id = q.cmid WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = q.id)"    \
    " UNION ALL SELECT q.k, ins.id, ins.created_at, 1, NULL, NULL, NULL FROM q JOIN q AS o"     \
    " ON o.room_id = q.room_id AND o.sender_id = q.sender_id AND o.cmid = q.cmid AND o.k < q.k" \
    " JOIN ins ON ins.id = o.id WHERE NOT EXISTS (SELECT 1 FROM ins AS i WHERE i.id = q.id)"    \
    " ORDER BY 1"

/* The stream's event row alone (ch_st_append_pg_steps[4], the first of
 * CH_ST_STREAM_EVENT_STEPS: an append that leaves its counts to a later
 * one, or asks none) for a round's appends: one INSERT, no rows.  $1's
 * elements: as ch_st_stream_bind_event's (room, position, kind, key_id,
 * nonce, body, time). */
#define APPEND_EVENT_GROUP                                                          \
    "INSERT INTO room_events (room_id, pos, kind, key_id, nonce, body, created_at)" \
    " SELECT CAST(j.e ->> 0 AS BIGINT), CAST(j.e ->> 1 AS BIGINT), j.e ->> 2,"      \
    " CAST(j.e ->> 3 AS INTEGER), j.e ->> 4, j.e ->> 5, CAST(j.e ->> 6 AS BIGINT)"  \
    " FROM jsonb_array_elements(CAST($1 AS jsonb)) WITH ORDINALITY AS j(e, i) ORDER BY j.i"

const ch_st_group ch_st_pg_groups[] = {
    {&ch_st_append_pg_steps[0], APPEND_FIRST_GROUP},
    {&ch_st_append_pg_steps[1], APPEND_INSERT_GROUP},
    {&ch_st_append_pg_steps[2], APPEND_UNREAD_EVENT_GROUP},
    {&ch_st_append_pg_steps[4], APPEND_EVENT_GROUP},
    {NULL, NULL},
};
