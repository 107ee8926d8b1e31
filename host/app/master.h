/*
 * master.h -- `workers N` (app/master.c): one chanhost command running N
 * worker processes under a master, nginx-style.  Only main.c uses it.
 */
#ifndef CH_MASTER_H
#define CH_MASTER_H

#include "config.h"

/* The environment variable that makes a chanhost process a worker: its
 * number (1..N); its link to the master is file descriptor
 * CH_WORKER_LINK_FD. */
#define CH_WORKER_ENV "CHANHOST_WORKER"
#define CH_WORKER_LINK_FD 3

/* The number of workers cfg (borrowed) asks for: `workers N`, or for
 * `workers auto` the number of cores this process may use. */
int ch_master_workers(const ch_config *cfg);

/* Run the master until every worker has stopped: reserve the listen
 * address, start the workers (argv, borrowed: this command line, passed
 * on to each with -p PORT), restart one that dies, pass SIGHUP on, and on
 * SIGTERM/SIGINT stop them all.  Returns the exit status (0, or 1 when
 * start-up failed). */
int ch_master_run(const ch_config *cfg, int argc, char **argv);

#endif
