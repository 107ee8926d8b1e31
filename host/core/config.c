/*
 * config.c -- owns the host's configuration: the defaults and the one
 * table-driven directive parser shared by the config file and the command
 * line (the tokenizer, the number and size/duration parsing and the
 * diagnostics list are in config_syntax.c).  See config.h for the contract and etc/chanhost.conf for the
 * directives as a user sees them.
 */
#include "config.h"
#include "redis_url.h"

#include "router.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE ((size_t)64 * 1024)

static int is_blank(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* --- defaults -------------------------------------------------------- */
/* Fill cfg with the defaults of config.h (plugin_dir and static_dir stay
 * NULL: the caller decides).  The caller frees it with ch_config_free. */
int ch_config_init(ch_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen_host = strdup("127.0.0.1");
    cfg->listen_port = 8000;
    cfg->layer = strdup("memory");
    cfg->store = strdup("none");
    cfg->plugin_settings = json_object();
    cfg->max_message_size = 1ull << 20;
    cfg->max_outbound_bytes = 4ull << 20;
    cfg->outbound_pause_bytes = 1ull << 20;
    cfg->max_request_line = 8ull << 10;
    cfg->max_header_bytes = 16ull << 10;
    cfg->max_headers = 100;
    cfg->max_body_size = 1ull << 20;
    cfg->attachment_max_size = 10ull << 20;
    cfg->attachment_sweep_interval = 600000;
    cfg->max_connections_per_user = 100;
    cfg->handshake_timeout = 5000;
    cfg->keepalive_timeout = 75000;
    cfg->ping_interval = 20000;
    cfg->ping_timeout = 30000;
    cfg->shutdown_timeout = 10000;
    cfg->store_commit_delay = 70;
    cfg->store_connections = 2;
    cfg->group_expiry = 86400ull * 1000;
    cfg->plugin_http_timeout = 30000;
    cfg->send_timeout = 30000;
    cfg->presence_interval = 1000;
    cfg->presence_heartbeat = 5000;
    cfg->presence_expiry = 15000;
    cfg->auth_token_ttl = 86400ull * 1000;
    cfg->auth_pbkdf2_iterations = 260000;
    cfg->auth_login_failures = 5;
    cfg->auth_login_ip_failures = 20;
    cfg->auth_login_delay = 1000;
    cfg->auth_login_max_delay = 15 * 60 * 1000;
    cfg->auth_login_table = 10000;
    cfg->auth_hash_threads = 2;
    cfg->auth_hash_queue = 64;
    cfg->django_session_age = 14ull * 86400 * 1000;
    cfg->verbosity = 1;
    if (!cfg->listen_host || !cfg->layer || !cfg->store || !cfg->plugin_settings) {
        ch_config_free(cfg);
        return -ENOMEM;
    }
    return 0;
}

void ch_config_free(ch_config *cfg)
{
    size_t i;

    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->tls_listen_host);
    free(cfg->tls_listen_where);
    free(cfg->tls_certificate);
    free(cfg->tls_certificate_where);
    free(cfg->tls_certificate_key);
    free(cfg->tls_certificate_key_where);
    if (cfg->tls_ctx && cfg->tls_ctx_free)
        cfg->tls_ctx_free(cfg->tls_ctx);
    free(cfg->plugin_dir);
    free(cfg->static_dir);
    free(cfg->attachment_types);
    free(cfg->attachment_dir);
    for (i = 0; i < cfg->n_allowed_origins; i++)
        free(cfg->allowed_origins[i]);
    free(cfg->allowed_origins);
    free(cfg->trusted_proxies);
    for (i = 0; i < cfg->n_roles; i++)
        free(cfg->roles[i]);
    free(cfg->roles);
    free(cfg->layer);
    free(cfg->store);
    free(cfg->store_key_file);
    free(cfg->store_key_env);
    free(cfg->auth_secret_file);
    free(cfg->auth_secret_env);
    free(cfg->auth_service_token_file);
    free(cfg->auth_service_token_env);
    free(cfg->django_database);
    free(cfg->django_secret_key_file);
    free(cfg->django_secret_key_env);
    free(cfg->django_jwt_key_file);
    free(cfg->django_jwt_key_env);
    free(cfg->django_session_engine);
    free(cfg->django_session_cookie);
    for (i = 0; i < cfg->n_routes; i++) {
        free(cfg->routes[i].pattern);
        free(cfg->routes[i].plugin);
        free(cfg->routes[i].where);
    }
    free(cfg->routes);
    json_decref(cfg->plugin_settings);
    memset(cfg, 0, sizeof *cfg);
}

