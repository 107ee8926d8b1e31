/*
 * polls.c -- a chat type none of the bundled plugins has, built out of
 * tree against an installed chanhost (README.md next to this file has the
 * protocol).  It uses every part of the SDK a new chat type needs:
 *
 *   - its own tables and store operations (a chanhost_schema): polls with
 *     their question sealed at rest, and one vote per user and poll;
 *   - HTTP endpoints: POST /api/polls/ creates a poll, GET
 *     /api/polls/<int:poll_id>/ reads it with its results;
 *   - a WebSocket route (/ws/polls/<slug:room>/): the room's polls on
 *     connect, votes acknowledged after COMMIT, results broadcast to the
 *     room's group;
 *   - a timer: every sweep_ms a sweep closes the polls whose "closes_in"
 *     has passed and broadcasts their final results;
 *   - hot reload: a new version adopts the connections of the old one.
 *
 * POLLS_RESULTS_FORMAT (1 or 2, a -D at build time) chooses how results
 * look: 1 an array of counts in option order, 2 a map option -> count
 * plus "format": 2.
 *
 * Owns: per loaded copy, its polls_state (settings, the sweep timer);
 * per connection, a polls_conn (user and room), freed in disconnect or
 * taken over by adopt; per store call, the small context it passes as
 * arg, freed by the callback.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chanhost.h>
#include <chanhost_kit.h>

#ifndef POLLS_RESULTS_FORMAT
#define POLLS_RESULTS_FORMAT 1
#endif
#if POLLS_RESULTS_FORMAT != 1 && POLLS_RESULTS_FORMAT != 2
#error "POLLS_RESULTS_FORMAT is 1 (counts array) or 2 (option -> count map)"
#endif

#define ROOM_MAX 64           /* bytes of a room slug */
#define QUESTION_MAX 200      /* characters */
#define OPTION_MAX 100        /* characters */
#define OPTIONS_MIN 2
#define OPTIONS_MAX 10
#define CLOSES_IN_MAX 2592000 /* seconds: 30 days */
#define ROOM_POLLS 50         /* polls a connection gets on connect */
#define CONN_MAGIC 0x706f6c31u /* "pol1": the layout of polls_conn */

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- the schema: tables, operations, sealed columns ------------------------ */

/* Version 1 for both engines but for the id column's type. */
#define POLLS_V1(ID_TYPE)                                                                  \
    "CREATE TABLE polls_polls (id " ID_TYPE ", room TEXT NOT NULL,"                        \
    " question TEXT NOT NULL, options TEXT NOT NULL, n_options INTEGER NOT NULL,"          \
    " created_by BIGINT NOT NULL, created_at BIGINT NOT NULL, closes_in_ms BIGINT,"        \
    " closed_at BIGINT);"                                                                  \
    " CREATE TABLE polls_votes (poll_id BIGINT NOT NULL, user_id BIGINT NOT NULL,"         \
    " choice INTEGER NOT NULL, voted_at BIGINT NOT NULL, PRIMARY KEY (poll_id, user_id))"

static const chanhost_migration migrations[] = {
    {1, POLLS_V1("INTEGER PRIMARY KEY"), POLLS_V1("BIGSERIAL PRIMARY KEY")},
    /* A released migration never changes: later needs get a new version. */
    {2, "CREATE INDEX polls_polls_room ON polls_polls (room, id)", NULL},
};

static const char *const p_create[] = {"room",       "seal:question", "options", "n_options",
                                       "created_by", "@now",          "closes_in_ms", NULL};
static const char *const p_id[] = {"id", NULL};
static const char *const p_room[] = {"room", NULL};
static const char *const p_vote[] = {"id", "user_id", "choice", "@now", "room", NULL};
static const char *const p_now[] = {"@now", NULL};

#define POLL_COLUMNS "id, room, question, options, n_options, created_by, closed_at"
#define COUNTS_OF_POLL                                                                   \
    "SELECT choice, count(*) AS n FROM polls_votes WHERE poll_id = $1 GROUP BY choice"

