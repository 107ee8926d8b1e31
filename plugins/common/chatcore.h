/*
 * chatcore.h -- the chat logic that the chatroom, taskcomments and support
 * plugins share, compiled into each of them (plugins/common/chatcore.c;
 * this directory has no CMakeLists.txt of its own).  It owns:
 *
 *   - the plugin settings (history_limit, max_message_chars, rate, burst,
 *     abuse_close_after) and the per-connection token bucket;
 *   - opening a room asynchronously: room.get (or room.get_or_create for
 *     a route that joins open rooms), api->bind_room (the host
 *     closes the connection with 4003 when its user is removed from the
 *     room), participant.check (a stranger to an open room that route
 *     reaches is added: participant.add), then
 *     accept (4003 / 4004 / 1011 otherwise), join the room's group and
 *     send {"type":"history"} (the last N messages, or with ?since=<id>
 *     exactly those after id) in frames of bounded size, each sent when
 *     the previous one was written out (catchup.c: cc_load_history,
 *     cc_go_live);
 *   - receiving: rate limit, JSON parsing, dispatch through the plugin's
 *     table of in-frame types, error frames that keep the connection;
 *   - the shared in-frame types: a new message (append, ack after commit,
 *     broadcast once), edit and delete by the author, typing, ping;
 *   - per-connection state that a plugin may extend with its own fields
 *     (cc_kind's conn_size and conn_free: the support plugin does);
 *   - channel-layer messages: held back until the history's last frame
 *     is out, then forwarded (once: not those the history held), without
 *     the sender's own typing/receipts;
 *   - read receipts, unread counts and lobby notifications (receipts.c);
 *   - presence frames and the presence endpoint (presence.c).
 *
 * Everything runs on the host's loop thread.  Store calls carry their own
 * data, so a result that arrives after the client left (c == NULL) frees
 * that data, and still broadcasts a write that committed.
 *
 * Only chanhost.h and chanhost_kit.h are included: each plugin builds with
 * `-I sdk` alone.
 */
#ifndef CHATCORE_H
#define CHATCORE_H

#include "chanhost.h"
#include "chanhost_kit.h"

/* A group name: the group_prefix setting (at most 31 bytes) and a
 * 64-bit id in decimal, or "user_" and one (checked below). */
#define CC_GROUP_MAX 52

typedef struct cc_conn cc_conn;
typedef struct cc_plugin cc_plugin;
typedef struct cc_catchup cc_catchup;

/* A handler of one client frame type.  in: the parsed object (borrowed).
 * A table ends with a NULL type; that entry's fn (if any) takes every
 * other type, else the client gets an "unknown_type" error frame. */
typedef void (*cc_handler_fn)(chanhost_conn *c, cc_conn *cc, const json_t *in);

typedef struct cc_handler {
    const char *type;
    cc_handler_fn fn;
} cc_handler;

/* Deliver a layer message to the client (m NULL: send msg as JSON). */
typedef void (*cc_deliver_fn)(chanhost_conn *c, cc_conn *cc, const char *type, const json_t *msg,
                              const chanhost_msg *m);

/* What makes one plugin differ from the other. */
typedef struct cc_kind {
    const char *msg_type;       /* out type of a new message: "chat_message" */
    const char *edited_type;    /* "message_edited" */
    const char *deleted_type;   /* "message_deleted" */
    const char *id_field;       /* extra id in message payloads ("task_id") or NULL */
    const char *group_prefix;   /* the room's layer group: prefix + public id,
                                  or + room id when there is no public id */
    const cc_handler *handlers; /* in-frame types of a room connection */
    /* May this plugin serve the room (its room.get JSON)?  NULL: any. */
    int (*room_ok)(const json_t *room);
    /* A new message committed (out: its payload as broadcast, room: the
     * room's JSON, result: message.append's result; all borrowed); runs
     * even when the sender has left.  May be NULL. */
    void (*committed)(cc_plugin *p, const json_t *room, const json_t *out, const json_t *result);
    /* Non-zero: the append asks for the room's unread counts in the same
     * transaction ("unread": true; result "unread", for committed), once
     * per room and transaction where the host has timers ("unread_defer":
     * true; see cc_committed_notify). */
    int append_unread;
    /* The size of a plugin's per-connection struct that starts with a
     * cc_conn and adds its own fields (cc_attach allocates it zeroed);
     * 0: a plain cc_conn. */
    size_t conn_size;
    /* Free what the plugin's fields own, before cc_disconnect frees the
     * state itself (cc: the connection's state, borrowed).  May be NULL. */
    void (*conn_free)(cc_conn *cc);
    /* Non-zero: the plugin keeps each connection's layer group itself, a
     * char[CC_GROUP_MAX] at this offset of its per-connection struct
     * (cc_group returns it); 0: cc_group makes it from the ids. */
    size_t group_offset;
} cc_kind;

