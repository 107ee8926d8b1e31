/*
 * frames.c -- the frames a new chat message makes, built with as little
 * as possible (compiled into each plugin, see chatcore.h; no state).  It
 * owns cc_send_ack: the acknowledgement of a stored message, written as
 * text without a jansson object, byte for byte what the compact encoding
 * of {"type":"ack","client_msg_id":V,"id":N} gives; and cc_new_msg_json:
 * the message's payload, not through the store's shape, and
 * cc_append_params: the append's parameters, both set key by key; and
 * cc_group: the name of the layer group a connection's frames go to,
 * made from its ids when asked, not kept per connection.
 */
#include <stdio.h>
#include <string.h>

#include "chatcore.h"

#define GET(o, k) json_object_get(o, k)

#define ACK_HEAD "{\"type\":\"ack\",\"client_msg_id\":"
#define ACK_MAX 1024 /* a client_msg_id is at most 100 bytes, 600 escaped */

/* The decimal text of v into the end of buf[0..24): its first byte. */
static char *decimal(char buf[24], long long v)
{
    char *p = buf + 23;
    unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;

    *p = '\0';
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return p;
}

/* v's compact encoding into buf[*n..cap) when it is an integer or a
 * string that needs no escape (what a client_msg_id and an id nearly
 * always are): 0, or -1 (nothing written) for anything else, which goes
 * through jansson. */
static int put_plain(char *buf, size_t *n, size_t cap, const json_t *v)
{
    char num[24], *d;
    const char *s;
    size_t len, i;

    if (json_is_integer(v)) {
        d = decimal(num, (long long)json_integer_value(v));
        len = strlen(d);
        if (len > cap - *n)
            return -1;
        memcpy(buf + *n, d, len);
        *n += len;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    len = json_string_length(v);
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return -1;
    }
    if (len + 2 > cap - *n)
        return -1;
    buf[*n] = '"';
    memcpy(buf + *n + 1, s, len);
    buf[*n + 1 + len] = '"';
    *n += len + 2;
    return 0;
}

/* Append the compact encoding of v (borrowed) to buf[*n..cap), or of null
 * for NULL: put_plain's, else jansson's.  Returns 0, or -1 when it does
 * not fit. */
static int put_value(char *buf, size_t *n, size_t cap, const json_t *v)
{
    size_t len;

    if (v && put_plain(buf, n, cap, v) == 0)
        return 0;
    len = json_dumpb(v ? v : json_null(), buf + *n, cap - *n, JSON_COMPACT | JSON_ENCODE_ANY);

    if (len == 0 || len > cap - *n)
        return -1;
    *n += len;
    return 0;
}

/* See chatcore.h: snprintf's "%s%lld" without its set-up (about 900
 * instructions a call, made per message). */
char *cc_name_id(char *buf, size_t size, const char *prefix, long long id)
{
    char num[24];
    const char *d = decimal(num, id);
    size_t a = strlen(prefix), b = strlen(d);

    if (size == 0)
        return buf;
    if (a >= size)
        a = size - 1;
    memcpy(buf, prefix, a);
    if (b > size - 1 - a)
        b = size - 1 - a;
    memcpy(buf + a, d, b);
    buf[a + b] = '\0';
    return buf;
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

/* Set o's key k (a constant ASCII name: no UTF-8 check) to v (stolen;
 * NULL fails).  Returns 0 or -1, as json_object_set_new does. */
static int set(json_t *o, const char *k, json_t *v) { return json_object_set_new_nocheck(o, k, v); }

/* v (borrowed) as a new reference; NULL stays NULL (then set fails, as
 * json_pack's "O" does). */
static json_t *ref(const json_t *v) { return json_incref((json_t *)v); }

/* See chatcore.h.  Built key by key, not by json_pack: no format to
 * parse, no UTF-8 check of the constant keys. */
json_t *cc_new_msg_json(const cc_conn *cc, const json_t *text, const json_t *extra)
{
    json_t *o = json_object();
    int bad;

    if (!o)
        return NULL;
    bad = set(o, "type", json_string_nocheck(cc->p->kind->msg_type));
    bad |= set(o, "id", json_null());
    bad |= set(o, "message", ref(text));
    bad |= set(o, "username", ref(GET(extra, "username")));
    bad |= set(o, "user_id", json_integer(cc->user_id));
    bad |= set(o, "timestamp", json_null());
    bad |= set(o, "client_msg_id", json_null());
    bad |= set(o, "room_id", json_integer(cc->room_id));
    bad |= set(o, "edited_at", json_null());
    bad |= set(o, "is_deleted", json_false());
    bad |= set(o, "read_by", json_array());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    if (cc->p->kind->id_field)
        json_object_set_new(o, cc->p->kind->id_field, json_integer(cc->public_id));
    if (json_array_size(GET(extra, "attachments")))
        json_object_set(o, "attachments", GET(extra, "attachments"));
    return o;
}

/* See chatcore.h. */
json_t *cc_append_params(const cc_conn *cc, const json_t *text, json_t *cmid, const json_t *extra)
{
    const cc_plugin *p = cc->p;
    json_t *o = json_object();
    int bad;

    if (!o)
        return NULL;
    bad = set(o, "room_id", json_integer(cc->room_id));
    bad |= set(o, "sender_id", json_integer(cc->user_id));
    bad |= set(o, "content", ref(text));
    bad |= set(o, "extra", ref(extra));
    bad |= set(o, "participant", json_true());
    if (cmid)
        bad |= set(o, "client_msg_id", ref(cmid));
    if (p->kind->append_unread)
        bad |= set(o, "unread", json_true());
    if (p->kind->append_unread && CHANHOST_API_HAS(p->api, timer_start))
        bad |= set(o, "unread_defer", json_true());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* See chatcore.h. */
json_t *cc_append_data(const cc_conn *cc, json_t *out, json_t *tag)
{
    char group[CC_GROUP_MAX];
    json_t *d = json_object();

    if (!d || !out || set(d, "out", out) != 0 ||
        set(d, "group", json_string_nocheck(cc_group(cc, group))) != 0 ||
        set(d, "tag", ref(tag)) != 0 ||
        set(d, "room", ref(cc->room ? cc->room : json_null())) != 0) {
        if (!d)
            json_decref(out);
        json_decref(d);
        return NULL;
    }
    return d;
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
        cc_name_id(buf, CC_GROUP_MAX, "user_", cc->user_id);
    else if (cc->room_id > 0)
        cc_name_id(buf, CC_GROUP_MAX, cc->p->set.group_prefix,
                   cc->public_id > 0 ? cc->public_id : cc->room_id);
    else
        buf[0] = '\0';
    return buf;
}
