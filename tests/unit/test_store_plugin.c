/*
 * test_store_plugin.c -- plugin storage (store_plugin.h, SDK 1.2
 * chanhost_schema) on SQLite and on PostgreSQL (store_fixture.h runs every
 * test on both): migrations applied once, recorded per plugin, a rebuilt
 * version adding only its new one, a failing one leaving nothing; declared
 * operations with bound parameters (an injection attempt stays data),
 * ONE / OPTIONAL / ALL rows, EEXIST, idempotent inserts, refusals before
 * queueing; sealed columns (no plaintext in the raw database, a value
 * moved to another column does not open, key rotation); the export and
 * import operations; which plugin may call what; the lifetime of an op
 * whose schema is uninstalled under a running request.
 *
 * The tests of one backend share one database, in order: "notes" is
 * migrated by the first test that needs it and reused after.
 */
#include "store_fixture.h"

#include "store_plugin.h"
#include "store_plugin_impl.h" /* ch_pl_split */

/* ---- the schemas under test --------------------------------------------- */

#define NOTES_V1_SQL                                                     \
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner BIGINT NOT NULL," \
    " title TEXT NOT NULL UNIQUE, body TEXT, memo TEXT, score REAL);\n"  \
    "-- the owner's notes; a ';' in a comment\n"                         \
    "CREATE INDEX notes_owner ON notes (owner)"
#define NOTES_V1_PG                                                               \
    "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL,"        \
    " title TEXT NOT NULL UNIQUE, body TEXT, memo TEXT, score DOUBLE PRECISION);" \
    " CREATE INDEX notes_owner ON notes (owner)"

static const chanhost_migration notes_migs[] = {
    {1, NOTES_V1_SQL, NOTES_V1_PG},
    {2,
     "CREATE TABLE notes_votes (note_id BIGINT NOT NULL, user_id BIGINT NOT NULL,"
     " at BIGINT NOT NULL, PRIMARY KEY (note_id, user_id))",
     NULL},
};

static const char *const p_add[] = {"owner", "title", "seal:body", "score", NULL};
static const char *const p_id[] = {"id", NULL};
static const char *const p_title[] = {"title", NULL};
static const char *const p_owner[] = {"owner", NULL};
static const char *const p_memo[] = {"id", "seal:memo", NULL};
static const char *const p_vote[] = {"note_id", "user_id", "@now", NULL};
static const char *const p_note[] = {"note_id", NULL};

static const chanhost_step s_add[] = {
    {"INSERT INTO notes (owner, title, body, score) VALUES ($1, $2, $3, $4) RETURNING id", NULL,
     p_add, CHANHOST_ROWS_ONE, NULL}};
static const chanhost_step s_get[] = {
    {"SELECT id, owner, title, body, memo FROM notes WHERE id = $1", NULL, p_id, CHANHOST_ROWS_ONE,
     "note"}};
static const chanhost_step s_find[] = {{"SELECT id, title FROM notes WHERE title = $1", NULL,
                                        p_title, CHANHOST_ROWS_OPTIONAL, "note"}};
static const chanhost_step s_list[] = {
    {"SELECT id, title, body FROM notes WHERE owner = $1 ORDER BY id", NULL, p_owner,
     CHANHOST_ROWS_ALL, "notes"}};
static const chanhost_step s_memo[] = {
    {"UPDATE notes SET memo = $2 WHERE id = $1", NULL, p_memo, CHANHOST_ROWS_NONE, NULL}};
static const chanhost_step s_vote[] =
    {{"INSERT INTO notes_votes (note_id, user_id, at) VALUES ($1, $2, $3)"
      " ON CONFLICT DO NOTHING RETURNING note_id",
      NULL, p_vote, CHANHOST_ROWS_OPTIONAL, "inserted"},
     {"SELECT count(*) AS votes FROM notes_votes WHERE note_id = $1", NULL, p_note,
      CHANHOST_ROWS_ONE, NULL}};