typedef struct cc_settings {
    unsigned history_limit;     /* messages in the history frame (0..500) */
    size_t max_chars;           /* longest message, in characters */
    double rate, burst;         /* token bucket: frames a second, saved */
    unsigned abuse_close_after; /* refusals in a row before 1008 */
    unsigned catchup_max;       /* ?since= messages at most, then "reload" */
    unsigned stream_keep;       /* stream_retention: changes a room's stream keeps */
    char group_prefix[32];      /* the rooms' layer groups: this + the id */
    int open_groups;            /* chatroom's group_rooms: 1 open, 0 members */
    int presence;               /* setting presence on (docs/presence.md): 1 */
} cc_settings;

/* A plugin's global state (what init returns). */
struct cc_plugin {
    const chanhost_api *api;
    const cc_kind *kind;
    cc_settings set;
    json_t *rooms; /* room id -> the room's JSON its connections share */
    /* Lobby notifications whose counts a later append of the same room
     * and transaction brings (receipts.c): room id -> {room, sender_id,
     * sender}; flushed by lobby_timer when that append did not bring them. */
    json_t *lobby_wait;
    chanhost_timer *lobby_timer; /* armed while lobby_wait is not empty */
};

/* Per-connection state (the connection's data pointer). */
struct cc_conn {
    cc_plugin *p;
    const cc_handler *handlers;
    cc_deliver_fn deliver;
    json_int_t user_id;
    json_int_t room_id;   /* the store's room id; 0 for a lobby */
    json_int_t public_id; /* the id shown in id_field (task id) */
    json_t *room;         /* the room's JSON (a reference to the copy in
                                  p->rooms), NULL for a lobby */
    /* No copy of its layer group's name: cc_group makes it from the ids
     * when needed (52 bytes less: the struct is 104 bytes, a 112-byte
     * heap chunk, not 160; checked below). */
    unsigned live : 1;      /* the history's last frame went out */
    unsigned join_open : 1; /* a stranger joins an open room (cc_join_room) */
    unsigned lobby : 1;     /* a lobby: its group is user_<user_id> */
    chk_bucket bucket;
    json_t *backlog;     /* layer messages held until live */
    cc_catchup *catchup; /* the history on its way (owned), or NULL */
};

_Static_assert(CC_GROUP_MAX >= sizeof((cc_settings *)0)->group_prefix - 1 + 20 + 1,
               "a group name is the prefix and an id");
_Static_assert(sizeof(void *) != 8 || sizeof(cc_conn) <= 104,
               "a connection's state fits a 112-byte heap chunk (docs/performance.md)");

/* The layer group the connection listens to (borrowed): the kind's own
 * copy when it has a group_offset; else, written into buf (CC_GROUP_MAX
 * bytes, the caller's) and returned, a lobby's
 * "user_<user id>"; a room's group_prefix and its public id, or its room
 * id when it has none; "" before the room is known (cc_open_room's
 * room.get has not answered).  The name is made from cc's ids on each
 * call (cc borrowed), not kept per connection. */
const char *cc_group(const cc_conn *cc, char *buf);

/* prefix followed by id in decimal into buf (size bytes, the caller's;
 * cut short as snprintf would); returns buf (frames.c). */
char *cc_name_id(char *buf, size_t size, const char *prefix, long long id);

/* A continuation of a store call.  cc is NULL when the client left (c is
 * NULL too); data is the call's own (borrowed; freed after the call). */
typedef void (*cc_done_fn)(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                           const json_t *result, json_t *data);

/* ---- plugin lifecycle --------------------------------------------------- */

int cc_init(const chanhost_api *api, const json_t *settings, const cc_kind *kind, void **state);
void cc_fini(void *state);

