/*
 * store_unread.c -- the unread counters (schema migration 10, both
 * engines; 12, PostgreSQL): per room and sender the number of live messages
 * (room_live_counts), per room and reader the number of receipts of
 * others' live messages (room_read_counts), kept by triggers on messages,
 * read_receipts and rooms, so a room's unread counts (CH_ST_UNREAD_SQL and
 * store_reads.c's UNREAD_OF_P) read O(senders + readers) rows instead of
 * the room's whole history.  This file owns only the migration texts;
 * the statements that read the counters are where they were.
 *
 * The invariants, for every room r, sender s and reader u:
 *   room_live_counts(r, s).n = count of messages of r by s, is_deleted = 0
 *   room_read_counts(r, u).n = count of receipts of u of messages of r
 *                              with is_deleted = 0 and sender <> u
 * (a missing row counts 0; rows that fall to 0 are kept).  The triggers
 * keep them on every change that can move them: a message inserted; its
 * is_deleted, room_id or sender_id updated; a message deleted (BEFORE the
 * delete, while its receipts are still there: the receipts' cascade then
 * finds no message and changes nothing); a receipt inserted, updated or
 * deleted; a room deleted (a trigger on rooms removes its counter rows:
 * no foreign key, since PostgreSQL checks one again on an update of a row
 * its own transaction wrote, and a room's cascade updates its counters
 * after the room is gone).  Decrements are UPDATEs (never inserts), so
 * the order in which a room's cascades and that trigger run does not
 * matter.  The migration creates the triggers before the backfill: on
 * PostgreSQL CREATE TRIGGER locks messages and read_receipts against
 * writers until the migration commits, so no row written by another host
 * falls between the backfill and the triggers.
 */
#include "store_impl.h"

/* The counter tables; T is the integer type (INTEGER / BIGINT), TAIL what
 * follows each table's closing parenthesis (SQLite: WITHOUT ROWID, a
 * table clustered on its key). */
#define COUNTER_TABLES(T, TAIL)                      \
    "CREATE TABLE room_live_counts (\n"              \
    "  room_id " T " NOT NULL,\n"                    \
    "  sender_id " T " NOT NULL,\n"                  \
    "  n " T " NOT NULL,\n"                          \
    "  PRIMARY KEY (room_id, sender_id))" TAIL ";\n" \
    "CREATE TABLE room_read_counts (\n"              \
    "  room_id " T " NOT NULL,\n"                    \
    "  user_id " T " NOT NULL,\n"                    \
    "  n " T " NOT NULL,\n"                          \
    "  PRIMARY KEY (room_id, user_id))" TAIL ";\n"

/* The counts of the data already there (the same text on both engines);
 * runs after the triggers exist. */
#define BACKFILL                                                                 \
    "INSERT INTO room_live_counts (room_id, sender_id, n)\n"                     \
    "  SELECT room_id, sender_id, count(*) FROM messages WHERE is_deleted = 0\n" \
    "  GROUP BY room_id, sender_id;\n"                                           \
    "INSERT INTO room_read_counts (room_id, user_id, n)\n"                       \
    "  SELECT m.room_id, x.user_id, count(*) FROM messages m\n"                  \
    "  JOIN read_receipts x ON x.message_id = m.id\n"                            \
    "  WHERE m.is_deleted = 0 AND x.user_id <> m.sender_id GROUP BY m.room_id, x.user_id"

/* Add one to a counter row, made if absent (its table, key column, the
 * row's room and key expressions, then the rest of the SELECT: FROM and
 * WHERE, which SQLite's upsert after a SELECT needs). */
#define BUMP(t, k, room, key, rest)                                           \
    "INSERT INTO " t " (room_id, " k ", n) SELECT " room ", " key ", 1 " rest \
    " ORDER BY 2 ON CONFLICT (room_id, " k ") DO UPDATE SET n = " t ".n + 1"

