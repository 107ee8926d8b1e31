/*
 * store_files.c -- the attachment folder (config attachment_dir): the
 * uploads' sealed chunks as files instead of attachment_chunks rows.  It
 * owns the folder's layout and every file in it:
 *
 *   <dir>/<id>/<seq>.chunk   chunk seq of upload id (mode 0600; the
 *                            upload's folder 0700)
 *   <dir>/<id>/<seq>.tmp     one being written (renamed by link(2) when
 *                            it is whole and on disk)
 *
 * A chunk file is "CHA1", the id of the key that sealed it (4 bytes, big
 * endian), the 12-byte nonce, then the ciphertext and its 16-byte tag:
 * sealed exactly as the database's rows (AES-256-GCM with the store's
 * current key, associated data "attachment:<id>" and seq), so a file
 * copied to another name fails to open.
 *
 * attachment.write and attachment.read (store_attach.c, their parameters
 * checked there) run here as jobs on libuv's thread pool: the loop never
 * touches the disk, and a job holds one chunk.  A write is fsync'd, then
 * linked to its name and the folder fsync'd, before it is answered.  A
 * chunk not in the folder is read from the database (uploads stored
 * before the folder was configured).  The operations that delete uploads
 * leave their ids in ctx "gone"; their folders are removed here, after
 * the commit and before the call is answered.
 */
#include "store_attach.h"
#include "store_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "log.h"

#define MAGIC "CHA1"
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEAD_LEN (4 + 4 + NONCE_LEN)
#define FILE_MAX (HEAD_LEN + CH_ST_ATTACH_CHUNK + TAG_LEN)
#define PATH_MAX_LEN 4096

struct ch_st_files {
    char *dir; /* owned; no trailing slash */
};

enum job_kind { JOB_WRITE, JOB_READ, JOB_DELETE };

/* A request's part in the folder, on the thread pool. */
typedef struct fjob {
    uv_work_t work;
    ch_store *s;       /* borrowed */
    ch_store_req *req; /* owned by the store; back to ch_store_done */
    const char *dir;   /* borrowed from the ch_st_files */
    int kind;
    int err;        /* JOB_DELETE: the first errno, for the log */
    int64_t bad_id; /* ... and its upload */
    size_t n_ids;   /* JOB_DELETE: the uploads */
    int64_t ids[];
} fjob;

