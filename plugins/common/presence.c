/*
 * presence.c -- the chat plugins' use of the host's presence service
 * (SDK 1.4, docs/presence.md), shared by chatroom, taskcomments and
 * support: a room connection that goes live is tracked in its room's
 * group and first gets {"type": "presence", "users": [...]}; the host's
 * {"type": "presence_diff"} frames follow through group_message (the
 * room's delivery forwards them).  Also GET /api/rooms/<id>/presence/
 * (chatroom's endpoint): the room's online users and every participant's
 * last-seen time, for participants only.  Owns nothing beyond a call.
 */
#include <stdio.h>
#include <string.h>

#include "chatcore.h"
#include "chathttp.h"

/* chatcore.h: track the live room connection and send the presence frame
 * (the list is a new reference, freed here). */
void cc_presence_open(chanhost_conn *c, cc_conn *cc)
{
    const chanhost_api *api = cc->p->api;
    json_t *users, *frame;
    char group[CC_GROUP_MAX];

    if (!cc->p->set.presence || cc->room_id <= 0)
        return;
    if (api->presence_track(c, cc_group(cc, group)) != CHANHOST_OK) {
        api->log(CHANHOST_LOG_WARN, "presence: %s: not tracked", group);
        return;
    }
    users = api->presence_list(group);
    frame = users ? json_pack("{s:s, s:o}", "type", "presence", "users", users) : NULL;
    if (frame)
        api->send_json(c, frame);
    json_decref(frame);
}

/* room.last_seen answered: 403 for a caller who is not a participant,
 * else {"room_id", "online": [{user_id, username}], "users": [{user_id,
 * username, online, last_seen}]} (call->room holds {"group"}, the room's
 * layer group). */
static void on_last_seen(hc_call *call, int status, const json_t *result, const char *error)
{
    const json_t *me = call->api->http_user(call->req), *u;
    json_int_t uid = json_integer_value(json_object_get(me, "id"));
    const char *group = json_string_value(json_object_get(call->room, "group"));
    json_t *online, *users = json_array(), *ids = json_object();
    int member = 0;
    size_t i;

    if (status != 0) {
        json_decref(users);
        json_decref(ids);
        hc_store_failed(call, status, error);
        return;
    }
    online = group ? call->api->presence_list(group) : NULL;
    json_array_foreach(online, i, u)
    {
        char key[24];

        snprintf(key, sizeof key, "%lld",
                 (long long)json_integer_value(json_object_get(u, "user_id")));
        json_object_set(ids, key, json_true());
    }
    json_array_foreach(json_object_get(result, "users"), i, u)
    {
        json_int_t id = json_integer_value(json_object_get(u, "user_id"));
        char key[24];

        snprintf(key, sizeof key, "%lld", (long long)id);
        member |= id == uid;
        json_array_append_new(users, json_pack("{s:I, s:O, s:b, s:O}", "user_id", id, "username",
                                               json_object_get(u, "username"), "online",
                                               json_object_get(ids, key) != NULL, "last_seen",
                                               json_object_get(u, "last_seen")));
    }
    json_decref(ids);
    if (!member || !online) {
        json_decref(online);
        json_decref(users);
        if (!member)
            hc_fail(call, 403, "forbidden", NULL, "not a participant of this room");
        else
            hc_fail(call, 500, "internal", NULL, "out of memory");
        return;
    }
    hc_reply(call, 200,
             json_pack("{s:I, s:o, s:o}", "room_id", call->id, "online", online, "users", users));
}

/* chatcore.h: GET /api/rooms/<id>/presence/; the chain (hc_call) is freed
 * by its answer. */
void cc_presence_http(chanhost_http *req, void *state)
{
    cc_plugin *p = state;
    hc_call *call = hc_begin(p->api, req);
    char group[CC_GROUP_MAX];

    if (!call || hc_path_id(call, "room_id"))
        return;
    snprintf(group, sizeof group, "%s%lld", p->set.group_prefix, (long long)call->id);
    call->room = json_pack("{s:s}", "group", group);
    hc_exec(call, "room.last_seen", json_pack("{s:I}", "room_id", call->id), on_last_seen);
}
