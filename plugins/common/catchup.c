/*
 * catchup.c -- a chatcore connection's first frames (part of chatcore,
 * compiled into each chatcore plugin; see chatcore.h): the history on
 * connect, the ?since= catch-up, and going live.  It owns a connection's
 * cc_catchup while the history is on its way: the messages fetched and
 * not sent yet, the store cursor, and the ids already sent (to drop the
 * layer's copies of them).
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
};

static void pump(chanhost_conn *c, cc_conn *cc);

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

/* Is the layer message msg (borrowed) a new message the history held? */
static int already_sent(const cc_conn *cc, const json_t *msg)
{
    const char *type = json_string_value(GET(msg, "type"));

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

    if (cc && cc->catchup)
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

/* Past catchup_max: tell the client to reload, then send the last
 * history_limit messages instead of the rest (and go live). */
static void reload(chanhost_conn *c, cc_conn *cc)
{
    cc_plugin *p = cc->p;
    cc_catchup *cu = cc->catchup;
    json_t *f = json_pack("{s:s, s:s, s:s, s:I}", "type", "reload", "code", "too_far_behind",
                          "message", "too many messages were missed; reload the history", "max",
                          (json_int_t)p->set.catchup_max);

    if (!f || p->api->send_json(c, f) != CHANHOST_OK) {
        json_decref(f);
        p->api->close(c, 1011, "reload frame not sent");
        return;
    }
    json_decref(f);
    json_array_clear(cu->todo);
    cu->paging = 0;
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
            reload(c, cc);
            return;
        }
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

/* The ?since= value: 1 and *after set for a message id (0 included), 0
 * when absent, -1 when malformed. */
static int since_param(chanhost_conn *c, cc_plugin *p, json_int_t *after)
{
    const char *s = p->api->query_param(c, "since");
    char *end;
    long long v;

    if (!s)
        return 0;
    v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0 || v == LLONG_MAX)
        return -1;
    *after = (json_int_t)v;
    return 1;
}

/* The history of an accepted room connection (see chatcore.h). */
void cc_load_history(chanhost_conn *c, cc_conn *cc)
{
    cc_plugin *p = cc->p;
    cc_catchup *cu = catchup_new(cc, json_pack("{s:s}", "type", "history"));
    json_int_t after = 0;
    int since = since_param(c, p, &after);

    if (!cu) {
        p->api->close(c, 1011, "out of memory");
        return;
    }
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