/* The readers (other than the sender) holding a receipt of message id. */
#define READERS(id, sender)                                                                       \
    "(SELECT x.user_id FROM read_receipts x WHERE x.message_id = " id " AND x.user_id <> " sender \
    ")"

/* Statements shared by both dialects: a message (NEW or OLD) leaving or
 * entering the counts; each ends without a semicolon. */
#define MSG_OUT_LIVE(o)                                                   \
    "UPDATE room_live_counts SET n = n - 1 WHERE room_id = " o ".room_id" \
    " AND sender_id = " o ".sender_id"
#define MSG_OUT_READ(o)                                                   \
    "UPDATE room_read_counts SET n = n - 1 WHERE room_id = " o ".room_id" \
    " AND user_id IN " READERS(o ".id", o ".sender_id")
#define MSG_IN_LIVE(o, cond) \
    BUMP("room_live_counts", "sender_id", o ".room_id", o ".sender_id", "WHERE " cond)
#define MSG_IN_READ(o, cond)                                               \
    BUMP("room_read_counts", "user_id", o ".room_id", "x.user_id",         \
         "FROM read_receipts x WHERE " cond " AND x.message_id = " o ".id" \
         " AND x.user_id <> " o ".sender_id")

/* A receipt (NEW or OLD) leaving or entering its reader's count, when its
 * message is live and not the reader's own. */
#define RCPT_OUT(o)                                                                  \
    "UPDATE room_read_counts SET n = n - 1 WHERE user_id = " o ".user_id"            \
    " AND room_id = (SELECT m.room_id FROM messages m WHERE m.id = " o ".message_id" \
    " AND m.is_deleted = 0 AND m.sender_id <> " o ".user_id)"
#define RCPT_IN_SQLITE(o)                                                     \
    BUMP("room_read_counts", "user_id", "m.room_id", o ".user_id",            \
         "FROM messages m WHERE m.id = " o ".message_id AND m.is_deleted = 0" \
         " AND m.sender_id <> " o ".user_id")

/* A room's counter rows going with it. */
#define ROOM_GONE                                            \
    "DELETE FROM room_live_counts WHERE room_id = OLD.id;\n" \
    "  DELETE FROM room_read_counts WHERE room_id = OLD.id;\n"

/* PostgreSQL: the receipts of a relation (NEW as a row, or a statement's
 * transition table) counted per room and reader, when their messages
 * are live and not the reader's own; the messages are read FOR SHARE
 * (see ch_st_unread_pg_v10). */
#define RCPT_IN_PG(rel)                                                           \
    "INSERT INTO room_read_counts (room_id, user_id, n)"                          \
    " SELECT q.room_id, q.user_id, count(*) FROM (SELECT m.room_id AS room_id,"   \
    " a.user_id AS user_id FROM " rel " a JOIN messages m ON m.id = a.message_id" \
    " WHERE m.is_deleted = 0 AND m.sender_id <> a.user_id FOR SHARE OF m) q"      \
    " GROUP BY q.room_id, q.user_id ORDER BY 1, 2"                                \
    " ON CONFLICT (room_id, user_id) DO UPDATE SET n = room_read_counts.n + excluded.n"

/* A change of the message's place in the counts (room, sender, or live). */
#define MSG_MOVED                                                  \
    "OLD.room_id <> NEW.room_id OR OLD.sender_id <> NEW.sender_id" \
    " OR (OLD.is_deleted = 0) <> (NEW.is_deleted = 0)"

