/*
 * store_pg.c -- a lane of the PostgreSQL engine (store_pg_lanes.c is the
 * engine): its queue, and the batches it runs on its non-blocking
 * connection (store_pg_conn.c); its open, submit, state and close.
 *
 * A batch is one transaction over up to ch_store_batch_max requests
 * (group commit), run in pipeline mode: BEGIN, then round after round
 * step k of every request that has one (each statement prepared once per
 * connection), a Sync after each round (a step's parameters may depend
 * on the rows of the step before), then COMMIT; requests at a step that
 * has a grouped form run it as one statement (store_pg_group.c).  Only
 * when COMMIT's result has come back are the requests handed back as
 * successful.
 * A batch that traffic says more calls will join waits for the commit
 * window first (store_queue.c: a timer, ended early when the batch is
 * full; never while closing).
 *
 * Failures: a lost connection puts the batch back at the head of the
 * queue (the requests run again after the reconnect; message.append is
 * idempotent).  A request that fails after it may have written (a server
 * error, or a hook's refusal after a writing statement) rolls the batch
 * back: in a batch of one it then fails; otherwise it is isolated to run
 * alone and the others run again together.  A request that fails before
 * writing anything (read-only operations, or only SELECTs so far) fails
 * at once without disturbing the batch.  Serialization failures and
 * deadlocks roll back and run the batch again.
 */
#include "store_pg.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static uint64_t commits_total; /* for ch_store_pg_commits (atomic) */

uint64_t ch_store_pg_commits(void) { return __atomic_load_n(&commits_total, __ATOMIC_RELAXED); }

/* ---- the queue ---------------------------------------------------------- */

static void on_kick(uv_idle_t *h);

/* Start the next batch (or finish closing) after this turn of the loop,
 * so that requests submitted together share a transaction. */
static void kick(ch_pg *pg)
{
    if (!pg->finished)
        uv_idle_start(&pg->kick, on_kick);
}

/*
 * Run req again later (its transaction was rolled back or lost), first
 * in line.  With capped set (a lost connection, a serialization failure:
 * causes that could repeat forever), one already started
 * CH_PG_MAX_ATTEMPTS times fails instead.  Rollbacks caused by another
 * request's failure are not capped: each isolates at least one request,
 * so they cannot repeat more often than a batch has requests.
 */
static void requeue(ch_pg *pg, ch_store_req *req, int solo, int capped, const char *why)
{
    ch_store_req_rewind(req);
    if (capped && req->attempts >= CH_PG_MAX_ATTEMPTS) {
        ch_store_fail(req, CH_STORE_EIO, "postgresql: gave up after %u attempts: %s", req->attempts,
                      why);
        ch_store_done(pg->s, req);
        return;
    }
    ch_store_count_retry(pg->s);
    if (solo)
        ch_st_fifo_push_head(&pg->solo_head, &pg->solo_tail, req);
    else
        ch_st_fifo_push_head(&pg->q_head, &pg->q_tail, req);
}

/* ---- the batch's bookkeeping -------------------------------------------- */

/* Forget the batch; the next one starts after this loop turn. */
static void batch_end(ch_pg *pg)
{
    pg->phase = CH_PG_IDLE;
    pg->n_slots = 0;
    pg->it_head = pg->it_tail = 0;
    pg->head_got = 0;
    ch_st_window_done(&pg->win);
    kick(pg);
}

/*
 * The connection was lost (store_pg_conn.c): every request of the batch
 * in flight that is not finished goes back to the head of the queue, in
 * order.  Those whose COMMIT was sent but not answered may have been
 * committed: running them again is safe because the operations that
 * matter are idempotent (message.append by client_msg_id).
 */
void ch_pg_batch_requeue(ch_pg *pg, const char *why)
{
    size_t i = pg->n_slots;

    if (pg->phase == CH_PG_IDLE)
        return;
    pg->phase = CH_PG_IDLE;
    pg->n_slots = 0;
    while (i-- > 0) {
        if (pg->slots[i].state != CH_PG_SLOT_FREE)
            requeue(pg, pg->slots[i].req, pg->solo, 1, why);
        pg->slots[i].state = CH_PG_SLOT_FREE;
    }
    batch_end(pg);
}

