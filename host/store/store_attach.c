/*
 * store_attach.c -- the message store's files uploaded to a room
 * (migration 9's attachments and attachment_chunks), looked up through
 * ch_st_attach_op:
 *
 *   attachment.create {room_id, uploader_id, name, type}   -> {"id"}
 *       A new, empty upload by a participant of the room (EPERM if the
 *       uploader is not one).  The same transaction drops the uploads
 *       never attached to a message and older than CH_ST_ATTACH_TTL_MS.
 *   attachment.sweep {ttl_ms?}   -> {"deleted": n}
 *       Only that drop (ttl_ms: their age, default CH_ST_ATTACH_TTL_MS;
 *       ch_store_sweep_every's timer).
 *   attachment.write {id, seq, data}   -> {"written": true}
 *       Chunk seq (0, 1, ...) of the upload: data is the plain bytes in
 *       base64 (at most CH_ST_ATTACH_CHUNK bytes), sealed here with the
 *       store's current key (AES-256-GCM, associated data
 *       "attachment:<id>" and seq: a chunk copied to another place fails
 *       to open) and stored as base64 text.
 *   attachment.finish {id, size}   -> {"attachment": {...}}
 *       The upload is complete (size bytes): downloadable from now on.
 *   attachment.get {id, user_id}   -> {"attachment": {...}, "member": bool}
 *       A complete upload (ENOENT otherwise) and whether user_id takes
 *       part in its room.
 *   attachment.read {id, seq}   -> {"data": base64}
 *       Chunk seq opened (EIO when it cannot be).
 *   attachment.list {ids, room_id, uploader_id}   -> {"attachments": [...]}
 *       Of ids, the complete uploads of that uploader in that room not
 *       attached to a message yet (a message's candidates).
 *   attachment.link {message_id, ids, room_id, uploader_id}   -> {"linked": n}
 *       Attach those of ids that attachment.list would give to the message.
 *   attachment.purge {message_id}   -> {"deleted": n}
 *       Delete the uploads attached to a message (with its deletion).
 *   export.attachments {after_id?, limit?}   -> {"attachments": [...]}
 *       The complete uploads by id, a page at a time (`chanhost export`;
 *       their chunks through attachment.read).
 *   attachment.import {id, room_id, uploader_id, name, media_type, size,
 *       created_at, message_id?}   -> {"imported": bool}
 *       A complete upload with its id (false: the id exists; ENOENT: no
 *       such room); its chunks then through attachment.write, which skips
 *       a chunk already there ("imported": false).
 *
 * An attachment's JSON: {"id", "room_id", "uploader_id", "name", "type",
 * "size", "created_at", "message_id"}.  The SQL is the same on both
 * engines; the chunks live in the database, so every host on a
 * PostgreSQL store serves them, unless the store has an attachment
 * folder: then store_files.c takes attachment.write and .read, and the
 * operations that delete uploads leave their ids in ctx "gone", whose
 * folders store_files.c removes before the call is answered.
 */
#include "store_attach.h"
#include "store_impl.h"

#include "b64.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ID_MAX INT64_MAX

/* Migration 9 (store_schema.c lists it): uploads and their sealed
 * chunks.  SQLite's INTEGER PRIMARY KEY and PostgreSQL's BIGSERIAL
 * allocate the ids. */
#define ATTACH_TABLES(idtype)                                              \
    "CREATE TABLE attachments (\n"                                         \
    "  id " idtype " PRIMARY KEY,\n"                                       \
    "  room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,\n" \
    "  uploader_id BIGINT NOT NULL,\n"                                     \
    "  name TEXT NOT NULL,\n"                                              \
    "  type TEXT NOT NULL,\n"                                              \
    "  size BIGINT NOT NULL DEFAULT 0,\n"                                  \
    "  complete SMALLINT NOT NULL DEFAULT 0,\n"                            \
    "  created_at BIGINT NOT NULL,\n"                                      \
    "  message_id BIGINT);\n"                                              \
    "CREATE INDEX attachments_message ON attachments (message_id);\n"      \
    "CREATE INDEX attachments_loose ON attachments (created_at)"           \
    " WHERE message_id IS NULL;\n"                                         \
    "CREATE TABLE attachment_chunks (\n"                                   \
    "  attachment_id BIGINT NOT NULL REFERENCES attachments (id)"          \
    " ON DELETE CASCADE,\n"                                                \
    "  seq INTEGER NOT NULL,\n"                                            \
    "  key_id INTEGER NOT NULL,\n"                                         \
    "  nonce TEXT NOT NULL,\n"                                             \
    "  data TEXT NOT NULL,\n"                                              \
    "  PRIMARY KEY (attachment_id, seq))"
