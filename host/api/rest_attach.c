/*
 * rest_attach.c -- files attached to a room's messages (docs/api.md,
 * "Attachments"):
 *
 *   POST /api/rooms/<id>/attachments/?name=NAME   (a participant; the raw
 *       file as the body, its media type as Content-Type, the name from
 *       ?name= or Content-Disposition's filename)
 *       -> 201 {"id", "name", "type", "size", "room_id", ...}
 *   GET /api/attachments/<id>/   (a participant of its room; Range)
 *       -> 200 / 206 the bytes, 403, 404, 416
 *
 * The upload is dispatched at its headers (ch_rest_streamed, http.h's
 * streamed requests): a Content-Length over attachment_max_size is
 * answered 413 before a byte of the body is read (the connection is then
 * closed), a type outside attachment_types 415.  The body then goes to
 * the store in CH_ST_ATTACH_CHUNK pieces, one write in flight: reading
 * pauses while it runs, so an upload holds at most a chunk and one read
 * in memory, and the loop never touches the disk (the store seals each
 * chunk and writes it on its own terms: SQLite's worker thread,
 * PostgreSQL's non-blocking connection, or libuv's thread pool for an
 * attachment_dir).  A body growing past the limit
 * (chunked) is answered 413 when it does.
 *
 * The download reads a chunk at a time from the store and writes the
 * part of it the range wants, waiting for the output to drain past
 * DOWNLOAD_QUEUED bytes.  Each state is the request's scratch block
 * (rest.h), freed with it.
 */
#include "rest.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "b64.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "multipart.h"
#include "router.h"
#include "store.h"
#include "store_attach.h"

#define CHUNK CH_ST_ATTACH_CHUNK
#define DOWNLOAD_QUEUED (256u << 10) /* queued output before waiting */

/* An upload being received. */
typedef struct upload {
    ch_rest *r;
    int64_t id;        /* the store's attachment id, once created */
    uint64_t size;     /* body bytes received */
    int seq;           /* the next chunk's number */
    unsigned busy : 1; /* a store call is in flight */
    unsigned ended : 1;
    unsigned multipart : 1; /* the body is multipart/form-data (mp) */
    unsigned in_file : 1;   /* ... in the file's part */
    unsigned file_done : 1; /* ... the file's part ended */
    ch_multipart mp;
    size_t fill, cap; /* buf holds fill bytes (at most cap) */
    char name[CH_REST_FILE_NAME_MAX + 1], type[128];
    unsigned char buf[]; /* a chunk and a read: what one body call can leave */
} upload;

/* A download being written. */
typedef struct download {
    ch_rest *r;
    int64_t id;
    uint64_t first, last; /* the bytes to send, inclusive */
    uint64_t at;          /* the next byte to send */
    int status;           /* 200 or 206, for the access line */
} download;

/* ---- the request's shape ------------------------------------------------- */

int ch_rest_streamed(int method, const char *url, size_t len)
{
    static const char head[] = "/api/rooms/", tail[] = "/attachments";
    size_t i = sizeof head - 1, digits;

    if (method != HTTP_POST || len < i || memcmp(url, head, i) != 0)
        return 0;
    for (digits = 0; i < len && url[i] >= '0' && url[i] <= '9'; i++)
        digits++;
    if (!digits || len - i < sizeof tail - 1 || memcmp(url + i, tail, sizeof tail - 1) != 0)
        return 0;
    i += sizeof tail - 1;
    i += i < len && url[i] == '/';
    return i == len || url[i] == '?';
}

int ch_rest_media_type(const char *v, char *out, size_t outlen)
{
    static const char tok[] = "abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-";
    size_t n = v ? strcspn(v, ";") : 0, i, slash;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= outlen)
        return -1;
    for (i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)v[i]);
    out[n] = '\0';
    slash = strspn(out, tok);
    return slash > 0 && out[slash] == '/' && out[slash + 1] &&
                   strspn(out + slash + 1, tok) == n - slash - 1
               ? 0
               : -1;
}