/* After a rollback (or a failed COMMIT): isolated failures are final,
 * failures in a larger batch run again alone, the rest run again. */
static void redistribute(ch_pg *pg)
{
    size_t i = pg->n_slots;
    ch_pg_slot *sl;

    while (i-- > 0) {
        sl = &pg->slots[i];
        if (sl->state == CH_PG_SLOT_FAIL && !pg->transient && pg->solo)
            ch_store_done(pg->s, sl->req);
        else if (sl->state == CH_PG_SLOT_FAIL && !pg->transient)
            requeue(pg, sl->req, 1, 0, "isolating a failed request");
        else if (sl->state != CH_PG_SLOT_FREE)
            requeue(pg, sl->req, pg->solo, pg->transient, "transaction rolled back");
        sl->state = CH_PG_SLOT_FREE;
    }
    batch_end(pg);
}

/* Non-zero if the first `upto` steps are all plain SELECTs: a request
 * that fails after only those has written nothing (nextval is not
 * transactional anyway). */
static int only_selects(const ch_store_step *steps, size_t upto)
{
    for (size_t i = 0; i < upto; i++) {
        const char *p = steps[i].sql;

        while (*p == ' ' || *p == '\n' || *p == '(')
            p++;
        if (strncasecmp(p, "SELECT", 6) != 0)
            return 0;
    }
    return 1;
}

/*
 * Request i failed (req->status and error set) after `ran` of its steps
 * ran.  If it cannot have written anything it is handed back now and the
 * batch goes on; otherwise the batch must roll back.
 */
void ch_pg_slot_failed(ch_pg *pg, size_t i, size_t ran)
{
    ch_store_req *req = pg->slots[i].req;
    size_t n;
    const ch_store_step *steps = ch_store_op_steps(req->op, CH_STORE_PG, &n);

    if (req->status == 0)
        ch_store_fail(req, CH_STORE_EIO, "operation %s failed", req->op->name);
    if (!req->op->writes || only_selects(steps, ran < n ? ran : n)) {
        pg->slots[i].state = CH_PG_SLOT_FREE;
        ch_store_done(pg->s, req);
        return;
    }
    pg->slots[i].state = CH_PG_SLOT_FAIL;
    pg->poisoned = 1;
}

/* ---- sending ------------------------------------------------------------- */

void ch_pg_push_item(ch_pg *pg, int kind, size_t slot, const char *sql)
{
    ch_pg_item *it = &pg->items[pg->it_tail++];

    it->kind = kind;
    it->slot = (int)slot;
    it->sql = sql;
}

/* Send a statement without parameters (BEGIN, COMMIT, ROLLBACK) or a
 * Sync.  -1 if the connection failed. */
static int send_plain(ch_pg *pg, const char *sql, int kind)
{
    int ok = sql ? PQsendQueryParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0)
                 : PQpipelineSync(pg->conn);

    if (!ok) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    ch_pg_push_item(pg, kind, 0, NULL);
    return 0;
}

/* Send sql (if given) and a Sync, then flush. */
static int send_final(ch_pg *pg, const char *sql, int kind)
{
    if ((sql && send_plain(pg, sql, kind) != 0) || send_plain(pg, NULL, CH_PG_IT_SYNC) != 0)
        return -1;
    return ch_pg_flush(pg);
}

/*
 * The name of sql's prepared statement on this connection; the first time
 * the statement is used, a Prepare goes into the pipeline before it.  The
 * map holds, under the text, the first pointer seen to it: the name is
 * made of that pointer and the map's generation (a new one when stale
 * statements are forgotten, so names are never reused on a connection).
 * -1 if the connection failed.
 */
int ch_pg_stmt_name(ch_pg *pg, size_t slot, const char *sql, char *name, size_t len)
{
    const char *known = ch_hmap_get(&pg->prepared, sql);

    snprintf(name, len, "ch%u_%" PRIxPTR, pg->prep_gen, (uintptr_t)(known ? known : sql));
    if (known)
        return 0;
    if (!PQsendPrepare(pg->conn, name, sql, 0, NULL)) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    ch_pg_push_item(pg, CH_PG_IT_PREPARE, slot, sql);
    if (ch_hmap_put(&pg->prepared, sql, (void *)sql) < 0)
        ch_log(CH_LOG_DEBUG, "postgresql: statement %s not cached (out of memory)", name);
    return 0;
}

