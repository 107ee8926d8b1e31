/*
 * store_plugin_run.c -- plugin storage, the running half: what a plugin's
 * operations do inside the store's machinery (store_plugin_impl.h), and
 * the migrations of a plugin's schema.
 *
 *   - declared operations: the parameters checked on the loop thread
 *     (present, scalar), bound in declared order (sealed ones sealed), the
 *     rows read into the result (sealed columns opened);
 *   - "@export.<table>" -> {"rows": [every row, sealed columns opened, in
 *     the order of their canonical JSON text]}, "@import.<table>:<cols>"
 *     {col: value ...} -> {"imported": bool} (ON CONFLICT DO NOTHING;
 *     sealed columns sealed anew), "@sequences.<table>" -> {} (PostgreSQL:
 *     the table's serial sequences moved past the imported ids);
 *   - migrations: variant k of a schema applies its migrations k .. n-1
 *     after checking, under a lock on PostgreSQL, that the recorded version
 *     is still the one the caller saw; ch_store_schema_migrate first asks
 *     the recorded version (variant n applies nothing), then runs the
 *     variant for it, and starts over if another host moved it meanwhile.
 *
 * A sealed value is one text "ch1:<key id>:<nonce>:<ciphertext+tag>"
 * (base64), sealed by store_crypt.c with the associated data
 * "plugin:<plugin>:<table>.<column>" and id 0 (message ids are >= 1), so
 * it opens only in its own column of its own plugin's table.  Hooks run on
 * the SQLite worker or the loop (PostgreSQL) and touch only the request,
 * their op (read-only) and the keyring.
 */
#include "store_plugin_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRIES 5                            /* migrations raced by another host */
#define PG_PLUGIN_LOCK "7164795175298740085" /* the host's own is ...084 */

/* The op and the declared step of req's current step. */
static const pl_op *op_of(const ch_store_req *req) { return (const pl_op *)req->op; }
static const pl_step *step_of(const ch_store_req *req) { return &op_of(req)->steps[req->step]; }

/* ---- sealing ------------------------------------------------------------------- */

/* The envelope of plain for sealed column j: a new JSON string, or NULL
 * after failing req. */
static json_t *seal_value(ch_store_req *req, size_t j, const char *plain, size_t len)
{
    const pl_sealed *c = &op_of(req)->sc->sealed[j];
    char *nonce = NULL, *sealed = NULL, *text = NULL;
    int key_id;
    json_t *v = NULL;

    if (ch_seal(req->keys, c->aad, 0, plain, len, &key_id, &nonce, &sealed) == 0 &&
        asprintf(&text, "ch1:%d:%s:%s", key_id, nonce, sealed) >= 0)
        v = json_string(text);
    else
        text = NULL;
    free(nonce);
    free(sealed);
    free(text);
    if (!v)
        ch_store_fail(req, CH_STORE_EIO, "sealing %s.%s failed", c->table, c->column);
    return v;
}

/* Open the envelope v of sealed column j: a new JSON string, or NULL after
 * failing req (not an envelope, tampered, moved, key unknown). */
static json_t *open_value(ch_store_req *req, size_t j, const json_t *v)
{
    const pl_sealed *c = &op_of(req)->sc->sealed[j];
    const char *s = json_string_value(v), *n1, *n2;
    char *nonce = NULL, *plain = NULL;
    int key_id = 0;
    size_t len = 0;
    json_t *out = NULL;

    n1 = s && strncmp(s, "ch1:", 4) == 0 ? strchr(s + 4, ':') : NULL;
    n2 = n1 ? strchr(n1 + 1, ':') : NULL;
    if (n2 && sscanf(s + 4, "%d:", &key_id) == 1 &&
        (nonce = strndup(n1 + 1, (size_t)(n2 - n1 - 1))) &&
        ch_open(req->keys, key_id, c->aad, 0, nonce, n2 + 1, &plain, &len) == 0)
        out = json_stringn(plain, len);
    free(nonce);
    free(plain);
    if (!out)
        ch_store_fail(req, CH_STORE_EIO,
                      "a value of %s.%s cannot be opened (not sealed here, "
                      "tampered, or key %d unknown)",
                      c->table, c->column, key_id);
    return out;
}