int ch_st_attach_path(char *out, size_t n, const char *dir, int64_t id, int seq, const char *ext)
{
    int len;

    if (!dir || !dir[0] || id < 1 || seq < 0 || n == 0)
        return -1;
    len = ext ? snprintf(out, n, "%s/%lld/%d.%s", dir, (long long)id, seq, ext)
              : snprintf(out, n, "%s/%lld", dir, (long long)id);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

ch_st_files *ch_st_files_new(const char *dir, char *err, size_t errlen)
{
    ch_st_files *f = calloc(1, sizeof *f);
    size_t len;

    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    len = strlen(f->dir);
    while (len > 1 && f->dir[len - 1] == '/')
        f->dir[--len] = '\0';
    if (mkdir(f->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "attachment_dir %s: %s", f->dir, strerror(errno));
        ch_st_files_free(f);
        return NULL;
    }
    if (access(f->dir, R_OK | W_OK | X_OK) != 0) {
        snprintf(err, errlen, "attachment_dir %s: %s", f->dir, strerror(errno));
        ch_st_files_free(f);
        return NULL;
    }
    return f;
}

void ch_st_files_free(ch_st_files *f)
{
    if (f) {
        free(f->dir);
        free(f);
    }
}

/* fsync the folder at path (its entries on disk).  0 or -errno. */
static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Write buf[0..len) to a new file at path (0600), fsync'd.  0 or -errno. */
static int write_file(const char *path, const unsigned char *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;
    size_t off = 0;

    if (fd < 0)
        return -errno;
    while (off < len && rc == 0) {
        ssize_t w = write(fd, buf + off, len - off);

        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EINTR)
            rc = -errno;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* The sealed chunk's file bytes into out (FILE_MAX): its length, or -1. */
static long seal_chunk(const ch_store_req *req, int64_t id, int seq, unsigned char *out)
{
    const char *d = json_string_value(json_object_get(req->params, "data"));
    char place[40], *nonce = NULL, *sealed = NULL;
    unsigned char *plain, *nb = NULL, *sb = NULL;
    size_t len = 0, nlen = 0, slen = 0;
    int key_id = 0;
    long total = -1;

    plain = ch_b64_decode(d, strlen(d), CH_B64_STD, &len);
    ch_st_chunk_place(place, id);
    if (plain &&
        ch_seal(req->keys, place, seq, (const char *)plain, len, &key_id, &nonce, &sealed) == 0 &&
        (nb = ch_b64_decode(nonce, strlen(nonce), CH_B64_STD, &nlen)) &&
        (sb = ch_b64_decode(sealed, strlen(sealed), CH_B64_STD, &slen)) && nlen == NONCE_LEN &&
        slen <= CH_ST_ATTACH_CHUNK + TAG_LEN) {
        memcpy(out, MAGIC, 4);
        out[4] = (unsigned char)(key_id >> 24);
        out[5] = (unsigned char)(key_id >> 16);
        out[6] = (unsigned char)(key_id >> 8);
        out[7] = (unsigned char)key_id;
        memcpy(out + 8, nb, NONCE_LEN);
        memcpy(out + HEAD_LEN, sb, slen);
        total = (long)(HEAD_LEN + slen);
    }
    free(plain);
    free(nonce);
    free(sealed);
    free(nb);
    free(sb);
    return total;
}

/* attachment.write on the thread pool: seal, write "<seq>.tmp", fsync,
 * link to "<seq>.chunk" (taken already: "imported": false), fsync the
 * upload's folder. */
static void job_write(fjob *j)
{
    ch_store_req *req = j->req;
    int64_t id = json_integer_value(json_object_get(req->params, "id"));
    int seq = (int)json_integer_value(json_object_get(req->params, "seq"));
    char folder[PATH_MAX_LEN], tmp[PATH_MAX_LEN], final[PATH_MAX_LEN];
    unsigned char *buf = malloc(FILE_MAX);
    long len = buf ? seal_chunk(req, id, seq, buf) : -1;
    int rc, fresh;

    if (len < 0) {
        free(buf);
        ch_store_fail(req, CH_STORE_EIO, "sealing a chunk failed");
        return;
    }
    if (ch_st_attach_path(folder, sizeof folder, j->dir, id, 0, NULL) != 0 ||
        ch_st_attach_path(tmp, sizeof tmp, j->dir, id, seq, "tmp") != 0 ||
        ch_st_attach_path(final, sizeof final, j->dir, id, seq, "chunk") != 0) {
        free(buf);
        ch_store_fail(req, CH_STORE_EIO, "attachment_dir: the path is too long");
        return;
    }
    fresh = mkdir(folder, 0700) == 0;
    rc = fresh || errno == EEXIST ? 0 : -errno;
    if (rc == 0 && fresh)
        rc = sync_dir(j->dir);
    if (rc == 0)
        rc = write_file(tmp, buf, (size_t)len);
    free(buf);
    fresh = rc == 0 && link(tmp, final) == 0;
    if (rc == 0 && !fresh && errno != EEXIST)
        rc = -errno;
    unlink(tmp);
    if (rc == 0)
        rc = sync_dir(folder);
    if (rc != 0) {
        ch_store_fail(req, CH_STORE_EIO, "attachment %lld: writing chunk %d: %s", (long long)id,
                      seq, strerror(-rc));
        return;
    }
    req->result = json_pack("{s:b, s:b}", "written", 1, "imported", fresh);
}

/* Read the file at path (at most FILE_MAX bytes) into buf: its length,
 * or -errno (-EIO: too long). */
static long read_file(const char *path, unsigned char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long total = 0;

    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t r = read(fd, buf + total, (size_t)(FILE_MAX + 1 - total));

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            total = r < 0 ? -errno : total;
            break;
        }
        total += r;
        if (total > FILE_MAX) {
            total = -EIO;
            break;
        }
    }
    close(fd);
    return total;
}

/* Open the file bytes buf[0..len) of chunk seq of upload id into base64
 * of the plain bytes (new), or NULL. */
