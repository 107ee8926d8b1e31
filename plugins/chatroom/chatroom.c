/*
 * chatroom -- the chat consumers of the seed apps as one plugin: rooms
 * with history, acks, typing, read receipts, edits, and a lobby that
 * counts unread messages.  The shared chat logic is ../common/chatcore.c;
 * this file owns what only chatroom does:
 *
 *   - its routes: /ws/chat-room/<int:room_id>/, /ws/threads/<int:thread_id>/
 *     and /ws/chats/<int:chat_id>/ (the room with that id),
 *     /ws/chat/group/<slug:room_name>/ (the room keyed group:<room_name>;
 *     with the group_rooms setting "open", the default, made on first
 *     join and joined by any signed-in user when it is open),
 *     and /ws/lobby/ (no room: the user's group user_<id>);
 *   - seed 002's dialect on /ws/chats/<id>/: {"type":"message","text"}
 *     in (on every room route), and each new message also out as
 *     {"type":"message","text","sender",...} after its chat_message;
 *   - the lobby connection (/ws/lobby/): the unread counts first, then
 *     what ../common/receipts.c sends to user_<id> (notifications after
 *     each committed message, the reader's new counts after receipts).
 *   - its endpoint GET /api/rooms/<int:room_id>/presence/ (the handler is
 *     ../common/presence.c's).
 *
 * The wire protocol is in README.md next to this file.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/chatcore.h"

/* A borrowed value, or JSON null for a missing one (json_pack "O"). */
#define OR_NULL(v) ((v) ? (v) : json_null())

static void cr_on_text(chanhost_conn *c, cc_conn *cc, const json_t *in);
static int cr_room_ok(const json_t *room);

static const cc_handler room_handlers[] = {
    {"chat_message", cc_on_message},
    {"message", cr_on_text}, /* seed 002's {"type":"message","text"} */
    {"typing", cc_on_typing},
    {"read_receipt", cc_on_read},
    {"bulk_read", cc_on_read},
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
    .committed = cc_committed_notify,
    .append_unread = 1,
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
    char group[CC_GROUP_MAX];

    p->api->release_request(c);
    cc->handlers = lobby_handlers;
    cc->deliver = lobby_deliver;
    cc->lobby = 1;
    if (p->api->group_add(c, cc_group(cc, group)) != CHANHOST_OK)
        return 1011;
    if (cc_call(c, p, "unread.counts", json_pack("{s:I}", "user_id", cc->user_id), on_counts,
                NULL) != 0)
        return 1011;
    return CHANHOST_ACCEPT;
}

/* ---- seed 002 (/ws/chats/<id>/) --------------------------------------------- */

/* {"type":"message","text":T,"client_msg_id"?}: seed 002's message, taken
 * as {"type":"chat_message","message":T} (a frame without "text" is
 * taken with its "message"). */
static void cr_on_text(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    const json_t *text = json_object_get(in, "text");
    json_t *as = json_copy((json_t *)in);

    if (!as)
        return;
    if (text)
        json_object_set(as, "message", (json_t *)text);
    cc_on_message(c, cc, as);
    json_decref(as);
}

/* Delivery on seed 002's route: as every room's, and after each new
 * message stored by chatroom (chat_message with an id and a room_id; a
 * Django process's chat.message is left as it came) its seed 002 form
 * {"type":"message", "id", "chat_id", "text", "sender": {"id",
 * "username"}, "timestamp", "client_msg_id"}. */