/* Open, in place, the sealed columns step st may read in row. */
static int open_row(ch_store_req *req, const pl_step *st, json_t *row)
{
    const ch_store_schema *sc = op_of(req)->sc;
    json_t *v, *plain;

    for (size_t j = 0; j < sc->n_sealed; j++) {
        if (!st->opens[j] || !(v = json_object_get(row, sc->sealed[j].column)) || json_is_null(v))
            continue;
        if (!(plain = open_value(req, j, v)))
            return req->status;
        json_object_set_new(row, sc->sealed[j].column, plain);
    }
    return 0;
}

/* ---- declared operations and imports ------------------------------------------- */

/* Every parameter a step binds is present and scalar (sealed ones: a
 * string or null), before the call is queued. */
static int pl_prepare(ch_store_req *req)
{
    const pl_op *o = op_of(req);

    for (size_t i = 0; i < o->n_steps; i++) {
        const pl_step *st = &o->steps[i];

        for (size_t k = 0; k < st->n_params; k++) {
            const char *name = st->params[k];
            json_t *v = json_object_get(req->params, name);

            if (strcmp(name, "@now") == 0)
                continue;
            if (!v)
                return ch_store_fail(req, CH_STORE_EINVAL, "%s: missing", name);
            if (json_is_object(v) || json_is_array(v))
                return ch_store_fail(req, CH_STORE_EINVAL,
                                     "%s: an object or array cannot be "
                                     "bound",
                                     name);
            if (st->seal[k] && !json_is_string(v) && !json_is_null(v))
                return ch_store_fail(req, CH_STORE_EINVAL,
                                     "%s: a sealed value is a string or "
                                     "null",
                                     name);
        }
    }
    return 0;
}

/* The step's parameters in declared order: "@now", sealed values sealed,
 * booleans as 0/1.  A new array, or NULL after failing req. */
static json_t *pl_bind(ch_store_req *req)
{
    const pl_step *st = step_of(req);
    json_t *a = json_array(), *v;

    for (size_t k = 0; a && k < st->n_params; k++) {
        v = json_object_get(req->params, st->params[k]);
        if (strcmp(st->params[k], "@now") == 0)
            v = json_integer(req->now_ms);
        else if (st->seal[k] && json_is_string(v))
            v = seal_value(req, (size_t)st->seal[k] - 1, json_string_value(v),
                           json_string_length(v));
        else if (json_is_boolean(v))
            v = json_integer(json_is_true(v));
        else
            v = json_incref(v ? v : json_null());
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The result object of req, made on first use. */
static json_t *result_of(ch_store_req *req)
{
    if (!req->result)
        req->result = json_object();
    return req->result;
}

/* What a step read, into the result as its rows mode says. */
static int pl_rows(ch_store_req *req, json_t *rows)
{
    const pl_step *st = step_of(req);
    json_t *res = result_of(req), *row = json_array_get(rows, 0);
    size_t i;

    if (st->rows == CHANHOST_ROWS_NONE)
        return CH_STEP_NEXT;
    if (st->rows == CHANHOST_ROWS_ALL) {
        json_array_foreach(rows, i, row)
        {
            if (open_row(req, st, row) != 0)
                return req->status;
        }
        json_object_set(res, st->into, rows);
        return CH_STEP_NEXT;
    }
    if (!row && st->rows == CHANHOST_ROWS_ONE)
        return ch_store_fail(req, CH_STORE_ENOENT, "%s: no such row", op_of(req)->name);
    if (row && open_row(req, st, row) != 0)
        return req->status;
    if (st->into)
        json_object_set(res, st->into, row ? row : json_null());
    else if (row)
        json_object_update(res, row);
    return CH_STEP_NEXT;
}

/* An import's insert: whether the row went in. */
static int rows_imported(ch_store_req *req, json_t *rows)
{
    json_object_set_new(result_of(req), "imported", json_boolean(json_array_size(rows) > 0));
    return CH_STEP_NEXT;
}

/* qsort comparator of rows by their canonical text (in "_key"). */
static int cmp_canonical(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "_key")),
                  json_string_value(json_object_get(*(json_t *const *)b, "_key")));
}