/*
 * Send request i's next step: bind its parameters, prepare the statement
 * if needed, queue its execution.  A request without steps left is done
 * (waits for COMMIT); a bind failure fails it.  -1 if the connection
 * failed.
 */
static int send_step(ch_pg *pg, size_t i)
{
    ch_store_req *req = pg->slots[i].req;
    size_t n;
    const ch_store_step *st = ch_store_op_steps(req->op, CH_STORE_PG, &n);
    json_t *params = NULL;
    const char **vals = NULL;
    char name[32];
    int np = 0, ok;

    if (req->step >= n) {
        pg->slots[i].state = CH_PG_SLOT_OK;
        return 0;
    }
    st += req->step;
    if ((st->bind && !(params = st->bind(req))) ||
        (params && !(vals = ch_pg_text_params(req, params, &np)))) {
        json_decref(params);
        ch_pg_slot_failed(pg, i, req->step);
        return 0;
    }
    if (ch_pg_stmt_name(pg, i, st->sql, name, sizeof name) != 0) {
        free(vals);
        json_decref(params);
        return -1;
    }
    ok = PQsendQueryPrepared(pg->conn, name, np, vals, NULL, NULL, 0);
    free(vals);
    json_decref(params);
    if (!ok && PQstatus(pg->conn) != CONNECTION_OK) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    if (!ok) {
        ch_store_fail(req, CH_STORE_EIO, "postgresql: %s", PQerrorMessage(pg->conn));
        ch_pg_slot_failed(pg, i, req->step);
        return 0;
    }
    ch_pg_push_item(pg, CH_PG_IT_STEP, i, NULL);
    return 0;
}

/* Send one round: the next step of every running request (those at a
 * grouped step together: store_pg_group.c), a Sync. */
static int send_round(ch_pg *pg)
{
    if (ch_pg_send_groups(pg) != 0)
        return -1;
    for (size_t i = 0; i < pg->n_slots; i++)
        if (pg->slots[i].state == CH_PG_SLOT_RUN && pg->slots[i].group < 0 && send_step(pg, i) != 0)
            return -1;
    return send_final(pg, NULL, 0);
}

/* Take the next batch: one isolated request alone, else up to
 * batch_max from the queue, its appends marked (ch_st_append_mark_batch).
 * Returns how many. */
static size_t take_batch(ch_pg *pg)
{
    size_t max = ch_store_batch_max(pg->s), n = 0;
    ch_store_req *req;

    if (pg->solo_head) {
        pg->slots[n++].req = ch_st_fifo_pop(&pg->solo_head, &pg->solo_tail);
    } else {
        while (n < max && (req = ch_st_fifo_pop(&pg->q_head, &pg->q_tail)))
            pg->slots[n++].req = req;
    }
    for (size_t i = 0; i < n; i++) {
        pg->slots[i].state = CH_PG_SLOT_RUN;
        pg->slots[i].req->attempts++;
        pg->slots[i].req->next = i + 1 < n ? pg->slots[i + 1].req : NULL;
    }
    ch_st_append_mark_batch(n ? pg->slots[0].req : NULL);
    ch_st_stamp_batch(n ? pg->slots[0].req : NULL, 0, uv_hrtime());
    for (size_t i = 0; i < n; i++)
        pg->slots[i].req->next = NULL; /* linked for the marking only */
    pg->solo = n == 1;
    return n;
}

static void on_window(uv_timer_t *t);

/* Start a batch if the connection is ready and idle and work waits (a
 * LISTEN that is due goes first: store_pg_notify.c), unless the queue's
 * batch waits in its commit window: then the window's timer starts it. */
