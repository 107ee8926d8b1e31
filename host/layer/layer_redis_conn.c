/*
 * layer_redis_conn.c -- owns the Redis backend's connections: hiredis
 * asynchronous contexts on the libuv loop, connecting (unix socket,
 * address, or an asynchronous name lookup first), the AUTH / SELECT / PING
 * handshake, and reconnection with capped exponential backoff; for
 * redis-sentinel:// urls asking a sentinel for the master first; plus the
 * blocking probe used by --check (ch_layer_redis_probe).
 *
 * hiredis 0.14's libuv adapter drops poll errors: libuv reports POLLERR as
 * status UV_EBADF and stops the handle, and the adapter returns without
 * telling hiredis, so a refused connect or a reset connection would never
 * be noticed (verified: a connect to a closed port never calls back).
 * redisLibuvAttach is used as is and its four event hooks are replaced by
 * ones whose poll callback hands the error to hiredis, as hiredis 1.x
 * does.  Host names are resolved with uv_getaddrinfo because hiredis's own
 * connect would block in getaddrinfo.  Every handle is unref'd: a
 * connection never keeps the loop alive.
 */
#include "layer_redis.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RC_BACKOFF_MIN_MS 100
#define RC_BACKOFF_MAX_MS 5000
#define RC_READY_TIMEOUT_MS 5000
#define RC_PROBE_TIMEOUT_S 2

/* The handshake's steps; their addresses are the commands' privdata. */
static const char HS_AUTH[] = "AUTH", HS_SELECT[] = "SELECT", HS_ROLE[] = "ROLE",
                  HS_PING[] = "PING";

struct ch_rl_dns {
    uv_getaddrinfo_t req;
    ch_rl_conn *c; /* NULL once the connection gave up on it */
};

static void rc_connect(ch_rl_conn *c);
static void rc_lost(ch_rl_conn *c, const char *why);

/* ---- hiredis on libuv, with poll errors passed on ------------------- */

/* On an error libuv has stopped the handle: let hiredis try the events it
 * waits for (it then meets the error and disconnects), and re-arm. */
static void rc_poll(uv_poll_t *h, int status, int events)
{
    redisLibuvEvents *p = h->data;

    if (status < 0)
        events = p->events;
    if (p->context && (events & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
    if (status < 0 && p->context && p->events)
        uv_poll_start(&p->handle, p->events, rc_poll);
}

static void rc_poll_set(redisLibuvEvents *p, int add, int ev)
{
    p->events = add ? p->events | ev : p->events & ~ev;
    if (p->events)
        uv_poll_start(&p->handle, p->events, rc_poll);
    else
        uv_poll_stop(&p->handle);
}

static void rc_add_read(void *p) { rc_poll_set(p, 1, UV_READABLE); }
static void rc_del_read(void *p) { rc_poll_set(p, 0, UV_READABLE); }
static void rc_add_write(void *p) { rc_poll_set(p, 1, UV_WRITABLE); }
static void rc_del_write(void *p) { rc_poll_set(p, 0, UV_WRITABLE); }

/* Attach ac to the loop with the stock adapter, swap in the hooks above
 * and unref the poll handle.  Returns 0 or -1. */
static int rc_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    redisLibuvEvents *p;

    if (redisLibuvAttach(ac, loop) != REDIS_OK)
        return -1;
    p = ac->ev.data;
    ac->ev.addRead = rc_add_read;
    ac->ev.delRead = rc_del_read;
    ac->ev.addWrite = rc_add_write;
    ac->ev.delWrite = rc_del_write;
    uv_unref((uv_handle_t *)&p->handle);
    return 0;
}

/* ---- the handshake -------------------------------------------------- */

static void on_rc_timer(uv_timer_t *t);

/* Drop the connection from the timer (a context cannot be freed from
 * inside its own callback) for the reason in c->why, which reaches the
 * owner's WARN line and state. */
static void rc_doom(ch_rl_conn *c)
{
    c->doomed = 1;
    uv_timer_start(&c->timer, on_rc_timer, 0, 0);
}

/* AUTH, SELECT, ROLE or PING refused: drop the connection. */
static void rc_refused(ch_rl_conn *c, const char *step, const char *msg)
{
    int n = (int)strlen(msg);

    if (n && msg[n - 1] == '.')
        n--;
    snprintf(c->why, sizeof c->why, "refused %s: %.*s", step, n, msg);
    rc_doom(c);
}

/* Non-zero if reply is ROLE's answer of a master. */
static int role_is_master(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
           reply->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(reply->element[0]->str, "master") == 0;
}

/* A handshake reply: an error drops the connection; PING's answer makes
 * it ready and tells the owner. */
static void on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_conn *c = ac->data;
    redisReply *reply = r;
    const char *step = privdata;

    if (!reply || c->closed || c->doomed)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        rc_refused(c, step, reply->str);
        return;
    }
    if (step == HS_ROLE && !role_is_master(reply)) {
        rc_refused(c, step, "the server the sentinel named is not a master (yet)");
        return;
    }
    if (step != HS_PING)
        return;
    c->st = CH_RL_READY;
    uv_timer_stop(&c->timer);
    c->backoff_ms = RC_BACKOFF_MIN_MS;
    if (c->ever_ready)
        c->reconnects++;
    c->ever_ready = 1;
    c->on_ready(c, NULL);
}

