/*
 * manage.h -- the management commands of the chanhost command line
 * (`chanhost [options] COMMAND ...`, docs/store.md): migrate,
 * cleanup-empty-threads, export and import.  Each opens the message store
 * the configuration names, exactly as the host would (the same default
 * key file), runs store operations on a private loop, prints a summary
 * and returns the exit status.  The host itself never runs them.
 */
#ifndef CH_MANAGE_H
#define CH_MANAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "config.h"
#include "store.h"

/* Reads the schema of plugin dir/name.so without starting it (SDK 1.2;
 * runtime's ch_plugin_read_schema, registered by the assembler): a new
 * reference, NULL with err "" if the plugin declares none, or NULL with
 * the reason in err. */
struct ch_store_schema;
typedef struct ch_store_schema *(*ch_manage_schema_fn)(const char *dir, const char *name, char *err,
                                                       size_t errlen);

/* Register the schema reader (once, before ch_manage_run; without one,
 * plugins' tables are left out of migrate, export and import). */
void ch_manage_set_schema_reader(ch_manage_schema_fn fn);

/* Non-zero if word names a management command ("migrate", ...). */
int ch_manage_is_command(const char *word);

/* The commands' lines of `chanhost --help`. */
void ch_manage_usage(FILE *f);

/* Run the command argv[0] with its own arguments argv[1..argc) against
 * the store of cfg (borrowed, not changed).  Summaries go to out, errors
 * to err.  Returns the exit status: 0 done, 1 failed, 2 bad usage. */
int ch_manage_run(const ch_config *cfg, int argc, char **argv, FILE *out, FILE *err);

/* The key file the host uses when the config names neither
 * store_key_file nor store_key_env: chanhost.key next to a SQLite
 * database (sqlite:var/chanhost.db -> var/chanhost.key); NULL for other
 * stores (PostgreSQL needs it named) and sqlite::memory:.  New malloc'd
 * string. */
char *ch_default_key_file(const char *store);

/*
 * Shared by manage.c and manage_dump.c only: a command's loop and store.
 */

/* A command's loop and store. */
typedef struct ch_mg {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes the loop to check for a stall */
    ch_store *store; /* NULL once closed */
    const char *cmd; /* "export", for messages */
    FILE *out, *err;
    size_t pending;       /* calls whose callback has not run */
    size_t window;        /* calls in flight at most */
    uint64_t progress_ms; /* loop time of the last callback */
    int stalled;
    struct ch_store_schema **schemas; /* the config's plugins' (installed; manage_plugins.c) */
    size_t n_schemas;
} ch_mg;

/* A call's callback: status 0 with the result (borrowed), or an error. */
typedef void (*ch_mg_fn)(void *arg, int status, json_t *result, const char *error);

/* Print "chanhost CMD: " and the formatted message to m->err. */
void ch_mg_error(ch_mg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open the store of cfg on m's new loop, the key file defaulted as the
 * host does.  existing: what must be there already (commands that work
 * on existing data): CH_MG_DB a SQLite file, CH_MG_KEYS the key file.
 * 0, or -1 after an error line. */
#define CH_MG_DB 1
#define CH_MG_KEYS 2
int ch_mg_open(ch_mg *m, const ch_config *cfg, int existing);

/* Close the store (what is queued runs first), then the loop. */
void ch_mg_close(ch_mg *m);

/* Run the loop until at most upto calls are pending: 0, or -1 when the
 * store stalled (it is closed then, every callback has run). */
int ch_mg_wait(ch_mg *m, size_t upto);

/* Queue op (params stolen) with fn(arg, ...) as its callback once there
 * is room in the window: 0, or -1 after fn got the refusal. */
int ch_mg_submit(ch_mg *m, const char *op, json_t *params, ch_mg_fn fn, void *arg);

/* Call op (params stolen) and wait: its result (new reference), or NULL
 * after an error line "chanhost CMD: OP: reason". */
json_t *ch_mg_call(ch_mg *m, const char *op, json_t *params);

/* Plugin storage (manage_plugins.c).  Read and install the schemas of the
 * plugins cfg's routes name, in route order (m->schemas): 0, or -1 after
 * an error line (a plugin that cannot be read). */
int ch_mg_schemas_load(ch_mg *m, const ch_config *cfg);

/* Uninstall and drop m->schemas. */
void ch_mg_schemas_free(ch_mg *m);

/* Apply each schema's migrations on m's open store, printing one line
 * per plugin to m->out when verbose: 0, or -1 after an error line. */
int ch_mg_schemas_migrate(ch_mg *m, int verbose);

/* Write every row of every declared table of m->schemas to f as lines
 * {"type": "plugin_row", "plugin", "table", "row"} (sealed columns
 * opened); *lines and *rows count them.  0 or -1 after an error line. */
int ch_mg_export_plugins(ch_mg *m, FILE *f, uint64_t *lines, uint64_t *rows);

/* A "plugin_row" line (borrowed): its import operation's name (new
 * malloc'd) after checking it as the store would, or NULL with the
 * reason in why. */
char *ch_mg_plugin_line_op(ch_mg *m, const json_t *obj, char *why, size_t n);

/* After an import: move PostgreSQL's sequences of every declared table
 * past the imported ids.  0 or -1 after an error line. */
int ch_mg_plugin_sequences(ch_mg *m);

/* The commands of manage_dump.c: argv[0] is the command word; the exit
 * status. */
int ch_mg_export(ch_mg *m, const ch_config *cfg, int argc, char **argv);
int ch_mg_import(ch_mg *m, const ch_config *cfg, int argc, char **argv);

#endif
