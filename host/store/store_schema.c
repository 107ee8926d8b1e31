/*
 * store_schema.c -- the message store's data model: the versioned
 * migrations (one list per engine kind, SQLite and PostgreSQL, with equal
 * version numbers: migration i brings either database to version i + 1);
 * the shapes of parameters and rows shared with store_ops.c (user and
 * extra checks, bind lists, row decoding, message JSON with sealing and
 * opening; the generic parameter checks are store_params.c's); and the operations that move whole rows: user.create,
 * user.get, user.list and the imports (room, user, message).
 *
 * Conventions shared by both dialects (see store_impl.h): integers are
 * 64-bit (BIGINT on PostgreSQL), booleans are 0/1 integers, timestamps
 * are milliseconds since the epoch computed in C, sealed content and
 * nonces are base64 TEXT, the plugin extras column is JSON as TEXT.
 * User ids are not foreign keys: users may be authenticated elsewhere
 * (tokens, another user database) and still chat.  The imports check
 * them all the same (a backup names only users it holds).
 */
#include "store_impl.h"

#include "config.h" /* ch_role_name_ok, CH_PBKDF2_ITER_* */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Version 1 (SQLite): users, rooms, participants, messages, receipts.
 * Message ids are allocated by the append as max(id) + 1 inside the
 * write transaction (the id is needed before the insert: it is part of
 * the sealed content's associated data). */
static const char sqlite_v1[] =
    "CREATE TABLE users (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  username TEXT NOT NULL UNIQUE,\n"
    "  email TEXT UNIQUE,\n"
    "  password TEXT NOT NULL,\n"
    "  role TEXT NOT NULL DEFAULT 'user',\n"
    "  is_active INTEGER NOT NULL DEFAULT 1,\n"
    "  created_at INTEGER NOT NULL);\n"
    "CREATE TABLE rooms (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  key TEXT NOT NULL UNIQUE,\n"
    "  kind TEXT NOT NULL,\n"
    "  name TEXT,\n"
    "  is_private INTEGER NOT NULL DEFAULT 0,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  is_active INTEGER NOT NULL DEFAULT 1);\n"
    "CREATE INDEX rooms_kind ON rooms (kind);\n"
    "CREATE TABLE participants (\n"
    "  room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,\n"
    "  user_id INTEGER NOT NULL,\n"
    "  joined_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (room_id, user_id));\n"
    "CREATE INDEX participants_user ON participants (user_id);\n"
    "CREATE TABLE messages (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,\n"
    "  sender_id INTEGER NOT NULL,\n"
    "  key_id INTEGER NOT NULL,\n"
    "  nonce TEXT NOT NULL,\n"
    "  content TEXT NOT NULL,\n"
    "  created_at INTEGER NOT NULL,\n"
    "  edited_at INTEGER,\n"
    "  is_deleted INTEGER NOT NULL DEFAULT 0,\n"
    "  client_msg_id TEXT NOT NULL,\n"
    "  extra TEXT,\n"
    "  UNIQUE (room_id, sender_id, client_msg_id));\n"
    "CREATE INDEX messages_room ON messages (room_id, id);\n"
    "CREATE TABLE read_receipts (\n"
    "  message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,\n"
    "  user_id INTEGER NOT NULL,\n"
    "  read_at INTEGER NOT NULL,\n"
    "  PRIMARY KEY (message_id, user_id));\n"
    "CREATE INDEX read_receipts_user ON read_receipts (user_id)";

/* Version 1 (PostgreSQL): the same tables.  Every id is a BIGSERIAL, so
 * the sequences are users_id_seq, rooms_id_seq and messages_id_seq; the
 * append takes its id with nextval('messages_id_seq') before sealing. */
static const char pg_v1[] =
    "CREATE TABLE users (\n"
    "  id BIGSERIAL PRIMARY KEY,\n"
    "  username TEXT NOT NULL UNIQUE,\n"
    "  email TEXT UNIQUE,\n"
    "  password TEXT NOT NULL,\n"
    "  role TEXT NOT NULL DEFAULT 'user',\n"
    "  is_active SMALLINT NOT NULL DEFAULT 1,\n"
    "  created_at BIGINT NOT NULL);\n"
    "CREATE TABLE rooms (\n"
    "  id BIGSERIAL PRIMARY KEY,\n"
    "  key TEXT NOT NULL UNIQUE,\n"
    "  kind TEXT NOT NULL,\n"
    "  name TEXT,\n"
    "  is_private SMALLINT NOT NULL DEFAULT 0,\n"
    "  created_at BIGINT NOT NULL,\n"
    "  is_active SMALLINT NOT NULL DEFAULT 1);\n"
    "CREATE INDEX rooms_kind ON rooms (kind);\n"
    "CREATE TABLE participants (\n"
    "  room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,\n"
    "  user_id BIGINT NOT NULL,\n"
    "  joined_at BIGINT NOT NULL,\n"
    "  PRIMARY KEY (room_id, user_id));\n"
    "CREATE INDEX participants_user ON participants (user_id);\n"
    "CREATE TABLE messages (\n"
    "  id BIGSERIAL PRIMARY KEY,\n"
    "  room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,\n"
    "  sender_id BIGINT NOT NULL,\n"
    "  key_id INTEGER NOT NULL,\n"
    "  nonce TEXT NOT NULL,\n"
    "  content TEXT NOT NULL,\n"
    "  created_at BIGINT NOT NULL,\n"
    "  edited_at BIGINT,\n"
    "  is_deleted SMALLINT NOT NULL DEFAULT 0,\n"
    "  client_msg_id TEXT NOT NULL,\n"
    "  extra TEXT,\n"
    "  UNIQUE (room_id, sender_id, client_msg_id));\n"
    "CREATE INDEX messages_room ON messages (room_id, id);\n"
    "CREATE TABLE read_receipts (\n"
    "  message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,\n"
    "  user_id BIGINT NOT NULL,\n"
    "  read_at BIGINT NOT NULL,\n"
    "  PRIMARY KEY (message_id, user_id));\n"
    "CREATE INDEX read_receipts_user ON read_receipts (user_id)";

/* Version 2 (both engines): the migrations applied to each plugin's own
 * tables (store_plugin.c), by the plugin's name (the config's). */
static const char both_v2[] = "CREATE TABLE ch_plugin_migrations (\n"
                              "  plugin TEXT NOT NULL,\n"
                              "  version BIGINT NOT NULL,\n"
                              "  applied_at BIGINT NOT NULL,\n"
                              "  PRIMARY KEY (plugin, version))";

/* Version 3: PostgreSQL's participants trigger (store_pg_notify.c). */
static const char sqlite_v3[] = "-- version 3: PostgreSQL only (one host per SQLite file)";

/* Version 4: a room's live messages by sender, from which its unread
 * counts (store_chat.c) are read once rather than once per participant. */
static const char both_v4[] =
    "CREATE INDEX messages_room_live ON messages (room_id, is_deleted, sender_id)";

/* Version 5: rooms.is_open, a room any signed-in user may join (an open
 * group room, docs/api.md); 0 for every room made before. */
static const char sqlite_v5[] = "ALTER TABLE rooms ADD COLUMN is_open INTEGER NOT NULL DEFAULT 0";
static const char pg_v5[] = "ALTER TABLE rooms ADD COLUMN is_open SMALLINT NOT NULL DEFAULT 0";

/* Version 6: the revocation list and its notifications (store_sessions.c).
 * Version 7: users.last_seen, written by presence (store_sessions.c).
 * Version 8: the rooms' streams and the store's epoch (store_stream.c).
 * Version 9: attachments and their sealed chunks (store_attach.c).
 * Version 10: the unread counters, their triggers and backfill
 * (store_unread.c). */

/* Version 11: version 4's index goes.  Since version 10 the counts are
 * read from the counters; what else filters messages by room (history,
 * read.bulk, the edits) has (room_id, id), and every append paid a write
 * to an index keyed by room, so in a busy host a page of the WAL per room
 * in each transaction (docs/performance.md "Part 6"). */
static const char both_v11[] = "DROP INDEX IF EXISTS messages_room_live";

/* Version 12 (PostgreSQL): the insert's counting trigger per statement
 * (store_unread.c). */

/* Version 13 (PostgreSQL): messages.room_id and room_events.room_id are
 * no longer foreign keys.  Each check was an SPI query per inserted row,
 * and with few rooms the planner scans rooms for it (a seq scan is the
 * cheapest plan for a table of a few pages): the two checks were about a
 * fifth of the server's instructions per append (docs/performance.md
 * "Part 8").  What they guaranteed is kept by the store: every insert
 * into messages first reads its room FOR KEY SHARE (the lock the check
 * took: store_append.c, message.import), every insert into room_events
 * follows the UPDATE of its room's stream_pos, and a statement trigger
 * on rooms deletes a deleted room's messages and events, as the cascades
 * did.  It fires after the row triggers of the same DELETE (the
 * participants' and attachments' cascades, the counters'), and its
 * statements see what a concurrent append committed while the delete
 * waited for its lock.  SQLite keeps its foreign keys: their checks are
 * B-tree lookups inside the insert. */
static const char pg_v13[] =
    "ALTER TABLE messages DROP CONSTRAINT messages_room_id_fkey;\n"
    "ALTER TABLE room_events DROP CONSTRAINT room_events_room_id_fkey;\n"
    "CREATE FUNCTION ch_rooms_rows_gone() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  DELETE FROM messages WHERE room_id IN (SELECT id FROM gone);\n"
    "  DELETE FROM room_events WHERE room_id IN (SELECT id FROM gone);\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE TRIGGER rooms_rows_delete AFTER DELETE ON rooms REFERENCING OLD TABLE AS gone\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ch_rooms_rows_gone()";
static const char sqlite_v13[] = "-- version 13: PostgreSQL only (foreign keys kept by the store)";
static const char *const sqlite_migrations[] = {sqlite_v1,
                                                both_v2,
                                                sqlite_v3,
                                                both_v4,
                                                sqlite_v5,
                                                ch_st_sessions_sqlite_v6,
                                                ch_st_sessions_v7,
                                                ch_st_stream_sqlite_v8,
                                                ch_st_attach_sqlite_v9,
                                                ch_st_unread_sqlite_v10,
                                                both_v11,
                                                ch_st_unread_sqlite_v12,
                                                sqlite_v13};
static const char *const pg_migrations[] = {pg_v1,
                                            both_v2,
                                            ch_pg_notify_trigger,
                                            both_v4,
                                            pg_v5,
                                            ch_st_sessions_pg_v6,
                                            ch_st_sessions_v7,
                                            ch_st_stream_pg_v8,
                                            ch_st_attach_pg_v9,
                                            ch_st_unread_pg_v10,
                                            both_v11,
                                            ch_st_unread_pg_v12,
                                            pg_v13};

/* The list for an engine kind (SQLite for anything but CH_STORE_PG). */
const char *const *ch_store_migrations(int kind, size_t *n)
{
    if (kind == CH_STORE_PG) {
        *n = sizeof pg_migrations / sizeof pg_migrations[0];
        return pg_migrations;
    }
    *n = sizeof sqlite_migrations / sizeof sqlite_migrations[0];
    return sqlite_migrations;
}

/* ---- parameters (the generic checks: store_params.c) -------------------- */

/* Is parameter name given (present and not null)? */
static int given(const ch_store_req *req, const char *name)
{
    json_t *v = name ? json_object_get(req->params, name) : NULL;

    return v && !json_is_null(v);
}

int ch_st_one_of(ch_store_req *req, const char *a, const char *b, const char *c)
{
    if (given(req, a) + given(req, b) + given(req, c) == 1)
        return 0;
    return ch_store_fail(req, CH_STORE_EINVAL, "give exactly one of %s, %s%s%s", a, b,
                         c ? ", " : "", c ? c : "");
}

/* ch_store_roles_check's setting: process-wide, loop thread. */
static ch_store_role_known role_known;
static void *role_arg;

void ch_store_roles_check(ch_store_role_known known, void *arg)
{
    role_known = known;
    role_arg = arg;
}

int ch_st_check_user(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"username", 's', 1, 1, 150},
                                    {"email", 's', 0, 3, 254},
                                    {"password", 's', 1, 1, 1024},
                                    {"role", 's', 0, 1, 32},
                                    {NULL, 0, 0, 0, 0}};
    const char *u, *role;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    u = json_string_value(json_object_get(req->params, "username"));
    if (strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.+_-") !=
        strlen(u))
        return ch_store_fail(req, CH_STORE_EINVAL, "username: only letters, digits and @.+-_");
    if (given(req, "email") &&
        !strchr(json_string_value(json_object_get(req->params, "email")), '@'))
        return ch_store_fail(req, CH_STORE_EINVAL, "email: not an address");
    role = json_string_value(json_object_get(req->params, "role"));
    if (role && !ch_role_name_ok(role))
        return ch_store_fail(req, CH_STORE_EINVAL, "role: 1 to 32 of a-z, 0-9, _ and -");
    if (role && role_known && !role_known(role_arg, role))
        return ch_store_fail(req, CH_STORE_EINVAL, "role: %s is not a role of this host", role);
    return 0;
}

