/*
 * store_plugin_impl.h -- the inside of plugin storage, shared by
 * store_plugin.c (checking and copying a declared schema, the installed
 * list, the SQL texts) and store_plugin_run.c (what its operations do on
 * the engines' threads: binding, sealing, reading rows; the migrations;
 * the export and import operations).  Nothing else includes it.
 *
 * A plugin operation is a pl_op whose first member is the ch_store_op the
 * engines run, so a hook finds its declaration from req->op; req->step is
 * the index of the step being bound or read.  SQL texts are interned
 * (ch_pl_intern): the engines' statement caches borrow the text pointers
 * for as long as they live, so no SQL text is ever freed.
 */
#ifndef CH_STORE_PLUGIN_IMPL_H
#define CH_STORE_PLUGIN_IMPL_H

#include "hmap.h"
#include "store_impl.h"
#include "store_plugin.h"

/* A sealed column: table, column and the associated data its values are
 * sealed for ("plugin:<plugin>:<table>.<column>"). */
typedef struct pl_sealed {
    char *table, *column, *aad;
} pl_sealed;

/* One step of a plugin operation, the host's copy. */
typedef struct pl_step {
    char **params; /* names for $1, $2 ... ("seal:" taken off) */
    int *seal;     /* per parameter: sealed index + 1, or 0 */
    size_t n_params;
    int *opens; /* per sealed column: its values are opened here */
    int rows;   /* CHANHOST_ROWS_* */
    char *into; /* NULL: at the top level (ONE, OPTIONAL) */
} pl_step;

/* What a pl_op is for (its hooks differ). */
enum { PL_DECLARED, PL_MIGRATE, PL_EXPORT, PL_IMPORT, PL_SEQUENCES };

typedef struct pl_op {
    ch_store_op op;      /* first: req->op points here */
    ch_store_schema *sc; /* the owner (not a reference: the op lives in it) */
    int kind;            /* PL_* */
    char *name;          /* "<plugin>.<name>" */
    pl_step *steps;      /* n_steps of them, for both engines */
    size_t n_steps;
    ch_store_step *engine[2]; /* the steps the engines run */
} pl_op;

struct ch_store_schema {
    char *plugin;
    unsigned refs;
    pl_sealed *sealed;
    size_t n_sealed;
    char **tables;
    size_t n_tables;
    int *versions; /* declared migration versions, ascending */
    size_t n_migrations;
    pl_op **ops; /* the declared operations */
    size_t n_ops;
    pl_op **migrate;       /* [k]: applies migrations k .. n-1 (n + 1 of them) */
    ch_hmap made;          /* name -> pl_op: export / import ops made on demand */
    ch_store_schema *next; /* the installed list of its plugin name */
    int installed;
};

/* The interned copy of text (never freed; borrowed), or NULL. */
const char *ch_pl_intern(const char *text);

/* A new pl_op of sc named name with n empty steps; its ch_store_op is
 * filled in (hold, writes) and engine[k][i].sql from sql[k][i] (interned
 * here; sql[1] NULL: the same as sql[0]).  NULL when out of memory. */
pl_op *ch_pl_op_new(ch_store_schema *sc, int kind, const char *name, int writes,
                    const char *const *sql[2], size_t n);
void ch_pl_op_free(pl_op *o);

/* Which sealed columns a statement's result may hold: opens[j] set for
 * each sealed column whose table sql names.  -1 with err when two of them
 * share a column name (a result column would be ambiguous). */
int ch_pl_opens(const ch_store_schema *sc, const char *sql, int *opens, char *err, size_t errlen);

/* The hooks of store_plugin_run.c, by op kind: the generic prepare, bind
 * and rows of declared, export and import operations; the migration's. */
void ch_pl_set_hooks(pl_op *o);

/* Build the migration variants sc->migrate[0..n] from the declared
 * migrations (each split into statements): 0 or -1 with err. */
int ch_pl_build_migrations(ch_store_schema *sc, const chanhost_schema *decl, char *err,
                           size_t errlen);

/* Make the export / import / sequences op called name (after the
 * "<plugin>.@"), or NULL if name is none of them or names no declared
 * table. */
pl_op *ch_pl_make_table_op(ch_store_schema *sc, const char *name);

/* sql split into its statements at ';' outside quotes, dollar quotes and
 * comments, empty ones left out: a new array of *n new strings (free each
 * and the array), or NULL (out of memory). */
char **ch_pl_split(const char *sql, size_t *n);

/* Is s a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most 63)? */
int ch_pl_ident(const char *s);

#endif
