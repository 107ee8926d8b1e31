/*
 * plugins.c -- the plugin loader (private copy, dlopen, ABI checks, init)
 * and the wrappers through which the host calls plugin callbacks.
 *
 * Loads happen at start-up (ch_plugin_load, before the loop serves
 * anyone) and on reload (ch_plugin_load_async: the private copy, dlopen and
 * checks run on the thread pool, only init runs on the loop), so copying
 * the .so never makes the loop wait for the disk.
 *
 * A plugin that declares a schema (SDK 1.2) is started only after the
 * store has applied its migrations (asynchronously: the store answers on
 * the loop); its operations are installed just before init, and
 * uninstalled when the version is freed (the newest installed version of
 * a name is the one "<name>.<op>" finds, store_plugin.h).
 *
 * Each loaded version owns a copy of its descriptor (ch_plugin.desc_copy)
 * holding only what this host knows, zero-filled past the plugin's
 * struct_size: callbacks newer than the plugin read as NULL, and the
 * wrappers below treat every optional callback's NULL as "absent".
 *
 * It also owns each version's copy of its declared HTTP endpoints
 * (ch_plugin.endpoints) and, per plugin name, the declarations of its last
 * refused load (a file static, loop thread only), so that a refused
 * plugin's endpoints can answer 503.
 */
#include "plugins.h"

#include <dlfcn.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timers.h"
#include "store.h"
#include "store_plugin.h"

/* The size of an ABI 1.0 descriptor: everything up to disconnect.  Fields
 * added later are read only when the plugin's struct_size covers them. */
#define CH_PLUGIN_DESC_MIN (offsetof(chanhost_plugin, disconnect) + sizeof(void (*)(void)))

static const ch_plugin *current;     /* plugin whose callback runs now */
static const chanhost_api *host_api; /* handed to init (ch_plugin_set_api) */

static ch_store *plugin_store; /* schemas are migrated here (NULL: none) */
static uv_loop_t *plugin_loop; /* ... on this loop */

const ch_plugin *ch_plugin_current(void) { return current; }

void ch_plugin_set_api(const chanhost_api *api) { host_api = api; }

void ch_plugin_set_store(ch_store *store, uv_loop_t *loop)
{
    plugin_store = store;
    plugin_loop = loop;
}

void ch_plugin_ref(ch_plugin *p);
void ch_plugin_unref(ch_plugin *p);

/* Mark p current and pinned around a callback; restores the previous. */
#define CALL_IN(p, stmt)                   \
    do {                                   \
        const ch_plugin *saved_ = current; \
        current = (p);                     \
        ch_plugin_ref(p);                  \
        stmt;                              \
        current = saved_;                  \
        ch_plugin_unref(p);                \
    } while (0)

