/*
 * rest_rooms.c -- the room endpoints of the API (docs/api.md): creating
 * and listing rooms, participants, message history, one-to-one threads.
 *
 * A group room may be made open ("open": true): any signed-in user may
 * then join it by connecting (the chat plugin's group route does the
 * adding); members-only by default.  The history answers each message in
 * the shape of the chat frames (message_json).
 *
 * Room keys: "group:<slug>", "private:<32 hex>", "thread:<low>-<high>"
 * (the chat plugins' endpoints make rooms of their own keys).
 * room.get_or_create on the unique key is what keeps a second thread for
 * the same pair from ever existing, even when two requests race.
 *
 * User ids named by a user (new participants, a thread's partner) must
 * exist in the store's users table (400 unknown_user).  The service token
 * may create a room with the id it chooses (the application's own, e.g. a
 * Django chat's) and participants that have not connected yet (a Django
 * user is mirrored on first sight: runtime/django_auth.h).
 *
 * Who manages a room's participants depends on its kind: the kinds this
 * file creates (group, private, thread) are member-managed, any
 * participant may add and remove; every other kind is a plugin's, and
 * managed: only the service token or an admin changes it here (403
 * forbidden for its participants), besides the plugin's own endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "app.h"
#include "rest.h"
#include "store.h"

#define MAX_PARTICIPANTS 100

/* Parameters of room.get_or_create (new reference). */
static json_t *room_key_params(const char *key, const char *kind, const char *name, int priv)
{
    return json_pack("{s:s, s:s, s:s?, s:b}", "key", key, "kind", kind, "name", name, "is_private",
                     priv);
}

/* {room_id, user_id} for the participant.* operations (new reference). */
static json_t *room_user(int64_t room_id, int64_t user_id)
{
    return json_pack("{s:I, s:I}", "room_id", (json_int_t)room_id, "user_id", (json_int_t)user_id);
}

/* room_user with "stream": true: a membership change takes a position in
 * the room's stream (docs/store.md, "Streams"). */
static json_t *room_user_streamed(int64_t room_id, int64_t user_id)
{
    json_t *p = room_user(room_id, user_id);

    json_object_set_new(p, "stream", json_true());
    return p;
}

static int64_t room_id(const ch_rest *r)
{
    return json_integer_value(json_object_get(r->room, "id"));
}

/* The caller and r->other, lower id first. */
static void pair(const ch_rest *r, int64_t *lo, int64_t *hi)
{
    *lo = r->uid < r->other ? r->uid : r->other;
    *hi = r->uid < r->other ? r->other : r->uid;
}

static int64_t id_at(const json_t *ids, size_t i)
{
    return json_integer_value(json_array_get(ids, i));
}

/* A value of o (borrowed), JSON null when absent. */
static json_t *or_null(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return v ? v : json_null();
}

/* One message of message.history (m, borrowed) in the shape the chat
 * plugins' frames give it (docs/api.md, "One message shape"): id,
 * message, username, user_id, timestamp, client_msg_id, room_id,
 * edited_at, is_deleted, read_by, and beside them the other fields of
 * its "extra" (a plugin's own, never replacing these).  New reference. */
static json_t *message_json(const json_t *m)
{
    const json_t *extra = json_object_get(m, "extra");
    json_t *o, *v;
    const char *k;

    o = json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "id", or_null(m, "id"),
                  "message", or_null(m, "content"), "username", or_null(extra, "username"),
                  "user_id", or_null(m, "sender_id"), "timestamp", or_null(m, "created_at"),
                  "client_msg_id", or_null(m, "client_msg_id"), "room_id", or_null(m, "room_id"),
                  "edited_at", or_null(m, "edited_at"), "is_deleted", or_null(m, "is_deleted"),
                  "read_by", or_null(m, "read_by"));
    if (o && json_is_object(extra))
        json_object_foreach((json_t *)extra, k, v)
        {
            if (!json_object_get(o, k))
                json_object_set(o, k, v);
        }
    return o;
}