/* --- directive parsing ----------------------------------------------- */
/* What one directive is being parsed with. */
typedef struct pctx {
    ch_config *cfg;
    ch_diag *diag;
    const char *prefix; /* "FILE:LINE" or "--route" */
    const char *base;   /* absolute directory for relative paths */
    const struct directive *d;
} pctx;

typedef int (*handler)(pctx *c, char **args, int n);

enum kind { K_SIZE, K_DURATION, K_BOOL, K_COUNT, K_LEVEL, K_PATH, K_WORD, K_FUNC };

typedef struct directive {
    const char *name;
    int min_args, max_args; /* max_args -1: unlimited */
    enum kind kind;
    size_t off;        /* field of ch_config, for all but K_FUNC */
    handler fn;        /* K_FUNC */
    const char *usage; /* the arguments, for messages */
} directive;

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Add "PREFIX: NAME: msg" to d, or "PREFIX: msg" when name is NULL or the
 * prefix is "--NAME" already. */
static void diag_named(ch_diag *d, const char *prefix, const char *name, const char *msg)
{
    if (!name || (has_prefix(prefix, "--") && strcmp(prefix + 2, name) == 0))
        ch_diag_add(d, "%s: %s", prefix, msg);
    else
        ch_diag_add(d, "%s: %s: %s", prefix, name, msg);
}

/* Report a problem with the directive being parsed.  Always returns -1 so
 * handlers can `return report(...)`. */
