/*
 * chanhost_schema.h -- the SDK's declarations of a plugin's own storage:
 * migrations, operations and the schema a descriptor points to.
 *
 * Included by chanhost.h (include that one, not this): it is a separate
 * file only to keep each SDK header short.  Part of the same ABI as
 * chanhost.h; its version is CHANHOST_ABI_MAJOR/MINOR there.
 */
#ifndef CHANHOST_SCHEMA_H
#define CHANHOST_SCHEMA_H

#include <stddef.h>

/*
 * --- ABI 1.2: plugin storage ------------------------------------------------
 *
 * A plugin that keeps data of its own declares it statically in its
 * descriptor (chanhost_plugin.schema), so the host can act on it before
 * init: its tables, as versioned migrations, and named operations on them,
 * which run inside the host's store exactly like the host's own operations
 * (SQLite worker thread and group commit, PostgreSQL pipeline, the bounded
 * queue, the callback only after COMMIT, retries across a PostgreSQL
 * restart) and are called with api->store_call("<plugin>.<name>", ...),
 * where <plugin> is the name the config's routes give the plugin (its .so
 * file's name).  docs/store.md ("Plugin storage") has the whole story.
 *
 * Everything a schema points to is the plugin's static data, read by the
 * host while the plugin is loaded (the host copies what it keeps).  The
 * host refuses a plugin whose schema is malformed, with one log line.
 *
 * Migrations.  Versions are integers >= 1, strictly increasing.  When a
 * plugin loads (at start-up, on reload, and for `chanhost migrate`), the
 * host applies in ONE transaction every migration whose version is above
 * the one recorded for that plugin name, and records them (table
 * ch_plugin_migrations).  A migration that fails applies nothing and
 * refuses that plugin version with one log line naming the plugin, the
 * version and the database's error; the host and the other plugins serve
 * on (on reload, the running version keeps serving).  A migration is one
 * or more statements separated by ';' (outside quotes and comments); sql
 * runs on SQLite and on PostgreSQL unless sql_pg gives PostgreSQL's own.
 * Never change a migration once released: add a new version.  Name tables
 * after the plugin ("polls", "polls_votes"): they share the database with
 * the host's tables and other plugins'.
 *
 * Operations.  Each is a short list of steps run in one transaction; a
 * step is one statement with placeholders $1, $2 ... bound, in order, to
 * the values its `params` names take in the call's JSON object (integers,
 * reals, strings, true/false as 1/0, null as NULL): values are always
 * bound, never spliced into SQL.  A parameter absent from the call fails
 * it with CHANHOST_STORE_EINVAL before anything is queued (so does an
 * object or array value).  The name "@now" binds the time the call was
 * made, in milliseconds since the epoch.  A unique constraint violated
 * fails the call with CHANHOST_STORE_EEXIST; for an idempotent insert use
 * INSERT ... ON CONFLICT DO NOTHING (or DO UPDATE), which both engines
 * understand, with RETURNING to learn whether a row went in.  The result
 * is one JSON object: each step with rows != CHANHOST_ROWS_NONE puts what
 * it read under its `into` key (integer columns as JSON integers, NULL as
 * null, other columns as strings); ONE and OPTIONAL with into NULL put
 * the row's columns at the top level instead.
 *
 * Sealed columns.  `sealed` names "table.column"s encrypted at rest with
 * the host's message keys (AES-256-GCM, the key id stored with the value,
 * so key rotation works as for messages).  A step parameter written
 * "seal:NAME" binds parameter NAME sealed for the sealed column called
 * NAME of a table its statement names (a string or null); a result column
 * called like a sealed column of a table the step's statement names is
 * opened on read.  A sealed value copied into another column or another
 * plugin's table does not open (CHANHOST_STORE_EIO).
 *
 * Export.  `tables` lists the tables `chanhost export` writes (sealed
 * columns opened) and `chanhost import` reads back (sealed anew).
 */

/* One migration: the schema at `version` (>= 1). */
typedef struct chanhost_migration {
    int version;
    const char *sql;    /* statements for both engines */
    const char *sql_pg; /* PostgreSQL's own, or NULL: sql */
} chanhost_migration;

/* What a step reads (chanhost_step.rows). */
#define CHANHOST_ROWS_NONE 0     /* nothing (rows are ignored) */
#define CHANHOST_ROWS_ONE 1      /* one row; none fails with CHANHOST_STORE_ENOENT */
#define CHANHOST_ROWS_OPTIONAL 2 /* the first row, or null when there is none */
#define CHANHOST_ROWS_ALL 3      /* an array of every row (into is mandatory) */

/* One statement of an operation. */
typedef struct chanhost_step {
    const char *sql;           /* one statement, $1 $2 ... placeholders */
    const char *sql_pg;        /* PostgreSQL's own, or NULL: sql */
    const char *const *params; /* NULL-terminated names for $1, $2 ...
                                       ("@now", "seal:NAME"; at most 64);
                                       NULL: none */
    int rows;                  /* CHANHOST_ROWS_* */
    const char *into;          /* the result's key for what it read */
} chanhost_step;

/* A named operation: "vote" is called as "<plugin>.vote".  Names are
 * 1-64 of a-z, 0-9, '_' and '.'. */
typedef struct chanhost_op {
    const char *name;
    int writes; /* non-zero if any step writes */
    const chanhost_step *steps;
    size_t n_steps; /* 1 to 16 */
} chanhost_op;

/* What the descriptor's schema points to (all of it static). */
typedef struct chanhost_schema {
    const chanhost_migration *migrations;
    size_t n_migrations;
    const chanhost_op *ops;
    size_t n_ops;
    const char *const *sealed; /* NULL-terminated "table.column", or NULL */
    const char *const *tables; /* NULL-terminated table names, or NULL */
} chanhost_schema;

/* The number of elements of a static array (for the n_* fields). */
#define CHANHOST_N(array) (sizeof(array) / sizeof((array)[0]))

#endif /* CHANHOST_SCHEMA_H */