static void chats_deliver(chanhost_conn *c, cc_conn *cc, const char *type, const json_t *msg,
                          const chanhost_msg *m)
{
    const json_t *text = json_object_get(msg, "message");
    json_t *out;

    cc_deliver_room(c, cc, type, msg, m);
    if (strcmp(type, "chat_message") != 0 || !json_is_string(text) ||
        !json_is_integer(json_object_get(msg, "id")) || !json_object_get(msg, "room_id"))
        return; /* not a stored message of this plugin: forwarded as it came, only */
    out = json_pack("{s:s, s:O, s:O, s:O, s:{s:O, s:O}, s:O, s:O}", "type", "message", "id",
                    OR_NULL(json_object_get(msg, "id")), "chat_id",
                    OR_NULL(json_object_get(msg, "room_id")), "text", text, "sender", "id",
                    OR_NULL(json_object_get(msg, "user_id")), "username",
                    OR_NULL(json_object_get(msg, "username")), "timestamp",
                    OR_NULL(json_object_get(msg, "timestamp")), "client_msg_id",
                    OR_NULL(json_object_get(msg, "client_msg_id")));
    if (out)
        cc->p->api->send_json(c, out);
    json_decref(out);
}

/* ---- descriptor ---------------------------------------------------------------- */

/* The plugin's state (cc_init), with the group_rooms setting: "open"
 * (the default, seed 004: the group route creates a room on first join
 * and joins open rooms) or "members" (the room must exist and the user be
 * a participant); anything else refuses to load. */
static int cr_init(const chanhost_api *api, const json_t *settings, void **state)
{
    const char *mode = json_string_value(json_object_get(settings, "group_rooms"));

    if (mode && strcmp(mode, "open") != 0 && strcmp(mode, "members") != 0) {
        api->log(CHANHOST_LOG_ERROR, "plugin_setting group_rooms '%s': use open or members", mode);
        return -1;
    }
    if (cc_init(api, settings, &chatroom_kind, state) != 0)
        return -1;
    ((cc_plugin *)*state)->set.open_groups = !mode || strcmp(mode, "open") == 0;
    return 0;
}

/* The room.get query of the id routes ({"id"}) and of the group route
 * ({"key": "group:<slug>"}); NULL with *code set for a route without a
 * usable room (code 0: the lobby).  *join is set when the group route
 * joins open rooms: the query is then room.get_or_create's, a new room
 * open (only for a slug that POST /api/rooms/ could name: 1 to 100). */
static json_t *room_query(chanhost_conn *c, const cc_plugin *p, int *code, int *join)
{
    static const char *const id_params[] = {"room_id", "thread_id", "chat_id", NULL};
    const char *slug = p->api->route_param(c, "room_name"), *id = NULL;
    char key[256], *end;
    long long v;

    *code = 4004;
    *join = 0;
    if (slug) {
        if (snprintf(key, sizeof key, "group:%s", slug) >= 200)
            return NULL;
        if (!p->set.open_groups || strlen(slug) > 100)
            return json_pack("{s:s}", "key", key);
        *join = 1;
        return json_pack("{s:s, s:s, s:s, s:b, s:b}", "key", key, "kind", "group", "name", slug,
                         "is_private", 0, "is_open", 1);
    }
    for (size_t i = 0; !id && id_params[i]; i++)
        id = p->api->route_param(c, id_params[i]);
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
 * for the store (4004 no such room, 4003 not a participant of a
 * members-only room; an open group room is joined, made if needed). */
static int cr_connect(chanhost_conn *c, void *state)
{
    cc_plugin *p = state;
    int code, join;
    cc_conn *cc = cc_attach(c, p, &code);
    json_t *query;

    if (!cc)
        return code;
    if (p->api->route_param(c, "chat_id"))
        cc->deliver = chats_deliver;
    query = room_query(c, p, &code, &join);
    if (!query)
        return code ? code : lobby_open(c, cc);
    return join ? cc_join_room(c, cc, query) : cc_open_room(c, cc, query, 0);
}

static const chanhost_endpoint cr_endpoints[] = {
    {"GET", "/api/rooms/<int:room_id>/presence/", CHANHOST_HTTP_USER, cc_presence_http},
};

CC_PLUGIN_DESCRIPTOR_HTTP("chatroom", cr_init, cr_connect, cr_endpoints);