int ch_st_rows_need_user(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such user");
    return CH_STEP_NEXT;
}

/* An imported password in Django's pbkdf2_sha256 format must be well
 * formed, pbkdf2_sha256$<iterations>$<salt>$<base64>, with iterations in
 * [CH_PBKDF2_ITER_MIN, CH_PBKDF2_ITER_MAX] (config.h): every login of
 * its user runs that many, so 2^31 would hold a hashing thread for
 * minutes.  Any other text (Django's other hashers, its unusable "!...")
 * is kept: it can never log in here.  0 or CH_STORE_EINVAL. */
static int check_import_hash(ch_store_req *req)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    const char *p = json_string_value(json_object_get(req->params, "password"));
    unsigned long long it = 0;
    size_t n;

    if (strncmp(p, "pbkdf2_sha256$", 14) != 0)
        return 0;
    p += 14;
    for (n = 0; p[n] >= '0' && p[n] <= '9' && n < 9; n++)
        it = it * 10 + (unsigned)(p[n] - '0');
    if (n == 0 || p[n] != '$' || (n > 1 && p[0] == '0') || it < CH_PBKDF2_ITER_MIN ||
        it > CH_PBKDF2_ITER_MAX)
        return ch_store_fail(req, CH_STORE_EINVAL,
                             "password: pbkdf2_sha256 iterations must be %d to %d",
                             CH_PBKDF2_ITER_MIN, CH_PBKDF2_ITER_MAX);
    p += n + 1;
    n = strcspn(p, "$");
    if (n == 0 || n > 255 || p[n] != '$' || strlen(p + n + 1) == 0 || strlen(p + n + 1) > 127 ||
        strspn(p + n + 1, b64) != strlen(p + n + 1))
        return ch_store_fail(req, CH_STORE_EINVAL,
                             "password: not a pbkdf2_sha256$ITERATIONS$SALT$HASH hash");
    return 0;
}

