/*
 * manage.c -- the management commands (manage.h): the table of commands
 * and their dispatch, the store they open from the configuration (as the
 * host does), the private loop their store calls run on, and the small
 * commands, migrate and cleanup-empty-threads.  export and import are in
 * manage_dump.c; the plugins' tables in manage_plugins.c.
 *
 * The command line is not the server loop: each command runs its loop
 * until the callbacks it waits for have fired.  If the store makes no
 * progress for STALL_MS while it is not "ok" (PostgreSQL unreachable),
 * the command gives up instead of waiting forever as the host would.
 */
#include "manage.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "store.h"

#define WINDOW 256     /* calls in flight at most */
#define STALL_MS 60000 /* no progress while the store is down: give up */

typedef struct mg_call {
    ch_mg *m;
    ch_mg_fn fn;
    void *arg;
} mg_call;

/* ---- the store and its loop ---------------------------------------------- */

/* The directory part of the SQLite path + "chanhost.key" (manage.h). */
char *ch_default_key_file(const char *store)
{
    const char *path = store && strncmp(store, "sqlite:", 7) == 0 ? store + 7 : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    char *out = NULL;

    if (!path || strcmp(path, ":memory:") == 0)
        return NULL;
    if (asprintf(&out, "%.*s%schanhost.key", slash ? (int)(slash - path) : 0, path,
                 slash ? "/" : "") < 0)
        return NULL;
    return out;
}

/* Print "chanhost CMD: " and the message to m->err. */
void ch_mg_error(ch_mg *m, const char *fmt, ...)
{
    va_list ap;

    fprintf(m->err, "chanhost %s: ", m->cmd);
    va_start(ap, fmt);
    vfprintf(m->err, fmt, ap);
    va_end(ap);
    fputc('\n', m->err);
}

/* The config names a store: 0, or -1 after an error line. */
static int have_store(ch_mg *m, const ch_config *cfg)
{
    if (cfg->store && strcmp(cfg->store, "none") != 0)
        return 0;
    ch_mg_error(m, "no store configured (set `store sqlite:PATH` or `store postgresql://...`)");
    return -1;
}

/* Fill o from cfg; *key receives the defaulted key file (the caller
 * frees it; o->key_file points to it).  0, or -1 after an error line. */
static int store_opts(ch_mg *m, const ch_config *cfg, ch_store_opts *o, char **key)
{
    memset(o, 0, sizeof *o);
    *key = NULL;
    if (have_store(m, cfg) != 0)
        return -1;
    o->url = cfg->store;
    o->key_env = cfg->store_key_env;
    o->key_file = cfg->store_key_file;
    if (!o->key_file && !o->key_env)
        o->key_file = *key = ch_default_key_file(cfg->store);
    if (!o->key_file && !o->key_env) {
        ch_mg_error(m, "store %s: name the message keys with store_key_file or store_key_env",
                    cfg->store);
        return -1;
    }
    o->queue_max = (uint32_t)cfg->store_queue_max;
    o->batch_max = (uint32_t)cfg->store_batch_max;
    o->attachment_dir = cfg->attachment_dir;
    return 0;
}

/* For commands that work on what is there: a SQLite file (CH_MG_DB)
 * and the key file (CH_MG_KEYS) must exist already (opening would create
 * empty ones).  0 or -1 after an error line. */