/* An export: every row opened, ordered by its canonical JSON text (so two
 * stores holding the same rows export the same lines). */
static int rows_export(ch_store_req *req, json_t *rows)
{
    json_t *keyed = json_array(), *row, *out = json_array();
    size_t i;
    char *text;

    json_array_foreach(rows, i, row)
    {
        if (open_row(req, step_of(req), row) != 0)
            break;
        text = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
        json_array_append_new(keyed, json_pack("{s:s?, s:O}", "_key", text, "row", row));
        free(text);
    }
    if (req->status == 0) {
        ch_st_sort(keyed, cmp_canonical);
        json_array_foreach(keyed, i, row) json_array_append(out, json_object_get(row, "row"));
        json_object_set(result_of(req), "rows", out);
    }
    json_decref(keyed);
    json_decref(out);
    return req->status ? req->status : CH_STEP_NEXT;
}

/* A statement whose rows do not matter: the result is {}. */
static int rows_ignored(ch_store_req *req, json_t *rows)
{
    (void)rows;
    return result_of(req) ? CH_STEP_NEXT : ch_store_fail(req, CH_STORE_EIO, "out of memory");
}

/* The hooks of o's kind on both engines' steps (migrations set their own). */
void ch_pl_set_hooks(pl_op *o)
{
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < o->n_steps; i++) {
            ch_store_step *e = &o->engine[k][i];

            e->bind = o->kind == PL_DECLARED || o->kind == PL_IMPORT ? pl_bind : NULL;
            e->rows = o->kind == PL_DECLARED    ? pl_rows
                      : o->kind == PL_IMPORT    ? rows_imported
                      : o->kind == PL_EXPORT    ? rows_export
                      : o->kind == PL_SEQUENCES ? rows_ignored
                                                : NULL;
        }
    }
    o->op.prepare = o->kind == PL_DECLARED || o->kind == PL_IMPORT ? pl_prepare : NULL;
}

/* ---- export, import and sequences of a declared table ----------------------------- */

/* Index of table t in sc->tables, or -1. */
static int table_index(const ch_store_schema *sc, const char *t)
{
    for (size_t i = 0; i < sc->n_tables; i++)
        if (strcmp(sc->tables[i], t) == 0)
            return (int)i;
    return -1;
}

/* PostgreSQL: each serial column's sequence of table T at least at the
 * column's largest value. */
#define PG_SEQUENCES(T)                                                                     \
    "DO $ch$DECLARE r record; m bigint; BEGIN FOR r IN SELECT a.attname AS col,"            \
    " pg_get_serial_sequence('\"" T "\"', a.attname) AS seq FROM pg_attribute a"            \
    " WHERE a.attrelid = '\"" T "\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped"     \
    " LOOP IF r.seq IS NOT NULL THEN EXECUTE format('SELECT max(%%I) FROM %%I', r.col, '" T \
    "') INTO m; IF m IS NOT NULL AND m >= coalesce(pg_sequence_last_value("                 \
    "r.seq::regclass), 0) THEN PERFORM setval(r.seq, m); END IF; END IF; END LOOP; END$ch$"

/* The columns of an import op's name ("a,b,c"): a new array of *n new
 * strings, each an identifier and none twice, or NULL. */
static char **import_columns(const char *cols, size_t *n)
{
    char **list = calloc(strlen(cols) / 2 + 2, sizeof *list);
    const char *c = cols;
    size_t len;
    int ok = list != NULL;

    *n = 0;
    while (ok && *c) {
        len = strcspn(c, ",");
        ok = (list[*n] = strndup(c, len)) && ch_pl_ident(list[*n]);
        for (size_t k = 0; ok && k < *n; k++)
            ok = strcmp(list[k], list[*n]) != 0;
        ++*n;
        c += len + (c[len] == ',');
    }
    if (ok && *n)
        return list;
    for (size_t k = 0; list && k < *n; k++)
        free(list[k]);
    free(list);
    return NULL;
}

/* The import op called name of cols into table t: INSERT ... ON CONFLICT
 * DO NOTHING RETURNING, its sealed columns sealed.  NULL if cols is bad. */
