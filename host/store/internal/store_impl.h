/*
 * store_impl.h -- the inside of the message store, shared by store.c (the
 * queue and the public interface), store_ops.c (what each operation does,
 * as SQL steps), and the two engines that run those steps:
 * store_sqlite.c (a worker thread) and store_pg.c (non-blocking libpq on
 * the loop, pipelined).
 *
 * An operation is a short list of steps.  A step is one SQL statement
 * with $1, $2 ... placeholders (SQLite binds them by name, PostgreSQL by
 * position, so one text serves both when the dialects agree), a bind hook
 * that builds its parameters from the request, and a rows hook that reads
 * its result rows into the request's context or result.  Hooks are plain
 * functions of the request: they run on the SQLite worker thread or on
 * the loop (PostgreSQL), so they touch nothing but the request and the
 * keyring (read-only).
 *
 * Values crossing the engines are JSON: parameters are a JSON array of
 * integers, reals, strings, booleans (bound as 0/1) and nulls; result rows
 * are a JSON array of objects keyed by column name, with integer columns
 * as integers, NULL as null and everything else as strings.  Binary data
 * (sealed content, nonces) is stored as base64 text.
 */
#ifndef CH_STORE_IMPL_H
#define CH_STORE_IMPL_H

#include <jansson.h>
#include <stdint.h>
#include <string.h>
#include <uv.h>

#include "store.h"
#include "store_crypt.h"

typedef struct ch_store_req ch_store_req;

enum ch_store_kind { CH_STORE_SQLITE = 0, CH_STORE_PG = 1 };

/* Return values of a rows hook. */
#define CH_STEP_NEXT 0 /* go on with the following step */
#define CH_STEP_DONE 1 /* the operation is complete (skip the rest) */
/* negative: failed; the hook has set req->status and req->error */

/* A typed value crossing the SQLite engine without JSON: a parameter a
 * step's args hook binds, or a column its row hook reads.  Texts are
 * borrowed: a parameter's from the request (valid until the step ends),
 * a column's from the engine (valid for the one call it is handed to). */
typedef struct ch_st_val {
    char type; /* 'n' null, 'i' integer (i), 't' text (s[0..len)) */
    int64_t i;
    const char *s;
    size_t len;
} ch_st_val;

/* The most parameters an args hook may fill. */
#define CH_ST_ARGS_MAX 16

/* The typed value of an integer. */
static inline ch_st_val ch_st_vi(int64_t i) { return (ch_st_val){'i', i, NULL, 0}; }
/* The typed value of the text s[0..len) (borrowed). */
static inline ch_st_val ch_st_vt(const char *s, size_t len) { return (ch_st_val){'t', 0, s, len}; }
/* The typed value of a JSON value (borrowed): an integer, a string (its
 * text borrowed), a boolean as 0/1, anything else (absent too) null. */
static inline ch_st_val ch_st_vj(const json_t *v)
{
    if (json_is_integer(v))
        return ch_st_vi(json_integer_value(v));
    if (json_is_boolean(v))
        return ch_st_vi(json_is_true(v));
    if (json_is_string(v))
        return ch_st_vt(json_string_value(v), json_string_length(v));
    return (ch_st_val){'n', 0, NULL, 0};
}

typedef struct ch_store_step {
    const char *sql; /* the statement, $N placeholders */
    /* New JSON array of the statement's parameters, or NULL after setting
     * req->status/error.  NULL hook: no parameters. */
    json_t *(*bind)(ch_store_req *req);
    /* Read the rows (borrowed array).  NULL hook: CH_STEP_NEXT. */
    int (*rows)(ch_store_req *req, json_t *rows);
} ch_store_step;

/*
 * A step that the PostgreSQL engine runs for several requests as one
 * statement (store_pg_group.c) when a round has more than one request at
 * it: sql's only parameter, $1, is a JSON array whose element k is request
 * k's parameters as the step's bind made them (an array of JSON scalars:
 * a boolean is true or false here, 1 or 0 in the step's own statement).
 * Its rows carry a first column "_i" (k, from 0) and are otherwise exactly
 * the rows the step's own statement gives for request k, in the same
 * order; each request's rows hook gets its own.  It writes what the step's
 * statement writes, for every request, in the requests' order.
 */
typedef struct ch_st_group {
    const ch_store_step *step; /* the step it stands for */
    const char *sql;
} ch_st_group;

/* The groups (store_append.c), ended by an entry with step NULL. */
extern const ch_st_group ch_st_pg_groups[];

/*
 * The typed path of a step, for hot operations on the SQLite engine (an
 * op's "typed" list, parallel to its SQLite steps; PostgreSQL runs bind
 * and rows).  No JSON array or object is made for either hook.  args,
 * instead of the step's bind: fill args[0..CH_ST_ARGS_MAX) ($1 is
 * args[0]) and return how many, or a failure status after
 * ch_store_fail.  row, instead of its rows: called with each row's
 * columns in the statement's order (cols[0..n), borrowed for the call;
 * returns 0 or a failure status), then once with cols NULL and n the
 * number of rows (returns CH_STEP_* or a failure status); without a row
 * hook the rows are not read (CH_STEP_NEXT).  Without an args hook the
 * step's bind makes the parameters; an entry with neither hook runs the
 * step as JSON.
 */