#define EXTRA_TEXT_MAX 16384

/* Sorted, compact JSON text, so equal extras store equal text: jansson's
 * bytes, written by store_jtext.c (a chat message's {"username": ...} in
 * a few hundred instructions instead of jansson's 5,000); the text is
 * valid UTF-8 (the parameters' strings are, the escapes ASCII), so the
 * string is made without a second check.  ctx "extra" gets a new string. */
int ch_st_extra(ch_store_req *req)
{
    json_t *extra = json_object_get(req->params, "extra");
    ch_st_text t = {0};

    if (!json_is_object(extra)) {
        json_object_set_new_nocheck(req->ctx, "extra", json_null());
        return 0;
    }
    ch_st_text_json(&t, extra);
    if (t.failed || t.len > EXTRA_TEXT_MAX) {
        free(t.p);
        return ch_store_fail(req, CH_STORE_EINVAL, "extra: %s",
                             t.failed ? "cannot be written as JSON" : "larger than 16 KiB");
    }
    json_object_set_new_nocheck(req->ctx, "extra", json_stringn_nocheck(t.p, t.len));
    free(t.p);
    return 0;
}

/* A new array (the engine frees it); values are new references. */
json_t *ch_st_bind_list(ch_store_req *req, const char *const *names)
{
    json_t *a = json_array(), *v;

    for (; *names; names++) {
        if (strcmp(*names, "now") == 0)
            v = json_integer(req->now_ms);
        else if (**names == '@')
            v = json_incref(json_object_get(req->ctx, *names + 1));
        else
            v = json_incref(json_object_get(req->params, *names));
        if (json_is_boolean(v))
            v = json_integer(json_is_true(v)); /* true/false are not counted */
        json_array_append_new(a, v ? v : json_null());
    }
    return a;
}

