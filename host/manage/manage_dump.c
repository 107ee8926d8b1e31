/*
 * manage_dump.c -- `chanhost export` and `chanhost import` (manage.h),
 * the backup of a store as JSON lines (docs/store.md has the format),
 * the plugins' tables included (their lines: manage_plugins.c).
 *
 * export writes JSON lines, one object per line with a "type": every
 * "user" (with its password hash), then every "room" (with its
 * "participants"), then every "message" (opened, with its "read_by"),
 * each in id order, then every "plugin_row" of the routes' plugins'
 * declared tables.  import reads them back in two passes: the first
 * checks every line against the store's own parameter checks and applies
 * nothing if any line is bad; the second applies the lines in rounds of
 * lines of one type, each line's row first and the rows hanging off it
 * (participants, read receipts) only once that row is in, so a line the
 * store refuses leaves nothing of itself behind.  Rows whose ids exist
 * already are skipped and counted.
 */
#include "manage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "store_attach.h"

#define PAGE 500        /* rows per export call */
#define CHUNK 256       /* import lines per round */
#define MAX_REPORTED 20 /* bad lines printed; the rest are counted */

/* ---- export ------------------------------------------------------------- */

enum { K_USER, K_ROOM, K_PART, K_MSG, K_READ, K_PLUGIN, K_ATT, K_ACHUNK, K_N };

static const char *const kind_names[K_N] = {"users",         "rooms",
                                            "participants",  "messages",
                                            "read receipts", "plugin rows",
                                            "attachments",   "attachment chunks"};

/* An export in progress. */
typedef struct exporter {
    ch_mg *m;
    FILE *f;
    uint64_t n[K_N];
    uint64_t lines, orphans;
    int64_t max_room; /* messages of rooms after it came too late */
} exporter;

/* Write obj (borrowed) as one line {"type": type, ...obj} without its
 * "room_key".  0 or -1 (out of memory). */
static int write_line(exporter *x, const char *type, const json_t *obj)
{
    json_t *line = json_pack("{s:s}", "type", type);
    char *text;

    if (!line || json_object_update(line, (json_t *)obj) != 0) {
        json_decref(line);
        return -1;
    }
    json_object_del(line, "room_key");
    text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text)
        return -1;
    fputs(text, x->f);
    fputc('\n', x->f);
    free(text);
    x->lines++;
    return 0;
}

static int put_user(exporter *x, const json_t *u)
{
    x->n[K_USER]++;
    return write_line(x, "user", u);
}

static int put_room(exporter *x, const json_t *r)
{
    x->n[K_ROOM]++;
    x->n[K_PART] += json_array_size(json_object_get(r, "participants"));
    x->max_room = json_integer_value(json_object_get(r, "id"));
    return write_line(x, "room", r);
}

/* A message of a room created after the rooms were written is left out
 * (it was written during the export): the file stays importable. */
static int put_message(exporter *x, const json_t *msg)
{
    if (json_integer_value(json_object_get(msg, "room_id")) > x->max_room) {
        x->orphans++;
        return 0;
    }
    x->n[K_MSG]++;
    x->n[K_READ] += json_array_size(json_object_get(msg, "read_by"));
    return write_line(x, "message", msg);
}

/* An attachment (a, borrowed) of a room written already: its line, its
 * media type as "media_type" ("type" is the line's), then one
 * "attachment_chunk" line per chunk {id: the attachment's, seq, data:
 * base64}, read one at a time.  0, or -1 (an error line when the store
 * failed). */
static int put_attachment(exporter *x, const json_t *a)
{
    json_t *line = json_deep_copy(a), *r;
    json_int_t id = json_integer_value(json_object_get(a, "id"));
    int64_t size = json_integer_value(json_object_get(a, "size")), seq = 0;
    int rc;

    if (json_integer_value(json_object_get(a, "room_id")) > x->max_room) {
        json_decref(line);
        x->orphans++;
        return 0;
    }
    json_object_set(line, "media_type", json_object_get(a, "type"));
    json_object_del(line, "type");
    rc = write_line(x, "attachment", line);
    json_decref(line);
    x->n[K_ATT]++;
    for (; rc == 0 && seq * CH_ST_ATTACH_CHUNK < size; seq++) {
        if (!(r = ch_mg_call(x->m, "attachment.read",
                             json_pack("{s:I, s:I}", "id", id, "seq", (json_int_t)seq))))
            return -2;
        line = json_pack("{s:I, s:I, s:O}", "id", id, "seq", (json_int_t)seq, "data",
                         json_object_get(r, "data"));
        rc = line ? write_line(x, "attachment_chunk", line) : -1;
        json_decref(line);
        json_decref(r);
        x->n[K_ACHUNK]++;
    }
    return rc;
}