/* clang-format would break the statements' lines apart: kept as written. */
/* clang-format off */
const char ch_st_unread_sqlite_v10[] =
    COUNTER_TABLES("INTEGER", " WITHOUT ROWID")
    "CREATE TRIGGER messages_count_insert AFTER INSERT ON messages\n"
    "  WHEN NEW.is_deleted = 0 BEGIN\n"
    "  " MSG_IN_LIVE("NEW", "1") ";\n"
    "END;\n"
    "CREATE TRIGGER messages_count_update\n"
    "  AFTER UPDATE OF room_id, sender_id, is_deleted ON messages\n"
    "  WHEN " MSG_MOVED " BEGIN\n"
    "  " MSG_OUT_LIVE("OLD") " AND OLD.is_deleted = 0;\n"
    "  " MSG_OUT_READ("OLD") " AND OLD.is_deleted = 0;\n"
    "  " MSG_IN_LIVE("NEW", "NEW.is_deleted = 0") ";\n"
    "  " MSG_IN_READ("NEW", "NEW.is_deleted = 0") ";\n"
    "END;\n"
    "CREATE TRIGGER messages_count_delete BEFORE DELETE ON messages\n"
    "  WHEN OLD.is_deleted = 0 BEGIN\n"
    "  " MSG_OUT_LIVE("OLD") ";\n"
    "  " MSG_OUT_READ("OLD") ";\n"
    "END;\n"
    "CREATE TRIGGER read_receipts_count_insert AFTER INSERT ON read_receipts BEGIN\n"
    "  " RCPT_IN_SQLITE("NEW") ";\n"
    "END;\n"
    "CREATE TRIGGER read_receipts_count_update\n"
    "  AFTER UPDATE OF message_id, user_id ON read_receipts BEGIN\n"
    "  " RCPT_OUT("OLD") ";\n"
    "  " RCPT_IN_SQLITE("NEW") ";\n"
    "END;\n"
    "CREATE TRIGGER read_receipts_count_delete AFTER DELETE ON read_receipts BEGIN\n"
    "  " RCPT_OUT("OLD") ";\n"
    "END;\n"
    "CREATE TRIGGER rooms_counts_delete AFTER DELETE ON rooms BEGIN\n"
    "  " ROOM_GONE
    "END;\n"
    BACKFILL;

/* PostgreSQL: row triggers on messages; on read_receipts, statement
 * triggers over the transition tables for inserts and deletes (a
 * read.bulk of 50,000 receipts updates its reader's row once, not 50,000
 * times in one transaction, which would chain as many row versions), a
 * row trigger for the updates no operation makes.  Several counter rows
 * changed by one statement are locked in ascending (room_id, user_id)
 * order (the decrement's rows first with SELECT ... ORDER BY ... FOR
 * UPDATE, the increments by INSERT ... SELECT ... ORDER BY), and a
 * receipt's message is read FOR SHARE, so a concurrent delete of that
 * message either waits for the receipt's commit (and then counts it) or
 * commits first (and the receipt, re-reading the row, does not count). */
