/*
 * receipts.c -- read receipts, unread counts and lobby notifications,
 * shared by the chatroom, taskcomments and support plugins (compiled into
 * each, see chatcore.h).  It owns:
 *
 *   - marking messages read (store ops read.mark_room, read.bulk): the
 *     newly marked ids go to the room's groups as read_receipt / bulk_read
 *     (never for one's own messages: the store skips them), and the
 *     reader's new unread count for the room to their lobby group
 *     user_<id> as {"type":"unread","counts":{"<room id>": n}};
 *   - the lobby notifications after a committed message: each other
 *     participant's lobby gets {"type":"notification", ...} with their
 *     unread count for the room (read by message.append in its own
 *     transaction when the kind asks, "unread": true; else store op
 *     unread.for_room), one per room and participant for the messages of
 *     a room committed in one transaction (the last one's counts).
 *
 * The lobby connection itself (/ws/lobby/) is chatroom's; these frames
 * reach it through the channel layer, whichever plugin sends them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatcore.h"

#define GET(o, k) json_object_get(o, k)

/* Private rooms (one-to-one chats, threads, tasks, ads, support) and
 * group rooms differ in their notifications. */
static int room_is_private(const json_t *room)
{
    const char *kind = json_string_value(GET(room, "kind"));

    return json_is_true(GET(room, "is_private")) ||
           (kind && (strcmp(kind, "private") == 0 || strcmp(kind, "thread") == 0));
}

/* ---- notifications after a message ---------------------------------------- */

/* The participants' counts ({"<user id>": n}, borrowed): a notification
 * (data's "note", borrowed) to each one's lobby group, but the sender's.
 * One copy of the note serves every recipient while no group_send keeps
 * a reference to it (its message, queued somewhere, may still read it):
 * only then is its "unread" changed for the next one. */
static void notify_counts(cc_plugin *p, const json_t *counts, const json_t *data)
{
    json_int_t sender = json_integer_value(GET(data, "sender_id"));
    const char *uid;
    json_t *n, *note = NULL;
    char group[CC_GROUP_MAX];

    json_object_foreach((json_t *)counts, uid, n)
    {
        if (strtoll(uid, NULL, 10) == sender)
            continue;
        if (note && note->refcount > 1) {
            json_decref(note);
            note = NULL;
        }
        if (!note && !(note = json_copy(GET(data, "note"))))
            return;
        json_object_set(note, "unread", n);
        snprintf(group, sizeof group, "user_%s", uid);
        p->api->group_send(group, note);
    }
    json_decref(note);
}

/* unread.for_room answered: notify_counts.  Counted in the store right
 * after the commit (the call is queued from the append's own callback),
 * so each count is the one this message made. */
static void on_recipients(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                          const json_t *result, json_t *data)
{
    (void)c;
    (void)cc;
    if (status == 0)
        notify_counts(p, GET(result, "counts"), data);
}

/* A message committed in room (borrowed; at least its "id"): notify the
 * other participants' lobbies (seed 004's private and group forms;
 * target_user is filled in by each recipient's lobby connection) with
 * unread (borrowed: the counts message.append read in its transaction) or,
 * when it is NULL, those of an unread.for_room call. */
void cc_notify_lobbies(cc_plugin *p, const json_t *room, json_int_t sender_id, const char *sender,
                       const json_t *unread)
{
    const json_t *name = GET(room, "name");
    json_t *note, *data;

    if (room_is_private(room))
        note = json_pack("{s:s, s:s, s:s, s:O}", "type", "notification", "sender", sender,
                         "room_type", "private", "room_id", GET(room, "id"));
    else
        note = json_pack("{s:s, s:s, s:O, s:s, s:O}", "type", "notification", "sender", sender,
                         "room_name", name ? name : json_null(), "room_type", "group", "room_id",
                         GET(room, "id"));
    data = json_pack("{s:o, s:I, s:O}", "note", note, "sender_id", sender_id, "room_id",
                     GET(room, "id"));
    if (json_is_object(unread)) {
        notify_counts(p, unread, data);
        json_decref(data);
        return;
    }
    cc_call(NULL, p, "unread.for_room", json_pack("{s:O}", "room_id", GET(room, "id")),
            on_recipients, data);
}

/* The timer after the loop turn of deferred counts: each room whose
 * counts no later append brought is notified with counts read now. */
static void lobby_flush(chanhost_timer *t, void *arg)
{
    cc_plugin *p = arg;
    const char *key;
    json_t *w;

    (void)t;
    p->lobby_timer = NULL; /* a one-shot timer: freed when this returns */
    json_object_foreach(p->lobby_wait, key, w)
    {
        cc_notify_lobbies(p, GET(w, "room"), json_integer_value(GET(w, "sender_id")),
                          json_string_value(GET(w, "sender")), NULL);
    }
    json_object_clear(p->lobby_wait);
}

/* cc_kind's committed hook: out is the broadcast message (username,
 * user_id), result the append's (its "unread" when the kind asked, or
 * "unread_deferred": see chatcore.h). */
void cc_committed_notify(cc_plugin *p, const json_t *room, const json_t *out, const json_t *result)
{
    const char *name = json_string_value(GET(out, "username"));
    json_int_t sender = json_integer_value(GET(out, "user_id"));
    char key[24];

    cc_name_id(key, sizeof key, "", json_integer_value(GET(room, "id")));
    if (!json_is_true(GET(result, "unread_deferred"))) {
        json_object_del(p->lobby_wait, key);
        cc_notify_lobbies(p, room, sender, name ? name : "", GET(result, "unread"));
        return;
    }
    json_object_set_new(p->lobby_wait, key,
                        json_pack("{s:O, s:I, s:s}", "room", room, "sender_id", sender, "sender",
                                  name ? name : ""));
    if (!p->lobby_timer)
        p->lobby_timer = p->api->timer_start(0, 0, lobby_flush, p);
    if (!p->lobby_timer) /* no timer: read the counts now */
        lobby_flush(NULL, p);
}