static void batch_start(ch_pg *pg)
{
    uint64_t now = uv_hrtime();

    if (pg->state != CH_PG_READY || pg->phase != CH_PG_IDLE || ch_pg_listen_start(pg))
        return;
    if (!pg->closing && !pg->solo_head && pg->q_head && now < pg->win.end_ns &&
        pg->win.held < ch_st_window_cap(&pg->win, ch_store_batch_max(pg->s))) {
        uv_timer_start(&pg->window, on_window, (pg->win.end_ns - now + 999999) / 1000000, 0);
        return;
    }
    uv_timer_stop(&pg->window);
    pg->n_slots = take_batch(pg);
    if (pg->n_slots == 0)
        return;
    ch_st_window_taken(&pg->win);
    pg->phase = CH_PG_ROUNDS;
    pg->poisoned = pg->transient = pg->committed = 0;
    pg->ungrouped = pg->ungroup_next;
    pg->ungroup_next = 0;
    pg->it_head = pg->it_tail = 0;
    pg->head_got = 0;
    if (send_plain(pg, "BEGIN", CH_PG_IT_BEGIN) == 0)
        send_round(pg);
}

/* The commit window has passed: start the batch that waited (a timer
 * that fired a little early, by the loop's cached time, starts again). */
static void on_window(uv_timer_t *t) { batch_start(t->data); }

/* ---- results ------------------------------------------------------------- */

/*
 * A statement of request `slot` (or the batch's own, slot < 0) failed.
 * Serialization failures and deadlocks (class 40), and statements whose
 * prepared form went stale (26000, 0A000: the schema changed under us),
 * roll back and run again; anything else fails the request (EIO, or the
 * status of a constraint: see ch_pg_map_error).  -1 if the connection is lost.
 */
int ch_pg_stmt_failed(ch_pg *pg, int slot, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    char msg[160];
    size_t i;

    if (ch_pg_conn_level(pg, state)) {
        ch_pg_conn_lost(pg, PQresultErrorMessage(res));
        return -1;
    }
    if (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0) {
        ch_hmap_free(&pg->prepared);
        pg->prep_gen++;
    }
    if (slot < 0 || strncmp(state, "40", 2) == 0 || strcmp(state, "26000") == 0 ||
        strcmp(state, "0A000") == 0) {
        pg->transient = 1;
        return 0;
    }
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
    msg[strcspn(msg, "\n")] = '\0';
    i = (size_t)slot;
    ch_store_fail(pg->slots[i].req, ch_pg_map_error(state), "postgresql: %s", msg);
    pg->slots[i].state = CH_PG_SLOT_FAIL;
    pg->poisoned = 1;
    return 0;
}

/* Request i's rows (borrowed) for its current step: its rows hook, then
 * its next step, its end, or its failure. */
void ch_pg_step_rows(ch_pg *pg, size_t i, json_t *rows)
{
    ch_store_req *req = pg->slots[i].req;
    size_t n;
    const ch_store_step *step = ch_store_op_steps(req->op, CH_STORE_PG, &n) + req->step;
    int rc = step->rows ? step->rows(req, rows) : CH_STEP_NEXT;

    if (rc == CH_STEP_NEXT && ++req->step < n)
        return;
    if (rc == CH_STEP_NEXT || rc == CH_STEP_DONE)
        pg->slots[i].state = CH_PG_SLOT_OK;
    else
        ch_pg_slot_failed(pg, i, req->step + 1);
}

/* The result of request i's current step. */
static int step_result(ch_pg *pg, size_t i, const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    ch_store_req *req = pg->slots[i].req;
    json_t *rows;

    if (st == PGRES_PIPELINE_ABORTED || pg->slots[i].state != CH_PG_SLOT_RUN)
        return 0;
    if (st == PGRES_FATAL_ERROR)
        return ch_pg_stmt_failed(pg, (int)i, res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        ch_store_fail(req, CH_STORE_EIO, "postgresql: unexpected %s", PQresStatus(st));
        pg->slots[i].state = CH_PG_SLOT_FAIL;
        pg->poisoned = 1;
        return 0;
    }
    if (!(rows = ch_pg_rows_json(res))) {
        ch_store_fail(req, CH_STORE_EIO, "postgresql: cannot convert the rows");
        ch_pg_slot_failed(pg, i, req->step + 1);
        return 0;
    }
    ch_pg_step_rows(pg, i, rows);
    json_decref(rows);
    return 0;
}

/*
 * COMMIT's result.  Committed: every request of the batch is handed back
 * as successful, now and not before.  A COMMIT that fails (deferred
 * checks, serialization) rolled the transaction back: a class-40 failure
 * runs the batch again, any other fails a request alone or isolates each.
 */
