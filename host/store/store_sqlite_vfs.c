/*
 * store_sqlite_vfs.c -- the SQLite engine's file layer: the VFS
 * CH_SQLITE_VFS, the default VFS with the WAL file's writes gathered.
 *
 * SQLite writes each WAL frame as two pwrite calls (its 24-byte header,
 * then the page), so a commit of 7 pages costs 14 system calls before its
 * fdatasync.  This VFS keeps a WAL file's contiguous writes in a buffer
 * and writes them with one pwrite: before the file is synced (so every
 * commit's frames are on disk before its fdatasync returns, as before:
 * the engine runs synchronous=FULL, which syncs the WAL at every commit
 * before the wal-index names the new frames), read, sized, truncated,
 * controlled or closed, and when the buffer is full.  Every other file
 * (the database, journals) is the default VFS's own, untouched.
 *
 * It owns the VFS object (registered once, not as the default) and, per
 * open WAL file, its buffer.
 */
#include "store_impl.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* A WAL file's buffer: 29 frames of 4 KiB.  The unix VFS writes at most
 * 128 KiB - 1 bytes per call (seekAndWrite masks the length with
 * 0x1ffff), so a write must stay below that. */
#define BUF_CAP (120 * 1024)
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

/* An open WAL file: the default VFS's file follows this struct in the
 * same allocation (SQLite's, szOsFile bytes). */
typedef struct wal_file {
    sqlite3_file base;     /* pMethods = &wal_methods */
    sqlite3_file *real;    /* the default VFS's file */
    unsigned char *buf;    /* pending writes (owned), or NULL */
    sqlite3_int64 buf_off; /* the file offset of buf[0] */
    size_t buf_len;        /* bytes pending */
} wal_file;

static sqlite3_vfs wal_vfs;

/* Write what is pending to the file.  SQLITE_OK, or the write's error
 * (the bytes stay pending). */
static int wal_flush(wal_file *p)
{
    int rc;

    if (p->buf_len == 0)
        return SQLITE_OK;
    rc = p->real->pMethods->xWrite(p->real, p->buf, (int)p->buf_len, p->buf_off);
    if (rc == SQLITE_OK)
        p->buf_len = 0;
    return rc;
}

/* Close: pending bytes written, the buffer freed, the file closed. */
static int wal_close(sqlite3_file *f)
{
    wal_file *p = (wal_file *)f;
    int rc = wal_flush(p), rc2 = p->real->pMethods->xClose(p->real);

    free(p->buf);
    p->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

/* Gather a write contiguous with the pending ones; anything else (or a
 * full buffer) writes the pending bytes first. */
static int wal_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    wal_file *p = (wal_file *)f;
    int rc;

    if (p->buf_len > 0 && off == p->buf_off + (sqlite3_int64)p->buf_len &&
        p->buf_len + (size_t)amt <= BUF_CAP) {
        memcpy(p->buf + p->buf_len, data, (size_t)amt);
        p->buf_len += (size_t)amt;
        return SQLITE_OK;
    }
    if ((rc = wal_flush(p)) != SQLITE_OK)
        return rc;
    if (!p->buf)
        p->buf = malloc(BUF_CAP);
    if (!p->buf || (size_t)amt > BUF_CAP)
        return p->real->pMethods->xWrite(p->real, data, amt, off);
    memcpy(p->buf, data, (size_t)amt);
    p->buf_off = off;
    p->buf_len = (size_t)amt;
    return SQLITE_OK;
}

/* The methods that see the file's contents or size: pending bytes are
 * written first. */
static int wal_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 off)
{
    wal_file *p = (wal_file *)f;
    int rc = wal_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xRead(p->real, data, amt, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    wal_file *p = (wal_file *)f;
    int rc = wal_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xTruncate(p->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    wal_file *p = (wal_file *)f;
    int rc = wal_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xSync(p->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    wal_file *p = (wal_file *)f;
    int rc = wal_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileSize(p->real, size);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    wal_file *p = (wal_file *)f;
    int rc = wal_flush(p);

    return rc != SQLITE_OK ? rc : p->real->pMethods->xFileControl(p->real, op, arg);
}

/* The methods that do not touch the contents: passed on. */
static int wal_lock(sqlite3_file *f, int level)
{
    wal_file *p = (wal_file *)f;

    return p->real->pMethods->xLock(p->real, level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    wal_file *p = (wal_file *)f;

    return p->real->pMethods->xUnlock(p->real, level);
}

static int wal_check_reserved(sqlite3_file *f, int *out)
{
    wal_file *p = (wal_file *)f;

    return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int wal_sector_size(sqlite3_file *f)
{
    wal_file *p = (wal_file *)f;

    return p->real->pMethods->xSectorSize(p->real);
}

static int wal_device_chars(sqlite3_file *f)
{
    wal_file *p = (wal_file *)f;

    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

/* Version 1 methods: SQLite maps no WAL file into memory and keeps no
 * shared memory on it (that is the database file's). */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_chars,
};

/* Open name with the default VFS; a WAL file gets the gathering methods,
 * any other file is the default VFS's as it is. */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    sqlite3_vfs *def = vfs->pAppData;
    wal_file *p = (wal_file *)f;
    int rc;

    if (!(flags & SQLITE_OPEN_WAL))
        return def->xOpen(def, name, f, flags, out_flags);
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)((char *)f + ALIGN8(sizeof *p));
    rc = def->xOpen(def, name, p->real, flags, out_flags);
    p->base.pMethods = rc == SQLITE_OK && p->real->pMethods ? &wal_methods : NULL;
    if (rc == SQLITE_OK && !p->base.pMethods)
        rc = SQLITE_CANTOPEN;
    return rc;
}

/* The rest of the VFS: the default one's. */
static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xDelete(def, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xAccess(def, name, flags, out);
}

static int vfs_full_path(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xFullPathname(def, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xDlOpen(def, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    def->xDlError(def, n, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xDlSym(def, lib, sym);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *lib)
{
    sqlite3_vfs *def = vfs->pAppData;

    def->xDlClose(def, lib);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xRandomness(def, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xSleep(def, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xCurrentTime(def, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xGetLastError(def, n, out);
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    sqlite3_vfs *def = vfs->pAppData;

    return def->xCurrentTimeInt64(def, out);
}

/* See store_impl.h. */
int ch_sqlite_vfs_register(void)
{
    sqlite3_vfs *def = sqlite3_vfs_find(NULL);

    if (!def || def->iVersion < 2 || !def->xCurrentTimeInt64 || !def->xDlOpen)
        return -1;
    wal_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)ALIGN8(sizeof(wal_file)) + def->szOsFile,
        .mxPathname = def->mxPathname,
        .zName = CH_SQLITE_VFS,
        .pAppData = def,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_path,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
        .xCurrentTimeInt64 = vfs_current_time64,
    };
    return sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK ? 0 : -1;
}
