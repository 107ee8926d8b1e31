/*
 * store_pg_conn.c -- the PostgreSQL engine's connections and the values
 * that cross them: the blocking connection that applies the migrations
 * (at start-up, where it then becomes the loop's first connection, and
 * for `chanhost migrate`); the non-blocking connection the loop uses: a
 * host name resolved with uv_getaddrinfo (libpq would block in
 * getaddrinfo), PQconnectStart and PQconnectPoll driven by a uv_poll
 * handle on PQsocket, then non-blocking pipeline mode, and on loss the
 * batch in flight put back in the queue and a reconnect after a capped
 * exponential backoff; and the conversion of bind parameters (JSON to
 * libpq text) and of result rows (PGresult to JSON), and the reading of
 * a failed statement's SQLSTATE.  What runs on the connection is in
 * store_pg.c.
 */
#include "store_pg.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"

/* Serialises migrations of several hosts starting at once ("chanhost"). */
#define MIGRATION_LOCK "7164795175298740084"
#define MAX_ADDRS 8

/* Copy a libpq message into out on one line: newlines and tabs become
 * spaces, runs of spaces collapse, ends are trimmed. */
static void tidy(char *out, size_t len, const char *msg)
{
    size_t n = 0;

    for (const char *p = msg ? msg : ""; *p && n + 1 < len; p++) {
        char c = *p;

        if (c == '\n' || c == '\t' || c == '\r')
            c = ' ';
        if (c == ' ' && (n == 0 || out[n - 1] == ' '))
            continue;
        out[n++] = c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* libpq's notices (NOTICE, WARNING from the server) go to our log at
 * debug level instead of stderr. */
static void on_notice(void *arg, const char *msg)
{
    char line[256];

    (void)arg;
    tidy(line, sizeof line, msg);
    ch_log(CH_LOG_DEBUG, "postgresql: %s", line);
}

/* ---- the blocking connection: migrations --------------------------------- */

/* Run sql; 0 if it gave want, else -1 with the server's message in err. */
static int exec_want(PGconn *c, const char *sql, ExecStatusType want, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int ok = r && PQresultStatus(r) == want;

    if (!ok)
        tidy(err, errlen, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

/* The schema version recorded in schema_migrations, or -1 (err set). */
static int schema_version(PGconn *c, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) AS version FROM schema_migrations");
    int v = -1;

    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoi(PQgetvalue(r, 0, 0));
    else
        tidy(err, errlen, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return v;
}

/* Record migration `version` as applied now. */
static int record_version(PGconn *c, int version, char *err, size_t errlen)
{
    struct timeval tv;
    char v[16], at[24];
    const char *vals[2] = {v, at};
    PGresult *r;
    int ok;

    gettimeofday(&tv, NULL);
    snprintf(v, sizeof v, "%d", version);
    snprintf(at, sizeof at, "%lld", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    r = PQexecParams(c, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", 2,
                     NULL, vals, NULL, NULL, 0);
    ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        tidy(err, errlen, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -1;
}

/*
 * Inside one transaction, under an advisory lock (so that hosts starting
 * together apply each migration once): create the bookkeeping table, read
 * the version, apply what is missing.  *version: the version after;
 * *applied: how many were applied.  -1 with err set on failure (the
 * transaction is then rolled back: nothing is half-applied).
 */
static int apply_migrations(PGconn *c, int *version, int *applied, char *err, size_t errlen)
{
    size_t n;
    const char *const *migs = ch_store_migrations(CH_STORE_PG, &n);
    char why[400];
    int v, at = 0;

    *applied = 0;
    if (exec_want(c, "BEGIN", PGRES_COMMAND_OK, why, sizeof why) != 0 ||
        exec_want(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", PGRES_TUPLES_OK, why,
                  sizeof why) != 0 ||
        exec_want(c, CH_STORE_MIGRATIONS_TABLE, PGRES_COMMAND_OK, why, sizeof why) != 0 ||
        (v = schema_version(c, why, sizeof why)) < 0)
        goto fail;
    if ((size_t)v > n) {
        snprintf(why, sizeof why,
                 "the database's schema is at version %d, newer than this "
                 "host's %zu",
                 v, n);
        goto fail;
    }
    for (; (size_t)v < n; v++, (*applied)++) {
        at = v + 1;
        if (exec_want(c, migs[v], PGRES_COMMAND_OK, why, sizeof why) != 0 ||
            record_version(c, v + 1, why, sizeof why) != 0)
            goto fail;
    }
    at = 0;
    if (exec_want(c, "COMMIT", PGRES_COMMAND_OK, why, sizeof why) != 0)
        goto fail;
    *version = v;
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    if (at)
        snprintf(err, errlen, "postgresql: migration %d: %s", at, why);
    else
        snprintf(err, errlen, "postgresql: %s", why);
    return -1;
}

/* The connection parameters: ours (keepalives, so that a vanished server
 * is noticed while idle; a name in pg_stat_activity), then the URL's,
 * which win; then, if given, resolved host and hostaddr lists.  kw and
 * val have room for 11 entries. */
static void conn_params(const char **kw, const char **val, const char *url, const char *hosts,
                        const char *addrs, int blocking)
{
    static const char *const k[] =
        {"fallback_application_name", "keepalives",       "keepalives_idle", "keepalives_interval",
         "keepalives_count",          "tcp_user_timeout", "connect_timeout"};
    static const char *const v[] = {"chanhost", "1", "15", "5", "3", "30000", "10"};
    /* connect_timeout (last) only for the blocking connect: libpq ignores it
     * in PQconnectPoll, where our own timer bounds the connect */
    size_t n = 0;

    for (; n < sizeof k / sizeof k[0] - !blocking; n++) {
        kw[n] = k[n];
        val[n] = v[n];
    }
    kw[n] = "dbname";
    val[n++] = url;
    if (hosts) {
        kw[n] = "host";
        val[n++] = hosts;
        kw[n] = "hostaddr";
        val[n++] = addrs;
    }
    kw[n] = val[n] = NULL;
}

/*
 * Connect to url blocking (bounded by a 10 s connect timeout unless the
 * URL sets its own), apply the missing migrations.  With keep NULL the
 * connection is closed; otherwise it is handed over in *keep (open uses
 * it as the loop's first connection).  version NULL: connect only, no
 * migrations (a foreign database, store.h).  For open() at start-up and for
 * `chanhost migrate`; never on the loop.
 */
int ch_pg_migrate_blocking(const char *url, int *version, int *applied, PGconn **keep, char *err,
                           size_t errlen)
{
    const char *kw[11], *val[11];
    PGconn *c;
    char why[300];
    int rc;

    conn_params(kw, val, url, NULL, NULL, 1);
    c = PQconnectdbParams(kw, val, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        tidy(why, sizeof why, c ? PQerrorMessage(c) : "out of memory");
        snprintf(err, errlen, "postgresql: %s", why);
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, on_notice, NULL);
    rc = version ? apply_migrations(c, version, applied, err, errlen) : 0;
    if (rc == 0 && keep)
        *keep = c;
    else
        PQfinish(c);
    return rc;
}

/* ---- the non-blocking connection ----------------------------------------- */

/* Non-zero if host is a name that libpq would resolve with a blocking
 * getaddrinfo: one host, not a socket directory, not a numeric address. */
static int needs_dns(const char *host)
{
    unsigned char buf[16];

    if (!host || !*host || host[0] == '/' || host[0] == '@' || strchr(host, ','))
        return 0;
    return inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1;
}

/*
 * Check the URL with libpq's parser (err gets its complaint).  With
 * dns_host given, *dns_host is set to a copy of the host name if it must
 * be resolved on the loop (one named host, no hostaddr), else NULL.
 */
int ch_pg_check_url(const char *url, char **dns_host, char *err, size_t errlen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    const char *host = NULL, *hostaddr = NULL;
    char why[256];

    if (!opts) {
        tidy(why, sizeof why, msg ? msg : "out of memory");
        snprintf(err, errlen, "postgresql: bad URL: %s", why);
        PQfreemem(msg);
        return -1;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    if (dns_host)
        *dns_host = (!hostaddr || !*hostaddr) && needs_dns(host) ? strdup(host) : NULL;
    PQconninfoFree(opts);
    return 0;
}

static void on_io(uv_poll_t *h, int status, int events);

static void free_handle(uv_handle_t *h) { free(h); }

/* Stop watching the socket (the handle is freed when libuv is done). */
static void unwatch(ch_pg *pg)
{
    if (pg->poll) {
        uv_close((uv_handle_t *)pg->poll, free_handle);
        pg->poll = NULL;
    }
    pg->poll_events = 0;
}

/* Watch PQsocket(conn) for events with a fresh handle: during the
 * connection sequence libpq may close its socket and open another, which
 * can get the same number, so a handle is never reused across
 * PQconnectPoll calls.  -1 if the socket cannot be watched. */
static int watch_new(ch_pg *pg, int events)
{
    int fd = PQsocket(pg->conn);

    unwatch(pg);
    if (fd < 0 || !(pg->poll = malloc(sizeof *pg->poll)))
        return -1;
    if (uv_poll_init(pg->loop, pg->poll, fd) != 0) {
        free(pg->poll);
        pg->poll = NULL;
        return -1;
    }
    pg->poll->data = pg;
    pg->poll_events = events;
    return uv_poll_start(pg->poll, events, on_io) == 0 ? 0 : -1;
}

/* Change the events watched on the established connection's socket. */
static void watch_events(ch_pg *pg, int events)
{
    if (pg->poll && events != pg->poll_events) {
        pg->poll_events = events;
        uv_poll_start(pg->poll, events, on_io);
    }
}

/* Drop the connection (if any) and forget what was prepared on it. */
static void drop_conn(ch_pg *pg)
{
    unwatch(pg);
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = NULL;
    ch_hmap_free(&pg->prepared);
}

static void on_timer(uv_timer_t *t);

/*
 * The connection is gone or could not be made (why: the reason; it may
 * point into the connection's own error buffer, so it is copied first).
 * Mark the engine down, put the batch in flight back in the queue, and
 * try again after the backoff, which doubles up to its cap.
 */
void ch_pg_conn_lost(ch_pg *pg, const char *why)
{
    char msg[sizeof pg->last_error];
    int was_ready = pg->state == CH_PG_READY;

    tidy(msg, sizeof msg, why && *why ? why : "connection failed");
    drop_conn(pg);
    pg->state = CH_PG_DOWN;
    memcpy(pg->last_error, msg, sizeof msg);
    if (was_ready)
        ch_log(CH_LOG_WARN, "%s: connection lost (%s); reconnecting", pg->tag, msg);
    else
        ch_log(CH_LOG_DEBUG, "%s: connect failed (%s); next try in %u ms", pg->tag, msg,
               pg->backoff_ms);
    ch_pg_batch_requeue(pg, msg);
    if (!pg->finished) {
        uv_timer_start(&pg->timer, on_timer, pg->backoff_ms, 0);
        pg->backoff_ms = pg->backoff_ms * 2 > CH_PG_BACKOFF_MAX_MS ? CH_PG_BACKOFF_MAX_MS
                                                                   : pg->backoff_ms * 2;
    }
}

/* Connected: switch to non-blocking pipeline mode and start serving. */
static void on_connected(ch_pg *pg)
{
    pg->state = CH_PG_CONNECTING;
    if (PQsetnonblocking(pg->conn, 1) != 0 || PQenterPipelineMode(pg->conn) != 1 ||
        watch_new(pg, UV_READABLE) != 0) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return;
    }
    uv_timer_stop(&pg->timer);
    pg->state = CH_PG_READY;
    pg->backoff_ms = CH_PG_BACKOFF_MIN_MS;
    if (pg->ever_ready) {
        ch_store_count_reconnect(pg->s);
        ch_log(CH_LOG_INFO, "%s: reconnected", pg->tag);
    }
    pg->ever_ready = 1;
    pg->last_error[0] = '\0';
    ch_pg_on_ready(pg);
}

/* One step of the connection sequence (the socket is ready, or this is
 * the first step). */
static void connect_step(ch_pg *pg)
{
    switch (PQconnectPoll(pg->conn)) {
    case PGRES_POLLING_OK:
        on_connected(pg);
        return;
    case PGRES_POLLING_READING:
        if (watch_new(pg, UV_READABLE) == 0)
            return;
        break;
    case PGRES_POLLING_WRITING:
        if (watch_new(pg, UV_WRITABLE) == 0)
            return;
        break;
    default:
        break;
    }
    ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
}

/* Start libpq's connection sequence; hosts/addrs (or NULL): the resolved
 * addresses, as libpq's comma-separated host and hostaddr lists. */
static void libpq_start(ch_pg *pg, const char *hosts, const char *addrs)
{
    const char *kw[11], *val[11];

    conn_params(kw, val, pg->url, hosts, addrs, 0);
    pg->conn = PQconnectStartParams(kw, val, 1);
    if (!pg->conn || PQstatus(pg->conn) == CONNECTION_BAD) {
        ch_pg_conn_lost(pg, pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(pg->conn, on_notice, NULL);
    if (watch_new(pg, UV_WRITABLE) != 0)
        ch_pg_conn_lost(pg, "cannot watch the socket");
}

/* Append address a to addrs and the host name to hosts (libpq's
 * matching comma-separated lists), if both fit. */
static void add_addr(char *addrs, char *hosts, size_t len, const char *host,
                     const struct sockaddr *a)
{
    char name[64] = "";
    size_t na = strlen(addrs), nh = strlen(hosts);

    if (a->sa_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)a, name, sizeof name);
    else if (a->sa_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)a, name, sizeof name);
    if (!*name || na + strlen(name) + 2 > len || nh + strlen(host) + 2 > len)
        return;
    snprintf(addrs + na, len - na, "%s%s", na ? "," : "", name);
    snprintf(hosts + nh, len - nh, "%s%s", nh ? "," : "", host);
}

/* The host name is resolved: connect to its addresses in turn (libpq
 * tries each pair of host and hostaddr, as it would have itself). */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    ch_pg *pg = req->data;
    char addrs[MAX_ADDRS * 48] = "", hosts[MAX_ADDRS * 48] = "", why[200];
    int k = 0;

    pg->dns_busy = 0;
    if (pg->finished || pg->state != CH_PG_CONNECTING || pg->conn) {
        uv_freeaddrinfo(res);
        if (pg->finished)
            ch_pg_release(pg);
        return;
    }
    for (struct addrinfo *a = status == 0 ? res : NULL; a && k < MAX_ADDRS; a = a->ai_next, k++)
        add_addr(addrs, hosts, sizeof addrs, pg->dns_host, a->ai_addr);
    uv_freeaddrinfo(res);
    ch_log(CH_LOG_DEBUG, "postgresql: %s is %s", pg->dns_host, *addrs ? addrs : "unknown");
    if (!*addrs) {
        snprintf(why, sizeof why, "could not translate host name \"%s\": %s", pg->dns_host,
                 status ? uv_strerror(status) : "no address");
        ch_pg_conn_lost(pg, why);
        return;
    }
    libpq_start(pg, hosts, addrs);
}

/* Take conn (open's blocking connection, already made) as the loop's
 * connection. */
void ch_pg_conn_adopt(ch_pg *pg, PGconn *conn)
{
    pg->conn = conn;
    on_connected(pg);
}

/*
 * Begin connecting (after the backoff): resolve the host name on libuv's
 * thread pool if the URL names one, then let libpq connect.
 * A connect that has not finished after CH_PG_CONNECT_TIMEOUT_MS is
 * abandoned (libpq ignores connect_timeout in non-blocking mode).
 */
void ch_pg_conn_start(ch_pg *pg)
{
    struct addrinfo hints;

    pg->state = CH_PG_CONNECTING;
    uv_timer_start(&pg->timer, on_timer, CH_PG_CONNECT_TIMEOUT_MS, 0);
    if (!pg->dns_host) {
        libpq_start(pg, NULL, NULL);
        return;
    }
    if (pg->dns_busy)
        return; /* the lookup still running serves this attempt */
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    pg->dns.data = pg;
    if (uv_getaddrinfo(pg->loop, &pg->dns, on_resolved, pg->dns_host, NULL, &hints) == 0)
        pg->dns_busy = 1;
    else
        ch_pg_conn_lost(pg, "cannot start resolving the host name");
}

/* The backoff is over (DOWN: connect again), or a connect took too long
 * (CONNECTING: give up on it). */
static void on_timer(uv_timer_t *t)
{
    ch_pg *pg = t->data;

    if (pg->state == CH_PG_DOWN)
        ch_pg_conn_start(pg);
    else if (pg->state == CH_PG_CONNECTING)
        ch_pg_conn_lost(pg, "timeout while connecting");
}

/* Send what libpq has buffered; watch for writability while some is
 * left.  -1 if the connection failed (it is then down). */
int ch_pg_flush(ch_pg *pg)
{
    int r = PQflush(pg->conn);

    if (r < 0) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    watch_events(pg, UV_READABLE | (r ? UV_WRITABLE : 0));
    return 0;
}

/*
 * The socket is ready (or failed: libuv reports a socket error as
 * status < 0).  Connecting: let libpq take the next step, or find out
 * what the error was and try the host's next address.  Connected: read
 * what came, send what is left, and handle every result that arrived,
 * even when the connection failed right after them: a COMMIT's result
 * that made it must count, or the batch would run twice.
 */
static void on_io(uv_poll_t *h, int status, int events)
{
    ch_pg *pg = h->data;
    int ok = 1;

    if (pg->state == CH_PG_CONNECTING) {
        connect_step(pg);
        return;
    }
    if (status < 0 || (events & UV_READABLE))
        ok = PQconsumeInput(pg->conn);
    if (ok && status == 0 && (pg->poll_events & UV_WRITABLE) && ch_pg_flush(pg) != 0)
        return;
    if (ch_pg_read_results(pg) == 0 && pg->conn && (!ok || status < 0))
        ch_pg_conn_lost(pg, ok ? uv_strerror(status) : PQerrorMessage(pg->conn));
}

/*
 * For close: drop the connection and stop connecting.  A host name
 * lookup still running is cancelled; its callback is then one more that
 * the engine waits for (pg->closed_handles) before it frees itself.
 */
void ch_pg_conn_shutdown(ch_pg *pg)
{
    drop_conn(pg);
    pg->state = CH_PG_DOWN;
    if (pg->dns_busy) {
        pg->closed_handles++;
        uv_cancel((uv_req_t *)&pg->dns);
    }
}

/* ---- values crossing the connection -------------------------------------- */

/* PostgreSQL type OIDs that come back as JSON integers. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

/*
 * The parameters of a bind hook as text for libpq: a new array of n
 * pointers followed by a 32-byte cell per parameter for numbers (strings
 * point into the JSON, which must outlive the send).  Booleans are 1/0,
 * null is SQL NULL.  NULL for an object or array parameter (req failed).
 */
const char **ch_pg_text_params(ch_store_req *req, json_t *params, int *n)
{
    size_t cnt = json_array_size(params), i;
    const char **vals = malloc(cnt * (sizeof *vals + 32) + 1);
    char *num = (char *)(vals + cnt);
    json_t *v;

    if (!vals) {
        ch_store_fail(req, CH_STORE_EIO, "out of memory");
        return NULL;
    }
    json_array_foreach(params, i, v)
    {
        char *cell = num + 32 * i;

        vals[i] = cell;
        if (json_is_null(v))
            vals[i] = NULL;
        else if (json_is_string(v))
            vals[i] = json_string_value(v);
        else if (json_is_boolean(v))
            vals[i] = json_is_true(v) ? "1" : "0";
        else if (json_is_integer(v))
            snprintf(cell, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            snprintf(cell, 32, "%.17g", json_real_value(v));
        else {
            ch_store_fail(req, CH_STORE_EINVAL, "parameter %zu: cannot bind a JSON %s", i + 1,
                          json_is_object(v) ? "object" : "array");
            free(vals);
            return NULL;
        }
    }
    *n = (int)cnt;
    return vals;
}

/* Rows as the ops expect them: an array of objects keyed by column name;
 * int2/int4/int8 and bool as integers, NULL as null, the rest as
 * strings.  New reference, or NULL (out of memory or bad UTF-8). */
json_t *ch_pg_rows_json(const PGresult *res)
{
    int nt = PQntuples(res), nf = PQnfields(res);
    json_t *rows = json_array(), *row, *v;

    for (int r = 0; rows && r < nt; r++) {
        if (json_array_append_new(rows, row = json_object()) != 0)
            goto fail;
        for (int f = 0; f < nf; f++) {
            const char *s = PQgetvalue(res, r, f);
            Oid t = PQftype(res, f);

            if (PQgetisnull(res, r, f))
                v = json_null();
            else if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2)
                v = json_integer(strtoll(s, NULL, 10));
            else if (t == OID_BOOL)
                v = json_integer(s[0] == 't');
            else
                v = json_stringn(s, (size_t)PQgetlength(res, r, f));
            if (json_object_set_new(row, PQfname(res, f), v) != 0)
                goto fail;
        }
    }
    return rows;
fail:
    json_decref(rows);
    return NULL;
}

/* An error that means the connection is unusable: libpq's own (no
 * SQLSTATE), connection exceptions, the server shutting down. */
int ch_pg_conn_level(const ch_pg *pg, const char *state)
{
    return PQstatus(pg->conn) != CONNECTION_OK || !state ||
           (strncmp(state, "08", 2) == 0 && strcmp(state, "08P01") != 0) ||
           strncmp(state, "57P", 3) == 0;
}

/* A store status for a failed statement, by SQLSTATE (as the SQLite
 * engine maps its constraint errors). */
int ch_pg_map_error(const char *state)
{
    if (strcmp(state, "23505") == 0)
        return CH_STORE_EEXIST; /* unique_violation */
    if (strcmp(state, "23503") == 0)
        return CH_STORE_ENOENT; /* foreign_key_violation */
    if (strcmp(state, "23502") == 0 || strcmp(state, "23514") == 0)
        return CH_STORE_EINVAL; /* not_null_violation, check_violation */
    return CH_STORE_EIO;
}
