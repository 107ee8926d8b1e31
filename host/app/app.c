/*
 * app.c -- assembling the running host from a config (layer, plugins,
 * routes, listener, loop handles), wiring the sub-systems together (the
 * HTTP handlers, the WebSocket upgrade, the layer's delivery, the store's
 * operation tables), and taking it down again, gracefully on
 * SIGTERM/SIGINT.
 */
#include "app_host.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "api_store.h"
#include "auth.h"
#include "climit.h"
#include "conn.h"
#include "django_auth.h"
#include "layer.h"
#include "link.h"
#include "membership.h"
#include "notify.h"
#include "peers.h"
#include "presence.h"
#include "reload.h"
#include "rest.h"
#include "rest_login.h"
#include "rest_plugins.h"
#include "secret.h"
#include "static.h"
#include "status.h"
#include "store.h"
#include "store_chat.h"
#include "store_django.h"
#include "store_rooms.h"
#include "store_sessions.h"
#include "timers.h"
#include "tls.h"
#include "http.h"
#include "log.h"
#include "manage.h"
#include "metrics.h"
#include "endpoints.h"
#include "plugins.h"
#include "upgrade.h"
#include "ws.h"

#define CH_READ_BUF_SIZE (64 * 1024)
#define SERVICE_TOKEN_MAX ((size_t)64 << 10) /* the largest service token file */
#define PLUGIN_POST_MAX 4096 /* api->loop_post callbacks waiting at once (chanhost.h) */

static void on_flush_prepare(uv_prepare_t *h) { ch_app_flush(h->data); }
static void on_flush_check(uv_check_t *h) { ch_app_flush(h->data); }

