/*
 * store_django.c -- the operations of Django logins (store_django.h): the
 * reads of a Django project's django_session, auth_user and
 * authtoken_token tables, and the mirror of a Django user into chanhost's
 * users table.  The Django tables are Django's: these statements only
 * read them, with the column types Django 3.2 / 4.x create on SQLite and
 * PostgreSQL (expire_date: naive UTC text on SQLite, timestamptz on
 * PostgreSQL; is_active: a boolean).
 */
#include "store_django.h"
#include "store_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define USER_COLS                                                 \
    "u.id AS id, u.username AS username, u.password AS password," \
    " CASE WHEN u.is_active THEN 1 ELSE 0 END AS is_active"

/* A key parameter of 1..64 characters of [0-9A-Za-z]. */
static int check_key(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"key", 's', 1, 1, 64}, {NULL, 0, 0, 0, 0}};
    const char *k;

    if (ch_st_check(req, spec) != 0)
        return req->status;
    k = json_string_value(json_object_get(req->params, "key"));
    if (strspn(k, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(k))
        return ch_store_fail(req, CH_STORE_EINVAL, "key: letters and digits only");
    return 0;
}

/* django.session {key}: ctx "now" is the time of the call as Django
 * writes expire_date on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff", UTC). */
static int prep_session(ch_store_req *req)
{
    time_t t = (time_t)(req->now_ms / 1000);
    struct tm tm;
    char now[96];

    if (check_key(req) != 0)
        return req->status;
    gmtime_r(&t, &tm);
    snprintf(now, sizeof now, "%04d-%02d-%02d %02d:%02d:%02d.%06d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(req->now_ms % 1000) * 1000);
    json_object_set_new(req->ctx, "now", json_string(now));
    return 0;
}

CH_ST_BIND(bind_session, "key", "@now")

static int rows_session(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such session");
    req->result = json_pack("{s:s}", "data", ch_st_str(json_array_get(rows, 0), "session_data"));
    return CH_STEP_DONE;
}

static const ch_store_step session_steps[] = {
    {"SELECT session_data FROM django_session WHERE session_key = $1 AND expire_date > $2",
     bind_session, rows_session},
};

static const ch_store_step session_pg_steps[] = {
    {"SELECT session_data FROM django_session WHERE session_key = $1"
     " AND expire_date > (CAST($2 AS timestamp) AT TIME ZONE 'UTC')",
     bind_session, rows_session},
};

/* django.user {id}. */
static int prep_user(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, INT64_MAX}, {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_id, "id")
CH_ST_BIND(bind_key, "key")

/* The user row into {"user": {id, username, password, is_active}}. */
static int rows_user(ch_store_req *req, json_t *rows)
{
    const json_t *row = json_array_get(rows, 0);

    if (!row)
        return ch_store_fail(req, CH_STORE_ENOENT, "no such user");
    req->result = json_pack("{s:{s:I, s:s, s:s, s:b}}", "user", "id",
                            (json_int_t)ch_st_int(row, "id"), "username",
                            ch_st_str(row, "username"), "password", ch_st_str(row, "password"),
                            "is_active", ch_st_int(row, "is_active") != 0);
    return CH_STEP_DONE;
}

static const ch_store_step user_steps[] = {
    {"SELECT " USER_COLS " FROM auth_user u WHERE u.id = $1", bind_id, rows_user},
};

static const ch_store_step token_steps[] = {
    {"SELECT " USER_COLS " FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id"
     " WHERE t.key = $1",
     bind_key, rows_user},
};

/* user.mirror {id, username}. */
static int prep_mirror(ch_store_req *req)
{
    static const ch_pspec spec[] = {{"id", 'i', 1, 1, INT64_MAX},
                                    {"username", 's', 1, 1, 150},
                                    {NULL, 0, 0, 0, 0}};

    return ch_st_check(req, spec);
}

CH_ST_BIND(bind_mirror, "id", "username", "now")

static int rows_mirrored(ch_store_req *req, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return ch_store_fail(req, CH_STORE_EEXIST, "username taken by another user");
    req->result = json_pack("{s:I}", "id", (json_int_t)ch_st_int(json_array_get(rows, 0), "id"));
    return CH_STEP_NEXT;
}

/* The unusable password "!" (Django's prefix) never matches a login. */
#define MIRROR                                                                       \
    {                                                                                \
        "INSERT INTO users (id, username, password, role, is_active, created_at)"    \
        " VALUES ($1, $2, '!', 'user', 1, $3)"                                       \
        " ON CONFLICT (id) DO UPDATE SET username = excluded.username RETURNING id", \
            bind_mirror, rows_mirrored                                               \
    }

static const ch_store_step mirror_steps[] = {MIRROR};
static const ch_store_step mirror_pg_steps[] = {
    MIRROR,
    {"SELECT setval('users_id_seq', GREATEST((SELECT coalesce(max(id), 1) FROM users),"
     " (SELECT last_value FROM users_id_seq))) AS v",
     NULL, NULL},
};

static const ch_store_op ops[] = {
    CH_ST_OP2("django.session", 0, prep_session, session_steps, session_pg_steps),
    CH_ST_OP("django.user", 0, prep_user, user_steps),
    CH_ST_OP("django.token", 0, check_key, token_steps),
    CH_ST_OP2("user.mirror", 1, prep_mirror, mirror_steps, mirror_pg_steps),
};

const ch_store_op *ch_st_django_op(const char *name) { return ch_st_find(ops, CH_ST_N(ops), name); }