/* New state for an authenticated connection (kind->conn_size bytes,
 * zeroed, then the cc_conn filled in), set as its data pointer and owned
 * by the connection until cc_disconnect; NULL with *code set to what
 * connect returns: 4001 when the client has no valid token, 1011 when out
 * of memory. */
cc_conn *cc_attach(chanhost_conn *c, cc_plugin *p, int *code);

/* Open the room that room.get finds with query (stolen) for a connection
 * that will return CHANHOST_PENDING; public_id as in cc_conn (0: none).
 * Returns CHANHOST_PENDING, or a close code for connect to return. */
int cc_open_room(chanhost_conn *c, cc_conn *cc, json_t *query, json_int_t public_id);

/* Like cc_open_room, for a connection that may join open rooms: the
 * room is room.get_or_create's with params (stolen; its is_open makes a
 * new room open), and a user who is not a participant of an open room
 * becomes one (participant.add) before the accept; members-only rooms
 * refuse strangers with 4003 as cc_open_room does.  Returns
 * CHANHOST_PENDING, or a close code for connect to return. */
int cc_join_room(chanhost_conn *c, cc_conn *cc, json_t *params);

/* Send the connection's first frame (borrowed), then what the layer
 * delivered meanwhile (messages already in the history are dropped).  A
 * first frame with a "messages" array goes out in frames of at most 200
 * messages and 256 KiB, each when the previous one was written, all but
 * the last with "more": true (catchup.c). */
void cc_go_live(chanhost_conn *c, cc_conn *cc, const json_t *first);

/* The accepted room connection's history: the last history_limit
 * messages, or with ?since=<id> every message after id (at most
 * catchup_max, then a "reload" frame and the last history_limit), in
 * frames as cc_go_live's, each with the room's stream "pos" and the
 * store's "epoch"; or with ?since_pos=N&epoch=E every change after
 * position N as its live frame, then {"type":"resumed"} (a position of
 * another epoch or one trimmed: a "reload" frame and the history); then
 * live (catchup.c). */
void cc_load_history(chanhost_conn *c, cc_conn *cc);

/* Ask a store call's change (params borrowed) to take a position in the
 * room's stream ("stream": true, "stream_keep": stream_retention), so a
 * client resuming with ?since_pos= gets it (catchup.c). */
void cc_stream_params(const cc_plugin *p, json_t *params);

/* Free a connection's catch-up state (owned by its cc_conn; NULL is
 * ignored). */
void cc_catchup_free(cc_catchup *cu);

/* ---- descriptor callbacks ------------------------------------------------ */

void cc_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary);
void cc_group_message(chanhost_conn *c, void *state, const char *type, const json_t *msg,
                      const chanhost_msg *m);
void cc_disconnect(chanhost_conn *c, void *state, int code);

/* The default delivery of a room connection: forward, but not the
 * connection's own user's typing and read receipts. */
void cc_deliver_room(chanhost_conn *c, cc_conn *cc, const char *type, const json_t *msg,
                     const chanhost_msg *m);

/* ---- shared in-frame handlers -------------------------------------------- */

void cc_on_message(chanhost_conn *c, cc_conn *cc, const json_t *in);
void cc_on_edit(chanhost_conn *c, cc_conn *cc, const json_t *in);
void cc_on_delete(chanhost_conn *c, cc_conn *cc, const json_t *in);
void cc_on_typing(chanhost_conn *c, cc_conn *cc, const json_t *in);
void cc_on_ping(chanhost_conn *c, cc_conn *cc, const json_t *in);

/* ---- read receipts and lobby notifications (receipts.c) ------------------- */

/* What one read marks: in room_id, message_id (a read_receipt) or, when
 * 0, everything of others up to up_to_id (0: all; a bulk_read).  The
 * newly marked ids go to every group of groups (borrowed array of names)
 * with extra's fields (borrowed, may be NULL) added; quiet (a read the
 * client did not ask for): no error frame when the store refuses, and no
 * receipt to the groups, only the reader's lobby hears of it. */
typedef struct cc_read {
    json_int_t room_id;
    json_int_t message_id;
    json_int_t up_to_id;
    const json_t *groups;
    const json_t *extra;
    int quiet;
} cc_read;

/* Mark r for the connection's user, then tell r's groups and the user's
 * lobby (user_<id>) its new unread count for the room. */