static const chanhost_op notes_ops[] = {
    {"add", 1, s_add, 1},   {"get", 0, s_get, 1},       {"find", 0, s_find, 1},
    {"list", 0, s_list, 1}, {"set_memo", 1, s_memo, 1}, {"vote", 1, s_vote, 2},
};
static const char *const notes_sealed[] = {"notes.body", "notes.memo", NULL};
static const char *const notes_tables[] = {"notes", "notes_votes", NULL};

/* "notes" as built with migrations 1..n_migs and ops[0..n_ops). */
static ch_store_schema *notes(size_t n_migs, size_t n_ops)
{
    chanhost_schema d = {notes_migs, n_migs, notes_ops, n_ops, notes_sealed, notes_tables};
    char err[300];
    ch_store_schema *sc = ch_store_schema_new("notes", &d, err, sizeof err);

    if (!sc)
        fail_msg("notes: %s", err);
    return sc;
}

/* ---- helpers --------------------------------------------------------------- */

typedef struct mres {
    int done, status, version, applied;
    char error[400];
} mres;

static void on_mig(int status, const char *error, int version, int applied, void *arg)
{
    mres *m = arg;

    *m = (mres){1, status, version, applied, ""};
    snprintf(m->error, sizeof m->error, "%s", error ? error : "");
}

/* Migrate sc and wait: what came back. */
static mres migrate(fx *f, ch_store_schema *sc)
{
    mres m = {0};

    assert_int_equal(ch_store_schema_migrate(f->s, sc, on_mig, &m), 0);
    while (!m.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return m;
}

/* Does the raw database have table t? */
static int has_table(const char *t)
{
    return (int)raw_int(G.pg ? "SELECT count(*) FROM pg_tables WHERE tablename = '%s'"
                             : "SELECT count(*) FROM sqlite_master WHERE name = '%s'",
                        t);
}

/* The full "notes" (v2, every op) migrated and installed; uninstall and
 * unref it after. */
static ch_store_schema *notes_ready(fx *f)
{
    ch_store_schema *sc = notes(2, CH_ST_N(notes_ops));
    mres m = migrate(f, sc);

    if (m.status != 0)
        fail_msg("migrate notes: %s", m.error);
    ch_store_schema_install(sc);
    return sc;
}

static void notes_done(ch_store_schema *sc)
{
    ch_store_schema_uninstall(sc);
    ch_store_schema_unref(sc);
}

/* notes.add; the new id. */
static int64_t add_note(fx *f, int64_t owner, const char *title, const char *body)
{
    json_t *r = ok(f, "notes.add",
                   J("{s:I, s:s, s:s?, s:f}", "owner", I(owner), "title", title, "body", body,
                     "score", 1.5));
    int64_t id = jint(r, "id");

    json_decref(r);
    return id;
}

/* ---- migrations -------------------------------------------------------------- */

/* Applied once and recorded; the rebuilt version with migration 2 applies
 * only that one; a build older than the database is refused. */
static void migrations_once_then_the_new_one(void **state)
{
    fx *f = *state;
    ch_store_schema *v1 = notes(1, 5), *v2 = notes(2, CH_ST_N(notes_ops));
    mres m = migrate(f, v1);

    assert_int_equal(m.status, 0);
    assert_int_equal(m.version, 1);
    assert_int_equal(m.applied, 1);
    assert_true(has_table("notes"));
    assert_false(has_table("notes_votes"));
    m = migrate(f, v1);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.applied, 0);
    assert_int_equal(raw_int("SELECT count(*) FROM ch_plugin_migrations WHERE plugin = 'notes'"),
                     1);
    m = migrate(f, v2);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.version, 2);
    assert_int_equal(m.applied, 1);
    assert_true(has_table("notes_votes"));
    assert_int_equal(raw_int("SELECT max(version) FROM ch_plugin_migrations WHERE plugin = "
                             "'notes'"),
                     2);
    m = migrate(f, v1); /* the old build against the newer database */
    assert_int_equal(m.status, CH_STORE_EIO);
    assert_non_null(strstr(m.error, "newer than this build's 1"));
    ch_store_schema_unref(v1);
    ch_store_schema_unref(v2);
}

