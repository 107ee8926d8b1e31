/*
 * reload.c -- the reload transaction of reload.h: read and stat off the
 * loop, load changed plugins off the loop, swap everything in one loop
 * callback; SIGHUP; the development-mode watchers.
 */
#include "reload.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "app_host.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "plugins.h"
#include "rest_plugins.h"
#include "ws.h"

#define CH_RELOAD_DEBOUNCE_MS 150

typedef struct reloader {
    ch_app *app;
    ch_config_builder builder;
    void *arg;
    int dev;
    uv_signal_t sighup;
    uv_fs_event_t plugin_watch, config_watch;
    unsigned watching_plugins : 1, watching_config : 1;
    uv_timer_t debounce;
    int debounce_config; /* the pending debounced reload reads config */
    int running, again, again_config;
    int closed;        /* handles closed: free when the txn ends */
    int open_handles;  /* closes not yet reported */
    char *config_name; /* basename of the config file */
    int notified;      /* RELOADING=1 sent (SIGHUP): READY=1 once no reload runs */
} reloader;

typedef struct txn {
    uv_work_t work;
    reloader *r;
    int with_config;
    char *why;
    ch_config cfg; /* the new config (with_config) */
    ch_diag diag;
    char *dir; /* plugin_dir the names are looked up in */
    size_t n;  /* plugin names the routes use */
    char **names;
    ch_file_id *ids;
    int *exists;
    ch_plugin **loaded; /* new versions, per name */
    size_t pending;     /* loads not finished */
    unsigned loaded_ok, failed;
} txn;

typedef struct slot {
    txn *t;
    size_t i;
} slot;

static reloader *the; /* one per process, owned by the app */

/* A SIGHUP's reloads are over (none runs): tell the service manager. */
static void notify_done(reloader *r)
{
    if (r->notified && !r->running) {
        r->notified = 0;
        ch_notify_ready(r->app->listen_addr);
    }
}

/* --- collecting names (loop) and file identities (thread pool) --------- */

/* Add name to t->names unless present. */
static int add_name(txn *t, const char *name)
{
    size_t i;
    char **nn;

    for (i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0)
            return 0;
    nn = realloc(t->names, (t->n + 1) * sizeof *nn);
    if (!nn)
        return -ENOMEM;
    t->names = nn;
    return (t->names[t->n++] = strdup(name)) ? 0 : -ENOMEM;
}

static int names_of(txn *t, const ch_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->n_routes; i++)
        if (add_name(t, cfg->routes[i].plugin) != 0)
            return -ENOMEM;
    return 0;
}

