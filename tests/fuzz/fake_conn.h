/*
 * fake_conn.h -- a host of one: a real libuv loop, a ch_app with the
 * config defaults (tightened limits), and connections whose TCP handle is
 * initialised but never connected, so the real conn.c, http.c and ws.c run
 * on them while nothing is ever written: queued output stays in the
 * connection's queue, where a target may look at it, and is dropped when
 * the connection is closed and freed.
 */
#ifndef CH_FUZZ_FAKE_CONN_H
#define CH_FUZZ_FAKE_CONN_H

#include <stddef.h>

#include "app.h"
#include "conn.h"
#include "http.h"

/* The process's app (made on first use, lives until exit; borrowed).
 * Handlers registered with ch_http_handle stay for every input. */
ch_app *fz_app(void);

/* A new connection of fz_app(), linked into its list, no protocol yet
 * (owned by the app: fz_conn_finish closes and frees it). */
ch_conn *fz_conn_new(void);

/* Close c (if it is not closing already), forget the dirty list (nothing
 * is ever written) and run the loop until c is freed. */
void fz_conn_finish(ch_conn *c);

/* Called after each piece fed (fz_conn_feed), before the next one (c
 * borrowed): answer what was suspended, check the output. */
typedef void (*fz_after_fn)(ch_conn *c);

/* An HTTP connection (ch_http_open) fed data whole, then another fed it
 * in pieces of 1 + len % 13 bytes (fz_conn_feed, with after), each then
 * finished.  For targets whose handlers
 * (ch_http_handle) do the checking. */
void fz_http_run(const uint8_t *data, size_t len, fz_after_fn after);

/* Feed data[0..len) to c's protocol, all at once when chunk is 0, else in
 * pieces of chunk bytes, calling after (may be NULL) after each piece.
 * Stops as the host stops reading: once c is closing or closes after its
 * output is flushed. */
void fz_conn_feed(ch_conn *c, const uint8_t *data, size_t len, size_t chunk, fz_after_fn after);

#endif