/* Queue AUTH, SELECT and PING (hiredis sends them once connected). */
static void rc_handshake(ch_rl_conn *c)
{
    const ch_rl_url *u = c->url;

    if (u->password[0] && u->user[0])
        redisAsyncCommand(c->ac, on_handshake, (void *)HS_AUTH, "AUTH %s %s", u->user, u->password);
    else if (u->password[0])
        redisAsyncCommand(c->ac, on_handshake, (void *)HS_AUTH, "AUTH %s", u->password);
    if (u->db)
        redisAsyncCommand(c->ac, on_handshake, (void *)HS_SELECT, "SELECT %d", u->db);
    if (u->n_sentinels)
        redisAsyncCommand(c->ac, on_handshake, (void *)HS_ROLE, "ROLE");
    redisAsyncCommand(c->ac, on_handshake, (void *)HS_PING, "PING");
}

/* ---- asking a sentinel ---------------------------------------------- */

/* Take the master's address from a SENTINEL get-master-addr-by-name
 * reply into host (hostlen bytes) and *port.  Returns 0, or -1 if the
 * reply is not [host, port]. */
static int master_from(const redisReply *reply, char *host, size_t hostlen, int *port)
{
    long v;
    char *end;

    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING || reply->element[0]->len >= hostlen ||
        reply->element[0]->len == 0)
        return -1;
    v = strtol(reply->element[1]->str, &end, 10);
    if (*end || v < 1 || v > 65535)
        return -1;
    memcpy(host, reply->element[0]->str, reply->element[0]->len + 1);
    *port = (int)v;
    return 0;
}

/* Why a sentinel's reply named no master, into out. */
static void sentinel_why(char *out, size_t outlen, const ch_rl_sentinel *s, const char *master,
                         const redisReply *reply)
{
    snprintf(out, outlen, "sentinel at %s:%d %s%.60s", s->host, s->port,
             reply->type == REDIS_REPLY_ERROR ? "refused: "
             : reply->type == REDIS_REPLY_NIL ? "does not know master "
                                              : "gave no address for ",
             reply->type == REDIS_REPLY_ERROR ? reply->str : master);
}

/* The sentinel answered: connect to the master it names (the sentinel's
 * context closes once this callback returns), or drop and ask the next
 * sentinel. */
static void on_sentinel(redisAsyncContext *ac, void *r, void *privdata)
{
    ch_rl_conn *c = ac->data;
    const ch_rl_sentinel *s = &c->url->sentinels[c->sentinel];
    redisReply *reply = r;
    char where[sizeof c->last_master];

    (void)privdata;
    if (!reply || c->closed || c->doomed || c->ac != ac)
        return;
    if (master_from(reply, c->master, sizeof c->master, &c->master_port) != 0) {
        sentinel_why(c->why, sizeof c->why, s, c->url->master, reply);
        c->master[0] = '\0';
        rc_doom(c);
        return;
    }
    snprintf(where, sizeof where, strchr(c->master, ':') ? "[%s]:%d" : "%s:%d", c->master,
             c->master_port);
    if (strcmp(where, c->last_master) != 0)
        ch_log(CH_LOG_INFO, "channel layer: sentinel at %s:%d names %s as master %s (%s)", s->host,
               s->port, where, c->url->master, c->role);
    snprintf(c->last_master, sizeof c->last_master, "%s", where);
    c->ac = NULL;
    redisAsyncDisconnect(ac);
    rc_connect(c);
}