/* rest.h; here, beside its one user (group room names), to keep rest.c
 * under 800 lines. */
int ch_rest_valid_slug(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    size_t n = s ? strlen(s) : 0;

    return n >= 1 && n <= 100 && strspn(s, ok) == n;
}

/* ---- loops over r->ids ---------------------------------------------------------- */

static void users_check_next(ch_rest *r);
static void add_next(ch_rest *r);

/* One user of r->ids looked up: 400 unknown_user if it does not exist. */
static void user_checked(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)result;
    if (status == CH_STORE_ENOENT) {
        ch_rest_fail(r, 400, "unknown_user", "user %lld does not exist",
                     (long long)id_at(r->ids, r->i));
        return;
    }
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    r->i++;
    users_check_next(r);
}

/* Check that every user in r->ids exists (from r->i on), then r->then. */
static void users_check_next(ch_rest *r)
{
    if (r->i >= json_array_size(r->ids)) {
        r->i = 0;
        r->then(r, 0, NULL, NULL);
        return;
    }
    ch_rest_store(r, "user.get", json_pack("{s:I}", "id", (json_int_t)id_at(r->ids, r->i)),
                  user_checked);
}

/* One participant added: on to the next. */
static void added_one(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)result;
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    r->i++;
    add_next(r);
}

/* Add every user in r->ids (from r->i on) to r->room, then r->then. */
static void add_next(ch_rest *r)
{
    if (r->i >= json_array_size(r->ids)) {
        r->i = 0;
        r->then(r, 0, NULL, NULL);
        return;
    }
    ch_rest_store(r, "participant.add", room_user_streamed(room_id(r), id_at(r->ids, r->i)),
                  added_one);
}

/* ---- the room of the path, for participants and members ------------------------ */

static void member_checked(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    if (!json_is_true(json_object_get(result, "is_participant"))) {
        ch_rest_fail(r, 403, "not_participant", "you are not a participant of room %lld",
                     (long long)r->id);
        return;
    }
    r->then(r, 0, NULL, NULL);
}

/* The path's room: keep it, then check the caller's membership. */
static void path_room_found(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status != 0) {
        ch_rest_store_failed(r, status, status == CH_STORE_ENOENT ? "no such room" : error);
        return;
    }
    r->room = json_incref(json_object_get(result, "room"));
    if (r->admin)
        r->then(r, 0, NULL, NULL);
    else
        ch_rest_store(r, "participant.check", room_user(r->id, r->uid), member_checked);
}

/* Load the room of the path into r->room (404 if none); unless the
 * caller is an admin, it must be a participant (403); then `then`. */
static void path_room(ch_rest *r, ch_rest_step then)
{
    r->then = then;
    ch_rest_store(r, "room.get", json_pack("{s:I}", "id", (json_int_t)r->id), path_room_found);
}

/* ---- POST /api/rooms/ ---------------------------------------------------------- */

static void room_answer(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    json_object_set(r->room, "participants", r->ids);
    ch_rest_reply(r, 201, json_pack("{s:O}", "room", r->room), NULL);
}

/* The new room (result {"room"}): add the caller (if a user) and the
 * participants, then answer. */
static void room_fill(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    r->room = json_incref(json_object_get(result, "room"));
    if (r->uid)
        json_array_insert_new(r->ids, 0, json_integer(r->uid));
    r->then = room_answer;
    add_next(r);
}

/* The new room: 409 if a group room of that name existed. */
static void room_made(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status == 0 && !json_is_true(json_object_get(result, "created"))) {
        ch_rest_fail(r, 409, "exists", "a room named %s exists already",
                     json_string_value(json_object_get(json_object_get(result, "room"), "name")));
        return;
    }
    room_fill(r, status, result, error);
}

/* A room made with the service's id (r->other): 409 if the id or the key
 * was taken, else read it back. */
