/*
 * static.c -- serving files from static_dir without blocking the loop.
 *
 * Path checks happen twice on purpose: ".." segments are refused before
 * touching the disk, and the resolved real path must still lie inside the
 * real static_dir, which also catches symlinks pointing out of it.
 */
#include "static.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "app.h"
#include "conn.h"
#include "http.h"
#include "msg.h"

#define CH_STATIC_MAX_FILE (16u << 20)

typedef struct static_job {
    uv_work_t work;
    ch_conn *conn;
    char *root;
    char *path;
    ch_buf *body; /* result, NULL: not found */
    const char *ctype;
} static_job;

const char *ch_static_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(name, '.');
    size_t i;

    for (i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Non-zero if path has a "." or ".." segment or a backslash. */
static int has_dot_segment(const char *path)
{
    const char *p = path;

    if (strchr(path, '\\'))
        return 1;
    while ((p = strchr(p, '/')) != NULL) {
        p++;
        if ((p[0] == '.' && (p[1] == '/' || p[1] == '\0')) ||
            (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')))
            return 1;
    }
    return 0;
}

char *ch_static_resolve(const char *root, const char *path)
{
    char real_root[PATH_MAX], joined[PATH_MAX], *real;
    struct stat st;
    size_t rl;
    int n;

    if (path[0] != '/' || has_dot_segment(path) || !realpath(root, real_root))
        return NULL;
    n = snprintf(joined, sizeof joined, "%s%s%s", real_root, path,
                 path[strlen(path) - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof joined || !(real = realpath(joined, NULL)))
        return NULL;
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        n = snprintf(joined, sizeof joined, "%s/index.html", real);
        free(real);
        if (n < 0 || (size_t)n >= sizeof joined || !(real = realpath(joined, NULL)))
            return NULL;
    }
    rl = strlen(real_root);
    if (strncmp(real, real_root, rl) != 0 || real[rl] != '/' || stat(real, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size > CH_STATIC_MAX_FILE) {
        free(real);
        return NULL;
    }
    return real;
}

/* Read a whole file into a new buffer, or NULL. */
static ch_buf *read_file(const char *file)
{
    struct stat st;
    ch_buf *b = NULL;
    size_t got = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && st.st_size <= CH_STATIC_MAX_FILE)
        b = ch_buf_new((size_t)st.st_size);
    while (b && got < b->len) {
        ssize_t r = read(fd, b->data + got, b->len - got);

        if (r <= 0) {
            ch_buf_unref(b);
            b = NULL;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    return b;
}

/* Thread pool: resolve and read. */
static void job_work(uv_work_t *w)
{
    static_job *job = w->data;
    char *file = ch_static_resolve(job->root, job->path);

    if (!file)
        return;
    job->body = read_file(file);
    job->ctype = ch_static_content_type(file);
    free(file);
}

/* Loop thread: answer, unless the connection went away meanwhile. */
static void job_done(uv_work_t *w, int status)
{
    static_job *job = w->data;
    ch_conn *c = job->conn;

    if (!c->closing && c->http) {
        if (status == 0 && job->body)
            ch_http_respond_buf(c, 200, job->ctype, "Cache-Control: no-cache\r\n", job->body);
        else
            ch_http_error(c, 404, NULL);
        if (!c->closing && c->http)
            ch_http_resume(c);
    }
    ch_buf_unref(job->body);
    free(job->root);
    free(job->path);
    free(job);
    ch_conn_release(c);
}

int ch_static_wanted(ch_conn *c, const ch_req *req)
{
    (void)req;
    return c->app->cfg.static_dir != NULL;
}

void ch_static_serve(ch_conn *c, const ch_req *req)
{
    static_job *job;

    if (strcmp(req->method_name, "GET") != 0 && strcmp(req->method_name, "HEAD") != 0) {
        ch_http_error(c, 405, "Allow: GET, HEAD\r\n");
        return;
    }
    job = calloc(1, sizeof *job);
    if (!job || !(job->root = strdup(c->app->cfg.static_dir)) || !(job->path = strdup(req->path))) {
        if (job)
            free(job->root);
        free(job);
        ch_http_error(c, 500, NULL);
        return;
    }
    job->conn = c;
    job->work.data = job;
    ch_conn_hold(c);
    ch_http_suspend(c);
    if (uv_queue_work(c->app->loop, &job->work, job_work, job_done) != 0) {
        free(job->root);
        free(job->path);
        free(job);
        ch_conn_release(c);
        ch_http_error(c, 500, NULL);
        ch_http_resume(c);
    }
}
