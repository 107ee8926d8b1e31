/*
 * notes -- a test plugin with store tables of its own (SDK 1.2,
 * chanhost_schema): notes with a sealed body, and, when built with
 * -DNOTES_V2 (tests/integration/test_plugin_store.py rebuilds it so), a
 * second migration adding votes and the op "vote".  Its ops are called as
 * "<route's plugin name>.add" etc.
 *
 * The client sends {"id": N, "op": "notes.add", "params": {...}} (any op,
 * the host's too); the plugin answers {"id": N, "status": S, "result":
 * {...}, "version": "1" or "2"} once the store has (for writes: after
 * the commit), or {"id": N, "status": S, "error": "..."}.
 */
#include <stdlib.h>
#include <string.h>

#include "chanhost.h"

#ifdef NOTES_V2
#define NOTES_VERSION "2"
#else
#define NOTES_VERSION "1"
#endif

static const chanhost_api *api;

static const chanhost_migration migrations[] = {
    {1,
     "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner BIGINT NOT NULL,"
     " title TEXT NOT NULL UNIQUE, body TEXT, created_at BIGINT NOT NULL)",
     "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL,"
     " title TEXT NOT NULL UNIQUE, body TEXT, created_at BIGINT NOT NULL)"},
#ifdef NOTES_V2
    {2,
     "CREATE TABLE notes_votes (note_id BIGINT NOT NULL, user_id BIGINT NOT NULL,"
     " PRIMARY KEY (note_id, user_id));"
     " CREATE INDEX notes_votes_user ON notes_votes (user_id)",
     NULL},
#endif
};

static const char *const p_add[] = {"owner", "title", "seal:body", "@now", NULL};
static const char *const p_id[] = {"id", NULL};
static const char *const p_owner[] = {"owner", NULL};

static const chanhost_step add_steps[] = {
    {"INSERT INTO notes (owner, title, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
     NULL, p_add, CHANHOST_ROWS_ONE, NULL},
};
static const chanhost_step get_steps[] = {
    {"SELECT id, owner, title, body FROM notes WHERE id = $1", NULL, p_id, CHANHOST_ROWS_ONE,
     "note"},
};
static const chanhost_step list_steps[] = {
    {"SELECT id, title, body FROM notes WHERE owner = $1 ORDER BY id", NULL, p_owner,
     CHANHOST_ROWS_ALL, "notes"},
};
#ifdef NOTES_V2
static const char *const p_vote[] = {"note_id", "user_id", NULL};
static const char *const p_note[] = {"note_id", NULL};
static const chanhost_step vote_steps[] = {
    {"INSERT INTO notes_votes (note_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", NULL,
     p_vote, CHANHOST_ROWS_NONE, NULL},
    {"SELECT count(*) AS votes FROM notes_votes WHERE note_id = $1", NULL, p_note,
     CHANHOST_ROWS_ONE, NULL},
};
#endif

static const chanhost_op ops[] = {
    {"add", 1, add_steps, CHANHOST_N(add_steps)},
    {"get", 0, get_steps, CHANHOST_N(get_steps)},
    {"list", 0, list_steps, CHANHOST_N(list_steps)},
#ifdef NOTES_V2
    {"vote", 1, vote_steps, CHANHOST_N(vote_steps)},
#endif
};

static const char *const sealed[] = {"notes.body", NULL};
static const char *const tables[] = {"notes",
#ifdef NOTES_V2
                                     "notes_votes",
#endif
                                     NULL};

static const chanhost_schema schema = {
    migrations, CHANHOST_N(migrations), ops, CHANHOST_N(ops), sealed, tables,
};

static int notes_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

/* The store answered: c is NULL if the client left meanwhile. */
static void on_result(chanhost_conn *c, int status, const json_t *result, const char *error,
                      void *arg)
{
    json_t *reply = arg;

    if (c) {
        json_object_set_new(reply, "status", json_integer(status));
        if (result)
            json_object_set(reply, "result", (json_t *)result);
        if (error)
            json_object_set_new(reply, "error", json_string(error));
        api->send_json(c, reply);
    }
    json_decref(reply);
}

static void notes_receive(chanhost_conn *c, void *state, const char *data, size_t len, int bin)
{
    json_t *in = json_loadb(data, len, 0, NULL);
    const char *op = json_string_value(json_object_get(in, "op"));
    json_t *params = json_object_get(in, "params"), *reply;
    int rc;

    (void)state;
    reply = json_pack("{s:O?, s:s}", "id", json_object_get(in, "id"), "version", NOTES_VERSION);
    if (bin || !op || !json_is_object(params)) {
        json_object_set_new(reply, "error", json_string("expected {\"id\", \"op\", \"params\"}"));
        api->send_json(c, reply);
        json_decref(reply);
        json_decref(in);
        return;
    }
    rc = api->store_call(c, op, json_incref(params), on_result, reply);
    if (rc != 0) {
        json_object_set_new(reply, "status", json_integer(rc));
        json_object_set_new(reply, "error", json_string("refused"));
        api->send_json(c, reply);
        json_decref(reply);
    }
    json_decref(in);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor = CHANHOST_PLUGIN_INIT(.name = "notes",
                                                                         .version = NOTES_VERSION
                                                                         ".0",
                                                                         .init = notes_init,
                                                                         .receive = notes_receive,
                                                                         .schema = &schema, );