static void on_signal(uv_signal_t *s, int signum)
{
    ch_app *app = s->data;

    ch_log(CH_LOG_INFO, "received %s, shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    ch_notify_stopping();
    ch_app_stop(app);
}

/* Find a loaded plugin by name. */
static ch_plugin *find_plugin(ch_app *app, const char *name)
{
    size_t i;

    for (i = 0; i < app->n_plugins; i++)
        if (strcmp(app->plugins[i]->name, name) == 0)
            return app->plugins[i];
    return NULL;
}

/* Names already tried and refused, so each failure is logged once. */
static int already_failed(ch_app *app, size_t upto, const char *name)
{
    size_t i;

    for (i = 0; i < upto; i++)
        if (strcmp(app->cfg.routes[i].plugin, name) == 0 && !find_plugin(app, name))
            return 1;
    return 0;
}

int ch_app_load_plugins(ch_app *app)
{
    int failed = 0;
    size_t i;

    for (i = 0; i < app->cfg.n_routes; i++) {
        const char *name = app->cfg.routes[i].plugin;
        char err[512];
        ch_plugin *p, **np;

        if (find_plugin(app, name) || already_failed(app, i, name))
            continue;
        p = ch_plugin_load(app->cfg.plugin_dir, name,
                           json_object_get(app->cfg.plugin_settings, name), 1, err, sizeof err);
        if (!p) {
            ch_log(CH_LOG_ERROR, "%s (route %s at %s)", err, app->cfg.routes[i].pattern,
                   app->cfg.routes[i].where);
            ch_metric_count(CH_M_PLUGIN_LOAD_FAILURES);
            failed++;
            continue;
        }
        np = realloc(app->plugins, (app->n_plugins + 1) * sizeof *np);
        if (!np) {
            ch_plugin_unref(p);
            return failed + 1;
        }
        app->plugins = np;
        app->plugins[app->n_plugins++] = p;
    }
    return failed;
}

/* The current version of plugin `name`, or NULL. */
ch_plugin *ch_app_plugin(ch_app *app, const char *name) { return find_plugin(app, name); }

/* Tie every route of the table to the current version of its plugin. */
void ch_app_tie_routes(ch_app *app)
{
    size_t i;

    for (i = 0; i < app->routes.n; i++)
        app->routes.routes[i]->plugin = find_plugin(app, app->routes.routes[i]->plugin_name);
}

/* Compile the routes of the config and tie each to its plugin; then the
 * plugins' HTTP endpoints. */
static int build_routes(ch_app *app)
{
    int rc = ch_routes_build(&app->routes, &app->cfg, NULL);

    if (rc == 0)
        ch_app_tie_routes(app);
    return rc ? rc : ch_rest_endpoints_build(app);
}

/* A file next to the SQLite database (for secrets the config does not
 * name), or NULL. */
static char *beside_store(const char *store, const char *name)
{
    const char *path = store && strncmp(store, "sqlite:", 7) == 0 ? store + 7 : NULL;
    const char *slash = path ? strrchr(path, '/') : NULL;
    char *out = NULL;

    if (!path || strcmp(path, ":memory:") == 0)
        return NULL;
    if (asprintf(&out, "%.*s%s%s", slash ? (int)(slash - path) : 0, path, slash ? "/" : "", name) <
        0)
        return NULL;
    return out;
}

/* The service token, from its variable or file (first line; the file is
 * read through core/secret.h, so group or others must not read it), or
 * NULL.  New malloc'd: the caller wipes it with OPENSSL_cleanse and frees
 * it. */
static char *load_service_token(const ch_config *cfg)
{
    const char *v = cfg->auth_service_token_env ? getenv(cfg->auth_service_token_env) : NULL;
    char err[512], *text = NULL, *line = NULL;
    size_t len = 0, n;

    if (v && strlen(v) >= 16)
        return strdup(v);
    if (!cfg->auth_service_token_file)
        return NULL;
    if (ch_secret_read(cfg->auth_service_token_file, SERVICE_TOKEN_MAX, &text, &len, err,
                       sizeof err) < 0) {
        ch_log(CH_LOG_WARN, "auth: %s", err);
        return NULL;
    }
    n = strcspn(text, "\r\n");
    if (n >= 16)
        line = strndup(text, n);
    ch_secret_free(text, len);
    return line;
}

/* A worker's token secret for this run when the config names none: the
 * 64 hex digits of CH_RUN_KEY_ENV set by the master (app/master.c), then
 * removed from the environment.  Returns 0 with app->auth_secret set
 * (new, freed by ch_app_free), or -1 when there is none. */
static int run_key(ch_app *app)
{
    const char *hex = getenv(CH_RUN_KEY_ENV);
    unsigned char *key;
    size_t i;

    if (!app->link || !hex || strlen(hex) != 64 || !(key = malloc(32)))
        return -1;
    for (i = 0; i < 32; i++) {
        unsigned v;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(key);
            return -1;
        }
        key[i] = (unsigned char)v;
    }
    app->auth_secret = key;
    app->auth_secret_len = 32;
    unsetenv(CH_RUN_KEY_ENV);
    return 0;
}

/* The token secret (auth.h): named by the config, or kept next to a
 * SQLite store, or, with neither, a random one for this run only (tokens
 * then die with the process: logged). */
static int load_auth(ch_app *app)
{
    ch_config *cfg = &app->cfg;
    char err[512] = "";

    if (!cfg->auth_secret_file && !cfg->auth_secret_env)
        cfg->auth_secret_file = beside_store(cfg->store, "auth.secret");
    if (cfg->auth_secret_file || cfg->auth_secret_env) {
        if (ch_auth_load_secret(cfg->auth_secret_file, cfg->auth_secret_env, &app->auth_secret,
                                &app->auth_secret_len, err, sizeof err) != 0) {
            ch_log(CH_LOG_ERROR, "auth: %s", err);
            return -EINVAL;
        }
    } else if (run_key(app) == 0) {
        /* a worker: the master's key for this run, shared by every worker */
    } else {
        app->auth_secret_len = 32;
        app->auth_secret = malloc(32);
        if (!app->auth_secret || RAND_bytes(app->auth_secret, 32) != 1)
            return -ENOMEM;
        ch_log(CH_LOG_WARN, "auth: no auth_secret_file and no SQLite store: tokens are signed "
                            "with a random key and stop working when the host stops");
    }
    app->service_token = load_service_token(cfg);
    if ((cfg->auth_service_token_file || cfg->auth_service_token_env) && !app->service_token)
        ch_log(CH_LOG_WARN, "auth: the service token is missing or shorter than 16 bytes");
    return 0;
}

/* The store's role check (ch_store_roles_check): arg is the app's
 * config, read at each call, so a reload's roles count at once. */
