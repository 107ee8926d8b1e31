/*
 * store_plugin.h -- plugin storage (SDK 1.2, chanhost_schema): the host's
 * copy of a plugin's declared schema, its migrations, and its operations
 * "<plugin>.<name>", which ch_store_call finds once the schema is
 * installed (after the host's own operations, which always win).
 *
 * A ch_store_schema is made from the plugin's static declaration while
 * the plugin is loaded (ch_store_schema_new, any thread: the loader runs
 * it on the thread pool) and owns copies of everything, so it never
 * points into a library that may be closed.  It is reference-counted:
 * its maker holds one, the installed list holds one, and every request
 * running one of its operations holds one, so a reload that installs a
 * newer version never frees an operation under a running request.
 * Everything but ch_store_schema_new runs on the loop thread.
 *
 * Operation names of a schema: "<plugin>.<name>" for the declared ones
 * (plugins call these); "<plugin>.@export.<table>",
 * "<plugin>.@import.<table>:<col>,<col>..." and "<plugin>.@sequences.<table>"
 * for `chanhost export` / `import` (made when first named; a plugin may
 * not call them, see ch_store_op_allowed).
 */
#ifndef CH_STORE_PLUGIN_H
#define CH_STORE_PLUGIN_H

#include <jansson.h>
#include <stddef.h>

#include "chanhost.h"
#include "store.h"

typedef struct ch_store_schema ch_store_schema;

/* Check and copy decl (borrowed; read during the call only) for plugin
 * `plugin` (the config's name, borrowed): a new schema (refs = 1), or
 * NULL with the reason in err ("ops[2].steps[0]: ...").  Thread-safe. */
ch_store_schema *ch_store_schema_new(const char *plugin, const chanhost_schema *decl, char *err,
                                     size_t errlen);

void ch_store_schema_ref(ch_store_schema *sc);
/* Drop a reference; at zero the schema is freed. */
void ch_store_schema_unref(ch_store_schema *sc);

/* The plugin name (borrowed, the schema's) and the declared tables
 * (borrowed array of *n names). */
const char *ch_store_schema_plugin(const ch_store_schema *sc);
const char *const *ch_store_schema_tables(const ch_store_schema *sc, size_t *n);

/* Make sc's operations the ones "<plugin>.*" names find (the newest
 * installed schema of a plugin name wins); the list holds a reference.
 * uninstall takes sc out again (a no-op if it is not in): an older
 * installed version of the same plugin, if any, is found again. */
void ch_store_schema_install(ch_store_schema *sc);
void ch_store_schema_uninstall(ch_store_schema *sc);

/* Apply sc's missing migrations on s (asynchronous, loop thread): in one
 * transaction every declared migration above the version recorded for the
 * plugin, recorded in ch_plugin_migrations.  done(status, error, version,
 * applied, arg) runs later on the loop exactly once: status 0 (version:
 * the plugin's schema version now; applied: how many ran), or a
 * CH_STORE_E* with error naming the migration and the database's reason
 * (nothing applied).  Returns 0, or a CH_STORE_E* at once (done is then
 * never called).  sc is held until done has run. */
typedef void (*ch_store_migrated_fn)(int status, const char *error, int version, int applied,
                                     void *arg);
int ch_store_schema_migrate(ch_store *s, ch_store_schema *sc, ch_store_migrated_fn done, void *arg);

/* May plugin `plugin` (borrowed) call op?  0 for the host's operations,
 * unknown names (the store refuses them) and the plugin's own declared
 * operations; CH_STORE_EINVAL for another plugin's or a reserved one
 * ("<plugin>.@..."), with the reason in err. */
int ch_store_op_allowed(const char *op, const char *plugin, char *err, size_t errlen);

/* The name of the import operation for a row (borrowed object: its keys
 * are the columns) of plugin's table: new malloc'd string, or NULL. */
char *ch_store_plugin_import_op(const char *plugin, const char *table, const json_t *row);

#endif
