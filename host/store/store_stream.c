/*
 * store_stream.c -- a room's stream of changes and the store's epoch.
 * It owns:
 *
 *   - the schema's version 8: store_meta (the epoch, a random id made
 *     with the database and anew by stream.new_epoch, which `chanhost
 *     import` calls), rooms.stream_pos (a room's last position) and
 *     room_events (room_id, pos, kind, the body sealed as message content
 *     is, created_at);
 *   - the steps that every streamed operation ends with
 *     (CH_ST_STREAM_STEPS, store_impl.h): with "stream": true, a change
 *     that changed something (a new message, an edit, a delete, receipts
 *     made, a participant added or removed) takes the room's next
 *     position and writes its event in the change's own transaction, and
 *     its result gets "pos" and "epoch";
 *   - the operations stream.read (the events after a position, or why the
 *     caller must reload) and stream.new_epoch.
 *
 * The host knows no chat type: an event is the operation's name and what
 * it changed, in the store's shapes; what a client sees of it is the
 * calling plugin's business.
 */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define ID_MAX INT64_MAX
#define KEEP_DEFAULT 10000    /* events a room keeps, unless stream_keep says */
#define KEEP_MAX 10000000     /* the largest stream_keep */
#define TRIM_EVERY 64         /* a room's old events go at every 64th position */
#define EXTRA_MAX (16 * 1024) /* stream_extra's JSON text at most */
#define READ_LIMIT 500        /* stream.read's default and largest page */
#define EPOCH_SQL CH_ST_EPOCH_SQL

/* ---- schema version 8 ------------------------------------------------------ */

#define EVENTS_TABLE(big)                                                   \
    "CREATE TABLE room_events (\n"                                          \
    "  room_id " big " NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,\n" \
    "  pos " big " NOT NULL,\n"                                             \
    "  kind TEXT NOT NULL,\n"                                               \
    "  key_id INTEGER NOT NULL,\n"                                          \
    "  nonce TEXT NOT NULL,\n"                                              \
    "  body TEXT NOT NULL,\n"                                               \
    "  created_at BIGINT NOT NULL,\n"                                       \
    "  PRIMARY KEY (room_id, pos))"

const char ch_st_stream_sqlite_v8[] =
    "CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "INSERT INTO store_meta (name, value) VALUES ('epoch', lower(hex(randomblob(8))));\n"
    "ALTER TABLE rooms ADD COLUMN stream_pos INTEGER NOT NULL DEFAULT 0;\n" EVENTS_TABLE("INTEGER");

const char ch_st_stream_pg_v8[] =
    "CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "INSERT INTO store_meta (name, value) VALUES ('epoch',"
    " substr(md5(random()::text || clock_timestamp()::text), 1, 16));\n"
    "ALTER TABLE rooms ADD COLUMN stream_pos BIGINT NOT NULL DEFAULT 0;\n" EVENTS_TABLE("BIGINT");

/* ---- the steps of a streamed change ------------------------------------------ */

/* Check the stream parameters every streamed operation takes: stream?
 * (false), stream_extra? (an object of at most 16 KiB, stored in the
 * event as "extra"), stream_keep? (1..10,000,000; 10,000: the events the
 * room keeps).  0, or CH_STORE_EINVAL with req->error set. */
int ch_st_stream_prep(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"stream", 'b', 0, 0, 0},
                                    {"stream_extra", 'o', 0, 0, 0},
                                    {"stream_keep", 'i', 0, 1, KEEP_MAX},
                                    {NULL, 0, 0, 0, 0}};
    json_t *extra;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    extra = json_object_get(req->params, "stream_extra");
    if (json_is_object(extra) && json_dumpb(extra, NULL, 0, JSON_COMPACT) > EXTRA_MAX)
        return ch_store_fail(req, CH_STORE_EINVAL, "stream_extra: larger than 16 KiB");
    ch_st_default(req, "stream_keep", json_integer(KEEP_DEFAULT));
    return 0;
}

/* A streamed operation's last own step is done: its stream steps follow
 * when the caller asked and something changed. */
int ch_st_stream_next(ch_store_req *req, int changed)
{
    return changed && json_is_true(json_object_get(req->params, "stream")) ? CH_STEP_NEXT
                                                                           : CH_STEP_DONE;
}

/* The room of the change: the parameter, or what the operation found
 * (ctx "room_id": an edit names only its message). */
static json_int_t stream_room(ch_store_req *req)
{
    json_t *v = json_object_get(req->params, "room_id");

    if (!json_is_integer(v))
        v = json_object_get(req->ctx, "room_id");
    return json_integer_value(v);
}

