/*
 * store_turn.c -- the writers' turn of a SQLite file shared by several
 * processes (store_turn.h).  It owns the turn file's descriptor.
 *
 * Why: SQLite's WAL write lock is taken with a non-blocking fcntl and a
 * writer that finds it held polls from its busy handler (store_sqlite.c:
 * 50 us doubling to 1 ms).  A worker with calls queued takes the lock
 * again a few microseconds after its COMMIT, so a sibling worker polling
 * for it wins only when the first runs out of work: at thousands of
 * appends a second the loser's batches waited hundreds of milliseconds
 * (docs/performance.md "Part 5").  The turn is an open-file-description
 * lock (F_OFD_SETLKW: blocking, released by the kernel when a process
 * dies, independent of SQLite's own POSIX locks and of other descriptors
 * in the same process) on two bytes of "<db>-turn":
 *
 *  - byte 0, the turn: held (write lock) by the process whose writing
 *    batch runs, from before its BEGIN IMMEDIATE to after its COMMIT;
 *    a writer waits for it in the kernel and is woken when it is given.
 *  - byte 1, the waiting room: a read lock held by each writer while it
 *    waits for the turn.  A writer about to take the turn first checks
 *    it; if another writer waits there, it waits (write lock) until the
 *    room is empty, i.e. until every writer that was waiting has had the
 *    turn.  So turns alternate under contention instead of going back to
 *    the giver.
 *
 * No wait holds what another waiter needs: a writer waiting in the room
 * holds nothing, one waiting for the turn holds only its read lock on
 * byte 1, and the turn's holder waits for nothing of this file.
 */
#include "store_turn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TURN_BYTE 0
#define ROOM_BYTE 1

/* One OFD lock call (cmd: F_OFD_SETLK, F_OFD_SETLKW) of type on byte at
 * of fd, retried on EINTR.  0, or -1 with errno. */
static int lock_byte(int fd, int cmd, short type, off_t at)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
    int rc;

    do
        rc = fcntl(fd, cmd, &fl);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* Non-zero when another open file description holds a lock on byte at
 * of fd that a write lock would conflict with. */
static int held_elsewhere(int fd, off_t at)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};

    return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Open (create) "<db_path>-turn"; t->fd -1 and the reason in err on
 * failure. */
int ch_st_turn_open(ch_st_turn *t, const char *db_path, char *err, size_t errlen)
{
    size_t n = strlen(db_path);
    char *path = malloc(n + sizeof "-turn");

    t->fd = -1;
    t->held = 0;
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(path, db_path, n);
    memcpy(path + n, "-turn", sizeof "-turn");
    t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (t->fd < 0)
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    free(path);
    return t->fd < 0 ? -1 : 0;
}

/* Another writer holds the turn now. */
int ch_st_turn_busy(ch_st_turn *t) { return t->fd >= 0 && held_elsewhere(t->fd, TURN_BYTE); }

/* Let the waiting writers go first, then take the turn (waiting in the
 * room if it is held).  1: waited, 0: did not, -1: a lock call failed. */
int ch_st_turn_take(ch_st_turn *t)
{
    int rc;

    if (t->fd < 0 || t->held)
        return 0;
    if (held_elsewhere(t->fd, ROOM_BYTE)) {
        if (lock_byte(t->fd, F_OFD_SETLKW, F_WRLCK, ROOM_BYTE) != 0)
            return -1;
        lock_byte(t->fd, F_OFD_SETLK, F_UNLCK, ROOM_BYTE);
    }
    if (lock_byte(t->fd, F_OFD_SETLK, F_WRLCK, TURN_BYTE) == 0) {
        t->held = 1;
        return 0;
    }
    if ((errno != EAGAIN && errno != EACCES) ||
        lock_byte(t->fd, F_OFD_SETLKW, F_RDLCK, ROOM_BYTE) != 0)
        return -1;
    rc = lock_byte(t->fd, F_OFD_SETLKW, F_WRLCK, TURN_BYTE);
    lock_byte(t->fd, F_OFD_SETLK, F_UNLCK, ROOM_BYTE);
    if (rc != 0)
        return -1;
    t->held = 1;
    return 1;
}

/* Give the turn back, waking a writer that waits for it. */
void ch_st_turn_give(ch_st_turn *t)
{
    if (t->fd >= 0 && t->held)
        lock_byte(t->fd, F_OFD_SETLK, F_UNLCK, TURN_BYTE);
    t->held = 0;
}

/* Close the file; the kernel drops its locks. */
void ch_st_turn_close(ch_st_turn *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    t->held = 0;
}

/* SQLite's own handler (sqlite3_busy_timeout) sleeps 1, 2, 5, 10 ... 100
 * ms between tries, which is right for a lock held for seconds; two
 * workers that commit every few milliseconds would wait far longer than
 * the other holds the lock (measured: p99 over a second at 5,000 appends
 * a second with `workers 2`).  Writers of this store wait for the turn
 * instead; this covers the writers that do not take it. */
int ch_st_busy_wait(void *arg, int n)
{
    uint64_t waited = n < 5 ? 50u * ((1u << n) - 1) : 1550u + 1000u * (uint64_t)(n - 5);
    struct timespec ts = {0, (n < 5 ? 50000L << n : 1000000L)};

    (void)arg;
    if (waited >= (uint64_t)CH_ST_BUSY_TIMEOUT_MS * 1000u)
        return 0;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 1;
}