/* Page through op's list key in id order, put(x, item) for each.  0, or
 * -1 after an error line. */
static int export_all(exporter *x, const char *op, const char *key,
                      int (*put)(exporter *, const json_t *))
{
    int64_t after = 0;
    size_t i, n;
    json_t *r, *item;
    int rc;

    do {
        r = ch_mg_call(x->m, op,
                       json_pack("{s:I, s:i}", "after_id", (json_int_t)after, "limit", PAGE));
        if (!r)
            return -1;
        n = json_array_size(json_object_get(r, key));
        json_array_foreach(json_object_get(r, key), i, item)
        {
            after = json_integer_value(json_object_get(item, "id"));
            if ((rc = put(x, item)) != 0) {
                json_decref(r);
                if (rc == -1)
                    ch_mg_error(x->m, "out of memory");
                return -1;
            }
        }
        json_decref(r);
    } while (n == PAGE);
    return 0;
}

/* The summary: one line per kind (to out, or to err when the data went
 * to out). */
static void export_summary(exporter *x, FILE *f, const char *dest)
{
    fprintf(f, "export to %s: %llu lines\n", dest, (unsigned long long)x->lines);
    for (int k = 0; k < K_N; k++)
        fprintf(f, "  %-14s %llu\n", kind_names[k], (unsigned long long)x->n[k]);
    if (x->orphans)
        fprintf(f, "  (%llu message(s) of rooms created during the export left out)\n",
                (unsigned long long)x->orphans);
}

/* Finish the output file: flushed, synced, closed and renamed from tmp
 * to path (or removed after a failure).  0 or -1 after an error line. */
static int finish_file(ch_mg *m, FILE *f, const char *tmp, const char *path, int ok)
{
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;

    bad |= fclose(f) != 0;
    if (ok && !bad && rename(tmp, path) == 0)
        return 0;
    if (ok)
        ch_mg_error(m, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

/* Write everything to x->f; 0 or -1. */
static int export_run(exporter *x)
{
    if (export_all(x, "export.users", "users", put_user) != 0 ||
        export_all(x, "export.rooms", "rooms", put_room) != 0 ||
        export_all(x, "export.messages", "messages", put_message) != 0 ||
        export_all(x, "export.attachments", "attachments", put_attachment) != 0 ||
        ch_mg_export_plugins(x->m, x->f, &x->lines, &x->n[K_PLUGIN]) != 0)
        return -1;
    return 0;
}

/* Open FILE.tmp-PID for writing, created anew with mode 0600 whatever
 * the umask (it holds password hashes and opened messages; a file left
 * there by someone else is refused, O_EXCL): the stream, with *tmp its
 * name (the caller frees it), or NULL after an error line. */
static FILE *open_output(ch_mg *m, const char *path, char **tmp)
{
    FILE *f = NULL;
    int fd;

    if (asprintf(tmp, "%s.tmp-%d", path, (int)getpid()) < 0) {
        *tmp = NULL;
        ch_mg_error(m, "out of memory");
        return NULL;
    }
    fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || !(f = fdopen(fd, "w"))) {
        ch_mg_error(m, "%s: %s", *tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(*tmp);
        }
    }
    return f;
}

/* `export [--output FILE]`: to FILE (written as FILE.tmp-PID, renamed
 * when complete) or to out. */
int ch_mg_export(ch_mg *m, const ch_config *cfg, int argc, char **argv)
{
    exporter x = {.m = m, .f = m->out};
    const char *path = NULL;
    char *tmp = NULL;
    int rc;

    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--output") == 0 || strcmp(argv[i], "-o") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else {
            ch_mg_error(m, "unknown argument %s (see chanhost --help)", argv[i]);
            return 2;
        }
    }
    if (ch_mg_schemas_load(m, cfg) != 0 || ch_mg_open(m, cfg, CH_MG_DB | CH_MG_KEYS) != 0)
        return 1;
    if (path && !(x.f = open_output(m, path, &tmp))) {
        ch_mg_close(m);
        free(tmp);
        return 1;
    }
    rc = export_run(&x);
    ch_mg_close(m);
    if (path)
        rc = finish_file(m, x.f, tmp, path, rc == 0);
    else if (fflush(m->out) != 0)
        rc = -1;
    if (rc == 0)
        export_summary(&x, path ? m->out : m->err, path ? path : "standard output");
    free(tmp);
    return rc == 0 ? 0 : 1;
}

