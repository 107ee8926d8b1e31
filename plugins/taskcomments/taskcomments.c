/*
 * taskcomments -- comments on a kanban task (seed 001's TaskCommentConsumer)
 * as a plugin.  Route: /ws/task-comments/<int:task_id>/.  The task is the
 * store room keyed task:<task_id>, whose participants are the task's
 * members (POST /api/tasks/<id>/members/); everyone watching it listens
 * to the layer group task_<task_id>.
 *
 * Everything but the names is chatcore's (../common/chatcore.c): history
 * on connect (with ?since= recovery), a new comment acked after commit
 * and broadcast once, edit and delete by the author, typing, ping/pong,
 * rate limit and error frames.  The wire protocol is in README.md.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/chatcore.h"

static const cc_handler task_handlers[] = {
    {"comment", cc_on_message},       {"chat_message", cc_on_message},
    {"edit_comment", cc_on_edit},     {"delete_comment", cc_on_delete},
    {"typing", cc_on_typing},         {"ping", cc_on_ping},
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
    .committed = NULL,
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

CC_PLUGIN_DESCRIPTOR("taskcomments", tc_init, tc_connect);