json_t *ch_st_stream_bind_room(ch_store_req *req) { return json_pack("[I]", stream_room(req)); }

/* The event's body (new object): what the operation changed, in the
 * store's shapes, and the caller's stream_extra as "extra".  Not for
 * message.append, whose text append_body_text writes directly. */
static json_t *stream_body(ch_store_req *req)
{
    const char *op = req->op->name;
    json_t *p = req->params, *r = req->result, *body = json_object();

    if (strncmp(op, "message.", 8) == 0) {
        json_object_set(body, "message", json_object_get(r, "message"));
    } else if (strncmp(op, "read.", 5) == 0) {
        json_object_set(body, "user_id", json_object_get(p, "user_id"));
        json_object_set(body, "marked", json_object_get(r, "marked"));
    } else {
        json_object_set(body, "user_id", json_object_get(p, "user_id"));
    }
    if (json_is_object(json_object_get(p, "stream_extra")))
        json_object_set(body, "extra", json_object_get(p, "stream_extra"));
    return body;
}

/* Append the key "name": to b, after sep (",", "{", or "" for the first):
 * literals only (their length is known at compile time). */
#define TEXT_KEY(b, sep, name) CH_ST_TEXT_LIT((b), sep "\"" name "\":")

/* Append ,"name":v to b (an integer in decimal, as jansson writes it). */
#define TEXT_INT(b, name, v) (TEXT_KEY((b), ",", name), ch_st_text_int((b), (v)))

/* message.append's event text (new malloc'd, the caller frees it; NULL
 * when out of memory): the same text as stream_body's object dumped with
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS), written directly (keys in
 * that order) instead of through an object made and encoded per append.
 * The message's extra is the compact, sorted text prepare left in ctx
 * "extra" when there is one.  With by_ref (no stream_extra: see
 * ch_st_stream_seal) the content is null in its place and the text starts
 * with "c": the message's own sealed content (ctx "sealed", base64: no
 * escapes), which event_json opens and puts back. */