static int commit_result(ch_pg *pg, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0) {
        pg->committed = 1;
        __atomic_add_fetch(&commits_total, 1, __ATOMIC_RELAXED);
        ch_store_count_commit(pg->s);
        for (size_t i = 0; i < pg->n_slots; i++) {
            if (pg->slots[i].state == CH_PG_SLOT_OK) {
                pg->slots[i].req->t_commit_ns = uv_hrtime();
                pg->slots[i].state = CH_PG_SLOT_FREE;
                ch_store_done(pg->s, pg->slots[i].req);
            }
        }
        return 0;
    }
    if (st != PGRES_FATAL_ERROR) {
        pg->transient = 1; /* "ROLLBACK": the transaction had failed */
        return 0;
    }
    if (ch_pg_stmt_failed(pg, -1, res) != 0)
        return -1;
    if (strncmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "40", 2) != 0) {
        pg->transient = 0;
        for (size_t i = 0; i < pg->n_slots; i++) {
            if (pg->slots[i].state == CH_PG_SLOT_OK) {
                ch_store_fail(pg->slots[i].req, CH_STORE_EIO, "postgresql: %s",
                              PQresultErrorMessage(res));
                pg->slots[i].state = CH_PG_SLOT_FAIL;
            }
        }
    }
    return 0;
}

/* A round (or the end of the transaction) is complete: decide what to
 * send next. */
static void on_sync(ch_pg *pg)
{
    int run = 0, ok = 0;

    pg->it_head = pg->it_tail = 0;
    if (pg->phase == CH_PG_LISTENING) {
        ch_pg_listen_synced(pg);
        batch_end(pg);
        return;
    }
    if (pg->phase == CH_PG_COMMITTING || pg->phase == CH_PG_ROLLING_BACK) {
        if (pg->committed)
            batch_end(pg);
        else
            redistribute(pg);
        return;
    }
    for (size_t i = 0; i < pg->n_slots; i++) {
        run |= pg->slots[i].state == CH_PG_SLOT_RUN;
        ok |= pg->slots[i].state == CH_PG_SLOT_OK;
    }
    if (!pg->poisoned && !pg->transient && run) {
        send_round(pg);
    } else if (!pg->poisoned && !pg->transient && ok) {
        pg->phase = CH_PG_COMMITTING;
        send_final(pg, "COMMIT", CH_PG_IT_COMMIT);
    } else {
        pg->phase = CH_PG_ROLLING_BACK;
        send_final(pg, "ROLLBACK", CH_PG_IT_ROLLBACK);
    }
}

/* One result for the item at the head of the pipeline.  -1 if the
 * connection is lost. */
static int on_result(ch_pg *pg, const ch_pg_item *it, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    switch (it->kind) {
    case CH_PG_IT_STEP:
        return step_result(pg, (size_t)it->slot, res);
    case CH_PG_IT_GROUP:
        return ch_pg_group_result(pg, (size_t)it->slot, res);
    case CH_PG_IT_PREPARE:
        if (st != PGRES_COMMAND_OK)
            ch_hmap_remove(&pg->prepared, it->sql);
        return st == PGRES_FATAL_ERROR ? ch_pg_stmt_failed(pg, it->slot, res) : 0;
    case CH_PG_IT_COMMIT:
        return commit_result(pg, res);
    case CH_PG_IT_LISTEN:
        return ch_pg_listen_result(pg, res);
    default: /* BEGIN, ROLLBACK */
        return st == PGRES_FATAL_ERROR ? ch_pg_stmt_failed(pg, -1, res) : 0;
    }
}

/*
 * Read every result that has arrived, in pipeline order: each command's
 * result is followed by a NULL; a Sync gives PGRES_PIPELINE_SYNC alone.
 * Called when the socket was readable and after sending.  -1 if the
 * connection is lost.
 */
