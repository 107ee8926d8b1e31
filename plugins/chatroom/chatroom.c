/*
 * chatroom -- the chat consumers of the seed apps as one plugin: rooms
 * with history, acks, typing, read receipts, edits, and a lobby that
 * counts unread messages.  The shared chat logic is ../common/chatcore.c;
 * this file owns what only chatroom does:
 *
 *   - its routes: /ws/chat-room/<int:room_id>/, /ws/threads/<int:thread_id>/
 *     and /ws/chats/<int:chat_id>/ (the room with that id),
 *     /ws/chat/group/<slug:room_name>/ (the room keyed group:<room_name>),
 *     and /ws/lobby/ (no room: the user's group user_<id>);
 *   - read receipts (read_receipt, bulk_read), never for one's own
 *     messages, and the reader's new unread count sent to their lobby;
 *   - lobby notifications after each committed message, with each
 *     recipient's unread count for the room (store op unread.for_room).
 *
 * The wire protocol is in README.md next to this file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/chatcore.h"

static void cr_on_read_receipt(chanhost_conn *c, cc_conn *cc, const json_t *in);
static void cr_on_bulk_read(chanhost_conn *c, cc_conn *cc, const json_t *in);
static int cr_room_ok(const json_t *room);
static void cr_committed(cc_plugin *p, const json_t *room, const json_t *out);

static const cc_handler room_handlers[] = {
    {"chat_message", cc_on_message},
    {"typing", cc_on_typing},
    {"read_receipt", cr_on_read_receipt},
    {"bulk_read", cr_on_bulk_read},
    {"edit_message", cc_on_edit},
    {"delete_message", cc_on_delete},
    {"ping", cc_on_ping},
    {NULL, NULL},
};

static const cc_handler lobby_handlers[] = {{"ping", cc_on_ping}, {NULL, NULL}};

static const cc_kind chatroom_kind = {
    .msg_type = "chat_message",
    .edited_type = "message_edited",
    .deleted_type = "message_deleted",
    .id_field = NULL,
    .group_prefix = "chat_", /* seed 002's chat_<id> */
    .handlers = room_handlers,
    .room_ok = cr_room_ok,
    .committed = cr_committed,
};

/* Rooms of the other plugins (task comments, ads, support) are not
 * chat rooms, even for their participants. */
static int cr_room_ok(const json_t *room)
{
    static const char *const foreign[] = {"task", "ad", "ad_chat", "support", NULL};
    const char *kind = json_string_value(json_object_get(room, "kind"));

    for (size_t i = 0; kind && foreign[i]; i++)
        if (strcmp(kind, foreign[i]) == 0)
            return 0;
    return 1;
}

/* Private rooms (one-to-one chats and threads) and group rooms differ in
 * their notifications. */
static int room_is_private(const json_t *room)
{
    const char *kind = json_string_value(json_object_get(room, "kind"));

    return json_is_true(json_object_get(room, "is_private")) ||
           (kind && (strcmp(kind, "private") == 0 || strcmp(kind, "thread") == 0));
}

/* ---- lobby ------------------------------------------------------------------ */

/* A private notification names its recipient: this connection's user. */
static void lobby_deliver(chanhost_conn *c, cc_conn *cc, const char *type, const json_t *msg,
                          const chanhost_msg *m)
{
    const chanhost_api *api = cc->p->api;
    const char *room_type = json_string_value(json_object_get(msg, "room_type"));
    json_t *copy;

    if (strcmp(type, "notification") == 0 && room_type && strcmp(room_type, "private") == 0) {
        copy = json_copy((json_t *)msg);
        json_object_set_new(copy, "target_user", json_string(chk_username(api, c)));
        api->send_json(c, copy);
        json_decref(copy);
    } else if (m) {
        api->forward(c, m);
    } else {
        api->send_json(c, msg);
    }
}

/* The user's unread counts: the lobby's first frame. */
static void on_counts(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    json_t *frame;

    (void)data;
    if (!cc)
        return;
    if (status != 0) {
        p->api->close(c, 1011, "message store unavailable");
        return;
    }
    frame = json_pack("{s:s, s:O}", "type", "unread", "counts", json_object_get(result, "counts"));
    cc_go_live(c, cc, frame);
    json_decref(frame);
}