static void room_imported(ch_rest *r, int status, json_t *result, const char *error)
{
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    if (!json_is_true(json_object_get(result, "imported"))) {
        ch_rest_fail(r, 409, "exists", "room %lld (or its name) exists already",
                     (long long)r->other);
        return;
    }
    ch_rest_store(r, "room.get", json_pack("{s:I}", "id", (json_int_t)r->other), room_fill);
}

/* Every participant checked: create the room (its parameters wait in
 * r->room), with the id the service chose if it did. */
static void room_create(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *params = r->room;

    (void)status, (void)result, (void)error;
    r->room = NULL;
    if (!r->other) {
        ch_rest_store(r, "room.get_or_create", params, room_made);
        return;
    }
    json_object_set_new(params, "id", json_integer(r->other));
    json_object_set_new(params, "created_at", json_integer((json_int_t)time(NULL) * 1000));
    ch_rest_store(r, "room.import", params, room_imported);
}

/* The body's "participants" into r->ids: distinct positive ids other
 * than the caller's.  Returns 0, or answers 400 and returns -1. */
static int take_participants(ch_rest *r)
{
    json_t *list = json_object_get(r->body, "participants"), *v, *w;
    size_t i, j;

    r->ids = json_array();
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list) || json_array_size(list) > MAX_PARTICIPANTS)
        return ch_rest_invalid(r, "participants", "participants: a list of at most %d user ids",
                               MAX_PARTICIPANTS),
               -1;
    json_array_foreach(list, i, v)
    {
        int dup = 0;

        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return ch_rest_invalid(r, "participants",
                                   "participants: user ids are positive "
                                   "integers"),
                   -1;
        json_array_foreach(r->ids, j, w) dup |= json_equal(v, w);
        if (!dup && json_integer_value(v) != r->uid)
            json_array_append(r->ids, v);
    }
    return 0;
}

/* The room's parameters for room.get_or_create into r->room (the body's
 * "open": an open group room, one any signed-in user joins by connecting;
 * false by default).  Returns 0, or answers 400 and returns -1. */
static int take_room(ch_rest *r, const char *type, const char *name)
{
    const json_t *flag = json_object_get(r->body, "open");
    int open = json_is_true(flag);
    unsigned char rnd[16];
    char key[220];

    if (flag && !json_is_null(flag) && (!json_is_boolean(flag) || (open && type[0] != 'g')))
        return ch_rest_invalid(r, "open", "open: true or false, and only a group room is open"), -1;

    if (strcmp(type, "group") == 0) {
        if (!name || !ch_rest_valid_slug(name))
            return ch_rest_invalid(r, "name",
                                   "name: a group room's name is 1 to 100 letters, "
                                   "digits, '-' and '_'"),
                   -1;
        snprintf(key, sizeof key, "group:%s", name);
    } else if (strcmp(type, "private") == 0) {
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return ch_rest_fail(r, 500, "internal", "no randomness"), -1;
        strcpy(key, "private:");
        for (size_t i = 0; i < sizeof rnd; i++)
            snprintf(key + 8 + 2 * i, 3, "%02x", rnd[i]);
    } else {
        return ch_rest_invalid(r, "type", "type: \"private\" or \"group\""), -1;
    }
    r->room = room_key_params(key, type, name, type[0] == 'p');
    json_object_set_new(r->room, "is_open", json_boolean(open));
    return 0;
}

/* POST /api/rooms/ {"name","type","participants","id"?,"open"?}: a user's room
 * (the caller first among the participants), or the service's (no caller;
 * "id" its choice, participants not checked). */
void ch_rest_rooms_create(ch_rest *r)
{
    const char *name, *type;

    if (ch_rest_body_str(r, "type", 1, 16, &type) || ch_rest_body_str(r, "name", 0, 255, &name) ||
        ch_rest_body_id(r, "id", 0, &r->other) || take_participants(r) != 0)
        return;
    if (r->other && !r->service) {
        ch_rest_fail(r, 403, "forbidden", "only the service token may choose a room's id");
        return;
    }
    if (take_room(r, type, name) != 0)
        return;
    r->then = room_create;
    if (r->service)
        room_create(r, 0, NULL, NULL);
    else
        users_check_next(r);
}