int ch_pg_read_results(ch_pg *pg)
{
    while (pg->conn && pg->it_head < pg->it_tail && !PQisBusy(pg->conn)) {
        PGresult *res = PQgetResult(pg->conn);
        ch_pg_item *it = &pg->items[pg->it_head];
        int rc = 0;

        if (!res) {
            if (!pg->head_got)
                break;
            pg->it_head++;
            pg->head_got = 0;
            continue;
        }
        if (it->kind == CH_PG_IT_SYNC) {
            rc = PQresultStatus(res) == PGRES_PIPELINE_SYNC ? 0 : -1;
            PQclear(res);
            pg->it_head++;
            if (rc != 0)
                ch_pg_conn_lost(pg, "protocol out of step (expected a pipeline sync)");
            else
                on_sync(pg);
            continue;
        }
        if (!pg->head_got) {
            pg->head_got = 1;
            rc = on_result(pg, it, res);
        }
        PQclear(res);
        if (rc != 0)
            return -1;
    }
    if (pg->conn && PQstatus(pg->conn) != CONNECTION_OK) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    ch_pg_take_notifies(pg);
    return 0;
}

/* ---- the engine ---------------------------------------------------------- */

/* The connection is ready (store_pg_conn.c), or there is a new channel
 * to listen on (store_pg_notify.c): LISTEN first, then start what waits. */
void ch_pg_on_ready(ch_pg *pg)
{
    pg->listen_due = pg->listen != NULL;
    kick(pg);
}

/* One close callback (or cancelled lookup) less; the last frees the
 * lane and tells its owner (pg->released). */
void ch_pg_release(ch_pg *pg)
{
    void (*released)(void *) = pg->released;
    void *arg = pg->released_arg;

    if (--pg->closed_handles > 0)
        return;
    ch_hmap_free(&pg->prepared);
    free(pg->slots);
    free(pg->items);
    free(pg->dns_host);
    free(pg->listen);
    free(pg->url);
    free(pg);
    released(arg);
}

void ch_pg_handle_closed(uv_handle_t *h) { ch_pg_release(h->data); }

/* Close: drop the connection, close the handles; the last close
 * callback frees the engine (ch_pg_release). */
static void finish(ch_pg *pg)
{
    pg->finished = 1;
    ch_pg_conn_shutdown(pg);
    pg->closed_handles += 4;
    uv_close((uv_handle_t *)&pg->window, ch_pg_handle_closed);
    uv_close((uv_handle_t *)&pg->timer, ch_pg_handle_closed);
    uv_close((uv_handle_t *)&pg->close_timer, ch_pg_handle_closed);
    uv_close((uv_handle_t *)&pg->kick, ch_pg_handle_closed);
}

/* After a loop turn: start a batch, or, closing with nothing left, finish. */
static void on_kick(uv_idle_t *h)
{
    ch_pg *pg = h->data;

    uv_idle_stop(h);
    if (pg->closing && pg->phase == CH_PG_IDLE && !pg->q_head && !pg->solo_head)
        finish(pg);
    else
        batch_start(pg);
}

/* Closing took too long: what waits is cancelled, what is in flight has
 * an unknown outcome; then finish. */
static void on_close_timeout(uv_timer_t *t)
{
    ch_pg *pg = t->data;
    ch_store_req *req;

    ch_log(CH_LOG_WARN, "%s: closing: giving up on the requests left after %d s", pg->tag,
           CH_PG_CLOSE_TIMEOUT_MS / 1000);
    for (size_t i = 0; pg->phase != CH_PG_IDLE && i < pg->n_slots; i++) {
        if (pg->slots[i].state != CH_PG_SLOT_FREE) {
            pg->slots[i].state = CH_PG_SLOT_FREE;
            ch_store_fail(pg->slots[i].req, CH_STORE_EIO,
                          "store closed while its transaction was in flight");
            ch_store_done(pg->s, pg->slots[i].req);
        }
    }
    pg->phase = CH_PG_IDLE;
    while ((req = ch_st_fifo_pop(&pg->solo_head, &pg->solo_tail)) ||
           (req = ch_st_fifo_pop(&pg->q_head, &pg->q_tail))) {
        ch_store_fail(req, CH_STORE_ECANCELED, "store closed before the request ran");
        ch_store_done(pg->s, req);
    }
    finish(pg);
}

/* A request joins the queue; the next batch takes it (after this loop
 * turn, with whatever else arrives in it, or after the commit window). */
void ch_pg_submit(ch_pg *pg, ch_store_req *req)
{
    ch_st_window_arrive(&pg->win, pg->q_head != NULL, req->op->writes, uv_hrtime(),
                        ch_store_batch_max(pg->s));
    ch_st_fifo_push(&pg->q_head, &pg->q_tail, req);
    kick(pg);
}