const char ch_st_attach_sqlite_v9[] = ATTACH_TABLES("INTEGER");
const char ch_st_attach_pg_v9[] = ATTACH_TABLES("BIGSERIAL");

#define ATTACH_COLS "id, room_id, uploader_id, name, type, size, created_at, message_id"

/* The public JSON of an attachments row (new reference). */
static json_t *attach_json(const json_t *row)
{
    json_t *mid = json_object_get(row, "message_id");

    return json_pack("{s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:O}", "id",
                     (json_int_t)ch_st_int(row, "id"), "room_id",
                     (json_int_t)ch_st_int(row, "room_id"), "uploader_id",
                     (json_int_t)ch_st_int(row, "uploader_id"), "name", ch_st_str(row, "name"),
                     "type", ch_st_str(row, "type"), "size", (json_int_t)ch_st_int(row, "size"),
                     "created_at", (json_int_t)ch_st_int(row, "created_at"), "message_id",
                     json_is_integer(mid) ? mid : json_null());
}

void ch_st_chunk_place(char out[40], int64_t id)
{
    snprintf(out, 40, "attachment:%lld", (long long)id);
}

/* ---- attachment.create ----------------------------------------------- */

/* Check the parameters; ctx "stale": the creation time before which
 * unattached uploads go. */
static int prep_create(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"uploader_id", 'i', 1, 1, ID_MAX},
                                    {"name", 's', 1, 1, 255},
                                    {"type", 's', 1, 1, 127},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    json_object_set_new(req->ctx, "stale", json_integer(req->now_ms - CH_ST_ATTACH_TTL_MS));
    return 0;
}

CH_ST_BIND(bind_stale, "@stale")
CH_ST_BIND(bind_member, "room_id", "uploader_id")
CH_ST_BIND(bind_create, "room_id", "uploader_id", "name", "type", "now")

/* The uploader must take part in the room. */
static int rows_member(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_EPERM, "not a participant of the room");
    return CH_STEP_NEXT;
}

/* The new upload's id. */
static int rows_created(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:I}", "id", (json_int_t)ch_st_int(json_array_get(rows, 0), "id"));
    return CH_STEP_DONE;
}

int ch_st_rows_gone(ch_store_req *req, json_t *rows)
{
    json_object_set_new(req->ctx, "gone", ch_st_ids_of(rows, "id"));
    return CH_STEP_NEXT;
}

/* The uploads dropped: ctx "gone" and {"deleted": n}. */
static int rows_swept(ch_store_req *req, json_t *rows)
{
    ch_st_rows_gone(req, rows);
    req->result = json_pack("{s:I}", "deleted", (json_int_t)json_array_size(rows));
    return CH_STEP_DONE;
}

/* Deleting the stale unattached uploads, then hook (ch_st_rows_gone: go
 * on). */
#define STALE_STEPS(hook)                                                                    \
    {"DELETE FROM attachment_chunks WHERE attachment_id IN (SELECT id FROM attachments"      \
     " WHERE message_id IS NULL AND created_at < $1)",                                       \
     bind_stale, NULL},                                                                      \
    {                                                                                        \
        "DELETE FROM attachments WHERE message_id IS NULL AND created_at < $1 RETURNING id", \
            bind_stale, hook                                                                 \
    }

static const ch_store_step create_steps[] = {
    STALE_STEPS(ch_st_rows_gone),
    {"SELECT user_id FROM participants WHERE room_id = $1 AND user_id = $2", bind_member,
     rows_member},
    {"INSERT INTO attachments (room_id, uploader_id, name, type, created_at)"
     " VALUES ($1, $2, $3, $4, $5) RETURNING id",
     bind_create, rows_created},
};

