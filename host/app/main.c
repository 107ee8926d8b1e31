/*
 * main.c -- the chanhost command line: options, configuration, --check,
 * the management commands (manage.h), and running the loop until a
 * graceful stop.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_host.h"
#include "chanhost.h"
#include "config.h"
#include "jalloc.h"
#include "layer.h"
#include "log.h"
#include "reload.h"
#include "manage.h"
#include "master.h"
#include "plugins.h"
#include "redis_url.h"
#include "tls.h"

#define DEFAULT_CONFIG "etc/chanhost.conf"

/* The install layout (cmake/install.cmake): the installed plugin folder
 * and config file, each relative to the installed binary's folder or
 * absolute. */
#if !defined(CHANHOST_INSTALL_PLUGIN_DIR) || !defined(CHANHOST_INSTALL_CONFIG)
#error "CHANHOST_INSTALL_PLUGIN_DIR and CHANHOST_INSTALL_CONFIG come from cmake/install.cmake"
#endif

typedef struct options {
    const char *config;         /* --config FILE */
    const char *default_config; /* the config read when none is given */
    int config_given;
    int check;
    int dev;          /* --dev: watch plugins and config */
    const char *bind; /* -b */
    const char *port; /* -p */
    int verbosity;    /* -v, -1 if not given */
    ch_diag diag;
    char **dir_names, **dir_values;
    size_t n_dirs;
    int cmd_argc; /* a management command and its arguments */
    char **cmd_argv;
    int argc; /* the whole command line, for a master's workers */
    char **argv;
} options;

/* Print the help text to f; default_config (borrowed) is named in it. */
static void usage(FILE *f, const char *default_config)
{
    fprintf(f,
            "usage: chanhost [options] [COMMAND [ARGS]]\n"
            "\n"
            "  --config FILE      configuration file (default %s;\n"
            "                     built-in defaults if that file does not exist)\n"
            "  -b, --bind ADDR    listen address (overrides `listen`)\n"
            "  -p, --port PORT    listen port (overrides `listen`; 0 picks a free one)\n"
            "  -v N, -vN          verbosity 0..3 (0 warnings, 1 info, 2 debug, 3 trace)\n"
            "  --dev              development mode: reload plugins when their .so files\n"
            "                     change and the config when its file changes; list\n"
            "                     loaded plugins at GET /dev/plugins\n"
            "  --check            validate the config, load every plugin, report each\n"
            "                     problem, and exit (non-zero if anything is wrong)\n"
            "  --<directive> VAL  any config directive, overriding the file, e.g.\n"
            "                     --route '/ws/echo/ echo' --max_message_size 64kb\n"
            "  --version          print the version and the SDK ABI it speaks\n"
            "  -h, --help         this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT close every WebSocket with 1001 and exit 0;\n"
            "SIGHUP reloads the config and plugins.  With `workers N` (default: one\n"
            "per core) a master process runs N workers and passes signals on.\n"
            "\n",
            default_config);
    ch_manage_usage(f);
}

/* Remember a --directive VALUE pair for after the file is read. */
static int keep_directive(options *o, const char *name, const char *value)
{
    char **n = realloc(o->dir_names, (o->n_dirs + 1) * sizeof *n);
    char **v;

    if (!n)
        return -1;
    o->dir_names = n;
    v = realloc(o->dir_values, (o->n_dirs + 1) * sizeof *v);
    if (!v)
        return -1;
    o->dir_values = v;
    o->dir_names[o->n_dirs] = (char *)name;
    o->dir_values[o->n_dirs++] = (char *)value;
    return 0;
}

/* Parse argv into *o.  Returns 0, 1 (exit 0: help/version), -1 (usage). */
static int parse_args(options *o, int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

        if (a[0] != '-' && ch_manage_is_command(a)) {
            o->cmd_argc = argc - i; /* the rest is the command's */
            o->cmd_argv = argv + i;
            return 0;
        }
        if (a[0] != '-') {
            fprintf(stderr, "chanhost: unknown command %s (see --help)\n", a);
            return -1;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, o->default_config);
            return 1;
        } else if (!strcmp(a, "--version")) {
            printf("chanhost %s (SDK ABI %d.%d)\n", CHANHOST_VERSION, CHANHOST_ABI_MAJOR,
                   CHANHOST_ABI_MINOR);
            return 1;
        } else if (!strcmp(a, "--check")) {
            o->check = 1;
        } else if (!strcmp(a, "--dev")) {
            o->dev = 1;
        } else if (!strncmp(a, "-v", 2) && a[2] && !a[3] && a[2] >= '0' && a[2] <= '3') {
            o->verbosity = a[2] - '0';
        } else if (!next) {
            fprintf(stderr, "chanhost: %s needs a value (see --help)\n", a);
            return -1;
        } else if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
            o->config = argv[++i];
            o->config_given = 1;
        } else if (!strcmp(a, "-b") || !strcmp(a, "--bind")) {
            o->bind = argv[++i];
        } else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
            o->port = argv[++i];
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbosity")) {
            if (strlen(next) != 1 || next[0] < '0' || next[0] > '3') {
                fprintf(stderr, "chanhost: %s takes 0, 1, 2 or 3\n", a);
                return -1;
            }
            o->verbosity = argv[++i][0] - '0';
        } else if (!strncmp(a, "--", 2) && ch_config_is_directive(a + 2)) {
            if (keep_directive(o, a + 2, argv[++i]) != 0)
                return -1;
        } else {
            fprintf(stderr, "chanhost: unknown option %s (see --help)\n", a);
            return -1;
        }
    }
    return 0;
}

