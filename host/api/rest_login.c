/*
 * rest_login.c -- owns the API's protection of passwords: the login
 * limiter (one auth/login_limit.h table for accounts and client
 * addresses, made at the first login) and the queue of password hashes
 * in front of libuv's thread pool (docs/api.md, "Login protection").
 *
 * Hashes: at most auth_hash_threads run at once, so static files, plugin
 * loads and the store's work keep threads of the pool; a client address
 * runs at most one at a time (one client cannot take every slot while
 * others wait: a waiting hash of another address goes first); at most
 * auth_hash_queue wait, beyond that 503 busy at once.  Every hash goes
 * through here (ch_rest_work): login, register, user creation.
 *
 * Loop thread only.  The process-wide state (listed in app.h): the table,
 * the waiting queue (oldest first) and the running list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "login_limit.h"
#include "metrics.h"
#include "rest.h"
#include "rest_login.h"

static ch_login_limit *limiter;
static ch_rest *waiting, *waiting_tail; /* linked by hash_next */
static ch_rest *running;                /* linked by hash_next */
static size_t n_waiting, n_running;

/* ---- the hash queue ---------------------------------------------------- */

/* r's client address ("ip:port" without ":port") into buf[len]. */
static void client_of(const ch_rest *r, char *buf, size_t len)
{
    const char *peer = ch_conn_peer(r->conn), *colon = strrchr(peer, ':');
    int n = colon ? (int)(colon - peer) : (int)strlen(peer);

    snprintf(buf, len, "%.*s", n, peer);
}

/* Non-zero if a hash of r's client address is running. */
static int address_busy(const ch_rest *r)
{
    char mine[64], other[64];
    const ch_rest *x;

    client_of(r, mine, sizeof mine);
    for (x = running; x; x = x->hash_next) {
        client_of(x, other, sizeof other);
        if (strcmp(mine, other) == 0)
            return 1;
    }
    return 0;
}

static void gauges(void)
{
    ch_metric_set(CH_M_HASH_RUNNING, n_running);
    ch_metric_set(CH_M_HASH_WAITING, n_waiting);
}

/* Put r on the running list and hand it to the pool; a refusal answers
 * r 500 (it is off the list again). */
static void start(ch_rest *r)
{
    r->hash_next = running;
    running = r;
    n_running++;
    ch_metric_count(CH_M_HASHES);
    if (ch_rest_work_start(r) == 0)
        return;
    running = r->hash_next;
    n_running--;
    ch_rest_fail(r, 500, "internal", "cannot queue work");
}

/* The slots for hashes the running config gives (at least one). */
static size_t slots_of(const ch_app *app)
{
    return app->cfg.auth_hash_threads ? (size_t)app->cfg.auth_hash_threads : 1;
}

/* Start the waiting hashes that may go, oldest first: while a slot is
 * free, the first one whose address runs none.  One whose connection went
 * away is dropped unhashed. */
static void pump(ch_app *app)
{
    ch_rest **pp = &waiting, *r, *prev = NULL;

    while ((r = *pp) && n_running < slots_of(app)) {
        int dropped = ch_rest_gone(r);

        if (!dropped && address_busy(r)) {
            prev = r;
            pp = &r->hash_next;
            continue;
        }
        *pp = r->hash_next;
        if (waiting_tail == r)
            waiting_tail = prev;
        n_waiting--;
        r->hash_next = NULL;
        if (dropped)
            ch_rest_drop(r);
        else
            start(r);
    }
    gauges();
}

void ch_rest_hash_submit(ch_rest *r)
{
    ch_app *app = r->app;
    int can_start = n_running < slots_of(app) && !address_busy(r);

    if (!can_start && n_waiting >= app->cfg.auth_hash_queue) {
        ch_metric_count(CH_M_HASH_REJECTED);
        ch_rest_login_end(r, -1);
        ch_rest_fail(r, 503, "busy", "too many passwords are being checked; try again");
        return;
    }
    r->hash_next = NULL;
    if (waiting_tail)
        waiting_tail->hash_next = r;
    else
        waiting = r;
    waiting_tail = r;
    n_waiting++;
    pump(app);
}