int ch_rest_type_allowed(const char *list, const char *type)
{
    const char *p = list ? list : CH_REST_ATTACH_TYPES;

    while (*p) {
        size_t n = strcspn(p, ","), k;
        const char *e = p + strspn(p, " ");

        k = n - (size_t)(e - p);
        while (k > 0 && e[k - 1] == ' ')
            k--;
        if (k > 0 && e[k - 1] == '*' ? strncmp(type, e, k - 1) == 0
                                     : strlen(type) == k && strncmp(type, e, k) == 0)
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

void ch_rest_file_name(const char *query, const char *disposition, char *out)
{
    const char *v = NULL, *p;
    size_t n = 0, i;
    char *dec = NULL;

    for (p = query; p && *p; p += strcspn(p, "&") + (p[strcspn(p, "&")] == '&'))
        if (strncmp(p, "name=", 5) == 0 && (dec = ch_percent_decode(p + 5, strcspn(p + 5, "&"))))
            break;
    if (dec) {
        v = dec;
        n = strlen(dec);
    } else if (disposition && (p = strstr(disposition, "filename="))) {
        v = p + 9 + (p[9] == '"');
        n = p[9] == '"' ? strcspn(v, "\"") : strcspn(v, "; ");
    }
    for (i = n; v && i > 0; i--)
        if (v[i - 1] == '/' || v[i - 1] == '\\')
            break;
    if (v) {
        v += i;
        n -= i;
    }
    if (n > CH_REST_FILE_NAME_MAX) {
        n = CH_REST_FILE_NAME_MAX;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    if (!v || n == 0 || (n == 1 && v[0] == '.') || (n == 2 && v[0] == '.' && v[1] == '.')) {
        v = "file";
        n = 4;
    }
    for (i = 0; i < n; i++)
        out[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '_' : v[i];
    out[n] = '\0';
    free(dec);
}

/* ---- upload ------------------------------------------------------------------- */

static int upload_write(upload *u);
static void upload_mp_created(int status, json_t *result, const char *error, void *arg);

/* The upload's answer: 201 with the attachment (result borrowed). */
static void upload_finished(int status, json_t *result, const char *error, void *arg)
{
    upload *u = arg;
    ch_rest *r = u->r;
    json_t *a = json_object_get(result, "attachment");

    if (ch_rest_gone(r))
        ch_rest_drop(r);
    else if (status != 0)
        ch_rest_store_failed(r, status, error);
    else {
        ch_metric_count(CH_M_ATTACH_UPLOADS);
        ch_metric_add(CH_M_ATTACH_UPLOAD_BYTES, u->size);
        ch_rest_reply(r, 201, json_incref(a), NULL);
    }
}

/* Queue a store call for the upload; on a refusal r is answered.
 * Returns 0, or -1 (r answered and freed). */
static int upload_call(upload *u, const char *op, json_t *params, ch_store_cb cb)
{
    int rc = params ? ch_store_call(u->r->app->store, op, params, cb, u) : CH_STORE_EIO;

    if (rc != 0)
        ch_rest_store_failed(u->r, rc, NULL);
    return rc != 0 ? -1 : 0;
}

/* A chunk was written (or the upload created): the next chunk, more of
 * the body, or the end. */
static void upload_written(int status, json_t *result, const char *error, void *arg)
{
    upload *u = arg;

    (void)result;
    u->busy = 0;
    if (ch_rest_gone(u->r))
        ch_rest_drop(u->r);
    else if (status != 0)
        ch_rest_store_failed(u->r, status, error);
    else if (u->fill >= CHUNK || (u->ended && u->fill > 0))
        upload_write(u);
    else if (u->ended)
        upload_call(u, "attachment.finish",
                    json_pack("{s:I, s:I}", "id", (json_int_t)u->id, "size", (json_int_t)u->size),
                    upload_finished);
    else
        ch_http_body_more(u->r->conn);
}

/* Write the first chunk of buf (a whole one, or the rest at the end).
 * 0, or -1 when r was answered (and freed). */
static int upload_write(upload *u)
{
    size_t n = u->fill < CHUNK ? u->fill : CHUNK;
    char *b64 = ch_b64_encode(u->buf, n, CH_B64_STD);
    json_t *params = b64 ? json_pack("{s:I, s:i, s:s}", "id", (json_int_t)u->id, "seq", u->seq,
                                     "data", b64)
                         : NULL;

    free(b64);
    memmove(u->buf, u->buf + n, u->fill - n);
    u->fill -= n;
    u->seq++;
    u->busy = 1;
    return upload_call(u, "attachment.write", params, upload_written);
}

/* Bytes of the file: counted against the limit, kept, a chunk written
 * when one is full and nothing is in flight.  0, or -1 when r was
 * answered (and freed). */
static int upload_take(upload *u, const char *data, size_t len)
{
    ch_rest *r = u->r;

    u->size += len;
    if (u->size > r->app->cfg.attachment_max_size) {
        ch_rest_fail(r, 413, "too_large", "the file is over %llu bytes",
                     (unsigned long long)r->app->cfg.attachment_max_size);
        return -1;
    }
    if (u->fill + len > u->cap) { /* reading pauses before it could */
        ch_rest_fail(r, 500, "internal", "upload buffer overrun");
        return -1;
    }
    memcpy(u->buf + u->fill, data, len);
    u->fill += len;
    return !u->busy && u->fill >= CHUNK ? upload_write(u) : 0;
}

/* The body ended: the last chunk and the finish, once nothing is in
 * flight (else upload_written does them). */
static void upload_ended(upload *u)
{
    u->ended = 1;
    if (!u->busy && u->fill > 0)
        upload_write(u);
    else if (!u->busy)
        upload_written(0, NULL, NULL, u);
}

/* A multipart body's part begins: the first file part (one with a
 * filename) is the upload; its type is checked and the upload created.
 * Other parts are skipped.  0, or 1 when r was answered (and freed). */
static int mp_begin(void *arg, const ch_mp_part *part)
{
    upload *u = arg;
    ch_rest *r = u->r;

    if (u->in_file || u->file_done || !strstr(part->disposition, "filename"))
        return 0;
    if (ch_rest_media_type(part->content_type[0] ? part->content_type : "application/octet-stream",
                           u->type, sizeof u->type) != 0 ||
        !ch_rest_type_allowed(r->app->cfg.attachment_types, u->type)) {
        ch_rest_fail(r, 415, "unsupported_type", "this type of file is not accepted");
        return 1;
    }
    ch_rest_file_name(NULL, part->disposition, u->name);
    u->in_file = 1;
    u->busy = 1; /* until created: upload_written */
    return upload_call(u, "attachment.create",
                       json_pack("{s:I, s:I, s:s, s:s}", "room_id", (json_int_t)r->id,
                                 "uploader_id", (json_int_t)r->uid, "name", u->name, "type",
                                 u->type),
                       upload_mp_created) != 0;
}

/* Data of a part: the file's is taken.  0, or 1 (r answered). */
static int mp_data(void *arg, const char *data, size_t len)
{
    upload *u = arg;

    return u->in_file && upload_take(u, data, len) != 0;
}

/* A part ends: the file is complete if it was the file's. */
static int mp_end(void *arg)
{
    upload *u = arg;

    u->file_done |= u->in_file;
    u->in_file = 0;
    return 0;
}

static const ch_mp_events mp_events = {mp_begin, mp_data, mp_end};

/* The body's reader (http.h): the file's bytes (the raw body, or the
 * file part of a multipart one) into buf; reading pauses while a store
 * call is in flight. */
static int upload_body(void *arg, const char *data, size_t len)
{
    upload *u = arg;
    int multipart = u->multipart, rc; /* u is gone once r was answered */

    if (!data && multipart && (!u->file_done || !ch_mp_done(&u->mp))) {
        ch_rest_fail(u->r, 400, "invalid", "the form has no complete file part");
        return 0;
    }
    if (!data) {
        upload_ended(u);
        return 0;
    }
    rc = multipart ? ch_mp_feed(&u->mp, data, len) : upload_take(u, data, len);
    if (rc < 0 && multipart)
        ch_rest_fail(u->r, 400, "invalid", "malformed multipart/form-data body");
    if (rc != 0)
        return 0; /* answered: the reader is off */
    return u->busy;
}

/* attachment.create answered: read the body (raw uploads). */
static void upload_created(ch_rest *r, int status, json_t *result, const char *error)
{
    upload *u = r->scratch;

    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    u->id = json_integer_value(json_object_get(result, "id"));
    ch_http_body_read(r->conn, upload_body, u);
}

/* attachment.create answered for a multipart upload, while the body is
 * being read: go on as after a write. */
static void upload_mp_created(int status, json_t *result, const char *error, void *arg)
{
    upload *u = arg;

    u->id = json_integer_value(json_object_get(result, "id"));
    upload_written(status, result, error, u);
}

void ch_rest_attach_upload(ch_rest *r)
{
    ch_conn *c = r->conn;
    const char *len = ch_http_req_header(c, "content-length");
    const char *ctype = ch_http_req_header(c, "content-type");
    char boundary[CH_MP_BOUNDARY_MAX + 1];
    size_t cap = CHUNK + r->app->read_buf_size;
    upload *u = calloc(1, sizeof *u + cap);

    if (!u) {
        ch_rest_fail(r, 500, "internal", "out of memory");
        return;
    }
    r->scratch = u;
    u->r = r;
    u->cap = cap;
    if (!ch_http_streamed(c)) { /* a path ch_rest_streamed does not see so */
        ch_rest_fail(r, 400, "invalid", "upload to /api/rooms/<id>/attachments/");
        return;
    }
    if (len && strtoull(len, NULL, 10) > r->app->cfg.attachment_max_size) {
        ch_rest_fail(r, 413, "too_large", "the file is over %llu bytes",
                     (unsigned long long)r->app->cfg.attachment_max_size);
        return;
    }
    if (ch_rest_media_type(ctype, u->type, sizeof u->type) == 0 &&
        strcmp(u->type, "multipart/form-data") == 0) {
        if (ch_mp_boundary(ctype, boundary) != 0) {
            ch_rest_fail(r, 400, "invalid", "multipart/form-data without a boundary");
            return;
        }
        u->multipart = 1;
        ch_mp_init(&u->mp, boundary, &mp_events, u);
        ch_rest_async(r);
        ch_http_body_read(c, upload_body, u);
        return;
    }
    if (ch_rest_media_type(ctype, u->type, sizeof u->type) != 0 ||
        !ch_rest_type_allowed(r->app->cfg.attachment_types, u->type)) {
        ch_rest_fail(r, 415, "unsupported_type", "this type of file is not accepted");
        return;
    }
    ch_rest_file_name(r->req ? r->req->query : NULL, ch_http_req_header(c, "content-disposition"),
                      u->name);
    ch_rest_store(r, "attachment.create",
                  json_pack("{s:I, s:I, s:s, s:s}", "room_id", (json_int_t)r->id, "uploader_id",
                            (json_int_t)r->uid, "name", u->name, "type", u->type),
                  upload_created);
}

/* ---- download ------------------------------------------------------------------- */

/* The Content-Disposition line for a name (its first
 * CH_REST_FILE_NAME_MAX bytes; inline for images but SVG, which may carry
 * script): an ASCII fallback with '"', '\\', controls and each non-ASCII
 * character as '_', and the UTF-8 name percent-encoded (RFC 6266).  New
 * string (the caller frees it), NULL when out of memory. */
static char *disposition(const char *type, const char *name)
{
    int is_inline = strncmp(type, "image/", 6) == 0 && strcmp(type, "image/svg+xml") != 0;
    size_t n = strnlen(name, CH_REST_FILE_NAME_MAX), i, o = 0, a = 0;
    char *ascii, *enc, *line = NULL;

    while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) /* an imported name cut */
        n--;
    ascii = malloc(n + 1);
    enc = malloc(3 * n + 1);
    for (i = 0; ascii && enc && i < n; i++) {
        unsigned char ch = (unsigned char)name[i];

        if (ch < 0x80 || ch >= 0xC0) /* one '_' per character beyond ASCII */
            ascii[a++] = ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' ? '_' : (char)ch;
        if (isalnum(ch) || strchr("!#$&+-.^_`|~", ch))
            enc[o++] = (char)ch;
        else
            o += (size_t)sprintf(enc + o, "%%%02X", ch);
    }
    if (ascii && enc) {
        ascii[a] = enc[o] = '\0';
        if (asprintf(&line, "Content-Disposition: %s; filename=\"%s\"; filename*=UTF-8''%s\r\n",
                     is_inline ? "inline" : "attachment", ascii, enc) < 0)
            line = NULL;
    }
    free(ascii);
    free(enc);
    return line;
}

/* The download ended (sent, or its connection gone): the access line,
 * then r goes. */
static void download_done(ch_rest *r, int status)
{
    ch_conn *c = r->conn;

    if (!ch_rest_gone(r)) {
        ch_http_stream_end(c);
        ch_log(CH_LOG_INFO, "HTTP %s %d [%.3f, %s]", r->what ? r->what : "?", status,
               (double)(uv_hrtime() - r->started_ns) / 1e9, ch_conn_peer(c));
        if (!ch_rest_gone(r))
            ch_http_resume(c);
    }
    ch_rest_drop(r);
}

static void download_next(void *arg);

/* A chunk arrived: send the part of it in range, then the next. */
static void download_chunk(int status, json_t *result, const char *error, void *arg)
{
    download *d = arg;
    ch_rest *r = d->r;
    const char *b64 = json_string_value(json_object_get(result, "data"));
    size_t len = 0;
    unsigned char *bytes = b64 ? ch_b64_decode(b64, strlen(b64), CH_B64_STD, &len) : NULL;
    uint64_t base = d->at / CHUNK * CHUNK, off = d->at - base, end = d->last + 1 - base;

    if (ch_rest_gone(r) || status != 0 || !bytes || off >= len) {
        if (!ch_rest_gone(r))
            ch_log(CH_LOG_ERROR, "attachment %lld: %s", (long long)d->id,
                   error ? error : "a chunk is missing");
        free(bytes);
        if (!ch_rest_gone(r))
            ch_conn_close(r->conn); /* the head is out: only closing tells the client */
        ch_rest_drop(r);
        return;
    }
    if (end > len)
        end = len;
    if (ch_http_stream_more(r->conn, bytes + off, (size_t)(end - off)) != 0) {
        free(bytes);
        ch_rest_drop(r);
        return;
    }
    free(bytes);
    d->at = base + end;
    if (d->at > d->last)
        download_done(r, d->status);
    else if (ch_conn_queued_bytes(r->conn) > DOWNLOAD_QUEUED)
        ch_http_stream_wait(r->conn, download_next, d);
    else
        download_next(d);
}

/* Ask the store for the chunk holding d->at (or drop r if its
 * connection went away while waiting). */
static void download_next(void *arg)
{
    download *d = arg;
    ch_rest *r = d->r;
    json_t *params = json_pack("{s:I, s:I}", "id", (json_int_t)d->id, "seq",
                               (json_int_t)(d->at / CHUNK));

    if (ch_rest_gone(r)) {
        json_decref(params);
        ch_rest_drop(r);
        return;
    }
    if (!params || ch_store_call(r->app->store, "attachment.read", params, download_chunk, d)) {
        ch_conn_close(r->conn);
        ch_rest_drop(r);
    }
}

/* attachment.get answered: check, then the head and the first chunk. */
static void download_found(ch_rest *r, int status, json_t *result, const char *error)
{
    download *d = r->scratch;
    const json_t *a = json_object_get(result, "attachment");
    const char *stored = json_string_value(json_object_get(a, "type"));
    uint64_t size = (uint64_t)json_integer_value(json_object_get(a, "size"));
    char extra[160], *disp, *head = NULL, type[128];
    int ranged;

    if (status != 0) {
        ch_rest_store_failed(r, status, error);
        return;
    }
    if (ch_rest_media_type(stored, type, sizeof type) != 0) /* an import's, unchecked */
        snprintf(type, sizeof type, "application/octet-stream");
    if (!json_is_true(json_object_get(result, "member"))) {
        ch_rest_fail(r, 403, "forbidden", "not a participant of the attachment's room");
        return;
    }
    ranged = ch_http_range(ch_http_req_header(r->conn, "range"), size, &d->first, &d->last);
    if (ranged < 0) {
        snprintf(extra, sizeof extra, "Content-Range: bytes */%llu\r\n", (unsigned long long)size);
        ch_rest_reply(r, 416, json_pack("{s:s}", "error", "range_not_satisfiable"), extra);
        return;
    }
    if (!ranged) {
        d->first = 0;
        d->last = size ? size - 1 : 0;
    }
    extra[0] = '\0';
    if (ranged)
        snprintf(extra, sizeof extra, "Content-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)d->first, (unsigned long long)d->last,
                 (unsigned long long)size);
    disp = disposition(type, json_string_value(json_object_get(a, "name")));
    if (!disp || asprintf(&head,
                          "%s%sAccept-Ranges: bytes\r\nCache-Control: private, no-store\r\n"
                          "X-Content-Type-Options: nosniff\r\n",
                          extra, disp) < 0) {
        free(disp);
        ch_rest_fail(r, 500, "internal", "out of memory");
        return;
    }
    free(disp);
    d->status = ranged ? 206 : 200;
    status = ch_http_stream_start(r->conn, d->status, type, head,
                                  size ? (size_t)(d->last - d->first + 1) : 0);
    free(head);
    d->at = d->first;
    if (status == 0)
        ch_metric_count(CH_M_ATTACH_DOWNLOADS);
    if (status != 0)
        ch_rest_drop(r);
    else if (size == 0)
        download_done(r, 200);
    else
        download_next(d);
}

void ch_rest_attach_get(ch_rest *r)
{
    download *d = calloc(1, sizeof *d);

    if (!d) {
        ch_rest_fail(r, 500, "internal", "out of memory");
        return;
    }
    r->scratch = d;
    d->r = r;
    d->id = r->id;
    ch_rest_store(r, "attachment.get",
                  json_pack("{s:I, s:I}", "id", (json_int_t)r->id, "user_id", (json_int_t)r->uid),
                  download_found);
}