/* ---- read receipts ----------------------------------------------------------- */

/* The reader's new unread count for the room, to their lobby. */
static void on_reader_unread(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                             const json_t *result, json_t *data)
{
    json_t *counts = GET(result, "counts"), *frame;
    char uid[24], rid[24];

    (void)c;
    (void)cc;
    if (status != 0)
        return;
    snprintf(uid, sizeof uid, "%lld", (long long)json_integer_value(GET(data, "user_id")));
    snprintf(rid, sizeof rid, "%lld", (long long)json_integer_value(GET(data, "room_id")));
    frame = json_pack("{s:s, s:{s:I}}", "type", "unread", "counts", rid,
                      json_integer_value(GET(counts, uid)));
    cc_group_send_id(p, "user_", json_integer_value(GET(data, "user_id")), frame);
    json_decref(frame);
}

/* Receipts recorded: tell the room's groups (only what was newly marked),
 * then the reader's lobby. */
static void on_marked(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    json_t *marked = GET(result, "marked"), *out, *params, *g;
    int bulk = strcmp(json_string_value(GET(data, "type")), "bulk_read") == 0;
    size_t i;

    (void)cc;
    if (status != 0) {
        if (c && !json_is_true(GET(data, "quiet")))
            cc_store_error(c, p, status, NULL);
        return;
    }
    if (json_array_size(marked) == 0)
        return;
    out = json_pack("{s:O, s:O, s:O, s:O}", "type", GET(data, "type"),
                    bulk ? "message_ids" : "message_id", bulk ? marked : json_array_get(marked, 0),
                    "username", GET(data, "username"), "user_id", GET(data, "user_id"));
    if (json_is_object(GET(data, "extra")))
        json_object_update(out, GET(data, "extra"));
    if (GET(result, "pos"))
        json_object_set(out, "pos", GET(result, "pos"));
    json_array_foreach(GET(data, "groups"), i, g)
    {
        if (!json_is_true(GET(data, "quiet")))
            p->api->group_send(json_string_value(g), out);
    }
    json_decref(out);
    params = json_pack("{s:O, s:[O]}", "room_id", GET(data, "room_id"), "user_ids",
                       GET(data, "user_id"));
    cc_call(NULL, p, "unread.for_room", params, on_reader_unread, json_incref(data));
}

/* See chatcore.h. */
void cc_mark_read(chanhost_conn *c, cc_conn *cc, const cc_read *r)
{
    cc_plugin *p = cc->p;
    const char *name = chk_username(p->api, c);
    json_t *params, *data;

    params = json_pack("{s:I, s:I}", "user_id", cc->user_id, "room_id", r->room_id);
    if (r->message_id)
        json_object_set_new(params, "message_ids", json_pack("[I]", r->message_id));
    if (r->up_to_id)
        json_object_set_new(params, "up_to_id", json_integer(r->up_to_id));
    data = json_pack("{s:s, s:O, s:I, s:s, s:I, s:b}", "type",
                     r->message_id ? "read_receipt" : "bulk_read", "groups", r->groups, "room_id",
                     r->room_id, "username", name ? name : "", "user_id", cc->user_id, "quiet",
                     r->quiet);
    if (r->extra)
        json_object_set(data, "extra", (json_t *)r->extra);
    if (!r->quiet) { /* a read the room hears of is in its stream too */
        cc_stream_params(p, params);
        json_object_set_new(params, "stream_extra",
                            json_pack("{s:s}", "username", name ? name : ""));
        if (json_is_object(r->extra))
            json_object_update(json_object_get(params, "stream_extra"), (json_t *)r->extra);
    }
    if (r->quiet)
        cc_call(c, p, r->message_id ? "read.mark_room" : "read.bulk", params, on_marked, data);
    else
        cc_call_or_error(c, p, r->message_id ? "read.mark_room" : "read.bulk", params, on_marked,
                         data);
}

/* The read in frame's ids into r: message_id for a read_receipt, the
 * optional up_to_id for a bulk_read.  0, or -1 after an error frame. */
int cc_read_ids(chanhost_conn *c, cc_conn *cc, const json_t *in, cc_read *r)
{
    const char *type = json_string_value(GET(in, "type"));
    const json_t *up = GET(in, "up_to_id");

    if (type && strcmp(type, "read_receipt") == 0) {
        r->message_id = cc_id_field(in, "message_id");
        if (!r->message_id) {
            cc_error(c, cc->p, "bad_request", "\"message_id\" must be a message id", NULL);
            return -1;
        }
        return 0;
    }
    if (up && !json_is_null(up) && !(r->up_to_id = cc_id_field(in, "up_to_id"))) {
        cc_error(c, cc->p, "bad_request", "\"up_to_id\" must be a message id", NULL);
        return -1;
    }
    return 0;
}

/* {"type":"read_receipt","message_id":N} or {"type":"bulk_read",
 * "up_to_id"?}: read in the connection's room, told to its group. */
void cc_on_read(chanhost_conn *c, cc_conn *cc, const json_t *in)
{
    cc_read r = {.room_id = cc->room_id};
    json_t *groups;
    char group[CC_GROUP_MAX];

    if (cc_read_ids(c, cc, in, &r) != 0)
        return;
    r.groups = groups = json_pack("[s]", cc_group(cc, group));
    cc_mark_read(c, cc, &r);
    json_decref(groups);
}
