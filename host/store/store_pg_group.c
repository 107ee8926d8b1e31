/*
 * store_pg_group.c -- the PostgreSQL engine's grouped statements: in a
 * round, the requests whose next step has a group (ch_st_group,
 * store_impl.h) run that step as one statement instead of one each.
 *
 * Why: on the server most of a small statement's cost is fixed (its
 * executor state is built and torn down on every execution, whatever the
 * rows), so one statement for a round's fourteen appends costs less than
 * fourteen: 11-20 % less server CPU per append (docs/performance.md, part
 * 7).  The results are those of the single statements: each request gets
 * its own rows through its step's rows hook, in slot order, as if its
 * statement had run.
 *
 * Failures: a group's statement fails or succeeds for all its requests,
 * and which of them caused a failure is not known.  So a failed group
 * rolls the batch back as a transient failure would (ch_pg_stmt_failed
 * for the batch) and the batch runs again without groups: there the
 * request that fails is found and isolated as usual (store_pg.c), and
 * the others are committed together, as without grouping.  A request
 * whose parameters cannot be made fails before the group is sent, as it
 * would alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_pg.h"

static uint64_t groups_total; /* for ch_store_pg_groups (atomic) */

uint64_t ch_store_pg_groups(void) { return __atomic_load_n(&groups_total, __ATOMIC_RELAXED); }

/* The group of slot i's next step, or NULL (none, no step left, or the
 * slot no longer runs: its request may have been handed back and freed). */
static const ch_st_group *group_of(const ch_pg *pg, size_t i)
{
    const ch_store_req *req = pg->slots[i].req;
    const ch_store_step *st;
    size_t n;

    if (pg->slots[i].state != CH_PG_SLOT_RUN)
        return NULL;
    st = ch_store_op_steps(req->op, CH_STORE_PG, &n);
    if (req->step >= n)
        return NULL;
    for (const ch_st_group *g = ch_st_pg_groups; g->step; g++)
        if (g->step == st + req->step)
            return g;
    return NULL;
}

/*
 * The JSON string of s (n bytes, the text of a JSON string: valid UTF-8,
 * so only the quote, the backslash and control characters need escapes).
 * By hand rather than by json_dumps: a sealed body is a few hundred
 * characters of base64 that need none, and jansson's dumper, which
 * handles every character, was the largest part of the host's cost of a
 * group.
 */
static void put_string(FILE *b, const char *s, size_t n)
{
    const char *end = s + n, *run = s;

    fputc('"', b);
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fwrite(run, 1, (size_t)(s - run), b);
        fprintf(b, "\\u%04x", c);
        run = s + 1;
    }
    fwrite(run, 1, (size_t)(end - run), b);
    fputc('"', b);
}

/* v (a JSON scalar, borrowed) as JSON text. */
static void put_value(FILE *b, const json_t *v)
{
    if (json_is_string(v))
        put_string(b, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v))
        fprintf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        fprintf(b, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        fputs(json_is_true(v) ? "true" : "false", b);
    else
        fputs("null", b);
}

/*
 * Slot i's parameters, as its step's bind made them (JSON scalars), as
 * a JSON array appended to b after a comma unless first.  0, or -1 after
 * failing the request (ch_pg_slot_failed) with b as it was, as send_step
 * would: a bind failure, or an object or array among the values
 * (ch_pg_text_params's refusal).
 */
static int member_params(ch_pg *pg, size_t i, FILE *b, int first)
{
    ch_store_req *req = pg->slots[i].req;
    size_t n, k;
    const ch_store_step *st = ch_store_op_steps(req->op, CH_STORE_PG, &n) + req->step;
    json_t *params = st->bind ? st->bind(req) : json_array(), *v;
    int ok = params != NULL, np;

    json_array_foreach(params, k, v)
    {
        if (json_is_object(v) || json_is_array(v)) {
            free(ch_pg_text_params(req, params, &np)); /* fails req, naming the value */
            ok = 0;
            break;
        }
    }
    if (ok) {
        fputs(first ? "[" : ",[", b);
        json_array_foreach(params, k, v)
        {
            if (k > 0)
                fputc(',', b);
            put_value(b, v);
        }
        fputc(']', b);
    }
    json_decref(params);
    if (ok)
        return 0;
    if (req->status == 0)
        ch_store_fail(req, CH_STORE_EIO, "postgresql: cannot bind the parameters");
    ch_pg_slot_failed(pg, i, req->step);
    return -1;
}

/*
 * Send group g's statement for the slots from `first` on that are at its
 * step, each whose parameters could be made a member (its group: the
 * first member's index, "lead").  -1 if the connection failed.
 */