/* Ask the sentinel c->ac is connected to for the master's address. */
static void rc_ask(ch_rl_conn *c)
{
    redisAsyncCommand(c->ac, on_sentinel, NULL, "SENTINEL get-master-addr-by-name %s",
                      c->url->master);
}

/* ---- connecting ----------------------------------------------------- */

static void on_connect(const redisAsyncContext *ac, int status)
{
    ch_rl_conn *c = ac->data;

    if (status == REDIS_OK || c->closed || c->ac != ac)
        return;
    c->ac = NULL; /* hiredis frees it after this call */
    rc_lost(c, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    ch_rl_conn *c = ac->data;

    if (c->closed || c->ac != ac)
        return; /* freed by us */
    c->ac = NULL;
    rc_lost(c, status == REDIS_OK || !ac->errstr[0] ? "connection closed by redis" : ac->errstr);
}

/* Take a context from redisAsyncConnect*: attach it and start the
 * handshake, or give up on it (and retry later). */
static void rc_open(ch_rl_conn *c, redisAsyncContext *ac)
{
    char why[160];

    if (!ac || ac->err) {
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        rc_lost(c, why);
        return;
    }
    if (rc_attach(ac, c->loop) != 0) {
        redisAsyncFree(ac);
        rc_lost(c, "cannot watch the socket");
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (c->asking)
        rc_ask(c);
    else
        rc_handshake(c);
}

/* Name resolved: connect to the first IPv4 address, else the first one.
 * Frees the request. */
static void on_dns(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    ch_rl_dns *d = (ch_rl_dns *)req;
    ch_rl_conn *c = d->c;
    struct addrinfo *a = res;
    char ip[64] = "";

    free(d);
    if (c) {
        c->dns = NULL;
        while (a && a->ai_next && a->ai_family != AF_INET)
            a = a->ai_next;
        if (status == 0 && a && a->ai_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)a->ai_addr, ip, sizeof ip);
        else if (status == 0 && a && a->ai_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)a->ai_addr, ip, sizeof ip);
        if (ip[0])
            rc_open(c, redisAsyncConnect(ip, c->port));
        else
            rc_lost(c, status ? uv_strerror(status) : "host name has no address");
    }
    uv_freeaddrinfo(res);
}

/* Start connecting: unix socket, numeric address, or a name lookup first;
 * with sentinels, to the master one named, else to the next sentinel to
 * ask.  The ready deadline runs from here. */
static void rc_connect(ch_rl_conn *c)
{
    const ch_rl_url *u = c->url;
    const char *host = u->host;
    unsigned char addr[16];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    ch_rl_dns *d;

    c->st = CH_RL_CONNECTING;
    uv_timer_start(&c->timer, on_rc_timer, RC_READY_TIMEOUT_MS, 0);
    c->port = u->port;
    c->asking = u->n_sentinels && !c->master[0];
    if (c->asking) {
        host = u->sentinels[c->sentinel].host;
        c->port = u->sentinels[c->sentinel].port;
    } else if (u->n_sentinels) {
        host = c->master;
        c->port = c->master_port;
    }
    if (u->is_unix) {
        rc_open(c, redisAsyncConnectUnix(u->path));
    } else if (uv_inet_pton(AF_INET, host, addr) == 0 || uv_inet_pton(AF_INET6, host, addr) == 0) {
        rc_open(c, redisAsyncConnect(host, c->port));
    } else if (!(d = calloc(1, sizeof *d))) {
        rc_lost(c, "out of memory");
    } else if (uv_getaddrinfo(c->loop, &d->req, on_dns, host, NULL, &hints) != 0) {
        free(d);
        rc_lost(c, "cannot resolve the host name");
    } else {
        d->c = c;
        c->dns = d;
    }
}