static const chanhost_step create_steps[] = {
    {"INSERT INTO polls_polls (room, question, options, n_options, created_by, created_at,"
     " closes_in_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
     NULL, p_create, CHANHOST_ROWS_ONE, NULL},
};
static const chanhost_step get_steps[] = {
    {"SELECT " POLL_COLUMNS " FROM polls_polls WHERE id = $1", NULL, p_id, CHANHOST_ROWS_ONE,
     "poll"},
    {COUNTS_OF_POLL, NULL, p_id, CHANHOST_ROWS_ALL, "counts"},
};
static const chanhost_step room_steps[] = {
    {"SELECT " POLL_COLUMNS " FROM polls_polls WHERE room = $1 ORDER BY id DESC"
     " LIMIT " STR(ROOM_POLLS), NULL, p_room, CHANHOST_ROWS_ALL, "polls"},
    {"SELECT poll_id, choice, count(*) AS n FROM polls_votes WHERE poll_id IN"
     " (SELECT id FROM polls_polls WHERE room = $1 ORDER BY id DESC LIMIT " STR(ROOM_POLLS) ")"
     " GROUP BY poll_id, choice", NULL, p_room, CHANHOST_ROWS_ALL, "counts"},
};
/* One vote per user and poll: a second vote replaces the first (the same
 * vote again changes nothing), so a retried call is harmless.  The INSERT
 * reads the poll to refuse a closed poll, another room's poll and an
 * option out of range: it then returns no row ("vote": null). */
static const chanhost_step vote_steps[] = {
    {"SELECT " POLL_COLUMNS " FROM polls_polls WHERE id = $1", NULL, p_id, CHANHOST_ROWS_ONE,
     "poll"},
    {"INSERT INTO polls_votes (poll_id, user_id, choice, voted_at)"
     " SELECT id, CAST($2 AS BIGINT), CAST($3 AS INTEGER), CAST($4 AS BIGINT) FROM polls_polls"
     " WHERE id = $1 AND room = $5 AND closed_at IS NULL"
     " AND CAST($3 AS INTEGER) >= 0 AND CAST($3 AS INTEGER) < n_options"
     " ON CONFLICT (poll_id, user_id) DO UPDATE SET choice = excluded.choice,"
     " voted_at = excluded.voted_at RETURNING choice",
     NULL, p_vote, CHANHOST_ROWS_OPTIONAL, "vote"},
    {COUNTS_OF_POLL, NULL, p_id, CHANHOST_ROWS_ALL, "counts"},
};
static const chanhost_step close_due_steps[] = {
    {"UPDATE polls_polls SET closed_at = $1 WHERE closed_at IS NULL AND closes_in_ms IS NOT"
     " NULL AND created_at + closes_in_ms <= $1 RETURNING id",
     NULL, p_now, CHANHOST_ROWS_ALL, "closed"},
};

static const chanhost_op ops[] = {
    {"create", 1, create_steps, CHANHOST_N(create_steps)},
    {"get", 0, get_steps, CHANHOST_N(get_steps)},
    {"room", 0, room_steps, CHANHOST_N(room_steps)},
    {"vote", 1, vote_steps, CHANHOST_N(vote_steps)},
    {"close_due", 1, close_due_steps, CHANHOST_N(close_due_steps)},
};

static const char *const sealed[] = {"polls_polls.question", NULL};
static const char *const tables[] = {"polls_polls", "polls_votes", NULL};

static const chanhost_schema schema = {
    migrations, CHANHOST_N(migrations), ops, CHANHOST_N(ops), sealed, tables,
};

/* ---- state ------------------------------------------------------------------ */

/* The host's services, set by init (each loaded copy has its own). */
static const chanhost_api *api;

/* What init returns; freed by fini. */
typedef struct polls_state {
    chanhost_timer *sweep; /* the repeating sweep (host-owned handle) */
    int sweeping;          /* a close_due call is in flight */
} polls_state;

/* One connection's data (api->set_data).  Its layout is part of what a
 * newer version adopts: adopt checks magic before taking it. */
typedef struct polls_conn {
    uint32_t magic;          /* CONN_MAGIC */
    json_int_t user_id;
    char room[ROOM_MAX + 1];
} polls_conn;

/* ---- results --------------------------------------------------------------- */

/* The counts of one poll as a new array of n integers, from rows
 * {"choice", "n"[, "poll_id"]} (borrowed); only rows of poll_id when
 * poll_id > 0. */