static int report(pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int report(pctx *c, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    diag_named(c->diag, c->prefix, c->d->name, msg ? msg : "out of memory");
    free(msg);
    return -1;
}

/* Replace the string *field by s (malloc'd, now owned by *field; NULL
 * means out of memory).  Returns 0 or -1 (reported). */
static int take_string(pctx *c, char **field, char *s)
{
    if (!s)
        return report(c, "out of memory");
    free(*field);
    *field = s;
    return 0;
}

/* What a value of each kind must look like, for messages. */
static const char *const kind_what[] = {
    [K_SIZE] = "a size (use 512, 64kb, 1mb)",
    [K_DURATION] = "a duration (use 500ms, 5s, 2m, 1h)",
    [K_BOOL] = "yes or no",
    [K_COUNT] = "a non-negative integer",
    [K_LEVEL] = "a level 0..3",
};

/* Parse v into the field the table names, by its kind.  Returns 0 or -1
 * (reported; the field is then unchanged). */
static int set_field(pctx *c, const char *v)
{
    void *field = (char *)c->cfg + c->d->off;
    enum kind k = c->d->kind;
    uint64_t n = 0;
    int ok;

    if (k == K_PATH)
        return v[0] ? take_string(c, field, ch_config_resolve(c->base, v))
                    : report(c, "the path is empty");
    if (k == K_WORD)
        return v[0] ? take_string(c, field, strdup(v)) : report(c, "the value is empty");
    if (k == K_BOOL) {
        n = strcasecmp(v, "yes") == 0;
        ok = n || strcasecmp(v, "no") == 0;
    } else if (k == K_SIZE)
        ok = ch_parse_size(v, &n) == 0;
    else if (k == K_DURATION)
        ok = ch_parse_duration(v, &n) == 0;
    else
        ok = ch_config_parse_uint(v, k == K_LEVEL ? 3 : UINT64_MAX, &n) == 0;
    if (!ok)
        return report(c, "'%s' is not %s", v, kind_what[k]);
    if (k == K_BOOL || k == K_LEVEL)
        *(int *)field = (int)n;
    else
        *(uint64_t *)field = n;
    return 0;
}

/* listen ADDR:PORT | PORT | [V6ADDR]:PORT, then `tls` for the TLS
 * listener.  A bare PORT keeps the host (TLS: the plain listener's unless
 * one was given). */
static int h_listen(pctx *c, char **args, int n)
{
    int tls = n == 2, port;
    char host[INET6_ADDRSTRLEN], **hostf = tls ? &c->cfg->tls_listen_host : &c->cfg->listen_host;
    int *portf = tls ? &c->cfg->tls_listen_port : &c->cfg->listen_port;
    uint64_t v;

    if (tls && strcmp(args[1], "tls") != 0)
        return report(c, "'%s' is not tls (listen ADDR:PORT [tls])", args[1]);
    if (strspn(args[0], "0123456789") == strlen(args[0])) {
        if (ch_config_parse_uint(args[0], 65535, &v) < 0)
            return report(c, "port '%s' is not in 0..65535", args[0]);
        if (!*hostf && take_string(c, hostf, strdup(c->cfg->listen_host)) < 0)
            return -1;
        port = (int)v;
    } else if (ch_config_split_addr(args[0], host, sizeof host, &port) < 0) {
        return report(c, "'%s' is not ADDR:PORT (use 127.0.0.1:8000, 8000 or [::1]:8000)", args[0]);
    } else if (take_string(c, hostf, strdup(host)) < 0) {
        return -1;
    }
    *portf = port;
    return tls ? take_string(c, &c->cfg->tls_listen_where, strdup(c->prefix)) : 0;
}

/* tls_certificate PATH, tls_certificate_key PATH: the path and where it
 * was set (tls.h names it in messages). */
static int h_tls_file(pctx *c, char **args, int n)
{
    int key = strcmp(c->d->name, "tls_certificate_key") == 0;
    ch_config *cfg = c->cfg;
    (void)n;

    if (!args[0][0])
        return report(c, "the path is empty");
    if (take_string(c, key ? &cfg->tls_certificate_key : &cfg->tls_certificate,
                    ch_config_resolve(c->base, args[0])) < 0)
        return -1;
    return take_string(c, key ? &cfg->tls_certificate_key_where : &cfg->tls_certificate_where,
                       strdup(c->prefix));
}

/* log_format text|json */
static int h_log_format(pctx *c, char **args, int n)
{
    (void)n;
    if (strcmp(args[0], "text") != 0 && strcmp(args[0], "json") != 0)
        return report(c, "'%s' is not text or json", args[0]);
    c->cfg->log_format = args[0][0] == 'j' ? CH_LOG_FORMAT_JSON : CH_LOG_FORMAT_TEXT;
    return 0;
}

/* allowed_origins ORIGIN...: appends every argument to the list. */
static int h_origins(pctx *c, char **args, int n)
{
    ch_config *cfg = c->cfg;
    char **list = reallocarray(cfg->allowed_origins, cfg->n_allowed_origins + (size_t)n,
                               sizeof *list);
    int i, r = 0;

    if (!list)
        return report(c, "out of memory");
    cfg->allowed_origins = list;
    for (i = 0; i < n; i++) {
        if (args[i][0] == '\0' || strpbrk(args[i], " \t\r\n\v\f"))
            r = report(c,
                       "'%s' is not an origin (use *, https://chat.example.com, "
                       "http://localhost:*, .example.com)",
                       args[i]);
        else if (!(list[cfg->n_allowed_origins] = strdup(args[i])))
            r = report(c, "out of memory");
        else
            cfg->n_allowed_origins++;
    }
    return r;
}

/* trusted_proxies CIDR...: appends every argument (an IPv4 or IPv6
 * address or block, proxy.h) to the list. */
static int h_proxies(pctx *c, char **args, int n)
{
    ch_config *cfg = c->cfg;
    ch_cidr *list = reallocarray(cfg->trusted_proxies, cfg->n_trusted_proxies + (size_t)n,
                                 sizeof *list);

    if (!list)
        return report(c, "out of memory");
    cfg->trusted_proxies = list;
    for (int i = 0; i < n; i++) {
        if (ch_cidr_parse(args[i], &list[cfg->n_trusted_proxies]) != 0)
            return report(c, "'%s' is not an IP address or CIDR block", args[i]);
        cfg->n_trusted_proxies++;
    }
    return 0;
}

int ch_role_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n >= 1 && n <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

int ch_config_role_known(const ch_config *cfg, const char *s)
{
    size_t i;

    if (!s)
        return 0;
    if (strcmp(s, "user") == 0 || strcmp(s, "admin") == 0)
        return 1;
    for (i = 0; i < cfg->n_roles; i++)
        if (strcmp(cfg->roles[i], s) == 0)
            return 1;
    return 0;
}

/* roles ROLE...: role names users may have besides user and admin;
 * appends every argument to the list (each checked first). */
static int h_roles(pctx *c, char **args, int n)
{
    ch_config *cfg = c->cfg;
    char **list;
    int i;

    for (i = 0; i < n; i++)
        if (!ch_role_name_ok(args[i]))
            return report(c, "'%s' is not a role name (1 to 32 of a-z, 0-9, _ and -)", args[i]);
    list = reallocarray(cfg->roles, cfg->n_roles + (size_t)n, sizeof *list);
    if (!list)
        return report(c, "out of memory");
    cfg->roles = list;
    for (i = 0; i < n; i++) {
        if (!(list[cfg->n_roles] = strdup(args[i])))
            return report(c, "out of memory");
        cfg->n_roles++;
    }
    return 0;
}

/* layer memory | URL... where each URL is redis://..., unix://... or
 * redis-sentinel://..., or each is channels_redis[+unix|+sentinel]://...
 * (TLS is not supported); several URLs shard the layer over those
 * servers, in that order (core/redis_url.c checks them).  Kept as one
 * string, the URLs separated by single spaces. */
static int h_layer(pctx *c, char **args, int n)
{
    char err[256], *joined;

    if (n == 1 && strcmp(args[0], "memory") == 0)
        return take_string(c, &c->cfg->layer, strdup(args[0]));
    if (!(joined = ch_rl_layer_value(args, n, err, sizeof err)))
        return report(c, "%s", err);
    return take_string(c, &c->cfg->layer, joined);
}

/* workers auto | N: the worker processes (1..CH_WORKERS_MAX); auto (0)
 * means one per core, decided at start (app/master.c). */
static int h_workers(pctx *c, char **args, int n)
{
    const char *v = args[0];
    char *end;
    long w;
    (void)n;

    if (strcmp(v, "auto") == 0) {
        c->cfg->workers = 0;
        return 0;
    }
    w = strtol(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || w < 1 || w > CH_WORKERS_MAX)
        return report(c, "'%s' is not auto or a number of workers (1-%d)", v, CH_WORKERS_MAX);
    c->cfg->workers = (uint64_t)w;
    return 0;
}

/* store_connections N: PostgreSQL's connections (1..16, the store's
 * CH_STORE_CONNECTIONS_MAX). */
static int h_store_connections(pctx *c, char **args, int n)
{
    uint64_t k = 0;
    (void)n;

    if (ch_config_parse_uint(args[0], 16, &k) != 0 || k == 0)
        return report(c, "'%s' is not a number of connections (1-16)", args[0]);
    c->cfg->store_connections = k;
    return 0;
}

/* store none | sqlite:PATH | postgresql://... | postgres://...; a relative
 * sqlite PATH is made absolute like plugin_dir (":memory:" is kept). */
/* A database URL v (none, sqlite:PATH with PATH resolved, postgresql://)
 * into *field. */
static int take_db_url(pctx *c, const char *v, char **field)
{
    const char *path = has_prefix(v, "sqlite:") ? v + 7 : NULL;
    char *s = NULL;

    if (strcmp(v, "none") == 0 || has_prefix(v, "postgresql://") || has_prefix(v, "postgres://"))
        return take_string(c, field, strdup(v));
    if (!path || *path == '\0')
        return report(c, "'%s' is not none, sqlite:PATH or postgresql://...", v);
    if (*path == '/' || strcmp(path, ":memory:") == 0 || !c->base)
        return take_string(c, field, strdup(v));
    if (asprintf(&s, "sqlite:%s/%s", c->base, path) < 0)
        s = NULL;
    return take_string(c, field, s);
}

static int h_store(pctx *c, char **args, int n)
{
    (void)n;
    return take_db_url(c, args[0], &c->cfg->store);
}

/* django_database: as store; "none" turns Django logins off. */
static int h_django_database(pctx *c, char **args, int n)
{
    (void)n;
    return take_db_url(c, args[0], &c->cfg->django_database);
}

/* django_session_engine db | signed_cookies. */
static int h_django_engine(pctx *c, char **args, int n)
{
    (void)n;
    if (strcmp(args[0], "db") != 0 && strcmp(args[0], "signed_cookies") != 0)
        return report(c, "'%s' is not db or signed_cookies", args[0]);
    return take_string(c, &c->cfg->django_session_engine, strdup(args[0]));
}

/* Non-zero if name is a plugin name: [A-Za-z0-9_-]+. */
static int is_plugin_name(const char *name)
{
    return name[0] && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_-") == strlen(name);
}

/* route PATTERN PLUGIN [reload=keep|restart]: appends a route. */
static int h_route(pctx *c, char **args, int n)
{
    char err[128];
    ch_pattern *p = ch_pattern_compile(args[0], err, sizeof err);
    int reload = CH_RELOAD_KEEP, bad = 0;
    ch_route_cfg *routes, *r;

    if (!p)
        bad = report(c, "bad pattern '%s': %s", args[0], err);
    ch_pattern_free(p);
    if (!is_plugin_name(args[1]))
        bad = report(c, "'%s' is not a plugin name ([A-Za-z0-9_-]+)", args[1]);
    if (n == 3 && strcmp(args[2], "reload=restart") == 0)
        reload = CH_RELOAD_RESTART;
    else if (n == 3 && strcmp(args[2], "reload=keep") != 0)
        bad = report(c, "'%s' is not reload=keep or reload=restart", args[2]);
    if (bad)
        return -1;
    routes = realloc(c->cfg->routes, (c->cfg->n_routes + 1) * sizeof *routes);
    if (!routes)
        return report(c, "out of memory");
    c->cfg->routes = routes;
    r = &routes[c->cfg->n_routes];
    *r = (ch_route_cfg){.pattern = strdup(args[0]),
                        .plugin = strdup(args[1]),
                        .reload = reload,
                        .where = strdup(c->prefix)};
    if (!r->pattern || !r->plugin || !r->where) {
        free(r->pattern);
        free(r->plugin);
        free(r->where);
        return report(c, "out of memory");
    }
    c->cfg->n_routes++;
    return 0;
}

/* plugin_setting PLUGIN KEY VALUE: plugin_settings[PLUGIN][KEY] = VALUE. */
static int h_plugin_setting(pctx *c, char **args, int n)
{
    json_t *obj, *val;
    (void)n;

    if (!is_plugin_name(args[0]))
        return report(c, "'%s' is not a plugin name ([A-Za-z0-9_-]+)", args[0]);
    if (args[1][0] == '\0')
        return report(c, "the key is empty");
    val = json_string(args[2]);
    if (!val)
        return report(c, "the value is not valid UTF-8");
    obj = json_object_get(c->cfg->plugin_settings, args[0]);
    if (!obj) {
        obj = json_object();
        if (!obj || json_object_set_new(c->cfg->plugin_settings, args[0], obj) < 0) {
            json_decref(val);
            return report(c, "out of memory");
        }
    }
    if (json_object_set_new(obj, args[1], val) < 0)
        return report(c, "the key is not valid UTF-8");
    return 0;
}

#define FIELD(name, kind, usage)                                  \
    {                                                             \
#name, 1, 1, kind, offsetof(ch_config, name), NULL, usage \
    }
#define FUNC(name, min, max, fn, usage)       \
    {                                         \
#name, min, max, K_FUNC, 0, fn, usage \
    }

static const directive directives[] = {
    FUNC(listen, 1, 2, h_listen, "ADDR:PORT | PORT | [V6ADDR]:PORT [tls]"),
    FUNC(tls_certificate, 1, 1, h_tls_file, "PATH"),
    FUNC(tls_certificate_key, 1, 1, h_tls_file, "PATH"),
    FUNC(log_format, 1, 1, h_log_format, "text | json"),
    FIELD(plugin_dir, K_PATH, "PATH"),
    FIELD(static_dir, K_PATH, "PATH"),
    FUNC(allowed_origins, 1, -1, h_origins, "ORIGIN..."),
    FIELD(require_origin, K_BOOL, "yes|no"),
    FUNC(roles, 1, -1, h_roles, "ROLE..."),
    FUNC(layer, 1, CH_RL_SERVERS_MAX, h_layer,
         "memory | URL... (redis://..., unix://..., redis-sentinel://...) | "
         "channels_redis://..."),
    FUNC(workers, 1, 1, h_workers, "auto | COUNT"),
    FUNC(store_connections, 1, 1, h_store_connections, "COUNT"),
    FUNC(store, 1, 1, h_store, "none | sqlite:PATH | postgresql://..."),
    FUNC(route, 2, 3, h_route, "PATTERN PLUGIN [reload=keep|restart]"),
    FUNC(plugin_setting, 3, 3, h_plugin_setting, "PLUGIN KEY VALUE"),
    FIELD(max_message_size, K_SIZE, "SIZE"),
    FIELD(max_outbound_bytes, K_SIZE, "SIZE"),
    FIELD(outbound_pause_bytes, K_SIZE, "SIZE"),
    FIELD(max_request_line, K_SIZE, "SIZE"),
    FIELD(max_header_bytes, K_SIZE, "SIZE"),
    FIELD(max_body_size, K_SIZE, "SIZE"),
    FIELD(attachment_max_size, K_SIZE, "SIZE"),
    FIELD(attachment_types, K_WORD, "TYPE,TYPE..."),
    FIELD(attachment_dir, K_PATH, "PATH"),
    FIELD(attachment_sweep_interval, K_DURATION, "DURATION"),
    FIELD(max_headers, K_COUNT, "COUNT"),
    FIELD(max_connections, K_COUNT, "COUNT"),
    FIELD(max_connections_per_user, K_COUNT, "COUNT"),
    FIELD(max_connections_per_ip, K_COUNT, "COUNT"),
    FIELD(handshake_rate_per_ip, K_COUNT, "COUNT"),
    FUNC(trusted_proxies, 1, -1, h_proxies, "CIDR..."),
    FIELD(handshake_timeout, K_DURATION, "DURATION"),
    FIELD(keepalive_timeout, K_DURATION, "DURATION"),
    FIELD(idle_timeout, K_DURATION, "DURATION"),
    FIELD(ping_interval, K_DURATION, "DURATION"),
    FIELD(ping_timeout, K_DURATION, "DURATION"),
    FIELD(shutdown_timeout, K_DURATION, "DURATION"),
    FIELD(group_expiry, K_DURATION, "DURATION"),
    FIELD(plugin_http_timeout, K_DURATION, "DURATION"),
    FIELD(send_timeout, K_DURATION, "DURATION"),
    FIELD(presence_interval, K_DURATION, "DURATION"),
    FIELD(presence_heartbeat, K_DURATION, "DURATION"),
    FIELD(presence_expiry, K_DURATION, "DURATION"),
    FIELD(verbosity, K_LEVEL, "0..3"),
    FIELD(store_key_file, K_PATH, "PATH"),
    FIELD(store_key_env, K_WORD, "VARIABLE"),
    FIELD(store_queue_max, K_COUNT, "COUNT"),
    FIELD(store_batch_max, K_COUNT, "COUNT"),
    FIELD(store_commit_delay, K_DURATION, "DURATION"),
    FIELD(auth_secret_file, K_PATH, "PATH"),
    FIELD(auth_secret_env, K_WORD, "VARIABLE"),
    FIELD(auth_token_ttl, K_DURATION, "DURATION"),
    FIELD(auth_pbkdf2_iterations, K_COUNT, "COUNT"),
    FIELD(auth_login_failures, K_COUNT, "COUNT"),
    FIELD(auth_login_ip_failures, K_COUNT, "COUNT"),
    FIELD(auth_login_delay, K_DURATION, "DURATION"),
    FIELD(auth_login_max_delay, K_DURATION, "DURATION"),
    FIELD(auth_login_table, K_COUNT, "COUNT"),
    FIELD(auth_hash_threads, K_COUNT, "COUNT"),
    FIELD(auth_hash_queue, K_COUNT, "COUNT"),
    FIELD(auth_service_token_file, K_PATH, "PATH"),
    FIELD(auth_service_token_env, K_WORD, "VARIABLE"),
    FUNC(django_database, 1, 1, h_django_database, "none | sqlite:PATH | postgresql://..."),
    FIELD(django_secret_key_file, K_PATH, "PATH"),
    FIELD(django_secret_key_env, K_WORD, "VARIABLE"),
    FIELD(django_jwt_key_file, K_PATH, "PATH"),
    FIELD(django_jwt_key_env, K_WORD, "VARIABLE"),
    FUNC(django_session_engine, 1, 1, h_django_engine, "db | signed_cookies"),
    FIELD(django_session_cookie, K_WORD, "NAME"),
    FIELD(django_session_age, K_DURATION, "DURATION"),
};

static const directive *find_directive(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof directives / sizeof directives[0]; i++)
        if (strcmp(directives[i].name, name) == 0)
            return &directives[i];
    return NULL;
}