typedef struct ch_st_typed {
    int (*args)(ch_store_req *req, ch_st_val *args);
    int (*row)(ch_store_req *req, const ch_st_val *cols, size_t n);
} ch_st_typed;

typedef struct ch_store_op {
    const char *name; /* "message.append" */
    int writes;       /* needs a write transaction */
    /* Validate req->params on the loop thread before queueing; may fill
     * req->ctx.  Returns 0 or CH_STORE_EINVAL (with req->error set). */
    int (*prepare)(ch_store_req *req);
    /* Steps per engine kind; steps[CH_STORE_PG] NULL means "the same as
     * SQLite's". */
    const ch_store_step *steps[2];
    size_t n_steps[2];
    /* NULL for static ops.  Ops made at run time (a plugin's, see
     * store_plugin_impl.h) are reference-counted: ch_store_call holds
     * (+1) the op a request runs and releases it (-1) when the request is
     * freed, on the loop thread, so a replaced op outlives its requests. */
    void (*hold)(const struct ch_store_op *op, int delta);
    /* NULL, or the typed hooks of each of the SQLite steps (n_steps[0]
     * entries, ch_st_typed; the SQLite engine only). */
    const ch_st_typed *typed;
} ch_store_op;

struct ch_store_req {
    ch_store_req *next; /* engine queues */
    const ch_store_op *op;
    json_t *params; /* owned: the caller's parameters */
    json_t *ctx;    /* owned: scratch object for the steps */
    json_t *result; /* owned: set by the steps (an object) */
    int status;     /* 0 or CH_STORE_E* */
    char error[160];
    size_t step;            /* the next step to run */
    unsigned attempts;      /* how often an engine started it */
    const ch_keyring *keys; /* for sealing and opening content */
    int64_t now_ms;         /* wall clock when queued (timestamps) */
    uint64_t queued_ms;     /* loop time when queued (latency) */
    /* uv_hrtime() stamps for store_stages.c (0: not reached): queued
     * (ch_store_call), its batch taken by the engine, its commit done */
    uint64_t t_queued_ns, t_start_ns, t_commit_ns;
    int files_done; /* the attachment folder's part ran (store_files.c) */
    ch_store_cb cb;
    void *arg;
};

/* The operation table (store_ops.c); NULL if unknown.  The host's own
 * operations first, then the plugins' (store_plugin.c). */
const ch_store_op *ch_store_op_find(const char *name);

/* The host's own operations only (ch_store_op_find without the plugins'). */
const ch_store_op *ch_store_host_op(const char *name);

/* A plugin's operation "<plugin>.<name>" of its installed schema
 * (store_plugin.c), or NULL. */
const ch_store_op *ch_st_plugin_op(const char *name);

/* ch_store_call with the op itself (the host's plugin machinery runs ops
 * that have no name to look up: migrations).  Same contract. */
int ch_store_call_op(ch_store *s, const ch_store_op *op, json_t *params, ch_store_cb cb, void *arg);

/* The store's keyring (borrowed, for the life of the store). */
const ch_keyring *ch_store_keys(ch_store *s);

/* The steps of req's operation for an engine kind. */
const ch_store_step *ch_store_op_steps(const ch_store_op *op, int kind, size_t *n);

/* Set req's error: status and a printf-formatted reason.  Returns status
 * (so hooks can `return ch_store_fail(...)`). */