/* "ok" while connected; "down: <why>" after a failure until connected
 * again; "connecting" before the first connection (open makes that one
 * itself, so in practice: never). */
const char *ch_pg_state(ch_pg *pg)
{
    if (pg->state == CH_PG_READY)
        return "ok";
    if (!pg->last_error[0])
        return "connecting";
    snprintf(pg->state_text, sizeof pg->state_text, "down: %s", pg->last_error);
    return pg->state_text;
}

/* Stop: the queue is worked off while the connection allows, for at most
 * CH_PG_CLOSE_TIMEOUT_MS; the lane is freed later (ch_pg_release). */
void ch_pg_close(ch_pg *pg)
{
    pg->closing = 1;
    uv_timer_start(&pg->close_timer, on_close_timeout, CH_PG_CLOSE_TIMEOUT_MS, 0);
    kick(pg);
}

/* Allocate the engine's state and its handles (not yet connected). */
static ch_pg *pg_new(ch_store *s, const char *url)
{
    ch_pg *pg = calloc(1, sizeof *pg);
    size_t max = ch_store_batch_max(s);

    if (!pg)
        return NULL;
    pg->s = s;
    pg->loop = ch_store_loop(s);
    pg->url = strdup(url);
    pg->slots = calloc(max, sizeof *pg->slots);
    /* a round owes at most BEGIN, a Prepare and a step per request, Sync */
    pg->items = calloc(2 * max + 4, sizeof *pg->items);
    if (!pg->url || !pg->slots || !pg->items) {
        free(pg->url);
        free(pg->slots);
        free(pg->items);
        free(pg);
        return NULL;
    }
    pg->backoff_ms = CH_PG_BACKOFF_MIN_MS;
    uv_timer_init(pg->loop, &pg->timer);
    uv_timer_init(pg->loop, &pg->close_timer);
    uv_idle_init(pg->loop, &pg->kick);
    uv_timer_init(pg->loop, &pg->window);
    ch_st_window_init(&pg->win, ch_store_commit_delay_ms(s), 0); /* see store_queue.c */
    pg->timer.data = pg->close_timer.data = pg->kick.data = pg->window.data = pg;
    return pg;
}

/*
 * A lane: check the URL, apply the migrations (the first lane only; the
 * lanes open one after the other) over a blocking connection (if
 * PostgreSQL cannot be reached now, open fails with libpq's reason: the
 * host logs it and exits non-zero, as it would for a broken
 * configuration), then keep that connection, now non-blocking and in
 * pipeline mode, as the lane's first one (so its state is "ok" at once).
 * Lane i of n (the first logs the schema's version).  The lane calls
 * released(arg) once closed and freed.
 */
ch_pg *ch_pg_open(ch_store *s, const char *url, size_t i, size_t n, void (*released)(void *),
                  void *arg, char *err, size_t errlen)
{
    ch_pg *pg;
    PGconn *conn = NULL;
    char *dns_host = NULL;
    int version = 0, applied = 0;
    int foreign = ch_store_is_foreign(s);

    if (ch_pg_check_url(url, &dns_host, err, errlen) != 0)
        return NULL;
    /* the first lane applies the migrations; the others only connect */
    if (ch_pg_migrate_blocking(url, foreign || i > 0 ? NULL : &version, &applied, &conn, err,
                               errlen) != 0) {
        free(dns_host);
        return NULL;
    }
    if (!(pg = pg_new(s, url))) {
        snprintf(err, errlen, "out of memory");
        PQfinish(conn);
        free(dns_host);
        return NULL;
    }
    pg->dns_host = dns_host;
    pg->released = released;
    pg->released_arg = arg;
    if (n > 1)
        snprintf(pg->tag, sizeof pg->tag, "postgresql (connection %zu of %zu)", i + 1, n);
    else
        snprintf(pg->tag, sizeof pg->tag, "postgresql");
    if (!foreign && i == 0)
        ch_log(CH_LOG_INFO, "postgresql: schema at version %d (applied %d migrations)", version,
               applied);
    ch_pg_conn_adopt(pg, conn);
    return pg;
}