/* The directory of this executable: a new string (caller frees), or NULL
 * when /proc/self/exe cannot be read or memory runs out. */
static char *exe_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    return strdup(dirname(exe));
}

/* path (borrowed) resolved against dir (borrowed) unless absolute, and
 * made canonical when it exists: a new string (caller frees), or NULL. */
static char *resolve_from(const char *dir, const char *path)
{
    char *joined = NULL, *real;

    if (path[0] == '/')
        joined = strdup(path);
    else if (asprintf(&joined, "%s/%s", dir, path) < 0)
        return NULL;
    if (joined && (real = realpath(joined, NULL)) != NULL) {
        free(joined);
        return real;
    }
    return joined;
}

/* Where the install layout puts path (CHANHOST_INSTALL_*, borrowed) for
 * this binary: a new string (caller frees).  NULL when this binary does
 * not run from an install -- the installed plugin folder is not where the
 * layout puts it, as in a build tree -- or memory runs out. */
static char *installed_path(const char *path)
{
    char *dir = exe_dir(), *plugins, *out = NULL;
    struct stat st;

    if (!dir)
        return NULL;
    plugins = resolve_from(dir, CHANHOST_INSTALL_PLUGIN_DIR);
    if (plugins && stat(plugins, &st) == 0 && S_ISDIR(st.st_mode))
        out = resolve_from(dir, path);
    free(plugins);
    free(dir);
    return out;
}

/* The plugin folder when the config names none: the installed one for an
 * installed binary, else plugins/ next to this executable (where a build
 * puts them).  A new string (caller frees), or NULL if out of memory. */
static char *default_plugin_dir(void)
{
    char *dir, *out = installed_path(CHANHOST_INSTALL_PLUGIN_DIR);

    if (out)
        return out;
    if (!(dir = exe_dir()))
        return strdup("plugins");
    if (asprintf(&out, "%s/plugins", dir) < 0)
        out = NULL;
    free(dir);
    return out;
}

/* The config file read when --config is not given: the installed one for
 * an installed binary, else DEFAULT_CONFIG (relative to the current
 * directory).  A new string (caller frees), or NULL if out of memory. */
static char *default_config_path(void)
{
    char *out = installed_path(CHANHOST_INSTALL_CONFIG);

    return out ? out : strdup(DEFAULT_CONFIG);
}

/* The routes served when no config file exists at all. */
static void builtin_routes(ch_config *cfg, ch_diag *diag)
{
    ch_config_apply(cfg, "route", "/ws/echo/ echo", "(built-in)", diag);
    ch_config_apply(cfg, "route", "/ws/broadcast/<int:room_id>/ broadcast", "(built-in)", diag);
}

/* TLS: a TLS listener needs both files, and the context is made from
 * them here, at start and on each reload (off the loop then), so a bad
 * file is a config problem naming its line and a reload with one keeps
 * the running config and certificate. */
static void assemble_tls(ch_config *cfg, ch_diag *diag)
{
    const char *cert = cfg->tls_certificate, *key = cfg->tls_certificate_key;

    if (!cert && !key) {
        if (cfg->tls_listen_host)
            ch_diag_add(diag, "%s: listen ... tls needs tls_certificate and tls_certificate_key",
                        cfg->tls_listen_where);
        return;
    }
    if (!cert || !key) {
        ch_diag_add(diag, "%s: %s needs %s too",
                    cert ? cfg->tls_certificate_where : cfg->tls_certificate_key_where,
                    cert ? "tls_certificate" : "tls_certificate_key",
                    cert ? "tls_certificate_key" : "tls_certificate");
        return;
    }
    cfg->tls_ctx = ch_tls_ctx_new(cert, cfg->tls_certificate_where, key,
                                  cfg->tls_certificate_key_where, diag);
    cfg->tls_ctx_free = ch_tls_ctx_free;
}