static int role_known(void *arg, const char *role) { return ch_config_role_known(arg, role); }

/* Open the message store named by the config (none: no store). */
static int open_store(ch_app *app)
{
    ch_config *cfg = &app->cfg;
    ch_store_opts o = {0};
    char err[512];

    if (!cfg->store || strcmp(cfg->store, "none") == 0)
        return 0;
    if (!cfg->store_key_file && !cfg->store_key_env)
        cfg->store_key_file = ch_default_key_file(cfg->store); /* manage.h */
    if (!cfg->store_key_file && !cfg->store_key_env) {
        ch_log(CH_LOG_ERROR,
               "store %s: name the message keys with store_key_file or "
               "store_key_env",
               cfg->store);
        return -EINVAL;
    }
    o.url = cfg->store;
    o.key_file = cfg->store_key_file;
    o.key_env = cfg->store_key_env;
    o.queue_max = (uint32_t)cfg->store_queue_max;
    o.batch_max = (uint32_t)cfg->store_batch_max;
    o.commit_delay_ms = (uint32_t)(cfg->store_commit_delay < UINT32_MAX ? cfg->store_commit_delay
                                                                        : UINT32_MAX);
    o.connections = (uint32_t)(cfg->store_connections < CH_STORE_CONNECTIONS_MAX
                                   ? cfg->store_connections
                                   : CH_STORE_CONNECTIONS_MAX);
    o.attachment_dir = cfg->attachment_dir;
    app->store = ch_store_open(app->loop, &o, err, sizeof err);
    if (!app->store) {
        ch_log(CH_LOG_ERROR, "store: %s", err);
        return -EINVAL;
    }
    ch_store_sweep_every(app->store, cfg->attachment_sweep_interval);
    ch_log(CH_LOG_INFO, "store %s opened", cfg->store);
    return 0;
}

/* What answers HTTP requests, in the order they are asked (http.h); the
 * first that wants a request gets it, none: 404.  Uploads (api) are
 * dispatched at their headers, their bodies streamed. */
static int register_handlers(ch_app *app)
{
    app->http_streamed = ch_rest_streamed;
    return ch_http_handle(app, NULL, 0, ch_ws_upgrade_wanted, ch_ws_upgrade) ||
           ch_http_handle(app, "/healthz", 0, NULL, ch_health_serve) ||
           ch_http_handle(app, "/metrics", 0, NULL, ch_metrics_serve) ||
           ch_http_handle(app, "/api/", 1, NULL, ch_rest_serve) ||
           ch_http_handle(app, "/dev/plugins", 0, NULL, ch_dev_serve) ||
           ch_http_handle(app, NULL, 0, ch_static_wanted, ch_static_serve);
}

/* A frame from the master: another worker's send, for local members, or
 * its snapshot. */
static void on_link_frame(ch_link *k, const ch_link_frame *f, void *arg)
{
    ch_app *app = arg;

    (void)k;
    if (f->kind == CH_LINK_GROUP || f->kind == CH_LINK_CHANNEL)
        ch_layer_link_input(app->layer, f->kind, f->name, f->data, f->len);
    else if (f->kind == CH_LINK_STATS)
        ch_peers_input(app, f->data, f->len);
}

/* The master is gone (its end closed): stop gracefully. */
static void on_link_gone(ch_link *k, void *arg)
{
    ch_app *app = arg;

    (void)k;
    if (!app->stopping) {
        ch_log(CH_LOG_WARN, "the master process is gone: shutting down");
        ch_app_stop(app);
    }
}

/* Open the link to the master on fd (taken over).  Returns 0 or -EIO. */
static int open_link(ch_app *app, int fd)
{
    char err[256];

    app->link = ch_link_open(app->loop, fd, 0, on_link_frame, on_link_gone, app, err, sizeof err);
    if (!app->link) {
        ch_log(CH_LOG_ERROR, "%s", err);
        return -EIO;
    }
    ch_link_ref(app->link, 0); /* the connections keep the loop alive */
    return 0;
}

/* The layer's delivery (ep and msg borrowed): to the presence service's
 * endpoint (runtime/presence.c), else to a connection's. */