/* printf into err, always NUL-terminated. */
static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copy src to a new private file; returns its malloc'd path or NULL. */
static char *private_copy(const char *src, const char *name, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *dst = NULL, buf[65536];
    int in = -1, out = -1;
    ssize_t n = 0;

    if (asprintf(&dst,
                 "%s/chanhost-%s-XX"
                 "XX"
                 "XX",
                 tmp, name) < 0)
        return NULL;
    in = open(src, O_RDONLY | O_CLOEXEC);
    out = mkstemp(dst);
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            n = -1;
    if (in < 0 || out < 0 || n < 0) {
        errf(err, errlen, "plugin '%s': cannot copy %s: %s", name, src, strerror(errno));
        if (out >= 0)
            unlink(dst);
        free(dst);
        dst = NULL;
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return dst;
}

/* The version rules, then a zero-filled copy of what this host knows, then
 * the mandatory fields (plugins.h says who owns what). */
int ch_plugin_check_descriptor(const chanhost_plugin *d, const char *name, const char *file,
                               chanhost_plugin *out, char *err, size_t errlen)
{
    size_t n;

    if (d->abi_major != CHANHOST_ABI_MAJOR) {
        errf(err, errlen,
             "plugin '%s' (%s): built for SDK %u.%u (ABI major version %u), this "
             "host speaks %u.%u; rebuild it against this host's sdk/chanhost.h",
             name, file, d->abi_major, d->abi_minor, d->abi_major, CHANHOST_ABI_MAJOR,
             CHANHOST_ABI_MINOR);
        return -1;
    }
    if (d->abi_minor > CHANHOST_ABI_MINOR) {
        errf(err, errlen,
             "plugin '%s' (%s): built for SDK %u.%u, this host speaks %u.%u "
             "(upgrade the host or rebuild the plugin against this SDK)",
             name, file, d->abi_major, d->abi_minor, CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < CH_PLUGIN_DESC_MIN) {
        errf(err, errlen,
             "plugin '%s' (%s): descriptor struct_size %u, smaller than any SDK "
             "%u.x descriptor (%zu bytes); build it with CHANHOST_PLUGIN_INIT",
             name, file, d->struct_size, CHANHOST_ABI_MAJOR, (size_t)CH_PLUGIN_DESC_MIN);
        return -1;
    }
    if (d->jansson_major != JANSSON_MAJOR_VERSION) {
        errf(err, errlen, "plugin '%s' (%s): built with jansson %u, the host uses jansson %d", name,
             file, d->jansson_major, JANSSON_MAJOR_VERSION);
        return -1;
    }
    /* a larger descriptor declares an older minor (CHANHOST_PLUGIN_INIT_MINOR):
     * its fields past ours are callbacks this host does not know */
    n = d->struct_size < sizeof *out ? d->struct_size : sizeof *out;
    memset(out, 0, sizeof *out);
    memcpy(out, d, n);
    if (!out->name || !out->version || !out->receive) {
        errf(err, errlen, "plugin '%s' (%s): descriptor lacks a mandatory field (%s)", name, file,
             !out->name      ? "name"
             : !out->version ? "version"
                             : "receive");
        return -1;
    }
    return 0;
}

/* The most endpoints one plugin may declare (more are ignored). */
#define CH_PLUGIN_MAX_ENDPOINTS 256

/* Free an array of n declarations and their strings (NULL is fine). */
static void decls_free(ch_endpoint_decl *v, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++) {
        free(v[i].method);
        free(v[i].pattern);
    }
    free(v);
}

/* Copy the endpoints d (borrowed) declares into p->endpoints, if d is of
 * this host's major and large enough to have them: the layout is then
 * ours, whatever its minor.  Thread-safe (no log).  Returns 0 or -1 out of
 * memory (err set). */
static int copy_endpoints(ch_plugin *p, const chanhost_plugin *d, char *err, size_t errlen)
{
    size_t n, i;

    if (d->abi_major != CHANHOST_ABI_MAJOR ||
        d->struct_size < offsetof(chanhost_plugin, n_endpoints) + sizeof d->n_endpoints ||
        !d->endpoints || d->n_endpoints == 0)
        return 0;
    n = d->n_endpoints < CH_PLUGIN_MAX_ENDPOINTS ? d->n_endpoints : CH_PLUGIN_MAX_ENDPOINTS;
    if (!(p->endpoints = calloc(n, sizeof *p->endpoints))) {
        errf(err, errlen, "plugin '%s': out of memory", p->name);
        return -1;
    }
    p->n_endpoints = n;
    for (i = 0; i < n; i++) {
        const chanhost_endpoint *e = &d->endpoints[i];
        ch_endpoint_decl *o = &p->endpoints[i];

        o->access = e->access;
        o->handler = e->handler;
        if ((e->method && !(o->method = strdup(e->method))) ||
            (e->pattern && !(o->pattern = strdup(e->pattern)))) {
            errf(err, errlen, "plugin '%s': out of memory", p->name);
            return -1;
        }
    }
    return 0;
}

/* dlopen the private copy, find and check the descriptor and keep what
 * this host knows of it in p->desc_copy.  Returns 0 or -1 with err set. */
static int open_library(ch_plugin *p, char *err, size_t errlen)
{
    char *copy = private_copy(p->file, p->name, err, errlen);
    const chanhost_plugin *sym;

    if (!copy)
        return -1;
    p->handle = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    unlink(copy); /* the mapping stays; nothing is left behind on disk */
    free(copy);
    if (!p->handle) {
        errf(err, errlen, "plugin '%s' (%s): dlopen failed: %s", p->name, p->file, dlerror());
        return -1;
    }
    sym = dlsym(p->handle, CHANHOST_DESCRIPTOR_SYMBOL);
    if (!sym) {
        errf(err, errlen, "plugin '%s' (%s): no symbol %s (is it a chanhost plugin?)", p->name,
             p->file, CHANHOST_DESCRIPTOR_SYMBOL);
        return -1;
    }
    if (copy_endpoints(p, sym, err, errlen) != 0 ||
        ch_plugin_check_descriptor(sym, p->name, p->file, &p->desc_copy, err, errlen) != 0)
        return -1;
    p->desc = &p->desc_copy;
    return 0;
}

/* Every plugin version that exists (loaded, or being loaded), newest
 * first: for /metrics and the development page.  Only the loop thread
 * links and unlinks (plugins are opened on the thread pool but linked
 * when started). */
static ch_plugin *live;

static void live_link(ch_plugin *p)
{
    p->live_next = live;
    p->live_prev = NULL;
    if (live)
        live->live_prev = p;
    live = p;
    p->linked = 1;
}

static void live_unlink(ch_plugin *p)
{
    if (!p->linked)
        return;
    if (p->live_prev)
        p->live_prev->live_next = p->live_next;
    else
        live = p->live_next;
    if (p->live_next)
        p->live_next->live_prev = p->live_prev;
    p->linked = 0;
}

const ch_plugin *ch_plugin_live(void) { return live; }

int ch_plugin_can_adopt(const ch_plugin *p) { return p->desc->adopt != NULL; }

int ch_plugin_adopt(ch_plugin *p, chanhost_conn *c, void *old_data)
{
    int rc = -1;

    if (p->desc->adopt)
        CALL_IN(p, rc = p->desc->adopt(c, p->state, old_data));
    return rc;
}

/* Free a plugin that never finished loading or whose last ref went. */
static void plugin_free(ch_plugin *p)
{
    live_unlink(p);
    decls_free(p->endpoints, p->n_endpoints);
    if (p->schema) {
        ch_store_schema_uninstall(p->schema);
        ch_store_schema_unref(p->schema);
    }
    if (p->handle)
        dlclose(p->handle);
    free(p->name);
    free(p->file);
    free(p);
}

/* The declarations of refused loads, one entry per plugin name (loop
 * thread only): ch_plugin_refused_endpoints. */
typedef struct refused {
    struct refused *next;
    char *name;
    ch_endpoint_decl *v;
    size_t n;
} refused;

static refused *refused_list;

/* Take p's declarations out of p (p keeps none) with their handlers
 * cleared, for a refusal: *v and *n (the caller's). */
static void take_decls(ch_plugin *p, ch_endpoint_decl **v, size_t *n)
{
    size_t i;

    *v = p->endpoints;
    *n = p->n_endpoints;
    for (i = 0; i < *n; i++)
        (*v)[i].handler = NULL;
    p->endpoints = NULL;
    p->n_endpoints = 0;
}

/* Forget the refused declarations of name. */
static void forget_refused(const char *name)
{
    refused **pp = &refused_list, *r;

    while ((r = *pp) && strcmp(r->name, name) != 0)
        pp = &r->next;
    if (!r)
        return;
    *pp = r->next;
    decls_free(r->v, r->n);
    free(r->name);
    free(r);
}

/* Remember v[0..n) (stolen) as the declarations of refused plugin name,
 * in place of earlier ones (loop thread). */
static void remember_refused(const char *name, ch_endpoint_decl *v, size_t n)
{
    refused *r;

    forget_refused(name);
    if (!v)
        return;
    if (!(r = calloc(1, sizeof *r)) || !(r->name = strdup(name))) {
        free(r);
        decls_free(v, n);
        return;
    }
    r->v = v;
    r->n = n;
    r->next = refused_list;
    refused_list = r;
}

const ch_endpoint_decl *ch_plugin_refused_endpoints(const char *name, size_t *n)
{
    const refused *r;

    for (r = refused_list; r; r = r->next)
        if (strcmp(r->name, name) == 0) {
            *n = r->n;
            return r->v;
        }
    *n = 0;
    return NULL;
}

void ch_plugin_refused_free(void)
{
    while (refused_list)
        forget_refused(refused_list->name);
}

/* Refuse p, which its descriptor was read from: its declared endpoints
 * answer 503 from now on (remember_refused); then free it. */
static void refuse(ch_plugin *p)
{
    ch_endpoint_decl *v;
    size_t n;

    take_decls(p, &v, &n);
    remember_refused(p->name, v, n);
    plugin_free(p);
}

/* The host's copy of the plugin's schema, if it declares one (plugins.h). */
static int copy_schema(ch_plugin *p, char *err, size_t errlen)
{
    char why[400];

    if (!p->desc->schema)
        return 0;
    p->schema = ch_store_schema_new(p->name, p->desc->schema, why, sizeof why);
    if (!p->schema)
        errf(err, errlen, "plugin '%s' (%s): schema: %s", p->name, p->file, why);
    return p->schema ? 0 : -1;
}

/*
 * The part of loading that touches the disk: stat, private copy, dlopen,
 * descriptor checks.  Thread-safe (it runs on the thread pool for reloads):
 * it logs nothing and reports into err.  Returns a plugin with refs = 1
 * that is not started yet, or NULL with the endpoints its descriptor
 * declared (if it could be read) in *refused_v / *refused_n (the
 * caller's: remember_refused on the loop, or decls_free).
 */
static ch_plugin *plugin_open(const char *dir, const char *name, uint32_t generation, char *err,
                              size_t errlen, ch_endpoint_decl **refused_v, size_t *refused_n)
{
    ch_plugin *p = calloc(1, sizeof *p);
    struct stat st;

    if (!p || !(p->name = strdup(name)) || asprintf(&p->file, "%s/%s.so", dir, name) < 0) {
        errf(err, errlen, "plugin '%s': out of memory", name);
        if (p)
            free(p->name);
        free(p);
        return NULL;
    }
    p->refs = 1;
    p->generation = generation;
    errno = 0;
    if (stat(p->file, &st) != 0 || !S_ISREG(st.st_mode)) {
        errf(err, errlen, "plugin '%s': %s: %s", name, p->file,
             errno ? strerror(errno) : "not a regular file");
        plugin_free(p);
        return NULL;
    }
    p->file_id = (ch_file_id){(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                              (uint64_t)st.st_mtim.tv_sec * 1000000000ull +
                                  (uint64_t)st.st_mtim.tv_nsec};
    if (open_library(p, err, errlen) != 0 || copy_schema(p, err, errlen) != 0) {
        take_decls(p, refused_v, refused_n);
        plugin_free(p);
        return NULL;
    }
    return p;
}

/* The part that runs plugin code: init, on the loop thread.  Returns 0,
 * or -1 with err set (p is then freed). */
static int plugin_start(ch_plugin *p, const json_t *settings, char *err, size_t errlen)
{
    json_t *empty = NULL;
    int rc;

    if (!settings)
        settings = empty = json_object();
    if (p->schema)
        ch_store_schema_install(p->schema); /* init may call its ops */
    current = p;
    rc = p->desc->init ? p->desc->init(host_api, settings, &p->state) : 0;
    if (rc != 0)
        ch_timers_release(p); /* what init made before failing */
    current = NULL;
    json_decref(empty);
    if (rc != 0) {
        errf(err, errlen, "plugin '%s' (%s): init failed with %d", p->name, p->file, rc);
        refuse(p);
        return -1;
    }
    forget_refused(p->name);
    p->loaded_at = (uint64_t)time(NULL);
    live_link(p);
    ch_log(CH_LOG_INFO, "plugin %s %s loaded from %s (generation %u)", p->desc->name,
           p->desc->version, p->file, p->generation);
    return 0;
}

/* A started plugin (or NULL) and the reason, for whoever waits on it. */
typedef void (*started_fn)(ch_plugin *p, const char *err, void *arg);

/* A plugin waiting for its migrations before init. */
typedef struct start_job {
    ch_plugin *p;
    json_t *settings; /* a copy, or NULL */
    started_fn done;
    void *arg;
} start_job;

/* The store applied (or refused) the job's migrations: start, or free. */
static void on_migrated(int status, const char *error, int version, int applied, void *arg)
{
    start_job *sj = arg;
    ch_plugin *p = sj->p;
    char err[600];

    if (status == 0 && applied)
        ch_log(CH_LOG_INFO, "plugin %s: its schema is now at version %d (applied %d)", p->name,
               version, applied);
    if (status != 0) {
        errf(err, sizeof err, "plugin '%s' %s (%s): %s", p->name, p->desc->version, p->file,
             error ? error : "migration failed");
        refuse(p);
        p = NULL;
    } else if (plugin_start(p, sj->settings, err, sizeof err) != 0) {
        p = NULL;
    }
    sj->done(p, p ? NULL : err, sj->arg);
    json_decref(sj->settings);
    free(sj);
}

/* Start an opened plugin: at once without a schema, else once the store
 * has applied its migrations.  done(p or NULL, reason, arg) runs exactly
 * once, maybe before this returns.  settings: borrowed (copied). */
static void begin_start(ch_plugin *p, const json_t *settings, started_fn done, void *arg)
{
    start_job *sj;
    char err[600];
    int rc;

    if (!p->schema) {
        rc = plugin_start(p, settings, err, sizeof err);
        done(rc == 0 ? p : NULL, rc == 0 ? NULL : err, arg);
        return;
    }
    if (!plugin_store) {
        errf(err, sizeof err,
             "plugin '%s' (%s): it declares store tables, and the config says "
             "`store none` (set `store sqlite:PATH` or `store postgresql://...`)",
             p->name, p->file);
        refuse(p);
        done(NULL, err, arg);
        return;
    }
    ch_log(CH_LOG_DEBUG, "plugin %s: migrating its schema before init", p->name);
    sj = calloc(1, sizeof *sj);
    if (sj)
        *sj = (start_job){p, settings ? json_deep_copy(settings) : NULL, done, arg};
    rc = sj ? ch_store_schema_migrate(plugin_store, p->schema, on_migrated, sj) : CH_STORE_EIO;
    if (rc != 0) {
        errf(err, sizeof err, "plugin '%s' (%s): the store refused its migrations (%d)", p->name,
             p->file, rc);
        if (sj)
            json_decref(sj->settings);
        free(sj);
        refuse(p);
        done(NULL, err, arg);
    }
}

/* What ch_plugin_load waits for. */
typedef struct sync_wait {
    int done;
    ch_plugin *p;
    char *err;
    size_t errlen;
} sync_wait;

static void on_sync_started(ch_plugin *p, const char *err, void *arg)
{
    sync_wait *w = arg;

    w->done = 1;
    w->p = p;
    if (err)
        errf(w->err, w->errlen, "%s", err);
}

ch_plugin *ch_plugin_load(const char *dir, const char *name, const json_t *settings,
                          uint32_t generation, char *err, size_t errlen)
{
    ch_endpoint_decl *v = NULL;
    size_t n = 0;
    ch_plugin *p = plugin_open(dir, name, generation, err, errlen, &v, &n);
    sync_wait w = {0, NULL, err, errlen};

    if (!p)
        remember_refused(name, v, n);
    if (!p)
        return NULL;
    begin_start(p, settings, on_sync_started, &w);
    while (!w.done && plugin_loop)
        uv_run(plugin_loop, UV_RUN_ONCE);
    return w.p;
}

/* Open a plugin for its schema alone, then close it again. */
ch_store_schema *ch_plugin_read_schema(const char *dir, const char *name, char *err, size_t errlen)
{
    ch_endpoint_decl *v = NULL;
    size_t n = 0;
    ch_plugin *p = plugin_open(dir, name, 0, err, errlen, &v, &n);
    ch_store_schema *sc = p ? p->schema : NULL;

    decls_free(v, n);
    if (p) {
        p->schema = NULL;
        plugin_free(p);
        err[0] = '\0';
    }
    return sc;
}

/* An asynchronous load: opened on the thread pool, started on the loop. */
typedef struct load_job {
    uv_work_t work;
    char *dir, *name;
    json_t *settings;
    uint32_t generation;
    ch_plugin *p;
    ch_endpoint_decl *refused_v; /* a refused descriptor's endpoints */
    size_t refused_n;
    char err[512];
    ch_plugin_loaded_fn done;
    void *arg;
} load_job;

static void load_work(uv_work_t *w)
{
    load_job *j = w->data;

    j->p = plugin_open(j->dir, j->name, j->generation, j->err, sizeof j->err, &j->refused_v,
                       &j->refused_n);
}

/* Started (or not): report, free the job. */
static void load_started(ch_plugin *p, const char *err, void *arg)
{
    load_job *j = arg;

    j->done(p, p ? NULL : err, j->arg);
    json_decref(j->settings);
    free(j->dir);
    free(j->name);
    free(j);
}

static void load_done(uv_work_t *w, int status)
{
    load_job *j = w->data;

    if (status != 0 && j->p) {
        plugin_free(j->p);
        j->p = NULL;
        errf(j->err, sizeof j->err, "plugin '%s': load cancelled", j->name);
    }
    if (!j->p && j->refused_v)
        remember_refused(j->name, j->refused_v, j->refused_n);
    if (!j->p)
        load_started(NULL, j->err, j);
    else
        begin_start(j->p, j->settings, load_started, j);
}

int ch_plugin_load_async(uv_loop_t *loop, const char *dir, const char *name, const json_t *settings,
                         uint32_t generation, ch_plugin_loaded_fn done, void *arg)
{
    load_job *j = calloc(1, sizeof *j);

    if (!j || !(j->dir = strdup(dir)) || !(j->name = strdup(name))) {
        if (j)
            free(j->dir);
        free(j);
        return -ENOMEM;
    }
    j->settings = settings ? json_deep_copy(settings) : NULL;
    j->generation = generation;
    j->done = done;
    j->arg = arg;
    j->work.data = j;
    if (uv_queue_work(loop, &j->work, load_work, load_done) != 0) {
        json_decref(j->settings);
        free(j->dir);
        free(j->name);
        free(j);
        return -EIO;
    }
    return 0;
}

int ch_plugin_file_changed(const ch_plugin *p, const ch_file_id *now)
{
    return memcmp(&p->file_id, now, sizeof *now) != 0;
}

void ch_plugin_ref(ch_plugin *p) { p->refs++; }

void ch_plugin_unref(ch_plugin *p)
{
    const ch_plugin *saved;
    size_t cancelled;

    if (!p || --p->refs > 0)
        return;
    saved = current;
    current = p;
    if (p->desc->fini)
        p->desc->fini(p->state);
    cancelled = ch_timers_release(p); /* after fini, which may have stopped some */
    current = saved;
    if (p->linked)
        ch_log(CH_LOG_INFO, "plugin %s %s unloaded (generation %u; %zu timer(s) cancelled)",
               p->desc->name, p->desc->version, p->generation, cancelled);
    plugin_free(p);
}

/* Without a connect callback every connection is accepted. */
int ch_plugin_connect(ch_plugin *p, chanhost_conn *c)
{
    int rc = CHANHOST_ACCEPT;

    if (p->desc->connect)
        CALL_IN(p, rc = p->desc->connect(c, p->state));
    return rc;
}

void ch_plugin_receive(ch_plugin *p, chanhost_conn *c, const char *data, size_t len, int binary)
{
    CALL_IN(p, p->desc->receive(c, p->state, data, len, binary));
}

int ch_plugin_has_group_message(const ch_plugin *p) { return p->desc->group_message != NULL; }

/* Nothing happens without the callback (callers test
 * ch_plugin_has_group_message to forward instead). */
void ch_plugin_group_message(ch_plugin *p, chanhost_conn *c, const char *type, const json_t *msg,
                             const chanhost_msg *m)
{
    if (p->desc->group_message)
        CALL_IN(p, p->desc->group_message(c, p->state, type, msg, m));
}

/* Nothing happens without the callback. */
void ch_plugin_disconnect(ch_plugin *p, chanhost_conn *c, int code)
{
    if (p->desc->disconnect)
        CALL_IN(p, p->desc->disconnect(c, p->state, code));
}

void ch_plugin_store_result(ch_plugin *p,
                            void (*cb)(chanhost_conn *c, int status, const json_t *result,
                                       const char *error, void *arg),
                            chanhost_conn *c, int status, const json_t *result, const char *error,
                            void *arg)
{
    CALL_IN(p, cb(c, status, result, error, arg));
}

void ch_plugin_http(ch_plugin *p, void (*handler)(chanhost_http *req, void *state),
                    chanhost_http *req)
{
    CALL_IN(p, handler(req, p->state));
}

void ch_plugin_exec_result(ch_plugin *p,
                           void (*cb)(int status, const json_t *result, const char *error,
                                      void *arg),
                           int status, const json_t *result, const char *error, void *arg)
{
    CALL_IN(p, cb(status, result, error, arg));
}
void ch_plugin_call(ch_plugin *p, void (*fn)(void *arg), void *arg) { CALL_IN(p, fn(arg)); }