int ch_store_fail(ch_store_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Rewind a request for another attempt after a failed transaction: the
 * step counter, status, error and result are reset; ctx keeps what the
 * op stores there across attempts. */
void ch_store_req_rewind(ch_store_req *req);

/* The schema, as a list of migrations per engine kind (store_ops.c).
 * Migration i (0-based) brings the schema to version i + 1; each is a
 * string of statements separated by ";\n". */
const char *const *ch_store_migrations(int kind, size_t *n);

/* PostgreSQL's migration 3 (store_pg_notify.c): the trigger on
 * participants that notifies CH_STORE_CHANNEL_PARTICIPANTS (store.h). */
extern const char ch_pg_notify_trigger[];

/* Migration 5 (store_sessions.c), per engine kind: the table
 * revoked_tokens; on PostgreSQL also CH_PG_SESSION_TRIGGER. */
extern const char ch_st_sessions_sqlite_v6[], ch_st_sessions_pg_v6[];
/* Migration 7 (both engines): users.last_seen (store_sessions.c). */
extern const char ch_st_sessions_v7[];

/* Migration 7 (store_attach.c), per engine kind: attachments and their
 * sealed chunks. */
extern const char ch_st_attach_sqlite_v9[], ch_st_attach_pg_v9[];

/* Migration 10 (store_unread.c), per engine kind: the unread counters
 * room_live_counts and room_read_counts, their triggers and backfill. */
extern const char ch_st_unread_sqlite_v10[], ch_st_unread_pg_v10[];
/* Migration 12 (store_unread.c): PostgreSQL counts inserted messages with
 * a statement trigger; SQLite's text is a comment. */
extern const char ch_st_unread_sqlite_v12[], ch_st_unread_pg_v12[];

/* A rows hook after a "DELETE FROM attachments ... RETURNING id": their
 * ids into ctx "gone" (store_files.c removes their folders after the
 * commit); CH_STEP_NEXT.  Their chunks' rows go by the cascade. */
int ch_st_rows_gone(ch_store_req *req, json_t *rows);

/* Migration 5's PostgreSQL triggers: a token revoked
 * (a row added to revoked_tokens) is announced on
 * CH_STORE_CHANNEL_PARTICIPANTS as {"user_id", "token"} (its hash), a user
 * deactivated (users.is_active set to 0) as {"user_id", "deactivated":
 * true}, in the writing transaction (heard when it commits). */
#define CH_PG_SESSION_TRIGGER                                                            \
    "CREATE FUNCTION ch_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$\n"      \
    "BEGIN\n"                                                                            \
    "  IF TG_TABLE_NAME = 'revoked_tokens' THEN\n"                                       \
    "    PERFORM pg_notify('" CH_STORE_CHANNEL_PARTICIPANTS "',\n"                       \
    "      json_build_object('user_id', NEW.user_id, 'token', NEW.token_hash)::text);\n" \
    "  ELSIF NEW.is_active = 0 AND OLD.is_active <> 0 THEN\n"                            \
    "    PERFORM pg_notify('" CH_STORE_CHANNEL_PARTICIPANTS "',\n"                       \
    "      json_build_object('user_id', NEW.id, 'deactivated', true)::text);\n"          \
    "  END IF;\n"                                                                        \
    "  RETURN NULL;\n"                                                                   \
    "END $$;\n"                                                                          \
    "CREATE TRIGGER revoked_tokens_added AFTER INSERT ON revoked_tokens\n"               \
    "  FOR EACH ROW EXECUTE FUNCTION ch_session_changed();\n"                            \
    "CREATE TRIGGER users_deactivated AFTER UPDATE OF is_active ON users\n"              \
    "  FOR EACH ROW EXECUTE FUNCTION ch_session_changed()"

/* The SQLite engine's page cache and checkpoint interval (store_sqlite.c,
 * every connection it opens for writing).  cache_size -8192: 8 MiB of
 * pages (SQLite's default is 2 MB), so the pages an append touches in each
 * B-tree of a busy store (messages and its indexes, room_events, the
 * counters) stay cached instead of being read again from the file;
 * memory is taken only as pages are used, in the worker's arena.
 * wal_autocheckpoint 4000 (default 1000): a checkpoint copies each page
 * the WAL holds once however often it was written since the last one, and
 * an append's pages are rewritten many times a second, so fewer
 * checkpoints copy fewer pages; the WAL file grows to about 16 MB once and
 * is then rewritten in place.  Durability is unchanged: a commit is
 * durable once its WAL frames are synced, whenever they are checkpointed. */
#define CH_ST_SQLITE_CACHE "PRAGMA cache_size=-8192; PRAGMA wal_autocheckpoint=4000"

/* The bookkeeping of migrations, the same on both engines: an engine runs
 * this statement, reads "SELECT coalesce(max(version), 0) AS version FROM
 * schema_migrations", applies the missing migrations and, after each,
 * "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)"
 * (version, milliseconds since the epoch), all in one transaction.  A
 * database whose version is above the number of migrations is refused. */
#define CH_STORE_MIGRATIONS_TABLE                                                \
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY," \
    " applied_at BIGINT NOT NULL)"

/*
 * An engine.  open and migrate may block (they run at start-up or from the
 * command line, before the loop serves anyone); everything else runs on
 * the loop thread and must not block.
 */
typedef struct ch_store_engine {
    const char *name; /* "sqlite", "postgresql" */
    int kind;         /* CH_STORE_SQLITE / CH_STORE_PG */
    /* Connect (PostgreSQL may come up later: not an error), apply
     * migrations, start.  *self: the engine's state. */
    int (*open)(ch_store *s, const char *url, void **self, char *err, size_t errlen);
    /* Take a request; the engine owns it until it calls ch_store_done. */
    void (*submit)(void *self, ch_store_req *req);
    /* "ok", "connecting", "down: reason" (borrowed; valid until the next
     * call on the loop thread). */
    const char *(*state)(void *self);
    /* Finish what was submitted, then free self and call
     * ch_store_engine_closed(s). */
    void (*close)(void *self);
    /* Blocking: apply migrations to the database at url. */
    int (*migrate)(const char *url, char *err, size_t errlen);
    /* Listen on channel (a checked name, copied) from now on, and after
     * every reconnect; each notification goes to ch_store_notified.
     * Returns 0 or -ENOMEM.  NULL: the engine has no notifications. */
    int (*listen)(void *self, const char *channel);
} ch_store_engine;

extern const ch_store_engine ch_store_sqlite_engine;

/* The SQLite engine's step (store_sqlite_step.c, on its worker thread):
 * bind step's parameters to st (prepared for step->sql, borrowed), run it,
 * hand its rows to the step's hooks (t: its typed hooks, ch_st_typed, or
 * NULL); st is reset and its bindings cleared.  Returns the hook's
 * CH_STEP_* or a failure status (req->status set). */