/* ---- rows ---------------------------------------------------------------- */

int64_t ch_st_int(const json_t *row, const char *col)
{
    json_t *v = json_object_get(row, col);

    if (json_is_integer(v))
        return json_integer_value(v);
    return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : 0;
}

const char *ch_st_str(const json_t *row, const char *col)
{
    const char *s = json_string_value(json_object_get(row, col));

    return s ? s : "";
}

/* A column's value (borrowed), null when absent. */
static json_t *col(const json_t *row, const char *name)
{
    json_t *v = json_object_get(row, name);

    return v ? v : json_null();
}

json_t *ch_st_room_json(const json_t *row)
{
    return json_pack("{s:I, s:O, s:O, s:O, s:b, s:I, s:b, s:b}", "id",
                     (json_int_t)ch_st_int(row, "id"), "key", col(row, "key"), "kind",
                     col(row, "kind"), "name", col(row, "name"), "is_private",
                     ch_st_int(row, "is_private") != 0, "created_at",
                     (json_int_t)ch_st_int(row, "created_at"), "is_active",
                     ch_st_int(row, "is_active") != 0, "is_open", ch_st_int(row, "is_open") != 0);
}

json_t *ch_st_user_json(const json_t *row, int with_password)
{
    json_t *u = json_pack("{s:I, s:O, s:O, s:O, s:b, s:I}", "id", (json_int_t)ch_st_int(row, "id"),
                          "username", col(row, "username"), "email", col(row, "email"), "role",
                          col(row, "role"), "is_active", ch_st_int(row, "is_active") != 0,
                          "created_at", (json_int_t)ch_st_int(row, "created_at"));

    if (u && with_password)
        json_object_set(u, "password", col(row, "password"));
    return u;
}

