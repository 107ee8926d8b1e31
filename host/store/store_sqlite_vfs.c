/*
 * store_sqlite_vfs.c -- the SQLite engine's VFS ("chanhost-wal"): the
 * default VFS, except that the writes to a WAL file are gathered.
 *
 * Why: SQLite writes each frame of a commit as two writes (the frame's
 * 24-byte header, then its page), so a commit of k pages costs 2k
 * pwrite(2) calls, about a seventh of the store thread's time at the
 * chat path's maximum (docs/performance.md, part 11).  Here the writes
 * that follow each other in the file are kept in one buffer, and reach
 * the file as one write before anything could see the difference: when
 * SQLite syncs the WAL, reads from it, asks or changes its size, closes
 * it, or writes somewhere else in it, and when the buffer is full.
 *
 * Why that is enough: other connections (the SQLite engine's own, other
 * workers, the sqlite3 shell) find a commit's frames through the
 * wal-index, which SQLite updates only after the commit's sync of the
 * WAL (synchronous=FULL, which db_open sets and nothing changes), so
 * every committed frame is in the file before any reader looks for it;
 * the writer's own reads flush first.  A write that fails here fails the
 * sync, the read or the close that carried it, and the transaction with
 * it: nothing is acknowledged that is not in the file.
 *
 * Owns the registration (once per process, ch_st_vfs_name) and each WAL
 * file's buffer (freed when SQLite closes the file).
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

/* A WAL file: ours, with the default VFS's file right after it. */
typedef struct wal_file {
    sqlite3_file base;   /* pMethods: wal_methods */
    sqlite3_file *real;  /* the default VFS's file (follows this struct) */
    char *buf;           /* owned: the writes not yet in the file */
    size_t len;          /* bytes in buf */
    sqlite3_int64 start; /* where buf[0] goes in the file */
} wal_file;

static sqlite3_vfs *real_vfs; /* the default VFS (SQLite's) */
static sqlite3_vfs vfs;       /* ours: a copy of it with our xOpen */
static sqlite3_io_methods wal_methods;

/* Write what buf holds (one write) and empty it.  SQLITE_OK or the
 * default VFS's error. */
static int wal_flush(wal_file *w)
{
    int rc;

    if (w->len == 0)
        return SQLITE_OK;
    rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->start);
    w->len = 0;
    return rc;
}

/* Keep the write in buf when it follows what buf holds (or buf is empty)
 * and fits; else write buf out first, then keep this one (or, as large
 * as buf, write it at once). */
static int wal_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
    wal_file *w = (wal_file *)f;
    int rc;

    if (n <= 0)
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

static int wal_close(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w), rc2 = w->real->pMethods->xClose(w->real);

    sqlite3_free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *data, int n, sqlite3_int64 off)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, data, n, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_size(sqlite3_file *f, sqlite3_int64 *size)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

/* The rest as the default VFS's file does them (a WAL file is never
 * locked, mapped or shared by SQLite, but the calls stay valid). */
static int wal_lock(sqlite3_file *f, int l)
{
    return ((wal_file *)f)->real->pMethods->xLock(((wal_file *)f)->real, l);
}

static int wal_unlock(sqlite3_file *f, int l)
{
    return ((wal_file *)f)->real->pMethods->xUnlock(((wal_file *)f)->real, l);
}

static int wal_reserved(sqlite3_file *f, int *out)
{
    return ((wal_file *)f)->real->pMethods->xCheckReservedLock(((wal_file *)f)->real, out);
}

/* File controls may ask about the file's contents (its size hint, its
 * persistence): flush first. */
static int wal_control(sqlite3_file *f, int op, void *arg)
{
    wal_file *w = (wal_file *)f;
    int rc = wal_flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector(sqlite3_file *f)
{
    return ((wal_file *)f)->real->pMethods->xSectorSize(((wal_file *)f)->real);
}

static int wal_device(sqlite3_file *f)
{
    return ((wal_file *)f)->real->pMethods->xDeviceCharacteristics(((wal_file *)f)->real);
}

/* Open: a WAL file gets the buffer; every other file is the default
 * VFS's own (opened in place: our szOsFile is larger than its). */
static int vfs_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    wal_file *w = (wal_file *)f;
    int rc;

    (void)v;
    if (!(flags & SQLITE_OPEN_WAL))
        return real_vfs->xOpen(real_vfs, name, f, flags, out);
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out);
    /* SQLite calls xClose even after a failed open when pMethods is set:
     * ours only if the default VFS's file is open */
    w->base.pMethods = rc == SQLITE_OK && w->real->pMethods ? &wal_methods : NULL;
    return rc;
}

/* See store_impl.h: register the VFS, not as the default. */
const char *ch_st_vfs_name(void)
{
    if (!(real_vfs = sqlite3_vfs_find(NULL)))
        return NULL;
    vfs = *real_vfs;
    vfs.pNext = NULL;
    vfs.zName = "chanhost-wal";
    vfs.szOsFile = (int)sizeof(wal_file) + real_vfs->szOsFile;
    vfs.xOpen = vfs_open;
    wal_methods = (sqlite3_io_methods){
        .iVersion = 1,
        .xClose = wal_close,
        .xRead = wal_read,
        .xWrite = wal_write,
        .xTruncate = wal_truncate,
        .xSync = wal_sync,
        .xFileSize = wal_size,
        .xLock = wal_lock,
        .xUnlock = wal_unlock,
        .xCheckReservedLock = wal_reserved,
        .xFileControl = wal_control,
        .xSectorSize = wal_sector,
        .xDeviceCharacteristics = wal_device,
    };
    return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK ? vfs.zName : NULL;
}
