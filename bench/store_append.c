/*
 * store_append.c -- the message store's append rate: queue N
 * message.append calls on one room before running the loop (so group
 * commit batches them as a busy host would), run the loop until every
 * callback is back, and print one line of figures.  It measures; it
 * checks only that every append succeeded, in order.  Owns nothing past
 * main: the temporary directory it makes for a SQLite file is removed.
 *
 *   store_append [--n N] [--batch-max B] [--url URL] [--history H] [--serial 1]
 *                [--stream 1] [--chat W] [--unread 0] [--floor B]
 *
 * Without --url: a fresh SQLite file in a temporary directory.  With a
 * postgresql:// URL the database must exist (migrations are applied).
 * --history H first fills the room, of 10 participants (users 1..10),
 * with H messages and every participant's receipts of all of them
 * (read.bulk), untimed.  --serial 1 then runs the N appends one at a
 * time, each with "unread": true as chatroom sends them, and prints their
 * latencies (the cost of one append in a room with that history) and
 * this process's CPU time per append (the store's thread: SQLite's
 * worker, or libpq on the loop).  --stream 1: the serial appends also
 * have "stream": true, as chatroom sends them.  --chat W: appends shaped
 * as chatroom's over 100 rooms, W queued at a time (measure_chat), and the
 * store thread's CPU per append; --unread 0: without unread counts, as
 * the support plugin appends (its kind asks none).  --floor B (SQLite,
 * with --chat): then, the store closed, the append's statements with
 * SQLite alone on the same file in transactions of B (store_floor.c).
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "store.h"
#include "store_floor.h"

typedef struct run {
    int n, done, failed;
    int64_t last_id; /* ids must increase in submission order */
    int64_t room;
    int history, serial; /* --history, --serial */
    int stream;          /* --stream */
    int chat;            /* --chat: the wave (calls queued at once) */
    int unread;          /* --unread: --chat's appends ask for counts (default 1) */
    int floor;           /* --floor: the transactions' size, 0 for none */
} run;

/* Monotonic seconds. */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One append is back: count it, check its id follows the previous one. */
static void on_append(int status, json_t *result, const char *error, void *arg)
{
    run *r = arg;
    int64_t id = status == 0 ? json_integer_value(json_object_get(result, "id")) : 0;

    if (status != 0 || id <= r->last_id) {
        if (!r->failed++)
            fprintf(stderr, "store_append: append %d: status %d %s\n", r->done, status,
                    error ? error : "(id out of order)");
    }
    r->last_id = id;
    r->done++;
}

/* The room is created: remember its id (0 on failure). */
static void on_room(int status, json_t *result, const char *error, void *arg)
{
    run *r = arg;

    if (status != 0)
        fprintf(stderr, "store_append: room.get_or_create: %s\n", error ? error : "failed");
    r->room = status == 0
                  ? json_integer_value(json_object_get(json_object_get(result, "room"), "id"))
                  : 0;
    r->done = 1;
}

/* Run the loop until *done reaches n. */
static void run_until(uv_loop_t *loop, const int *done, int n)
{
    while (*done < n)
        uv_run(loop, UV_RUN_ONCE);
}

/* A call that must succeed (participant.add, read.bulk): count it. */
static void on_call(int status, json_t *result, const char *error, void *arg)
{
    run *r = arg;

    (void)result;
    if (status != 0 && !r->failed++)
        fprintf(stderr, "store_append: setup call: %s\n", error ? error : "failed");
    r->done++;
}

/* Call message.append on r's room as sender (unread: with "unread": true
 * and, with --stream, "stream": true); 0 or -1 when the store refused the
 * call. */
static int append(ch_store *s, run *r, int sender, int unread)
{
    return ch_store_call(s, "message.append",
                         json_pack("{s:I, s:i, s:s, s:b, s:b}", "room_id", (json_int_t)r->room,
                                   "sender_id", sender, "content", "group commit", "unread", unread,
                                   "stream", unread && r->stream),
                         on_append, r);
}

/* --history: 10 participants, r->history messages (queued 1000 at a
 * time), every participant's receipts of them.  0, or 1 on a failure. */
static int fill_history(uv_loop_t *loop, ch_store *s, run *r)
{
    int i, k;

    r->done = 0;
    for (i = 1; i <= 10; i++)
        ch_store_call(s, "participant.add",
                      json_pack("{s:I, s:i}", "room_id", (json_int_t)r->room, "user_id", i),
                      on_call, r);
    run_until(loop, &r->done, 10);
    for (i = 0; i < r->history; i += k) {
        r->done = 0;
        for (k = 0; k < 1000 && i + k < r->history; k++)
            if (append(s, r, 1 + (i + k) % 10, 0) != 0)
                return 1;
        run_until(loop, &r->done, k);
    }
    r->done = 0;
    for (i = 1; i <= 10; i++)
        ch_store_call(s, "read.bulk",
                      json_pack("{s:i, s:I}", "user_id", i, "room_id", (json_int_t)r->room),
                      on_call, r);
    run_until(loop, &r->done, 10);
    return r->failed != 0;
}

