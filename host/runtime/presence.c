/*
 * presence.c -- the presence service of presence.h.  Owns the process's
 * presence book (core/presence_book.h), its interval timer, the sequence
 * of its announcements, the process's presence endpoint (one layer
 * membership of each host group "chanhost.presence.<G>" while G has
 * tracked connections here: the other processes' announcements arrive
 * there once), each group's array of its tracked connections here (the
 * diffs' recipients) and each connection's set of its presence groups
 * (chanhost_conn.presence, freed when the connection goes).  A user's
 * last connection here leaving a group records their last-seen time in
 * the store (user.seen).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence.h"

#include "app.h"
#include "chanhost.h"
#include "hmap.h"
#include "ident.h"
#include "layer.h"
#include "log.h"
#include "metrics.h"
#include "presence_book.h"
#include "store.h"

#define PRESENCE_TYPE "chanhost.presence"
#define PRESENCE_PREFIX "chanhost.presence."

/* A group with tracked connections here: the recipients of its diffs. */
typedef struct pres_group {
    ch_ws **conns;    /* borrowed; NULL: removed during a fan-out */
    uint32_t n, cap;  /* slots used (holes included), allocated */
    uint32_t holes;   /* NULL slots, compacted after the fan-out */
    uint32_t fanning; /* diffs being delivered (nested) */
    char name[];
} pres_group;

/* A connection's presence groups when it has more than one.  With one,
 * chanhost_conn.presence points at that pres_group itself, tagged with
 * REF_ONE in its low bit (allocations are at least 2-aligned): the usual
 * connection, tracked in its room only, costs no allocation of its own. */
struct ch_presence_ref {
    uint32_t n, cap;
    pres_group *g[];
};

#define REF_ONE ((uintptr_t)1)

static struct {
    ch_app *app;
    ch_pbook *book;
    uv_timer_t timer;
    int running;        /* between init and close */
    int layer_down;     /* the layer was not "ok" at the last tick */
    uint64_t seq;       /* of this process's announcements */
    uint64_t last_beat; /* loop ms of the last heartbeat */
    char host[33];      /* this process's id (the layer's) */
    ch_endpoint ep;     /* the process's member of the host groups */
    ch_hmap groups;     /* name -> pres_group (owned; key: its name) */
} pres;

/* The host group of group into buf. */
static void sync_group(char buf[CH_NAME_MAX], const char *group)
{
    snprintf(buf, CH_NAME_MAX, PRESENCE_PREFIX "%s", group);
}

/* The pres_group of name, made (empty) if make is set; NULL if absent or
 * out of memory. */
static pres_group *pgroup_get(const char *name, int make)
{
    if (!make)
        return ch_hmap_get(&pres.groups, name);
    return ch_hmap_get_or_add(&pres.groups, name, sizeof(pres_group), offsetof(pres_group, name));
}

/* Free g if no connection is left in it and no fan-out runs over it. */
static void pgroup_release(pres_group *g)
{
    if (g->fanning || g->n > g->holes)
        return;
    ch_hmap_remove(&pres.groups, g->name);
    free(g->conns);
    free(g);
}

/* Add w to g's recipients.  Returns 0 or -ENOMEM. */
static int pgroup_add(pres_group *g, ch_ws *w)
{
    if (g->n == g->cap) {
        uint32_t cap = g->cap < 16 ? g->cap + 2 : g->cap + g->cap / 2; /* rooms: tight */
        ch_ws **a = realloc(g->conns, cap * sizeof *a);

        if (!a)
            return -ENOMEM;
        g->conns = a;
        g->cap = cap;
    }
    g->conns[g->n++] = w;
    return 0;
}

/* Take w out of g's recipients (a hole during a fan-out, else the last
 * one moves in). */
static void pgroup_remove(pres_group *g, ch_ws *w)
{
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->conns[i] != w)
            continue;
        if (g->fanning) {
            g->conns[i] = NULL;
            g->holes++;
        } else {
            g->conns[i] = g->conns[--g->n];
        }
        return;
    }
}

/* Deliver m (borrowed) to g's connections here, as the layer delivers a
 * group message; connections tracked meanwhile wait for the next diff.
 * Returns how many got it. */