static pl_op *make_import(ch_store_schema *sc, const char *name, const char *t, const char *cols)
{
    size_t n, size = 0;
    char **col = import_columns(cols, &n), *sql = NULL;
    FILE *f = col ? open_memstream(&sql, &size) : NULL;
    const char *texts[1];
    const char *const *both[2] = {texts, NULL};
    pl_op *o = NULL;
    pl_step *st;

    if (f) {
        fprintf(f, "INSERT INTO \"%s\" (", t);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s\"%s\"", i ? ", " : "", col[i]);
        fprintf(f, ") VALUES (");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s$%zu", i ? ", " : "", i + 1);
        fprintf(f, ") ON CONFLICT DO NOTHING RETURNING 1 AS imported");
        texts[0] = fclose(f) == 0 ? sql : NULL;
    }
    if (f && texts[0] && (o = ch_pl_op_new(sc, PL_IMPORT, name, 1, both, 1))) {
        st = &o->steps[0];
        st->params = col;
        st->n_params = n;
        col = NULL;
        st->seal = calloc(n, sizeof *st->seal);
        st->opens = calloc(sc->n_sealed + 1, sizeof *st->opens);
        for (size_t i = 0; st->seal && i < n; i++)
            for (size_t j = 0; j < sc->n_sealed; j++)
                if (!strcmp(sc->sealed[j].table, t) && !strcmp(sc->sealed[j].column, st->params[i]))
                    st->seal[i] = (int)j + 1;
        if (!st->seal || !st->opens) {
            ch_pl_op_free(o);
            o = NULL;
        }
    }
    for (size_t i = 0; col && i < n; i++)
        free(col[i]);
    free(col);
    free(sql);
    return o;
}

/* rest: "export.<t>", "sequences.<t>" or "import.<t>:<cols>", t declared; a
 * new op (the caller keeps it in sc), or NULL. */
pl_op *ch_pl_make_table_op(ch_store_schema *sc, const char *rest)
{
    const char *dot = strchr(rest, '.'), *colon;
    char t[64], name[4096], *sql = NULL, *sql_pg = NULL;
    const char *texts[1], *texts_pg[1];
    const char *const *both[2] = {texts, texts_pg};
    size_t tl;
    pl_op *o = NULL;

    colon = dot ? strchr(dot, ':') : NULL;
    tl = dot ? (colon ? (size_t)(colon - dot - 1) : strlen(dot + 1)) : 0;
    if (!dot || tl == 0 || tl >= sizeof t ||
        (size_t)snprintf(name, sizeof name, "%s.@%s", sc->plugin, rest) >= sizeof name)
        return NULL;
    memcpy(t, dot + 1, tl);
    t[tl] = '\0';
    if (table_index(sc, t) < 0)
        return NULL;
    if (strncmp(rest, "import.", 7) == 0 && colon)
        return make_import(sc, name, t, colon + 1);
    if (colon)
        return NULL;
    if (strncmp(rest, "export.", 7) == 0 && asprintf(&sql, "SELECT * FROM \"%s\"", t) >= 0) {
        texts[0] = sql;
        both[1] = NULL;
        if ((o = ch_pl_op_new(sc, PL_EXPORT, name, 0, both, 1)) &&
            (o->steps[0].opens = calloc(sc->n_sealed + 1, sizeof *o->steps[0].opens)))
            for (size_t j = 0; j < sc->n_sealed; j++)
                o->steps[0].opens[j] = strcmp(sc->sealed[j].table, t) == 0;
        else if (o) {
            ch_pl_op_free(o);
            o = NULL;
        }
    } else if (strncmp(rest, "sequences.", 10) == 0 &&
               asprintf(&sql_pg, PG_SEQUENCES("%s"), t, t, t) >= 0) {
        texts[0] = "SELECT 1";
        texts_pg[0] = sql_pg;
        o = ch_pl_op_new(sc, PL_SEQUENCES, name, 1, both, 1);
    }
    free(sql);
    free(sql_pg);
    return o;
}

/* ---- migrations --------------------------------------------------------------------- */

CH_ST_BIND(bind_plugin, "plugin")
CH_ST_BIND(bind_record, "plugin", "now")

/* The recorded version: the result's "version"; a variant that applies
 * something fails (EBUSY, "raced") when it is not the caller's "base". */