/* /ws/lobby/: join user_<id>, accept, then send the unread counts.  The
 * lobby reads nothing of the request after connect: it goes at accept. */
static int lobby_open(chanhost_conn *c, cc_conn *cc)
{
    cc_plugin *p = cc->p;

    p->api->release_request(c);
    cc->handlers = lobby_handlers;
    cc->deliver = lobby_deliver;
    snprintf(cc->group, sizeof cc->group, "user_%lld", (long long)cc->user_id);
    if (p->api->group_add(c, cc->group) != CHANHOST_OK)
        return 1011;
    if (cc_call(c, p, "unread.counts", json_pack("{s:I}", "user_id", cc->user_id), on_counts,
                NULL) != 0)
        return 1011;
    return CHANHOST_ACCEPT;
}

/* ---- notifications after a message ---------------------------------------- */

/* The participants' counts: a notification to each one's lobby group,
 * but the sender's.  Counted in the store right after the commit (the
 * call is queued from the append's own callback), so each count is the
 * one this message made. */
static void on_recipients(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                          const json_t *result, json_t *data)
{
    json_int_t sender = json_integer_value(json_object_get(data, "sender_id"));
    const char *uid;
    json_t *n, *note;
    char group[CC_GROUP_MAX];

    (void)c;
    (void)cc;
    if (status != 0)
        return;
    json_object_foreach((json_t *)json_object_get(result, "counts"), uid, n)
    {
        if (strtoll(uid, NULL, 10) == sender)
            continue;
        note = json_copy(json_object_get(data, "note"));
        json_object_set(note, "unread", n);
        snprintf(group, sizeof group, "user_%s", uid);
        p->api->group_send(group, note);
        json_decref(note);
    }
}

/* A message committed in room: notify the other participants' lobbies
 * (seed 004's private and group forms; target_user is filled in by each
 * recipient's lobby connection). */
static void cr_committed(cc_plugin *p, const json_t *room, const json_t *out)
{
    json_t *note, *data;

    if (room_is_private(room))
        note = json_pack("{s:s, s:O, s:s, s:O}", "type", "notification", "sender",
                         json_object_get(out, "username"), "room_type", "private", "room_id",
                         json_object_get(room, "id"));
    else
        note = json_pack("{s:s, s:O, s:O, s:s, s:O}", "type", "notification", "sender",
                         json_object_get(out, "username"), "room_name",
                         json_object_get(room, "name") ? json_object_get(room, "name")
                                                       : json_null(),
                         "room_type", "group", "room_id", json_object_get(room, "id"));
    data = json_pack("{s:o, s:O, s:O}", "note", note, "sender_id", json_object_get(out, "user_id"),
                     "room_id", json_object_get(room, "id"));
    cc_call(NULL, p, "unread.for_room", json_pack("{s:O}", "room_id", json_object_get(room, "id")),
            on_recipients, data);
}

/* ---- read receipts ----------------------------------------------------------- */

/* The reader's new unread count for the room, to their lobby. */
static void on_reader_unread(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                             const json_t *result, json_t *data)
{
    json_t *counts = json_object_get(result, "counts"), *frame;
    char uid[24], rid[24];

    (void)c;
    (void)cc;
    if (status != 0)
        return;
    snprintf(uid, sizeof uid, "%lld",
             (long long)json_integer_value(json_object_get(data, "user_id")));
    snprintf(rid, sizeof rid, "%lld",
             (long long)json_integer_value(json_object_get(data, "room_id")));
    frame = json_pack("{s:s, s:{s:I}}", "type", "unread", "counts", rid,
                      json_integer_value(json_object_get(counts, uid)));
    cc_group_send_id(p, "user_", json_integer_value(json_object_get(data, "user_id")), frame);
    json_decref(frame);
}

/* Receipts recorded: tell the room (only what was newly marked), then
 * the reader's lobby. */
