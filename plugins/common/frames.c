/*
 * frames.c -- the frames a new chat message makes, built with as little
 * as possible (compiled into each plugin, see chatcore.h; no state).  It
 * owns cc_send_ack: the acknowledgement of a stored message, written as
 * text without a jansson object, byte for byte what the compact encoding
 * of {"type":"ack","client_msg_id":V,"id":N} gives; and cc_new_msg_json:
 * the message's payload in one json_pack, not through the store's shape;
 * and cc_group: the name of the layer group a connection's frames go to,
 * made from its ids when asked, not kept per connection.
 */
#include <stdio.h>
#include <string.h>

#include "chatcore.h"

#define GET(o, k) json_object_get(o, k)

#define ACK_HEAD "{\"type\":\"ack\",\"client_msg_id\":"
#define ACK_MAX 1024 /* a client_msg_id is at most 100 bytes, 600 escaped */

/* Append the compact encoding of v (borrowed) to buf[*n..cap), or of null
 * for NULL.  Returns 0, or -1 when it does not fit. */
static int put_value(char *buf, size_t *n, size_t cap, const json_t *v)
{
    size_t len = json_dumpb(v ? v : json_null(), buf + *n, cap - *n,
                            JSON_COMPACT | JSON_ENCODE_ANY);

    if (len == 0 || len > cap - *n)
        return -1;
    *n += len;
    return 0;
}

/* See chatcore.h. */
void cc_send_ack(chanhost_conn *c, cc_plugin *p, const json_t *cmid, const json_t *id)
{
    char buf[ACK_MAX];
    size_t n = sizeof ACK_HEAD - 1;
    json_t *ack;

    if (!cmid)
        return;
    memcpy(buf, ACK_HEAD, n);
    if (put_value(buf, &n, sizeof buf - 1, cmid) == 0 && sizeof buf - n > 8) {
        memcpy(buf + n, ",\"id\":", 6);
        n += 6;
        if (put_value(buf, &n, sizeof buf - 1, id) == 0) {
            buf[n++] = '}';
            p->api->send_text(c, buf, n);
            return;
        }
    }
    ack = json_pack("{s:s, s:O, s:O}", "type", "ack", "client_msg_id", cmid, "id",
                    id ? id : json_null()); /* longer than ACK_MAX */
    p->api->send_json(c, ack);
    json_decref(ack);
}

/* See chatcore.h. */
json_t *cc_new_msg_json(const cc_conn *cc, const json_t *text, const json_t *extra)
{
    json_t *o = json_pack("{s:s, s:n, s:O, s:O, s:I, s:n, s:n, s:I, s:n, s:b, s:[]}", "type",
                          cc->p->kind->msg_type, "id", "message", text, "username",
                          GET(extra, "username"), "user_id", cc->user_id, "timestamp",
                          "client_msg_id", "room_id", cc->room_id, "edited_at", "is_deleted", 0,
                          "read_by");

    if (o && cc->p->kind->id_field)
        json_object_set_new(o, cc->p->kind->id_field, json_integer(cc->public_id));
    if (o && json_array_size(GET(extra, "attachments")))
        json_object_set(o, "attachments", GET(extra, "attachments"));
    return o;
}

/* The name of cc's layer group (chatcore.h; cc borrowed, buf the
 * caller's CC_GROUP_MAX bytes): a kind's own copy (group_offset), else
 * made into buf, which is returned. */
const char *cc_group(const cc_conn *cc, char *buf)
{
    size_t off = cc->p->kind->group_offset;

    if (off)
        return (const char *)cc + off;
    if (cc->lobby)
        snprintf(buf, CC_GROUP_MAX, "user_%lld", (long long)cc->user_id);
    else if (cc->room_id > 0)
        snprintf(buf, CC_GROUP_MAX, "%s%lld", cc->p->set.group_prefix,
                 (long long)(cc->public_id > 0 ? cc->public_id : cc->room_id));
    else
        buf[0] = '\0';
    return buf;
}