int ch_config_is_directive(const char *name) { return name && find_directive(name) != NULL; }

/* Check the argument count of c->d; report "expected ..., got N". */
static int check_count(pctx *c, int n)
{
    const directive *d = c->d;
    char want[32];

    if (n >= d->min_args && (d->max_args < 0 || n <= d->max_args))
        return 0;
    if (d->max_args < 0)
        (void)snprintf(want, sizeof want, "%d or more arguments", d->min_args);
    else if (d->min_args != d->max_args)
        (void)snprintf(want, sizeof want, "%d to %d arguments", d->min_args, d->max_args);
    else
        (void)snprintf(want, sizeof want, "%d argument%s", d->min_args,
                       d->min_args == 1 ? "" : "s");
    return report(c, "expected %s, got %d (%s %s)", want, n, d->name, d->usage);
}

/* Apply directive `name` with its n args to cfg.  Messages start with
 * prefix; relative paths are made absolute against base (NULL: kept as
 * they are).  Returns the number of problems reported. */
static int run_directive(ch_config *cfg, ch_diag *diag, const char *prefix, const char *base,
                         const char *name, char **args, int n)
{
    pctx c = {.cfg = cfg, .diag = diag, .prefix = prefix, .base = base};

    c.d = find_directive(name);
    if (!c.d) {
        ch_diag_add(diag, "%s: unknown directive '%s'", prefix, name);
        return 1;
    }
    if (check_count(&c, n) < 0 || n < 1) /* n < 1 cannot pass check_count */
        return 1;
    if (c.d->kind == K_FUNC)
        return c.d->fn(&c, args, n) < 0;
    return set_field(&c, args[0]) < 0;
}

