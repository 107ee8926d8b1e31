/*
 * chathttp.h -- what the chat plugins' HTTP endpoints (SDK 1.2) share,
 * compiled into each plugin that serves some (plugins/common/chathttp.c):
 *
 *   - answers in the host's error shape {"error", "message", "field"?},
 *     with the host's words for a missing body, a bad id and a store
 *     failure, so that an endpoint a plugin serves answers as the host's
 *     own routes do (docs/api.md);
 *   - a request's chain of store calls (api->store_exec): one ch_call per
 *     request, owned by the chain until its one answer, which frees it.
 *
 * Everything runs on the host's loop thread.  Only chanhost.h is
 * included: a plugin builds with `-I sdk` alone.
 */
#ifndef CHATHTTP_H
#define CHATHTTP_H

#include "chanhost.h"

typedef struct hc_call hc_call;

/* The next step of a chain: the store's status, result and error
 * (borrowed, valid during the step only). */
typedef void (*hc_step)(hc_call *call, int status, const json_t *result, const char *error);

/* One request's chain: made by hc_begin, freed by its answer. */
struct hc_call {
    const chanhost_api *api; /* borrowed: the plugin's */
    chanhost_http *req;      /* borrowed: the host's, until answered */
    json_t *room;            /* owned (or NULL): the room the chain found */
    int created;             /* room.get_or_create made the room */
    json_int_t id;           /* the path's id (0: none) */
    json_int_t user;         /* the body's user id */
    hc_step next;            /* what runs when the store answers */
};

/* A new chain for req (borrowed), or NULL after answering 500. */
hc_call *hc_begin(const chanhost_api *api, chanhost_http *req);

/* Answer the request with status and body (stolen; NULL: no body) and
 * free call. */
void hc_reply(hc_call *call, int status, json_t *body);

/* Answer {"error": code, "message": ..., "field": field (if not NULL)}
 * (printf format) and free call. */
void hc_fail(hc_call *call, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Answer a failed store status as the host does (404 not_found, 409
 * exists, 400 invalid, 403 forbidden, 503 busy / store_unavailable;
 * error: the store's text, borrowed, may be NULL) and free call. */
void hc_store_failed(hc_call *call, int status, const char *error);

/* The body's field as a positive integer into *out (0 when absent and
 * not required).  Returns 0, or answers 400 (a missing body:
 * invalid_json; a bad field: invalid with the field), frees call and
 * returns -1. */
int hc_body_id(hc_call *call, const char *field, int required, json_int_t *out);

/* The path parameter name as the host's positive ids (no leading zero, at
 * most 19 digits, no overflow) into call->id.  Returns 0, or answers 404
 * not_found (as for a path no route takes), frees call and returns -1. */
int hc_path_id(hc_call *call, const char *name);

/* Run op with params (stolen); next runs when the store answers.  A
 * refusal at once is answered (hc_store_failed) and frees call. */
void hc_exec(hc_call *call, const char *op, json_t *params, hc_step next);

/* Parameters of room.get_or_create for a private room key of kind
 * (borrowed; new reference). */
json_t *hc_private_room(const char *key, const char *kind);

/* {room_id: the room's id in call->room, user_id: user} (new reference). */
json_t *hc_room_user(const hc_call *call, json_int_t user);

/* hc_room_user with "stream": true: the membership change takes a
 * position in the room's stream, so a client resuming with ?since_pos=
 * hears of it (docs/store.md, "Streams"; new reference). */
json_t *hc_room_user_streamed(const hc_call *call, json_int_t user);

/* A step that answers a streamed change's result without the stream's
 * "pos" and "epoch" (200, the answer as before streams), or its failure. */
void hc_answer_change(hc_call *call, int status, const json_t *result, const char *error);

#endif /* CHATHTTP_H */
