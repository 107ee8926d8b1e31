/*
 * store_plugin.c -- plugin storage, the bookkeeping half (store_plugin.h):
 * checking a plugin's declared schema (chanhost_schema) and copying it
 * into host memory (ch_store_schema, reference-counted), the installed
 * schemas by plugin name (the newest installed version's operations are
 * the ones "<plugin>.<name>" finds), which plugin may call which
 * operation, the interned SQL texts, and the SQL scanning both halves use
 * (statements, identifiers).  What the operations do is in
 * store_plugin_run.c.
 *
 * Owns: the installed list (a reference on each schema in it) and the
 * intern table (texts never freed: the engines' statement caches borrow
 * them).  The installed list is used on the loop thread only.
 */
#include "store_plugin_impl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NAME_MAX_LEN 64
#define STEPS_MAX 16
#define PARAMS_MAX 64
#define MIGRATIONS_MAX 1000

/* ---- interned SQL texts ------------------------------------------------- */

static ch_hmap interned; /* text -> the same text (its own copy) */
static uv_mutex_t intern_mu;
static uv_once_t intern_once = UV_ONCE_INIT;

/* The intern table's lock, made once. */
static void intern_init(void) { uv_mutex_init(&intern_mu); }

/* Look text up, or copy it in (kept for the life of the process). */
const char *ch_pl_intern(const char *text)
{
    char *copy;

    uv_once(&intern_once, intern_init);
    uv_mutex_lock(&intern_mu);
    copy = ch_hmap_get(&interned, text);
    if (!copy && (copy = strdup(text)) && ch_hmap_put(&interned, copy, copy) < 0) {
        free(copy);
        copy = NULL;
    }
    uv_mutex_unlock(&intern_mu);
    return copy;
}

/* ---- scanning SQL --------------------------------------------------------- */

/* Table and column names are spliced into generated SQL: only these. */
int ch_pl_ident(const char *s)
{
    size_t n = s ? strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") : 0;

    return s && n > 0 && n <= 63 && s[n] == '\0' && !isdigit((unsigned char)s[0]);
}

/* If sql[i] starts a string, quoted identifier, dollar quote or comment,
 * the index just after it; else i. */