/* {ttl_ms? (CH_ST_ATTACH_TTL_MS)}; ctx "stale" as for create. */
static int prep_sweep(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"ttl_ms", 'i', 0, 0, ID_MAX}, {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "ttl_ms", json_integer(CH_ST_ATTACH_TTL_MS));
    json_object_set_new(req->ctx, "stale",
                        json_integer(req->now_ms -
                                     json_integer_value(json_object_get(req->params, "ttl_ms"))));
    return 0;
}

static const ch_store_step sweep_steps[] = {STALE_STEPS(rows_swept)};

/* ---- attachment.write ------------------------------------------------ */

/* Check the parameters: data is base64 of at most CH_ST_ATTACH_CHUNK
 * bytes. */
static int prep_write(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"seq", 'i', 1, 0, INT32_MAX},
                                    {"data", 'B', 1, 0, CH_B64_ENCODED_SIZE(CH_ST_ATTACH_CHUNK)},
                                    {NULL, 0, 0, 0, 0}};
    const char *d;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    d = json_string_value(json_object_get(req->params, "data"));
    if (ch_b64_decoded_len(d, strlen(d), CH_B64_STD) < 0)
        return ch_store_fail(req, CH_STORE_EINVAL, "data: not base64");
    return 0;
}

/* Seal the chunk: (id, seq, key_id, nonce, sealed). */
static json_t *bind_write(ch_store_req *req)
{
    const char *d = json_string_value(json_object_get(req->params, "data"));
    int64_t id = json_integer_value(json_object_get(req->params, "id"));
    json_int_t seq = json_integer_value(json_object_get(req->params, "seq"));
    char place[40], *nonce = NULL, *sealed = NULL;
    size_t len = 0;
    unsigned char *plain = ch_b64_decode(d, strlen(d), CH_B64_STD, &len);
    int key_id = 0;
    json_t *args = NULL;

    ch_st_chunk_place(place, id);
    if (plain &&
        ch_seal(req->keys, place, seq, (const char *)plain, len, &key_id, &nonce, &sealed) == 0)
        args = json_pack("[I, I, i, s, s]", (json_int_t)id, seq, key_id, nonce, sealed);
    else
        ch_store_fail(req, CH_STORE_EIO, "sealing a chunk failed");
    free(plain);
    free(nonce);
    free(sealed);
    return args;
}

/* Done ("imported": false when the chunk was there already). */
static int rows_written(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b, s:b}", "written", 1, "imported", json_array_size(rows) > 0);
    return CH_STEP_DONE;
}

static const ch_store_step write_steps[] = {
    {"INSERT INTO attachment_chunks (attachment_id, seq, key_id, nonce, data)"
     " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING seq",
     bind_write, rows_written},
};

/* ---- attachment.finish / get / read ------------------------------------ */

/* {id, size}. */
static int prep_finish(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"size", 'i', 1, 0, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_finish, "id", "size")

/* {"attachment": row}, ENOENT without one. */
static int rows_one(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such attachment");
    req->result = json_pack("{s:o}", "attachment", attach_json(row));
    if (json_object_get(row, "member"))
        json_object_set_new(req->result, "member", json_boolean(ch_st_int(row, "member") > 0));
    return CH_STEP_DONE;
}

static const ch_store_step finish_steps[] = {
    {"UPDATE attachments SET size = $2, complete = 1 WHERE id = $1 RETURNING " ATTACH_COLS,
     bind_finish, rows_one},
};

/* {id, user_id}. */
static int prep_get(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"user_id", 'i', 1, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_get, "id", "user_id")

static const ch_store_step get_steps[] = {
    {"SELECT " ATTACH_COLS ", (SELECT count(*) FROM participants p WHERE"
     " p.room_id = attachments.room_id AND p.user_id = $2) AS member"
     " FROM attachments WHERE id = $1 AND complete = 1",
     bind_get, rows_one},
};

/* {id, seq}. */
static int prep_read(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"seq", 'i', 1, 0, INT32_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_read, "id", "seq")