/* Forget a name lookup in flight (its callback frees it). */
static void rc_forget_dns(ch_rl_conn *c)
{
    if (!c->dns)
        return;
    c->dns->c = NULL;
    uv_cancel((uv_req_t *)&c->dns->req);
    c->dns = NULL;
}

/* Forget c's context (freeing it unless hiredis is about to), retry after
 * the backoff (which then doubles), and tell the owner.  With sentinels:
 * the master is asked for again, and a sentinel that failed is followed
 * at once by the next one (the backoff applies once all were tried). */
static void rc_lost(ch_rl_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    uint64_t delay = c->backoff_ms;
    char reason[160];

    snprintf(reason, sizeof reason, "%s", why); /* why may live in ac */
    c->ac = NULL;
    c->st = CH_RL_IDLE;
    c->doomed = 0;
    rc_forget_dns(c);
    if (ac)
        redisAsyncFree(ac); /* pending callbacks run with NULL */
    if (c->url->n_sentinels) {
        if (c->asking && (c->sentinel = (c->sentinel + 1) % c->url->n_sentinels) != 0)
            delay = 0;
        c->asking = 0;
        c->master[0] = '\0';
    }
    ch_log(CH_LOG_DEBUG, "channel layer: redis %s connection to %s lost (%s); retry in %llu ms",
           c->role, c->url->where, reason, (unsigned long long)delay);
    uv_timer_start(&c->timer, on_rc_timer, delay, 0);
    if (delay)
        c->backoff_ms = c->backoff_ms * 2 < RC_BACKOFF_MAX_MS ? c->backoff_ms * 2
                                                              : RC_BACKOFF_MAX_MS;
    c->on_lost(c, reason);
}

/* Retry delay over, ready deadline passed, or a teardown asked for from
 * inside a hiredis callback. */
static void on_rc_timer(uv_timer_t *t)
{
    ch_rl_conn *c = t->data;

    if (c->doomed)
        rc_lost(c, c->why);
    else if (c->st == CH_RL_CONNECTING)
        rc_lost(c, "no answer within 5 s");
    else if (c->st == CH_RL_IDLE)
        rc_connect(c);
}

void ch_rl_conn_start(ch_rl_conn *c, uv_loop_t *loop, const ch_rl_url *url, const char *role,
                      void *owner, ch_rl_conn_fn on_ready, ch_rl_conn_fn on_lost)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->url = url;
    c->role = role;
    c->owner = owner;
    c->on_ready = on_ready;
    c->on_lost = on_lost;
    c->backoff_ms = RC_BACKOFF_MIN_MS;
    uv_timer_init(loop, &c->timer);
    uv_unref((uv_handle_t *)&c->timer);
    c->timer.data = c;
    rc_connect(c);
}

void ch_rl_conn_drop(ch_rl_conn *c, const char *why)
{
    if (c->st != CH_RL_IDLE)
        rc_lost(c, why);
}

void ch_rl_conn_close(ch_rl_conn *c)
{
    redisAsyncContext *ac = c->ac;

    c->closed = 1;
    rc_forget_dns(c);
    c->ac = NULL;
    if (ac)
        redisAsyncFree(ac);
    uv_close((uv_handle_t *)&c->timer, NULL);
}

/* ---- --check -------------------------------------------------------- */

/* Check a reply; on an error reply or a failure write why into out,
 * free the reply and return NULL.  The caller frees a returned reply. */
static redisReply *probe_check(redisContext *rc, const ch_rl_url *u, char *out, size_t outlen,
                               const char *what, redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return reply;
    snprintf(out, outlen, "redis at %s: %s failed: %s", u->where, what,
             reply           ? reply->str
             : rc->errstr[0] ? rc->errstr
                             : "no answer");
    freeReplyObject(reply);
    return NULL;
}

/* "redis_version:7.0.15\r\n" out of INFO's text, into ver. */
static void probe_version(const char *info, char *ver, size_t verlen)
{
    const char *v = strstr(info, "redis_version:");
    size_t n = 0;

    snprintf(ver, verlen, "unknown");
    if (!v)
        return;
    v += 14;
    while (v[n] && v[n] != '\r' && v[n] != '\n')
        n++;
    snprintf(ver, verlen, "%.*s", (int)n, v);
}