struct sqlite3;
struct sqlite3_stmt;
int ch_sq_step(struct sqlite3 *db, struct sqlite3_stmt *st, ch_store_req *req,
               const ch_store_step *step, const ch_st_typed *t);
extern const ch_store_engine ch_store_pg_engine;

/*
 * The attachment folder (store_files.c, store.h's attachment_dir).  On
 * the loop thread.
 */
typedef struct ch_st_files ch_st_files;

/* A folder's state for dir (copied; made 0700 if absent, blocking: at
 * open), or NULL with the reason in err.  Free with ch_st_files_free. */
ch_st_files *ch_st_files_new(const char *dir, char *err, size_t errlen);
void ch_st_files_free(ch_st_files *f);

/* A request admitted by ch_store_call: 1 when the folder takes it
 * (attachment.write and attachment.read run on libuv's thread pool and
 * end in ch_store_done), 0 for the engine (f NULL: always 0). */
int ch_st_files_take(ch_store *s, ch_st_files *f, ch_store_req *req);

/* From ch_store_done, before the callback: 1 when the request's ctx
 * "gone" names attachments whose folders must go first (the request then
 * comes back to ch_store_done with files_done set), else 0. */
int ch_st_files_after(ch_store *s, ch_st_files *f, ch_store_req *req);

/* For store_files.c: hand req to the engine (a chunk not in the folder
 * is read from the database; -1 when the store is closing, else 0), and
 * count the folder's jobs in flight
 * (delta +1/-1), so the store is freed only after the last. */
int ch_store_submit(ch_store *s, ch_store_req *req);
void ch_store_files_busy(ch_store *s, int delta);

/* For engines, on the loop thread: the request is finished (status 0 once
 * its transaction committed).  Calls the callback and frees req. */
void ch_store_done(ch_store *s, ch_store_req *req);

/* For engines, on the loop thread. */
uv_loop_t *ch_store_loop(ch_store *s);
int ch_store_is_foreign(ch_store *s); /* opened with opts.foreign (store.h) */
uint32_t ch_store_batch_max(ch_store *s);
/* opts.commit_delay_ms (the commit window; 0: none). */
uint32_t ch_store_commit_delay_ms(ch_store *s);
/* The SQLite engine's VFS (store_sqlite_vfs.c): registered on the first
 * call (before any open; not thread-safe: store_sqlite.c calls it once),
 * its name, or NULL when it could not be (then: the default VFS). */
const char *ch_st_vfs_name(void);
/* opts.connections (1 to CH_STORE_CONNECTIONS_MAX). */
uint32_t ch_store_connections(ch_store *s);
/* A request runs again (any thread: atomic; the SQLite worker's reruns). */
void ch_store_count_retry(ch_store *s);
/* A transaction of the engine committed (any thread: atomic). */
void ch_store_count_commit(ch_store *s);

/* Stamp t_start_ns (or, with commit, t_commit_ns) of each request of the
 * NULL-terminated list batch with now (uv_hrtime()). */
void ch_st_stamp_batch(ch_store_req *batch, int commit, uint64_t now);

/* ---- latency per stage (store_stages.c) --------------------------------- */

#define CH_ST_STAGES 4         /* queue, transaction, handoff, callback */
#define CH_ST_STAGE_BUCKETS 14 /* bounds in ch_st_stage_bounds_us */

extern const char *const ch_st_stage_names[CH_ST_STAGES];
extern const uint32_t ch_st_stage_bounds_us[CH_ST_STAGE_BUCKETS];

/* The store's histograms, one per stage (the loop's: no lock). */
typedef struct ch_st_stages {
    uint64_t bucket[CH_ST_STAGES][CH_ST_STAGE_BUCKETS]; /* not cumulative */
    uint64_t count[CH_ST_STAGES], sum_us[CH_ST_STAGES];
} ch_st_stages;

/* Count a successful request's stages: its stamps (req borrowed), done_ns
 * (uv_hrtime() as ch_store_done began) and cb_ns (its callback's time).  A
 * request without all three stamps is not counted. */
void ch_st_stages_add(ch_st_stages *st, const ch_store_req *req, uint64_t done_ns, uint64_t cb_ns);

/* The histograms as JSON for ch_store_status (new reference). */
json_t *ch_st_stages_json(const ch_st_stages *st);
void ch_store_count_reconnect(ch_store *s);
/* A notification arrived on the listened channel (both strings borrowed
 * for the call): counted, then handed to ch_store_listen's function. */
void ch_store_notified(ch_store *s, const char *channel, const char *payload);
void ch_store_engine_closed(ch_store *s);

/* A FIFO of requests (store_queue.c): push links req (the engine's) at
 * the tail; take unlinks up to max (>= 1) from the non-empty FIFO and
 * returns them as a NULL-terminated list. */
void ch_st_fifo_push(ch_store_req **head, ch_store_req **tail, ch_store_req *req);
ch_store_req *ch_st_fifo_take(ch_store_req **head, ch_store_req **tail, uint32_t max);
/* push_head links req back at the head; pop unlinks the first (NULL:
 * the FIFO is empty). */