static int rows_version(ch_store_req *req, json_t *rows)
{
    int64_t v = ch_st_int(json_array_get(rows, 0), "version");
    json_t *base = json_object_get(req->params, "base");

    if (base && json_integer_value(base) != v)
        return ch_store_fail(req, CH_STORE_EBUSY, "raced: version %lld, not %lld", (long long)v,
                             (long long)json_integer_value(base));
    json_object_set_new(result_of(req), "version", json_integer(v));
    return CH_STEP_NEXT;
}

/* Append the statements of text to list (both engines' lists grow to the
 * same length: the shorter is padded with no-ops).  0 or -1. */
static int add_statements(const char ***list, size_t *n, size_t cap, const char *text)
{
    size_t k;
    char **parts = ch_pl_split(text, &k);
    int rc = parts && *n + k <= cap ? 0 : -1;
    const char *s;

    for (size_t i = 0; parts && i < k; i++) {
        if (rc == 0 && (s = ch_pl_intern(parts[i])))
            (*list)[(*n)++] = s;
        else
            rc = -1;
        free(parts[i]);
    }
    free(parts);
    return rc;
}

/* Variant k: lock, check, migrations k .. n-1, record them. */
static pl_op *make_variant(ch_store_schema *sc, const chanhost_schema *d, size_t k, const char **sq,
                           const char **pg, size_t cap)
{
    size_t ns = 2, np = 2, at;
    char name[128], *record = NULL, *p;
    const char *const *both[2] = {sq, pg};
    pl_op *o;

    sq[0] = "SELECT 1";
    pg[0] = "SELECT pg_advisory_xact_lock(" PG_PLUGIN_LOCK ")";
    sq[1] = pg[1] = "SELECT coalesce(max(version), 0) AS version FROM ch_plugin_migrations"
                    " WHERE plugin = $1";
    for (size_t i = k; i < d->n_migrations; i++) {
        const chanhost_migration *m = &d->migrations[i];

        if (add_statements(&sq, &ns, cap, m->sql) != 0 ||
            add_statements(&pg, &np, cap, m->sql_pg ? m->sql_pg : m->sql) != 0)
            return NULL;
        for (; ns < np; ns++)
            sq[ns] = "SELECT 1";
        for (; np < ns; np++)
            pg[np] = "SELECT 1";
    }
    if (k < d->n_migrations) {
        if (ns >= cap || !(record = malloc(64 + 32 * (d->n_migrations - k))))
            return NULL;
        p = record + sprintf(record, "INSERT INTO ch_plugin_migrations (plugin, version,"
                                     " applied_at) VALUES ");
        for (size_t i = k; i < d->n_migrations; i++)
            p += sprintf(p, "%s($1, %d, $2)", i > k ? ", " : "", d->migrations[i].version);
        sq[ns++] = pg[np++] = record;
    }
    snprintf(name, sizeof name, "%s.@migrate", sc->plugin);
    o = ch_pl_op_new(sc, PL_MIGRATE, name, 1, both, ns);
    free(record);
    if (!o)
        return NULL;
    for (at = 0; at < 2; at++) {
        o->engine[at][1].bind = bind_plugin;
        o->engine[at][1].rows = rows_version;
        if (k < d->n_migrations)
            o->engine[at][ns - 1].bind = bind_record;
    }
    return o;
}

/* Every variant k = 0 .. n (n: the probe, which applies nothing). */
int ch_pl_build_migrations(ch_store_schema *sc, const chanhost_schema *d, char *err, size_t errlen)
{
    size_t cap = 3;
    const char **sq = NULL, **pg = NULL;
    int rc = 0;

    for (size_t i = 0; i < d->n_migrations; i++) /* a statement has a character at least */
        cap += strlen(d->migrations[i].sql) +
               (d->migrations[i].sql_pg ? strlen(d->migrations[i].sql_pg) : 0) + 2;
    sc->migrate = calloc(d->n_migrations + 1, sizeof *sc->migrate);
    sq = calloc(cap, sizeof *sq);
    pg = calloc(cap, sizeof *pg);
    for (size_t k = 0; rc == 0 && k <= d->n_migrations; k++)
        if (!sc->migrate || !sq || !pg || !(sc->migrate[k] = make_variant(sc, d, k, sq, pg, cap)))
            rc = -1;
    free(sq);
    free(pg);
    if (rc != 0)
        snprintf(err, errlen, "migrations: out of memory");
    return rc;
}