static char *open_chunk(const ch_store_req *req, int64_t id, int seq, const unsigned char *buf,
                        long len)
{
    char place[40], *nonce = NULL, *sealed = NULL, *plain = NULL, *b64 = NULL;
    size_t plen = 0;
    int key_id;

    if (len < HEAD_LEN + TAG_LEN || memcmp(buf, MAGIC, 4) != 0)
        return NULL;
    key_id = (int)((uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 |
                   (uint32_t)buf[7]);
    ch_st_chunk_place(place, id);
    nonce = ch_b64_encode(buf + 8, NONCE_LEN, CH_B64_STD);
    sealed = ch_b64_encode(buf + HEAD_LEN, (size_t)len - HEAD_LEN, CH_B64_STD);
    if (nonce && sealed &&
        ch_open(req->keys, key_id, place, seq, nonce, sealed, &plain, &plen) == 0)
        b64 = ch_b64_encode(plain, plen, CH_B64_STD);
    free(nonce);
    free(sealed);
    free(plain);
    return b64;
}

/* attachment.read on the thread pool: the chunk's file opened into
 * {"data"}; ENOENT without one (then the database is asked). */
static void job_read(fjob *j)
{
    ch_store_req *req = j->req;
    int64_t id = json_integer_value(json_object_get(req->params, "id"));
    int seq = (int)json_integer_value(json_object_get(req->params, "seq"));
    char path[PATH_MAX_LEN], *b64 = NULL;
    unsigned char *buf = malloc(FILE_MAX + 1);
    long len = -ENOMEM;

    if (buf && ch_st_attach_path(path, sizeof path, j->dir, id, seq, "chunk") == 0)
        len = read_file(path, buf);
    if (len == -ENOENT)
        ch_store_fail(req, CH_STORE_ENOENT, "no such chunk");
    else if (len < 0 || !(b64 = open_chunk(req, id, seq, buf, len)))
        ch_store_fail(req, CH_STORE_EIO, "attachment %lld: a chunk cannot be opened",
                      (long long)id);
    else
        req->result = json_pack("{s:s}", "data", b64);
    free(b64);
    free(buf);
}

/* Remove upload id's folder and its files.  0 or -errno (none: 0). */
static int remove_upload(const char *dir, int64_t id)
{
    char folder[PATH_MAX_LEN];
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (ch_st_attach_path(folder, sizeof folder, dir, id, 0, NULL) != 0)
        return -ENAMETOOLONG;
    if (!(d = opendir(folder)))
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT && rc == 0)
            rc = -errno;
    closedir(d);
    if (rmdir(folder) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

/* The deleted uploads' folders removed, then the top folder fsync'd. */
static void job_delete(fjob *j)
{
    for (size_t i = 0; i < j->n_ids; i++) {
        int rc = remove_upload(j->dir, j->ids[i]);

        if (rc != 0 && j->err == 0) {
            j->err = -rc;
            j->bad_id = j->ids[i];
        }
    }
    sync_dir(j->dir);
}

/* On the thread pool. */
static void job_run(uv_work_t *w)
{
    fjob *j = w->data;

    if (j->kind == JOB_WRITE)
        job_write(j);
    else if (j->kind == JOB_READ)
        job_read(j);
    else
        job_delete(j);
}

/* Back on the loop: the request goes on (a read the folder lacks: to the
 * database), the job is freed. */
static void job_end(uv_work_t *w, int status)
{
    fjob *j = w->data;
    ch_store *s = j->s;
    ch_store_req *req = j->req;

    if (status != 0 && j->kind != JOB_DELETE)
        ch_store_fail(req, CH_STORE_ECANCELED, "cancelled");
    if (j->kind == JOB_DELETE && j->err)
        ch_log(CH_LOG_WARN, "attachment_dir: removing upload %lld: %s", (long long)j->bad_id,
               strerror(j->err));
    req->files_done = 1;
    free(j);
    if (req->op == ch_st_attach_op("attachment.read") && req->status == CH_STORE_ENOENT) {
        ch_store_req_rewind(req);
        if (ch_store_submit(s, req) != 0) {
            ch_store_fail(req, CH_STORE_ENOENT, "no such chunk");
            ch_store_done(s, req);
        }
    } else {
        ch_store_done(s, req);
    }
    ch_store_files_busy(s, -1);
}

/* Queue j (a new job of n_ids ids) for req. */
static fjob *job_new(ch_store *s, ch_st_files *f, ch_store_req *req, int kind, size_t n_ids)
{
    fjob *j = calloc(1, sizeof *j + n_ids * sizeof j->ids[0]);

    if (!j)
        return NULL;
    j->work.data = j;
    j->s = s;
    j->req = req;
    j->dir = f->dir;
    j->kind = kind;
    j->n_ids = n_ids;
    return j;
}

/* Start j on the pool: 0, or -1 (j freed). */
static int job_start(fjob *j)
{
    ch_store *s = j->s;

    if (uv_queue_work(ch_store_loop(s), &j->work, job_run, job_end) != 0) {
        free(j);
        return -1;
    }
    ch_store_files_busy(s, 1);
    return 0;
}

int ch_st_files_take(ch_store *s, ch_st_files *f, ch_store_req *req)
{
    int kind;
    fjob *j;

    if (!f || req->files_done)
        return 0;
    if (req->op == ch_st_attach_op("attachment.write"))
        kind = JOB_WRITE;
    else if (req->op == ch_st_attach_op("attachment.read"))
        kind = JOB_READ;
    else
        return 0;
    if (!(j = job_new(s, f, req, kind, 0)) || job_start(j) != 0)
        return 0; /* the database, as without a folder */
    return 1;
}

int ch_st_files_after(ch_store *s, ch_st_files *f, ch_store_req *req)
{
    json_t *gone = json_object_get(req->ctx, "gone");
    size_t i, n = json_array_size(gone);
    json_t *v;
    fjob *j;

    if (!f || req->files_done || req->status != 0 || n == 0)
        return 0;
    if (!(j = job_new(s, f, req, JOB_DELETE, n))) {
        ch_log(CH_LOG_WARN, "attachment_dir: out of memory: %zu upload folder(s) left", n);
        return 0;
    }
    json_array_foreach(gone, i, v) j->ids[i] = json_integer_value(v);
    if (job_start(j) != 0) {
        ch_log(CH_LOG_WARN, "attachment_dir: %zu upload folder(s) left", n);
        return 0;
    }
    return 1;
}