void ch_st_fifo_push_head(ch_store_req **head, ch_store_req **tail, ch_store_req *req);
ch_store_req *ch_st_fifo_pop(ch_store_req **head, ch_store_req **tail);

/* Wake the loop from a worker thread: one write of 1 to the eventfd fd. */
void ch_st_eventfd_tell(int fd);

/*
 * The commit window (store_queue.c), shared by both engines: whether
 * the batch a call starts should wait for more calls, and until when.
 * Plain data, no lock: each engine guards its own (the SQLite engine
 * under its mutex, the PostgreSQL engine on the loop thread).
 */
typedef struct ch_st_window {
    uint64_t delay_ns; /* the window; 0: never wait */
    uint64_t run_ns;   /* a batch formed while a transaction runs: its window; 0: none */
    uint64_t last_ns;  /* uv_hrtime() of the latest arrival (0: none yet) */
    uint64_t end_ns;   /* when the waiting batch stops waiting (0: it does not wait) */
    uint32_t held;     /* calls queued since the waiting batch's first */
    int run_window;    /* the waiting batch's window started while a transaction ran */
    int armed;         /* calls were seen to overlap: windows may help */
    int running;       /* a batch is taken, its transaction not over */
} ch_st_window;

/* A waiting batch stops waiting once it holds this many calls (or
 * store_batch_max if smaller): by then the transaction's fixed cost is
 * shared sixteen ways, and waiting longer would only add latency.  At a
 * few thousand calls a second the window thus lasts a few milliseconds,
 * not the whole store_commit_delay.  Sixteen, not eight: at 200 appends
 * a second a window of 50 ms then ended by time, at about ten calls,
 * instead of at eight after 40 ms, and the host's CPU per message fell
 * by about a sixth on this machine, where a transaction's fdatasync
 * alone costs three block requests and their wake-ups; the 70 ms
 * default gathers about fourteen (docs/performance.md, "Part 6"). */
#define CH_ST_WINDOW_ENOUGH 16u

/* On SQLite, a batch that starts while a transaction runs waits at most
 * this long after its first call, and only when the call before it came
 * less than this long before (store_queue.c). */
#define CH_ST_WINDOW_RUN_MS 4u

/* ... or until it holds this many calls: a COMMIT's fixed cost shared 64
 * ways is a few per cent of an append's. */
#define CH_ST_WINDOW_FULL 64u

/* How many calls end w's waiting batch's window: CH_ST_WINDOW_ENOUGH, or
 * CH_ST_WINDOW_FULL for a batch that started while a transaction ran, or
 * batch_max when that is smaller. */
static inline uint32_t ch_st_window_cap(const ch_st_window *w, uint32_t batch_max)
{
    uint32_t enough = w->run_window ? CH_ST_WINDOW_FULL : CH_ST_WINDOW_ENOUGH;

    return batch_max < enough ? batch_max : enough;
}

/* Set the window to delay_ms (ms; 0: never wait) for a store. */
void ch_st_window_init(ch_st_window *w, uint32_t delay_ms, uint32_t run_ms);

/* A call arrived at now_ns (uv_hrtime()); queued: the queue was not
 * empty; writes: the call writes (a batch a read starts does not wait:
 * it has no commit to share).  Returns non-zero when a waiting batch
 * should stop waiting at once: it holds batch_max calls. */
int ch_st_window_arrive(ch_st_window *w, int queued, int writes, uint64_t now_ns,
                        uint32_t batch_max);

/* A batch is taken (its transaction starts): the window is over, the
 * next arrival decides anew. */
void ch_st_window_taken(ch_st_window *w);

/* The batch taken last is finished (committed or not). */
void ch_st_window_done(ch_st_window *w);

/* The PostgreSQL engine (store_pg.c): how many transactions it has
 * committed in this process, over all its stores (read-only; for tests
 * and benchmarks of group commit). */
uint64_t ch_store_pg_commits(void);
/* ... and how many grouped statements (ch_store_step.group_sql) it has
 * run, each for more than one request (the same use). */
uint64_t ch_store_pg_groups(void);

/*
 * Helpers shared by store_ops.c (the operations) and store_schema.c (the
 * schema and the shapes of parameters and rows).  Nothing else uses them.
 */

/* A parameter's expected shape.  type: 'i' integer in [min, max]; 's'
 * string of min..max characters (UTF-8, no NUL); 'B' string of at most
 * max bytes; 'b' boolean; 'o' object; 'a' array of min..max integers >= 1.
 * A null value counts as absent.  A spec list ends with a NULL name. */
typedef struct ch_pspec {
    const char *name;
    char type;
    char required;
    int64_t min, max;
} ch_pspec;

/* Check req->params against spec: 0, or CH_STORE_EINVAL with req->error
 * set.  Parameters not in spec are ignored. */
int ch_st_check(ch_store_req *req, const ch_pspec *spec);

/* Set params[name] = v (stolen) when it is absent or null. */
void ch_st_default(ch_store_req *req, const char *name, json_t *v);

