/*
 * layer_cr_codec.c -- owns the channels_redis message codec, with no I/O:
 * JSON objects to msgpack maps as Python's msgpack packs the same dicts,
 * inbox members (12 random bytes + body) back to JSON objects and their
 * target channels.  msgpack-c (libmsgpack-dev) does the bytes.  Unit-tested
 * against bytes made by channels_redis itself (tests/unit/test_layer_cr.c)
 * and fuzzed (tests/fuzz/fuzz_cr_codec.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "layer_cr.h"

#define CR_DEPTH_MAX 64 /* nesting of JSON values packed */

/* ---- packing ---------------------------------------------------------- */

static int pack_value(msgpack_packer *pk, const json_t *v, int depth);

static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    if (msgpack_pack_str(pk, len) != 0 || msgpack_pack_str_body(pk, s, len) != 0)
        return -ENOMEM;
    return 0;
}

/* The entries of obj (borrowed) after a header of size + extra. */
static int pack_object(msgpack_packer *pk, const json_t *obj, int extra, int depth)
{
    const char *key;
    json_t *val;

    if (msgpack_pack_map(pk, json_object_size(obj) + (size_t)extra) != 0)
        return -ENOMEM;
    json_object_foreach((json_t *)obj, key, val)
    {
        int rc = pack_str(pk, key, strlen(key));

        if (rc == 0)
            rc = pack_value(pk, val, depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One JSON value (borrowed) as msgpack. */
static int pack_value(msgpack_packer *pk, const json_t *v, int depth)
{
    int rc = 0;

    if (depth > CR_DEPTH_MAX)
        return -EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return pack_object(pk, v, 0, depth);
    case JSON_ARRAY:
        if (msgpack_pack_array(pk, json_array_size(v)) != 0)
            return -ENOMEM;
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++)
            rc = pack_value(pk, json_array_get(v, i), depth + 1);
        return rc;
    case JSON_STRING:
        return pack_str(pk, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        rc = msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        rc = msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        rc = msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        rc = msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        rc = msgpack_pack_nil(pk);
        break;
    }
    return rc != 0 ? -ENOMEM : 0;
}

int ch_cr_pack_map(msgpack_packer *pk, const json_t *obj, int extra)
{
    if (!json_is_object(obj) || json_object_get(obj, CH_CR_CHANNEL_KEY))
        return -EINVAL;
    return pack_object(pk, obj, extra, 0);
}

char *ch_cr_member(const json_t *obj, const char *channel, size_t *len)
{
    char rnd[CH_CR_RANDOM];
    msgpack_sbuffer sb;
    msgpack_packer pk;

    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return NULL;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_sbuffer_write(&sb, rnd, sizeof rnd) != 0 ||
        ch_cr_pack_map(&pk, obj, channel != NULL) != 0 ||
        (channel && (pack_str(&pk, CH_CR_CHANNEL_KEY, strlen(CH_CR_CHANNEL_KEY)) != 0 ||
                     pack_str(&pk, channel, strlen(channel)) != 0))) {
        msgpack_sbuffer_destroy(&sb);
        return NULL;
    }
    *len = sb.size;
    return msgpack_sbuffer_release(&sb);
}

/* ---- unpacking -------------------------------------------------------- */

/* A JSON value (new reference) for o, or NULL with *why. */
static json_t *to_json(const msgpack_object *o, const char **why, int depth);

/* A str or bin as a JSON string (it must be UTF-8). */
static json_t *str_json(const char *p, uint32_t n, const char **why)
{
    json_t *s = json_stringn(n ? p : "", n); /* an empty one's p may be NULL */

    if (!s)
        *why = "a string is not UTF-8";
    return s;
}

static json_t *map_json(const msgpack_object_map *m, const char **why, int depth)
{
    json_t *obj = json_object();

    for (uint32_t i = 0; obj && i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        char key[256];
        json_t *v;

        if ((k->type != MSGPACK_OBJECT_STR && k->type != MSGPACK_OBJECT_BIN) ||
            k->via.str.size >= sizeof key ||
            (k->via.str.size && memchr(k->via.str.ptr, 0, k->via.str.size))) {
            *why = "a map key is not a short string";
            json_decref(obj);
            return NULL;
        }
        if (k->via.str.size) /* an empty key's ptr may be NULL */
            memcpy(key, k->via.str.ptr, k->via.str.size);
        key[k->via.str.size] = '\0';
        v = to_json(&m->ptr[i].val, why, depth + 1);
        if (!v || json_object_set_new(obj, key, v) != 0) {
            if (v)
                *why = "a map key is not UTF-8";
            json_decref(obj);
            return NULL;
        }
    }
    if (!obj)
        *why = "out of memory";
    return obj;
}

static json_t *to_json(const msgpack_object *o, const char **why, int depth)
{
    json_t *v = NULL, *a;

    if (depth > CR_DEPTH_MAX) {
        *why = "nested too deeply";
        return NULL;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            break;
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            break;
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
        return str_json(o->via.str.ptr, o->via.str.size, why);
    case MSGPACK_OBJECT_ARRAY:
        a = json_array();
        for (uint32_t i = 0; a && i < o->via.array.size; i++) {
            v = to_json(&o->via.array.ptr[i], why, depth + 1);
            if (!v || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    case MSGPACK_OBJECT_MAP:
        return map_json(&o->via.map, why, depth);
    default:
        break;
    }
    *why = "a value has no JSON form (ext, non-finite float or integer beyond int64)";
    return NULL;
}

/* Move "__asgi_channel__" (a str or an array of str) out of obj into a
 * new array of names.  Absent: an empty array.  NULL with *why. */
static json_t *take_targets(json_t *obj, const char **why)
{
    json_t *ch = json_object_get(obj, CH_CR_CHANNEL_KEY), *out;
    size_t i;
    json_t *v;

    if (!ch)
        return json_array();
    if (json_is_string(ch)) {
        out = json_array();
        if (out)
            json_array_append(out, ch);
    } else if (json_is_array(ch)) {
        json_array_foreach(ch, i, v)
        {
            if (!json_is_string(v)) {
                *why = "__asgi_channel__ holds a non-string";
                return NULL;
            }
        }
        out = json_incref(ch);
    } else {
        *why = "__asgi_channel__ is neither a string nor a list";
        return NULL;
    }
    json_object_del(obj, CH_CR_CHANNEL_KEY);
    return out;
}

/* Big-endian unsigned of k (1, 2 or 4) bytes at p. */
static size_t be_uint(const uint8_t *p, int k)
{
    size_t v = 0;

    for (int i = 0; i < k; i++)
        v = v << 8 | p[i];
    return v;
}

/* Whether p[0..n) is one msgpack value whose containers declare no more
 * elements than there are bytes left (each takes at least one).  Checked
 * before msgpack-c unpacks: it allocates a container's elements from the
 * declared count, so a 5-byte map32 header could ask for 64 GiB (found by
 * fuzz_cr_codec).  Only the framing is checked, in one pass. */
static int msgpack_frame_ok(const uint8_t *p, size_t n)
{
    size_t pos = 0, need = 1;

    while (need > 0) {
        uint8_t b;
        size_t head = 1, body = 0, kids = 0;

        if (pos >= n || need > n - pos)
            return 0;
        b = p[pos];
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            ;
        else if (b <= 0x8f)
            kids = 2 * (size_t)(b & 0x0f);
        else if (b <= 0x9f)
            kids = b & 0x0f;
        else if (b <= 0xbf)
            body = b & 0x1f;
        else if (b >= 0xc4 && b <= 0xc9) { /* bin8/16/32, ext8/16/32 */
            int k = 1 << ((b - 0xc4) % 3);
            head = 1 + k + (b >= 0xc7);
            if (n - pos < head)
                return 0;
            body = be_uint(p + pos + 1, k);
        } else if (b >= 0xca && b <= 0xd3) { /* float32/64, (u)int8..64 */
            static const uint8_t size[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
            body = size[b - 0xca];
        } else if (b >= 0xd4 && b <= 0xd8) /* fixext 1..16 */
            body = 1 + ((size_t)1 << (b - 0xd4));
        else if (b >= 0xd9 && b <= 0xdb) { /* str8/16/32 */
            int k = 1 << (b - 0xd9);
            head = 1 + k;
            if (n - pos < head)
                return 0;
            body = be_uint(p + pos + 1, k);
        } else if (b >= 0xdc && b <= 0xdf) { /* array16/32, map16/32 */
            int k = b & 1 ? 4 : 2;
            head = 1 + k;
            if (n - pos < head)
                return 0;
            kids = be_uint(p + pos + 1, k) * (b >= 0xde ? 2 : 1);
        } else
            return 0; /* 0xc1: never used */
        if (n - pos < head || n - pos - head < body)
            return 0;
        pos += head + body;
        need = need - 1 + kids;
    }
    return pos == n;
}

int ch_cr_decode(const void *buf, size_t len, ch_cr_msg *out, const char **why)
{
    msgpack_unpacked u;
    size_t off = 0;
    json_t *obj = NULL;

    out->obj = out->targets = NULL;
    if (len <= CH_CR_RANDOM) {
        *why = "shorter than the random prefix";
        return -EINVAL;
    }
    if (!msgpack_frame_ok((const uint8_t *)buf + CH_CR_RANDOM, len - CH_CR_RANDOM)) {
        *why = "not one complete msgpack value";
        return -EINVAL;
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)buf + CH_CR_RANDOM, len - CH_CR_RANDOM, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != len - CH_CR_RANDOM)
        *why = "not one complete msgpack value";
    else if (u.data.type != MSGPACK_OBJECT_MAP)
        *why = "not a msgpack map";
    else
        obj = to_json(&u.data, why, 0);
    msgpack_unpacked_destroy(&u);
    if (!obj)
        return -EINVAL;
    out->targets = take_targets(obj, why);
    if (!out->targets) {
        json_decref(obj);
        return -EINVAL;
    }
    out->obj = obj;
    return 0;
}