static size_t skip_literal(const char *sql, size_t i)
{
    const char *end;
    size_t tag;

    if (sql[i] == '\'' || sql[i] == '"') {
        char q = sql[i++];

        for (; sql[i]; i++)
            if (sql[i] == q && sql[i + 1] != q)
                return i + 1;
            else if (sql[i] == q)
                i++;
        return i;
    }
    if (sql[i] == '-' && sql[i + 1] == '-')
        return i + strcspn(sql + i, "\n");
    if (sql[i] == '/' && sql[i + 1] == '*')
        return (end = strstr(sql + i + 2, "*/")) ? (size_t)(end - sql) + 2 : strlen(sql);
    if (sql[i] == '$') {
        tag = 1 + strspn(sql + i + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_");
        if (sql[i + tag] != '$')
            return i;
        for (end = strstr(sql + i + tag + 1, "$"); end; end = strstr(end + 1, "$"))
            if (strncmp(end, sql + i, tag + 1) == 0)
                return (size_t)(end - sql) + tag + 1;
        return strlen(sql);
    }
    return i;
}

/* Append sql[from, to) trimmed to *list unless it is blank: 0 or -1. */
static int add_statement(char ***list, size_t *n, const char *sql, size_t from, size_t to,
                         int blank)
{
    char **nl;

    while (from < to && isspace((unsigned char)sql[from]))
        from++;
    while (to > from && isspace((unsigned char)sql[to - 1]))
        to--;
    if (blank || from == to)
        return 0;
    if (!(nl = realloc(*list, (*n + 2) * sizeof *nl)) ||
        !(nl[*n] = strndup(sql + from, to - from))) {
        if (nl)
            *list = nl;
        return -1;
    }
    *list = nl;
    nl[++*n] = NULL;
    return 0;
}

/* One pass over sql; the caller frees each statement and the array. */
char **ch_pl_split(const char *sql, size_t *n)
{
    char **list = calloc(1, sizeof *list);
    size_t i = 0, start = 0, next;
    int blank = 1, bad = !list;

    *n = 0;
    while (!bad && sql[i]) {
        next = skip_literal(sql, i);
        if (next != i) {
            blank &= sql[i] == '-' || sql[i] == '/'; /* comments alone are blank */
            i = next;
        } else if (sql[i] == ';') {
            bad = add_statement(&list, n, sql, start, i, blank) != 0;
            start = ++i;
            blank = 1;
        } else {
            blank &= isspace((unsigned char)sql[i]) != 0;
            i++;
        }
    }
    if (!bad)
        bad = add_statement(&list, n, sql, start, i, blank) != 0;
    if (bad) {
        for (size_t k = 0; list && k < *n; k++)
            free(list[k]);
        free(list);
        return NULL;
    }
    return list;
}

/* Does sql name table (an unquoted identifier in any case, or quoted)? */
static int names_table(const char *sql, const char *table)
{
    size_t i = 0, n, tl = strlen(table);

    while (sql[i]) {
        size_t next = skip_literal(sql, i);

        if (next != i) {
            if (sql[i] == '"' && next - i == tl + 2 && strncmp(sql + i + 1, table, tl) == 0)
                return 1;
            i = next;
            continue;
        }
        n = isalpha((unsigned char)sql[i]) || sql[i] == '_'
                ? strspn(sql + i,
                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
                : 1;
        if (n == tl && strncasecmp(sql + i, table, tl) == 0)
            return 1;
        i += n;
    }
    return 0;
}

/* opens has sc->n_sealed slots (the caller's). */
int ch_pl_opens(const ch_store_schema *sc, const char *sql, int *opens, char *err, size_t errlen)
{
    for (size_t j = 0; j < sc->n_sealed; j++) {
        opens[j] = names_table(sql, sc->sealed[j].table);
        for (size_t k = 0; opens[j] && k < j; k++) {
            if (opens[k] && strcmp(sc->sealed[k].column, sc->sealed[j].column) == 0) {
                snprintf(err, errlen, "sealed columns %s.%s and %s.%s are both named here",
                         sc->sealed[k].table, sc->sealed[k].column, sc->sealed[j].table,
                         sc->sealed[j].column);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- ops ---------------------------------------------------------------------- */

/* A request holds the schema its op lives in (store_impl.h: hold). */
static void pl_hold(const ch_store_op *op, int delta)
{
    ch_store_schema *sc = ((const pl_op *)op)->sc;

    if (delta > 0)
        ch_store_schema_ref(sc);
    else
        ch_store_schema_unref(sc);
}

/* A new op owned by sc (freed with ch_pl_op_free); its steps are the
 * caller's to fill. */
pl_op *ch_pl_op_new(ch_store_schema *sc, int kind, const char *name, int writes,
                    const char *const *sql[2], size_t n)
{
    pl_op *o = calloc(1, sizeof *o);
    int bad = !o;

    if (o) {
        o->sc = sc;
        o->kind = kind;
        o->n_steps = n;
        o->name = strdup(name);
        o->steps = calloc(n ? n : 1, sizeof *o->steps);
        o->engine[0] = calloc(n ? n : 1, sizeof *o->engine[0]);
        o->engine[1] = calloc(n ? n : 1, sizeof *o->engine[1]);
        bad = !o->name || !o->steps || !o->engine[0] || !o->engine[1];
    }
    for (size_t i = 0; !bad && i < n; i++) {
        o->engine[0][i].sql = ch_pl_intern(sql[0][i]);
        o->engine[1][i].sql = sql[1] && sql[1][i] ? ch_pl_intern(sql[1][i]) : o->engine[0][i].sql;
        bad = !o->engine[0][i].sql || !o->engine[1][i].sql;
    }
    if (bad) {
        ch_pl_op_free(o);
        return NULL;
    }
    o->op = (ch_store_op){o->name, writes,  NULL, {o->engine[0], o->engine[1]},
                          {n, n},  pl_hold, NULL};
    ch_pl_set_hooks(o);
    return o;
}

/* Free o and what its steps own (never its interned SQL). */
void ch_pl_op_free(pl_op *o)
{
    if (!o)
        return;
    for (size_t i = 0; o->steps && i < o->n_steps; i++) {
        for (size_t k = 0; k < o->steps[i].n_params; k++)
            free(o->steps[i].params[k]);
        free(o->steps[i].params);
        free(o->steps[i].seal);
        free(o->steps[i].opens);
        free(o->steps[i].into);
    }
    free(o->steps);
    free(o->engine[0]);
    free(o->engine[1]);
    free(o->name);
    free(o);
}

/* ---- checking and copying a declaration -------------------------------------- */

/* printf into err; returns -1. */
static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The length of a NULL-terminated list (NULL: 0), at most max + 1. */
static size_t list_len(const char *const *l, size_t max)
{
    size_t n = 0;

    while (l && l[n] && n <= max)
        n++;
    return n;
}

/* Copy the sealed columns and the tables. */
static int copy_names(ch_store_schema *sc, const chanhost_schema *d, char *err, size_t errlen)
{
    size_t ns = list_len(d->sealed, 256), nt = list_len(d->tables, 256);
    const char *dot;

    sc->sealed = calloc(ns ? ns : 1, sizeof *sc->sealed);
    sc->tables = calloc(nt ? nt : 1, sizeof *sc->tables);
    if (!sc->sealed || !sc->tables)
        return bad(err, errlen, "out of memory");
    for (; sc->n_sealed < ns; sc->n_sealed++) {
        pl_sealed *c = &sc->sealed[sc->n_sealed];

        dot = strchr(d->sealed[sc->n_sealed], '.');
        if (!dot ||
            !(c->table = strndup(d->sealed[sc->n_sealed],
                                 (size_t)(dot - d->sealed[sc->n_sealed]))) ||
            !(c->column = strdup(dot + 1)) || !ch_pl_ident(c->table) || !ch_pl_ident(c->column) ||
            asprintf(&c->aad, "plugin:%s:%s.%s", sc->plugin, c->table, c->column) < 0) {
            c->aad = NULL;
            sc->n_sealed++;
            return bad(err, errlen,
                       "sealed[%zu]: \"%s\" is not table.column (lowercase "
                       "identifiers)",
                       sc->n_sealed - 1, d->sealed[sc->n_sealed - 1]);
        }
    }
    for (; sc->n_tables < nt; sc->n_tables++) {
        if (!ch_pl_ident(d->tables[sc->n_tables]))
            return bad(err, errlen, "tables[%zu]: \"%s\" is not a lowercase identifier",
                       sc->n_tables, d->tables[sc->n_tables]);
        if (!(sc->tables[sc->n_tables] = strdup(d->tables[sc->n_tables])))
            return bad(err, errlen, "out of memory");
    }
    return 0;
}

/* The sealed column NAME of a table sql names (sealed index + 1), or 0
 * after err. */
static int sealed_param(const ch_store_schema *sc, const int *opens, const char *name, char *err,
                        size_t errlen)
{
    int found = 0;

    for (size_t j = 0; j < sc->n_sealed; j++)
        if (opens[j] && strcmp(sc->sealed[j].column, name) == 0)
            found = (int)j + 1;
    if (!found)
        bad(err, errlen, "seal:%s: no sealed column %s of a table this statement names", name,
            name);
    return found;
}

/* Copy a declared step into o->steps[i] (its SQL is in o already). */
static int copy_step(ch_store_schema *sc, pl_step *st, const chanhost_step *d, char *err,
                     size_t errlen)
{
    size_t np = list_len(d->params, PARAMS_MAX);
    char why[200];

    if (d->rows < CHANHOST_ROWS_NONE || d->rows > CHANHOST_ROWS_ALL)
        return bad(err, errlen, "rows: %d is not a CHANHOST_ROWS_* value", d->rows);
    if (d->rows == CHANHOST_ROWS_ALL && (!d->into || !*d->into))
        return bad(err, errlen, "into: CHANHOST_ROWS_ALL needs a result key");
    if (np > PARAMS_MAX)
        return bad(err, errlen, "params: more than %d", PARAMS_MAX);
    st->rows = d->rows;
    st->params = calloc(np ? np : 1, sizeof *st->params);
    st->seal = calloc(np ? np : 1, sizeof *st->seal);
    st->opens = calloc(sc->n_sealed ? sc->n_sealed : 1, sizeof *st->opens);
    if (!st->params || !st->seal || !st->opens || (d->into && !(st->into = strdup(d->into))))
        return bad(err, errlen, "out of memory");
    if (ch_pl_opens(sc, d->sql, st->opens, why, sizeof why) != 0)
        return bad(err, errlen, "%s", why);
    for (size_t k = 0; k < np; k++) {
        const char *name = d->params[k];
        int sealed = strncmp(name, "seal:", 5) == 0;

        st->params[k] = strdup(sealed ? name + 5 : name);
        st->n_params = k + 1; /* freed with the op from here on */
        if (!st->params[k])
            return bad(err, errlen, "out of memory");
        if (!*st->params[k])
            return bad(err, errlen, "params[%zu]: empty name", k);
        if (sealed && !(st->seal[k] = sealed_param(sc, st->opens, name + 5, err, errlen)))
            return -1;
    }
    return 0;
}

/* Is name an operation name: 1-64 of a-z 0-9 _ . ? */
static int op_name_ok(const char *name)
{
    size_t n = name ? strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.") : 0;

    return name && n > 0 && n <= NAME_MAX_LEN && name[n] == '\0';
}

/* Copy declared op i. */
static int copy_op(ch_store_schema *sc, const chanhost_op *d, size_t i, char *err, size_t errlen)
{
    const char *sql[STEPS_MAX], *sql_pg[STEPS_MAX];
    const char *const *texts[2] = {sql, sql_pg};
    char full[256], why[300];
    pl_op *o;

    if (!op_name_ok(d->name))
        return bad(err, errlen, "ops[%zu]: name: 1 to 64 of a-z, 0-9, _ and .", i);
    snprintf(full, sizeof full, "%s.%s", sc->plugin, d->name);
    for (size_t k = 0; k < i; k++)
        if (strcmp(sc->ops[k]->name, full) == 0)
            return bad(err, errlen, "ops[%zu]: %s declared twice", i, full);
    if (ch_store_host_op(full))
        return bad(err, errlen, "ops[%zu]: %s is one of the host's operations", i, full);
    if (!d->steps || d->n_steps < 1 || d->n_steps > STEPS_MAX)
        return bad(err, errlen, "ops[%zu] (%s): 1 to %d steps", i, d->name, STEPS_MAX);
    for (size_t k = 0; k < d->n_steps; k++) {
        if (!d->steps[k].sql || !*d->steps[k].sql)
            return bad(err, errlen, "ops[%zu] (%s): steps[%zu]: no sql", i, d->name, k);
        sql[k] = d->steps[k].sql;
        sql_pg[k] = d->steps[k].sql_pg;
    }
    if (!(o = sc->ops[i] = ch_pl_op_new(sc, PL_DECLARED, full, d->writes != 0, texts, d->n_steps)))
        return bad(err, errlen, "out of memory");
    sc->n_ops = i + 1;
    for (size_t k = 0; k < d->n_steps; k++)
        if (copy_step(sc, &o->steps[k], &d->steps[k], why, sizeof why) != 0)
            return bad(err, errlen, "ops[%zu] (%s): steps[%zu]: %s", i, d->name, k, why);
    return 0;
}

/* Versions >= 1, strictly increasing, each with SQL. */
static int check_migrations(ch_store_schema *sc, const chanhost_schema *d, char *err, size_t errlen)
{
    if (d->n_migrations > MIGRATIONS_MAX || (d->n_migrations && !d->migrations))
        return bad(err, errlen, "migrations: 0 to %d of them", MIGRATIONS_MAX);
    sc->versions = calloc(d->n_migrations + 1, sizeof *sc->versions);
    if (!sc->versions)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < d->n_migrations; i++) {
        const chanhost_migration *m = &d->migrations[i];

        if (m->version < 1 || (i && m->version <= d->migrations[i - 1].version))
            return bad(err, errlen,
                       "migrations[%zu]: version %d (versions are >= 1 and "
                       "increase)",
                       i, m->version);
        if (!m->sql || !*m->sql)
            return bad(err, errlen, "migrations[%zu] (version %d): no sql", i, m->version);
        sc->versions[i] = m->version;
    }
    sc->n_migrations = d->n_migrations;
    return 0;
}

/* A plugin name as op names need it: 1-64 of A-Z a-z 0-9 _ -. */
static int plugin_name_ok(const char *name)
{
    size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    return n > 0 && n <= NAME_MAX_LEN && name[n] == '\0';
}

/* Names, migrations, ops, then the migration variants; any refusal frees
 * the partial copy. */
ch_store_schema *ch_store_schema_new(const char *plugin, const chanhost_schema *decl, char *err,
                                     size_t errlen)
{
    ch_store_schema *sc = calloc(1, sizeof *sc);
    int rc = -1;

    if (!sc || !(sc->plugin = strdup(plugin))) {
        free(sc);
        bad(err, errlen, "out of memory");
        return NULL;
    }
    sc->refs = 1;
    if (!plugin_name_ok(plugin))
        bad(err, errlen,
            "the plugin's name %s cannot prefix operation names (1 to %d of "
            "letters, digits, _ and -)",
            plugin, NAME_MAX_LEN);
    else if (decl->n_ops && !decl->ops)
        bad(err, errlen, "ops: NULL with n_ops %zu", decl->n_ops);
    else if (copy_names(sc, decl, err, errlen) == 0 &&
             check_migrations(sc, decl, err, errlen) == 0 &&
             (sc->ops = calloc(decl->n_ops + 1, sizeof *sc->ops)))
        rc = 0;
    for (size_t i = 0; rc == 0 && i < decl->n_ops; i++)
        rc = copy_op(sc, &decl->ops[i], i, err, errlen);
    if (rc == 0)
        rc = ch_pl_build_migrations(sc, decl, err, errlen);
    if (rc != 0) {
        ch_store_schema_unref(sc);
        return NULL;
    }
    return sc;
}

/* Loop thread (or the one thread that made sc, before it is shared). */
void ch_store_schema_ref(ch_store_schema *sc) { sc->refs++; }

/* At zero: every op it owns, made ones too, and the copies. */
void ch_store_schema_unref(ch_store_schema *sc)
{
    size_t pos = 0;
    void *o;

    if (!sc || --sc->refs > 0)
        return;
    for (size_t i = 0; i < sc->n_ops; i++)
        ch_pl_op_free(sc->ops[i]);
    for (size_t k = 0; sc->migrate && k <= sc->n_migrations; k++)
        ch_pl_op_free(sc->migrate[k]);
    while (ch_hmap_next(&sc->made, &pos, NULL, &o))
        ch_pl_op_free(o);
    ch_hmap_free(&sc->made);
    for (size_t j = 0; j < sc->n_sealed; j++) {
        free(sc->sealed[j].table);
        free(sc->sealed[j].column);
        free(sc->sealed[j].aad);
    }
    for (size_t t = 0; t < sc->n_tables; t++)
        free(sc->tables[t]);
    free(sc->sealed);
    free(sc->tables);
    free(sc->versions);
    free(sc->ops);
    free(sc->migrate);
    free(sc->plugin);
    free(sc);
}

/* Borrowed: valid while sc is. */
const char *ch_store_schema_plugin(const ch_store_schema *sc) { return sc->plugin; }

/* Borrowed: valid while sc is. */
const char *const *ch_store_schema_tables(const ch_store_schema *sc, size_t *n)
{
    *n = sc->n_tables;
    return (const char *const *)sc->tables;
}

/* ---- the installed schemas ------------------------------------------------------ */

static ch_hmap installed; /* plugin name -> newest installed schema */

/* Push sc in front of its name's list (a reference); twice is once. */
void ch_store_schema_install(ch_store_schema *sc)
{
    ch_store_schema *head = ch_hmap_get(&installed, sc->plugin);

    if (sc->installed || ch_hmap_put(&installed, sc->plugin, sc) < 0) {
        if (!sc->installed)
            ch_log(CH_LOG_ERROR, "store: plugin %s: out of memory installing its operations",
                   sc->plugin);
        return;
    }
    sc->next = head;
    sc->installed = 1;
    ch_store_schema_ref(sc);
}

/* Take sc out of its name's list and drop the list's reference. */
void ch_store_schema_uninstall(ch_store_schema *sc)
{
    ch_store_schema *head = ch_hmap_get(&installed, sc->plugin), **pp;

    if (!sc->installed)
        return;
    for (pp = &head; *pp && *pp != sc; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = sc->next;
    if (head)
        ch_hmap_put(&installed, head->plugin, head); /* replaces: no allocation */
    else
        ch_hmap_remove(&installed, sc->plugin);
    sc->next = NULL;
    sc->installed = 0;
    ch_store_schema_unref(sc);
}

/* The installed schema of op's plugin prefix, with *rest after the dot. */
static ch_store_schema *schema_of(const char *op, const char **rest)
{
    const char *dot = op ? strchr(op, '.') : NULL;
    char plugin[NAME_MAX_LEN + 1];

    if (!dot || dot == op || (size_t)(dot - op) > NAME_MAX_LEN)
        return NULL;
    memcpy(plugin, op, (size_t)(dot - op));
    plugin[dot - op] = '\0';
    *rest = dot + 1;
    return ch_hmap_get(&installed, plugin);
}

/* A declared op of the newest installed schema, or a management op made
 * (and kept in the schema) on first use. */
const ch_store_op *ch_st_plugin_op(const char *name)
{
    const char *rest = NULL;
    ch_store_schema *sc = schema_of(name, &rest);
    pl_op *o;

    if (!sc)
        return NULL;
    if (*rest != '@') {
        for (size_t i = 0; i < sc->n_ops; i++)
            if (strcmp(sc->ops[i]->name, name) == 0)
                return &sc->ops[i]->op;
        return NULL;
    }
    if ((o = ch_hmap_get(&sc->made, rest + 1)))
        return &o->op;
    o = ch_pl_make_table_op(sc, rest + 1);
    if (o && ch_hmap_put(&sc->made, o->name + strlen(sc->plugin) + 2, o) < 0) {
        ch_pl_op_free(o);
        o = NULL;
    }
    return o ? &o->op : NULL;
}

/* The guard api->store_call applies (store_plugin.h). */
int ch_store_op_allowed(const char *op, const char *plugin, char *err, size_t errlen)
{
    size_t n = plugin ? strlen(plugin) : 0;

    if (!op || ch_store_host_op(op) || !strchr(op, '.'))
        return 0;
    if (!plugin || strncmp(op, plugin, n) != 0 || op[n] != '.') {
        bad(err, errlen, "%s is not this plugin's operation (plugin %s)", op,
            plugin ? plugin : "?");
        return CH_STORE_EINVAL;
    }
    if (op[n + 1] == '@') {
        bad(err, errlen, "%s is reserved for the host's commands", op);
        return CH_STORE_EINVAL;
    }
    return 0;
}

/* qsort comparator of C strings. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The columns sorted, so rows of one shape share one op. */
char *ch_store_plugin_import_op(const char *plugin, const char *table, const json_t *row)
{
    size_t n = json_object_size(row), i = 0, len;
    const char **cols = calloc(n ? n : 1, sizeof *cols), *key;
    json_t *v;
    char *out = NULL, *p;

    if (!cols)
        return NULL;
    len = strlen(plugin) + strlen(table) + 16;
    json_object_foreach((json_t *)row, key, v)
    {
        cols[i++] = key;
        len += strlen(key) + 1;
    }
    qsort(cols, n, sizeof *cols, cmp_str);
    if ((out = malloc(len))) {
        p = out + sprintf(out, "%s.@import.%s:", plugin, table);
        for (i = 0; i < n; i++)
            p += sprintf(p, "%s%s", i ? "," : "", cols[i]);
    }
    free(cols);
    return out;
}
