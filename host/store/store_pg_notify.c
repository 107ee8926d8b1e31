/*
 * store_pg_notify.c -- the PostgreSQL engine's notifications
 * (ch_store_listen): the schema's trigger that notifies deleted
 * participants (migration 3, listed in store_schema.c), the channel
 * listened on (pg->listen, owned by the engine), the LISTEN sent on the
 * loop's connection after each connect (in pipeline mode, a phase of its
 * own between batches: LISTEN, Sync), and the notifications libpq has
 * parsed, handed to the store (ch_store_notified).  The connection and
 * its batches are store_pg.c's and store_pg_conn.c's; this file owns no
 * handle.
 */
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Every row deleted from participants, whoever deletes it (an operation
 * of any host, a management command, plain SQL, a room's cascade), is
 * announced on CH_STORE_CHANNEL_PARTICIPANTS as {"room_id", "user_id"}.
 * pg_notify is part of the deleting transaction: listeners hear it when
 * it commits, never when it rolls back. */
const char ch_pg_notify_trigger[] =
    "CREATE FUNCTION ch_participant_deleted() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  PERFORM pg_notify('" CH_STORE_CHANNEL_PARTICIPANTS "',\n"
    "    json_build_object('room_id', OLD.room_id, 'user_id', OLD.user_id)::text);\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE TRIGGER participants_deleted AFTER DELETE ON participants\n"
    "  FOR EACH ROW EXECUTE FUNCTION ch_participant_deleted()";

/* A lane's listen (the engine's, store_impl.h, on its first lane): keep
 * a copy of channel (a name ch_store_listen checked) and have it
 * LISTENed on as soon as the connection is ready and idle, now and after
 * every reconnect.  Returns 0 or -ENOMEM. */
int ch_pg_listen(ch_pg *pg, const char *channel)
{
    char *copy = strdup(channel);

    if (!copy)
        return -ENOMEM;
    free(pg->listen);
    pg->listen = copy;
    ch_pg_on_ready(pg);
    return 0;
}

/* For batch_start, with the connection ready and idle: if a LISTEN is
 * due, send it and a Sync (phase CH_PG_LISTENING until the Sync comes
 * back) and return 1; else 0, and the batch may start. */
int ch_pg_listen_start(ch_pg *pg)
{
    char sql[80];

    if (!pg->listen_due || !pg->listen || pg->closing)
        return 0;
    pg->listen_due = 0;
    pg->phase = CH_PG_LISTENING;
    pg->poisoned = 0;
    pg->it_head = pg->it_tail = pg->n_slots = 0;
    pg->head_got = 0;
    snprintf(sql, sizeof sql, "LISTEN %s", pg->listen);
    if (!PQsendQueryParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(pg->conn)) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return 1;
    }
    pg->items[pg->it_tail++] = (ch_pg_item){.kind = CH_PG_IT_LISTEN};
    pg->items[pg->it_tail++] = (ch_pg_item){.kind = CH_PG_IT_SYNC};
    ch_pg_flush(pg);
    return 1;
}

/* LISTEN's result (res borrowed).  A refusal is logged (notifications
 * from other hosts are then not heard until the next reconnect); -1 if
 * the connection is lost. */
int ch_pg_listen_result(ch_pg *pg, const PGresult *res)
{
    char why[160];

    if (PQresultStatus(res) == PGRES_COMMAND_OK)
        return 0;
    pg->poisoned = 1;
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        ch_pg_conn_lost(pg, PQerrorMessage(pg->conn));
        return -1;
    }
    snprintf(why, sizeof why, "%s", PQresultErrorMessage(res));
    why[strcspn(why, "\n")] = '\0';
    ch_log(CH_LOG_WARN, "postgresql: LISTEN %s refused (%s); notifications are not heard",
           pg->listen, why);
    return 0;
}

/* LISTEN's Sync came back: it has taken effect (logged), unless it was
 * refused. */
void ch_pg_listen_synced(ch_pg *pg)
{
    if (!pg->poisoned)
        ch_log(CH_LOG_INFO, "postgresql: listening on channel %s", pg->listen);
}

/* Hand every notification libpq has received to the store, in order.
 * Called after reading results (and when idle, after reading input). */
void ch_pg_take_notifies(ch_pg *pg)
{
    PGnotify *n;

    while (pg->conn && (n = PQnotifies(pg->conn))) {
        ch_store_notified(pg->s, n->relname, n->extra);
        PQfreemem(n);
    }
}