static int need_existing(ch_mg *m, const ch_store_opts *o, int what)
{
    struct stat st;
    const char *db = strncmp(o->url, "sqlite:", 7) == 0 ? o->url + 7 : NULL;
    int env_set = o->key_env && getenv(o->key_env);

    if ((what & CH_MG_DB) && db && strcmp(db, ":memory:") != 0 && stat(db, &st) != 0) {
        ch_mg_error(m, "no database at %s", db);
        return -1;
    }
    if ((what & CH_MG_KEYS) && !env_set && o->key_file && stat(o->key_file, &st) != 0) {
        ch_mg_error(m, "no key file at %s (the messages cannot be opened without it)", o->key_file);
        return -1;
    }
    return 0;
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Open the store of cfg on m's new loop.  0, or -1 after an error line
 * (the loop is closed again). */
int ch_mg_open(ch_mg *m, const ch_config *cfg, int existing)
{
    ch_store_opts o;
    char *key, err[512];
    int rc = -1;

    if (store_opts(m, cfg, &o, &key) != 0 || need_existing(m, &o, existing) != 0) {
        free(key);
        return -1;
    }
    uv_loop_init(&m->loop);
    m->store = ch_store_open(&m->loop, &o, err, sizeof err);
    if (!m->store) {
        ch_mg_error(m, "store: %s", err);
        uv_loop_close(&m->loop);
    } else {
        uv_timer_init(&m->loop, &m->tick);
        uv_timer_start(&m->tick, on_tick, 1000, 1000);
        m->window = o.queue_max && o.queue_max < WINDOW ? o.queue_max : WINDOW;
        rc = 0;
    }
    free(key);
    return rc;
}

static void on_store_closed(void *arg) { *(int *)arg = 1; }

/* Close the store (what is queued runs first; the engine bounds it). */
static void mg_close_store(ch_mg *m)
{
    int closed = 0;

    if (!m->store)
        return;
    ch_store_close(m->store, on_store_closed, &closed);
    while (!closed)
        uv_run(&m->loop, UV_RUN_ONCE);
    m->store = NULL;
}

/* Close the store, then the loop. */
void ch_mg_close(ch_mg *m)
{
    mg_close_store(m);
    uv_close((uv_handle_t *)&m->tick, NULL);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    uv_loop_close(&m->loop);
}

/* Nothing came back for STALL_MS: while the store is "ok" keep waiting;
 * otherwise give up, closing the store (every callback then runs). */
static void check_stall(ch_mg *m)
{
    json_t *st = ch_store_status(m->store);
    const char *state = json_string_value(json_object_get(st, "state"));

    if (state && strcmp(state, "ok") == 0) {
        m->progress_ms = uv_now(&m->loop);
    } else {
        ch_mg_error(m, "the store made no progress for %d s (%s); giving up", STALL_MS / 1000,
                    state ? state : "?");
        m->stalled = 1;
        mg_close_store(m);
    }
    json_decref(st);
}

/* Run the loop until at most upto calls are pending.  0, or -1 when the
 * command gave up on a stalled store. */
int ch_mg_wait(ch_mg *m, size_t upto)
{
    uv_update_time(&m->loop);
    m->progress_ms = uv_now(&m->loop);
    while (m->pending > upto && !m->stalled) {
        uv_run(&m->loop, UV_RUN_ONCE);
        if (m->store && uv_now(&m->loop) - m->progress_ms > STALL_MS)
            check_stall(m);
    }
    return m->stalled ? -1 : 0;
}

/* A store callback: count it as progress, hand it to the command's
 * callback, free the call record. */
static void on_call(int status, json_t *result, const char *error, void *arg)
{
    mg_call *c = arg;

    c->m->pending--;
    c->m->progress_ms = uv_now(&c->m->loop);
    c->fn(c->arg, status, result, error);
    free(c);
}

/* Queue op (params stolen) with fn(arg, ...) as its callback, after
 * waiting for room in the window.  0, or -1 after fn was called with the
 * refusal (its reason: the parameter check's, for bad parameters). */
int ch_mg_submit(ch_mg *m, const char *op, json_t *params, ch_mg_fn fn, void *arg)
{
    mg_call *c = malloc(sizeof *c);
    char why[200] = "out of memory";
    int rc = CH_STORE_EIO;

    if (c && params && m->store && ch_mg_wait(m, m->window - 1) == 0) {
        *c = (mg_call){m, fn, arg};
        rc = ch_store_call(m->store, op, json_incref(params), on_call, c);
        if (rc != 0)
            snprintf(why, sizeof why, "the store refused the call (%d)", rc);
        if (rc == CH_STORE_EINVAL) /* the reason, as the check gives it */
            ch_store_check_params(op, params, why, sizeof why);
    } else if (m->stalled) {
        snprintf(why, sizeof why, "the store is unavailable");
    }
    json_decref(params);
    if (rc == 0) {
        m->pending++;
        return 0;
    }
    free(c);
    fn(arg, rc, NULL, why);
    return -1;
}

/* What a synchronous call got. */
typedef struct mg_sync {
    int status;
    json_t *result;
    char error[200];
} mg_sync;

/* Keep what a synchronous call got (the result as a new reference). */
static void on_sync(void *arg, int status, json_t *result, const char *error)
{
    mg_sync *s = arg;

    s->status = status;
    s->result = json_incref(result);
    snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

/* Call op (params stolen) and wait for it: its result (new reference),
 * or NULL after printing "chanhost CMD: OP: reason". */
json_t *ch_mg_call(ch_mg *m, const char *op, json_t *params)
{
    mg_sync s = {0, NULL, ""};

    if (ch_mg_submit(m, op, params, on_sync, &s) == 0)
        ch_mg_wait(m, 0);
    if (s.status == 0 && s.result)
        return s.result;
    json_decref(s.result);
    ch_mg_error(m, "%s: %s", op, s.error[0] ? s.error : "failed");
    return NULL;
}

/* ---- migrate and cleanup-empty-threads ----------------------------------- */

/* `migrate`: the engine applies the migrations (blocking) and prints
 * the schema version; no keys are needed.  Then the migrations of the
 * plugins the routes name that declare tables, through the store (which
 * then needs its keys), one line each. */
static int cmd_migrate(ch_mg *m, const ch_config *cfg, int argc, char **argv)
{
    ch_store_opts o = {0};
    int rc;

    (void)argv;
    if (argc > 1) {
        ch_mg_error(m, "takes no arguments (see chanhost --help)");
        return 2;
    }
    if (have_store(m, cfg) != 0)
        return 1;
    o.url = cfg->store;
    fflush(m->out);
    if (ch_store_migrate_cli(&o) != 0 || ch_mg_schemas_load(m, cfg) != 0)
        return 1;
    if (m->n_schemas == 0)
        return 0;
    if (ch_mg_open(m, cfg, 0) != 0) /* the plugins' migrations run as store calls */
        return 1;
    rc = ch_mg_schemas_migrate(m, 1) == 0 ? 0 : 1;
    ch_mg_close(m);
    return rc;
}

/* Print "LABEL N room(s): id id ..." for cleanup's result. */
static void print_rooms(ch_mg *m, const char *label, const char *kind, const json_t *ids)
{
    size_t i;
    json_t *id;

    fprintf(m->out, "%s %zu empty %s room(s)%s", label, json_array_size(ids), kind,
            json_array_size(ids) ? ":" : "");
    json_array_foreach(ids, i, id) fprintf(m->out, " %lld", (long long)json_integer_value(id));
    fputc('\n', m->out);
}

/* `cleanup-empty-threads [--dry-run] [--kind KIND]` (seed 000). */
static int cmd_cleanup(ch_mg *m, const ch_config *cfg, int argc, char **argv)
{
    const char *kind = "thread";
    int dry = 0, i, ok;
    json_t *r;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry = 1;
        } else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            kind = argv[++i];
        } else {
            ch_mg_error(m, "unknown argument %s (see chanhost --help)", argv[i]);
            return 2;
        }
    }
    if (ch_mg_open(m, cfg, CH_MG_DB) != 0)
        return 1;
    r = ch_mg_call(m, "cleanup.empty_threads",
                   json_pack("{s:b, s:s}", "dry_run", dry, "kind", kind));
    ok = r != NULL;
    if (ok)
        print_rooms(m, dry ? "would delete" : "deleted", kind, json_object_get(r, "rooms"));
    json_decref(r);
    ch_mg_close(m);
    return ok ? 0 : 1;
}