void ch_rest_hash_finished(ch_rest *r)
{
    ch_rest **pp;

    for (pp = &running; *pp; pp = &(*pp)->hash_next)
        if (*pp == r) {
            *pp = r->hash_next;
            n_running--;
            break;
        }
    r->hash_next = NULL;
    pump(r->app);
}

/* ---- the login limiter ----------------------------------------------------- */

/* The rule of accounts (ip 0) or client addresses (ip 1) from the
 * running config. */
static ch_login_rule rule_of(const ch_app *app, int ip)
{
    const ch_config *c = &app->cfg;

    return (ch_login_rule){
        .free = (unsigned)(ip ? c->auth_login_ip_failures : c->auth_login_failures),
        .delay_ms = c->auth_login_delay ? c->auth_login_delay : 1,
        .max_delay_ms = c->auth_login_max_delay,
        .max_entries = c->auth_login_table ? (size_t)c->auth_login_table : 1,
        .reset_on_success = !ip,
    };
}

/* "ip:<r's client address>" into buf[len]. */
static void ip_key(const ch_rest *r, char *buf, size_t len)
{
    char addr[64];

    client_of(r, addr, sizeof addr);
    snprintf(buf, len, "ip:%s", addr);
}

/* 429 too_many_attempts with Retry-After: the whole seconds of wait_ms,
 * rounded up. */
static void too_many(ch_rest *r, uint64_t wait_ms)
{
    unsigned long long secs = (wait_ms + 999) / 1000;
    char header[64];

    ch_metric_count(CH_M_LOGIN_LIMITED);
    snprintf(header, sizeof header, "Retry-After: %llu\r\n", secs);
    ch_rest_reply(r, 429,
                  json_pack("{s:s, s:s, s:I}", "error", "too_many_attempts", "message",
                            "too many failed logins; try again later", "retry_after",
                            (json_int_t)secs),
                  header);
}

int ch_rest_login_begin(ch_rest *r, const char *account_key)
{
    ch_login_rule acct = rule_of(r->app, 0), addr = rule_of(r->app, 1);
    uint64_t now = uv_now(r->app->loop), wait_a, wait_i;
    char ip[80];

    ch_metric_count(CH_M_LOGIN_ATTEMPTS);
    if (!limiter && !(limiter = ch_login_limit_new()))
        return 0; /* no table: logins are not refused for its sake */
    ip_key(r, ip, sizeof ip);
    wait_a = ch_login_limit_wait(limiter, account_key, &acct, now);
    wait_i = ch_login_limit_wait(limiter, ip, &addr, now);
    if (wait_a || wait_i) {
        too_many(r, wait_a > wait_i ? wait_a : wait_i);
        return -1;
    }
    if (!(r->login_key = strdup(account_key)))
        return 0;
    ch_login_limit_begin(limiter, account_key, &acct, now);
    ch_login_limit_begin(limiter, ip, &addr, now);
    ch_metric_set(CH_M_LOGIN_REMEMBERED, ch_login_limit_size(limiter));
    return 0;
}

void ch_rest_login_end(ch_rest *r, int ok)
{
    ch_login_rule acct, addr;
    uint64_t now;
    char ip[80];

    if (!r->login_key)
        return;
    acct = rule_of(r->app, 0);
    addr = rule_of(r->app, 1);
    now = uv_now(r->app->loop);
    ip_key(r, ip, sizeof ip);
    if (ok == 0)
        ch_metric_count(CH_M_LOGIN_FAILURES);
    ch_login_limit_end(limiter, r->login_key, &acct, ok, now);
    ch_login_limit_end(limiter, ip, &addr, ok, now);
    ch_metric_set(CH_M_LOGIN_REMEMBERED, ch_login_limit_size(limiter));
    free(r->login_key);
    r->login_key = NULL;
}

void ch_rest_login_fini(void)
{
    ch_login_limit_free(limiter);
    limiter = NULL;
}