static size_t pgroup_deliver(pres_group *g, ch_msg *m)
{
    uint32_t n = g->n, w = 0;
    size_t sent = 0;

    g->fanning++;
    for (uint32_t i = 0; i < n; i++) {
        if (g->conns[i]) {
            ch_ws_deliver(&g->conns[i]->ep, m, pres.app);
            sent++;
        }
    }
    if (--g->fanning == 0 && g->holes) {
        for (uint32_t i = 0; i < g->n; i++)
            if (g->conns[i])
                g->conns[w++] = g->conns[i];
        g->n = w;
        g->holes = 0;
    }
    pgroup_release(g);
    return sent;
}

/* The groups w is tracked in: *n of them, from the returned array (which
 * may be one, a slot of its own). */
static pres_group *const *conn_groups(const ch_ws *w, pres_group **one, uint32_t *n)
{
    uintptr_t p = (uintptr_t)w->presence;

    if (!p) {
        *n = 0;
        return NULL;
    }
    if (p & REF_ONE) {
        *one = (pres_group *)(p & ~REF_ONE);
        *n = 1;
        return one;
    }
    *n = w->presence->n;
    return w->presence->g;
}

/* Add g to w's groups.  Returns 0 or -ENOMEM. */
static int conn_add(ch_ws *w, pres_group *g)
{
    uintptr_t p = (uintptr_t)w->presence;
    struct ch_presence_ref *r;

    if (!p) {
        w->presence = (struct ch_presence_ref *)((uintptr_t)g | REF_ONE);
        return 0;
    }
    if (p & REF_ONE) {
        if (!(r = malloc(sizeof *r + 4 * sizeof r->g[0])))
            return -ENOMEM;
        r->n = 1;
        r->cap = 4;
        r->g[0] = (pres_group *)(p & ~REF_ONE);
        w->presence = r;
    }
    r = w->presence;
    if (r->n == r->cap) {
        struct ch_presence_ref *bigger = realloc(r, sizeof *r + 2 * r->cap * sizeof r->g[0]);

        if (!bigger)
            return -ENOMEM;
        bigger->cap *= 2;
        w->presence = r = bigger;
    }
    r->g[r->n++] = g;
    return 0;
}

