/*
 * fake_ws.h -- the consumer side of an accepted WebSocket for the fuzz
 * targets, standing in for runtime/upgrade.c: a ch_ws laid out as its
 * ws_new lays it out (path, query, then "name\0value\0" header pairs in
 * one block) and a handler table that echoes every message back through
 * ch_ws_send_frame, closes with 4000 on a message starting "close", and
 * frees the ch_ws when the connection goes.
 */
#ifndef CH_FUZZ_FAKE_WS_H
#define CH_FUZZ_FAKE_WS_H

#include "request.h"
#include "ws.h"

/* A pending ch_ws for c made from req (borrowed; copied), set as c->ws
 * with c->proto = &ch_ws_proto and the state CH_CONN_WS_PENDING, as the
 * upgrade leaves it before the plugin decides.  Owned by c: freed by the
 * handler's gone when c closes. */
ch_ws *fz_ws_pending(ch_conn *c, const ch_req *req);

/* An accepted ch_ws on a fresh connection with no HTTP state (wslay
 * started, CH_CONN_WS), for the frame target.  Owned by c as above. */
ch_ws *fz_ws_open(ch_conn *c);

#endif
