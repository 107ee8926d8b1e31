/*
 * store_floor.c -- SQLite's own cost of an append (store_append --floor):
 * the statements of the store's message.append, taken from the store
 * (ch_st_append_steps), run straight on a file the store made, with the
 * store's pragmas and nothing around them: no JSON, no seal, no queue, no
 * second thread.  What it prints is a floor under the store thread's CPU
 * per append (store_append --chat prints the real one): whatever the
 * store does besides SQLite comes on top.  Owns nothing past the call:
 * it opens and closes its own connection.
 *
 * The values are shaped as the store's (docs/performance.md part 14): a
 * sealed 100-byte message is 156 base64 characters, its nonce 16, the
 * event's body (the message by reference) 385; each append a fresh
 * client_msg_id ("srv-" and 32 hex digits) from a participant of a room
 * drawn at random, as chatroom's.  The unread step (read by one append
 * in nine, part 13) and the periodic trim are left out: the floor is
 * what every append costs.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "store_impl.h"

#include "store_floor.h"

/* ch_st_append_steps' statements that every append runs: the read (key,
 * new id, membership, duplicate, position), the insert, the room's new
 * position, the event row.  (Step 2 reads the unread counts, step 5
 * trims.) */
enum { ST_READ = 0, ST_INSERT = 1, ST_POS = 3, ST_EVENT = 4, ST_N = 4 };
static const int floor_steps[ST_N] = {ST_READ, ST_INSERT, ST_POS, ST_EVENT};
_Static_assert(CH_ST_APPEND_STEPS == 6, "the append's steps changed: check floor_steps");

#define FLOOR_ROOMS_MAX 1000
#define FLOOR_MEMBERS 10
#define FLOOR_NOW_MS 1796433037555 /* created_at: any time */

typedef struct floor_db {
    sqlite3 *db;
    sqlite3_stmt *st[ST_N];
    int64_t room[FLOOR_ROOMS_MAX];
    int64_t member[FLOOR_ROOMS_MAX][FLOOR_MEMBERS];
    int64_t pos[FLOOR_ROOMS_MAX];
    int rooms;
    char content[157], nonce[17], body[386];
} floor_db;

/* See store_floor.h. */
double store_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Run sql (no rows); 0, or -1 with the reason on stderr. */
static int floor_exec(floor_db *f, const char *sql)
{
    char *why = NULL;

    if (sqlite3_exec(f->db, sql, NULL, NULL, &why) == SQLITE_OK)
        return 0;
    fprintf(stderr, "store_floor: %s: %s\n", sql, why ? why : "failed");
    sqlite3_free(why);
    return -1;
}

/* Bind the integer v to the placeholder $k of st. */
static void bind_int(sqlite3_stmt *st, int k, int64_t v)
{
    char name[8];

    snprintf(name, sizeof name, "$%d", k);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, name), v);
}

/* Bind the text t (borrowed: it outlives the statement's step) to $k. */
static void bind_text(sqlite3_stmt *st, int k, const char *t)
{
    char name[8];

    snprintf(name, sizeof name, "$%d", k);
    sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, name), t, -1, SQLITE_STATIC);
}

/* The rooms the store made with at least FLOOR_MEMBERS participants (up
 * to FLOOR_ROOMS_MAX), their positions and first FLOOR_MEMBERS members.
 * 0, or -1 when there are none. */
static int floor_rooms(floor_db *f)
{
    sqlite3_stmt *r = NULL, *m = NULL;
    int k;

    f->rooms = 0;
    if (sqlite3_prepare_v2(f->db,
                           "SELECT r.id, r.stream_pos FROM rooms r WHERE (SELECT count(*) FROM"
                           " participants p WHERE p.room_id = r.id) >= $1 ORDER BY r.id LIMIT $2",
                           -1, &r, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(f->db,
                           "SELECT user_id FROM participants WHERE room_id = $1 ORDER BY user_id"
                           " LIMIT $2",
                           -1, &m, NULL) == SQLITE_OK) {
        bind_int(r, 1, FLOOR_MEMBERS);
        bind_int(r, 2, FLOOR_ROOMS_MAX);
        bind_int(m, 2, FLOOR_MEMBERS);
        while (sqlite3_step(r) == SQLITE_ROW) {
            f->room[f->rooms] = sqlite3_column_int64(r, 0);
            f->pos[f->rooms] = sqlite3_column_int64(r, 1);
            bind_int(m, 1, f->room[f->rooms]);
            for (k = 0; k < FLOOR_MEMBERS && sqlite3_step(m) == SQLITE_ROW; k++)
                f->member[f->rooms][k] = sqlite3_column_int64(m, 0);
            sqlite3_reset(m);
            f->rooms++;
        }
    }
    sqlite3_finalize(r);
    sqlite3_finalize(m);
    return f->rooms > 0 ? 0 : -1;
}

/* Open path as the store does (WAL, synchronous FULL, foreign keys, its
 * cache and checkpoint size) and prepare the statements.  0, or -1. */
static int floor_open(floor_db *f, const char *path)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    if (sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        floor_exec(f, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
                      "PRAGMA busy_timeout=5000; " CH_ST_SQLITE_CACHE) != 0)
        return -1;
    for (int i = 0; i < ST_N; i++) {
        if (sqlite3_prepare_v2(f->db, ch_st_append_steps[floor_steps[i]].sql, -1, &f->st[i],
                               NULL) != SQLITE_OK) {
            fprintf(stderr, "store_floor: step %d: %s\n", floor_steps[i], sqlite3_errmsg(f->db));
            return -1;
        }
    }
    for (size_t i = 0; i + 1 < sizeof f->content; i++)
        f->content[i] = b64[rand() % 64];
    for (size_t i = 0; i + 1 < sizeof f->nonce; i++)
        f->nonce[i] = b64[rand() % 64];
    for (size_t i = 0; i + 1 < sizeof f->body; i++)
        f->body[i] = b64[rand() % 64];
    return floor_rooms(f);
}

