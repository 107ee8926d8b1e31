/*
 * store_sqlite_vfs.c -- the SQLite engine's VFS ("chanhost-wal"): the
 * default VFS, except that the writes to a WAL file are gathered.
 *
 * Why: SQLite writes each frame of a commit as two writes (the frame's
 * 24-byte header, then its page), so a commit of k pages costs 2k
 * pwrite(2) calls (docs/performance.md, part 12: the store thread's
 * system time falls by about a quarter).  Here the writes that follow
 * each other in the file are kept in one buffer, and reach the file as
 * one write before anything could see the difference: when SQLite syncs
 * the WAL, reads from it, asks or changes its size, closes it, or writes
 * somewhere else in it; when the buffer is full; and before each of the
 * database's shared-memory calls (the WAL's locks, the wal-index).
 *
 * Why that is enough: other connections (the SQLite engine's own, other
 * workers, the sqlite3 shell) find a commit's frames through the
 * wal-index, which SQLite updates only after the commit's sync of the
 * WAL (synchronous=FULL, which db_open sets) and after a barrier (a
 * shared-memory call), so every committed frame is in the file before
 * any reader looks for it; the writer's own reads flush first.  Frames
 * of a transaction that was rolled back reach the file before the WAL's
 * write lock is given up (a shared-memory call), so no later writer's
 * frames are overwritten by them.  A write that fails here fails the
 * sync, the read or the close that carried it, and the transaction with
 * it: nothing is acknowledged that is not in the file.
 *
 * The main database file is wrapped too (its calls passed on), so that
 * its shared-memory calls can flush its WAL.  Owns the registration
 * (once per process, ch_st_vfs_name) and each WAL file's buffer (freed
 * when SQLite closes the file).
 */
#include "store_impl.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* At most this much in one write: the default VFS's write takes at most
 * 128 KiB at once (os_unix.c's seekAndWrite masks the length with
 * 0x1ffff and reports the rest as a full disk), and 64 KiB holds fifteen
 * frames of 4 KiB pages. */
#define WAL_BUF_MAX (64 * 1024)

/* A main database file or a WAL file: ours, with the default VFS's file
 * right after it.  Only a WAL file buffers. */
typedef struct ch_file {
    sqlite3_file base;   /* pMethods: file_methods */
    sqlite3_file *real;  /* the default VFS's file (follows this struct) */
    int is_wal;          /* a WAL file: its writes are gathered */
    char *buf;           /* owned (WAL): the writes not yet in the file */
    size_t len;          /* bytes in buf */
    sqlite3_int64 start; /* where buf[0] goes in the file */
    /* A database file's open WAL file, and a WAL file's database file
     * (either NULL): the database's shared-memory calls flush its WAL. */
    struct ch_file *peer;
} ch_file;

static sqlite3_vfs *real_vfs; /* the default VFS (SQLite's) */
static sqlite3_vfs vfs;       /* ours: a copy of it with our xOpen */
static sqlite3_io_methods file_methods;

#define REAL(f) (((ch_file *)(f))->real)

/* Write what buf holds (one write) and empty it.  SQLITE_OK or the
 * default VFS's error.  A file that is no WAL holds nothing. */
static int wal_flush(ch_file *w)
{
    int rc;

    if (w->len == 0)
        return SQLITE_OK;
    rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->start);
    w->len = 0;
    return rc;
}

/* A WAL keeps the write in buf when it follows what buf holds (or buf is
 * empty) and fits; else it writes buf out first, then keeps this one
 * (or, as large as buf, writes it at once).  Other files write at once. */
static int f_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
    ch_file *w = (ch_file *)f;
    int rc;

    if (!w->is_wal || n <= 0)
        return w->real->pMethods->xWrite(w->real, data, n, off);
    if (w->len && (off != w->start + (sqlite3_int64)w->len || w->len + (size_t)n > WAL_BUF_MAX) &&
        (rc = wal_flush(w)) != SQLITE_OK)
        return rc;
    if ((size_t)n >= WAL_BUF_MAX)
        return w->real->pMethods->xWrite(w->real, data, n, off);
    if (!w->buf && !(w->buf = sqlite3_malloc(WAL_BUF_MAX)))
        return w->real->pMethods->xWrite(w->real, data, n, off); /* no memory: unbuffered */
    if (w->len == 0)
        w->start = off;
    memcpy(w->buf + w->len, data, (size_t)n);
    w->len += (size_t)n;
    return SQLITE_OK;
}