/* Open the chunk into {"data": base64}. */
static int rows_read(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);
    int64_t id = json_integer_value(json_object_get(req->params, "id"));
    char place[40], *plain = NULL, *b64 = NULL;
    size_t len = 0;

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such chunk");
    ch_st_chunk_place(place, id);
    if (ch_open(req->keys, (int)ch_st_int(row, "key_id"), place, ch_st_int(row, "seq"),
                ch_st_str(row, "nonce"), ch_st_str(row, "data"), &plain, &len) != 0 ||
        !(b64 = ch_b64_encode(plain, len, CH_B64_STD))) {
        free(plain);
        return ch_store_fail(req, CH_STORE_EIO, "attachment %lld: a chunk cannot be opened",
                             (long long)id);
    }
    req->result = json_pack("{s:s}", "data", b64);
    free(plain);
    free(b64);
    return CH_STEP_DONE;
}

static const ch_store_step read_steps[] = {
    {"SELECT seq, key_id, nonce, data FROM attachment_chunks WHERE attachment_id = $1"
     " AND seq = $2",
     bind_read, rows_read},
};

/* ---- attachment.list / link / purge ------------------------------------- */

/* {ids (1..32), room_id, uploader_id, message_id (link)}; ctx "ids" the
 * ids as JSON text. */
static int prep_ids(ch_store_req *req, int link)
{
    static const ch_pspec spec[] = {{"ids", 'a', 1, 1, 32},
                                    {"room_id", 'i', 1, 1, ID_MAX},
                                    {"uploader_id", 'i', 1, 1, ID_MAX},
                                    {"message_id", 'i', 0, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};
    char *text;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    if (link && !json_object_get(req->params, "message_id"))
        return ch_store_fail(req, CH_STORE_EINVAL, "message_id is required");
    text = json_dumps(json_object_get(req->params, "ids"), JSON_COMPACT);
    json_object_set_new(req->ctx, "ids", json_string(text ? text : "[]"));
    free(text);
    return 0;
}

static int prep_list(ch_store_req *req) { return prep_ids(req, 0); }
static int prep_link(ch_store_req *req) { return prep_ids(req, 1); }

CH_ST_BIND(bind_list, "room_id", "uploader_id", "@ids")
CH_ST_BIND(bind_link, "room_id", "uploader_id", "@ids", "message_id")

/* The candidates' rows, by id. */
static int rows_list(ch_store_req *req, json_t *rows)
{
    json_t *list = json_array();
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row) json_array_append_new(list, attach_json(row));
    req->result = json_pack("{s:o}", "attachments", list);
    return CH_STEP_DONE;
}

/* The uploads of $1's room by $2 among the ids of $3, unattached. */
#define LOOSE_WHERE(ids)                                                               \
    " WHERE room_id = $1 AND uploader_id = $2 AND complete = 1 AND message_id IS NULL" \
    " AND id IN (" ids ")"

static const ch_store_step list_steps[] = {
    {"SELECT " ATTACH_COLS " FROM attachments" LOOSE_WHERE(CH_ST_SQLITE_IDS("$3")) " ORDER BY id",
     bind_list, rows_list},
};
static const ch_store_step list_steps_pg[] = {
    {"SELECT " ATTACH_COLS " FROM attachments" LOOSE_WHERE(CH_ST_PG_IDS("$3")) " ORDER BY id",
     bind_list, rows_list},
};

/* The number of rows changed, as result[key]. */
static int rows_counted(ch_store_req *req, json_t *rows, const char *key)
{
    req->result = json_pack("{s:I}", key, (json_int_t)json_array_size(rows));
    return CH_STEP_DONE;
}

static int rows_linked(ch_store_req *req, json_t *rows)
{
    return rows_counted(req, rows, "linked");
}

static const ch_store_step link_steps[] = {
    {"UPDATE attachments SET message_id = $4" LOOSE_WHERE(CH_ST_SQLITE_IDS("$3")) " RETURNING id",
     bind_link, rows_linked},
};
static const ch_store_step link_steps_pg[] = {
    {"UPDATE attachments SET message_id = $4" LOOSE_WHERE(CH_ST_PG_IDS("$3")) " RETURNING id",
     bind_link, rows_linked},
};

