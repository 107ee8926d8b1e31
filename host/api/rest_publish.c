/*
 * rest_publish.c -- owns POST /api/publish/ (service token): a backend
 * without Redis access hands messages to the channel layer over HTTP, as
 * Centrifugo's server API does.  The body is one item or a JSON list of
 * them:
 *
 *   {"group": "<group>", "message": {"type": "...", ...}}
 *   {"channel": "<channel name>", "message": {"type": "...", ...}}
 *
 * Every item is checked before any is sent (a bad one answers 400 and
 * sends nothing); then each goes through the SDK's group_send /
 * channel_send, the very path of a plugin's send (the same size limit,
 * counters and layer), and the answer, 200 {"results": [{"ok": true} |
 * {"ok": false, "error": "..."}, ...]} in the items' order, comes after
 * the layer took each.  Generic: nothing here knows a message type.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "chanhost.h"
#include "rest.h"

#define PUBLISH_MAX_ITEMS 1000
#define NAME_MAX_LEN 99 /* Channels: names are shorter than 100 */

/* Channels' name rule: 1..99 of [A-Za-z0-9-_.]; a channel name may hold
 * one '!' (the layer checks it again). */
static int name_ok(const char *s, int channel)
{
    size_t n = s ? strlen(s) : 0;
    int bangs = 0;

    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '!' && channel && ++bangs == 1 && i > 0)
            continue;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

/* Check item i (borrowed).  Returns 0, or answers 400 and returns -1. */
static int item_check(ch_rest *r, const json_t *item, size_t i)
{
    const json_t *g = json_object_get(item, "group"), *ch = json_object_get(item, "channel");
    const json_t *msg = json_object_get(item, "message");
    char at[32] = "";

    if (json_is_array(r->body))
        snprintf(at, sizeof at, "item %zu: ", i);
    if (!json_is_object(item)) {
        ch_rest_fail(r, 400, "invalid", "%san item must be a JSON object", at);
        return -1;
    }
    if (!g == !ch) {
        ch_rest_fail(r, 400, "invalid", "%sgive exactly one of \"group\" and \"channel\"", at);
        return -1;
    }
    if (g && !name_ok(json_string_value(g), 0)) {
        ch_rest_fail(r, 400, "invalid", "%s\"group\" must be 1..99 characters of A-Z a-z 0-9 - _ .",
                     at);
        return -1;
    }
    if (ch && !name_ok(json_string_value(ch), 1)) {
        ch_rest_fail(r, 400, "invalid",
                     "%s\"channel\" must be 1..99 characters of A-Z a-z 0-9 - _ . and at most "
                     "one !",
                     at);
        return -1;
    }
    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "type"))) {
        ch_rest_fail(r, 400, "invalid", "%s\"message\" must be an object with a string \"type\"",
                     at);
        return -1;
    }
    return 0;
}

/* Hand item (checked, borrowed) to the layer; its result object (new). */
static json_t *item_send(const json_t *item)
{
    const chanhost_api *api = ch_api_table();
    const json_t *g = json_object_get(item, "group"), *msg = json_object_get(item, "message");
    int rc = g ? api->group_send(json_string_value(g), msg)
               : api->channel_send(json_string_value(json_object_get(item, "channel")), msg);

    if (rc == CHANHOST_OK)
        return json_pack("{s:b}", "ok", 1);
    return json_pack("{s:b, s:s}", "ok", 0, "error", chanhost_strerror(rc));
}

void ch_rest_publish(ch_rest *r)
{
    int list = json_is_array(r->body);
    size_t n = list ? json_array_size(r->body) : 1;
    json_t *results;

    if (n == 0 || n > PUBLISH_MAX_ITEMS) {
        ch_rest_fail(r, 400, "invalid", "send 1..%d items", PUBLISH_MAX_ITEMS);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (item_check(r, list ? json_array_get(r->body, i) : r->body, i) != 0)
            return;
    }
    results = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results, item_send(list ? json_array_get(r->body, i) : r->body));
    ch_rest_reply(r, 200, json_pack("{s:o}", "results", results), NULL);
}