static json_t *dense_counts(const json_t *rows, size_t n, json_int_t poll_id)
{
    json_t *a = json_array(), *row;
    size_t i;

    for (i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(0));
    json_array_foreach(rows, i, row) {
        json_int_t choice = json_integer_value(json_object_get(row, "choice"));

        if (poll_id > 0 && json_integer_value(json_object_get(row, "poll_id")) != poll_id)
            continue;
        if (choice >= 0 && (size_t)choice < n)
            json_array_set_new(a, (size_t)choice,
                               json_integer(json_integer_value(json_object_get(row, "n"))));
    }
    return a;
}

/* Put the results of counts (a dense array, borrowed) for options
 * (borrowed) into obj as POLLS_RESULTS_FORMAT says: "counts" and "total"
 * (and "format": 2 with the map format). */
static void put_results(json_t *obj, const json_t *options, const json_t *counts)
{
    json_int_t total = 0;
    json_t *out, *v;
    size_t i;

    json_array_foreach(counts, i, v)
        total += json_integer_value(v);
#if POLLS_RESULTS_FORMAT == 2
    out = json_object();
    json_array_foreach(counts, i, v)
        json_object_set(out, json_string_value(json_array_get(options, i)), v);
    json_object_set_new(obj, "format", json_integer(2));
#else
    (void)options;
    out = json_copy((json_t *)counts);
#endif
    json_object_set_new(obj, "counts", out);
    json_object_set_new(obj, "total", json_integer(total));
}

/* A poll as clients see it, from a row of POLL_COLUMNS (borrowed) and its
 * dense counts (borrowed, or NULL for none yet): a new object. */
static json_t *poll_json(const json_t *row, const json_t *counts)
{
    json_t *options = json_loads(json_string_value(json_object_get(row, "options")), 0, NULL);
    json_t *zero = NULL, *p;

    if (!json_is_array(options)) {
        json_decref(options);
        options = json_array();
    }
    if (!counts)
        counts = zero = dense_counts(NULL, json_array_size(options), 0);
    p = json_pack("{s:O, s:O, s:O, s:O, s:O, s:b}", "id", json_object_get(row, "id"),
                  "room", json_object_get(row, "room"), "question",
                  json_object_get(row, "question"), "options", options, "created_by",
                  json_object_get(row, "created_by"), "closed",
                  !json_is_null(json_object_get(row, "closed_at")));
    if (p)
        put_results(p, options, counts);
    json_decref(options);
    json_decref(zero);
    return p;
}

/* The group of a room ("polls.<room>"): written into buf (ROOM_MAX + 7). */
static const char *group_of(char *buf, size_t size, const char *room)
{
    snprintf(buf, size, "polls.%s", room);
    return buf;
}

/* Tell a room's connections the results of a poll: a layer message with
 * the raw counts, which each connection's version formats (group_message).
 * row: the poll's POLL_COLUMNS (borrowed); rows: its counts rows
 * (borrowed). */
static void broadcast_results(const json_t *row, const json_t *rows)
{
    json_t *options = json_loads(json_string_value(json_object_get(row, "options")), 0, NULL);
    const char *room = json_string_value(json_object_get(row, "room"));
    char group[ROOM_MAX + 8];
    json_t *m;

    if (!json_is_array(options) || !room) {
        json_decref(options);
        return;
    }
    m = json_pack("{s:s, s:O, s:O, s:o, s:b}", "type", "polls.results", "poll_id",
                  json_object_get(row, "id"), "options", options, "counts",
                  dense_counts(rows, json_array_size(options), 0), "closed",
                  !json_is_null(json_object_get(row, "closed_at")));
    if (!m || api->group_send(group_of(group, sizeof group, room), m) != 0)
        api->log(CHANHOST_LOG_WARN, "results of poll %" JSON_INTEGER_FORMAT " not broadcast",
                 json_integer_value(json_object_get(row, "id")));
    json_decref(m);
    json_decref(options);
}

/* ---- the WebSocket route ---------------------------------------------------- */

