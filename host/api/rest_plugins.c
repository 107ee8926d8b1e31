/*
 * rest_plugins.c -- owns the table of the plugins' HTTP endpoints
 * (app->endpoints) and the requests waiting for a plugin's answer: the
 * table's build with its checks (a pattern under /api/ that overlaps no
 * host route and no other plugin's endpoint), finding the endpoint of a
 * request, handing the request to the plugin (runtime/endpoints.h) and
 * taking its answer back, and the 504 for an answer that does not come
 * within plugin_http_timeout.
 *
 * Everything else a request goes through (authentication, the access
 * check, body parsing and limits, the error shape, the access log line)
 * is rest.c's, shared with the host's own routes.
 */
#include "rest_plugins.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "conn.h"
#include "endpoints.h"
#include "log.h"
#include "metrics.h"
#include "plugins.h"
#include "rest.h"
#include "router.h"

/* One endpoint of the table. */
typedef struct endpoint {
    ch_pattern *pattern;
    char *method;            /* owned copy */
    int access;              /* CHANHOST_HTTP_* */
    ch_plugin *plugin;       /* a reference; NULL: not running (503) */
    const char *plugin_name; /* borrowed from the config (lives as long) */
    void (*handler)(chanhost_http *req, void *state);
} endpoint;

/* app->endpoints */
struct ch_endpoints {
    endpoint *v;
    size_t n;
    uv_timer_t timer;               /* fires at the oldest awaited deadline */
    ch_rest *wait_head, *wait_tail; /* awaited answers, oldest first */
};

/* ---- overlap of two patterns ---------------------------------------------- */

/* What one path segment of a pattern matches. */
enum { SEG_TEXT, SEG_DIGITS, SEG_ANY, SEG_REST };

/* The kind of segment s[0..n): '#' (a host route's id) and <int:x> match
 * digits, <path:x> the rest of the path, any other converter anything. */
static int seg_kind(const char *s, size_t n)
{
    const char *lt = memchr(s, '<', n);

    if (n == 1 && s[0] == '#')
        return SEG_DIGITS;
    if (!lt)
        return SEG_TEXT;
    if (n >= 6 && memmem(s, n, "<path:", 6))
        return SEG_REST;
    if (lt == s && n > 6 && strncmp(s, "<int:", 5) == 0 && s[n - 1] == '>' &&
        !memchr(s + 1, '<', n - 1))
        return SEG_DIGITS;
    return SEG_ANY;
}

/* Can segments a[0..na) of kind ka and b[0..nb) of kind kb match one
 * text? */
static int seg_overlap(const char *a, size_t na, int ka, const char *b, size_t nb, int kb)
{
    if (ka == SEG_ANY || kb == SEG_ANY || (ka == SEG_DIGITS && kb == SEG_DIGITS))
        return 1;
    if (ka == SEG_TEXT && kb == SEG_TEXT)
        return na == nb && memcmp(a, b, na) == 0;
    if (ka == SEG_DIGITS)
        return nb > 0 && strspn(b, "0123456789") >= nb;
    return na > 0 && strspn(a, "0123456789") >= na;
}

/* Could one path match both patterns (after "/api/"; a trailing slash
 * counts as optional, as clients may leave it out)?  Errs on "yes". */
static int overlaps(const char *a, const char *b)
{
    for (;;) {
        size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
        int ka = seg_kind(a, na), kb = seg_kind(b, nb), end_a, end_b;

        if (ka == SEG_REST || kb == SEG_REST)
            return 1;
        if (!seg_overlap(a, na, ka, b, nb, kb))
            return 0;
        a += na;
        b += nb;
        end_a = !*a || !a[1];
        end_b = !*b || !b[1];
        if (end_a || end_b)
            return end_a && end_b;
        a++;
        b++;
    }
}

/* ---- the table -------------------------------------------------------------- */