/* Defaults, then the file, then the command line, into cfg; problems go
 * to diag.  Also the config builder of reloads (reload.h): it runs on the
 * thread pool then, so it only reads files and the options. */
static int assemble_config(options *o, ch_config *cfg, ch_diag *diag)
{
    struct stat st;
    size_t i;
    char where[128];

    if (ch_config_init(cfg) != 0)
        return 1;
    if (o->config_given || stat(o->config, &st) == 0)
        ch_config_load_file(cfg, o->config, diag);
    else
        builtin_routes(cfg, diag);
    for (i = 0; i < o->n_dirs; i++) {
        snprintf(where, sizeof where, "--%s", o->dir_names[i]);
        ch_config_apply(cfg, o->dir_names[i], o->dir_values[i], where, diag);
    }
    if (o->bind) {
        free(cfg->listen_host);
        cfg->listen_host = strdup(o->bind[0] == '[' ? o->bind + 1 : o->bind);
        if (cfg->listen_host && strchr(cfg->listen_host, ']'))
            *strchr(cfg->listen_host, ']') = '\0';
    }
    if (o->port) {
        char *end;
        long p = strtol(o->port, &end, 10);

        if (*end || p < 0 || p > 65535)
            ch_diag_add(diag, "-p: '%s' is not a port number (0-65535)", o->port);
        else
            cfg->listen_port = (int)p;
    }
    if (o->verbosity >= 0)
        cfg->verbosity = o->verbosity;
    if (!cfg->plugin_dir)
        cfg->plugin_dir = default_plugin_dir();
    assemble_tls(cfg, diag);
    return (int)diag->n;
}

static int rebuild_config(void *arg, ch_config *cfg, ch_diag *diag)
{
    return assemble_config(arg, cfg, diag) ? -1 : 0;
}

static int build_config(options *o, ch_config *cfg) { return assemble_config(o, cfg, &o->diag); }

/* Let the process use every file descriptor it may (one per client). */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* --check: a Redis channel layer must be reachable (blocking is fine
 * here: the loop is not running).  Returns the number of problems. */
static int check_redis(const ch_config *cfg)
{
    char msg[512];

    if (!cfg->layer || (!ch_rl_url_kind(cfg->layer) && !ch_cr_url_kind(cfg->layer)))
        return 0;
    if (ch_layer_redis_probe(cfg->layer, msg, sizeof msg) == 0) {
        printf("%s\n", msg);
        return 0;
    }
    fprintf(stderr, "channel layer: %s\n", msg);
    return 1;
}

