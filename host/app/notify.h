/*
 * notify.h -- telling the service manager where the process is: the
 * readiness protocol of sd_notify(3) (systemd's Type=notify), through
 * libsystemd when the build found it (CHANHOST_HAVE_SYSTEMD), else
 * nothing.  Without NOTIFY_SOCKET in the environment (not started by
 * systemd, or a worker under a master: main.c removes it there, so only
 * the master speaks) every call does nothing.
 */
#ifndef CH_NOTIFY_H
#define CH_NOTIFY_H

/* READY=1: the process serves (start-up done, or a reload finished) on
 * listen_addr (borrowed, may be NULL), which the unit's STATUS= line
 * names. */
void ch_notify_ready(const char *listen_addr);

/* RELOADING=1: a reload (SIGHUP) began; ch_notify_ready ends it. */
void ch_notify_reloading(void);

/* STOPPING=1: a graceful shutdown began. */
void ch_notify_stopping(void);

#endif