static void table_free(endpoint *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        ch_pattern_free(v[i].pattern);
        free(v[i].method);
        ch_plugin_unref(v[i].plugin);
    }
    free(v);
}

/* Why declaration d (borrowed) cannot be served: a static text, or NULL
 * if it is sound.  has_code: the plugin is running, so a handler is
 * needed. */
static const char *unsound(const ch_endpoint_decl *d, int has_code)
{
    size_t n = d->method ? strlen(d->method) : 0;

    if (n == 0 || n > 16 || strspn(d->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
        return "the method must be 1 to 16 capital letters";
    if (!d->pattern || strncmp(d->pattern, "/api/", 5) != 0)
        return "the pattern must start with /api/";
    if (d->access < CHANHOST_HTTP_ANY || d->access > CHANHOST_HTTP_SERVICE)
        return "access must be one of CHANHOST_HTTP_ANY, _USER, _ADMIN, _SERVICE";
    if (has_code && !d->handler)
        return "it has no handler";
    return NULL;
}

/* Whom the pattern of d overlaps among the host's routes and the entries
 * v[0..n) (other plugins, or the same plugin with the same method): a
 * description in who[len] and 1, or 0. */
static int collides(const ch_endpoint_decl *d, const char *plugin, const endpoint *v, size_t n,
                    char *who, size_t len)
{
    const char *pat, *method;
    size_t i;

    for (i = 0; (pat = ch_rest_route_at(i, &method)); i++)
        if (overlaps(d->pattern + 5, pat)) {
            snprintf(who, len, "the host's API route %s /api/%s", method, pat);
            return 1;
        }
    for (i = 0; i < n; i++) {
        int same = strcmp(v[i].plugin_name, plugin) == 0;

        if ((!same || strcmp(v[i].method, d->method) == 0) &&
            overlaps(d->pattern + 5, ch_pattern_text(v[i].pattern) + 5)) {
            snprintf(who, len, "%s's endpoint %s %s", v[i].plugin_name, v[i].method,
                     ch_pattern_text(v[i].pattern));
            return 1;
        }
    }
    return 0;
}

/* Add plugin `name`'s declarations d[0..nd) (p: its running version, or
 * NULL) to the table *v / *n (capacity *cap).  Returns 0 or -ENOMEM. */
static int add_plugin(endpoint **v, size_t *n, size_t *cap, const char *name, ch_plugin *p,
                      const ch_endpoint_decl *d, size_t nd)
{
    char err[256], who[256];
    size_t i;

    for (i = 0; i < nd; i++) {
        const char *why = unsound(&d[i], p != NULL);
        ch_pattern *pat = NULL;
        endpoint *e;

        if (!why && !(pat = ch_pattern_compile(d[i].pattern, err, sizeof err)))
            why = err;
        if (!why && collides(&d[i], name, *v, *n, who, sizeof who))
            why = who;
        if (why) {
            ch_log(CH_LOG_ERROR, "plugin '%s': endpoint %s %s refused: %s%s", name,
                   d[i].method ? d[i].method : "(no method)",
                   d[i].pattern ? d[i].pattern : "(no pattern)", why == who ? "it overlaps " : "",
                   why);
            ch_pattern_free(pat);
            continue;
        }
        if (*n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 8;
            endpoint *nv = realloc(*v, ncap * sizeof *nv);

            if (!nv) {
                ch_pattern_free(pat);
                return -ENOMEM;
            }
            *v = nv;
            *cap = ncap;
        }
        e = &(*v)[*n];
        *e = (endpoint){pat, strdup(d[i].method), d[i].access, p, name, d[i].handler};
        if (!e->method) {
            ch_pattern_free(pat);
            return -ENOMEM;
        }
        if (p)
            ch_plugin_ref(p);
        (*n)++;
    }
    return 0;
}

/* The running version of name (borrowed from the registry), or NULL. */
static ch_plugin *running(ch_app *app, const char *name)
{
    size_t i;

    for (i = 0; i < app->n_plugins; i++)
        if (strcmp(app->plugins[i]->name, name) == 0)
            return app->plugins[i];
    return NULL;
}

/* Has an earlier route of the config named the plugin of route i? */
static int named_before(const ch_app *app, size_t i)
{
    size_t j;

    for (j = 0; j < i; j++)
        if (strcmp(app->cfg.routes[j].plugin, app->cfg.routes[i].plugin) == 0)
            return 1;
    return 0;
}

static void on_timer(uv_timer_t *timer);

/* The endpoint state, made on first use (with its timer). */
static struct ch_endpoints *table_state(ch_app *app)
{
    if (!app->endpoints && (app->endpoints = calloc(1, sizeof *app->endpoints))) {
        uv_timer_init(app->loop, &app->endpoints->timer);
        app->endpoints->timer.data = app;
    }
    return app->endpoints;
}

int ch_rest_endpoints_build(ch_app *app)
{
    struct ch_endpoints *t = table_state(app);
    endpoint *v = NULL;
    size_t n = 0, cap = 0, i;

    if (!t)
        return -ENOMEM;
    for (i = 0; i < app->cfg.n_routes; i++) {
        const char *name = app->cfg.routes[i].plugin;
        ch_plugin *p = running(app, name);
        const ch_endpoint_decl *d;
        size_t nd;

        if (named_before(app, i))
            continue;
        d = p ? p->endpoints : ch_plugin_refused_endpoints(name, &nd);
        nd = p ? p->n_endpoints : nd;
        if (add_plugin(&v, &n, &cap, name, p, d, nd) != 0) {
            table_free(v, n);
            ch_log(CH_LOG_ERROR, "plugin endpoints: out of memory; the table stays as it was");
            return -ENOMEM;
        }
    }
    table_free(t->v, t->n);
    t->v = v;
    t->n = n;
    return 0;
}

void ch_rest_endpoints_stop(ch_app *app)
{
    if (app->endpoints && app->endpoints->wait_head)
        uv_timer_start(&app->endpoints->timer, on_timer, 0, 0);
}

void ch_rest_endpoints_close(ch_app *app)
{
    if (app->endpoints)
        uv_close((uv_handle_t *)&app->endpoints->timer, NULL);
}

void ch_rest_endpoints_free(ch_app *app)
{
    if (!app->endpoints)
        return;
    table_free(app->endpoints->v, app->endpoints->n);
    free(app->endpoints);
    app->endpoints = NULL;
}

/* ---- finding the endpoint ------------------------------------------------ */

/* Does e's pattern match path (or path + "/": the trailing slash may be
 * left out)?  1 with *params filled, 0, or -1 out of memory. */
static int match_path(const endpoint *e, const char *path, ch_route_params *params)
{
    size_t len = strlen(path);
    char *slashed;
    int m = ch_pattern_match(e->pattern, path, params);

    if (m != 0 || (len && path[len - 1] == '/'))
        return m;
    if (!(slashed = malloc(len + 2)))
        return -1;
    memcpy(slashed, path, len);
    memcpy(slashed + len, "/", 2);
    m = ch_pattern_match(e->pattern, slashed, params);
    free(slashed);
    return m;
}

int ch_rest_endpoint_find(ch_rest *r, const ch_req *req, char *allow, size_t len)
{
    const struct ch_endpoints *t = r->app->endpoints;
    size_t i;

    for (i = 0; t && i < t->n; i++) {
        const endpoint *e = &t->v[i];
        ch_route_params params = {0};
        int m = match_path(e, req->path, &params);

        if (m < 0) {
            ch_rest_fail(r, 500, "internal", "out of memory");
            return -2;
        }
        if (m == 0)
            continue;
        if (strcmp(e->method, req->method_name) != 0) {
            ch_route_params_free(&params);
            ch_rest_allow_add(allow, len, e->method);
            continue;
        }
        if (!e->plugin) {
            ch_route_params_free(&params);
            ch_rest_fail(r, 503, "unavailable", "plugin '%s' is not running", e->plugin_name);
            return -2;
        }
        r->call = ch_endpoint_request_new(e->plugin, req->method_name, req->path, req->query,
                                          ch_conn_peer(r->conn), &params);
        if (!r->call) {
            ch_rest_fail(r, 500, "internal", "out of memory");
            return -2;
        }
        r->handler = e->handler;
        return e->access;
    }
    return -1;
}

/* ---- the answer ------------------------------------------------------------- */

/* Take r off the list of awaited answers. */
static void wait_unlink(struct ch_endpoints *t, ch_rest *r)
{
    if (r->wait_prev)
        r->wait_prev->wait_next = r->wait_next;
    else
        t->wait_head = r->wait_next;
    if (r->wait_next)
        r->wait_next->wait_prev = r->wait_prev;
    else
        t->wait_tail = r->wait_prev;
    r->wait_next = r->wait_prev = NULL;
}

/* Arm the timer for the oldest awaited answer, if any. */
static void arm(struct ch_endpoints *t, uint64_t now)
{
    if (t->wait_head)
        uv_timer_start(&t->timer, on_timer,
                       t->wait_head->deadline > now ? t->wait_head->deadline - now : 0, 0);
}

/* The plugin answered (the hook of runtime/endpoints.h; body stolen):
 * inside its handler, keep the answer for ch_rest_endpoint_call; later,
 * send it (or drop it if the client left). */
static void on_answer(chanhost_http *q, int status, json_t *body)
{
    ch_rest *r = q->ctx;

    r->awaiting = NULL;
    if (r->calling) {
        r->early_status = status;
        r->early_body = body;
        return;
    }
    wait_unlink(r->app->endpoints, r);
    ch_rest_answer(r, status, body);
}

/* The oldest awaited answers are late (all of them once the host is
 * stopping): 504 (or drop), abandon their requests, and wait for the
 * next. */
static void on_timer(uv_timer_t *timer)
{
    ch_app *app = timer->data;
    struct ch_endpoints *t = app->endpoints;
    uint64_t now = uv_now(app->loop);
    ch_rest *r;

    while ((r = t->wait_head) && (r->deadline <= now || app->stopping)) {
        wait_unlink(t, r);
        ch_metric_count(CH_M_PLUGIN_HTTP_TIMEOUTS);
        ch_log(CH_LOG_WARN, "plugin '%s': %s not answered within plugin_http_timeout: 504",
               r->awaiting->plugin ? r->awaiting->plugin->name : "?",
               r->what ? r->what : "request");
        ch_endpoint_request_abandon(r->awaiting);
        r->awaiting = NULL;
        if (ch_rest_gone(r))
            ch_rest_drop(r);
        else
            ch_rest_fail(r, 504, "timeout", "the plugin did not answer in time");
    }
    arm(t, now);
}

void ch_rest_endpoint_call(ch_rest *r)
{
    struct ch_endpoints *t = r->app->endpoints;
    chanhost_http *q = r->call;
    json_t *body;

    q->body = json_incref(r->body);
    q->user = r->uid ? ch_auth_user(r->claims) : NULL;
    q->is_service = r->service;
    q->answer = on_answer;
    q->ctx = r;
    r->call = NULL;
    r->awaiting = q;
    r->calling = 1;
    ch_endpoint_request_run(q, r->handler);
    r->calling = 0;
    if (r->early_status) {
        body = r->early_body;
        r->early_body = NULL;
        ch_rest_answer(r, r->early_status, body);
        return;
    }
    ch_rest_async(r);
    r->deadline = uv_now(r->app->loop) + r->app->cfg.plugin_http_timeout;
    r->wait_prev = t->wait_tail;
    if (t->wait_tail)
        t->wait_tail->wait_next = r;
    else
        t->wait_head = r;
    t->wait_tail = r;
    if (t->wait_head == r)
        arm(t, uv_now(r->app->loop));
}