static char *append_body_text(ch_store_req *req, int by_ref)
{
    json_t *p = req->params, *r = req->result, *ex = json_object_get(req->ctx, "extra");
    json_t *sx = json_object_get(p, "stream_extra"), *sealed = json_object_get(req->ctx, "sealed");
    json_t *content = json_object_get(p, "content");
    ch_st_text b = {0};

    CH_ST_TEXT_LIT(&b, "{");
    if (by_ref) {
        TEXT_KEY(&b, "", "c");
        ch_st_text_str(&b, json_string_value(sealed), json_string_length(sealed));
        CH_ST_TEXT_LIT(&b, ",");
    } else if (json_is_object(sx)) {
        TEXT_KEY(&b, "", "extra");
        ch_st_text_json(&b, sx);
        CH_ST_TEXT_LIT(&b, ",");
    }
    TEXT_KEY(&b, "", "message");
    TEXT_KEY(&b, "{", "client_msg_id");
    ch_st_text_json(&b, json_object_get(r, "client_msg_id"));
    TEXT_KEY(&b, ",", "content");
    if (by_ref)
        CH_ST_TEXT_LIT(&b, "null");
    else
        ch_st_text_str(&b, json_string_value(content), json_string_length(content));
    TEXT_INT(&b, "created_at", json_integer_value(json_object_get(r, "created_at")));
    TEXT_KEY(&b, ",", "edited_at");
    CH_ST_TEXT_LIT(&b, "null");
    TEXT_KEY(&b, ",", "extra");
    if (json_is_string(ex))
        ch_st_text_put(&b, json_string_value(ex), json_string_length(ex));
    else if (json_is_object(json_object_get(p, "extra")))
        ch_st_text_json(&b, json_object_get(p, "extra"));
    else
        CH_ST_TEXT_LIT(&b, "null");
    TEXT_INT(&b, "id", json_integer_value(json_object_get(r, "id")));
    TEXT_KEY(&b, ",", "is_deleted");
    CH_ST_TEXT_LIT(&b, "false,\"read_by\":[]");
    TEXT_INT(&b, "room_id", stream_room(req));
    TEXT_KEY(&b, ",", "sender_id");
    ch_st_text_json(&b, json_object_get(p, "sender_id"));
    CH_ST_TEXT_LIT(&b, "}}");
    if (b.failed || (by_ref ? !json_is_string(sealed) : !json_is_string(content))) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* The sealed data of an event: its room's key prefixed, so that a body
 * never opens as a message's content (nor in another room). */
static void stream_aad(char *buf, size_t n, const char *room_key)
{
    snprintf(buf, n, "stream:%s", room_key);
}

/* The room's new position (the row: pos, key, epoch): seal the event's
 * body for it into ctx (key_id, nonce, sealed; "ev_pos", "ev_epoch"). */
int ch_st_stream_rows_pos(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    return ch_st_stream_seal(req, ch_st_str(row, "key"), ch_st_int(row, "pos"),
                             ch_st_str(row, "epoch"));
}

/*
 * A new message's event holds no second seal of the message: its body is
 * the message's own sealed content (the ciphertext of its row, associated
 * data the room's key and the message's id), its key_id and nonce those
 * of the row, and the message's other fields in clear, as its row in
 * messages holds them (append_body_text's by_ref text; it starts with "{",
 * which base64 never does).  One AES-GCM seal per append instead of two,
 * and no content escaped into JSON on the engine's thread (2.6 of the
 * worker's ~75 us per append at 8,000 a second here, docs/performance.md
 * part 10).  An append with stream_extra (the caller's own data, which
 * messages does not hold) is sealed whole, as every other event is.
 *
 * So: the event's body for (key, pos), sealed into ctx ("key_id",
 * "nonce", "sealed") or by reference; either way ctx "ev_body" is the
 * body column's text.
 */
static int stream_body_put(ch_store_req *req, const char *key, int64_t pos)
{
    json_t *body;
    char aad[256], *text;
    int append = strcmp(req->op->name, "message.append") == 0, rc = 0;
    int by_ref = append && !json_is_object(json_object_get(req->params, "stream_extra"));

    if (append) {
        text = append_body_text(req, by_ref);
    } else {
        body = stream_body(req);
        text = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(body);
    }
    if (!text)
        return ch_store_fail(req, CH_STORE_EIO, "out of memory");
    if (by_ref) {
        json_object_set_new_nocheck(req->ctx, "ev_body", json_stringn_nocheck(text, strlen(text)));
    } else {
        stream_aad(aad, sizeof aad, key);
        if ((rc = ch_st_seal(req, aad, pos, text, strlen(text))) == 0)
            json_object_set_nocheck(req->ctx, "ev_body", json_object_get(req->ctx, "sealed"));
    }
    free(text);
    return rc;
}

/* See store_impl.h: the body's text for (key, pos) into ctx. */
int ch_st_stream_seal(ch_store_req *req, const char *key, int64_t pos, const char *epoch)
{
    if (stream_body_put(req, key, pos) != 0)
        return req->status;
    json_object_set_new_nocheck(req->ctx, "ev_room", json_integer(stream_room(req)));
    json_object_set_new_nocheck(req->ctx, "ev_pos", json_integer(pos));
    json_object_set_new_nocheck(req->ctx, "ev_kind", json_string(req->op->name));
    json_object_set_new_nocheck(req->ctx, "ev_epoch", json_string(epoch));
    return CH_STEP_NEXT;
}

/* The event row's parameters (new array). */
json_t *ch_st_stream_bind_event(ch_store_req *req)
{
    static const char *const names[] = {"@ev_room", "@ev_pos",  "@ev_kind", "@key_id",
                                        "@nonce",   "@ev_body", "now",      NULL};

    return ch_st_bind_list(req, names);
}

/* The typed path's event row (store_impl.h): ch_st_stream_bind_event's
 * values, the kind borrowed from the op's name. */
int ch_st_stream_args_event(ch_store_req *req, ch_st_val *args)
{
    json_t *c = req->ctx;

    args[0] = ch_st_vj(json_object_get(c, "ev_room"));
    args[1] = ch_st_vj(json_object_get(c, "ev_pos"));
    args[2] = ch_st_vt(req->op->name, strlen(req->op->name));
    args[3] = ch_st_vj(json_object_get(c, "key_id"));
    args[4] = ch_st_vj(json_object_get(c, "nonce"));
    args[5] = ch_st_vj(json_object_get(c, "ev_body"));
    args[6] = ch_st_vi(req->now_ms);
    return 7;
}

/* The typed path's trim: the room and the last position that goes. */
int ch_st_stream_args_trim(ch_store_req *req, ch_st_val *args)
{
    args[0] = ch_st_vj(json_object_get(req->ctx, "ev_room"));
    args[1] = ch_st_vj(json_object_get(req->ctx, "ev_trim"));
    return 2;
}

/* The typed path's end of the event row: as ch_st_stream_rows_event. */
int ch_st_stream_row_event(ch_store_req *req, const ch_st_val *cols, size_t n)
{
    (void)n;
    return cols ? 0 : ch_st_stream_rows_event(req, NULL);
}

/* The event is written: the result gets pos and epoch; every
 * TRIM_EVERY-th position the room's events older than stream_keep go. */
int ch_st_stream_rows_event(ch_store_req *req, json_t *rows)
{
    json_int_t pos = json_integer_value(json_object_get(req->ctx, "ev_pos"));
    json_int_t keep = json_integer_value(json_object_get(req->params, "stream_keep"));

    (void)rows;
    if (!req->result)
        req->result = json_object();
    json_object_set_new_nocheck(req->result, "pos", json_integer(pos));
    json_object_set_nocheck(req->result, "epoch", json_object_get(req->ctx, "ev_epoch"));
    if (pos % TRIM_EVERY != 0 || pos <= keep)
        return CH_STEP_DONE;
    json_object_set_new_nocheck(req->ctx, "ev_trim", json_integer(pos - keep));
    return CH_STEP_NEXT;
}

/* The trim's parameters: the room and the last position that goes. */
json_t *ch_st_stream_bind_trim(ch_store_req *req)
{
    static const char *const names[] = {"@ev_room", "@ev_trim", NULL};

    return ch_st_bind_list(req, names);
}

/* ---- stream.read -------------------------------------------------------------- */

/* stream.read {room_id, after_pos (0..), epoch?, limit? (1..500, 500)}:
 * the room's events after after_pos, oldest first. */
static int prep_read(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"room_id", 'i', 1, 1, ID_MAX},
                                    {"after_pos", 'i', 1, 0, ID_MAX - 1},
                                    {"epoch", 's', 0, 1, 64},
                                    {"limit", 'i', 0, 1, READ_LIMIT},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "limit", json_integer(READ_LIMIT));
    return 0;
}