int ch_st_seal(ch_store_req *req, const char *room_key, int64_t id, const char *plain, size_t len)
{
    int key_id;
    char *nonce, *sealed;

    if (ch_seal(req->keys, room_key, id, plain, len, &key_id, &nonce, &sealed) != 0)
        return ch_store_fail(req, CH_STORE_EIO, "sealing message %lld failed", (long long)id);
    json_object_set_new_nocheck(req->ctx, "id", json_integer(id));
    json_object_set_new_nocheck(req->ctx, "key_id", json_integer(key_id));
    /* base64: ASCII, no UTF-8 check needed */
    json_object_set_new_nocheck(req->ctx, "nonce", json_stringn_nocheck(nonce, strlen(nonce)));
    json_object_set_new_nocheck(req->ctx, "sealed", json_stringn_nocheck(sealed, strlen(sealed)));
    free(nonce);
    free(sealed);
    return 0;
}

/* The row's content, opened: a new JSON string, or NULL after failing
 * req with EIO (tampered, moved, unknown key, not UTF-8). */
static json_t *open_content(ch_store_req *req, const json_t *row, const char *room_key)
{
    int64_t id = ch_st_int(row, "id");
    char *plain = NULL;
    size_t len = 0;
    json_t *s;

    if (ch_open(req->keys, (int)ch_st_int(row, "key_id"), room_key, id, ch_st_str(row, "nonce"),
                ch_st_str(row, "content"), &plain, &len) != 0) {
        ch_store_fail(req, CH_STORE_EIO,
                      "message %lld cannot be opened (tampered, moved, or key %lld unknown)",
                      (long long)id, (long long)ch_st_int(row, "key_id"));
        return NULL;
    }
    s = json_stringn(plain, len);
    free(plain);
    if (!s)
        ch_store_fail(req, CH_STORE_EIO, "message %lld: content is not UTF-8", (long long)id);
    return s;
}

