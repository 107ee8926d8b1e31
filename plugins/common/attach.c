/*
 * attach.c -- files attached to the chat plugins' messages (docs/api.md,
 * "Attachments"): a new message's "attachments": [id...] are checked
 * against the store (the sender's own complete uploads to this room, not
 * attached to another message), their {id, name, type, size} kept in the
 * message's extra (so every frame and the REST history carry them), the
 * uploads linked to the message once it committed and deleted with it.
 * Compiled into each chat plugin with chatcore.c; no static state.
 */
#include <stdio.h>

#include "chatcore.h"

#define ATTACH_MAX 10 /* attachments on one message */
#define GET(o, k) json_object_get(o, k)

/* Nothing to do after a link or a purge but log a failure. */
static void on_settled(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status,
                       const json_t *result, json_t *data)
{
    (void)c;
    (void)cc;
    (void)result;
    if (status != 0)
        p->api->log(CHANHOST_LOG_WARN, "%s of a message's attachments failed (%d)",
                    json_string_value(GET(data, "what")), status);
}

/* attachment.list answered: every id must be there; then the append. */
static void on_listed(chanhost_conn *c, cc_conn *cc, cc_plugin *p, int status, const json_t *result,
                      json_t *data)
{
    const json_t *found = GET(result, "attachments"), *a;
    json_t *tag = GET(data, "tag"), *list;
    size_t i;

    if (!cc)
        return;
    if (status != 0) {
        cc_store_error(c, p, status, tag);
        return;
    }
    if (json_array_size(found) != json_array_size(GET(data, "ids"))) {
        cc_error(c, p, "bad_attachments",
                 "\"attachments\" must name your own uploads to this room, not yet attached", tag);
        return;
    }
    list = json_array();
    json_array_foreach(found, i, a)
        json_array_append_new(list, json_pack("{s:O, s:O, s:O, s:O}", "id", GET(a, "id"), "name",
                                              GET(a, "name"), "type", GET(a, "type"), "size",
                                              GET(a, "size")));
    cc_append(c, cc, GET(data, "text"), GET(data, "cmid"), tag, list);
    json_decref(list);
}

int cc_attach_check(chanhost_conn *c, cc_conn *cc, const json_t *in, json_t *cmid, json_t *tag)
{
    const json_t *ids = GET(in, "attachments"), *v;
    json_t *data;
    size_t i;
    int bad = !json_is_array(ids) || json_array_size(ids) > ATTACH_MAX;

    if (!ids || json_is_null(ids) || (json_is_array(ids) && json_array_size(ids) == 0))
        return 0;
    json_array_foreach(ids, i, v) bad |= !json_is_integer(v) || json_integer_value(v) < 1;
    if (bad) {
        cc_error(c, cc->p, "bad_request", "\"attachments\" must be a list of at most 10 upload ids",
                 tag);
        return 1;
    }
    data = json_pack("{s:O, s:O, s:O, s:O}", "text", GET(in, "message"), "cmid",
                     cmid ? cmid : json_null(), "tag", tag, "ids", ids);
    if (cmid == NULL)
        json_object_del(data, "cmid");
    cc_call_or_error(c, cc->p, "attachment.list",
                     json_pack("{s:O, s:I, s:I}", "ids", ids, "room_id", cc->room_id, "uploader_id",
                               cc->user_id),
                     on_listed, data);
    return 1;
}

void cc_attach_link(chanhost_conn *c, cc_plugin *p, const json_t *data, const json_t *id)
{
    const json_t *link = GET(data, "link"), *list = GET(GET(data, "out"), "attachments"), *a;
    json_t *ids;
    size_t i;

    if (!link || !json_is_integer(id))
        return;
    ids = json_array();
    json_array_foreach(list, i, a) json_array_append(ids, GET(a, "id"));
    cc_call(c, p, "attachment.link",
            json_pack("{s:o, s:O, s:O, s:O}", "ids", ids, "room_id", GET(link, "room_id"),
                      "uploader_id", GET(link, "uploader_id"), "message_id", id),
            on_settled, json_pack("{s:s}", "what", "linking"));
}

void cc_attach_purge(chanhost_conn *c, cc_plugin *p, const json_t *id)
{
    cc_call(c, p, "attachment.purge", json_pack("{s:O}", "message_id", id), on_settled,
            json_pack("{s:s}", "what", "deleting"));
}
