/*
 * presence.c -- the presence service of presence.h.  Owns the process's
 * presence book (core/presence_book.h), its interval timer, the sequence
 * of its announcements and each connection's list of presence groups
 * (chanhost_conn.presence, freed when the connection goes).  The layer
 * memberships of the host groups are the layer's, left with the
 * connection's other groups.  A user's last connection here leaving a
 * group records their last-seen time in the store (user.seen).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence.h"

#include "app.h"
#include "chanhost.h"
#include "ident.h"
#include "layer.h"
#include "log.h"
#include "metrics.h"
#include "presence_book.h"
#include "store.h"

#define PRESENCE_TYPE "chanhost.presence"
#define PRESENCE_PREFIX "chanhost.presence."

/* One group a connection is tracked in. */
struct ch_presence_ref {
    struct ch_presence_ref *next;
    char group[];
};

static struct {
    ch_app *app;
    ch_pbook *book;
    uv_timer_t timer;
    int running;        /* between init and close */
    int layer_down;     /* the layer was not "ok" at the last tick */
    uint64_t seq;       /* of this process's announcements */
    uint64_t last_beat; /* loop ms of the last heartbeat */
    char host[33];      /* this process's id (the layer's) */
} pres;

/* The host group of group into buf. */
static void sync_group(char buf[CH_NAME_MAX], const char *group)
{
    snprintf(buf, CH_NAME_MAX, PRESENCE_PREFIX "%s", group);
}

/* Send this process's users of group (with "ask" on its first
 * announcement there) to the group's other processes. */
static void announce(const char *group, int ask)
{
    json_t *users = ch_pbook_local_users(pres.book, group);
    json_t *obj = users ? json_pack("{s:s, s:s, s:s, s:I, s:o, s:b}", "type", PRESENCE_TYPE,
                                    "group", group, "host", pres.host, "seq",
                                    (json_int_t)++pres.seq, "users", users, "ask", ask)
                        : NULL;
    const char *why = NULL;
    ch_msg *m = obj ? ch_msg_from_json(obj, &why) : NULL;
    char sync[CH_NAME_MAX];
    int rc;

    json_decref(obj);
    if (!m) {
        ch_log(CH_LOG_WARN, "presence: %s: announcement not made: %s", group,
               why ? why : "out of memory");
        return;
    }
    sync_group(sync, group);
    if ((rc = ch_layer_group_send(pres.app->layer, sync, m)) != 0)
        ch_log(CH_LOG_WARN, "presence: %s: the layer refused the announcement (%d)", group, rc);
    else
        ch_metric_count(CH_M_PRESENCE_ANNOUNCE_SENT);
    ch_msg_unref(m);
}

/* Deliver group's diff (if its union changed) to its present
 * connections here, once. */
static void deliver_diff(const char *group)
{
    json_t *diff = ch_pbook_diff(pres.book, group), *obj;
    const char *why = NULL;
    char sync[CH_NAME_MAX];
    ch_msg *m;

    if (!diff)
        return;
    obj = json_pack("{s:s, s:O, s:O}", "type", "presence_diff", "joins",
                    json_object_get(diff, "joins"), "leaves", json_object_get(diff, "leaves"));
    json_decref(diff);
    m = obj ? ch_msg_from_json(obj, &why) : NULL;
    json_decref(obj);
    if (!m) {
        ch_log(CH_LOG_WARN, "presence: %s: diff not delivered: %s", group,
               why ? why : "out of memory");
        return;
    }
    sync_group(sync, group);
    ch_metric_add(CH_M_PRESENCE_DIFF_FRAMES, ch_layer_deliver_group(pres.app->layer, sync, m));
    ch_msg_unref(m);
}

/* One group at a tick (ch_pbook_each): announce what changed here (or
 * everything at a heartbeat; nothing while the layer is down, which would
 * only fill its outage buffer: everything is announced when it is back,
 * beat 2, asking the others for theirs), then tell the present
 * connections. */
static void tick_group(const char *group, unsigned flags, void *arg)
{
    int beat = *(int *)arg;

    if (!pres.layer_down && (beat || (flags & (CH_PBOOK_LOCAL_CHANGED | CH_PBOOK_ASK))))
        announce(group, (flags & CH_PBOOK_ASK) != 0 || beat == 2);
    if (flags & CH_PBOOK_DIRTY)
        deliver_diff(group);
}

/* Every presence_interval: forget the processes not heard from for
 * presence_expiry (not while this process's own layer is down: then it
 * is this one that hears nobody, and the others get a fresh expiry when
 * it is back), announce, deliver the diffs. */
static void on_tick(uv_timer_t *t)
{
    uint64_t now = uv_now(t->loop);
    const ch_config *cfg = &pres.app->cfg;
    int beat = now - pres.last_beat >= cfg->presence_heartbeat;

    if (strcmp(ch_layer_state(pres.app->layer), "ok") != 0) {
        pres.layer_down = 1;
    } else if (pres.layer_down) {
        pres.layer_down = 0;
        ch_pbook_touch_all(pres.book, now);
        beat = 2; /* nothing was announced meanwhile: all, asking back */
    } else {
        ch_pbook_expire(pres.book, now, cfg->presence_expiry);
    }
    if (beat)
        pres.last_beat = now;
    ch_pbook_each(pres.book, tick_group, &beat);
}

/* presence.h: the book and the unreferenced interval timer (both freed by
 * ch_presence_close). */