CH_ST_BIND(bind_read_room, "room_id")
CH_ST_BIND(bind_read_events, "room_id", "after_pos", "limit")

/* The result when the caller cannot resume: {"epoch", "pos", "reset":
 * why, "events": []}. */
static int read_reset(ch_store_req *req, const char *why)
{
    json_object_set_new(req->result, "reset", json_string(why));
    json_object_set_new(req->result, "events", json_array());
    json_object_set_new(req->result, "more", json_false());
    return CH_STEP_DONE;
}

/* The room (key, pos, epoch): another epoch, or a position the room never
 * had, ends the read with "reset": "epoch". */
static int rows_read_room(ch_store_req *req, json_t *rows)
{
    json_t *row = json_array_get(rows, 0);
    const char *want = json_string_value(json_object_get(req->params, "epoch"));
    json_int_t after = json_integer_value(json_object_get(req->params, "after_pos"));

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    req->result = json_pack("{s:s, s:I, s:n}", "epoch", ch_st_str(row, "epoch"), "pos",
                            (json_int_t)ch_st_int(row, "pos"), "reset");
    json_object_set_new(req->ctx, "room_key", json_string(ch_st_str(row, "key")));
    if ((want && strcmp(want, ch_st_str(row, "epoch")) != 0) || after > ch_st_int(row, "pos"))
        return read_reset(req, "epoch");
    if (after == ch_st_int(row, "pos")) {
        json_object_set_new(req->result, "events", json_array());
        json_object_set_new(req->result, "more", json_false());
        return CH_STEP_DONE;
    }
    return CH_STEP_NEXT;
}

/* A new message's event by reference (stream_body_put): body (new, the
 * text parsed) gets its content back, the message's sealed "c" opened
 * for (room_key, the message's id) with the row's key_id and nonce, and
 * loses "c", so that it is what a sealed one holds.  0, or -1 (the caller
 * fails the read: tampered, moved, another message's content). */
static int event_ref_open(ch_store_req *req, const json_t *row, json_t *body, const char *room_key)
{
    json_t *msg = json_object_get(body, "message"), *text;
    char *plain = NULL;
    size_t len = 0;

    if (!json_is_object(msg) || !json_is_string(json_object_get(body, "c")) ||
        ch_open(req->keys, (int)ch_st_int(row, "key_id"), room_key,
                json_integer_value(json_object_get(msg, "id")), ch_st_str(row, "nonce"),
                json_string_value(json_object_get(body, "c")), &plain, &len) != 0)
        return -1;
    text = json_stringn(plain, len); /* NULL: not UTF-8 */
    free(plain);
    if (!text || json_object_set_new(msg, "content", text) != 0)
        return -1;
    return json_object_del(body, "c");
}

/* One event row opened: {"pos", "kind", "at", "body"} (new), or NULL
 * after failing req with EIO.  aad: the sealed bodies' ("stream:" and
 * the room's key); room_key: the message's content's, for a body by
 * reference (event_ref_open). */