static int send_group(ch_pg *pg, size_t first, const ch_st_group *g)
{
    char name[32], *text = NULL;
    size_t members = 0, len = 0, lead = first;
    FILE *b = open_memstream(&text, &len);
    int ok;

    if (b)
        fputc('[', b);
    for (size_t i = first; i < pg->n_slots && b; i++) {
        if (group_of(pg, i) != g)
            continue;
        if (member_params(pg, i, b, members == 0) == 0) {
            lead = members++ ? lead : i;
            pg->slots[i].group = (long)lead; /* member k of the group: "_i" k */
        }
    }
    ok = b && fputc(']', b) != EOF && !ferror(b);
    if (b && fclose(b) != 0)
        ok = 0;
    if (members == 0 || !ok) {
        for (size_t i = first; members && i < pg->n_slots; i++)
            if (pg->slots[i].group == (long)lead && pg->slots[i].state == CH_PG_SLOT_RUN) {
                ch_store_fail(pg->slots[i].req, CH_STORE_EIO, "out of memory");
                ch_pg_slot_failed(pg, i, pg->slots[i].req->step);
            }
        free(text);
        return 0;
    }
    if (ch_pg_stmt_name(pg, lead, g->sql, name, sizeof name) != 0) {
        free(text);
        return -1;
    }
    ok = PQsendQueryPrepared(pg->conn, name, 1, (const char *const *)&text, NULL, NULL, 0);
    free(text);
    if (!ok) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    ch_pg_push_item(pg, CH_PG_IT_GROUP, lead, NULL);
    __atomic_add_fetch(&groups_total, 1, __ATOMIC_RELAXED);
    return 0;
}

/*
 * Before a round's single steps: every group that more than one running
 * request is at is sent as one statement, its slots marked (group: the
 * first one's index); the other slots' group is -1.  -1 if the
 * connection failed.
 */
int ch_pg_send_groups(ch_pg *pg)
{
    for (size_t i = 0; i < pg->n_slots; i++)
        pg->slots[i].group = -1;
    for (size_t i = 0; i < pg->n_slots && !pg->ungrouped; i++) {
        const ch_st_group *g = group_of(pg, i);
        size_t more = 0;

        if (!g || pg->slots[i].group >= 0)
            continue;
        for (size_t j = i + 1; j < pg->n_slots && !more; j++)
            more = pg->slots[j].group < 0 && group_of(pg, j) == g;
        if (more && send_group(pg, i, g) != 0)
            return -1;
    }
    return 0;
}

/* The members of the group led by slot `first` (those sent with it,
 * whatever their state now), in slot order, into at (room for n_slots);
 * how many. */
static size_t members_of(const ch_pg *pg, size_t first, size_t *at)
{
    size_t n = 0;

    for (size_t i = first; i < pg->n_slots; i++)
        if (pg->slots[i].group == (long)first)
            at[n++] = i;
    return n;
}

/* Each member's rows (the array rows, borrowed; "_i" k: member k) through
 * its rows hook.  -1 (nothing run) if a row names no member. */
static int hand_out(ch_pg *pg, const size_t *at, size_t n, json_t *rows)
{
    json_t **mine = calloc(n ? n : 1, sizeof *mine), *row;
    size_t r;
    int rc = mine ? 0 : -1;

    for (size_t k = 0; rc == 0 && k < n; k++)
        rc = (mine[k] = json_array()) ? 0 : -1;
    json_array_foreach(rows, r, row)
    {
        json_int_t k = json_integer_value(json_object_get(row, "_i"));

        if (rc != 0 || k < 0 || (size_t)k >= n || !json_is_integer(json_object_get(row, "_i"))) {
            rc = -1;
            break;
        }
        json_object_del(row, "_i");
        rc = json_array_append(mine[k], row);
    }
    for (size_t k = 0; rc == 0 && k < n; k++)
        if (pg->slots[at[k]].state == CH_PG_SLOT_RUN)
            ch_pg_step_rows(pg, at[k], mine[k]);
    for (size_t k = 0; mine && k < n; k++)
        json_decref(mine[k]);
    free(mine);
    return rc;
}

/*
 * The result of the group whose first slot is `first`: each member's rows
 * through its rows hook; if the statement failed (or its rows name no
 * member), the batch rolls back and runs again without groups (see the
 * top).  -1 if the connection is lost.
 */
int ch_pg_group_result(ch_pg *pg, size_t first, const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    size_t *at, n;
    json_t *rows = NULL;

    if (st == PGRES_PIPELINE_ABORTED)
        return 0;
    if (st == PGRES_FATAL_ERROR) {
        pg->ungroup_next = 1;
        return ch_pg_stmt_failed(pg, -1, res);
    }
    if (!(at = malloc(pg->n_slots * sizeof *at))) {
        ch_pg_conn_lost(pg, "out of memory");
        return -1;
    }
    n = members_of(pg, first, at);
    if ((st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) || !(rows = ch_pg_rows_json(res)) ||
        hand_out(pg, at, n, rows) != 0) {
        ch_log(CH_LOG_WARN,
               "postgresql: a grouped statement's result is unusable (%s);"
               " running the batch again without groups",
               PQresStatus(st));
        pg->transient = pg->ungroup_next = 1;
    }
    json_decref(rows);
    free(at);
    return 0;
}