static void layer_deliver(ch_endpoint *ep, ch_msg *msg, void *arg)
{
    if (!ch_presence_deliver(ep, msg))
        ch_ws_deliver(ep, msg, arg);
}

int ch_app_init(ch_app *app, uv_loop_t *loop, ch_config *cfg)
{
    return ch_app_init_worker(app, loop, cfg, -1, 0);
}

int ch_app_init_worker(ch_app *app, uv_loop_t *loop, ch_config *cfg, int link_fd, int worker)
{
    ch_layer_opts lopts = {0};
    char err[256];

    memset(app, 0, sizeof *app);
    app->loop = loop;
    app->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    app->started_ms = uv_now(loop);
    app->read_buf_size = CH_READ_BUF_SIZE;
    app->read_buf = malloc(app->read_buf_size);
    uv_prepare_init(loop, &app->flush_prepare);
    app->flush_prepare.data = app;
    uv_prepare_start(&app->flush_prepare, on_flush_prepare);
    uv_check_init(loop, &app->flush_check);
    app->flush_check.data = app;
    uv_check_start(&app->flush_check, on_flush_check);
    uv_signal_init(loop, &app->sig_term);
    uv_signal_init(loop, &app->sig_int);
    app->sig_term.data = app->sig_int.data = app;
    uv_signal_start(&app->sig_term, on_signal, SIGTERM);
    uv_signal_start(&app->sig_int, on_signal, SIGINT);
    uv_timer_init(loop, &app->shutdown_timer);
    app->shutdown_timer.data = app;
    app->drained = ch_app_stop;
    app->status = ch_status_json;
    if (!app->read_buf || register_handlers(app) != 0)
        return -ENOMEM;
    if (ch_store_ops_register(ch_st_chat_op) != 0 || ch_store_ops_register(ch_st_rooms_op) != 0 ||
        ch_store_ops_register(ch_st_sessions_op) != 0 ||
        ch_store_ops_register(ch_st_django_op) != 0)
        return -ENOSPC;
    ch_store_roles_check(role_known, &app->cfg);
    if (ch_timers_init(loop, PLUGIN_POST_MAX) != 0)
        return -ENOMEM;
    ch_plugin_set_api(ch_api_table());
    ch_api_bind(app);
    ch_api_store_bind(app);
    app->worker = link_fd >= 0 ? worker : 0;
    if (link_fd >= 0 && open_link(app, link_fd) != 0)
        return -EIO;
    lopts.group_expiry_ms = app->cfg.group_expiry;
    if (app->cfg.layer && strcmp(app->cfg.layer, "memory") == 0)
        lopts.link = app->link; /* the master relays between workers */
    app->layer = ch_layer_new(loop, app->cfg.layer, &lopts, layer_deliver, app, err, sizeof err);
    if (!app->layer) {
        ch_log(CH_LOG_ERROR, "channel layer: %s", err);
        return -EINVAL;
    }
    if (ch_presence_init(app) != 0)
        return -ENOMEM;
    if (open_store(app) != 0 || load_auth(app) != 0)
        return -EINVAL;
    if (ch_django_open(loop, &app->cfg, &app->django, err, sizeof err) != 0) {
        ch_log(CH_LOG_ERROR, "django: %s", err);
        return -EINVAL;
    }
    if (app->django)
        ch_log(CH_LOG_INFO, "django logins on: database %s", app->cfg.django_database);
    ch_plugin_set_store(app->store, loop);
    ch_store_observe(app->store, ch_membership_observe, app);
    /* PostgreSQL: also the removals of other hosts and of plain SQL */
    if (app->store && ch_store_listen(app->store, CH_STORE_CHANNEL_PARTICIPANTS,
                                      ch_membership_notified, app) == -ENOMEM)
        return -ENOMEM;
    return 0;
}

/* A connection on the TLS listener: TLS under the running context (the
 * one a reload last installed), then HTTP as on the plain listener. */
static int https_open(ch_conn *c)
{
    int rc;

    if (!c->app->cfg.tls_ctx) {
        ch_log(CH_LOG_ERROR, "connection [%s]: no TLS certificate is configured", ch_conn_peer(c));
        return -EINVAL;
    }
    rc = ch_tls_attach(c, c->app->cfg.tls_ctx);
    return rc != 0 ? rc : ch_http_open(c);
}

