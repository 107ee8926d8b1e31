/*
 * membership.c -- owns the host's membership messages (membership.h): a
 * connection's bound room, its user's host group, the message a removal
 * sends to that group (or, for a removal the store's database announced,
 * delivers to this host's members of it), and the 4003 close it causes.
 * It owns no memory beyond the call: the bound room is a field of the
 * connection (chanhost_conn.room_id) and the group membership is the
 * layer's, left with the connection's other groups when it goes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "membership.h"

#include "app.h"
#include "ident.h"
#include "layer.h"
#include "log.h"
#include "session.h"

#define MEMBERSHIP_TYPE "chanhost.membership"

/* The host group of a user's bound connections, into buf (64 bytes). */
static void user_group(char buf[64], int64_t user_id)
{
    snprintf(buf, 64, "chanhost.user.%lld", (long long)user_id);
}

/* membership.h: the user's group name. */
void ch_membership_user_group(char buf[64], int64_t user_id) { user_group(buf, user_id); }

/* membership.h: join w's user's group. */
int ch_membership_join_user(ch_app *app, ch_ws *w)
{
    int64_t user = (w->ident ? w->ident->id : 0);
    char group[64];

    if (user <= 0)
        return 0;
    user_group(group, user);
    return ch_layer_group_add(app->layer, &w->ep, group);
}

/* The authenticated user of w, 0 if none. */
static int64_t user_of(const ch_ws *w)
{
    return w->ident ? w->ident->id : 0;
}

void ch_membership_observe(void *arg, const char *op, const json_t *params, const json_t *result)
{
    if (strcmp(op, "participant.remove") != 0 || !json_is_true(json_object_get(result, "removed")))
        return;
    ch_membership_removed(arg, json_integer_value(json_object_get(params, "room_id")),
                          json_integer_value(json_object_get(params, "user_id")));
}

/* The membership message of a removal: a new reference, or NULL (out of
 * memory). */
static ch_msg *removal_msg(int64_t room_id, int64_t user_id)
{
    json_t *obj = json_pack("{s:s, s:I, s:I, s:b}", "type", MEMBERSHIP_TYPE, "room_id",
                            (json_int_t)room_id, "user_id", (json_int_t)user_id, "removed", 1);
    const char *why = NULL;
    ch_msg *m = obj ? ch_msg_from_json(obj, &why) : NULL;

    json_decref(obj);
    return m;
}

/* membership.h: the payload's two ids, or -EINVAL. */
int ch_membership_parse(const char *payload, int64_t *room_id, int64_t *user_id)
{
    json_t *j = payload ? json_loads(payload, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *room = json_object_get(j, "room_id"), *user = json_object_get(j, "user_id");
    int ok = json_is_integer(room) && json_is_integer(user) && json_integer_value(room) > 0 &&
             json_integer_value(user) > 0;

    if (ok) {
        *room_id = json_integer_value(room);
        *user_id = json_integer_value(user);
    }
    json_decref(j);
    return ok ? 0 : -EINVAL;
}

/* membership.h: a removal the database announced, delivered to this
 * host's members of the user's group only. */
void ch_membership_notified(void *arg, const char *channel, const char *payload)
{
    ch_app *app = arg;
    int64_t room_id, user_id;
    ch_msg *m;
    char group[64];
    size_t n;

    if (ch_membership_parse(payload, &room_id, &user_id) != 0) {
        if (ch_session_notified(app, payload))
            return; /* a session change (session.h) on the same channel */
        ch_log(CH_LOG_WARN, "membership: ignoring a notification on %s: not a removal: %.80s",
               channel, payload ? payload : "");
        return;
    }
    if (!(m = removal_msg(room_id, user_id))) {
        ch_log(CH_LOG_WARN, "membership: user %lld removed from room %lld: out of memory",
               (long long)user_id, (long long)room_id);
        return;
    }
    user_group(group, user_id);
    n = ch_layer_deliver_group(app->layer, group, m);
    ch_msg_unref(m);
    ch_log(CH_LOG_DEBUG, "membership: the store removed user %lld from room %lld (%zu here)",
           (long long)user_id, (long long)room_id, n);
}

int ch_membership_user_send(ch_app *app, int64_t user_id, ch_msg *m)
{
    char group[64];

    if (!m)
        return -ENOMEM;
    user_group(group, user_id);
    return ch_layer_group_send(app->layer, group, m);
}

int ch_membership_removed(ch_app *app, int64_t room_id, int64_t user_id)
{
    ch_msg *m = removal_msg(room_id, user_id);
    int rc = ch_membership_user_send(app, user_id, m);

    ch_msg_unref(m);
    if (rc != 0)
        ch_log(CH_LOG_WARN,
               "membership: user %lld removed from room %lld: the layer refused "
               "the message (%d); their open connections stay until they close",
               (long long)user_id, (long long)room_id, rc);
    return rc;
}

int ch_membership_bind(ch_app *app, ch_ws *w, int64_t room_id)
{
    int64_t user = w ? user_of(w) : 0;
    char group[64];
    int rc;

    if (!w || user <= 0 || room_id <= 0 || w->conn->closing)
        return CHANHOST_ERR_INVALID;
    user_group(group, user);
    rc = ch_layer_group_add(app->layer, &w->ep, group);
    if (rc != 0)
        return rc == -ENOMEM ? CHANHOST_ERR_NOMEM : CHANHOST_ERR_INVALID;
    w->room_id = room_id;
    return CHANHOST_OK;
}

int ch_membership_message(ch_ws *w, const ch_msg *msg)
{
    const json_t *j = msg->json;

    if (!msg->type || strcmp(msg->type, MEMBERSHIP_TYPE) != 0)
        return 0;
    if (w->room_id > 0 && !w->close_sent && !w->conn->closing &&
        json_is_true(json_object_get(j, "removed")) &&
        json_integer_value(json_object_get(j, "room_id")) == w->room_id &&
        json_integer_value(json_object_get(j, "user_id")) == user_of(w)) {
        ch_log(CH_LOG_INFO,
               "WebSocket MEMBERSHIP %s [%s] user %lld removed from room %lld, "
               "closing with 4003",
               w->path, ch_conn_peer(w->conn), (long long)user_of(w), (long long)w->room_id);
        ch_ws_close(w, 4003, "removed from the room");
    }
    return 1;
}