/* The room's polls arrived (c NULL if the client left). */
static void on_room_polls(chanhost_conn *c, int status, const json_t *result, const char *error,
                          void *arg)
{
    const json_t *row, *counts = json_object_get(result, "counts");
    json_t *list, *frame;
    size_t i;

    (void)arg;
    if (!c)
        return;
    if (status != 0) {
        api->log(CHANHOST_LOG_WARN, "room polls: %s", error ? error : chanhost_strerror(status));
        api->close(c, 1011, "store unavailable");
        return;
    }
    list = json_array();
    json_array_foreach(json_object_get(result, "polls"), i, row) {
        json_t *opts = json_loads(json_string_value(json_object_get(row, "options")), 0, NULL);
        json_t *dense = dense_counts(counts, json_array_size(opts),
                                     json_integer_value(json_object_get(row, "id")));

        json_array_append_new(list, poll_json(row, dense));
        json_decref(dense);
        json_decref(opts);
    }
    frame = json_pack("{s:s, s:s, s:o}", "type", "polls", "room",
                      ((polls_conn *)api->get_data(c))->room, "polls", list);
    if (frame)
        api->send_json(c, frame);
    json_decref(frame);
}

/* A client connects: a user's token is required (4001 without); it joins
 * the room's group and gets the room's polls once the store answered.
 * Nothing reads the request after this, so it is released.  The
 * polls_conn made here is freed by disconnect. */
static int polls_connect(chanhost_conn *c, void *state)
{
    const char *room = api->route_param(c, "room");
    char group[ROOM_MAX + 8];
    polls_conn *pc;

    (void)state;
    if (chk_user_id(api, c) <= 0)
        return 4001;
    if (!room || strlen(room) > ROOM_MAX)
        return 4004;
    if (!(pc = calloc(1, sizeof *pc)))
        return 1011;
    pc->magic = CONN_MAGIC;
    pc->user_id = chk_user_id(api, c);
    strcpy(pc->room, room);
    api->set_data(c, pc);
    if (api->subprotocol_offered(c, "Bearer"))
        api->select_subprotocol(c, "Bearer");
    if (api->group_add(c, group_of(group, sizeof group, room)) != 0 ||
        api->store_call(c, "polls.room", json_pack("{s:s}", "room", room), on_room_polls,
                        NULL) != 0)
        return 1011;
    api->release_request(c); /* the query and headers go at accept (SDK 1.3) */
    return CHANHOST_ACCEPT;
}

/* Why a vote the store did not take was refused, as an error frame to
 * the voter: poll is the poll row the op read (borrowed, or NULL). */
static void vote_refused(chanhost_conn *c, const polls_conn *pc, int status, const json_t *poll,
                         const char *error)
{
    const char *room = json_string_value(json_object_get(poll, "room"));

    if (status == CHANHOST_STORE_ENOENT || (status == 0 && (!room || strcmp(room, pc->room))))
        chk_error(api, c, "not_found", "no such poll in this room");
    else if (status == 0 && !json_is_null(json_object_get(poll, "closed_at")))
        chk_error(api, c, "closed", "the poll is closed");
    else if (status == 0)
        chk_error(api, c, "bad_option", "no such option");
    else
        chk_error(api, c, "unavailable", error ? error : chanhost_strerror(status));
}

/* The store answered a vote (c NULL if the voter left: the vote stands
 * and is still broadcast).  Ack to the voter only now, after COMMIT. */
static void on_vote(chanhost_conn *c, int status, const json_t *result, const char *error,
                    void *arg)
{
    const json_t *poll = json_object_get(result, "poll");
    const json_t *vote = json_object_get(result, "vote");
    json_t *ack;

    (void)arg;
    if (status != 0 || !json_is_object(vote)) {
        if (c)
            vote_refused(c, api->get_data(c), status, poll, error);
        return;
    }
    if (c) {
        ack = json_pack("{s:s, s:O, s:O}", "type", "ack", "poll_id", json_object_get(poll, "id"),
                        "option", json_object_get(vote, "choice"));
        if (ack)
            api->send_json(c, ack);
        json_decref(ack);
    }
    broadcast_results(poll, json_object_get(result, "counts"));
}

/* {"type": "vote", "poll_id": N, "option": I}: store it (one per user). */
static void on_vote_frame(chanhost_conn *c, polls_conn *pc, const json_t *in)
{
    const json_t *id = json_object_get(in, "poll_id"), *opt = json_object_get(in, "option");
    int rc;

    if (!json_is_integer(id) || !json_is_integer(opt) || json_integer_value(id) <= 0) {
        chk_error(api, c, "bad_request", "vote needs integer \"poll_id\" and \"option\"");
        return;
    }
    rc = api->store_call(c, "polls.vote", json_pack("{s:O, s:I, s:O, s:s}", "id", id,
                                                    "user_id", pc->user_id, "choice", opt,
                                                    "room", pc->room), on_vote, NULL);
    if (rc != 0)
        chk_error(api, c, "unavailable", chanhost_strerror(rc));
}