/* A migration that fails applies nothing: not its first statement, not
 * the record; a later good build still migrates from the old version. */
static void failing_migration_leaves_nothing(void **state)
{
    fx *f = *state;
    static const chanhost_migration bad[] = {
        {1, "CREATE TABLE brk_a (x INTEGER)", NULL},
        {2, "CREATE TABLE brk_b (x INTEGER); CREATE TABLE brk_b (y INTEGER)", NULL},
    };
    chanhost_schema d = {bad, 2, NULL, 0, NULL, NULL}, d1 = {bad, 1, NULL, 0, NULL, NULL};
    char err[200];
    ch_store_schema *sc = ch_store_schema_new("brk", &d, err, sizeof err);
    ch_store_schema *sc1 = ch_store_schema_new("brk", &d1, err, sizeof err);
    mres m;

    assert_non_null(sc);
    assert_non_null(sc1);
    m = migrate(f, sc);
    assert_int_not_equal(m.status, 0);
    assert_non_null(strstr(m.error, "migrations 1 to 2: "));
    assert_non_null(strstr(m.error, "brk_b"));
    assert_false(has_table("brk_a"));
    assert_false(has_table("brk_b"));
    assert_int_equal(raw_int("SELECT count(*) FROM ch_plugin_migrations WHERE plugin = 'brk'"), 0);
    m = migrate(f, sc1);
    assert_int_equal(m.status, 0);
    m = migrate(f, sc);
    assert_int_not_equal(m.status, 0);
    assert_non_null(strstr(m.error, "migration 2: "));
    assert_true(has_table("brk_a"));
    assert_false(has_table("brk_b"));
    assert_int_equal(raw_int("SELECT max(version) FROM ch_plugin_migrations WHERE plugin = 'brk'"),
                     1);
    ch_store_schema_unref(sc);
    ch_store_schema_unref(sc1);
}

/* Two loads of one plugin migrating at once (two hosts starting
 * together): both read version 0 before either applies; the second to
 * apply finds the version moved, reads it again and applies nothing. */