/* ---- the commands -------------------------------------------------------- */

/* The commands: name, entry point, and their lines of --help. */
static const struct command {
    const char *name;
    int (*run)(ch_mg *m, const ch_config *cfg, int argc, char **argv);
    const char *usage;
} commands[] = {
    {"migrate", cmd_migrate,
     "migrate                 apply the store's schema migrations (and\n"
     "                          those of the routes' plugins) and print\n"
     "                          the schema versions"},
    {"cleanup-empty-threads", cmd_cleanup,
     "cleanup-empty-threads [--dry-run] [--kind KIND]\n"
     "                          delete the rooms of kind KIND (default thread)\n"
     "                          that have no message; --dry-run only lists them"},
    {"export", ch_mg_export,
     "export [--output FILE]  write users, rooms and messages (decrypted)\n"
     "                          as JSON lines (default: to standard output)"},
    {"import", ch_mg_import,
     "import FILE             read them back (rows whose ids exist are\n"
     "                          skipped)"},
};

/* A linear search of the table above. */
int ch_manage_is_command(const char *word)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, word) == 0)
            return 1;
    return 0;
}

void ch_manage_usage(FILE *f)
{
    fprintf(f, "Commands (options before the command are the host's; see docs/store.md):\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].usage);
}

/* Find the command, answer its --help, or run it with a fresh context. */
int ch_manage_run(const ch_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    ch_mg m;
    int rc;

    for (size_t i = 0; argc > 0 && i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, argv[0]) != 0)
            continue;
        memset(&m, 0, sizeof m);
        m.cmd = commands[i].name;
        m.out = out;
        m.err = err;
        if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            fprintf(out, "usage: chanhost [options] %s\n", commands[i].usage);
            return 0;
        }
        rc = commands[i].run(&m, cfg, argc, argv);
        ch_mg_schemas_free(&m);
        return rc;
    }
    fprintf(err, "chanhost: unknown command %s (see --help)\n", argc > 0 ? argv[0] : "(none)");
    return 2;
}