/* A client frame: "vote" or "ping"; anything else gets an error frame. */
static void polls_receive(chanhost_conn *c, void *state, const char *data, size_t len,
                          int is_binary)
{
    const char *type;
    json_t *in = chk_parse(api, c, data, len, is_binary, &type);

    (void)state;
    if (!in)
        return;
    if (strcmp(type, "vote") == 0) {
        on_vote_frame(c, api->get_data(c), in);
    } else if (strcmp(type, "ping") == 0) {
        json_t *pong = json_pack("{s:s}", "type", "pong");

        api->send_json(c, pong);
        json_decref(pong);
    } else {
        chk_error(api, c, "unknown_type", "expected \"vote\" or \"ping\"");
    }
    json_decref(in);
}

/* A layer message for a member of a room's group: formatted here, by the
 * version serving the connection.  Other types go to the client as is. */
static void polls_group_message(chanhost_conn *c, void *state, const char *type,
                                const json_t *msg, const chanhost_msg *m)
{
    json_t *out = NULL;

    (void)state;
    if (strcmp(type, "polls.results") == 0) {
        out = json_pack("{s:s, s:O, s:O}", "type", "results", "poll_id",
                        json_object_get(msg, "poll_id"), "closed",
                        json_object_get(msg, "closed"));
        if (out)
            put_results(out, json_object_get(msg, "options"), json_object_get(msg, "counts"));
    } else if (strcmp(type, "polls.created") == 0) {
        out = json_pack("{s:s, s:o}", "type", "poll", "poll",
                        poll_json(json_object_get(msg, "poll"), NULL));
    } else {
        api->forward(c, m);
        return;
    }
    if (out)
        api->send_json(c, out);
    json_decref(out);
}

/* The connection is gone: free its polls_conn (its group membership is
 * the host's to drop). */
static void polls_disconnect(chanhost_conn *c, void *state, int code)
{
    (void)state;
    (void)code;
    free(api->get_data(c));
}

/* Hot reload: take over a connection of an older version when its data
 * has this version's layout (it holds no timer, so nothing to stop);
 * from now on this version formats its results. */
static int polls_adopt(chanhost_conn *c, void *state, void *old_data)
{
    const polls_conn *pc = old_data;

    (void)c;
    (void)state;
    return pc && pc->magic == CONN_MAGIC ? 0 : -1;
}

/* ---- HTTP endpoints --------------------------------------------------------- */

/* Answer req with 400 {"error": "invalid", "message": why}. */
static void bad_request(chanhost_http *req, const char *why)
{
    api->http_reply(req, 400, json_pack("{s:s, s:s}", "error", "invalid", "message", why));
}

/* Answer req for a failed store call: 404 for ENOENT (no such poll),
 * else 503 with the store's reason (error borrowed, or NULL). */
static void store_failed(chanhost_http *req, int status, const char *error)
{
    int nf = status == CHANHOST_STORE_ENOENT;

    api->http_reply(req, nf ? 404 : 503,
                    json_pack("{s:s, s:s}", "error", nf ? "not_found" : "unavailable",
                              "message", nf ? "no such poll"
                                            : error ? error : chanhost_strerror(status)));
}

/* A string of 1..max characters (not bytes), or NULL. */
static const char *text_field(const json_t *v, size_t max)
{
    size_t n = json_string_length(v);

    return json_is_string(v) && n > 0 && chk_utf8_chars(json_string_value(v), n) <= max
               ? json_string_value(v) : NULL;
}

/* The room slug of a create body, or NULL: 1..ROOM_MAX of [-A-Za-z0-9_]. */
static const char *room_field(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > ROOM_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_") != n)
        return NULL;
    return s;
}

/* Why the options of a create body are refused, or NULL if they are fine:
 * OPTIONS_MIN..OPTIONS_MAX distinct strings of 1..OPTION_MAX characters. */