/* ---- GET /api/rooms/ ------------------------------------------------------------ */

/* The rooms (result {"rooms"}), each last_message in the frames' shape. */
static void rooms_listed(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *room, *last;
    size_t i;

    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    json_array_foreach(json_object_get(result, "rooms"), i, room)
    {
        last = json_object_get(room, "last_message");
        if (json_is_object(last))
            json_object_set_new(room, "last_message", message_json(last));
    }
    ch_rest_reply(r, 200, json_incref(result), NULL);
}

/* GET /api/rooms/: the caller's rooms, newest activity first. */
void ch_rest_rooms_list(ch_rest *r)
{
    ch_rest_store(r, "rooms.for_user", json_pack("{s:I}", "user_id", (json_int_t)r->uid),
                  rooms_listed);
}

/* ---- participants --------------------------------------------------------------- */

static void answer_flag(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *out;

    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    out = json_copy(result); /* the flag alone: not the stream's pos and epoch */
    json_object_del(out, "pos");
    json_object_del(out, "epoch");
    ch_rest_reply(r, 200, out, NULL);
}

/* Non-zero if the room's participants are managed by their members: a
 * room of a kind this file creates. */
static int member_managed(const json_t *room)
{
    static const char *const kinds[] = {"group", "private", "thread", NULL};
    const char *kind = json_string_value(json_object_get(room, "kind"));

    for (size_t i = 0; kind && kinds[i]; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

/* May the caller change r->room's participants?  If not, answers 403
 * forbidden and returns 0. */
static int may_manage(ch_rest *r)
{
    if (r->admin || member_managed(r->room))
        return 1;
    ch_rest_fail(r, 403, "forbidden",
                 "the participants of a room of kind '%s' are managed by "
                 "the service",
                 json_string_value(json_object_get(r->room, "kind")));
    return 0;
}

/* The new participant exists: add it. */
static void participant_added(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    ch_rest_store(r, "participant.add", room_user_streamed(room_id(r), r->other), answer_flag);
}

/* Non-zero if user may be a participant of the room: anyone, but a
 * thread "thread:<a>-<b>" takes only a and b. */
static int may_join(const json_t *room, int64_t user)
{
    const char *key = json_string_value(json_object_get(room, "key"));
    long long a, b;

    if (!key || strncmp(key, "thread:", 7) != 0)
        return 1;
    return sscanf(key + 7, "%lld-%lld", &a, &b) == 2 && (user == a || user == b);
}

/* The caller may change the room: check the new participant. */
static void participant_add_room(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    if (!may_manage(r))
        return;
    if (!may_join(r->room, r->other)) {
        ch_rest_invalid(r, "user_id", "a thread has only its two participants");
        return;
    }
    r->ids = json_pack("[I]", (json_int_t)r->other);
    r->then = participant_added;
    users_check_next(r);
}

/* POST /api/rooms/<id>/participants/ {"user_id"}. */
void ch_rest_participant_add(ch_rest *r)
{
    if (ch_rest_body_id(r, "user_id", 1, &r->other) == 0)
        path_room(r, participant_add_room);
}

/* The caller may change the room: remove the participant. */
static void participant_remove_room(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    if (may_manage(r))
        ch_rest_store(r, "participant.remove", room_user_streamed(room_id(r), r->other),
                      answer_flag);
}

/* DELETE /api/rooms/<id>/participants/ {"user_id"}. */
void ch_rest_participant_remove(ch_rest *r)
{
    if (ch_rest_body_id(r, "user_id", 1, &r->other) == 0)
        path_room(r, participant_remove_room);
}

/* ---- GET /api/rooms/<id>/messages/ ---------------------------------------------- */

/* The page of messages (result {"messages"}) in the frames' shape. */
static void messages_read(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *list, *m;
    size_t i;

    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    list = json_array();
    json_array_foreach(json_object_get(result, "messages"), i, m)
        json_array_append_new(list, message_json(m));
    ch_rest_reply(r, 200, json_pack("{s:o}", "messages", list), NULL);
}

/* The caller may read the room: one page of its history. */
static void messages_room(ch_rest *r, int status, json_t *result, const char *error)
{
    json_t *params = json_pack("{s:I, s:I}", "room_id", (json_int_t)r->id, "limit",
                               (json_int_t)r->i);

    (void)status, (void)result, (void)error;
    if (params && r->other)
        json_object_set_new(params, "before_id", json_integer(r->other));
    ch_rest_store(r, "message.history", params, messages_read);
}

/* ?before=<id>&limit=<n> into r->other and r->i (default 50).  Returns
 * 0, or answers 400 and returns -1. */
static int take_page(ch_rest *r, const char *query)
{
    const char *p = query;

    r->i = 50;
    while (p && *p) {
        size_t n = strcspn(p, "&"), k = strcspn(p, "=");
        const char *v = p + k + 1;
        size_t vlen = k < n ? n - k - 1 : 0;

        if (k < n && k == 6 && strncmp(p, "before", 6) == 0 &&
            !(r->other = ch_rest_parse_id(v, vlen)))
            return ch_rest_invalid(r, "before", "before: a message id"), -1;
        if (k < n && k == 5 && strncmp(p, "limit", 5) == 0) {
            r->i = (size_t)ch_rest_parse_id(v, vlen);
            if (r->i < 1 || r->i > 200)
                return ch_rest_invalid(r, "limit", "limit: 1 to 200"), -1;
        }
        p += n + (p[n] == '&');
    }
    return 0;
}

/* GET /api/rooms/<id>/messages/?before=&limit=: oldest first. */
void ch_rest_messages(ch_rest *r)
{
    if (take_page(r, r->req->query) == 0)
        path_room(r, messages_room);
}

/* ---- POST /api/threads/ --------------------------------------------------------- */

static void thread_answer(ch_rest *r, int status, json_t *result, const char *error)
{
    (void)status, (void)result, (void)error;
    ch_rest_reply(r, 200, json_pack("{s:O, s:b}", "room", r->room, "created", r->created), NULL);
}

/* The thread (new or not): make sure both users are in it. */
static void thread_made(ch_rest *r, int status, json_t *result, const char *error)
{
    int64_t a, b;

    pair(r, &a, &b);
    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    r->room = json_incref(json_object_get(result, "room"));
    r->created = json_is_true(json_object_get(result, "created"));
    json_decref(r->ids);
    r->ids = json_pack("[I, I]", (json_int_t)a, (json_int_t)b);
    r->then = thread_answer;
    add_next(r);
}

/* The partner exists: get or create the pair's one thread. */
static void thread_partner_ok(ch_rest *r, int status, json_t *result, const char *error)
{
    int64_t a, b;
    char key[64];

    (void)status, (void)result, (void)error;
    pair(r, &a, &b);
    snprintf(key, sizeof key, "thread:%lld-%lld", (long long)a, (long long)b);
    ch_rest_store(r, "room.get_or_create", room_key_params(key, "thread", NULL, 1), thread_made);
}

/* POST /api/threads/ {"user_id"}: the caller's one thread with that
 * user, created (with both as participants) when there is none. */
void ch_rest_threads(ch_rest *r)
{
    if (ch_rest_body_id(r, "user_id", 1, &r->other) != 0)
        return;
    if (r->other == r->uid) {
        ch_rest_invalid(r, "user_id", "user_id: a thread needs another user");
        return;
    }
    r->ids = json_pack("[I]", (json_int_t)r->other);
    r->then = thread_partner_ok;
    users_check_next(r);
}