/* ---- import ------------------------------------------------------------- */

/* A line of the current round. */
typedef struct imp_line {
    struct imp *x;
    json_t *obj; /* the parsed line */
    long no;     /* its line number */
    int kind;    /* K_USER, K_ROOM or K_MSG */
    int head_ok; /* its own row is in (new or present) */
} imp_line;

typedef struct imp {
    ch_mg *m;
    const char *path;
    uint64_t n[K_N][2]; /* imported, skipped */
    uint64_t lines;
    long errors;
    imp_line round[CHUNK];
    size_t n_round;
} imp;

/* Report "PATH:LINE: reason" (the first MAX_REPORTED; the rest are
 * counted). */
static void __attribute__((format(printf, 3, 4))) bad_line(imp *x, long no, const char *fmt, ...)
{
    va_list ap;

    if (x->errors++ >= MAX_REPORTED)
        return;
    fprintf(x->m->err, "%s:%ld: ", x->path, no);
    va_start(ap, fmt);
    vfprintf(x->m->err, fmt, ap);
    va_end(ap);
    fputc('\n', x->m->err);
}

/* The store operations of a line's kind: its row, and the rows hanging
 * off it (the list field, the foreign key, its two columns). */
static const struct line_kind {
    const char *type, *op, *list, *child_op, *fk, *c1, *c2;
    int child_kind;
} kinds[K_N] = {
    [K_USER] = {"user", "user.import", NULL, NULL, NULL, NULL, NULL, K_USER},
    [K_ROOM] = {"room", "room.import", "participants", "participant.import", "room_id", "user_id",
                "joined_at", K_PART},
    [K_MSG] = {"message", "message.import", "read_by", "read.import", "message_id", "user_id",
               "read_at", K_READ},
    [K_PLUGIN] = {"plugin_row", NULL, NULL, NULL, NULL, NULL, NULL, K_PLUGIN},
    [K_ATT] = {"attachment", "attachment.import", NULL, NULL, NULL, NULL, NULL, K_ATT},
    [K_ACHUNK] = {"attachment_chunk", "attachment.write", NULL, NULL, NULL, NULL, NULL, K_ACHUNK},
};

/* The parameters of the i-th child of a line: {fk: the line's id, c1,
 * c2: the element's}.  New object; NULL if the element is no object. */
static json_t *child_params(const struct line_kind *k, const json_t *obj, size_t i)
{
    json_t *el = json_array_get(json_object_get(obj, k->list), i);

    if (!json_is_object(el))
        return NULL;
    return json_pack("{s:O?, s:O?, s:O?}", k->fk, json_object_get(obj, "id"), k->c1,
                     json_object_get(el, k->c1), k->c2, json_object_get(el, k->c2));
}

/* Check a parsed line entirely (its row and every child) with the store's
 * own checks (a plugin's row: manage_plugins.c).  Returns its kind, or -1
 * with the reason in why. */
static int check_line(ch_mg *m, const json_t *obj, char *why, size_t n)
{
    char *op;

    const char *type = json_string_value(json_object_get(obj, "type"));
    const struct line_kind *k = NULL;
    json_t *list, *p;
    char reason[200];
    int kind, rc = 0;

    for (kind = 0; !k && kind < K_N; kind++)
        if (kinds[kind].type && type && strcmp(kinds[kind].type, type) == 0)
            k = &kinds[kind];
    if (!k) {
        snprintf(why, n, "type: expected \"user\", \"room\", \"message\" or \"plugin_row\"");
        return -1;
    }
    if (k == &kinds[K_PLUGIN]) {
        op = ch_mg_plugin_line_op(m, obj, why, n);
        free(op);
        return op ? K_PLUGIN : -1;
    }
    if (ch_store_check_params(k->op, obj, why, n) != 0)
        return -1;
    list = k->list ? json_object_get(obj, k->list) : NULL;
    if (list && !json_is_array(list) && !json_is_null(list)) {
        snprintf(why, n, "%s: expected an array", k->list);
        return -1;
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        p = child_params(k, obj, i);
        rc = p ? ch_store_check_params(k->child_op, p, reason, sizeof reason) : -1;
        if (rc != 0)
            snprintf(why, n, "%s[%zu]: %s", k->list, i, p ? reason : "expected an object");
        json_decref(p);
    }
    return rc == 0 ? (int)(k - kinds) : -1;
}

