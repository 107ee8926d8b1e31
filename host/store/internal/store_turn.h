/*
 * store_turn.h -- the writers' turn of one SQLite file shared by several
 * processes (`workers N`, docs/workers.md): a lock on a small file next
 * to the database, taken before a writing batch's BEGIN IMMEDIATE and
 * given after its COMMIT, waited for in the kernel (no polling), and
 * handed to a process that waits for it before its giver takes it again.
 * It is a scheduling aid only: SQLite's own locks still decide who
 * writes, so a process that does not take the turn (a management
 * command), or a turn that cannot be had, costs fairness, never
 * correctness.  Also the busy handler of the store's connections.
 * store_turn.c owns the file descriptor.
 */
#ifndef CH_STORE_TURN_H
#define CH_STORE_TURN_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ch_st_turn {
    int fd;   /* the turn file, open (-1: no turn, e.g. an in-memory database) */
    int held; /* this descriptor holds the turn */
} ch_st_turn;

/* Open the turn file of the database at db_path ("<db_path>-turn",
 * created with mode 0600 if missing).  0, or -1 with the reason in err
 * (t->fd is then -1: writers go without a turn). */
int ch_st_turn_open(ch_st_turn *t, const char *db_path, char *err, size_t errlen);

/* Non-zero when another descriptor (another worker) holds the turn now:
 * a writing batch would wait for it anyway. */
int ch_st_turn_busy(ch_st_turn *t);

/* Take the turn, blocking (on the store's thread, never the loop): first
 * let the writers that already wait have theirs, then wait for it.
 * Returns 1 if it waited for another writer, 0 if it did not, -1 if a
 * lock call failed (then the batch goes without the turn). */
int ch_st_turn_take(ch_st_turn *t);

/* Give the turn back (nothing if it is not held). */
void ch_st_turn_give(ch_st_turn *t);

/* The busy handler of every SQLite connection of the store (for
 * sqlite3_busy_handler; arg unused, n: the tries so far): another process
 * (a management command, a worker without the turn) holds the lock SQLite
 * wants.  Sleeps 50 us, doubling up to 1 ms, on the store's thread;
 * returns 0 (give up: SQLITE_BUSY) once CH_ST_BUSY_TIMEOUT_MS have passed,
 * else 1 (try again). */
#define CH_ST_BUSY_TIMEOUT_MS 5000
int ch_st_busy_wait(void *arg, int n);

/* Close the turn file (its locks go with it); t->fd becomes -1. */
void ch_st_turn_close(ch_st_turn *t);

#endif