/* ch_store_schema_migrate's state. */
typedef struct mig_job {
    ch_store *s;
    ch_store_schema *sc; /* a reference */
    ch_store_migrated_fn done;
    void *arg;
    int tries;
    int64_t base; /* the version the variant starts from */
    size_t k;     /* the variant running, or n: the probe */
} mig_job;

static void on_migrate(int status, json_t *result, const char *error, void *arg);

/* Run variant j->k (the probe when k == n). */
static int mig_call(mig_job *j)
{
    json_t *params = json_pack("{s:s}", "plugin", j->sc->plugin);

    if (params && j->k < j->sc->n_migrations)
        json_object_set_new(params, "base", json_integer(j->base));
    return ch_store_call_op(j->s, &j->sc->migrate[j->k]->op, params, on_migrate, j);
}

/* Report to the caller and free the job. */
static void mig_finish(mig_job *j, int status, const char *error, int version, int applied)
{
    j->done(status, error, version, applied, j->arg);
    ch_store_schema_unref(j->sc);
    free(j);
}

/* Run variant j->k; a refusal finishes the job. */
static void mig_start(mig_job *j)
{
    char why[64];
    int rc = mig_call(j);

    if (rc != 0) {
        snprintf(why, sizeof why, "the store refused the call (%d)", rc);
        mig_finish(j, rc, why, 0, 0);
    }
}

/* A variant ran: done, raced (ask the version again), or failed. */
static void variant_done(mig_job *j, int status, const char *error)
{
    size_t n = j->sc->n_migrations;
    int latest = j->sc->versions[n - 1];
    char why[512];

    if (status == 0) {
        mig_finish(j, 0, NULL, latest, (int)(n - j->k));
    } else if (status == CH_STORE_EBUSY && ++j->tries < RETRIES) {
        j->k = n;
        mig_start(j);
    } else {
        if (j->k + 1 == n)
            snprintf(why, sizeof why, "migration %d: %s", latest, error);
        else
            snprintf(why, sizeof why, "migrations %d to %d: %s", j->sc->versions[j->k], latest,
                     error);
        mig_finish(j, status, why, 0, 0);
    }
}

/* The probe told the recorded version: nothing to do, a version this
 * build does not know, or the variant that applies the rest. */
static void on_migrate(int status, json_t *result, const char *error, void *arg)
{
    mig_job *j = arg;
    size_t n = j->sc->n_migrations, k = 0;
    int latest = n ? j->sc->versions[n - 1] : 0;
    char why[512];

    if (j->k < n) {
        variant_done(j, status, error);
        return;
    }
    j->base = status == 0 ? json_integer_value(json_object_get(result, "version")) : 0;
    if (status != 0)
        snprintf(why, sizeof why, "reading its schema version: %s", error);
    else if (j->base > latest)
        snprintf(why, sizeof why,
                 "the database holds version %lld of its schema, newer than "
                 "this build's %d",
                 (long long)j->base, latest);
    if (status != 0 || j->base > latest) {
        mig_finish(j, status ? status : CH_STORE_EIO, why, 0, 0);
        return;
    }
    if (j->base == latest) {
        mig_finish(j, 0, NULL, latest, 0);
        return;
    }
    while (k < n && j->sc->versions[k] <= j->base)
        k++;
    j->k = k;
    mig_start(j);
}

/* Start with the probe; the job holds sc until done has run. */
int ch_store_schema_migrate(ch_store *s, ch_store_schema *sc, ch_store_migrated_fn done, void *arg)
{
    mig_job *j = calloc(1, sizeof *j);
    int rc;

    if (!j)
        return CH_STORE_EIO;
    *j = (mig_job){s, sc, done, arg, 0, 0, sc->n_migrations};
    ch_store_schema_ref(sc);
    rc = mig_call(j);
    if (rc != 0) {
        ch_store_schema_unref(sc);
        free(j);
    }
    return rc;
}