/* Read the next non-blank line of f and parse it.  1 with *obj (new) or
 * *obj NULL and the reason in why; 0 at the end of the file. */
static int next_line(FILE *f, char **buf, size_t *cap, long *no, json_t **obj, char *why, size_t n)
{
    json_error_t e;
    ssize_t len;

    *obj = NULL;
    do {
        if ((len = getline(buf, cap, f)) < 0)
            return 0;
        ++*no;
    } while (strspn(*buf, " \t\r\n") == (size_t)len);
    *obj = json_loadb(*buf, (size_t)len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &e);
    if (!*obj)
        snprintf(why, n, "invalid JSON: %s (at byte %d)", e.text, e.position);
    else if (!json_is_object(*obj))
        snprintf(why, n, "expected a JSON object");
    if (*obj && !json_is_object(*obj)) {
        json_decref(*obj);
        *obj = NULL;
    }
    return 1;
}

/* Pass 1: every line is checked; bad ones are reported.  0 if all are
 * good, -1 otherwise (or when the file cannot be read). */
static int import_check(imp *x, FILE *f)
{
    char *buf = NULL, why[300];
    size_t cap = 0;
    long no = 0;
    json_t *obj;

    while (next_line(f, &buf, &cap, &no, &obj, why, sizeof why)) {
        if (obj && check_line(x->m, obj, why, sizeof why) >= 0)
            x->lines++;
        else
            bad_line(x, no, "%s", why);
        json_decref(obj);
    }
    free(buf);
    if (ferror(f)) {
        ch_mg_error(x->m, "%s: read error", x->path);
        return -1;
    }
    return x->errors ? -1 : 0;
}

/* Count an imported row of kind, or report the refusal of its line. */
static void count_row(imp_line *l, int kind, int status, json_t *result, const char *error)
{
    if (status != 0) {
        bad_line(l->x, l->no, "%s", error ? error : "refused by the store");
        return;
    }
    l->x->n[kind][json_is_true(json_object_get(result, "imported")) ? 0 : 1]++;
}

static void on_head(void *arg, int status, json_t *result, const char *error)
{
    imp_line *l = arg;

    count_row(l, l->kind, status, result, error);
    l->head_ok = status == 0;
}

static void on_child(void *arg, int status, json_t *result, const char *error)
{
    imp_line *l = arg;

    count_row(l, kinds[l->kind].child_kind, status, result, error);
}

/* Queue the rows hanging off line l (its participants or receipts). */
static void submit_children(imp *x, imp_line *l)
{
    const struct line_kind *k = &kinds[l->kind];
    size_t n = k->list ? json_array_size(json_object_get(l->obj, k->list)) : 0;

    for (size_t j = 0; j < n; j++)
        ch_mg_submit(x->m, k->child_op, child_params(k, l->obj, j), on_child, l);
}

/* Queue line l's own row: a plugin's row through the op its columns name. */
static void submit_head(imp *x, imp_line *l)
{
    char why[300], *op;

    if (l->kind != K_PLUGIN) {
        ch_mg_submit(x->m, kinds[l->kind].op, json_deep_copy(l->obj), on_head, l);
        return;
    }
    if ((op = ch_mg_plugin_line_op(x->m, l->obj, why, sizeof why)))
        ch_mg_submit(x->m, op, json_deep_copy(json_object_get(l->obj, "row")), on_head, l);
    else
        on_head(l, CH_STORE_EINVAL, NULL, why);
    free(op);
}

/* Apply the round: every line's row, then, once they are in, the rows
 * hanging off each line whose row went in.  0, or -1 when any line was
 * refused or the store stalled. */
static int apply_round(imp *x)
{
    long before = x->errors;
    size_t i;

    for (i = 0; i < x->n_round; i++)
        submit_head(x, &x->round[i]);
    ch_mg_wait(x->m, 0);
    for (i = 0; i < x->n_round; i++)
        if (x->round[i].head_ok)
            submit_children(x, &x->round[i]);
    ch_mg_wait(x->m, 0);
    for (i = 0; i < x->n_round; i++)
        json_decref(x->round[i].obj);
    x->n_round = 0;
    return x->errors > before || x->m->stalled ? -1 : 0;
}