static const char *options_problem(const json_t *options)
{
    size_t i, j, n = json_array_size(options);

    if (!json_is_array(options) || n < OPTIONS_MIN || n > OPTIONS_MAX)
        return "options: an array of " STR(OPTIONS_MIN) " to " STR(OPTIONS_MAX) " strings";
    for (i = 0; i < n; i++) {
        if (!text_field(json_array_get(options, i), OPTION_MAX))
            return "options: each a string of 1 to " STR(OPTION_MAX) " characters";
        for (j = 0; j < i; j++)
            if (json_equal(json_array_get(options, i), json_array_get(options, j)))
                return "options: each may appear once";
    }
    return NULL;
}

/* What a create waits for: the request and the poll row it will store
 * (a new reference), freed by on_created. */
typedef struct create_ctx {
    chanhost_http *req;
    json_t *row;
} create_ctx;

/* The poll is stored (or not): 201 with it, and the room hears of it. */
static void on_created(int status, const json_t *result, const char *error, void *arg)
{
    create_ctx *cx = arg;
    char group[ROOM_MAX + 8];
    json_t *m;

    if (status != 0) {
        store_failed(cx->req, status, error);
    } else {
        json_object_set(cx->row, "id", json_object_get(result, "id"));
        api->http_reply(cx->req, 201, poll_json(cx->row, NULL));
        m = json_pack("{s:s, s:O}", "type", "polls.created", "poll", cx->row);
        if (m)
            api->group_send(group_of(group, sizeof group,
                                     json_string_value(json_object_get(cx->row, "room"))), m);
        json_decref(m);
    }
    json_decref(cx->row);
    free(cx);
}

/* POST /api/polls/ {"room", "question", "options", "closes_in"?}: a new
 * poll by the calling user, 201 once committed; 400 for a bad body. */
static void polls_create(chanhost_http *req, void *state)
{
    const json_t *body = api->http_body(req), *ci = json_object_get(body, "closes_in");
    const char *room = room_field(json_object_get(body, "room")), *why;
    const char *question = text_field(json_object_get(body, "question"), QUESTION_MAX);
    json_t *options = json_object_get(body, "options"), *params;
    create_ctx *cx;
    char *text;
    int rc;

    (void)state;
    if (!room)
        why = "room: 1 to " STR(ROOM_MAX) " of letters, digits, '-', '_'";
    else if (!question)
        why = "question: a string of 1 to " STR(QUESTION_MAX) " characters";
    else if (ci && (!json_is_integer(ci) || json_integer_value(ci) < 1 ||
                    json_integer_value(ci) > CLOSES_IN_MAX))
        why = "closes_in: seconds, 1 to " STR(CLOSES_IN_MAX);
    else
        why = options_problem(options);
    if (why) {
        bad_request(req, why);
        return;
    }
    text = json_dumps(options, JSON_COMPACT);
    cx = calloc(1, sizeof *cx);
    params = json_pack("{s:s, s:s, s:s?, s:I, s:I, s:o}", "room", room, "question", question,
                       "options", text, "n_options", (json_int_t)json_array_size(options),
                       "created_by", json_integer_value(json_object_get(api->http_user(req),
                                                                        "id")),
                       "closes_in_ms", ci ? json_integer(json_integer_value(ci) * 1000)
                                          : json_null());
    if (cx)
        cx->row = json_pack("{s:s, s:s, s:s?, s:O, s:n}", "room", room, "question", question,
                            "options", text, "created_by", json_object_get(params, "created_by"),
                            "closed_at");
    free(text);
    if (!cx || !cx->row || !params) {
        json_decref(params);
        if (cx)
            json_decref(cx->row);
        free(cx);
        api->http_reply(req, 503, json_pack("{s:s, s:s}", "error", "unavailable", "message",
                                            "out of memory"));
        return;
    }
    cx->req = req;
    rc = api->store_exec("polls.create", params, on_created, cx);   /* params stolen */
    if (rc != 0)
        on_created(rc, NULL, NULL, cx);
}

/* The poll and its counts for GET: 200 with the poll. */
static void on_got(int status, const json_t *result, const char *error, void *arg)
{
    chanhost_http *req = arg;
    const json_t *row = json_object_get(result, "poll");
    json_t *opts, *dense;

    if (status != 0) {
        store_failed(req, status, error);
        return;
    }
    opts = json_loads(json_string_value(json_object_get(row, "options")), 0, NULL);
    dense = dense_counts(json_object_get(result, "counts"), json_array_size(opts), 0);
    api->http_reply(req, 200, poll_json(row, dense));
    json_decref(dense);
    json_decref(opts);
}