void cc_mark_read(chanhost_conn *c, cc_conn *cc, const cc_read *r);

/* The ids of a read_receipt / bulk_read frame in (borrowed) into r.
 * Returns 0, or -1 after an error frame. */
int cc_read_ids(chanhost_conn *c, cc_conn *cc, const json_t *in, cc_read *r);

/* The read_receipt and bulk_read handler of a one-room connection. */
void cc_on_read(chanhost_conn *c, cc_conn *cc, const json_t *in);

/* A message of sender (sender_id, sender: its name) committed in room
 * (borrowed: "id", "kind", "is_private", "name"): a notification with
 * their unread count to every other participant's lobby; the counts are
 * unread (borrowed, {"<user id>": n}) or, if NULL, read from the store. */
void cc_notify_lobbies(cc_plugin *p, const json_t *room, json_int_t sender_id, const char *sender,
                       const json_t *unread);

/* cc_notify_lobbies as cc_kind's committed hook (out: the broadcast
 * message with "username" and "user_id"; result: the append's, whose
 * "unread" is used when present).  A result with "unread_deferred"
 * (the append asked "unread_defer") notifies nobody: a later append of
 * the room committed in the same transaction brings the counts, and its
 * callback runs in the same turn of the loop; if it brings none (it
 * failed or was a duplicate), a timer of 0 ms reads them then
 * (unread.for_room), which may by then count later messages too (a
 * count may repeat, never go down).  So several messages of a room
 * committed together make one notification per participant, with the
 * final counts. */
void cc_committed_notify(cc_plugin *p, const json_t *room, const json_t *out, const json_t *result);

/* ---- presence (presence.c, SDK 1.4) --------------------------------------- */

/* A room connection goes live: with the setting presence on, track
 * it in its room's group (api->presence_track) and send {"type":
 * "presence", "users": [{"user_id", "username"}...]}; the host's
 * presence_diff frames follow through the room's delivery. */
void cc_presence_open(chanhost_conn *c, cc_conn *cc);

/* GET /api/rooms/<int:room_id>/presence/ (state: the cc_plugin): the
 * room's online users and its participants' last-seen times, for a
 * participant (403 otherwise, 404 for no such room). */
void cc_presence_http(chanhost_http *req, void *state);

/* ---- small frames as text (frames.c) ---------------------------------------- */

/* {"type":"ack","client_msg_id":cmid,"id":id} to c, encoded as jansson
 * would (id NULL: null), without building an object; nothing when cmid
 * is NULL.  cmid and id borrowed. */
void cc_send_ack(chanhost_conn *c, cc_plugin *p, const json_t *cmid, const json_t *id);

/* A new message's payload (new reference, NULL out of memory): what
 * cc_msg_json makes of it once stored, with id, timestamp and
 * client_msg_id null until the append answers (text: the content, extra:
 * the append's "extra" with "username" and maybe "attachments";
 * borrowed). */
json_t *cc_new_msg_json(const cc_conn *cc, const json_t *text, const json_t *extra);

/* message.append's parameters for text (the content) from cc's user
 * (new reference, NULL out of memory): room_id, sender_id, content,
 * extra, "participant": true, client_msg_id when cmid is given, and
 * the kind's unread flags (the caller adds cc_stream_params').  text,
 * cmid and extra borrowed; a NULL text or extra gives NULL. */
json_t *cc_append_params(const cc_conn *cc, const json_t *text, json_t *cmid, const json_t *extra);

/* on_appended's data for an append (new reference): {"out": out
 * (stolen), "group": cc's group, "tag": tag (borrowed), "room": cc's room
 * or null}; NULL when out is NULL or out of memory. */
json_t *cc_append_data(const cc_conn *cc, json_t *out, json_t *tag);

/* ---- client frames without jansson's reader (parse.c) ---------------------- */

#define CC_PARSE_KEY_MAX 64 /* a longer key goes to jansson's reader */

/* data (len bytes) as the JSON object json_loadb(data, len,
 * JSON_REJECT_DUPLICATES) gives (new reference), when it is a flat object
 * whose keys and string values are printable ASCII without escapes and
 * whose values are such strings, integers of at most 18 digits, true,
 * false or null; else NULL, and jansson's reader decides (chk_parse:
 * the same object, or the same error). */
