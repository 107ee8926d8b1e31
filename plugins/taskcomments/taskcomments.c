/*
 * taskcomments -- comments on a kanban task (seed 001's TaskCommentConsumer)
 * as a plugin.  Route: /ws/task-comments/<int:task_id>/.  The task is the
 * store room keyed task:<task_id>, whose participants are the task's
 * members; everyone watching it listens to the layer group task_<task_id>.
 * The application backend manages the members through this plugin's HTTP
 * endpoints (SDK 1.2): POST and DELETE /api/tasks/<int:task_id>/members/,
 * service token or admin, answered after the host's generic store
 * operations (../common/chathttp.c: one chain per request, freed by its
 * answer).
 *
 * Everything but the names is chatcore's (../common/chatcore.c): history
 * on connect (with ?since= recovery), a new comment acked after commit
 * and broadcast once, edit and delete by the author, typing, ping/pong,
 * rate limit and error frames; read receipts and lobby notifications are
 * ../common/receipts.c's, as chatroom's.  The wire protocol is in README.md.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/chatcore.h"
#include "../common/chathttp.h"

static const cc_handler task_handlers[] = {
    {"comment", cc_on_message},
    {"chat_message", cc_on_message},
    {"edit_comment", cc_on_edit},
    {"delete_comment", cc_on_delete},
    {"typing", cc_on_typing},
    {"read_receipt", cc_on_read},
    {"bulk_read", cc_on_read},
    {"ping", cc_on_ping},
    {NULL, NULL},
};

/* Only task rooms: a task id never opens another kind of room. */
static int tc_room_ok(const json_t *room)
{
    const char *kind = json_string_value(json_object_get(room, "kind"));

    return kind && strcmp(kind, "task") == 0;
}

static const cc_kind task_kind = {
    .msg_type = "comment",
    .edited_type = "comment_edited",
    .deleted_type = "comment_deleted",
    .id_field = "task_id",
    .group_prefix = "task_",
    .handlers = task_handlers,
    .room_ok = tc_room_ok,
    .committed = cc_committed_notify,
};

static int tc_init(const chanhost_api *api, const json_t *settings, void **state)
{
    return cc_init(api, settings, &task_kind, state);
}

/* 4001 without a valid token, 4004 for a task without a room (no members
 * yet), 4003 for a user who is not a member. */
static int tc_connect(chanhost_conn *c, void *state)
{
    cc_plugin *p = state;
    int code;
    cc_conn *cc = cc_attach(c, p, &code);
    const char *id = p->api->route_param(c, "task_id");
    char key[48], *end;
    long long task;

    if (!cc)
        return code;
    task = id ? strtoll(id, &end, 10) : 0;
    if (task <= 0 || *end || task == LLONG_MAX)
        return 4004;
    snprintf(key, sizeof key, "task:%lld", task);
    return cc_open_room(c, cc, json_pack("{s:s}", "key", key), (json_int_t)task);
}

/* ---- /api/tasks/<int:task_id>/members/ (service) ------------------------ */

/* The task room's key "task:<id>" for the path's id. */
static void task_key(const hc_call *call, char key[48])
{
    snprintf(key, 48, "task:%lld", (long long)call->id);
}

/* The task's room (new or not): add the member; 200 {"added"}. */
static void member_room_made(hc_call *call, int status, const json_t *result, const char *error)
{
    if (status != 0) {
        hc_store_failed(call, status, error);
        return;
    }
    call->room = json_incref(json_object_get(result, "room"));
    hc_exec(call, "participant.add", hc_room_user_streamed(call, call->user), hc_answer_change);
}

/* POST /api/tasks/<id>/members/ {"user_id"}: room task:<id> (kind task,
 * private), created when needed. */
static void tc_member_add(chanhost_http *req, void *state)
{
    hc_call *call = hc_begin(((cc_plugin *)state)->api, req);
    char key[48];

    if (!call || hc_path_id(call, "task_id") || hc_body_id(call, "user_id", 1, &call->user))
        return;
    task_key(call, key);
    hc_exec(call, "room.get_or_create", hc_private_room(key, "task"), member_room_made);
}

/* The task's room, if there is one: remove the member from it; none:
 * 200 {"removed": false}. */
static void member_room_found(hc_call *call, int status, const json_t *result, const char *error)
{
    if (status == CHANHOST_STORE_ENOENT) {
        hc_reply(call, 200, json_pack("{s:b}", "removed", 0));
        return;
    }
    if (status != 0) {
        hc_store_failed(call, status, error);
        return;
    }
    call->room = json_incref(json_object_get(result, "room"));
    hc_exec(call, "participant.remove", hc_room_user_streamed(call, call->user), hc_answer_change);
}

/* DELETE /api/tasks/<id>/members/ {"user_id"}. */
static void tc_member_remove(chanhost_http *req, void *state)
{
    hc_call *call = hc_begin(((cc_plugin *)state)->api, req);
    char key[48];

    if (!call || hc_path_id(call, "task_id") || hc_body_id(call, "user_id", 1, &call->user))
        return;
    task_key(call, key);
    hc_exec(call, "room.get", json_pack("{s:s}", "key", key), member_room_found);
}

static const chanhost_endpoint task_endpoints[] = {
    {"POST", "/api/tasks/<int:task_id>/members/", CHANHOST_HTTP_SERVICE, tc_member_add},
    {"DELETE", "/api/tasks/<int:task_id>/members/", CHANHOST_HTTP_SERVICE, tc_member_remove},
};

CC_PLUGIN_DESCRIPTOR_HTTP("taskcomments", tc_init, tc_connect, task_endpoints);