/* GET /api/polls/<int:poll_id>/: the poll with its current results. */
static void polls_get(chanhost_http *req, void *state)
{
    const char *s = api->http_param(req, "poll_id");
    long long id;
    int rc;

    (void)state;
    errno = 0;
    id = strtoll(s ? s : "0", NULL, 10);
    if (errno || id <= 0) {
        store_failed(req, CHANHOST_STORE_ENOENT, NULL);
        return;
    }
    rc = api->store_exec("polls.get", json_pack("{s:I}", "id", (json_int_t)id), on_got, req);
    if (rc != 0)
        store_failed(req, rc, NULL);
}

static const chanhost_endpoint endpoints[] = {
    {"POST", "/api/polls/", CHANHOST_HTTP_USER, polls_create},
    {"GET", "/api/polls/<int:poll_id>/", CHANHOST_HTTP_USER, polls_get},
};

/* ---- the sweep timer -------------------------------------------------------- */

/* A poll closed by the sweep, read back: broadcast its final results. */
static void on_final(int status, const json_t *result, const char *error, void *arg)
{
    (void)arg;
    if (status != 0) {
        api->log(CHANHOST_LOG_WARN, "closed poll: %s", error ? error : chanhost_strerror(status));
        return;
    }
    broadcast_results(json_object_get(result, "poll"), json_object_get(result, "counts"));
}

/* The sweep's UPDATE committed: read and broadcast each poll it closed.
 * arg: the version's polls_state (alive: the call holds the version). */
static void on_closed(int status, const json_t *result, const char *error, void *arg)
{
    polls_state *st = arg;
    const json_t *row;
    size_t i;

    st->sweeping = 0;
    if (status != 0) {
        api->log(CHANHOST_LOG_WARN, "sweep: %s", error ? error : chanhost_strerror(status));
        return;
    }
    json_array_foreach(json_object_get(result, "closed"), i, row)
        api->store_exec("polls.get", json_pack("{s:O}", "id", json_object_get(row, "id")),
                        on_final, NULL);
}

/* Every sweep_ms: close the polls whose time is up (one call at a time;
 * several loaded versions may sweep at once, the UPDATE closes a poll
 * once). */
static void on_sweep(chanhost_timer *t, void *arg)
{
    polls_state *st = arg;

    (void)t;
    if (st->sweeping)
        return;
    if (api->store_exec("polls.close_due", json_object(), on_closed, st) == 0)
        st->sweeping = 1;
}

/* ---- load and unload -------------------------------------------------------- */

/* Keep the api (borrowed, valid while loaded) and start the sweep timer
 * (setting sweep_ms, default 1000).  *state: a new polls_state that fini
 * frees.  Returns 0, or -1 to refuse loading. */
static int polls_init(const chanhost_api *host, const json_t *settings, void **state)
{
    uint64_t every = (uint64_t)chk_setting_num(settings, "sweep_ms", 1000);
    polls_state *st = calloc(1, sizeof *st);

    api = host;
    if (!st)
        return -1;
    if (every < 10)
        every = 10;
    st->sweep = api->timer_start(every, every, on_sweep, st);
    if (!st->sweep) {
        free(st);
        return -1;
    }
    api->log(CHANHOST_LOG_INFO, "results format %d, sweep every %llu ms", POLLS_RESULTS_FORMAT,
             (unsigned long long)every);
    *state = st;
    return 0;
}

/* Unload: stop the sweep and free the state init made. */
static void polls_fini(void *state)
{
    polls_state *st = state;

    api->timer_stop(st->sweep);
    free(st);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(
    .name = "polls",
    .version = "1.0." STR(POLLS_RESULTS_FORMAT),
    .init = polls_init,
    .fini = polls_fini,
    .connect = polls_connect,
    .receive = polls_receive,
    .group_message = polls_group_message,
    .disconnect = polls_disconnect,
    .adopt = polls_adopt,
    .endpoints = endpoints,
    .n_endpoints = CHANHOST_N(endpoints),
    .schema = &schema,
);