/* Exactly one of the parameters a, b, c (c may be NULL) is given: 0 or
 * CH_STORE_EINVAL. */
int ch_st_one_of(ch_store_req *req, const char *a, const char *b, const char *c);

/* The user fields of user.create and user.import: username (1..150 of
 * [A-Za-z0-9@.+_-]), email? (with '@'), password (a hash), role? (a role
 * name, ch_role_name_ok, that ch_store_roles_check's function knows;
 * default user). */
int ch_st_check_user(ch_store_req *req);

/* A result hook: the user an import names must exist (rows: the SELECT of
 * its id); ENOENT "no such user" if not, else CH_STEP_NEXT. */
int ch_st_rows_need_user(ch_store_req *req, json_t *rows);

/* A bind hook's parameters from a list of names (ended by NULL): "now" is
 * req->now_ms, "@x" is ctx's x, any other name the parameter of that name;
 * absent values are null, booleans 0/1.  New array. */
json_t *ch_st_bind_list(ch_store_req *req, const char *const *names);

#define CH_ST_BIND(fn, ...)                                      \
    static json_t *fn(ch_store_req *req)                         \
    {                                                            \
        static const char *const names_[] = {__VA_ARGS__, NULL}; \
        return ch_st_bind_list(req, names_);                     \
    }

/* A row's integer column (an integer, or digits as a string; else 0) and
 * text column (borrowed; "" when not a string). */
int64_t ch_st_int(const json_t *row, const char *col);
const char *ch_st_str(const json_t *row, const char *col);

/* New JSON of a rooms row ({id, key, kind, name, is_private, created_at,
 * is_active}) and of a users row (password only if with_password). */
json_t *ch_st_room_json(const json_t *row);
json_t *ch_st_user_json(const json_t *row, int with_password);
/* req->result = {"users": [user...]} from rows (with password hashes or
 * not); returns CH_STEP_DONE. */
int ch_st_users_result(ch_store_req *req, const json_t *rows, int with_password);

/* New JSON of a messages row, its content opened with room_key (or taken
 * from plain[0..len) when plain is non-NULL); read_by is [].  NULL after
 * ch_store_fail(EIO) when the content cannot be opened. */
json_t *ch_st_msg_json(ch_store_req *req, const json_t *row, const char *room_key,
                       const char *plain, size_t len);

/* Message rows (ordered by id) into ctx "msgs", ctx "lo" and "hi" (the id
 * range) and ctx "room_id" (of the first row).  room_key NULL: each row's
 * "room_key" column.  Returns CH_STEP_NEXT or a failure status. */
int ch_st_msgs_from_rows(ch_store_req *req, const json_t *rows, const char *room_key);

/* Fill each message's read_by from receipt rows {message_id, user_id};
 * both lists ordered by message id. */
void ch_st_attach_receipts(json_t *msgs, const json_t *rows);

/* Sort an array in place with a qsort comparator of (json_t *const *);
 * ch_st_sort_by_id: an array of integers, or of objects by their "id". */
void ch_st_sort(json_t *arr, int (*cmp)(const void *, const void *));
void ch_st_sort_by_id(json_t *arr, int desc);

/* Seal plain[0..len) for (room_key, id) into ctx "id", "key_id", "nonce"
 * and "sealed".  0, or a failure status (EIO) with req->error set. */
int ch_st_seal(ch_store_req *req, const char *room_key, int64_t id, const char *plain, size_t len);

/*
 * JSON text written directly (store_jtext.c): a growing buffer, p
 * malloc'd and NUL-terminated (the caller frees it; {0} is empty); once
 * out of memory "failed" is set and later writes do nothing.  Flat values
 * are written as jansson's json_dumps(JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY) writes them, byte for byte; the rest through jansson.
 */
typedef struct ch_st_text {
    char *p;
    size_t len, cap;
    int failed;
} ch_st_text;

void ch_st_text_put(ch_st_text *b, const char *s, size_t n);
#define CH_ST_TEXT_LIT(b, lit) ch_st_text_put((b), (lit), sizeof(lit) - 1)
void ch_st_text_str(ch_st_text *b, const char *s, size_t n); /* a JSON string */
void ch_st_text_int(ch_st_text *b, int64_t v);               /* decimal */
void ch_st_text_json(ch_st_text *b, const json_t *v);        /* v borrowed */

/* The optional "extra" parameter (an object) as compact JSON text in ctx
 * "extra" (null when absent): 0 or CH_STORE_EINVAL (too large). */
int ch_st_extra(ch_store_req *req);

/* The operations defined in store_schema.c (users, imports), by name. */
const ch_store_op *ch_st_schema_op(const char *name);
const ch_store_op *ch_st_reads_op(const char *name); /* store_reads.c */

/* The columns of a message row, plain and with the alias m. */
#define MSG_COLS                                                             \
    "id, room_id, sender_id, key_id, nonce, content, created_at, edited_at," \
    " is_deleted, client_msg_id, extra"