json_t *ch_st_msg_json(ch_store_req *req, const json_t *row, const char *room_key,
                       const char *plain, size_t len)
{
    json_t *content = plain ? json_stringn(plain, len) : open_content(req, row, room_key);
    json_t *extra = json_loads(ch_st_str(row, "extra"), 0, NULL);
    int edited = !json_is_null(col(row, "edited_at"));

    if (!content) {
        json_decref(extra);
        return NULL;
    }
    if (!json_is_object(extra)) {
        json_decref(extra);
        extra = json_null();
    }
    if (ch_st_int(row, "is_deleted")) {
        json_decref(content);
        content = json_string("");
    }
    return json_pack("{s:I, s:I, s:I, s:o, s:I, s:o, s:b, s:O, s:o, s:[]}", "id",
                     (json_int_t)ch_st_int(row, "id"), "room_id",
                     (json_int_t)ch_st_int(row, "room_id"), "sender_id",
                     (json_int_t)ch_st_int(row, "sender_id"), "content", content, "created_at",
                     (json_int_t)ch_st_int(row, "created_at"), "edited_at",
                     edited ? json_integer(ch_st_int(row, "edited_at")) : json_null(), "is_deleted",
                     ch_st_int(row, "is_deleted") != 0, "client_msg_id", col(row, "client_msg_id"),
                     "extra", extra, "read_by");
}

/* ctx owns what is set here; on failure ctx "msgs" is left as it was. */
int ch_st_msgs_from_rows(ch_store_req *req, const json_t *rows, const char *room_key)
{
    json_t *msgs = json_array(), *row, *msg;
    size_t i;

    json_array_foreach(rows, i, row)
    {
        msg = ch_st_msg_json(req, row, room_key ? room_key : ch_st_str(row, "room_key"), NULL, 0);
        if (!msg) {
            json_decref(msgs);
            return req->status ? req->status : ch_store_fail(req, CH_STORE_EIO, "out of memory");
        }
        json_array_append_new(msgs, msg);
    }
    ch_st_sort_by_id(msgs, 0);
    row = json_array_get(msgs, 0);
    json_object_set_new(req->ctx, "room_id", json_integer(ch_st_int(row, "room_id")));
    json_object_set_new(req->ctx, "lo", json_integer(ch_st_int(row, "id")));
    row = json_array_get(msgs, json_array_size(msgs) ? json_array_size(msgs) - 1 : 0);
    json_object_set_new(req->ctx, "hi", json_integer(ch_st_int(row, "id")));
    json_object_set_new(req->ctx, "msgs", msgs);
    return CH_STEP_NEXT;
}

/* A merge of the two ordered lists: one pass over each. */
void ch_st_attach_receipts(json_t *msgs, const json_t *rows)
{
    size_t i, j = 0, n = json_array_size(rows);
    json_t *msg, *by;
    int64_t id;

    json_array_foreach(msgs, i, msg)
    {
        id = ch_st_int(msg, "id");
        by = json_object_get(msg, "read_by");
        while (j < n && ch_st_int(json_array_get(rows, j), "message_id") < id)
            j++;
        for (; j < n && ch_st_int(json_array_get(rows, j), "message_id") == id; j++)
            json_array_append_new(by, json_integer(ch_st_int(json_array_get(rows, j), "user_id")));
    }
}

/* An element's sort key: itself (an integer) or its "id". */
static int64_t id_of(const json_t *v)
{
    return json_is_integer(v) ? json_integer_value(v) : ch_st_int(v, "id");
}

/* qsort comparators over (json_t *const *), by id_of. */
static int cmp_asc(const void *a, const void *b)
{
    int64_t x = id_of(*(json_t *const *)a), y = id_of(*(json_t *const *)b);

    return (x > y) - (x < y);
}

static int cmp_desc(const void *a, const void *b) { return cmp_asc(b, a); }

/* Through a C array of new references, then back into arr. */
void ch_st_sort(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t i, n = json_array_size(arr);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    json_t **v = n > 1 ? malloc(n * sizeof *v) : NULL;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof *v, cmp); /* NOLINT(bugprone-sizeof-expression) */
    json_array_clear(arr);
    for (i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}

void ch_st_sort_by_id(json_t *arr, int desc) { ch_st_sort(arr, desc ? cmp_desc : cmp_asc); }
/* ---- users -------------------------------------------------------------- */

#define USER_COLS "id, username, email, role, is_active, created_at"

/* user.create {username, email?, password, role?}. */
static int prep_user_create(ch_store_req *req)
{
    if (ch_st_check_user(req) != 0)
        return req->status;
    ch_st_default(req, "role", json_string("user"));
    return 0;
}

CH_ST_BIND(bind_user_create, "username", "email", "password", "role", "now")