/* {message_id}. */
static int prep_purge(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"message_id", 'i', 1, 1, ID_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_purge, "message_id")

static int rows_purged(ch_store_req *req, json_t *rows)
{
    ch_st_rows_gone(req, rows);
    return rows_counted(req, rows, "deleted");
}

static const ch_store_step purge_steps[] = {
    {"DELETE FROM attachment_chunks WHERE attachment_id IN (SELECT id FROM attachments"
     " WHERE message_id = $1)",
     bind_purge, NULL},
    {"DELETE FROM attachments WHERE message_id = $1 RETURNING id", bind_purge, rows_purged},
};

/* ---- export.attachments / attachment.import ------------------------------- */

CH_ST_BIND(bind_export, "after_id", "limit")

static const ch_store_step export_steps[] = {
    {"SELECT " ATTACH_COLS " FROM attachments WHERE complete = 1 AND id > $1 ORDER BY id LIMIT $2",
     bind_export, rows_list},
};

/* The import's parameters. */
static int prep_import(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, ID_MAX},
                                    {"room_id", 'i', 1, 1, ID_MAX},
                                    {"uploader_id", 'i', 1, 1, ID_MAX},
                                    {"name", 's', 1, 1, 255},
                                    {"media_type", 's', 1, 1, 127},
                                    {"size", 'i', 1, 0, ID_MAX},
                                    {"created_at", 'i', 1, 0, ID_MAX},
                                    {"message_id", 'i', 0, 1, ID_MAX},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_import_room, "room_id")
CH_ST_BIND(bind_import, "id", "room_id", "uploader_id", "name", "media_type", "size", "created_at",
           "message_id")

/* The room must exist. */
static int rows_import_room(ch_store_req *req, json_t *rows)
{
    return json_array_size(rows) ? CH_STEP_NEXT
                                 : ch_store_fail(req, CH_STORE_ENOENT, "no such room");
}

/* Whether the row went in. */
static int rows_imported(ch_store_req *req, json_t *rows)
{
    req->result = json_pack("{s:b}", "imported", json_array_size(rows) > 0);
    return CH_STEP_NEXT;
}

#define IMPORT_STEPS                                                                     \
    {"SELECT id FROM rooms WHERE id = $1", bind_import_room, rows_import_room},          \
    {                                                                                    \
        "INSERT INTO attachments (id, room_id, uploader_id, name, type, size, complete," \
        " created_at, message_id) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)"            \
        " ON CONFLICT DO NOTHING RETURNING id",                                          \
            bind_import, rows_imported                                                   \
    }

static const ch_store_step import_steps[] = {IMPORT_STEPS};
static const ch_store_step import_steps_pg[] = {
    IMPORT_STEPS,
    {"SELECT setval('attachments_id_seq', GREATEST((SELECT coalesce(max(id), 1) FROM"
     " attachments), (SELECT last_value FROM attachments_id_seq))) AS v",
     NULL, NULL},
};

static const ch_store_op attach_ops[] = {
    CH_ST_OP("attachment.create", 1, prep_create, create_steps),
    CH_ST_OP("attachment.sweep", 1, prep_sweep, sweep_steps),
    CH_ST_OP("attachment.write", 1, prep_write, write_steps),
    CH_ST_OP("attachment.finish", 1, prep_finish, finish_steps),
    CH_ST_OP("attachment.get", 0, prep_get, get_steps),
    CH_ST_OP("attachment.read", 0, prep_read, read_steps),
    CH_ST_OP2("attachment.list", 0, prep_list, list_steps, list_steps_pg),
    CH_ST_OP2("attachment.link", 1, prep_link, link_steps, link_steps_pg),
    CH_ST_OP("attachment.purge", 1, prep_purge, purge_steps),
    CH_ST_OP("export.attachments", 0, ch_st_prep_page, export_steps),
    CH_ST_OP2("attachment.import", 1, prep_import, import_steps, import_steps_pg),
};

const ch_store_op *ch_st_attach_op(const char *name)
{
    return ch_st_find(attach_ops, CH_ST_N(attach_ops), name);
}