static json_t *event_json(ch_store_req *req, const json_t *row, const char *aad,
                          const char *room_key)
{
    char *plain = NULL;
    size_t len = 0;
    json_t *body;
    int64_t pos = ch_st_int(row, "pos");
    const char *text = ch_st_str(row, "body");

    if (text && text[0] == '{') {
        body = json_loads(text, 0, NULL);
        if (!json_is_object(body) || event_ref_open(req, row, body, room_key) != 0) {
            json_decref(body);
            ch_store_fail(req, CH_STORE_EIO,
                          "event %lld cannot be opened (wrong key, tampered or moved)",
                          (long long)pos);
            return NULL;
        }
    } else {
        if (ch_open(req->keys, (int)ch_st_int(row, "key_id"), aad, pos, ch_st_str(row, "nonce"),
                    text, &plain, &len) != 0) {
            ch_store_fail(req, CH_STORE_EIO, "event %lld cannot be opened (wrong key or tampered)",
                          (long long)pos);
            return NULL;
        }
        body = json_loadb(plain, len, 0, NULL);
        free(plain);
    }
    if (!json_is_object(body)) {
        json_decref(body);
        ch_store_fail(req, CH_STORE_EIO, "event %lld is not an object", (long long)pos);
        return NULL;
    }
    return json_pack("{s:I, s:s, s:I, s:o}", "pos", (json_int_t)pos, "kind", ch_st_str(row, "kind"),
                     "at", (json_int_t)ch_st_int(row, "created_at"), "body", body);
}

/* The events after after_pos: the first must be the next position, or
 * the ones between were trimmed ("reset": "retention"). */
static int rows_read_events(ch_store_req *req, json_t *rows)
{
    json_int_t after = json_integer_value(json_object_get(req->params, "after_pos"));
    const json_t *first = json_array_get(rows, 0), *row;
    json_t *events = json_array(), *ev;
    const char *room_key;
    char aad[256];
    size_t i;

    if (!first || ch_st_int(first, "pos") != after + 1) {
        json_decref(events);
        return read_reset(req, "retention");
    }
    room_key = json_string_value(json_object_get(req->ctx, "room_key"));
    stream_aad(aad, sizeof aad, room_key);
    json_array_foreach(rows, i, row)
    {
        if (!(ev = event_json(req, row, aad, room_key))) {
            json_decref(events);
            return req->status;
        }
        json_array_append_new(events, ev);
    }
    json_object_set_new(req->result, "events", events);
    json_object_set_new(req->result, "more",
                        json_boolean(ch_st_int(json_array_get(rows, i - 1), "pos") <
                                     json_integer_value(json_object_get(req->result, "pos"))));
    return CH_STEP_DONE;
}

static const ch_store_step read_steps[] = {
    {"SELECT key, stream_pos AS pos, " EPOCH_SQL " AS epoch FROM rooms WHERE id = $1",
     bind_read_room, rows_read_room},
    {"SELECT pos, kind, key_id, nonce, body, created_at FROM room_events"
     " WHERE room_id = $1 AND pos > $2 ORDER BY pos LIMIT $3",
     bind_read_events, rows_read_events},
};

/* ---- stream.new_epoch ------------------------------------------------------------ */

/* stream.new_epoch {}: a new random epoch (16 hex digits) in ctx. */
static int prep_new_epoch(ch_store_req *req)
{
    unsigned char rnd[8];
    char hex[17];

    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return ch_store_fail(req, CH_STORE_EINVAL, "no randomness for an epoch");
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    json_object_set_new(req->ctx, "epoch", json_string(hex));
    return 0;
}

CH_ST_BIND(bind_new_epoch, "@epoch")

/* {"epoch"}: the one now recorded. */
static int rows_new_epoch(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_EIO, "the store has no epoch row");
    req->result = json_pack("{s:s}", "epoch", ch_st_str(json_array_get(rows, 0), "value"));
    return CH_STEP_DONE;
}

static const ch_store_step new_epoch_steps[] = {
    {"UPDATE store_meta SET value = $1 WHERE name = 'epoch' RETURNING value", bind_new_epoch,
     rows_new_epoch},
};

static const ch_store_op stream_ops[] = {
    CH_ST_OP("stream.read", 0, prep_read, read_steps),
    CH_ST_OP("stream.new_epoch", 1, prep_new_epoch, new_epoch_steps),
};

/* Looked up by ch_store_host_op (store_ops.c). */
const ch_store_op *ch_st_stream_op(const char *name)
{
    return ch_st_find(stream_ops, CH_ST_N(stream_ops), name);
}