/* AUTH, SELECT and INFO server on a connected rc.  Returns 0 or -1. */
static int probe_session(redisContext *rc, const ch_rl_url *u, char *out, size_t outlen)
{
    redisReply *r;
    char ver[64];

    if (u->password[0]) {
        r = probe_check(rc, u, out, outlen, "AUTH",
                        u->user[0] ? redisCommand(rc, "AUTH %s %s", u->user, u->password)
                                   : redisCommand(rc, "AUTH %s", u->password));
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    if (u->db) {
        r = probe_check(rc, u, out, outlen, "SELECT", redisCommand(rc, "SELECT %d", u->db));
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    r = probe_check(rc, u, out, outlen, "INFO server", redisCommand(rc, "INFO server"));
    if (!r)
        return -1;
    probe_version(r->type == REDIS_REPLY_STRING ? r->str : "", ver, sizeof ver);
    freeReplyObject(r);
    snprintf(out, outlen, "redis at %s reachable, version %s", u->where, ver);
    return 0;
}

/* --check with sentinels: ask each in turn (blocking, 2 s each) for the
 * master and make *m a plain url to it.  Returns 0, or -1 with the
 * reason in out. */
static int probe_master(const ch_rl_url *u, ch_rl_url *m, char *out, size_t outlen)
{
    struct timeval tv = {RC_PROBE_TIMEOUT_S, 0};

    *m = *u;
    m->n_sentinels = 0;
    for (int i = 0; i < u->n_sentinels; i++) {
        const ch_rl_sentinel *s = &u->sentinels[i];
        redisContext *rc = redisConnectWithTimeout(s->host, s->port, tv);
        redisReply *r = NULL;
        int ok;

        if (rc && !rc->err && redisSetTimeout(rc, tv) == REDIS_OK)
            r = redisCommand(rc, "SENTINEL get-master-addr-by-name %s", u->master);
        ok = master_from(r, m->host, sizeof m->host, &m->port) == 0;
        if (ok)
            snprintf(m->where, sizeof m->where, "%.140s (master %.120s:%d)", u->where, m->host,
                     m->port);
        else if (r)
            sentinel_why(out, outlen, s, u->master, r);
        else
            snprintf(out, outlen, "sentinel at %s:%d unreachable: %s", s->host, s->port,
                     rc ? rc->errstr : "out of memory");
        freeReplyObject(r);
        redisFree(rc);
        if (ok)
            return 0;
    }
    return -1;
}

/* Probe one server (through its sentinels for a sentinel url) into out. */
static int probe_one(const ch_rl_url *url, char *out, size_t outlen)
{
    struct timeval tv = {RC_PROBE_TIMEOUT_S, 0};
    redisContext *rc;
    ch_rl_url m;
    const ch_rl_url *u = url;
    int ret;

    if (url->n_sentinels) {
        if (probe_master(url, &m, out, outlen) != 0)
            return -1;
        u = &m;
    }
    rc = u->is_unix ? redisConnectUnixWithTimeout(u->path, tv)
                    : redisConnectWithTimeout(u->host, u->port, tv);
    if (!rc || rc->err) {
        snprintf(out, outlen, "redis at %s unreachable: %s", u->where,
                 rc ? rc->errstr : "out of memory");
        redisFree(rc);
        return -1;
    }
    redisSetTimeout(rc, tv);
    ret = probe_session(rc, u, out, outlen);
    redisFree(rc);
    return ret;
}

/* Every server of the list, the results joined by "; ". */
int ch_layer_redis_probe(const char *url, char *out, size_t outlen)
{
    char part[512];
    ch_rl_url *urls;
    size_t len = 0;
    ch_cr_opts cro;
    int n = ch_cr_url_kind(url) ? ch_cr_url_list_parse(url, &urls, &cro, part, sizeof part)
                                : ch_rl_url_list_parse(url, &urls, part, sizeof part),
        ret = 0;

    if (n < 0) {
        snprintf(out, outlen, "%s", part);
        return -1;
    }
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (probe_one(&urls[i], part, sizeof part) != 0)
            ret = -1;
        if (len < outlen)
            len += (size_t)snprintf(out + len, outlen - len, "%s%s", i ? "; " : "", part);
    }
    free(urls);
    return ret;
}