static int rows_user_created(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_EEXIST, "username or email already taken");
    req->result = json_pack("{s:o}", "user", ch_st_user_json(json_array_get(rows, 0), 0));
    return CH_STEP_DONE;
}

static const ch_store_step user_create_steps[] = {
    {"INSERT INTO users (username, email, password, role, is_active, created_at)"
     " VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT DO NOTHING RETURNING " USER_COLS,
     bind_user_create, rows_user_created},
};

/* user.get {id} | {username} | {email}. */
static int prep_user_get(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 0, 1, INT64_MAX},
                                    {"username", 's', 0, 1, 150},
                                    {"email", 's', 0, 1, 254},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    return ch_st_one_of(req, "id", "username", "email");
}

CH_ST_BIND(bind_user_get, "id", "username", "email")

static int rows_user(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such user");
    req->result = json_pack("{s:o}", "user", ch_st_user_json(json_array_get(rows, 0), 1));
    return CH_STEP_DONE;
}

static const ch_store_step user_get_steps[] = {
    {"SELECT " USER_COLS ", password FROM users WHERE id = $1 OR username = $2 OR email = $3",
     bind_user_get, rows_user},
};

int ch_st_users_result(ch_store_req *req, const json_t *rows, int with_password)
{
    json_t *users = json_array();
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row)
        json_array_append_new(users, ch_st_user_json(row, with_password));
    req->result = json_pack("{s:o}", "users", users);
    return CH_STEP_DONE;
}

/* Every user, without passwords. */
static int rows_users(ch_store_req *req, json_t *rows) { return ch_st_users_result(req, rows, 0); }

static const ch_store_step user_list_steps[] = {
    {"SELECT " USER_COLS " FROM users ORDER BY id", NULL, rows_users},
};

/* ---- imports: whole rows with their ids -------------------------------- */

/* Keep PostgreSQL's sequence of table t at least at max(id) after an
 * import (never moving it back). */
#define SETVAL(t)                                                                          \
    {                                                                                      \
        "SELECT setval('" t "_id_seq', GREATEST((SELECT coalesce(max(id), 1) FROM " t ")," \
        " (SELECT last_value FROM " t "_id_seq))) AS v",                                   \
            NULL, NULL                                                                     \
    }

/* The insert's rows: {"imported": whether the row was new}. */
static int rows_imported(ch_store_req *req, json_t *rows)
{
    json_decref(req->result);
    req->result = json_pack("{s:b}", "imported", json_array_size(rows) > 0);
    return CH_STEP_NEXT;
}

/* room.import {id, key, kind, name?, is_private?, created_at, is_active?,
 * is_open?}. */
static int prep_room_import(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, INT64_MAX},
                                    {"key", 's', 1, 1, 200},
                                    {"kind", 's', 1, 1, 32},
                                    {"name", 's', 0, 0, 255},
                                    {"is_private", 'b', 0, 0, 0},
                                    {"created_at", 'i', 1, 0, INT64_MAX},
                                    {"is_active", 'b', 0, 0, 0},
                                    {"is_open", 'b', 0, 0, 0},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0)
        return req->status;
    ch_st_default(req, "is_private", json_false());
    ch_st_default(req, "is_active", json_true());
    ch_st_default(req, "is_open", json_false());
    return 0;
}

CH_ST_BIND(bind_room_import, "id", "key", "kind", "name", "is_private", "created_at", "is_active",
           "is_open")

#define ROOM_IMPORT                                                                  \
    {                                                                                \
        "INSERT INTO rooms (id, key, kind, name, is_private, created_at, is_active," \
        " is_open) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"                          \
        " ON CONFLICT DO NOTHING RETURNING id",                                      \
            bind_room_import, rows_imported                                          \
    }

static const ch_store_step room_import_steps[] = {ROOM_IMPORT};
static const ch_store_step room_import_pg_steps[] = {ROOM_IMPORT, SETVAL("rooms")};

/* user.import {id, username, email?, password, role?, is_active?,
 * created_at}. */
static int prep_user_import(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, INT64_MAX},
                                    {"is_active", 'b', 0, 0, 0},
                                    {"created_at", 'i', 1, 0, INT64_MAX},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0 || ch_st_check_user(req) != 0 || check_import_hash(req) != 0)
        return req->status;
    ch_st_default(req, "role", json_string("user"));
    ch_st_default(req, "is_active", json_true());
    return 0;
}