/* Plugins whose migrations run the loop (ch_plugin_load) see no
 * connection before the routes exist: one that arrives meanwhile waits in
 * libuv and is accepted here. */
int ch_app_load(ch_app *app)
{
    int rc;

    app->loading = 1;
    ch_app_load_plugins(app);
    app->loading = 0;
    rc = build_routes(app);
    if ((app->accept_deferred & 1) && app->listening)
        ch_conn_accept(app, (uv_stream_t *)&app->listener, ch_http_open);
    if ((app->accept_deferred & 2) && app->tls_listening)
        ch_conn_accept(app, (uv_stream_t *)&app->tls_listener, https_open);
    app->accept_deferred = 0;
    return rc;
}

static void on_connection(uv_stream_t *listener, int status)
{
    ch_app *app = listener->data;
    int tls = listener == (uv_stream_t *)&app->tls_listener;

    if (status < 0) {
        ch_log(CH_LOG_WARN, "accept failed: %s", uv_strerror(status));
        return;
    }
    if (app->loading) { /* libuv stops listening until it is accepted */
        app->accept_deferred |= tls ? 2 : 1;
        return;
    }
    ch_conn_accept(app, listener, tls ? https_open : ch_http_open);
}

/* Parse host and port into a socket address. */
static int listen_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    if (strchr(host, ':'))
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

/* Record the address l really bound (port 0 picks one) into out[64]. */
static void bound_addr(uv_tcp_t *l, char *out)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    uv_tcp_getsockname(l, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        snprintf(out, 64, "[%s]:%d", ip, port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(out, 64, "%s:%d", ip, port);
    }
}

int ch_app_bind_shared(const struct sockaddr *sa, int *fd)
{
    int one = 1, s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (s < 0)
        return -errno;
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(s, sa,
             sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in)) != 0) {
        int e = -errno;

        close(s);
        return e;
    }
    *fd = s;
    return 0;
}

/* Bind l: its own socket, or under a master one of the SO_REUSEPORT
 * group on the port the master holds.  Returns 0 or a negative libuv
 * error. */
static int bind_listener(ch_app *app, uv_tcp_t *l, const struct sockaddr *sa)
{
    int fd, rc;

    if (!app->link)
        return uv_tcp_bind(l, sa, 0);
    rc = ch_app_bind_shared(sa, &fd);
    if (rc == 0 && (rc = uv_tcp_open(l, fd)) != 0)
        close(fd);
    return rc;
}

/* Bind and listen on host:port with l (*listening set once l is open);
 * the address bound into out[64].  Returns 0 or a negative libuv error
 * (logged). */
static int listen_one(ch_app *app, uv_tcp_t *l, int *listening, const char *host, int port,
                      char *out)
{
    struct sockaddr_storage ss;
    int rc;

    memset(&ss, 0, sizeof ss);
    rc = listen_addr(host, port, &ss);
    if (rc == 0) {
        uv_tcp_init(app->loop, l);
        l->data = app;
        *listening = 1;
        rc = bind_listener(app, l, (struct sockaddr *)&ss);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)l, 4096, on_connection);
    }
    if (rc != 0) {
        ch_log(CH_LOG_ERROR, "cannot listen on %s:%d: %s", host, port,
               rc == UV_EADDRINUSE ? "address already in use" : uv_strerror(rc));
        return rc;
    }
    bound_addr(l, out);
    return 0;
}

int ch_app_listen(ch_app *app)
{
    const ch_config *cfg = &app->cfg;
    int rc = listen_one(app, &app->listener, &app->listening, cfg->listen_host, cfg->listen_port,
                        app->listen_addr);

    if (rc == 0 && cfg->tls_listen_host)
        rc = listen_one(app, &app->tls_listener, &app->tls_listening, cfg->tls_listen_host,
                        cfg->tls_listen_port, app->tls_listen_addr);
    return rc;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    ch_app *app = t->data;
    ch_conn *c, *next;

    ch_log(CH_LOG_WARN, "shutdown_timeout passed: dropping %llu connection(s)",
           (unsigned long long)app->n_conns);
    for (c = app->conns; c; c = next) {
        next = c->next;
        ch_conn_close(c);
    }
}