#define MSG_COLS_M                                                                    \
    "m.id AS id, m.room_id AS room_id, m.sender_id AS sender_id, m.key_id AS key_id," \
    " m.nonce AS nonce, m.content AS content, m.created_at AS created_at,"            \
    " m.edited_at AS edited_at, m.is_deleted AS is_deleted,"                          \
    " m.client_msg_id AS client_msg_id, m.extra AS extra"

/* The operation called name in table[0..n), or NULL (name may be NULL). */
static inline const ch_store_op *ch_st_find(const ch_store_op *table, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

/* The integers of column col of rows, sorted ascending (new array). */
static inline json_t *ch_st_ids_of(json_t *rows, const char *col)
{
    json_t *ids = json_array();
    size_t i;
    json_t *row;

    json_array_foreach(rows, i, row) json_array_append_new(ids, json_integer(ch_st_int(row, col)));
    ch_st_sort_by_id(ids, 0);
    return ids;
}

/* The unread counts of a room's users (store_chat.c's unread.for_room, and
 * message.append's last step with "unread": true): for each user u of the
 * subquery ids (a column uid) and, when $3 = 1, each participant of room
 * $1, the room's live messages minus u's own minus u's receipts of the
 * others' live messages (a receipt is unique per message and user, so
 * this is the number of the others' live messages u has not read).  The
 * counts per sender and per reader are the counter tables' rows of the
 * room (store_unread.c), read once for all users (MATERIALIZED: not again
 * per user), so the cost is the room's senders and readers, not its
 * history; columns user_id, unread. */
#define CH_ST_UNREAD_SQL(ids)                                                                 \
    "WITH s AS MATERIALIZED (SELECT c.sender_id AS sid, c.n AS n FROM room_live_counts c"     \
    " WHERE c.room_id = $1),"                                                                 \
    " r AS MATERIALIZED (SELECT c.user_id AS rid, c.n AS n FROM room_read_counts c"           \
    " WHERE c.room_id = $1)"                                                                  \
    " SELECT u.uid AS user_id, CAST((SELECT coalesce(sum(s.n), 0) FROM s)"                    \
    " - coalesce((SELECT s.n FROM s WHERE s.sid = u.uid), 0)"                                 \
    " - coalesce((SELECT r.n FROM r WHERE r.rid = u.uid), 0) AS BIGINT) AS unread FROM (" ids \
    " UNION SELECT p.user_id FROM participants p WHERE p.room_id = $1 AND $3 = 1) AS u"       \
    " ORDER BY u.uid"

/* The ids of the JSON array text parameter n, as a column uid. */
#define CH_ST_SQLITE_IDS(n) "SELECT CAST(value AS BIGINT) AS uid FROM json_each(" n ")"
#define CH_ST_PG_IDS(n) \
    "SELECT CAST(v AS BIGINT) AS uid FROM json_array_elements_text(CAST(" n " AS json)) AS v"

/* message.append's unread step (store_ops.c): the bind hook (room_id, no
 * listed ids, the participants) and the rows hook, which adds
 * "unread": {"<user id>": n} to the append's result (store_chat.c). */
json_t *ch_st_bind_append_unread(ch_store_req *req);
int ch_st_rows_append_unread(ch_store_req *req, json_t *rows);
/* PostgreSQL's append: the unread step and the stream's event row in
 * one statement (CH_ST_PG_UNREAD_EVENT_SQL), its hooks (store_chat.c). */
json_t *ch_st_bind_append_unread_event(ch_store_req *req);
int ch_st_rows_append_unread_event(ch_store_req *req, json_t *rows);

/* message.append's steps (store_append.c; its prepare and table entry
 * are store_ops.c's): SQLite's, with their typed hooks (as many), and
 * PostgreSQL's. */
#define CH_ST_APPEND_STEPS 6
#define CH_ST_APPEND_PG_STEPS 6
extern const ch_store_step ch_st_append_steps[], ch_st_append_pg_steps[];
extern const ch_st_typed ch_st_append_typed[];

/* Mark the appends of a batch (head: its requests linked by next,
 * borrowed; the engine's thread) that may leave the unread counts to a
 * later append of the same room in the same batch ("unread_defer" true,
 * store_ops.c): their result says "unread_deferred": true instead.  Both
 * engines call it on each batch before running it. */
void ch_st_append_mark_batch(ch_store_req *head);

/* The operations defined in store_export.c (exports, participant and
 * receipt imports), by name: ch_st_schema_op's fallback. */
const ch_store_op *ch_st_export_op(const char *name);

/* The parameters of an export page (store_export.c; export.* and
 * export.attachments): {after_id? (0: from the start), limit? (1..1000,
 * 500)}, the defaults set in req->params.  0 or CH_STORE_EINVAL. */
int ch_st_prep_page(ch_store_req *req);

/* A room's stream (store_stream.c).  Migration 7, per engine kind:
 * store_meta (the epoch), rooms.stream_pos, room_events. */
extern const char ch_st_stream_sqlite_v8[], ch_st_stream_pg_v8[];

/* The stream parameters of a streamed operation (stream?, stream_extra?,
 * stream_keep?), for its prepare: 0 or CH_STORE_EINVAL. */
int ch_st_stream_prep(ch_store_req *req);

/* For the rows hook that ends a streamed operation's own steps:
 * CH_STEP_NEXT (the stream steps follow) when changed and the call has
 * "stream": true, else CH_STEP_DONE. */
int ch_st_stream_next(ch_store_req *req, int changed);

/* The hooks of CH_ST_STREAM_STEPS: the room's next position and the
 * event sealed for it (room_id from the parameters, else ctx "room_id";
 * the body from the operation's name, parameters and result), the event
 * row (the result gets "pos" and "epoch"), the trim of old events. */
json_t *ch_st_stream_bind_room(ch_store_req *req);
int ch_st_stream_rows_pos(ch_store_req *req, json_t *rows);
json_t *ch_st_stream_bind_event(ch_store_req *req);
int ch_st_stream_rows_event(ch_store_req *req, json_t *rows);
json_t *ch_st_stream_bind_trim(ch_store_req *req);

/* ch_st_stream_rows_pos for a position already known: the room's key
 * (borrowed), its new position and the store's epoch (borrowed). */
int ch_st_stream_seal(ch_store_req *req, const char *key, int64_t pos, const char *epoch);

/* The typed hooks (ch_st_typed) of CH_ST_STREAM_EVENT_STEPS, for an op's
 * typed list: the event row's parameters and its end, the trim's
 * parameters. */
int ch_st_stream_args_event(ch_store_req *req, ch_st_val *args);
int ch_st_stream_row_event(ch_store_req *req, const ch_st_val *cols, size_t n);
int ch_st_stream_args_trim(ch_store_req *req, ch_st_val *args);
#define CH_ST_STREAM_EVENT_TYPED \
    {ch_st_stream_args_event, ch_st_stream_row_event}, { ch_st_stream_args_trim, NULL }

/* The store's epoch, as a scalar subquery. */
#define CH_ST_EPOCH_SQL "(SELECT value FROM store_meta WHERE name = 'epoch')"

/* The steps a streamed operation ends with (its own last step returns
 * ch_st_stream_next), the same on both engines: the room's next position
 * (CH_ST_STREAM_POS_SQL), then CH_ST_STREAM_EVENT_STEPS.  An operation
 * whose own statement takes the position itself (PostgreSQL's append)
 * ends with CH_ST_STREAM_EVENT_STEPS alone, its rows hook having called
 * ch_st_stream_rows_pos. */
#define CH_ST_STREAM_POS_SQL                                     \
    "UPDATE rooms SET stream_pos = stream_pos + 1 WHERE id = $1" \
    " RETURNING stream_pos AS pos, key, " CH_ST_EPOCH_SQL " AS epoch"
#define CH_ST_STREAM_EVENT_STEPS                                                                 \
    {"INSERT INTO room_events (room_id, pos, kind, key_id, nonce, body, created_at)"             \
     " VALUES ($1, $2, $3, $4, $5, $6, $7)",                                                     \
     ch_st_stream_bind_event, ch_st_stream_rows_event},                                          \
    {                                                                                            \
        "DELETE FROM room_events WHERE room_id = $1 AND pos <= $2", ch_st_stream_bind_trim, NULL \
    }
#define CH_ST_STREAM_STEPS \
    {CH_ST_STREAM_POS_SQL, ch_st_stream_bind_room, ch_st_stream_rows_pos}, CH_ST_STREAM_EVENT_STEPS

/* CH_ST_STREAM_STEPS for SQLite's message.append (store_ops.c): the
 * room's position moved by an UPDATE without RETURNING, then read back in
 * the same transaction (the row the RETURNING gives), since a RETURNING
 * clause costs SQLite an ephemeral table per call; then
 * CH_ST_STREAM_EVENT_STEPS. */
#define CH_ST_STREAM_STEPS_SQLITE                                                                 \
    {"UPDATE rooms SET stream_pos = stream_pos + 1 WHERE id = $1", ch_st_stream_bind_room, NULL}, \
        {"SELECT stream_pos AS pos, key, " CH_ST_EPOCH_SQL " AS epoch FROM rooms WHERE id = $1",  \
         ch_st_stream_bind_room, ch_st_stream_rows_pos},                                          \
        CH_ST_STREAM_EVENT_STEPS

/* stream.read and stream.new_epoch (store_stream.c), by name. */
const ch_store_op *ch_st_stream_op(const char *name);

/* Op table entries: the same steps on both engines, or a PostgreSQL list. */
#define CH_ST_N(a) (sizeof(a) / sizeof((a)[0]))
#define CH_ST_OP(name, writes, prep, steps)                                \
    {                                                                      \
        name, writes, prep, {steps, NULL}, {CH_ST_N(steps), 0}, NULL, NULL \
    }
#define CH_ST_OP2(name, writes, prep, steps, pg)                                   \
    {                                                                              \
        name, writes, prep, {steps, pg}, {CH_ST_N(steps), CH_ST_N(pg)}, NULL, NULL \
    }
/* An op's typed list (ch_st_typed) has one entry per SQLite step. */
#define CH_ST_TYPED_FITS(steps, typed) \
    _Static_assert(CH_ST_N(steps) == CH_ST_N(typed), #typed " lists one entry per step")

#endif