CH_ST_BIND(bind_user_import, "id", "username", "email", "password", "role", "is_active",
           "created_at")

#define USER_IMPORT                                                                      \
    {                                                                                    \
        "INSERT INTO users (id, username, email, password, role, is_active, created_at)" \
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",      \
            bind_user_import, rows_imported                                              \
    }

static const ch_store_step user_import_steps[] = {USER_IMPORT};
static const ch_store_step user_import_pg_steps[] = {USER_IMPORT, SETVAL("users")};

/* message.import {id, room_id, sender_id, content, created_at,
 * edited_at?, is_deleted?, client_msg_id, extra?}: sealed anew with the
 * current key for its room and id. */
static int prep_msg_import(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, INT64_MAX},
                                    {"room_id", 'i', 1, 1, INT64_MAX},
                                    {"sender_id", 'i', 1, 1, INT64_MAX},
                                    {"content", 'B', 1, 0, 65536},
                                    {"created_at", 'i', 1, 0, INT64_MAX},
                                    {"edited_at", 'i', 0, 0, INT64_MAX},
                                    {"is_deleted", 'b', 0, 0, 0},
                                    {"client_msg_id", 's', 1, 1, 100},
                                    {"extra", 'o', 0, 0, 0},
                                    {NULL, 0, 0, 0, 0}};

    if (ch_st_check(req, spec) != 0 || ch_st_extra(req) != 0)
        return req->status;
    ch_st_default(req, "is_deleted", json_false());
    return 0;
}

/* The room's key: seal the content for it and the given id. */
static int rows_seal_import(ch_store_req *req, json_t *rows)
{
    json_t *c = json_object_get(req->params, "content");

    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such room");
    if (ch_st_seal(req, ch_st_str(json_array_get(rows, 0), "key"),
                   json_integer_value(json_object_get(req->params, "id")), json_string_value(c),
                   json_string_length(c)) != 0)
        return req->status;
    return CH_STEP_NEXT;
}

CH_ST_BIND(bind_room_of_msg, "room_id")
CH_ST_BIND(bind_sender, "sender_id")
CH_ST_BIND(bind_msg_import, "id", "room_id", "sender_id", "@key_id", "@nonce", "@sealed",
           "created_at", "edited_at", "is_deleted", "client_msg_id", "@extra")

/* LOCK: what the room's read takes on PostgreSQL (see pg_v13). */
#define MSG_IMPORT(LOCK)                                                              \
    {"SELECT key FROM rooms WHERE id = $1" LOCK, bind_room_of_msg, rows_seal_import}, \
        {"SELECT id FROM users WHERE id = $1", bind_sender, ch_st_rows_need_user},    \
    {                                                                                 \
        "INSERT INTO messages (id, room_id, sender_id, key_id, nonce, content,"       \
        " created_at, edited_at, is_deleted, client_msg_id, extra)"                   \
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"                      \
        " ON CONFLICT DO NOTHING RETURNING id",                                       \
            bind_msg_import, rows_imported                                            \
    }

static const ch_store_step msg_import_steps[] = {MSG_IMPORT("")};
static const ch_store_step msg_import_pg_steps[] = {MSG_IMPORT(" FOR KEY SHARE"),
                                                    SETVAL("messages")};

static const ch_store_op schema_ops[] = {
    CH_ST_OP("user.create", 1, prep_user_create, user_create_steps),
    CH_ST_OP("user.get", 0, prep_user_get, user_get_steps),
    CH_ST_OP("user.list", 0, NULL, user_list_steps),
    CH_ST_OP2("room.import", 1, prep_room_import, room_import_steps, room_import_pg_steps),
    CH_ST_OP2("user.import", 1, prep_user_import, user_import_steps, user_import_pg_steps),
    CH_ST_OP2("message.import", 1, prep_msg_import, msg_import_steps, msg_import_pg_steps),
};

/* Looked up by ch_store_op_find after its own table; then store_export.c's. */
const ch_store_op *ch_st_schema_op(const char *name)
{
    const ch_store_op *op = ch_st_find(schema_ops, CH_ST_N(schema_ops), name);

    return op ? op : ch_st_export_op(name);
}