static void concurrent_migrations_apply_once(void **state)
{
    fx *f = *state;
    static const chanhost_migration race[] = {{1, "CREATE TABLE race_t (x INTEGER)", NULL}};
    chanhost_schema d = {race, 1, NULL, 0, NULL, NULL};
    char err[200];
    ch_store_schema *a = ch_store_schema_new("race", &d, err, sizeof err);
    ch_store_schema *b = ch_store_schema_new("race", &d, err, sizeof err);
    mres ma = {0}, mb = {0};

    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(ch_store_schema_migrate(f->s, a, on_mig, &ma), 0);
    assert_int_equal(ch_store_schema_migrate(f->s, b, on_mig, &mb), 0);
    while (!ma.done || !mb.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(ma.status, 0);
    assert_int_equal(mb.status, 0);
    assert_int_equal(ma.applied + mb.applied, 1);
    assert_int_equal(ma.version, 1);
    assert_int_equal(mb.version, 1);
    assert_true(has_table("race_t"));
    assert_int_equal(raw_int("SELECT count(*) FROM ch_plugin_migrations WHERE plugin = 'race'"), 1);
    ch_store_schema_unref(a);
    ch_store_schema_unref(b);
}

/* Malformed declarations are refused, saying where. */
static void bad_declarations_are_refused(void **state)
{
    static const char *const seal_unknown[] = {"seal:title", NULL};
    static const chanhost_step s_seal[] = {
        {"UPDATE notes SET title = $1", NULL, seal_unknown, CHANHOST_ROWS_NONE, NULL}};
    static const chanhost_step s_all[] = {{"SELECT 1", NULL, NULL, CHANHOST_ROWS_ALL, NULL}};
    static const chanhost_op o_seal[] = {{"s", 1, s_seal, 1}};
    static const chanhost_op o_all[] = {{"a", 0, s_all, 1}};
    static const chanhost_op o_host[] = {{"get", 0, s_get, 1}};
    static const chanhost_migration m_order[] = {{2, "SELECT 1", NULL}, {1, "SELECT 1", NULL}};
    static const char *const sealed_bad[] = {"notes", NULL};
    static const char *const both_bodies[] = {"notes.body", "notes_votes.body", NULL};
    static const chanhost_step s_both[] = {
        {"SELECT n.body FROM notes n JOIN notes_votes v ON v.note_id = n.id", NULL, NULL,
         CHANHOST_ROWS_ALL, "x"}};
    static const chanhost_op o_both[] = {{"b", 0, s_both, 1}};
    const struct {
        const char *plugin;
        chanhost_schema d;
        const char *want;
    } cases[] = {
        {"x", {NULL, 0, o_seal, 1, notes_sealed, NULL}, "seal:title: no sealed column"},
        {"x", {NULL, 0, o_all, 1, NULL, NULL}, "CHANHOST_ROWS_ALL needs a result key"},
        {"room", {NULL, 0, o_host, 1, NULL, NULL}, "room.get is one of the host's operations"},
        {"x", {m_order, 2, NULL, 0, NULL, NULL}, "migrations[1]: version 1"},
        {"x", {NULL, 0, NULL, 0, sealed_bad, NULL}, "sealed[0]"},
        {"a.b", {NULL, 0, NULL, 0, NULL, NULL}, "cannot prefix operation names"},
        {"x", {NULL, 0, o_both, 1, both_bodies, NULL}, "are both named here"},
    };
    char err[300];

    (void)state;
    for (size_t i = 0; i < CH_ST_N(cases); i++) {
        err[0] = '\0';
        assert_null(ch_store_schema_new(cases[i].plugin, &cases[i].d, err, sizeof err));
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
}

/* Migrations split at ';' outside strings, quoted names, dollar quotes
 * and comments; blank statements are left out. */
static void statements_split(void **state)
{
    const char *sql = "CREATE TABLE a (x TEXT DEFAULT ';''s');\n"
                      "-- a comment; with a semicolon\n"
                      "CREATE TABLE \"b;c\" (y INT) /* ; */ ;;  \n"
                      "DO $x$ BEGIN PERFORM 1; END $x$;\n"
                      "/* only a comment; */";
    const char *want[] = {"CREATE TABLE a (x TEXT DEFAULT ';''s')",
                          "-- a comment; with a semicolon\nCREATE TABLE \"b;c\" (y INT) /* ; */",
                          "DO $x$ BEGIN PERFORM 1; END $x$"};
    size_t n;
    char **parts = ch_pl_split(sql, &n);

    (void)state;
    assert_non_null(parts);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(parts[i], want[i]);
        free(parts[i]);
    }
    free(parts);
}

/* ---- operations ---------------------------------------------------------------- */

/* Values are bound, never spliced; the rows modes; EEXIST; EINVAL before
 * queueing; the idempotent vote. */
static void operations_bind_and_read(void **state)
{
    fx *f = *state;
    ch_store_schema *sc = notes_ready(f);
    const char *evil = "x'); DROP TABLE notes; --";
    int64_t a = add_note(f, 7, evil, "first"), b = add_note(f, 7, "plain", NULL);
    json_t *r;

    r = ok(f, "notes.get", J("{s:I}", "id", I(a)));
    assert_string_equal(STR(GET(r, "note"), "title"), evil);
    assert_int_equal(jint(GET(r, "note"), "owner"), 7);
    assert_string_equal(STR(GET(r, "note"), "body"), "first");
    json_decref(r);
    assert_true(has_table("notes"));
    EXPECT(CH_STORE_ENOENT, "notes.get", "{s:I}", "id", BIG);
    r = ok(f, "notes.find", J("{s:s}", "title", "nothing like it"));
    assert_true(json_is_null(GET(r, "note")));
    json_decref(r);
    r = ok(f, "notes.find", J("{s:s}", "title", "plain"));
    assert_int_equal(jint(GET(r, "note"), "id"), b);
    json_decref(r);
    r = ok(f, "notes.list", J("{s:i}", "owner", 7));
    assert_int_equal(json_array_size(GET(r, "notes")), 2);
    assert_true(json_is_null(GET(NTH(GET(r, "notes"), 1), "body")));
    json_decref(r);
    EXPECT(CH_STORE_EEXIST, "notes.add", "{s:i, s:s, s:n, s:n}", "owner", 8, "title", "plain",
           "body", "score");
    assert_int_equal(ch_store_call(f->s, "notes.add", J("{s:i, s:s}", "owner", 1, "title", "t"),
                                   on_res, NULL),
                     CH_STORE_EINVAL); /* body, score missing */
    assert_int_equal(ch_store_call(f->s, "notes.get", J("{s:[i]}", "id", 1), on_res, NULL),
                     CH_STORE_EINVAL);
    assert_int_equal(ch_store_call(f->s, "notes.nothing", J("{}"), on_res, NULL), CH_STORE_EINVAL);
    r = ok(f, "notes.vote", J("{s:I, s:i}", "note_id", I(a), "user_id", 3));
    assert_int_equal(jint(GET(r, "inserted"), "note_id"), a);
    assert_int_equal(jint(r, "votes"), 1);
    json_decref(r);
    r = ok(f, "notes.vote", J("{s:I, s:i}", "note_id", I(a), "user_id", 3));
    assert_true(json_is_null(GET(r, "inserted")));
    assert_int_equal(jint(r, "votes"), 1);
    json_decref(r);
    assert_true(raw_int("SELECT at FROM notes_votes WHERE note_id = %lld", (long long)a) > 0);
    notes_done(sc);
}

/* Which plugin may call what. */
static void only_own_and_host_operations(void **state)
{
    char err[200];

    (void)state;
    assert_int_equal(ch_store_op_allowed("notes.add", "notes", err, sizeof err), 0);
    assert_int_equal(ch_store_op_allowed("message.append", "notes", err, sizeof err), 0);
    assert_int_equal(ch_store_op_allowed("notes.add", "polls", err, sizeof err), CH_STORE_EINVAL);
    assert_non_null(strstr(err, "not this plugin's"));
    assert_int_equal(ch_store_op_allowed("notesx.add", "notes", err, sizeof err), CH_STORE_EINVAL);
    assert_int_equal(ch_store_op_allowed("notes.@export.notes", "notes", err, sizeof err),
                     CH_STORE_EINVAL);
}

/* A request keeps its op alive after the schema is uninstalled and its
 * last other reference dropped (ASan would see a use after free). */
static void op_outlives_its_uninstall(void **state)
{
    fx *f = *state;
    ch_store_schema *sc = notes_ready(f);
    res r = {0};

    assert_int_equal(ch_store_call(f->s, "notes.list", J("{s:i}", "owner", 7), on_res, &r), 0);
    notes_done(sc);
    assert_null(ch_st_plugin_op("notes.list"));
    while (!r.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(r.status, 0);
    assert_true(json_array_size(GET(r.result, "notes")) >= 2);
    json_decref(r.result);
}

/* ---- sealed columns ----------------------------------------------------------- */

/* No plaintext at rest; a value moved to another sealed column does not
 * open; after rotation new values use key 2 and old ones still open. */
static void sealed_columns(void **state)
{
    fx *f = *state;
    ch_store_schema *sc = notes_ready(f);
    int64_t a = add_note(f, 9, "sealed-a", "the secret recipe"), b;
    char *at_rest = raw("SELECT body FROM notes WHERE id = %lld", (long long)a);
    json_t *r;

    assert_non_null(at_rest);
    assert_null(strstr(at_rest, "secret"));
    assert_int_equal(strncmp(at_rest, "ch1:1:", 6), 0);
    DO("notes.set_memo", "{s:I, s:s}", "id", I(a), "memo", "a memo");
    free(raw("UPDATE notes SET memo = body WHERE id = %lld", (long long)a));
    EXPECT(CH_STORE_EIO, "notes.get", "{s:I}", "id", I(a));
    DO("notes.set_memo", "{s:I, s:n}", "id", I(a), "memo");
    reopen(f, G.key12);
    b = add_note(f, 9, "sealed-b", "rotated");
    free(at_rest);
    at_rest = raw("SELECT body FROM notes WHERE id = %lld", (long long)b);
    assert_int_equal(strncmp(at_rest, "ch1:2:", 6), 0);
    r = ok(f, "notes.list", J("{s:i}", "owner", 9));
    assert_string_equal(STR(NTH(GET(r, "notes"), 0), "body"), "the secret recipe");
    assert_string_equal(STR(NTH(GET(r, "notes"), 1), "body"), "rotated");
    json_decref(r);
    free(at_rest);
    reopen(f, G.key1);
    notes_done(sc);
}

/* ---- export and import ------------------------------------------------------------- */

/* Rows come out opened and ordered; they go back in sealed anew, once;
 * the sequences move past imported ids. */
static void export_and_import(void **state)
{
    fx *f = *state;
    ch_store_schema *sc = notes_ready(f);
    json_t *r, *row, *rows;
    char *op, *at_rest, *text, *prev = NULL;
    size_t i;
    int64_t id;
    int found = 0;

    reopen(f, G.key12); /* sealed_columns left a value sealed with key 2 */
    add_note(f, 11, "exp-a", "body a");
    r = ok(f, "notes.@export.notes", J("{}"));
    rows = GET(r, "rows");
    assert_true(json_array_size(rows) >= 1);
    json_array_foreach(rows, i, row)
    { /* ordered by canonical text */
        text = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
        assert_true(!prev || strcmp(prev, text) < 0);
        free(prev);
        prev = text;
        found += strcmp(STR(row, "title"), "exp-a") == 0 && strcmp(STR(row, "body"), "body a") == 0;
    }
    free(prev);
    assert_int_equal(found, 1);
    json_decref(r);
    row = J("{s:i, s:i, s:s, s:s, s:n, s:s}", "id", 5000, "owner", 12, "title", "imported", "body",
            "from a file", "memo", "score", "2.5");
    op = ch_store_plugin_import_op("notes", "notes", row);
    assert_string_equal(op, "notes.@import.notes:body,id,memo,owner,score,title");
    r = ok(f, op, json_deep_copy(row));
    assert_true(TRUE(r, "imported"));
    json_decref(r);
    r = ok(f, op, json_deep_copy(row));
    assert_false(TRUE(r, "imported"));
    json_decref(r);
    at_rest = raw("SELECT body FROM notes WHERE id = 5000");
    assert_null(strstr(at_rest, "from a file"));
    free(at_rest);
    r = ok(f, "notes.get", J("{s:i}", "id", 5000));
    assert_string_equal(STR(GET(r, "note"), "body"), "from a file");
    json_decref(r);
    DO("notes.@sequences.notes", "{}");
    id = add_note(f, 12, "after-import", "x");
    assert_true(id > 5000);
    EXPECT(CH_STORE_EINVAL, "notes.@import.users:id", "{s:i}", "id", 1);
    EXPECT(CH_STORE_EINVAL, "notes.@import.notes:id,\"x", "{s:i}", "id", 1);
    EXPECT(CH_STORE_EINVAL, "notes.@export.users", "{}");
    free(op);
    json_decref(row);
    notes_done(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(migrations_once_then_the_new_one),
        T(failing_migration_leaves_nothing),
        T(concurrent_migrations_apply_once),
        T(bad_declarations_are_refused),
        T(statements_split),
        T(operations_bind_and_read),
        T(only_own_and_host_operations),
        T(op_outlives_its_uninstall),
        T(sealed_columns),
        T(export_and_import),
    };

    return store_suite_main("store_plugin", tests, CH_ST_N(tests));
}