const char ch_st_unread_pg_v10[] =
    COUNTER_TABLES("BIGINT", "")
    "CREATE FUNCTION ch_unread_message() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP <> 'INSERT' THEN\n"
    "    IF OLD.is_deleted = 0 THEN\n"
    "      " MSG_OUT_LIVE("OLD") ";\n"
    "      PERFORM 1 FROM room_read_counts c WHERE c.room_id = OLD.room_id\n"
    "        AND c.user_id IN " READERS("OLD.id", "OLD.sender_id") "\n"
    "        ORDER BY c.user_id FOR UPDATE;\n"
    "      " MSG_OUT_READ("OLD") ";\n"
    "    END IF;\n"
    "    IF TG_OP = 'DELETE' THEN\n"
    "      RETURN OLD;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  IF NEW.is_deleted = 0 THEN\n"
    "    " MSG_IN_LIVE("NEW", "TRUE") ";\n"
    "    IF TG_OP = 'UPDATE' THEN\n" /* a new message has no receipts yet */
    "      " MSG_IN_READ("NEW", "TRUE") ";\n"
    "    END IF;\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE FUNCTION ch_unread_receipt() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  " RCPT_OUT("OLD") ";\n"
    "  " RCPT_IN_PG("(SELECT NEW.message_id AS message_id, NEW.user_id AS user_id)") ";\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE FUNCTION ch_unread_receipts_added() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  " RCPT_IN_PG("added") ";\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE FUNCTION ch_unread_receipts_gone() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  UPDATE room_read_counts c SET n = c.n - d.k FROM (SELECT m.room_id AS room_id,\n"
    "    g.user_id AS user_id, count(*) AS k FROM gone g JOIN messages m ON m.id = g.message_id\n"
    "    WHERE m.is_deleted = 0 AND m.sender_id <> g.user_id GROUP BY 1, 2) d\n"
    "    WHERE c.room_id = d.room_id AND c.user_id = d.user_id;\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE FUNCTION ch_unread_room() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  " ROOM_GONE
    "  RETURN NULL;\n"
    "END $$;\n"
    "CREATE TRIGGER rooms_counts_delete AFTER DELETE ON rooms\n"
    "  FOR EACH ROW EXECUTE FUNCTION ch_unread_room();\n"
    "CREATE TRIGGER messages_count_insert AFTER INSERT ON messages\n"
    "  FOR EACH ROW WHEN (NEW.is_deleted = 0) EXECUTE FUNCTION ch_unread_message();\n"
    "CREATE TRIGGER messages_count_update\n"
    "  AFTER UPDATE OF room_id, sender_id, is_deleted ON messages\n"
    "  FOR EACH ROW WHEN (" MSG_MOVED ") EXECUTE FUNCTION ch_unread_message();\n"
    "CREATE TRIGGER messages_count_delete BEFORE DELETE ON messages\n"
    "  FOR EACH ROW WHEN (OLD.is_deleted = 0) EXECUTE FUNCTION ch_unread_message();\n"
    "CREATE TRIGGER read_receipts_count_insert AFTER INSERT ON read_receipts\n"
    "  REFERENCING NEW TABLE AS added\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ch_unread_receipts_added();\n"
    "CREATE TRIGGER read_receipts_count_delete AFTER DELETE ON read_receipts\n"
    "  REFERENCING OLD TABLE AS gone\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ch_unread_receipts_gone();\n"
    "CREATE TRIGGER read_receipts_count_update\n"
    "  AFTER UPDATE OF message_id, user_id ON read_receipts\n"
    "  FOR EACH ROW EXECUTE FUNCTION ch_unread_receipt();\n"
    BACKFILL;

/* Version 12 (PostgreSQL): the count of inserted messages becomes a
 * statement trigger over the transition table, one upsert per statement
 * and (room, sender) instead of one PL/pgSQL call and upsert per row.  A
 * grouped append (store_pg_group.c) inserts a round's messages in one
 * statement, so this took 4-5 % off the server's instructions per append
 * (docs/performance.md "Part 8").  The counter rows
 * are locked in ascending (room_id, sender_id) order, as version 10's
 * statements lock theirs.  SQLite has no statement triggers: its list
 * holds a comment at this version. */
const char ch_st_unread_pg_v12[] =
    "CREATE FUNCTION ch_unread_messages_added() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  INSERT INTO room_live_counts (room_id, sender_id, n)\n"
    "    SELECT room_id, sender_id, count(*) FROM added WHERE is_deleted = 0\n"
    "    GROUP BY room_id, sender_id ORDER BY 1, 2\n"
    "    ON CONFLICT (room_id, sender_id) DO UPDATE SET n = room_live_counts.n + excluded.n;\n"
    "  RETURN NULL;\n"
    "END $$;\n"
    "DROP TRIGGER messages_count_insert ON messages;\n"
    "CREATE TRIGGER messages_count_insert AFTER INSERT ON messages\n"
    "  REFERENCING NEW TABLE AS added\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ch_unread_messages_added()";
const char ch_st_unread_sqlite_v12[] = "-- version 12: PostgreSQL only (statement triggers)";
/* clang-format on */
