/*
 * support_http.c -- the support plugin's HTTP endpoint: the application
 * backend registers an ad, POST /api/ads/ {"ad_id", "publisher_id"}
 * (service token or admin; docs/api.md), which makes room ad:<ad_id>
 * (kind ad, private) with the publisher as its participant.  The ad's
 * publisher is whoever is a participant of that room (support.c), so a
 * second publisher for the same ad is refused (409 exists).
 *
 * Owns, per request, its chain (../common/chathttp.h), freed by the
 * answer.  The publisher id is taken as it is: the backend may keep its
 * users elsewhere.
 */
#include <stdio.h>

#include "../common/chatcore.h"
#include "../common/chathttp.h"
#include "support_http.h"

/* The publisher is a participant now: 201 for a new room, else 200. */
static void ad_answer(hc_call *call, int status, const json_t *result, const char *error)
{
    (void)result;
    if (status != 0) {
        hc_store_failed(call, status, error);
        return;
    }
    hc_reply(call, call->created ? 201 : 200,
             json_pack("{s:O, s:b}", "room", call->room, "created", call->created));
}

/* The ad room's participants: its publisher, or nobody yet (else 409). */
static void ad_listed(hc_call *call, int status, const json_t *result, const char *error)
{
    const json_t *ids = json_object_get(result, "user_ids"), *v;
    size_t i;
    int ours = 0;

    if (status != 0) {
        hc_store_failed(call, status, error);
        return;
    }
    json_array_foreach(ids, i, v) ours |= json_integer_value(v) == call->user;
    if (json_array_size(ids) > 0 && !ours) {
        hc_fail(call, 409, "exists", NULL, "that ad is registered to another publisher");
        return;
    }
    hc_exec(call, "participant.add", hc_room_user_streamed(call, call->user), ad_answer);
}

/* The ad's room (new or not): who is in it already? */
static void ad_made(hc_call *call, int status, const json_t *result, const char *error)
{
    if (status != 0) {
        hc_store_failed(call, status, error);
        return;
    }
    call->room = json_incref(json_object_get(result, "room"));
    call->created = json_is_true(json_object_get(result, "created"));
    hc_exec(call, "participant.list",
            json_pack("{s:O}", "room_id", json_object_get(call->room, "id")), ad_listed);
}

void sp_ads_register(chanhost_http *req, void *state)
{
    hc_call *call = hc_begin(((cc_plugin *)state)->api, req);
    json_int_t ad;
    char key[48];

    if (!call || hc_body_id(call, "ad_id", 1, &ad) ||
        hc_body_id(call, "publisher_id", 1, &call->user))
        return;
    snprintf(key, sizeof key, "ad:%lld", (long long)ad);
    hc_exec(call, "room.get_or_create", hc_private_room(key, "ad"), ad_made);
}