/* Take g out of w's groups (the array is freed once empty). */
static void conn_remove(ch_ws *w, pres_group *g)
{
    struct ch_presence_ref *r = w->presence;

    if ((uintptr_t)r & REF_ONE) {
        w->presence = NULL;
        return;
    }
    for (uint32_t i = 0; i < r->n; i++) {
        if (r->g[i] == g) {
            r->g[i] = r->g[--r->n];
            break;
        }
    }
    if (r->n == 0) {
        free(r);
        w->presence = NULL;
    }
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
    pres_group *g;
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
    if ((g = pgroup_get(group, 0)) != NULL)
        ch_metric_add(CH_M_PRESENCE_DIFF_FRAMES, pgroup_deliver(g, m));
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

    if (!pres.layer_down && beat && pgroup_get(group, 0)) { /* keep the membership fresh */
        char sync[CH_NAME_MAX];

        sync_group(sync, group);
        ch_layer_group_add(pres.app->layer, &pres.ep, sync);
    }
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
    ch_hmap_init(&pres.groups);
    if (!pres.book || ch_layer_attach(app->layer, &pres.ep) != 0) {
        ch_pbook_free(pres.book);
        pres.book = NULL;
        return -ENOMEM;
    }
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

/* presence.h: close the timer (the book goes in its close callback),
 * leave the layer, free the groups' arrays. */
void ch_presence_close(void)
{
    size_t pos = 0;
    void *val;

    if (!pres.running)
        return;
    pres.running = 0;
    uv_close((uv_handle_t *)&pres.timer, on_timer_closed);
    ch_layer_detach(pres.app->layer, &pres.ep);
    while (ch_hmap_next(&pres.groups, &pos, NULL, &val)) {
        free(((pres_group *)val)->conns);
        free(val);
    }
    ch_hmap_free(&pres.groups);
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

/* Join the process's endpoint to group's host group (first == 1: the
 * group's first local user) or leave it (first == 0: its last left). */
static int sync_member(const char *group, int first)
{
    char sync[CH_NAME_MAX];

    sync_group(sync, group);
    if (first)
        return ch_layer_group_add(pres.app->layer, &pres.ep, sync);
    return ch_layer_group_discard(pres.app->layer, &pres.ep, sync);
}

/* Count w's user one connection fewer in g (g may be freed); a user's
 * last connection here records their last seen, and the group's last
 * user here leaves the host group. */
static void untrack(ch_ws *w, pres_group *g)
{
    int rc = ch_pbook_local_remove(pres.book, g->name, w->ident->id);

    if (rc > 0 && (rc & 1))
        record_seen(w->ident->id);
    if (rc > 0 && (rc & 2))
        sync_member(g->name, 0);
    pgroup_remove(g, w);
    pgroup_release(g);
}

/* presence.h: count w's user in group (w borrowed; the group's entry in
 * w->presence, owned by w, goes with untrack or ch_presence_gone). */
int ch_presence_track(ch_ws *w, const char *group)
{
    pres_group *one, *const *all, *g;
    size_t len = group ? strlen(group) : 0;
    uint32_t n;
    int rc;

    if (!w || !pres.running || !w->ident || w->ident->id <= 0 || w->conn->closing || !group ||
        len > CH_PRESENCE_GROUP_MAX || !ch_layer_valid_group(group))
        return CHANHOST_ERR_INVALID;
    all = conn_groups(w, &one, &n);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(all[i]->name, group) == 0)
            return CHANHOST_OK;
    if (!(g = pgroup_get(group, 1)))
        return CHANHOST_ERR_NOMEM;
    if (pgroup_add(g, w) != 0) {
        pgroup_release(g);
        return CHANHOST_ERR_NOMEM;
    }
    rc = ch_pbook_local_add(pres.book, group, w->ident->id, ch_ident_username(w->ident));
    if (rc < 0) {
        pgroup_remove(g, w);
        pgroup_release(g);
        return rc == -ENOMEM ? CHANHOST_ERR_NOMEM : CHANHOST_ERR_INVALID;
    }
    if ((rc == 1 && sync_member(group, 1) != 0) || conn_add(w, g) != 0) {
        ch_pbook_local_remove(pres.book, group, w->ident->id);
        if (rc == 1)
            sync_member(group, 0);
        pgroup_remove(g, w);
        pgroup_release(g);
        return CHANHOST_ERR_NOMEM;
    }
    return CHANHOST_OK;
}

/* presence.h: the opposite of ch_presence_track. */
int ch_presence_untrack(ch_ws *w, const char *group)
{
    pres_group *one, *const *all;
    uint32_t n;

    if (!w || !group)
        return CHANHOST_ERR_INVALID;
    if (!pres.running) /* the groups went with the service */
        return CHANHOST_ERR_STATE;
    all = conn_groups(w, &one, &n);
    for (uint32_t i = 0; i < n; i++) {
        pres_group *g = all[i];

        if (strcmp(g->name, group) == 0) {
            conn_remove(w, g);
            untrack(w, g);
            return CHANHOST_OK;
        }
    }
    return CHANHOST_ERR_STATE;
}

/* presence.h: untrack w from every group and free its set. */
void ch_presence_gone(ch_ws *w)
{
    pres_group *one, *const *all;
    uint32_t n;

    while ((all = conn_groups(w, &one, &n)) != NULL) {
        pres_group *g = all[n - 1];

        conn_remove(w, g);
        if (pres.running)
            untrack(w, g);
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
    /* msg->type is the "type" (a handler name only after
     * ch_msg_use_handler_name): no lookup per delivery */
    const char *type = msg->handler ? json_string_value(json_object_get(j, "type")) : msg->type;
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

/* presence.h: a layer message for the process's presence endpoint (msg
 * borrowed) is an announcement (or nothing of ours), taken here. */
int ch_presence_deliver(ch_endpoint *ep, const ch_msg *msg)
{
    if (ep != &pres.ep)
        return 0;
    ch_presence_message(NULL, msg);
    return 1;
}
