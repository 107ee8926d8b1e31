/*
 * peers.h -- what a worker knows of the other workers under its master
 * (app/master.c, docs/workers.md): each one's latest snapshot (number,
 * pid, connections), which /healthz lists with the sum over all.  Only
 * app/ uses it.
 */
#ifndef CH_PEERS_H
#define CH_PEERS_H

#include <jansson.h>
#include <stddef.h>

#include "app.h"

/* Start sending this worker's snapshot over app->link (borrowed) at once
 * and every second after (CH_LINK_STATS; the master relays it to every
 * other worker).  Nothing without a link. */
void ch_peers_start(ch_app *app);

/* Stop the timer and forget every snapshot (with the other loop handles
 * when the host stops). */
void ch_peers_stop(void);

/* A snapshot of another worker relayed by the master: data[0..len) is
 * its JSON text (borrowed); a malformed one is ignored. */
void ch_peers_input(ch_app *app, const char *data, size_t len);

/* Under a master, add to health (borrowed) "workers": this worker's and
 * each other worker's snapshot heard from in the last 3 s, with its age,
 * and "all_connections", their WebSocket connections together. */
void ch_peers_health(ch_app *app, json_t *health);

#endif