/* The CPU time in seconds of this process's threads but the calling
 * one (the store's: SQLite's worker), from /proc/self/task/TID/schedstat
 * (nanoseconds on the CPU). */
static double others_cpu_s(void)
{
    char path[64];
    unsigned long long ns, sum = 0;
    uv_dirent_t d;
    uv_fs_t req;
    FILE *f;

    if (uv_fs_scandir(NULL, &req, "/proc/self/task", 0, NULL) < 0)
        return 0;
    while (uv_fs_scandir_next(&req, &d) != UV_EOF) {
        if (atoi(d.name) == (int)uv_os_getpid() /* the main thread */)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", d.name);
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%llu", &ns) == 1)
                sum += ns;
            fclose(f);
        }
    }
    uv_fs_req_cleanup(&req);
    return (double)sum / 1e9;
}

/* --chat W: CHAT_ROOMS rooms of 10 participants; r->n appends shaped as
 * chatroom's (a random room and member, 100 bytes of content, extra
 * {username}, participant, unread, unread_defer, stream) queued W at a
 * time, so that every batch holds W of them; prints the store thread's
 * CPU per append after CHAT_WARM waves of warm-up.  0, or 1 on a
 * failure. */
#define CHAT_ROOMS 100
#define CHAT_WARM 20
static int measure_chat(uv_loop_t *loop, ch_store *s, const char *backend, run *r, int wave)
{
    int64_t rooms[CHAT_ROOMS];
    char key[64], content[101], user[16];
    double cpu0 = 0, t0 = 0;
    int i, k, sent = 0, total = r->n + CHAT_WARM * wave;

    memset(content, 'x', 100);
    content[100] = '\0';
    for (i = 0; i < CHAT_ROOMS; i++) {
        snprintf(key, sizeof key, "bench:chat-%d", i);
        r->done = 0;
        ch_store_call(s, "room.get_or_create", json_pack("{s:s, s:s}", "key", key, "kind", "chat"),
                      on_room, r);
        run_until(loop, &r->done, 1);
        if (!(rooms[i] = r->room))
            return 1;
        r->done = 0;
        for (k = 1; k <= 10; k++)
            ch_store_call(s, "participant.add",
                          json_pack("{s:I, s:i}", "room_id", (json_int_t)rooms[i], "user_id", k),
                          on_call, r);
        run_until(loop, &r->done, 10);
    }
    srand(1);
    while (sent < total && !r->failed) {
        if (sent == CHAT_WARM * wave) {
            cpu0 = others_cpu_s();
            t0 = now_s();
        }
        r->done = 0;
        for (k = 0; k < wave; k++) {
            snprintf(user, sizeof user, "user%d", 1 + rand() % 10);
            if (ch_store_call(s, "message.append",
                              json_pack("{s:I, s:i, s:s, s:{s:s}, s:b, s:b, s:b, s:b}", "room_id",
                                        (json_int_t)rooms[rand() % CHAT_ROOMS], "sender_id",
                                        1 + rand() % 10, "content", content, "extra", "username",
                                        user, "participant", 1, "unread", r->unread, "unread_defer",
                                        r->unread, "stream", 1),
                              on_append, r) != 0)
                return 1;
        }
        run_until(loop, &r->done, wave);
        sent += wave;
    }
    printf("store_append %s chat: %d appends in waves of %d over %d rooms in %.3f s; store thread "
           "cpu us/append %.1f\n",
           backend, r->n, wave, CHAT_ROOMS, now_s() - t0, (others_cpu_s() - cpu0) * 1e6 / r->n);
    return r->failed != 0;
}

/* qsort comparator of doubles. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* --serial: r->n appends one at a time with "unread": true; prints the
 * latencies.  0, or 1 on a failure. */
static int measure_serial(uv_loop_t *loop, ch_store *s, const char *backend, run *r)
{
    double *lat = malloc((size_t)r->n * sizeof *lat), t0, sum = 0, cpu0 = store_cpu_s();
    int i;

    if (!lat)
        return 1;
    r->done = 0;
    for (i = 0; i < r->n && !r->failed; i++) {
        t0 = now_s();
        if (append(s, r, 1 + i % 10, 1) != 0)
            break;
        run_until(loop, &r->done, i + 1);
        lat[i] = (now_s() - t0) * 1000;
        sum += lat[i];
    }
    if (i == r->n && !r->failed) {
        qsort(lat, (size_t)r->n, sizeof *lat, cmp_double);
        printf("store_append %s serial: history %d, %d appends with unread%s: ms avg %.2f p50 %.2f "
               "p99 %.2f max %.2f; cpu us/append %.1f\n",
               backend, r->history, r->n, r->stream ? " and stream" : "", sum / r->n, lat[r->n / 2],
               lat[r->n * 99 / 100], lat[r->n - 1], (store_cpu_s() - cpu0) * 1e6 / r->n);
    }
    free(lat);
    return i != r->n || r->failed != 0;
}