/* Pass 2: the lines in rounds of up to CHUNK lines of one kind (a round
 * never holds a line and one that depends on it).  0 or -1. */
static int import_apply(imp *x, FILE *f)
{
    char *buf = NULL, why[300];
    size_t cap = 0;
    long no = 0;
    json_t *obj;
    int kind, rc = 0;

    while (rc == 0 && next_line(f, &buf, &cap, &no, &obj, why, sizeof why)) {
        kind = obj ? check_line(x->m, obj, why, sizeof why) : -1;
        if (kind < 0) { /* the file changed since pass 1 */
            bad_line(x, no, "%s", why);
            json_decref(obj);
            rc = -1;
            break;
        }
        if (x->n_round == CHUNK || (x->n_round && x->round[0].kind != kind))
            rc = apply_round(x);
        x->round[x->n_round++] = (imp_line){x, obj, no, kind, 0};
    }
    if (rc == 0)
        rc = apply_round(x);
    for (size_t i = 0; i < x->n_round; i++)
        json_decref(x->round[i].obj);
    x->n_round = 0;
    free(buf);
    return rc;
}

static void import_summary(imp *x)
{
    fprintf(x->m->out, "import from %s: %llu lines\n", x->path, (unsigned long long)x->lines);
    for (int k = 0; k < K_N; k++)
        fprintf(x->m->out, "  %-14s %llu imported, %llu skipped (already present)\n", kind_names[k],
                (unsigned long long)x->n[k][0], (unsigned long long)x->n[k][1]);
}

/* Tell how many bad lines went unprinted, and what happened. */
static void import_failed(imp *x, int applied)
{
    if (x->errors > MAX_REPORTED)
        ch_mg_error(x->m, "%ld more bad line(s) not shown", x->errors - MAX_REPORTED);
    if (!applied)
        ch_mg_error(x->m, "%s: %ld bad line(s); nothing imported", x->path, x->errors);
    else
        ch_mg_error(x->m,
                    "%s: import stopped; the lines before it are imported (import the "
                    "fixed file again: rows already present are skipped)",
                    x->path);
}

/* The store gets a new epoch (docs/store.md, "Streams"): a client's
 * stream position from before the import is of another epoch, and the
 * client reloads.  0, or -1 after printing why. */
static int import_new_epoch(imp *x)
{
    json_t *r = ch_mg_call(x->m, "stream.new_epoch", json_object());
    int rc = r ? 0 : -1;

    json_decref(r);
    return rc;
}

/* Pass 2 on an opened store (made a new epoch first), then the summary.
 * 0 or -1. */
static int import_into_store(imp *x, const ch_config *cfg, FILE *f)
{
    int rc;

    if (ch_mg_open(x->m, cfg, 0) != 0)
        return -1;
    rewind(f);
    rc = ch_mg_schemas_migrate(x->m, 0); /* the plugins' tables exist before their rows */
    if (rc == 0)
        rc = import_new_epoch(x);
    if (rc == 0 && (rc = import_apply(x, f)) == 0)
        rc = ch_mg_plugin_sequences(x->m);
    if (rc != 0)
        import_failed(x, 1);
    import_summary(x);
    ch_mg_close(x->m);
    return rc;
}

/* `import FILE`: every line is checked before the store is opened. */
int ch_mg_import(ch_mg *m, const ch_config *cfg, int argc, char **argv)
{
    imp *x;
    FILE *f;
    int rc = -1;

    if (argc != 2 || argv[1][0] == '-') {
        ch_mg_error(m, "usage: chanhost [options] import FILE");
        return 2;
    }
    if (!(f = fopen(argv[1], "r"))) {
        ch_mg_error(m, "%s: %s", argv[1], strerror(errno));
        return 1;
    }
    x = calloc(1, sizeof *x);
    if (x && ch_mg_schemas_load(m, cfg) == 0) {
        x->m = m;
        x->path = argv[1];
        rc = import_check(x, f);
        if (rc != 0 && x->errors)
            import_failed(x, 0);
        else if (rc == 0)
            rc = import_into_store(x, cfg, f);
    }
    fclose(f);
    free(x);
    return rc == 0 ? 0 : 1;
}