/* Close: a WAL's buffer is written first; the link between a database
 * and its WAL goes. */
static int f_close(sqlite3_file *f)
{
    ch_file *w = (ch_file *)f;
    int rc = wal_flush(w), rc2 = w->real->pMethods->xClose(w->real);

    if (w->peer)
        w->peer->peer = NULL;
    w->peer = NULL;
    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

/* The calls that see the file's contents or size: the buffer first. */
static int f_read(sqlite3_file *f, void *data, int n, sqlite3_int64 off)
{
    int rc = wal_flush((ch_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xRead(REAL(f), data, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = wal_flush((ch_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    int rc = wal_flush((ch_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = wal_flush((ch_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
    int rc = wal_flush((ch_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

/*
 * The database's shared-memory calls: its WAL's buffer first.  SQLite
 * takes and gives the WAL's write lock, and publishes frames in the
 * wal-index (xShmBarrier), through these; so frames a writer wrote and
 * then rolled back (a transaction whose pages spilled) reach the file
 * before the write lock is given, never after another connection has
 * written where they were.  A failure to write them is not the lock's:
 * the frames were not committed (a commit syncs, and fails, first).
 */
static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    ch_file *d = (ch_file *)f;

    if (d->peer)
        (void)wal_flush(d->peer);
    return d->real->pMethods->xShmLock(d->real, offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    ch_file *d = (ch_file *)f;

    if (d->peer)
        (void)wal_flush(d->peer);
    d->real->pMethods->xShmBarrier(d->real);
}

/* The rest as the default VFS's file does them. */
static int f_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int f_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int f_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int f_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}
static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* Open: a main database file or a WAL file is ours (a WAL linked to its
 * database, found by name: sqlite3_database_file_object); every other
 * file is the default VFS's own, opened in place (our szOsFile is larger
 * than its). */
static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    ch_file *w = (ch_file *)f;
    sqlite3_file *db;
    int rc;

    (void)v;
    if (!(flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB)))
        return real_vfs->xOpen(real_vfs, name, f, flags, out);
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out);
    /* SQLite calls xClose even after a failed open when pMethods is set:
     * ours only if the default VFS's file is open */
    if (rc != SQLITE_OK || !w->real->pMethods)
        return rc;
    w->base.pMethods = &file_methods;
    w->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    if (w->is_wal && (db = sqlite3_database_file_object(name)) && db->pMethods == &file_methods) {
        w->peer = (ch_file *)db;
        w->peer->peer = w;
    }
    return rc;
}

/* See store_impl.h: register the VFS, not as the default. */
const char *ch_st_vfs_name(void)
{
    if (!(real_vfs = sqlite3_vfs_find(NULL)) || real_vfs->iVersion < 1)
        return NULL;
    vfs = *real_vfs;
    vfs.pNext = NULL;
    vfs.zName = "chanhost-wal";
    vfs.szOsFile = (int)sizeof(ch_file) + real_vfs->szOsFile;
    vfs.xOpen = vfs_open;
    file_methods = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = f_close,
        .xRead = f_read,
        .xWrite = f_write,
        .xTruncate = f_truncate,
        .xSync = f_sync,
        .xFileSize = f_size,
        .xLock = f_lock,
        .xUnlock = f_unlock,
        .xCheckReservedLock = f_reserved,
        .xFileControl = f_control,
        .xSectorSize = f_sector,
        .xDeviceCharacteristics = f_device,
        .xShmMap = f_shm_map,
        .xShmLock = f_shm_lock,
        .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap,
        .xFetch = f_fetch,
        .xUnfetch = f_unfetch,
    };
    return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK ? vfs.zName : NULL;
}
