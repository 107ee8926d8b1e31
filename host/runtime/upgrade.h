/*
 * upgrade.h -- the WebSocket upgrade (upgrade.c): the HTTP handler that
 * turns a request on a WebSocket route into a pending connection, asks the
 * plugin's connect, and later tears the plugin-facing state down.  The
 * assembler registers ch_ws_upgrade with the HTTP layer (matcher
 * ch_ws_upgrade_wanted).  Sub-system runtime.
 */
#ifndef CH_UPGRADE_H
#define CH_UPGRADE_H

#include "request.h"
#include "ws.h"

/* Non-zero if req goes to the upgrade: a WebSocket route matches its
 * path, or it asks for an Upgrade (c, req borrowed). */
int ch_ws_upgrade_wanted(ch_conn *c, const ch_req *req);

/* Handle an upgrade request (or a plain request on a WebSocket route).
 * Answers errors itself.  req is borrowed. */
void ch_ws_upgrade(ch_conn *c, const ch_req *req);

/* Refuse a connection in connect with HTTP 403 (CHANHOST_DENY); the
 * connection goes back to HTTP to answer. */
void ch_ws_deny(ch_ws *w);

/* api->release_request: the plugin needs neither the query nor the
 * headers any more.  The request block is wiped and freed now if w is
 * accepted, else right after its 101 is queued (the handshake still reads
 * the headers); then w's query is "" and it has no header. */
void ch_ws_release_request(ch_ws *w);

/* The first value of query parameter name, '+' and %XX decoded, kept
 * (owned by w) until the connection ends; NULL if absent or malformed. */
const char *ch_ws_query_param(ch_ws *w, const char *name);

/* The same for any raw query string (borrowed): the decoded value is kept
 * in *cache (the caller's list, NULL at first) until ch_query_cache_free,
 * which wipes the values (they may hold tokens) and empties the list. */
struct ch_qval;
const char *ch_query_cached(struct ch_qval **cache, const char *query, const char *name);
void ch_query_cache_free(struct ch_qval **cache);

/* The connection goes (c->ws): the plugin's disconnect, store calls
 * detached, groups left, counters; then c->ws is freed and NULL.  The
 * ch_ws_handler gone hook. */
void ch_ws_gone(ch_conn *c);

#endif
