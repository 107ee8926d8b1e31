/*
 * wrap_vfs.h -- a test VFS over the default one, for the suites that
 * watch or hold what SQLite does to one kind of file (test_store_vfs.c:
 * the WAL's writes; test_store_ckpt.c: the database's during a
 * checkpoint).  Files opened with the chosen flag (SQLITE_OPEN_MAIN_DB,
 * SQLITE_OPEN_WAL ...) are wrapped: each of their calls goes to the
 * default VFS's file unless the test put a method of its own in
 * wrap_vfs.methods (which then reaches the real file through
 * WRAP_REAL); other files are the default VFS's own.  Header-only
 * (static inline), since every tests/unit/test_*.c is a program of its
 * own.
 */
#ifndef WRAP_VFS_H
#define WRAP_VFS_H

#include <sqlite3.h>

typedef struct wrap_file {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, in the bytes after this one */
} wrap_file;

typedef struct wrap_vfs {
    sqlite3_vfs vfs;            /* first: SQLite hands it back to xOpen */
    sqlite3_vfs *under;         /* the default VFS when registered */
    sqlite3_io_methods methods; /* the wrapped files' (pass-through, then the test's) */
    int kind;                   /* the open flag of the files wrapped */
} wrap_vfs;

#define WRAP_REAL(f) (((wrap_file *)(f))->real)

static inline int wrap_close(sqlite3_file *f)
{
    return WRAP_REAL(f)->pMethods->xClose(WRAP_REAL(f));
}
static inline int wrap_read(sqlite3_file *f, void *d, int n, sqlite3_int64 off)
{
    return WRAP_REAL(f)->pMethods->xRead(WRAP_REAL(f), d, n, off);
}
static inline int wrap_write(sqlite3_file *f, const void *d, int n, sqlite3_int64 off)
{
    return WRAP_REAL(f)->pMethods->xWrite(WRAP_REAL(f), d, n, off);
}
static inline int wrap_trunc(sqlite3_file *f, sqlite3_int64 sz)
{
    return WRAP_REAL(f)->pMethods->xTruncate(WRAP_REAL(f), sz);
}
static inline int wrap_sync(sqlite3_file *f, int fl)
{
    return WRAP_REAL(f)->pMethods->xSync(WRAP_REAL(f), fl);
}
static inline int wrap_size(sqlite3_file *f, sqlite3_int64 *sz)
{
    return WRAP_REAL(f)->pMethods->xFileSize(WRAP_REAL(f), sz);
}
static inline int wrap_lock(sqlite3_file *f, int l)
{
    return WRAP_REAL(f)->pMethods->xLock(WRAP_REAL(f), l);
}
static inline int wrap_unlock(sqlite3_file *f, int l)
{
    return WRAP_REAL(f)->pMethods->xUnlock(WRAP_REAL(f), l);
}
static inline int wrap_res(sqlite3_file *f, int *o)
{
    return WRAP_REAL(f)->pMethods->xCheckReservedLock(WRAP_REAL(f), o);
}
static inline int wrap_ctl(sqlite3_file *f, int op, void *a)
{
    return WRAP_REAL(f)->pMethods->xFileControl(WRAP_REAL(f), op, a);
}
static inline int wrap_sector(sqlite3_file *f)
{
    return WRAP_REAL(f)->pMethods->xSectorSize(WRAP_REAL(f));
}
static inline int wrap_dev(sqlite3_file *f)
{
    return WRAP_REAL(f)->pMethods->xDeviceCharacteristics(WRAP_REAL(f));
}
static inline int wrap_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return WRAP_REAL(f)->pMethods->xShmMap(WRAP_REAL(f), pg, sz, ext, p);
}
static inline int wrap_shm_lock(sqlite3_file *f, int off, int n, int fl)
{
    return WRAP_REAL(f)->pMethods->xShmLock(WRAP_REAL(f), off, n, fl);
}
static inline void wrap_shm_barrier(sqlite3_file *f)
{
    WRAP_REAL(f)->pMethods->xShmBarrier(WRAP_REAL(f));
}
static inline int wrap_shm_unmap(sqlite3_file *f, int del)
{
    return WRAP_REAL(f)->pMethods->xShmUnmap(WRAP_REAL(f), del);
}

/* Open name: wrapped when flags hold the VFS's kind, else the default
 * VFS's file as it is. */
static inline int wrap_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
    wrap_vfs *w = (wrap_vfs *)v;
    wrap_file *g = (wrap_file *)f;
    int rc;

    if (!(flags & w->kind))
        return w->under->xOpen(w->under, name, f, flags, out);
    g->real = (sqlite3_file *)(g + 1);
    rc = w->under->xOpen(w->under, name, g->real, flags, out);
    g->base.pMethods = rc == SQLITE_OK ? &w->methods : NULL;
    return rc;
}

/* Register w (borrowed: it must outlive every connection on it) as name,
 * over the default VFS, wrapping the files opened with kind; version 2
 * passes the shared-memory calls too (a main database in WAL mode needs
 * them).  make_default: the VFS new connections get when they name none.
 * Every method passes through; the test replaces the ones it watches
 * before it opens a file.  SQLITE_OK or SQLite's error. */
static inline int wrap_vfs_register(wrap_vfs *w, const char *name, int kind, int version,
                                    int make_default)
{
    w->under = sqlite3_vfs_find(NULL);
    w->vfs = *w->under;
    w->vfs.pNext = NULL;
    w->vfs.zName = name;
    w->vfs.szOsFile = (int)sizeof(wrap_file) + w->under->szOsFile;
    w->vfs.xOpen = wrap_open;
    w->kind = kind;
    w->methods = (sqlite3_io_methods){.iVersion = version,
                                      .xClose = wrap_close,
                                      .xRead = wrap_read,
                                      .xWrite = wrap_write,
                                      .xTruncate = wrap_trunc,
                                      .xSync = wrap_sync,
                                      .xFileSize = wrap_size,
                                      .xLock = wrap_lock,
                                      .xUnlock = wrap_unlock,
                                      .xCheckReservedLock = wrap_res,
                                      .xFileControl = wrap_ctl,
                                      .xSectorSize = wrap_sector,
                                      .xDeviceCharacteristics = wrap_dev};
    if (version >= 2) {
        w->methods.xShmMap = wrap_shm_map;
        w->methods.xShmLock = wrap_shm_lock;
        w->methods.xShmBarrier = wrap_shm_barrier;
        w->methods.xShmUnmap = wrap_shm_unmap;
    }
    return sqlite3_vfs_register(&w->vfs, make_default);
}

#endif