json_t *cc_parse_flat(const char *data, size_t len);

/* ---- attachments (attach.c) ------------------------------------------------ */

/* Append a message of text (borrowed) with the client's cmid and tag
 * (borrowed; cmid may be NULL) and the attachments' list (borrowed,
 * [{id, name, type, size}], kept in the message's extra; NULL: none). */
void cc_append(chanhost_conn *c, cc_conn *cc, const json_t *text, json_t *cmid, json_t *tag,
               const json_t *attachments);

/* A new message's "attachments" (in borrowed): 0 when it has none (the
 * caller appends), 1 when they are being checked (the ids: the user's own
 * uploads to this room not attached yet; then cc_append) or were refused
 * (an error frame with tag's fields).  cmid, tag borrowed. */
int cc_attach_check(chanhost_conn *c, cc_conn *cc, const json_t *in, json_t *cmid, json_t *tag);

/* After an append committed: attach the uploads data's "out" names to the
 * message id (borrowed; data borrowed; nothing when it names none). */
void cc_attach_link(chanhost_conn *c, cc_plugin *p, const json_t *data, const json_t *id);

/* After a delete committed: delete the message's uploads (id borrowed). */
void cc_attach_purge(chanhost_conn *c, cc_plugin *p, const json_t *id);

/* ---- helpers ------------------------------------------------------------- */

/* Run a store operation (params and data stolen); done runs later, once.
 * Returns 0, or the store's refusal (done never runs, data is freed). */
int cc_call(chanhost_conn *c, cc_plugin *p, const char *op, json_t *params, cc_done_fn done,
            json_t *data);

/* Like cc_call, but a refusal is answered with an error frame. */
void cc_call_or_error(chanhost_conn *c, cc_plugin *p, const char *op, json_t *params,
                      cc_done_fn done, json_t *data);

/* An error frame; extra (borrowed, may be NULL) adds fields to it. */
void cc_error(chanhost_conn *c, cc_plugin *p, const char *code, const char *message,
              const json_t *extra);

/* An error frame for a failed store status (not_found, forbidden ...). */
void cc_store_error(chanhost_conn *c, cc_plugin *p, int status, const json_t *extra);

/* A message's payload (new reference) from the store's shape {id,
 * content, sender_id, created_at, client_msg_id, edited_at?, is_deleted?,
 * read_by?, extra: {username}} (m borrowed), with "type" first when type
 * is given: id, message, username, user_id, timestamp, client_msg_id,
 * room_id, edited_at, is_deleted, read_by (the REST history's shape). */
json_t *cc_msg_json(const cc_conn *cc, const json_t *m, const char *type);

/* The integer field key of in as a positive id, or 0. */
json_int_t cc_id_field(const json_t *in, const char *key);

/* Send to a group; "<prefix><id>" names it. */
void cc_group_send_id(cc_plugin *p, const char *prefix, json_int_t id, const json_t *msg);

/* The descriptor fields of a chatcore plugin: its name, init (calling
 * cc_init with its kind) and connect; the other callbacks are chatcore's. */
#define CC_PLUGIN_FIELDS(name_, init_, connect_)                                            \
    .name = name_, .version = "1.0.0", .init = init_, .fini = cc_fini, .connect = connect_, \
    .receive = cc_receive, .group_message = cc_group_message, .disconnect = cc_disconnect

/* The exported descriptor of a chatcore plugin (CC_PLUGIN_FIELDS). */
#define CC_PLUGIN_DESCRIPTOR(name_, init_, connect_)    \
    CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = \
        CHANHOST_PLUGIN_INIT(CC_PLUGIN_FIELDS(name_, init_, connect_), )

/* The same with HTTP endpoints (SDK 1.2): endpoints_ is the plugin's
 * static array of chanhost_endpoint (plugins/common/chathttp.h helps the
 * handlers answer as the host's own routes do). */
#define CC_PLUGIN_DESCRIPTOR_HTTP(name_, init_, connect_, endpoints_)                           \
    CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor =                                         \
        CHANHOST_PLUGIN_INIT(CC_PLUGIN_FIELDS(name_, init_, connect_), .endpoints = endpoints_, \
                             .n_endpoints = sizeof endpoints_ / sizeof endpoints_[0], )

#endif /* CHATCORE_H */
