/*
 * manage_plugins.c -- plugin storage in the management commands
 * (manage.h): the schemas of the plugins the config's routes name (read
 * through the reader the assembler registers: the plugin is opened for
 * its descriptor and closed again, never started), their migrations for
 * `migrate` and before `import`, and their declared tables' rows in
 * `export` / `import` as "plugin_row" lines.
 *
 * Owns: the registered reader; m->schemas (installed while the command
 * runs, so the store's "<plugin>.@..." operations resolve).
 */
#include "manage.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_plugin.h"

static ch_manage_schema_fn schema_reader;

/* Set once by the assembler (manage.h). */
void ch_manage_set_schema_reader(ch_manage_schema_fn fn) { schema_reader = fn; }

/* Has m a schema for plugin name already? */
static int have_schema(const ch_mg *m, const char *name)
{
    for (size_t i = 0; i < m->n_schemas; i++)
        if (strcmp(ch_store_schema_plugin(m->schemas[i]), name) == 0)
            return 1;
    return 0;
}

/* Each distinct route plugin once; the schemas are m's until
 * ch_mg_schemas_free. */
int ch_mg_schemas_load(ch_mg *m, const ch_config *cfg)
{
    char err[600];
    ch_store_schema *sc, **ns;

    for (size_t i = 0; schema_reader && i < cfg->n_routes; i++) {
        const char *name = cfg->routes[i].plugin;

        if (have_schema(m, name))
            continue;
        err[0] = '\0';
        sc = schema_reader(cfg->plugin_dir, name, err, sizeof err);
        if (!sc && err[0]) {
            ch_mg_error(m, "%s (its tables cannot be handled without it)", err);
            return -1;
        }
        if (!sc)
            continue;
        ns = realloc(m->schemas, (m->n_schemas + 1) * sizeof *ns);
        if (!ns) {
            ch_store_schema_unref(sc);
            ch_mg_error(m, "out of memory");
            return -1;
        }
        m->schemas = ns;
        m->schemas[m->n_schemas++] = sc;
        ch_store_schema_install(sc);
    }
    return 0;
}

/* Uninstall and drop every schema m holds. */
void ch_mg_schemas_free(ch_mg *m)
{
    for (size_t i = 0; i < m->n_schemas; i++) {
        ch_store_schema_uninstall(m->schemas[i]);
        ch_store_schema_unref(m->schemas[i]);
    }
    free(m->schemas);
    m->schemas = NULL;
    m->n_schemas = 0;
}

/* What a migration's callback reports. */
typedef struct mig_wait {
    int done, status, version, applied;
    char error[600];
} mig_wait;

/* Keep what the store reported for the waiting loop. */
static void on_migrated(int status, const char *error, int version, int applied, void *arg)
{
    mig_wait *w = arg;

    w->done = 1;
    w->status = status;
    w->version = version;
    w->applied = applied;
    snprintf(w->error, sizeof w->error, "%s", error ? error : "");
}

/* One plugin after the other, each waited for on m's loop. */
int ch_mg_schemas_migrate(ch_mg *m, int verbose)
{
    for (size_t i = 0; i < m->n_schemas; i++) {
        const char *name = ch_store_schema_plugin(m->schemas[i]);
        mig_wait w = {0};
        int rc = ch_store_schema_migrate(m->store, m->schemas[i], on_migrated, &w);

        while (rc == 0 && !w.done)
            uv_run(&m->loop, UV_RUN_ONCE);
        if (rc != 0 || w.status != 0) {
            ch_mg_error(m, "plugin %s: %s", name,
                        rc ? "the store refused its migrations" : w.error);
            return -1;
        }
        if (verbose)
            fprintf(m->out, "plugin %s: schema at version %d (applied %d migrations)\n", name,
                    w.version, w.applied);
    }
    return 0;
}

/* Write one plugin_row line of row (borrowed): 0 or -1. */
static int write_row(FILE *f, const char *plugin, const char *table, json_t *row)
{
    json_t *line = json_pack("{s:s, s:s, s:s, s:O}", "type", "plugin_row", "plugin", plugin,
                             "table", table, "row", row);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;

    json_decref(line);
    if (!text)
        return -1;
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return 0;
}

/* Plugin by plugin, table by table, one call per table. */
int ch_mg_export_plugins(ch_mg *m, FILE *f, uint64_t *lines, uint64_t *rows)
{
    for (size_t i = 0; i < m->n_schemas; i++) {
        const char *plugin = ch_store_schema_plugin(m->schemas[i]);
        size_t nt, k;
        const char *const *tables = ch_store_schema_tables(m->schemas[i], &nt);

        for (size_t t = 0; t < nt; t++) {
            char op[200];
            json_t *r, *row;

            snprintf(op, sizeof op, "%s.@export.%s", plugin, tables[t]);
            if (!(r = ch_mg_call(m, op, json_object())))
                return -1;
            json_array_foreach(json_object_get(r, "rows"), k, row)
            {
                if (write_row(f, plugin, tables[t], row) != 0) {
                    json_decref(r);
                    ch_mg_error(m, "out of memory");
                    return -1;
                }
                ++*lines;
                ++*rows;
            }
            json_decref(r);
        }
    }
    return 0;
}

/* The caller frees the name. */
char *ch_mg_plugin_line_op(ch_mg *m, const json_t *obj, char *why, size_t n)
{
    const char *plugin = json_string_value(json_object_get(obj, "plugin"));
    const char *table = json_string_value(json_object_get(obj, "table"));
    json_t *row = json_object_get(obj, "row");
    char *op;

    if (!plugin || !table || !json_is_object(row)) {
        snprintf(why, n,
                 "a plugin_row has \"plugin\", \"table\" (strings) and \"row\" (an "
                 "object)");
        return NULL;
    }
    if (!have_schema(m, plugin)) {
        snprintf(why, n,
                 "plugin %s: no route of the configuration names it, or it declares no "
                 "tables",
                 plugin);
        return NULL;
    }
    if (!(op = ch_store_plugin_import_op(plugin, table, row))) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    if (ch_store_check_params(op, row, why, n) != 0) {
        if (strcmp(why, "unknown operation") == 0)
            snprintf(why, n,
                     "plugin %s declares no table %s, or a column name is not a "
                     "lowercase identifier",
                     plugin, table);
        free(op);
        return NULL;
    }
    return op;
}

/* One call per declared table (a no-op on SQLite). */
int ch_mg_plugin_sequences(ch_mg *m)
{
    for (size_t i = 0; i < m->n_schemas; i++) {
        const char *plugin = ch_store_schema_plugin(m->schemas[i]);
        size_t nt;
        const char *const *tables = ch_store_schema_tables(m->schemas[i], &nt);

        for (size_t t = 0; t < nt; t++) {
            char op[200];
            json_t *r;

            snprintf(op, sizeof op, "%s.@sequences.%s", plugin, tables[t]);
            if (!(r = ch_mg_call(m, op, json_object())))
                return -1;
            json_decref(r);
        }
    }
    return 0;
}
