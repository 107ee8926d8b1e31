/*
 * catchup.c -- a chatcore connection's first frames (part of chatcore,
 * compiled into each chatcore plugin; see chatcore.h): the history on
 * connect, the ?since= catch-up, the ?since_pos= resume, and going live.
 * It owns a connection's cc_catchup while the history is on its way: the
 * messages fetched and not sent yet, the store cursor, the ids already
 * sent (to drop the layer's copies of them), and for a resume the last
 * stream position sent and the epoch the client named.
 *
 * Resume.  A client that kept the room's stream position ("pos" of the
 * history frame and of every live change) reconnects with
 * ?since_pos=N&epoch=E: the connection is in the room's group already
 * (chatcore.c joins before the history), the layer's frames are held,
 * stream.read pages (SINCE_PAGE changes, the next one once the frames
 * before it are written) go out as the live frames they were, then
 * {"type":"resumed","pos","epoch"}, then the held frames but those whose
 * "pos" is not above the last sent: no gap, no change twice.  Another
 * epoch (the store was restored) or a position older than the room's
 * stream keeps (stream_retention): {"type":"reload"} and the history.
 *
 * Flow control.  The history goes out in frames of at most FRAME_MSGS
 * messages and FRAME_BYTES bytes of encoded messages (a larger message
 * goes alone), every frame but the last with "more": true.  The next frame
 * is built only when the previous one was written to the socket
 * (api->on_drain), and a ?since= page is fetched from the store only when
 * the frames before it are out, so a connection never has more than one
 * frame queued and one store page in memory, whatever the backlog.  After
 * catchup_max messages the client gets {"type": "reload"} and the last
 * history_limit messages instead of the rest.
 *
 * Layer messages that arrive meanwhile are held by chatcore.c (cc->backlog,
 * bounded) and delivered after the last frame, without the messages the
 * frames held: so the client sees every message once, in id order.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "chatcore.h"

#define FRAME_MSGS 200           /* messages in one history frame at most */
#define FRAME_BYTES (256 * 1024) /* their encoded size in one frame at most */
#define SINCE_PAGE 200           /* messages asked of the store per ?since= page */

#define GET(o, k) json_object_get(o, k)
#define OR_NULL(v) ((v) ? (v) : json_null())

struct cc_catchup {
    json_t *tmpl;     /* the frames' fields besides "messages" (owned) */
    json_t *todo;     /* messages fetched, not sent yet (owned array) */
    json_int_t after; /* ?since= cursor: the last id fetched */
    int paging;       /* ?since=: the store may hold more after `after` */
    size_t fetched;   /* ?since= messages fetched so far */
    json_int_t *ids;  /* the ids sent, ascending */
    size_t n_ids, cap_ids;
    int resume;         /* ?since_pos=: `after` is a stream position */
    json_int_t pos_max; /* resume: held frames with a pos up to this went out */
    char epoch[65];     /* resume: the epoch the client named ("" none) */
};

static void pump(chanhost_conn *c, cc_conn *cc);
static void fetch_changes(chanhost_conn *c, cc_conn *cc);

/* A new catch-up for cc with the frames' fields tmpl (stolen) and no
 * message yet; set as cc->catchup.  Returns it, or NULL when out of
 * memory (tmpl freed). */
static cc_catchup *catchup_new(cc_conn *cc, json_t *tmpl)
{
    cc_catchup *cu = calloc(1, sizeof *cu);

    if (!cu || !tmpl || !(cu->todo = json_array())) {
        free(cu);
        json_decref(tmpl);
        return NULL;
    }
    cu->tmpl = tmpl;
    cc->catchup = cu;
    return cu;
}

void cc_catchup_free(cc_catchup *cu)
{
    if (!cu)
        return;
    json_decref(cu->tmpl);
    json_decref(cu->todo);
    free(cu->ids);
    free(cu);
}

/* Remember that message id went out (kept ascending).  Returns 0, or -1
 * when out of memory. */
