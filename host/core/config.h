/*
 * config.h -- the host's configuration: defaults, the config file, and
 * command-line overrides.
 *
 * The file is redis.conf-style: one directive per line, arguments
 * separated by blanks, "double quotes" (with \" \\ \n \t escapes) or
 * 'single quotes' around arguments that contain blanks, `#` starts a
 * comment outside quotes.  Durations take a unit (500ms, 5s, 2m, 1h; a
 * bare number is seconds); sizes take one too (512, 64kb, 1mb, 1gb; k/m/g
 * and kb/mb/gb are both powers of 1024, case-insensitive).
 *
 * Every directive can also be given on the command line as
 * `--<directive> VALUE`; the value is split into arguments exactly like a
 * file line, and command-line values override the file (a repeated list
 * directive such as `route` or `allowed_origins` given on the command line
 * is added to the file's).
 *
 * Errors never stop at the first one: every problem is appended to the
 * ch_diag list as "FILE:LINE: message" (or "--directive: message"), so
 * `chanhost --check` can report them all.  A config with errors is never
 * applied.
 *
 * Relative paths in the file (plugin_dir, static_dir) are resolved against
 * the directory of the config file; on the command line, against the
 * current directory.
 */
#ifndef CH_CONFIG_H
#define CH_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

/* A list of diagnostics, one malloc'd line each. */
typedef struct ch_diag {
    char **lines;
    size_t n, cap;
} ch_diag;