/* --check: config problems, then plugins, then the static directory. */
static int run_check(ch_config *cfg, options *o)
{
    ch_app app;
    uv_loop_t loop;
    struct stat st;
    int problems = (int)o->diag.n, failed;
    size_t i;

    for (i = 0; i < o->diag.n; i++)
        fprintf(stderr, "%s\n", o->diag.lines[i]);
    if (problems)
        return 1;
    if (cfg->static_dir && (stat(cfg->static_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "static_dir %s: not a directory\n", cfg->static_dir);
        problems++;
    }
    problems += check_redis(cfg);
    uv_loop_init(&loop);
    if (ch_app_init(&app, &loop, cfg) != 0 || ch_app_load(&app) != 0)
        problems++;
    failed = 0;
    for (i = 0; i < app.routes.n; i++)
        if (!app.routes.routes[i]->plugin)
            failed++;
    if (failed == 0 && problems == 0)
        printf("configuration OK: %zu route(s), %zu plugin(s) loaded from %s\n", app.routes.n,
               app.n_plugins, app.cfg.plugin_dir);
    ch_app_stop(&app);
    uv_run(&loop, UV_RUN_DEFAULT);
    ch_app_free(&app);
    uv_loop_close(&loop);
    return problems || failed ? 1 : 0;
}

/* A management command: the config must be sound; the exit status. */
static int run_command(ch_config *cfg, options *o, int problems)
{
    size_t i;

    if (o->check) {
        fprintf(stderr, "chanhost: --check does not go with %s (see --help)\n", o->cmd_argv[0]);
        return 2;
    }
    for (i = 0; i < o->diag.n; i++)
        fprintf(stderr, "%s\n", o->diag.lines[i]);
    if (problems) {
        fprintf(stderr, "chanhost %s: configuration has %d problem(s)\n", o->cmd_argv[0], problems);
        return 1;
    }
    ch_manage_set_schema_reader(ch_plugin_read_schema); /* plugins' tables (SDK 1.2) */
    return ch_manage_run(cfg, o->cmd_argc, o->cmd_argv, stdout, stderr);
}

/* A worker under a master (CH_WORKER_ENV set): its number into *worker,
 * its log tag, and its link to the master (returned; -1 for a lone
 * process).  The variable is removed, so that programs a plugin runs are
 * not workers. */
static int worker_link(int *worker)
{
    static char tag[32];
    const char *w = getenv(CH_WORKER_ENV);

    if (!w)
        return -1;
    *worker = atoi(w);
    snprintf(tag, sizeof tag, "[worker %d] ", *worker);
    ch_log_set_tag(tag);
    unsetenv(CH_WORKER_ENV);
    unsetenv("NOTIFY_SOCKET"); /* the master speaks to the service manager (notify.h) */
    return CH_WORKER_LINK_FD;
}

static int run(ch_config *cfg, options *o)
{
    ch_app app;
    uv_loop_t loop;
    int rc, worker = 0, link_fd = worker_link(&worker);

    if (link_fd < 0 && ch_master_workers(cfg) > 1)
        return ch_master_run(cfg, o->argc, o->argv);
    uv_loop_init(&loop);
    rc = ch_app_init_worker(&app, &loop, cfg, link_fd, worker);
    if (rc == 0)
        rc = ch_app_listen(&app); /* first, so a busy port costs one line */
    if (rc == 0)
        rc = ch_app_load(&app);
    if (rc == 0)
        rc = ch_reload_init(&app, rebuild_config, o, o->dev);
    if (rc != 0) {
        ch_app_stop(&app);
        uv_run(&loop, UV_RUN_DEFAULT);
        ch_app_free(&app);
        uv_loop_close(&loop);
        return 1;
    }
    /* Logged once plugins are loaded: from here on the host serves. */
    ch_app_ready(&app);
    uv_run(&loop, UV_RUN_DEFAULT);
    ch_log(CH_LOG_INFO, "stopped");
    ch_app_free(&app);
    uv_loop_close(&loop);
    return 0;
}

/*
 * Fixed malloc thresholds (glibc): buffers of 256 KiB and more come from
 * mmap and go back to the system when freed (a fixed threshold stops glibc
 * from raising it after each large free, which would keep later large
 * buffers on the heap), and free memory at the top of the heap past 1 MiB
 * is returned at once.  conn.c trims the rest after large queues.
 */
static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
#endif
}

/*
 * jemalloc's options, read by jemalloc when it starts (the binary is
 * linked with it: CMakeLists.txt; on glibc an unused string; MALLOC_CONF
 * in the environment overrides them).  Pages freed and still mapped go
 * back to the system about a second later (jemalloc's default is ten,
 * through a second "muzzy" stage), by jemalloc's background thread: without
 * it pages are purged only when the process allocates, so an idle host
 * kept the pages of its last burst of handshakes, 150-250 B of RSS per
 * idle chat connection at 10,000 (docs/performance.md, part 11).
 */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

int main(int argc, char **argv)
{
    char *default_config = default_config_path();
    options o = {.verbosity = -1};
    ch_config cfg;
    int rc, problems;
    size_t i;

    o.default_config = o.config = default_config ? default_config : DEFAULT_CONFIG;
    o.argc = argc;
    o.argv = argv;
    rc = parse_args(&o, argc, argv);
    if (rc != 0) {
        free(o.dir_names);
        free(o.dir_values);
        free(default_config);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tune_malloc();
    ch_jalloc_install();
    raise_nofile();
    problems = build_config(&o, &cfg);
    /* commands log warnings and errors only, unless -v says otherwise */
    ch_log_set_verbosity(o.cmd_argv && o.verbosity < 0 ? 0 : cfg.verbosity);
    ch_log_set_format(cfg.log_format);
    if (o.cmd_argv) {
        rc = run_command(&cfg, &o, problems);
    } else if (o.check) {
        rc = run_check(&cfg, &o);
    } else if (problems) {
        for (i = 0; i < o.diag.n; i++)
            ch_log(CH_LOG_ERROR, "%s", o.diag.lines[i]);
        ch_log(CH_LOG_ERROR, "configuration has %d problem(s); not starting", problems);
        rc = 1;
    } else {
        rc = run(&cfg, &o);
    }
    ch_config_free(&cfg);
    ch_diag_free(&o.diag);
    free(o.dir_names);
    free(o.dir_values);
    free(default_config);
    return rc;
}