static void on_marked(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    json_t *marked = json_object_get(result, "marked"), *out, *params;
    int bulk = strcmp(json_string_value(json_object_get(data, "type")), "bulk_read") == 0;

    (void)cc;
    if (status != 0) {
        if (c)
            cc_store_error(c, p, status, NULL);
        return;
    }
    if (json_array_size(marked) == 0)
        return;
    out = json_pack("{s:O, s:O, s:O, s:O}", "type", json_object_get(data, "type"),
                    bulk ? "message_ids" : "message_id", bulk ? marked : json_array_get(marked, 0),
                    "username", json_object_get(data, "username"), "user_id",
                    json_object_get(data, "user_id"));
    p->api->group_send(json_string_value(json_object_get(data, "group")), out);
    json_decref(out);
    params = json_pack("{s:O, s:[O]}", "room_id", json_object_get(data, "room_id"), "user_ids",
                       json_object_get(data, "user_id"));
    cc_call(NULL, p, "unread.for_room", params, on_reader_unread, json_incref(data));
}

/* What the receipt continuations need, whether or not the reader stays. */
static json_t *reader_data(chanhost_conn *c, cc_conn *cc, const char *type)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:I}", "type", type, "group", cc->group, "room_id",
                     cc->room_id, "username", chk_username(cc->p->api, c), "user_id", cc->user_id);
}

/* {"type":"read_receipt","message_id":N}: a message of this room read. */
static void cr_on_read_receipt(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    json_int_t id = cc_id_field(in, "message_id");
    json_t *params;

    if (!id) {
        cc_error(c, cc->p, "bad_request", "\"message_id\" must be a message id", NULL);
        return;
    }
    params = json_pack("{s:I, s:I, s:[I]}", "user_id", cc->user_id, "room_id", cc->room_id,
                       "message_ids", id);
    cc_call_or_error(c, cc->p, "read.mark_room", params, on_marked,
                     reader_data(c, cc, "read_receipt"));
}

/* {"type":"bulk_read","up_to_id"?}: everything (up to an id) read. */
static void cr_on_bulk_read(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    const json_t *up = json_object_get(in, "up_to_id");
    json_t *params;

    if (up && !json_is_null(up) && !cc_id_field(in, "up_to_id")) {
        cc_error(c, cc->p, "bad_request", "\"up_to_id\" must be a message id", NULL);
        return;
    }
    params = json_pack("{s:I, s:I}", "user_id", cc->user_id, "room_id", cc->room_id);
    if (up && !json_is_null(up))
        json_object_set(params, "up_to_id", (json_t *)up);
    cc_call_or_error(c, cc->p, "read.bulk", params, on_marked, reader_data(c, cc, "bulk_read"));
}

/* ---- descriptor ---------------------------------------------------------------- */

static int cr_init(const chanhost_api *api, const json_t *settings, void **state)
{
    return cc_init(api, settings, &chatroom_kind, state);
}

/* The room.get query of the id routes ({"id"}) and of the group route
 * ({"key": "group:<slug>"}); NULL with *code set for a route without a
 * usable room (code 0: the lobby). */
static json_t *room_query(chanhost_conn *c, const chanhost_api *api, int *code)
{
    static const char *const id_params[] = {"room_id", "thread_id", "chat_id", NULL};
    const char *slug = api->route_param(c, "room_name"), *id = NULL;
    char key[256], *end;
    long long v;

    *code = 4004;
    if (slug) {
        if (snprintf(key, sizeof key, "group:%s", slug) >= 200)
            return NULL;
        return json_pack("{s:s}", "key", key);
    }
    for (size_t i = 0; !id && id_params[i]; i++)
        id = api->route_param(c, id_params[i]);
    if (!id) {
        *code = 0;
        return NULL;
    }
    v = strtoll(id, &end, 10);
    if (*end || v <= 0 || v == LLONG_MAX)
        return NULL;
    return json_pack("{s:I}", "id", (json_int_t)v);
}

/* 4001 without a valid token; the lobby accepts at once; a room waits
 * for the store (4004 no such room, 4003 not a participant). */
static int cr_connect(chanhost_conn *c, void *state)
{
    cc_plugin *p = state;
    int code;
    cc_conn *cc = cc_attach(c, p, &code);
    json_t *query;

    if (!cc)
        return code;
    query = room_query(c, p->api, &code);
    if (!query)
        return code ? code : lobby_open(c, cc);
    return cc_open_room(c, cc, query, 0);
}

CC_PLUGIN_DESCRIPTOR("chatroom", cr_init, cr_connect);