/* --- file and command line ------------------------------------------- */
/* The directive a line starts with (for naming it in a syntax error), or
 * NULL. */
static const char *leading_directive(const char *line)
{
    size_t i;

    line += strspn(line, " \t");
    for (i = 0; i < sizeof directives / sizeof directives[0]; i++)
        if (has_prefix(line, directives[i].name) && is_blank(line[strlen(directives[i].name)]))
            return directives[i].name;
    return NULL;
}

/* Parse one line of a file (len bytes, newline included).  Returns the
 * number of problems reported. */
static int parse_line(ch_config *cfg, ch_diag *diag, const char *prefix, const char *base,
                      char *line, size_t len)
{
    char err[128], **argv;
    int n, problems;

    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len > MAX_LINE) {
        ch_diag_add(diag, "%s: the line is longer than 64 KiB", prefix);
        return 1;
    }
    if (memchr(line, '\0', len)) {
        ch_diag_add(diag, "%s: the line contains a NUL byte", prefix);
        return 1;
    }
    n = ch_config_split(line, &argv, err, sizeof err);
    if (n < 0) {
        diag_named(diag, prefix, leading_directive(line), err);
        return 1;
    }
    problems = n > 0 ? run_directive(cfg, diag, prefix, base, argv[0], argv + 1, n - 1) : 0;
    ch_config_free_argv(argv);
    return problems;
}

