/*
 * notify.c -- owns nothing but the messages of notify.h to the service
 * manager (sd_notify(3)).  With libsystemd (CHANHOST_HAVE_SYSTEMD, set by
 * CMakeLists.txt when pkg-config finds it) each call is one sd_notify
 * datagram of a few bytes on NOTIFY_SOCKET, a local socket whose reader
 * (systemd) keeps a large receive buffer, so the call returns at once;
 * it happens only at start, reload and stop.  A failure is logged at
 * debug level and ignored: the host serves whether or not anyone listens.
 * Without libsystemd every call compiles to nothing.
 */
#include "notify.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#ifdef CHANHOST_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

/* Send state (borrowed, newline-separated assignments) if the service
 * manager asked for it (NOTIFY_SOCKET set). */
static void send_state(const char *state)
{
    int rc = sd_notify(0, state);

    if (rc < 0)
        ch_log(CH_LOG_DEBUG, "sd_notify(%s): %s", state, strerror(-rc));
}
#else
static void send_state(const char *state) { (void)state; }
#endif

/* READY=1 and the STATUS= line naming listen_addr (borrowed). */
void ch_notify_ready(const char *listen_addr)
{
    char line[256];

    if (listen_addr && listen_addr[0])
        snprintf(line, sizeof line, "READY=1\nSTATUS=Listening on TCP address %s", listen_addr);
    else
        snprintf(line, sizeof line, "READY=1");
    send_state(line);
}

/* RELOADING=1, with STATUS=reloading until the next READY=1. */
void ch_notify_reloading(void) { send_state("RELOADING=1\nSTATUS=reloading"); }

/* STOPPING=1, with STATUS=stopping. */
void ch_notify_stopping(void) { send_state("STOPPING=1\nSTATUS=stopping"); }