/* Step st to its end (one row read for the first statement); 0 or -1. */
static int floor_step(floor_db *f, int i)
{
    int rc = sqlite3_step(f->st[i]);

    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    fprintf(stderr, "store_floor: step %d: %s\n", floor_steps[i], sqlite3_errmsg(f->db));
    return -1;
}

/* The first statement: the new message's id and the room's next
 * position into *id and *pos.  0 or -1. */
static int floor_read(floor_db *f, int r, int64_t sender, const char *cmid, int64_t *id,
                      int64_t *pos)
{
    sqlite3_stmt *st = f->st[0];
    int rc;

    bind_int(st, 1, f->room[r]);
    bind_int(st, 2, sender);
    bind_text(st, 3, cmid);
    rc = floor_step(f, 0);
    *id = sqlite3_column_int64(st, 1);
    *pos = ++f->pos[r];
    sqlite3_reset(st);
    return rc;
}

/* The insert of message id. 0 or -1. */
static int floor_insert(floor_db *f, int r, int64_t sender, const char *cmid, int64_t id)
{
    sqlite3_stmt *st = f->st[1];
    char extra[48];
    int rc;

    snprintf(extra, sizeof extra, "{\"username\":\"user%lld\"}", (long long)sender);
    bind_int(st, 1, id);
    bind_int(st, 2, f->room[r]);
    bind_int(st, 3, sender);
    bind_int(st, 4, 1);
    bind_text(st, 5, f->nonce);
    bind_text(st, 6, f->content);
    bind_int(st, 7, FLOOR_NOW_MS);
    bind_text(st, 8, cmid);
    bind_text(st, 9, extra);
    rc = floor_step(f, 1);
    sqlite3_reset(st);
    return rc;
}

/* The room's new position and its event row.  0 or -1. */
static int floor_event(floor_db *f, int r, int64_t pos)
{
    sqlite3_stmt *st = f->st[2];
    int rc;

    bind_int(st, 1, f->room[r]);
    bind_int(st, 2, pos);
    rc = floor_step(f, 2);
    sqlite3_reset(st);
    st = f->st[3];
    bind_int(st, 1, f->room[r]);
    bind_int(st, 2, pos);
    bind_text(st, 3, "message.append");
    bind_int(st, 4, 1);
    bind_text(st, 5, f->nonce);
    bind_text(st, 6, f->body);
    bind_int(st, 7, FLOOR_NOW_MS);
    rc |= floor_step(f, 3);
    sqlite3_reset(st);
    return rc;
}

/* One append's statements as the store binds them, from a participant of
 * a room drawn at random; insert_only: the insert alone, with an id of
 * its own (seq).  0 or -1. */
static int floor_append(floor_db *f, int64_t seq, int insert_only)
{
    int r = rand() % f->rooms;
    int64_t sender = f->member[r][rand() % FLOOR_MEMBERS], id = seq, pos = 0;
    char cmid[40];

    snprintf(cmid, sizeof cmid, "srv-%016llx%016llx", (unsigned long long)seq * 2654435761u,
             (unsigned long long)seq);
    if (!insert_only && floor_read(f, r, sender, cmid, &id, &pos) != 0)
        return -1;
    if (floor_insert(f, r, sender, cmid, id) != 0)
        return -1;
    return insert_only ? 0 : floor_event(f, r, pos);
}

/* n appends in transactions of batch; the CPU seconds they took into
 * *cpu.  0 or -1. */
static int floor_run(floor_db *f, int n, int batch, int insert_only, int64_t *seq, double *cpu)
{
    double c0 = store_cpu_s();

    for (int done = 0; done < n; done += batch) {
        if (floor_exec(f, "BEGIN IMMEDIATE") != 0)
            return -1;
        for (int k = 0; k < batch && done + k < n; k++)
            if (floor_append(f, ++*seq, insert_only) != 0)
                return -1;
        if (floor_exec(f, "COMMIT") != 0)
            return -1;
    }
    *cpu = store_cpu_s() - c0;
    return 0;
}

/* See store_floor.h. */
int store_floor(const char *path, int n, int batch)
{
    floor_db *f = calloc(1, sizeof *f);
    double all = 0, insert = 0;
    int64_t seq = (int64_t)1 << 40; /* above the ids and client_msg_ids the store made */
    int rc = -1;

    srand(2);
    if (f && floor_open(f, path) == 0 && floor_run(f, n, batch, 0, &seq, &all) == 0 &&
        floor_run(f, n, batch, 1, &seq, &insert) == 0) {
        printf("store_append sqlite floor: %d appends in transactions of %d over %d rooms, SQLite "
               "alone (synchronous FULL): cpu us/append %.1f (the append's four statements), "
               "%.1f (the insert alone)\n",
               n, batch, f->rooms, all * 1e6 / n, insert * 1e6 / n);
        rc = 0;
    }
    for (int i = 0; f && i < ST_N; i++)
        sqlite3_finalize(f->st[i]);
    if (f)
        sqlite3_close(f->db);
    free(f);
    return rc;
}