/*
 * Parse the file at path into cfg (see config.h); cfg->path becomes a
 * copy of path.  Returns the number of problems appended to diag.
 */
int ch_config_load_file(ch_config *cfg, const char *path, ch_diag *diag)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *base, *prefix;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int problems = 0;

    if (!f) {
        ch_diag_add(diag, "%s: cannot open: %s", path, strerror(errno));
        return 1;
    }
    if (!cfg->path || strcmp(cfg->path, path) != 0) {
        free(cfg->path);
        cfg->path = strdup(path);
    }
    base = ch_config_base_dir(path);
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (asprintf(&prefix, "%s:%lu", path, ++lineno) < 0) {
            ch_diag_add(diag, "%s: out of memory", path);
            problems++;
            break;
        }
        problems += parse_line(cfg, diag, prefix, base, line, (size_t)len);
        free(prefix);
    }
    if (ferror(f)) {
        ch_diag_add(diag, "%s: read error: %s", path, strerror(errno));
        problems++;
    }
    free(line);
    free(base);
    (void)fclose(f);
    return problems;
}

/*
 * Apply one directive given as text (a command-line option).  Relative
 * paths are resolved against the current directory when `where` starts
 * with "--" or no file was loaded, else against the file's directory.
 * Returns the number of problems appended to diag.
 */
int ch_config_apply(ch_config *cfg, const char *name, const char *value, const char *where,
                    ch_diag *diag)
{
    char err[128], **argv, *base;
    int n, problems;

    n = ch_config_split(value, &argv, err, sizeof err);
    if (n < 0) {
        diag_named(diag, where, name, err);
        return 1;
    }
    base = ch_config_base_dir(has_prefix(where, "--") ? NULL : cfg->path);
    problems = run_directive(cfg, diag, where, base, name, argv, n);
    free(base);
    ch_config_free_argv(argv);
    return problems;
}