/* Last phase: close the app's own handles so uv_run returns. */
static void close_handles(ch_app *app)
{
    ch_peers_stop();
    if (app->link) {
        ch_layer_set_link(app->layer, NULL);
        ch_link_close(app->link);
        app->link = NULL;
    }
    ch_reload_close(app);
    ch_rest_endpoints_close(app);
    ch_timers_close(); /* the plugins' timers and post queue */
    ch_presence_close();
    uv_close((uv_handle_t *)&app->flush_prepare, NULL);
    uv_close((uv_handle_t *)&app->flush_check, NULL);
    uv_close((uv_handle_t *)&app->sig_term, NULL);
    uv_close((uv_handle_t *)&app->sig_int, NULL);
    uv_close((uv_handle_t *)&app->shutdown_timer, NULL);
    ch_conn_timers_close(app);
    ch_climit_free_all(&app->conn_limits);
}

static void on_store_closed(void *arg)
{
    ch_app *app = arg;

    app->store = NULL;
    ch_plugin_set_store(NULL, NULL);
    close_handles(app);
}

/* Every connection is gone: let the store finish what it was given (every
 * acknowledged write is committed already; queued ones complete), then
 * close the app's handles. */
static void close_app_handles(ch_app *app);

/* The Django database is closed: go on closing. */
static void on_django_closed(void *arg)
{
    ch_app *app = arg;

    app->django = NULL;
    close_app_handles(app);
}

static void close_app_handles(ch_app *app)
{
    if (app->django)
        ch_django_close(app->django, on_django_closed, app);
    else if (app->store)
        ch_store_close(app->store, on_store_closed, app);
    else
        close_handles(app);
}

void ch_app_ready(ch_app *app)
{
    if (app->link) {
        ch_link_send(app->link, CH_LINK_READY, NULL, app->listen_addr, strlen(app->listen_addr));
        ch_peers_start(app);
    } else {
        ch_log(CH_LOG_INFO, "Listening on TCP address %s", app->listen_addr);
        if (app->tls_listening)
            ch_log(CH_LOG_INFO, "Listening on TLS address %s", app->tls_listen_addr);
        ch_notify_ready(app->listen_addr);
    }
}

void ch_app_stop(ch_app *app)
{
    ch_conn *c, *next;

    if (app->stopping) {
        if (app->n_conns == 0 && app->stopping == 1) {
            app->stopping = 2;
            close_app_handles(app);
        }
        return;
    }
    app->stopping = 1;
    if (app->listening)
        uv_close((uv_handle_t *)&app->listener, NULL);
    if (app->tls_listening)
        uv_close((uv_handle_t *)&app->tls_listener, NULL);
    app->listening = app->tls_listening = 0;
    for (c = app->conns; c; c = next) {
        next = c->next;
        if (c->proto)
            c->proto->shutdown(c);
        else
            ch_conn_close(c);
    }
    ch_rest_endpoints_stop(app);
    uv_timer_start(&app->shutdown_timer, on_shutdown_timeout, app->cfg.shutdown_timeout, 0);
    if (app->n_conns == 0) {
        app->stopping = 2;
        close_app_handles(app);
    }
}

void ch_app_free(ch_app *app)
{
    size_t i;

    ch_routes_release(&app->routes);
    ch_rest_endpoints_free(app);
    ch_rest_login_fini();
    ch_endpoint_requests_free_all();
    for (i = 0; i < app->n_plugins; i++)
        ch_plugin_unref(app->plugins[i]);
    free(app->plugins);
    ch_plugin_refused_free();
    ch_timers_fini(); /* no plugin is left to post */
    if (app->layer)
        ch_layer_free(app->layer);
    ch_config_free(&app->cfg);
    if (app->auth_secret)
        OPENSSL_cleanse(app->auth_secret, app->auth_secret_len);
    free(app->auth_secret);
    if (app->service_token)
        OPENSSL_cleanse(app->service_token, strlen(app->service_token));
    free(app->service_token);
    free(app->read_buf);
    free(app->scratch);
    ch_http_handlers_free(app);
    memset(app, 0, sizeof *app);
}