/* Append a printf-formatted line. */
void ch_diag_add(ch_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free every line (the struct itself is the caller's). */
void ch_diag_free(ch_diag *d);

/* The PBKDF2 iterations a stored password hash may name: login refuses a
 * hash above the maximum without hashing, import refuses one outside the
 * range (Django 4.2 / 5.x use 600000 to 1000000 and never fewer than
 * 1000). */
#define CH_PBKDF2_ITER_MIN 1000
#define CH_PBKDF2_ITER_MAX 10000000

/* Reload policy of a route's plugin (used by hot reload). */
enum { CH_RELOAD_KEEP = 0, CH_RELOAD_RESTART = 1 };

typedef struct ch_route_cfg {
    char *pattern; /* e.g. "/ws/chat/<int:room_id>/" */
    char *plugin;  /* plugin name, file plugin_dir/<plugin>.so */
    int reload;    /* CH_RELOAD_KEEP or CH_RELOAD_RESTART */
    char *where;   /* "file:line" or "--route", for messages */
} ch_route_cfg;

typedef struct ch_config {
    /* where it came from */
    char *path; /* config file path, NULL if none */

    /* listen */
    char *listen_host; /* default "127.0.0.1" */
    int listen_port;   /* default 8000 */

    /* TLS (net/tls.h, docs/tls.md): `listen ADDR:PORT tls` adds a TLS
     * listener beside the plain one; the files are PEM.  *_where:
     * "FILE:LINE" (or "--directive") of each, for messages. */
    char *tls_listen_host; /* NULL: no TLS listener */
    int tls_listen_port;
    char *tls_listen_where;
    char *tls_certificate; /* the chain, leaf first */
    char *tls_certificate_where;
    char *tls_certificate_key;
    char *tls_certificate_key_where;
    /* The server context made from the two files by the assembler
     * (app/main.c; owned: ch_config_free calls tls_ctx_free on it); NULL:
     * none. */
    void *tls_ctx;
    void (*tls_ctx_free)(void *ctx);

    int log_format; /* CH_LOG_FORMAT_TEXT (default) or CH_LOG_FORMAT_JSON */

    char *plugin_dir; /* NULL: main.c uses the plugins/ next to the binary */
    char *static_dir; /* NULL: no static files */

    /* origins: each entry "*", a full origin "https://chat.example.com",
     * "http://localhost:*" (any port) or a host pattern as in Django's
     * ALLOWED_HOSTS ("example.com", ".example.com" for subdomains). */
    char **allowed_origins;
    size_t n_allowed_origins;
    int require_origin; /* yes/no, default no */

    /* The role names users may have besides "user" and "admin" (the
     * plugins give them their meaning), each ch_role_name_ok; none by
     * default. */
    char **roles;
    size_t n_roles;

    char *layer;                 /* "memory" (default) or Redis URLs, ' '-separated */
    char *store;                 /* "none" (default), sqlite:PATH, postgresql://... */
    char *store_key_file;        /* message keys; NULL: next to a sqlite file */
    char *store_key_env;         /* or the variable holding them */
    uint64_t store_queue_max;    /* 0: the store's default (10000) */
    uint64_t store_batch_max;    /* 0: the store's default (256) */
    uint64_t store_commit_delay; /* ms a batch may wait for more calls (0: none) */
    uint64_t store_connections;  /* PostgreSQL: connections, by room (1 to 16) */

    /* authentication (auth.h, docs/api.md) */
    char *auth_secret_file;          /* token secret; NULL: next to a sqlite store */
    char *auth_secret_env;           /* or the variable holding it */
    uint64_t auth_token_ttl;         /* 24h, milliseconds */
    uint64_t auth_pbkdf2_iterations; /* 260000 */
    uint64_t auth_login_failures;    /* 5 per account before delays; 0: off */
    uint64_t auth_login_ip_failures; /* 20 per client address; 0: off */
    uint64_t auth_login_delay;       /* 1s: the first delay, doubled per failure */
    uint64_t auth_login_max_delay;   /* 15m: the cap, and the quiet time that forgets */
    uint64_t auth_login_table;       /* 10000 accounts and addresses remembered */
    uint64_t auth_hash_threads;      /* 2 password hashes at once */
    uint64_t auth_hash_queue;        /* 64 waiting; beyond: 503 */
    char *auth_service_token_file;   /* the service token, if any */
    char *auth_service_token_env;

    /* Django logins (runtime/django_auth.h, docs/django.md); off unless
     * django_database is set */
    char *django_database;        /* sqlite:PATH | postgresql://... */
    char *django_secret_key_file; /* SECRET_KEY: the file ... */
    char *django_secret_key_env;  /* ... or the variable holding it */
    char *django_jwt_key_file;    /* SimpleJWT's SIGNING_KEY; NULL: SECRET_KEY */
    char *django_jwt_key_env;
    char *django_session_engine; /* "db" (default) or "signed_cookies" */
    char *django_session_cookie; /* SESSION_COOKIE_NAME; NULL: "sessionid" */
    uint64_t django_session_age; /* SESSION_COOKIE_AGE, 2 weeks (ms) */

    ch_route_cfg *routes;
    size_t n_routes;

    /* plugin settings: {"plugin": {"key": "value", ...}, ...} (owned) */
    json_t *plugin_settings;

    /* limits */
    uint64_t max_message_size;     /* 1mb: largest WebSocket message in */
    uint64_t max_outbound_bytes;   /* 4mb: queued towards one slow client */
    uint64_t outbound_pause_bytes; /* 1mb (at most half the above): stop reading */
    uint64_t max_request_line;     /* 8kb */
    uint64_t max_header_bytes;     /* 16kb, all header lines together */
    uint64_t max_headers;          /* 100 header fields */
    uint64_t max_body_size;        /* 1mb for HTTP request bodies */
    uint64_t attachment_max_size;  /* 10mb: one upload (streamed, not max_body_size) */
    /* Media types an upload may have, comma-separated; a family is its
     * prefix and a star (docs/config.md).  NULL: every image type,
     * application/pdf and text/plain. */
    char *attachment_types;
    /* A folder for the uploads' sealed chunks (store_files.c); NULL: in
     * the store's database. */
    char *attachment_dir;
    uint64_t attachment_sweep_interval; /* 10m: unattached uploads dropped */
    uint64_t max_connections;           /* 0: limited only by file descriptors */
    uint64_t max_connections_per_user;  /* 100 WebSockets of one user; 0: off */
    uint64_t max_connections_per_ip;    /* 0 (off): WebSockets of one address */
    uint64_t handshake_rate_per_ip;     /* 0 (off): handshakes a second, per address */
    /* Peers whose X-Forwarded-For / X-Real-IP / X-Forwarded-Proto name
     * the client (addresses or CIDR blocks, proxy.h); none: the peer is
     * the client. */
    ch_cidr *trusted_proxies;
    size_t n_trusted_proxies;

    /* timeouts, milliseconds; 0 disables where noted */
    uint64_t handshake_timeout;   /* 5s: TCP accept to accepted WebSocket */
    uint64_t keepalive_timeout;   /* 75s: idle HTTP keep-alive connection */
    uint64_t idle_timeout;        /* 0 (off): WebSocket with no frame in */
    uint64_t ping_interval;       /* 20s: server ping after this long idle */
    uint64_t ping_timeout;        /* 30s: no pong -> connection dropped */
    uint64_t shutdown_timeout;    /* 10s: grace for clients on SIGTERM */
    uint64_t group_expiry;        /* 86400s, as channels_redis */
    uint64_t plugin_http_timeout; /* 30s: a plugin endpoint's answer, else 504 */
    uint64_t send_timeout;        /* 30s: paused with no write progress -> closed */
    uint64_t presence_interval;   /* 1s: at most one presence diff per group */
    uint64_t presence_heartbeat;  /* 5s: each process re-announces its users */
    uint64_t presence_expiry;     /* 15s: a process not heard from leaves */

    int verbosity; /* 0..3, default 1 */

    uint64_t workers; /* worker processes; 0 (default): auto, one per core */
} ch_config;

enum { CH_LOG_FORMAT_TEXT = 0, CH_LOG_FORMAT_JSON = 1 };

#define CH_WORKERS_MAX 64 /* the most `workers` accepts */

/* Fill *cfg with the defaults above.  Returns 0 or -ENOMEM. */
int ch_config_init(ch_config *cfg);

/* Free everything *cfg owns (the struct itself is the caller's). */
void ch_config_free(ch_config *cfg);

/* Parse the file at `path` into *cfg (on top of what is there).  Problems
 * are appended to *diag.  Returns the number of problems added (0: fine);
 * a file that cannot be read is one problem "PATH: cannot open: reason". */
int ch_config_load_file(ch_config *cfg, const char *path, ch_diag *diag);

/* Parse one directive from text, e.g. ("route", "/ws/x/ echo") as given
 * by --route, with `where` naming it in messages ("--route").  Returns the
 * number of problems added. */
int ch_config_apply(ch_config *cfg, const char *directive, const char *value, const char *where,
                    ch_diag *diag);

/* Non-zero if `name` is a known directive (for command-line parsing). */
int ch_config_is_directive(const char *name);

/* Split one line into arguments (quotes, escapes, # comments).  On
 * success returns the count and sets *argv to a malloc'd NULL-terminated
 * array of malloc'd strings (free with ch_config_free_argv); on a syntax
 * error returns -1 and writes the reason into err. */
int ch_config_split(const char *line, char ***argv, char *err, size_t errlen);
void ch_config_free_argv(char **argv);

/* Split "ADDR:PORT" or "[V6ADDR]:PORT" (borrowed) into host (copied into
 * host[hostlen]) and port; the address must be numeric.  Returns 0 or
 * -1. */
int ch_config_split_addr(const char *a, char *host, size_t hostlen, int *port);

/* Non-zero if s (borrowed) is a role name: 1 to 32 of [a-z0-9_-]. */
int ch_role_name_ok(const char *s);

/* Non-zero if a user may have role s (borrowed) under cfg: "user",
 * "admin" (the one role the host gives a meaning: service-level access),
 * or one that cfg's roles directive names. */
int ch_config_role_known(const ch_config *cfg, const char *s);

/* Parse "5s", "500ms", "2m", "1h", "30" (seconds) into milliseconds.
 * Returns 0 or -1. */
int ch_parse_duration(const char *s, uint64_t *ms);

/* Parse "512", "64kb", "1mb", "1g" into bytes.  Returns 0 or -1. */
int ch_parse_size(const char *s, uint64_t *bytes);

/* Parse a plain decimal number no larger than max into *v.  Returns 0 or
 * -1 (malformed, or over max). */
int ch_config_parse_uint(const char *s, uint64_t max, uint64_t *v);

/* Paths (config_syntax.c).  A new malloc'd absolute path: rel if it is
 * absolute (or base is NULL), else base/rel; NULL out of memory. */
char *ch_config_resolve(const char *base, const char *rel);
/* The absolute directory (malloc'd) that relative paths in `file` are
 * resolved against: the file's own, or the current one if file is NULL;
 * NULL if it cannot be found. */
char *ch_config_base_dir(const char *file);

#endif