static int ids_add(cc_catchup *cu, json_int_t id)
{
    json_int_t *n;
    size_t i;

    if (cu->n_ids == cu->cap_ids) {
        n = realloc(cu->ids, (cu->cap_ids ? cu->cap_ids * 2 : 256) * sizeof *n);
        if (!n)
            return -1;
        cu->ids = n;
        cu->cap_ids = cu->cap_ids ? cu->cap_ids * 2 : 256;
    }
    for (i = cu->n_ids; i > 0 && cu->ids[i - 1] > id; i--)
        cu->ids[i] = cu->ids[i - 1];
    cu->ids[i] = id;
    cu->n_ids++;
    return 0;
}

/* Did message id go out in a history frame? */
static int ids_has(const cc_catchup *cu, json_int_t id)
{
    size_t lo = 0, hi = cu ? cu->n_ids : 0, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (cu->ids[mid] == id)
            return 1;
        if (cu->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Is the layer message msg (borrowed) a new message the history held,
 * or a change a resume replayed (its pos not above the last sent)? */
static int already_sent(const cc_conn *cc, const json_t *msg)
{
    const char *type = json_string_value(GET(msg, "type"));
    const json_t *pos = GET(msg, "pos");

    if (cc->catchup && cc->catchup->resume && json_is_integer(pos))
        return json_integer_value(pos) <= cc->catchup->pos_max;
    return type && strcmp(type, cc->p->kind->msg_type) == 0 &&
           ids_has(cc->catchup, json_integer_value(GET(msg, "id")));
}

/* Drop the held layer messages that a history frame held. */
static void prune_held(cc_conn *cc)
{
    size_t i = 0;

    while (i < json_array_size(cc->backlog)) {
        if (already_sent(cc, json_array_get(cc->backlog, i)))
            json_array_remove(cc->backlog, i);
        else
            i++;
    }
}

/* The history is out: live from now on; the room's presence frame
 * (presence.c), then the held layer messages follow (not those the
 * history held, nor ones without a type); the catch-up state goes. */
static void go_live(chanhost_conn *c, cc_conn *cc)
{
    json_t *held = cc->backlog, *msg;
    size_t i;

    cc->live = 1;
    cc->backlog = NULL;
    cc_presence_open(c, cc);
    json_array_foreach(held, i, msg)
    {
        if (!json_string_value(GET(msg, "type")) || already_sent(cc, msg))
            continue;
        cc->deliver(c, cc, json_string_value(GET(msg, "type")), msg, NULL);
    }
    json_decref(held);
    cc_catchup_free(cc->catchup);
    cc->catchup = NULL;
}

/* The previous frame was written: the next one (c and cc still valid:
 * on_drain never runs after the connection closed). */
static void on_drained(chanhost_conn *c, void *arg)
{
    cc_conn *cc = c ? ((cc_plugin *)arg)->api->get_data(c) : NULL;

    if (cc && cc->catchup && cc->catchup->resume)
        fetch_changes(c, cc);
    else if (cc && cc->catchup)
        pump(c, cc);
}

/* How many of todo's first messages fit in one frame (at least one when
 * there is one). */
static size_t frame_span(const json_t *todo)
{
    size_t n = json_array_size(todo), k, bytes = 0, sz;

    for (k = 0; k < n && k < FRAME_MSGS; k++) {
        sz = json_dumpb(json_array_get(todo, k), NULL, 0, JSON_COMPACT) + 1;
        if (k > 0 && bytes + sz > FRAME_BYTES)
            break;
        bytes += sz;
    }
    return k;
}

/* Send one frame of the first k messages of todo (more: another frame
 * follows).  Returns 0, or -1 after the connection was closed or found
 * closing. */
static int send_frame(chanhost_conn *c, cc_conn *cc, size_t k, int more)
{
    cc_catchup *cu = cc->catchup;
    const chanhost_api *api = cc->p->api;
    json_t *frame = json_deep_copy(cu->tmpl), *msgs = json_array();
    int rc = CHANHOST_ERR_NOMEM;

    while (frame && msgs && k-- > 0) {
        json_t *m = json_incref(json_array_get(cu->todo, 0));

        json_array_remove(cu->todo, 0);
        if (json_array_append_new(msgs, m) != 0 ||
            ids_add(cu, json_integer_value(GET(m, "id"))) != 0)
            goto out;
    }
    if (frame && msgs && json_object_set(frame, "messages", msgs) == 0 &&
        (!more || json_object_set_new(frame, "more", json_true()) == 0))
        rc = api->send_json(c, frame);
out:
    json_decref(msgs);
    json_decref(frame);
    if (rc == CHANHOST_ERR_CLOSED)
        return -1;
    if (rc != CHANHOST_OK) {
        api->log(CHANHOST_LOG_WARN, "history frame not sent: %s", chanhost_strerror(rc));
        api->close(c, 1011, "history frame not sent");
        return -1;
    }
    prune_held(cc);
    return 0;
}

static void fetch(chanhost_conn *c, cc_conn *cc);

/* Send the next frame; then wait for it to be written, or fetch the next
 * ?since= page first (a frame that would empty todo must know whether
 * more follows), or go live after the last one. */
static void pump(chanhost_conn *c, cc_conn *cc)
{
    cc_catchup *cu = cc->catchup;
    size_t k = frame_span(cu->todo);
    int more = k < json_array_size(cu->todo);

    if (!more && cu->paging) {
        fetch(c, cc);
        return;
    }
    if (send_frame(c, cc, k, more) != 0)
        return;
    if (!more) {
        go_live(c, cc);
        return;
    }
    if (cc->p->api->on_drain(c, on_drained, cc->p) != CHANHOST_OK)
        cc->p->api->close(c, 1011, "history not sent");
}

/* Tell the client to reload (code, message; the frame has "max", the
 * catchup_max setting), then send the last history_limit messages as the
 * history (and go live): past catchup_max, or a resume that cannot be. */
static void reload(chanhost_conn *c, cc_conn *cc, const char *code, const char *message)
{
    cc_plugin *p = cc->p;
    cc_catchup *cu = cc->catchup;
    json_t *f = json_pack("{s:s, s:s, s:s, s:I}", "type", "reload", "code", code, "message",
                          message, "max", (json_int_t)p->set.catchup_max);

    if (!f || p->api->send_json(c, f) != CHANHOST_OK) {
        json_decref(f);
        p->api->close(c, 1011, "reload frame not sent");
        return;
    }
    json_decref(f);
    json_array_clear(cu->todo);
    cu->paging = 0;
    cu->resume = 0;
    if (p->set.history_limit == 0)
        pump(c, cc);
    else
        fetch(c, cc);
}

/* A page of message.history arrived: queue its messages; after
 * catchup_max of them, reload; else the next frame. */
static void on_page(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                    json_t *data)
{
    const json_t *page = GET(result, "messages");
    cc_catchup *cu = cc ? cc->catchup : NULL;
    size_t i, n = json_array_size(page);
    json_t *m;

    (void)data;
    if (!cu)
        return;
    if (status != 0) {
        p->api->close(c, 1011, "message store unavailable");
        return;
    }
    json_array_foreach(page, i, m) json_array_append_new(cu->todo, cc_msg_json(cc, m, NULL));
    if (cu->paging) {
        cu->fetched += n;
        cu->paging = n == SINCE_PAGE;
        if (n)
            cu->after = json_integer_value(GET(json_array_get(page, n - 1), "id"));
        if (cu->fetched > p->set.catchup_max) {
            reload(c, cc, "too_far_behind", "too many messages were missed; reload the history");
            return;
        }
    }
    if (!GET(cu->tmpl, "pos") && GET(result, "pos")) { /* the first page's: read before it */
        json_object_set(cu->tmpl, "pos", GET(result, "pos"));
        json_object_set(cu->tmpl, "epoch", OR_NULL(GET(result, "epoch")));
    }
    pump(c, cc);
}

/* Ask the store for the next ?since= page, or (not paging) for the last
 * history_limit messages; on_page goes on. */
static void fetch(chanhost_conn *c, cc_conn *cc)
{
    cc_catchup *cu = cc->catchup;
    json_t *params = json_pack("{s:I}", "room_id", cc->room_id);

    if (params && cu->paging) {
        json_object_set_new(params, "after_id", json_integer(cu->after));
        json_object_set_new(params, "limit", json_integer(SINCE_PAGE));
    } else if (params) {
        json_object_set_new(params, "limit", json_integer(cc->p->set.history_limit));
    }
    if (cc_call(c, cc->p, "message.history", params, on_page, NULL) != 0)
        cc->p->api->close(c, 1011, "message store unavailable");
}

/* The query parameter name (static) as a number of at least 0 (?since=,
 * a message id; ?since_pos=, a position): 1 and *out set, 0 when absent,
 * -1 when malformed. */
static int number_param(chanhost_conn *c, cc_plugin *p, const char *name, json_int_t *out)
{
    const char *s = p->api->query_param(c, name);
    char *end;
    long long v;

    if (!s)
        return 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0 || v == LLONG_MAX)
        return -1;
    *out = (json_int_t)v;
    return 1;
}

/* ---- resume: ?since_pos=N&epoch=E ---------------------------------------- */

/* One change of the room's stream (ev: {"pos", "kind", "body"},
 * borrowed) as the live frame it was, with its "pos" (new reference), or
 * NULL for a kind this plugin does not show. */
static json_t *change_frame(const cc_conn *cc, const json_t *ev)
{
    const cc_kind *k = cc->p->kind;
    const char *kind = json_string_value(GET(ev, "kind"));
    const json_t *b = GET(ev, "body"), *m = GET(b, "message");
    json_t *f = NULL;

    if (!kind)
        return NULL;
    if (strcmp(kind, "message.append") == 0)
        f = cc_msg_json(cc, m, k->msg_type);
    else if (strcmp(kind, "message.edit") == 0)
        f = json_pack("{s:s, s:O, s:O, s:O}", "type", k->edited_type, "id", OR_NULL(GET(m, "id")),
                      "message", OR_NULL(GET(m, "content")), "edited_at",
                      OR_NULL(GET(m, "edited_at")));
    else if (strcmp(kind, "message.delete") == 0)
        f = json_pack("{s:s, s:O}", "type", k->deleted_type, "id", OR_NULL(GET(m, "id")));
    else if (strcmp(kind, "read.mark_room") == 0)
        f = json_pack("{s:s, s:O}", "type", "read_receipt", "message_id",
                      OR_NULL(json_array_get(GET(b, "marked"), 0)));
    else if (strcmp(kind, "read.bulk") == 0)
        f = json_pack("{s:s, s:O}", "type", "bulk_read", "message_ids", OR_NULL(GET(b, "marked")));
    else if (strcmp(kind, "participant.add") == 0 || strcmp(kind, "participant.remove") == 0)
        f = json_pack("{s:s, s:I}", "type",
                      kind[12] == 'a' ? "participant_added" : "participant_removed", "room_id",
                      cc->room_id);
    if (!f)
        return NULL;
    if (strncmp(kind, "message.", 8) != 0) {
        json_object_set(f, "user_id", OR_NULL(GET(b, "user_id")));
        if (json_is_object(GET(b, "extra")))
            json_object_update(f, GET(b, "extra"));
    }
    json_object_set(f, "pos", OR_NULL(GET(ev, "pos")));
    return f;
}

/* The changes are out: {"type":"resumed","pos","epoch"}, then live. */
static void resumed(chanhost_conn *c, cc_conn *cc, const char *epoch)
{
    cc_catchup *cu = cc->catchup;
    json_t *f = json_pack("{s:s, s:I, s:s}", "type", "resumed", "pos", cu->pos_max, "epoch",
                          epoch ? epoch : "");

    if (!f || cc->p->api->send_json(c, f) != CHANHOST_OK) {
        json_decref(f);
        cc->p->api->close(c, 1011, "resume frame not sent");
        return;
    }
    json_decref(f);
    go_live(c, cc);
}

/* A page of stream.read arrived: "reset" (another epoch, trimmed) is a
 * reload; else its changes go out as their live frames (past catchup_max
 * of them: a reload), then the next page once they are written, or
 * "resumed" and live. */
static void on_changes(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                       const json_t *result, json_t *data)
{
    cc_catchup *cu = cc ? cc->catchup : NULL;
    const char *reset = json_string_value(GET(result, "reset"));
    const json_t *ev;
    json_t *f;
    size_t i;

    (void)data;
    if (!cu)
        return;
    if (status != 0) {
        p->api->close(c, 1011, "message store unavailable");
        return;
    }
    if (reset) {
        reload(c, cc, strcmp(reset, "epoch") == 0 ? "epoch_changed" : "too_old",
               strcmp(reset, "epoch") == 0
                   ? "the position is of another epoch (the store was restored); reload the history"
                   : "the position is older than the room keeps; reload the history");
        return;
    }
    cu->fetched += json_array_size(GET(result, "events"));
    if (cu->fetched > p->set.catchup_max) {
        reload(c, cc, "too_far_behind", "too many changes were missed; reload the history");
        return;
    }
    json_array_foreach(GET(result, "events"), i, ev)
    {
        cu->pos_max = json_integer_value(GET(ev, "pos"));
        if ((f = change_frame(cc, ev)) != NULL)
            cc->deliver(c, cc, json_string_value(GET(f, "type")), f, NULL);
        json_decref(f);
    }
    if (!json_is_true(GET(result, "more"))) {
        resumed(c, cc, json_string_value(GET(result, "epoch")));
        return;
    }
    if (p->api->on_drain(c, on_drained, p) != CHANHOST_OK)
        p->api->close(c, 1011, "changes not sent");
}

/* Ask the store for the changes after the last one sent; on_changes goes
 * on. */
static void fetch_changes(chanhost_conn *c, cc_conn *cc)
{
    cc_catchup *cu = cc->catchup;
    json_t *params = json_pack("{s:I, s:I, s:I}", "room_id", cc->room_id, "after_pos", cu->pos_max,
                               "limit", (json_int_t)SINCE_PAGE);

    if (params && cu->epoch[0])
        json_object_set_new(params, "epoch", json_string(cu->epoch));
    if (cc_call(c, cc->p, "stream.read", params, on_changes, NULL) != 0)
        cc->p->api->close(c, 1011, "message store unavailable");
}

/* ?since_pos=N (a position, 0 included) and ?epoch=E (1 to 64 of
 * [0-9a-z]) into cu: 1 for a resume, 0 when since_pos is absent, -1 when
 * either is malformed. */
static int resume_param(chanhost_conn *c, cc_plugin *p, cc_catchup *cu)
{
    const char *e = p->api->query_param(c, "epoch");
    json_int_t pos;
    int rc = number_param(c, p, "since_pos", &pos);

    if (rc <= 0)
        return rc;
    if (e && (!*e || strlen(e) >= sizeof cu->epoch ||
              e[strspn(e, "0123456789abcdefghijklmnopqrstuvwxyz")]))
        return -1;
    snprintf(cu->epoch, sizeof cu->epoch, "%s", e ? e : "");
    cu->pos_max = pos;
    return 1;
}

/* ---- the history ------------------------------------------------------------ */

/* The history of an accepted room connection (see chatcore.h). */
void cc_load_history(chanhost_conn *c, cc_conn *cc)
{
    cc_plugin *p = cc->p;
    cc_catchup *cu = catchup_new(cc, json_pack("{s:s}", "type", "history"));
    json_int_t after = 0;
    int since, resume;

    if (!cu) {
        p->api->close(c, 1011, "out of memory");
        return;
    }
    resume = resume_param(c, p, cu);
    if (resume < 0)
        cc_error(c, p, "bad_request",
                 "?since_pos= must be a stream position and ?epoch= an epoch; sending the history",
                 NULL);
    if (resume > 0) {
        cu->resume = 1;
        fetch_changes(c, cc);
        return;
    }
    since = number_param(c, p, "since", &after);
    if (since < 0)
        cc_error(c, p, "bad_request", "?since= must be a message id; sending the history", NULL);
    cu->paging = since > 0;
    cu->after = after;
    if (since <= 0 && p->set.history_limit == 0)
        pump(c, cc);
    else
        fetch(c, cc);
}

/* The first frame, in frames of bounded size, then live (chatcore.h). */
void cc_go_live(chanhost_conn *c, cc_conn *cc, const json_t *first)
{
    const json_t *msgs = GET(first, "messages");
    cc_catchup *cu;

    if (!json_is_array(msgs)) {
        if (first)
            cc->p->api->send_json(c, first);
        go_live(c, cc);
        return;
    }
    cu = catchup_new(cc, json_copy((json_t *)first));
    if (!cu) {
        cc->p->api->close(c, 1011, "out of memory");
        return;
    }
    json_object_del(cu->tmpl, "messages");
    json_array_extend(cu->todo, (json_t *)msgs);
    pump(c, cc);
}