/* Thread pool: the config (if asked), then a stat of every plugin file. */
static void txn_work(uv_work_t *w)
{
    txn *t = w->data;
    size_t i;

    if (t->with_config) {
        if (t->r->builder(t->r->arg, &t->cfg, &t->diag) != 0 && t->diag.n == 0)
            ch_diag_add(&t->diag, "the configuration could not be read");
        if (t->diag.n)
            return;
        free(t->dir);
        t->dir = strdup(t->cfg.plugin_dir);
        if (!t->dir || names_of(t, &t->cfg) != 0) {
            ch_diag_add(&t->diag, "out of memory reading the configuration");
            return;
        }
    }
    t->ids = calloc(t->n ? t->n : 1, sizeof *t->ids);
    t->exists = calloc(t->n ? t->n : 1, sizeof *t->exists);
    t->loaded = calloc(t->n ? t->n : 1, sizeof *t->loaded);
    for (i = 0; t->ids && t->exists && i < t->n; i++) {
        char *file = NULL;
        struct stat st;

        if (asprintf(&file, "%s/%s.so", t->dir, t->names[i]) >= 0 && stat(file, &st) == 0) {
            t->exists[i] = 1;
            t->ids[i] = (ch_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                                     (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
                                         (uint64_t)st.st_mtim.tv_nsec};
        }
        free(file);
    }
}

static void txn_free(txn *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    free(t->ids);
    free(t->exists);
    free(t->loaded);
    free(t->dir);
    free(t->why);
    if (t->with_config)
        ch_config_free(&t->cfg);
    ch_diag_free(&t->diag);
    free(t);
}

/* --- the swap (loop) ---------------------------------------------------- */

/* Settings the running host reads only at start (the listener, the
 * channel layer, the store, the auth secrets: app.c), one row each.  A
 * string left unset in a new config keeps the running value silently (the
 * host may have derived it at start, e.g. a key file next to the store). */
enum { KEEP_STR, KEEP_U64, KEEP_LISTEN };

static const struct restart_only {
    const char *name; /* the directive */
    int kind;         /* KEEP_*: how the value is stored */
    size_t off;       /* its field in ch_config (KEEP_LISTEN: a listener's host) */
} restart_only[] = {
    {"listen", KEEP_LISTEN, offsetof(ch_config, listen_host)},
    {"listen ... tls", KEEP_LISTEN, offsetof(ch_config, tls_listen_host)},
    {"layer", KEEP_STR, offsetof(ch_config, layer)},
    {"workers", KEEP_U64, offsetof(ch_config, workers)},
    {"group_expiry", KEEP_U64, offsetof(ch_config, group_expiry)},
    {"presence_interval", KEEP_U64, offsetof(ch_config, presence_interval)},
    {"store", KEEP_STR, offsetof(ch_config, store)},
    {"store_key_file", KEEP_STR, offsetof(ch_config, store_key_file)},
    {"store_key_env", KEEP_STR, offsetof(ch_config, store_key_env)},
    {"store_queue_max", KEEP_U64, offsetof(ch_config, store_queue_max)},
    {"store_batch_max", KEEP_U64, offsetof(ch_config, store_batch_max)},
    {"store_commit_delay", KEEP_U64, offsetof(ch_config, store_commit_delay)},
    {"store_connections", KEEP_U64, offsetof(ch_config, store_connections)},
    {"attachment_dir", KEEP_STR, offsetof(ch_config, attachment_dir)},
    {"attachment_sweep_interval", KEEP_U64, offsetof(ch_config, attachment_sweep_interval)},
    {"auth_secret_file", KEEP_STR, offsetof(ch_config, auth_secret_file)},
    {"auth_secret_env", KEEP_STR, offsetof(ch_config, auth_secret_env)},
    {"auth_service_token_file", KEEP_STR, offsetof(ch_config, auth_service_token_file)},
    {"auth_service_token_env", KEEP_STR, offsetof(ch_config, auth_service_token_env)},
    {"django_database", KEEP_STR, offsetof(ch_config, django_database)},
    {"django_secret_key_file", KEEP_STR, offsetof(ch_config, django_secret_key_file)},
    {"django_secret_key_env", KEEP_STR, offsetof(ch_config, django_secret_key_env)},
    {"django_jwt_key_file", KEEP_STR, offsetof(ch_config, django_jwt_key_file)},
    {"django_jwt_key_env", KEEP_STR, offsetof(ch_config, django_jwt_key_env)},
    {"django_session_engine", KEEP_STR, offsetof(ch_config, django_session_engine)},
    {"django_session_cookie", KEEP_STR, offsetof(ch_config, django_session_cookie)},
    {"django_session_age", KEEP_U64, offsetof(ch_config, django_session_age)},
};

/* The field of row k in cfg (borrowed; a char ** or uint64_t *). */
static void *field(const ch_config *cfg, const struct restart_only *k)
{
    return (char *)cfg + k->off;
}

/* The port that goes with a KEEP_LISTEN row's host in cfg. */
static int *port_of(const ch_config *cfg, const struct restart_only *k)
{
    return (int *)(k->off == offsetof(ch_config, tls_listen_host) ? &cfg->tls_listen_port
                                                                  : &cfg->listen_port);
}

/* Non-zero if next asks for another value of row k than now runs with. */
static int differs(const ch_config *now, const ch_config *next, const struct restart_only *k)
{
    const char *a, *b;

    if (k->kind == KEEP_U64)
        return *(uint64_t *)field(now, k) != *(uint64_t *)field(next, k);
    a = *(char **)field(now, k);
    b = *(char **)field(next, k);
    if (k->kind == KEEP_LISTEN)
        return (a || b) && (!a || !b || strcmp(a, b) != 0 || *port_of(now, k) != *port_of(next, k));
    return b && (!a || strcmp(a, b) != 0);
}

/* Write the running value of row k into buf, for the log. */
static void describe(const ch_config *now, const struct restart_only *k, char *buf, size_t len)
{
    const char *s;

    if (k->kind == KEEP_U64) {
        snprintf(buf, len, "%llu", (unsigned long long)*(uint64_t *)field(now, k));
        return;
    }
    s = *(char **)field(now, k);
    if (k->kind == KEEP_LISTEN)
        snprintf(buf, len, "%s:%d", s ? s : "none", s ? *port_of(now, k) : 0);
    else
        snprintf(buf, len, "%s", s ? s : "unset");
}

/* Give next the running value of row k (next's own string is freed). */
static void keep_value(const ch_config *now, ch_config *next, const struct restart_only *k)
{
    char **a = field(now, k), **b = field(next, k);

    if (k->kind == KEEP_U64) {
        *(uint64_t *)field(next, k) = *(uint64_t *)field(now, k);
        return;
    }
    if (k->kind == KEEP_LISTEN)
        *port_of(next, k) = *port_of(now, k);
    free(*b);
    *b = *a ? strdup(*a) : NULL;
}

/* Settings only a restart can change (the table above): keep the running
 * values in the new config and say so for each one that differs.  Returns
 * how many were kept. */
static int keep_restart_only(ch_config *now, ch_config *next)
{
    char was[512];
    int kept = 0;
    size_t i;

    for (i = 0; i < sizeof restart_only / sizeof restart_only[0]; i++) {
        const struct restart_only *k = &restart_only[i];

        if (differs(now, next, k)) {
            describe(now, k, was, sizeof was);
            ch_log(CH_LOG_WARN, "config reload: %s changed; that needs a restart (kept %s)",
                   k->name, was);
            kept++;
        }
        keep_value(now, next, k);
    }
    return kept;
}

/* Put p in the registry in place of its name's current version (returned,
 * still referenced by the registry's old slot: the caller unrefs it), or
 * add it (returns NULL). */
static ch_plugin *registry_put(ch_app *app, ch_plugin *p)
{
    ch_plugin **np;
    size_t i;

    for (i = 0; i < app->n_plugins; i++)
        if (strcmp(app->plugins[i]->name, p->name) == 0) {
            ch_plugin *old = app->plugins[i];

            app->plugins[i] = p;
            return old;
        }
    np = realloc(app->plugins, (app->n_plugins + 1) * sizeof *np);
    if (!np) {
        ch_plugin_unref(p);
        return NULL;
    }
    app->plugins = np;
    app->plugins[app->n_plugins++] = p;
    return NULL;
}

/* Drop registry entries no route of the config names any more. */
static void registry_prune(ch_app *app)
{
    size_t i = 0, j;

    while (i < app->n_plugins) {
        int used = 0;

        for (j = 0; j < app->cfg.n_routes && !used; j++)
            used = strcmp(app->cfg.routes[j].plugin, app->plugins[i]->name) == 0;
        if (used) {
            i++;
            continue;
        }
        ch_log(CH_LOG_INFO, "plugin %s: no route uses it any more", app->plugins[i]->name);
        ch_plugin_unref(app->plugins[i]);
        app->plugins[i] = app->plugins[--app->n_plugins];
    }
}

/* Move connections of older versions of np's plugin: adopt, restart, or
 * leave them.  Returns how many stay on older versions. */
static unsigned migrate(ch_app *app, ch_plugin *np)
{
    unsigned stay = 0;
    ch_conn *c;

    for (c = app->conns; c; c = c->next) {
        ch_ws *w = c->ws;

        if (!w || !w->accepted || c->closing || w->plugin == np ||
            strcmp(w->plugin->name, np->name) != 0)
            continue;
        if (ch_plugin_can_adopt(np) && ch_plugin_adopt(np, w, w->user) == 0) {
            w->plugin->connections--;
            ch_plugin_unref(w->plugin);
            ch_plugin_ref(np);
            np->connections++;
            w->plugin = np;
        } else if (w->route->reload == CH_RELOAD_RESTART) {
            ch_ws_close(w, 1012, "service restart");
        } else {
            stay++;
        }
    }
    return stay;
}

/* Swap the route table for one built from app->cfg. */
static void swap_routes(ch_app *app)
{
    ch_route_table next;
    size_t i;

    if (ch_routes_build(&next, &app->cfg, &app->routes) != 0)
        return; /* cannot happen for a validated config but for memory */
    for (i = 0; i < app->routes.n; i++)
        app->routes.routes[i]->plugin = NULL;
    ch_routes_release(&app->routes);
    app->routes = next;
}

/* Install one freshly loaded version. */
static void install(ch_app *app, ch_plugin *p)
{
    ch_plugin *old = registry_put(app, p);
    unsigned stay;

    ch_app_tie_routes(app);
    stay = migrate(app, p);
    ch_metric_count(CH_M_PLUGIN_RELOADS);
    if (old)
        ch_log(CH_LOG_INFO,
               "plugin %s reloaded: generation %u (%s) serves new connections; "
               "%u connection(s) stay on older code",
               p->name, p->generation, p->desc->version, stay);
    ch_plugin_unref(old);
}

static void txn_finish(txn *t);

/* All loads are back: swap config, routes and plugins in this one
 * callback. */
static void commit(txn *t)
{
    ch_app *app = t->r->app;
    size_t i;

    if (t->r->closed || app->stopping) { /* too late: drop what was loaded */
        for (i = 0; i < t->n; i++)
            ch_plugin_unref(t->loaded[i]);
        txn_finish(t);
        return;
    }
    if (t->with_config) {
        ch_config old = app->cfg;

        keep_restart_only(&app->cfg, &t->cfg);
        app->cfg = t->cfg;
        memset(&t->cfg, 0, sizeof t->cfg);
        ch_config_free(&old);
        ch_log_set_verbosity(app->cfg.verbosity);
        ch_log_set_format(app->cfg.log_format);
        swap_routes(app);
        registry_prune(app);
    }
    for (i = 0; i < t->n; i++)
        if (t->loaded[i])
            install(app, t->loaded[i]);
    ch_app_tie_routes(app);
    ch_rest_endpoints_build(app);
    if (t->with_config) {
        ch_metric_count(CH_M_CONFIG_RELOADS);
        ch_log(CH_LOG_INFO,
               "configuration reloaded (%s): %zu route(s), %u plugin(s) (re)loaded,"
               " %u refused",
               t->why, app->routes.n, t->loaded_ok, t->failed);
    }
    txn_finish(t);
}

static void on_loaded(ch_plugin *p, const char *err, void *arg)
{
    slot *s = arg;
    txn *t = s->t;

    if (p) {
        t->loaded[s->i] = p;
        t->loaded_ok++;
    } else {
        t->failed++;
        ch_metric_count(CH_M_PLUGIN_LOAD_FAILURES);
        ch_log(CH_LOG_ERROR, "%s; %s", err,
               ch_app_plugin(t->r->app, t->names[s->i]) ? "the running version keeps serving"
                                                        : "its routes answer 503");
    }
    free(s);
    if (--t->pending == 0)
        commit(t);
}

/* Should plugin i be (re)loaded? */
static int wants_load(txn *t, size_t i, const json_t *settings)
{
    ch_app *app = t->r->app;
    const ch_plugin *cur = ch_app_plugin(app, t->names[i]);

    if (!cur)
        return 1;
    if (t->exists[i] && ch_plugin_file_changed(cur, &t->ids[i]))
        return 1;
    return !json_equal((json_t *)settings,
                       json_object_get(app->cfg.plugin_settings, t->names[i])) &&
           (settings || json_object_get(app->cfg.plugin_settings, t->names[i]));
}

/* Start the loads the transaction needs (loop). */
static void start_loads(txn *t)
{
    ch_app *app = t->r->app;
    const ch_config *cfg = t->with_config ? &t->cfg : &app->cfg;
    size_t i;

    t->pending = 1; /* held while starting, so no load completes the txn early */
    for (i = 0; t->ids && i < t->n; i++) {
        const json_t *settings = json_object_get(cfg->plugin_settings, t->names[i]);
        const ch_plugin *cur = ch_app_plugin(app, t->names[i]);
        slot *s;

        if (!wants_load(t, i, settings) || !(s = malloc(sizeof *s)))
            continue;
        *s = (slot){t, i};
        t->pending++;
        if (ch_plugin_load_async(app->loop, t->dir, t->names[i], settings,
                                 cur ? cur->generation + 1 : 1, on_loaded, s) != 0) {
            t->pending--;
            free(s);
        }
    }
    if (--t->pending == 0)
        commit(t);
}

static void txn_after(uv_work_t *w, int status)
{
    txn *t = w->data;
    size_t i;

    if (t->r->closed) {
        txn_finish(t);
        return;
    }
    if (t->with_config && !t->diag.n && t->r->app->tls_listening && !t->cfg.tls_ctx)
        ch_diag_add(&t->diag,
                    "%s: the TLS listener (kept until a restart) needs tls_certificate "
                    "and tls_certificate_key",
                    t->cfg.path ? t->cfg.path : "config");
    if (status != 0 || (t->with_config && t->diag.n)) {
        for (i = 0; i < t->diag.n; i++)
            ch_log(CH_LOG_ERROR, "%s", t->diag.lines[i]);
        ch_metric_count(CH_M_CONFIG_RELOAD_FAILURES);
        ch_log(CH_LOG_ERROR,
               "configuration reload refused: %zu problem(s); the running "
               "configuration stays",
               t->diag.n);
        txn_finish(t);
        return;
    }
    start_loads(t);
}

/* --- starting, finishing ----------------------------------------------- */

void ch_reload_start(ch_app *app, int with_config, const char *why)
{
    reloader *r = the;
    txn *t;

    if (!r || app->stopping)
        return;
    if (r->running) {
        r->again = 1;
        r->again_config |= with_config;
        return;
    }
    t = calloc(1, sizeof *t);
    if (!t || !(t->why = strdup(why)) || !(t->dir = strdup(app->cfg.plugin_dir)) ||
        (!with_config && names_of(t, &app->cfg) != 0)) {
        if (t)
            txn_free(t);
        return;
    }
    t->r = r;
    t->with_config = with_config;
    t->work.data = t;
    r->running = 1;
    ch_log(CH_LOG_INFO, "reloading %s (%s)", with_config ? "configuration and plugins" : "plugins",
           why);
    if (uv_queue_work(app->loop, &t->work, txn_work, txn_after) != 0) {
        r->running = 0;
        txn_free(t);
    }
}

static void txn_finish(txn *t)
{
    reloader *r = t->r;

    txn_free(t);
    r->running = 0;
    if (r->closed) {
        free(r->config_name);
        free(r);
        return;
    }
    if (r->again) {
        int with_config = r->again_config;

        r->again = r->again_config = 0;
        ch_reload_start(r->app, with_config, "changes during the last reload");
    }
    notify_done(r);
}

/* --- SIGHUP, development watchers, /dev/plugins ------------------------ */

static void on_sighup(uv_signal_t *h, int signum)
{
    reloader *r = h->data;

    (void)signum;
    if (r->app->stopping)
        return;
    ch_notify_reloading();
    r->notified = 1;
    ch_reload_start(r->app, 1, "SIGHUP");
    notify_done(r); /* when no reload could start */
}

static void on_debounce(uv_timer_t *t)
{
    reloader *r = t->data;
    int with_config = r->debounce_config;

    r->debounce_config = 0;
    ch_reload_start(r->app, with_config, "file change");
}

/* Bursts of writes (a linker, an editor's save) end in one reload. */
static void debounce(reloader *r, int with_config)
{
    r->debounce_config |= with_config;
    uv_timer_start(&r->debounce, on_debounce, CH_RELOAD_DEBOUNCE_MS, 0);
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);

    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void on_plugin_dir(uv_fs_event_t *h, const char *file, int events, int status)
{
    reloader *r = h->data;

    (void)events;
    if (status == 0 && file && ends_with(file, ".so"))
        debounce(r, 0);
}

static void on_config_dir(uv_fs_event_t *h, const char *file, int events, int status)
{
    reloader *r = h->data;

    (void)events;
    if (status == 0 && file && r->config_name && strcmp(file, r->config_name) == 0)
        debounce(r, 1);
}

/* Watch a directory; logs and returns non-zero when it cannot. */
static int watch(reloader *r, uv_fs_event_t *h, const char *dir, uv_fs_event_cb cb)
{
    int rc;

    uv_fs_event_init(r->app->loop, h);
    h->data = r;
    rc = uv_fs_event_start(h, cb, dir, 0);
    if (rc != 0) {
        ch_log(CH_LOG_WARN, "--dev: cannot watch %s: %s", dir, uv_strerror(rc));
        uv_close((uv_handle_t *)h, NULL);
    }
    return rc;
}

/* Development mode: watch the plugin directory and the config file's. */
static void start_watching(reloader *r)
{
    ch_app *app = r->app;
    const char *path = app->cfg.path;
    char *dir;

    r->watching_plugins = watch(r, &r->plugin_watch, app->cfg.plugin_dir, on_plugin_dir) == 0;
    if (!path)
        return;
    dir = strdup(path);
    if (dir && strrchr(dir, '/')) {
        r->config_name = strdup(strrchr(dir, '/') + 1);
        *strrchr(dir, '/') = '\0';
    } else if (dir) {
        r->config_name = strdup(dir);
        strcpy(dir, ".");
    }
    if (dir && r->config_name)
        r->watching_config = watch(r, &r->config_watch, dir[0] ? dir : "/", on_config_dir) == 0;
    free(dir);
    ch_log(CH_LOG_INFO, "--dev: watching %s%s%s for changes", app->cfg.plugin_dir,
           r->watching_config ? " and " : "", r->watching_config ? path : "");
}

int ch_reload_init(ch_app *app, ch_config_builder builder, void *arg, int dev)
{
    reloader *r = calloc(1, sizeof *r);
    int rc;

    if (!r)
        return UV_ENOMEM;
    r->app = app;
    r->builder = builder;
    r->arg = arg;
    r->dev = dev;
    uv_timer_init(app->loop, &r->debounce);
    r->debounce.data = r;
    uv_signal_init(app->loop, &r->sighup);
    r->sighup.data = r;
    rc = uv_signal_start(&r->sighup, on_sighup, SIGHUP);
    the = r;
    if (dev)
        start_watching(r);
    return rc;
}

/* Each of the reloader's handles reports here; the last frees it (libuv
 * finishes closes in no promised order, so none may free it early). */
static void on_reloader_closed(uv_handle_t *h)
{
    reloader *r = h->data;

    if (--r->open_handles > 0)
        return;
    r->closed = 1;
    if (r->running)
        return; /* txn_finish frees it */
    free(r->config_name);
    free(r);
}

static void close_handle(reloader *r, uv_handle_t *h)
{
    r->open_handles++;
    uv_close(h, on_reloader_closed);
}

void ch_reload_close(ch_app *app)
{
    reloader *r = the;

    (void)app;
    if (!r)
        return;
    the = NULL;
    if (r->watching_plugins)
        close_handle(r, (uv_handle_t *)&r->plugin_watch);
    if (r->watching_config)
        close_handle(r, (uv_handle_t *)&r->config_watch);
    close_handle(r, (uv_handle_t *)&r->sighup);
    close_handle(r, (uv_handle_t *)&r->debounce);
}

/* One live version as JSON (new reference). */
static json_t *plugin_json(ch_app *app, const ch_plugin *p)
{
    char when[32];
    time_t t = (time_t)p->loaded_at;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:b, s:s}", "name", p->name, "version",
                     p->desc->version, "generation", (json_int_t)p->generation, "loaded_at", when,
                     "connections", (json_int_t)p->connections, "current",
                     ch_app_plugin(app, p->name) == p, "file", p->file);
}

void ch_dev_serve(ch_conn *c, const ch_req *req)
{
    json_t *list = json_array(), *body;
    const ch_plugin *p;
    char *text;

    if (!the || !the->dev) {
        json_decref(list);
        ch_http_error(c, 404, NULL);
        return;
    }
    if (strcmp(req->method_name, "GET") != 0) {
        json_decref(list);
        ch_http_error(c, 405, "Allow: GET\r\n");
        return;
    }
    for (p = ch_plugin_live(); p; p = p->live_next)
        json_array_append_new(list, plugin_json(c->app, p));
    body = json_pack("{s:o, s:b}", "plugins", list, "reloading", the->running);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text)
        ch_http_respond(c, 200, "application/json", NULL, text, strlen(text));
    else
        ch_http_error(c, 500, NULL);
    free(text);
    json_decref(body);
}