int ch_presence_init(ch_app *app)
{
    uint64_t every = app->cfg.presence_interval ? app->cfg.presence_interval : 1000;

    pres.app = app;
    pres.book = ch_pbook_new();
    if (!pres.book)
        return -ENOMEM;
    ch_layer_process_id(app->layer, pres.host);
    uv_timer_init(app->loop, &pres.timer);
    uv_timer_start(&pres.timer, on_tick, every, every);
    uv_unref((uv_handle_t *)&pres.timer);
    pres.last_beat = uv_now(app->loop);
    pres.running = 1;
    return 0;
}

/* The timer's handle is closed: the book goes. */
static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
    ch_pbook_free(pres.book);
    pres.book = NULL;
}

/* presence.h: close the timer; the book goes in its close callback. */
void ch_presence_close(void)
{
    if (!pres.running)
        return;
    pres.running = 0;
    uv_close((uv_handle_t *)&pres.timer, on_timer_closed);
}

/* user.seen answered (arg: the user id): a failure is logged, nothing
 * waits for it. */
static void seen_done(int status, json_t *result, const char *error, void *arg)
{
    (void)result;
    if (status != 0)
        ch_log(CH_LOG_WARN, "presence: user %lld: last seen not recorded: %s",
               (long long)(intptr_t)arg, error ? error : "store error");
}

/* Record user's last-seen time (the store's now), if there is a store. */
static void record_seen(int64_t user)
{
    json_t *params;

    if (!pres.app->store)
        return;
    params = json_pack("{s:I}", "user_id", (json_int_t)user);
    if (params)
        ch_store_call(pres.app->store, "user.seen", params, seen_done, (void *)(intptr_t)user);
}

/* presence.h: count w's user in group (w borrowed; its ref, owned by w, is
 * freed by untrack or ch_presence_gone). */
int ch_presence_track(ch_ws *w, const char *group)
{
    struct ch_presence_ref *r;
    char sync[CH_NAME_MAX];
    size_t len = group ? strlen(group) : 0;
    int rc;

    if (!w || !pres.running || !w->ident || w->ident->id <= 0 || w->conn->closing || !group ||
        len > CH_PRESENCE_GROUP_MAX || !ch_layer_valid_group(group))
        return CHANHOST_ERR_INVALID;
    for (r = w->presence; r; r = r->next)
        if (strcmp(r->group, group) == 0)
            return CHANHOST_OK;
    if (!(r = malloc(sizeof *r + len + 1)))
        return CHANHOST_ERR_NOMEM;
    memcpy(r->group, group, len + 1);
    sync_group(sync, group);
    if (ch_layer_group_add(pres.app->layer, &w->ep, sync) != 0) {
        free(r);
        return CHANHOST_ERR_NOMEM;
    }
    rc = ch_pbook_local_add(pres.book, group, w->ident->id, ch_ident_username(w->ident));
    if (rc < 0) {
        ch_layer_group_discard(pres.app->layer, &w->ep, sync);
        free(r);
        return rc == -ENOMEM ? CHANHOST_ERR_NOMEM : CHANHOST_ERR_INVALID;
    }
    r->next = w->presence;
    w->presence = r;
    return CHANHOST_OK;
}

/* Untrack ref r (unlinked by the caller, freed here) of w. */
static void untrack(ch_ws *w, struct ch_presence_ref *r)
{
    char sync[CH_NAME_MAX];
    int rc;

    sync_group(sync, r->group);
    ch_layer_group_discard(pres.app->layer, &w->ep, sync);
    rc = ch_pbook_local_remove(pres.book, r->group, w->ident->id);
    if (rc > 0 && (rc & 1))
        record_seen(w->ident->id);
    free(r);
}

/* presence.h: the opposite of ch_presence_track. */
int ch_presence_untrack(ch_ws *w, const char *group)
{
    struct ch_presence_ref **pp;

    if (!w || !group)
        return CHANHOST_ERR_INVALID;
    for (pp = &w->presence; *pp; pp = &(*pp)->next) {
        struct ch_presence_ref *r = *pp;

        if (strcmp(r->group, group) == 0) {
            *pp = r->next;
            untrack(w, r);
            return CHANHOST_OK;
        }
    }
    return CHANHOST_ERR_STATE;
}

/* presence.h: untrack w from every group and free its refs. */
void ch_presence_gone(ch_ws *w)
{
    while (w->presence) {
        struct ch_presence_ref *r = w->presence;

        w->presence = r->next;
        if (pres.running)
            untrack(w, r);
        else
            free(r);
    }
}

/* presence.h: the announced users of group (a new reference, the
 * caller's). */
json_t *ch_presence_list(const char *group)
{
    if (!group)
        return NULL;
    return pres.running ? ch_pbook_list(pres.book, group) : json_array();
}

/* presence.h: take a presence announcement (msg borrowed) once; other
 * messages are not ours. */
int ch_presence_message(ch_ws *w, const ch_msg *msg)
{
    const json_t *j = msg->json;
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *group, *host;
    json_t *seq;

    (void)w;
    if (!type || strcmp(type, PRESENCE_TYPE) != 0)
        return 0;
    group = json_string_value(json_object_get(j, "group"));
    host = json_string_value(json_object_get(j, "host"));
    seq = json_object_get(j, "seq");
    if (!pres.running || !group || !host || !json_is_integer(seq) || strcmp(host, pres.host) == 0)
        return 1;
    if (ch_pbook_remote(pres.book, group, host, (uint64_t)json_integer_value(seq),
                        json_object_get(j, "users"), uv_now(pres.app->loop)) != 1)
        return 1;
    ch_metric_count(CH_M_PRESENCE_ANNOUNCE_RECEIVED);
    if (json_is_true(json_object_get(j, "ask")))
        ch_pbook_asked(pres.book, group);
    return 1;
}