/* ch_store_close's callback. */
static void on_closed(void *arg) { *(int *)arg = 1; }

/* nftw callback removing one entry of the temporary directory. */
static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Queue r->n appends on s (borrowed) at once, run them, print the
 * figures.  Returns 0, or 1 when one failed. */
static int measure(uv_loop_t *loop, ch_store *s, const char *backend, run *r)
{
    json_t *st;
    double t0, secs;
    int i;

    if (r->chat)
        return measure_chat(loop, s, backend, r, r->chat);
    r->done = 0;
    if (ch_store_call(s, "room.get_or_create",
                      json_pack("{s:s, s:s}", "key", "bench:store-append", "kind", "chat"), on_room,
                      r) != 0)
        return 1;
    run_until(loop, &r->done, 1);
    if (!r->room || (r->history && fill_history(loop, s, r) != 0))
        return 1;
    if (r->serial)
        return measure_serial(loop, s, backend, r);
    r->done = 0;
    t0 = now_s();
    for (i = 0; i < r->n; i++)
        if (ch_store_call(s, "message.append",
                          json_pack("{s:I, s:I, s:s}", "room_id", (json_int_t)r->room, "sender_id",
                                    (json_int_t)(1 + i % 5), "content", "group commit"),
                          on_append, r) != 0) {
            fprintf(stderr, "store_append: call %d refused (queue full?)\n", i);
            return 1;
        }
    run_until(loop, &r->done, r->n);
    secs = now_s() - t0;
    st = ch_store_status(s);
    printf("store_append %s: %d appends in %.3f s = %.0f appends/s; commit latency ms "
           "avg %.1f max %.1f\n",
           backend, r->n, secs, r->n / secs,
           json_number_value(json_object_get(json_object_get(st, "commit_latency_ms"), "avg")),
           json_number_value(json_object_get(json_object_get(st, "commit_latency_ms"), "max")));
    json_decref(st);
    return r->failed != 0;
}

/* Parse the command line, open the store, measure, clean up. */
int main(int argc, char **argv)
{
    char dir[64] = "", url[600], keys[128], err[512] = "";
    const char *given = NULL;
    ch_store_opts o = {0};
    run r = {.n = 10000, .unread = 1};
    uv_loop_t loop;
    ch_store *s;
    int i, rc, closed = 0;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--n") == 0)
            r.n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch-max") == 0)
            o.batch_max = (uint32_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--url") == 0)
            given = argv[i + 1];
        else if (strcmp(argv[i], "--history") == 0)
            r.history = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--serial") == 0)
            r.serial = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--stream") == 0)
            r.stream = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--chat") == 0)
            r.chat = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--unread") == 0)
            r.unread = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--floor") == 0)
            r.floor = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc || r.n <= 0 || r.history < 0 || r.chat < 0 || r.floor < 0 ||
        (r.floor && (!r.chat || given))) {
        fprintf(stderr, "usage: store_append [--n N] [--batch-max B] [--url URL] [--history H]"
                        " [--serial 1] [--stream 1] [--chat W] [--unread 0] [--floor B]\n"
                        "  (--floor needs --chat and a SQLite file of its own: no --url)\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "/tmp/chanhost-bench-%d", (int)getpid());
    if (mkdir(dir, 0700) != 0) {
        perror(dir);
        return 1;
    }
    snprintf(url, sizeof url, "%s", given ? given : "");
    if (!given)
        snprintf(url, sizeof url, "sqlite:%s/s.db", dir);
    snprintf(keys, sizeof keys, "%s/keys", dir);
    o.url = url;
    o.key_file = keys;
    o.queue_max = (uint32_t)(r.n > 1000 ? r.n : 1000) + 1;
    uv_loop_init(&loop);
    s = ch_store_open(&loop, &o, err, sizeof err);
    if (!s) {
        fprintf(stderr, "store_append: %s: %s\n", url, err);
        rc = 1;
    } else {
        rc = measure(&loop, s, strncmp(url, "sqlite:", 7) == 0 ? "sqlite" : "postgresql", &r);
        ch_store_close(s, on_closed, &closed);
        run_until(&loop, &closed, 1);
        if (rc == 0 && r.floor)
            rc = store_floor(url + 7 /* "sqlite:" */, r.n, r.floor) != 0;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
