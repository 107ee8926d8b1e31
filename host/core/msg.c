/*
 * msg.c -- owns ch_buf (refcounted byte buffers), the encoding of
 * unmasked server WebSocket frame headers (RFC 6455 section 5.2), and
 * ch_msg (a channel-layer message: its JSON object, its compact text
 * encoded once, and one lazily built text frame shared by every
 * recipient -- no per-recipient copy is ever made here).  The text is
 * encoded into a per-thread scratch buffer and copied once into a buffer
 * that leaves room for the frame header before it, so the frame is the
 * same allocation: one malloc per message besides the ch_msg itself.
 * The encoder writes what messages usually hold (objects, arrays, ASCII
 * strings without escapes, integers) itself, in jansson's compact bytes,
 * and leaves the rest to jansson.  A check against a size limit for a
 * send that reaches nobody (ch_msg_check_json_max) first walks the
 * value for an upper bound of that encoding and encodes only when the
 * bound says nothing.
 */
#include "msg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ch_buf *ch_buf_new(size_t len)
{
    ch_buf *b;

    if (len > UINT32_MAX)
        return NULL;
    b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = (uint32_t)len;
    return b;
}

ch_buf *ch_buf_from(const void *data, size_t len)
{
    ch_buf *b = ch_buf_new(len);

    if (b && len)
        memcpy(b->data, data, len);
    return b;
}

void ch_buf_unref(ch_buf *b)
{
    if (b && --b->refs == 0)
        free(b);
}

size_t ch_ws_frame_header_len(uint64_t len)
{
    if (len <= 125)
        return 2;
    return len <= 0xffff ? 4 : 10;
}

/* Byte 0: FIN | opcode.  Byte 1: MASK clear | 7-bit length, or 126 and a
 * 16-bit big-endian length, or 127 and a 64-bit big-endian length. */
size_t ch_ws_frame_header(uint8_t *out, int opcode, uint64_t len)
{
    size_t n = ch_ws_frame_header_len(len);

    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (n == 2) {
        out[1] = (uint8_t)len;
    } else if (n == 4) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    }
    return n;
}

/* A buffer holding header + payload (copied).  The caller owns the one
 * reference.  NULL if out of memory or the frame exceeds UINT32_MAX. */
ch_buf *ch_ws_frame_new(int opcode, const void *payload, size_t len)
{
    size_t hlen = ch_ws_frame_header_len(len);
    ch_buf *b;

    if (len > UINT32_MAX - hlen)
        return NULL;
    b = ch_buf_new(hlen + len);
    if (!b)
        return NULL;
    ch_ws_frame_header(b->data, opcode, len);
    if (len)
        memcpy(b->data + hlen, payload, len);
    return b;
}

/* The thread's encoding scratch: grown as needed, kept for the thread's
 * life (the loop's, and a worker thread's that encodes). */
typedef struct enc_scratch {
    char *p;
    size_t len, cap;
} enc_scratch;

static _Thread_local enc_scratch scratch;

#define SCRATCH_KEEP (64 * 1024) /* a larger scratch is freed after use */

/* json_dump_callback's sink: append to the scratch (data borrowed).
 * Returns 0, or -1 out of memory. */
static int scratch_put(const char *data, size_t len, void *arg)
{
    enc_scratch *s = arg;

    if (len > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 1024;
        char *p;

        while (cap - s->len < len)
            cap *= 2;
        if (!(p = realloc(s->p, cap)))
            return -1;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, len);
    s->len += len;
    return 0;
}

/* ---- the compact encoder ----------------------------------------------------
 * The same bytes as json_dump_callback(v, ..., JSON_COMPACT) for what
 * messages hold (objects, arrays, plain ASCII strings, integers, true,
 * false, null), written straight into the scratch.  Anything else -- a
 * string needing an escape or holding non-ASCII bytes, a real, a value
 * nested deeper than ENC_DEPTH (jansson checks for cycles) -- goes to
 * jansson, value by value, or for a key, the whole message. */

#define ENC_DEPTH 32
#define ENC_FALLBACK 1 /* enc_value: encode the whole message with jansson */

/* len bytes of s need no escape in a JSON string (0x20..0x7e but '"' and
 * '\'): 1, else 0. */
static int enc_plain(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
            return 0;
    }
    return 1;
}

/* A plain string (enc_plain) in quotes into the scratch.  0 or -1. */
static int enc_quoted(enc_scratch *s, const char *str, size_t len)
{
    return scratch_put("\"", 1, s) || scratch_put(str, len, s) || scratch_put("\"", 1, s) ? -1 : 0;
}

/* An integer as "%lld" writes it.  0 or -1. */
static int enc_int(enc_scratch *s, json_int_t v)
{
    char buf[24], *p = buf + sizeof buf;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return scratch_put(p, (size_t)(buf + sizeof buf - p), s);
}

/* v (borrowed) into the scratch at nesting depth.  0, -1 (out of memory
 * or jansson refused a value) or ENC_FALLBACK. */
static int enc_value(enc_scratch *s, const json_t *v, int depth)
{
    size_t i, n;
    int rc;

    switch (json_typeof(v)) {
    case JSON_NULL:
        return scratch_put("null", 4, s);
    case JSON_TRUE:
        return scratch_put("true", 4, s);
    case JSON_FALSE:
        return scratch_put("false", 5, s);
    case JSON_INTEGER:
        return enc_int(s, json_integer_value(v));
    case JSON_STRING:
        if (enc_plain(json_string_value(v), json_string_length(v)))
            return enc_quoted(s, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY:
        if (depth >= ENC_DEPTH)
            return ENC_FALLBACK;
        if (scratch_put("[", 1, s))
            return -1;
        for (i = 0, n = json_array_size(v); i < n; i++) {
            if (i && scratch_put(",", 1, s))
                return -1;
            if ((rc = enc_value(s, json_array_get(v, i), depth + 1)) != 0)
                return rc;
        }
        return scratch_put("]", 1, s);
    case JSON_OBJECT:
        if (depth >= ENC_DEPTH)
            return ENC_FALLBACK;
        if (scratch_put("{", 1, s))
            return -1;
        i = 0;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it), i++) {
            const char *key = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);

            if (!enc_plain(key, klen))
                return ENC_FALLBACK;
            if ((i && scratch_put(",", 1, s)) || enc_quoted(s, key, klen) || scratch_put(":", 1, s))
                return -1;
            if ((rc = enc_value(s, json_object_iter_value(it), depth + 1)) != 0)
                return rc;
        }
        return scratch_put("}", 1, s);
    default:
        break;
    }
    return json_dump_callback(v, scratch_put, s, JSON_COMPACT | JSON_ENCODE_ANY) != 0 ? -1 : 0;
}

/* obj's compact encoding (json_dump_callback's bytes) into the thread's
 * scratch, replacing what it held.  0, or -1 when obj cannot be encoded
 * or out of memory. */
static int encode_scratch(const json_t *obj)
{
    int rc;

    scratch.len = 0;
    rc = enc_value(&scratch, obj, 0);
    if (rc == ENC_FALLBACK) {
        scratch.len = 0;
        rc = json_dump_callback(obj, scratch_put, &scratch, JSON_COMPACT);
    }
    return rc == 0 ? 0 : -1;
}

/* obj's compact encoding in a new buffer (one reference, the caller's)
 * with room for the header of its text frame before it and a NUL after
 * it (not counted in len, which covers header and text).  *text points
 * at the text.  NULL if obj cannot be encoded or out of memory. */
static ch_buf *encode_body(const json_t *obj, char **text, size_t *text_len)
{
    size_t hl;
    ch_buf *b;

    if (encode_scratch(obj) != 0)
        b = NULL;
    else if (hl = ch_ws_frame_header_len(scratch.len), scratch.len > UINT32_MAX - hl - 1)
        b = NULL;
    else if ((b = ch_buf_new(hl + scratch.len + 1)) != NULL) {
        b->len = (uint32_t)(hl + scratch.len);
        memcpy(b->data + hl, scratch.p, scratch.len);
        b->data[hl + scratch.len] = '\0';
        *text = (char *)b->data + hl;
        *text_len = scratch.len;
    }
    if (scratch.cap > SCRATCH_KEEP) { /* a rare large message: not kept */
        free(scratch.p);
        scratch = (enc_scratch){NULL, 0, 0};
    }
    return b;
}

/* Build a message around obj, which the caller has already checked to be
 * an object with a string "type"; the message takes its own reference to
 * obj.  NULL with *err on an encoding failure or out of memory. */
static ch_msg *msg_new(json_t *obj, const char *type, const char **err)
{
    ch_msg *m = calloc(1, sizeof *m);

    if (!m) {
        *err = "out of memory";
        return NULL;
    }
    m->body = encode_body(obj, &m->text, &m->text_len);
    if (!m->body) {
        free(m);
        *err = "message cannot be encoded as JSON";
        return NULL;
    }
    m->refs = 1;
    m->json = json_incref(obj);
    m->type = type;
    return m;
}

/* The "type" string of obj, or NULL with *err if obj is not an object or
 * has no string "type". */
static const char *msg_type(const json_t *obj, const char **err)
{
    const char *type;

    if (!json_is_object(obj)) {
        *err = "message is not a JSON object";
        return NULL;
    }
    type = json_string_value(json_object_get(obj, "type"));
    if (!type)
        *err = "message has no string \"type\"";
    return type;
}

/* A message referencing obj (the caller keeps its own reference).  The
 * message's type points into obj, so obj must not be modified while the
 * message lives.  Unref the result with ch_msg_unref. */
ch_msg *ch_msg_from_json(const json_t *obj, const char **err)
{
    const char *dummy;
    const char *type;

    if (!err)
        err = &dummy;
    type = msg_type(obj, err);
    if (!type)
        return NULL;
    return msg_new((json_t *)obj, type, err);
}

/* What ch_msg_from_json checks, without the message: the encoding goes
 * to the thread's scratch only, and its length to *text_len.  0, or -1
 * with *err (a static string). */
int ch_msg_check_json(const json_t *obj, size_t *text_len, const char **err)
{
    if (!msg_type(obj, err))
        return -1;
    if (encode_scratch(obj) != 0) {
        *err = "message cannot be encoded as JSON";
        return -1;
    }
    *text_len = scratch.len;
    if (scratch.cap > SCRATCH_KEEP) { /* as encode_body: a large one is not kept */
        free(scratch.p);
        scratch = (enc_scratch){NULL, 0, 0};
    }
    return 0;
}

/* ---- the size bound ----------------------------------------------------------
 * An upper bound of enc_value's output for what messages hold, found
 * without writing it: plain strings and keys (enc_plain) count exactly,
 * an integer as the longest one (20 bytes), true, false and null as
 * written.  What might not encode (a string needing a look at its UTF-8,
 * a real, nesting past ENC_DEPTH, which also ends a cycle) gives no
 * bound, and the message is encoded as before. */

#define BOUND_NONE ((size_t)-1) /* no bound: encode to know */

/* acc plus v's (borrowed) bound at depth; BOUND_NONE as soon as there is
 * no bound or it passes max. */
static size_t bound_value(const json_t *v, int depth, size_t acc, size_t max)
{
    size_t i, n;

    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_TRUE:
        acc += 4;
        break;
    case JSON_FALSE:
        acc += 5;
        break;
    case JSON_INTEGER:
        acc += 20; /* "-9223372036854775808" */
        break;
    case JSON_STRING:
        if (!enc_plain(json_string_value(v), json_string_length(v)))
            return BOUND_NONE;
        acc += json_string_length(v) + 2;
        break;
    case JSON_ARRAY:
        if (depth >= ENC_DEPTH)
            return BOUND_NONE;
        n = json_array_size(v);
        acc += 2 + (n ? n - 1 : 0);
        for (i = 0; i < n && acc <= max; i++)
            acc = bound_value(json_array_get(v, i), depth + 1, acc, max);
        break;
    case JSON_OBJECT:
        if (depth >= ENC_DEPTH)
            return BOUND_NONE;
        n = json_object_size(v);
        acc += 2 + (n ? n - 1 : 0);
        for (void *it = json_object_iter((json_t *)v); it && acc <= max;
             it = json_object_iter_next((json_t *)v, it)) {
            const char *key = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);

            if (!enc_plain(key, klen))
                return BOUND_NONE;
            acc = bound_value(json_object_iter_value(it), depth + 1, acc + klen + 3, max);
        }
        break;
    default:
        return BOUND_NONE;
    }
    return acc <= max ? acc : BOUND_NONE;
}

/* ch_msg_check_json, but a message whose bound (above) is at most max is
 * taken without encoding it: *text_len is then that bound, not the
 * length. */
int ch_msg_check_json_max(const json_t *obj, size_t max, size_t *text_len, const char **err)
{
    size_t bound;

    if (!msg_type(obj, err))
        return -1;
    if (max > SIZE_MAX / 2) /* no sum of the walk wraps */
        max = SIZE_MAX / 2;
    bound = bound_value(obj, 0, 0, max);
    if (bound == BOUND_NONE)
        return ch_msg_check_json(obj, text_len, err);
    *text_len = bound;
    return 0;
}

/* Parse text[0..len) and build a message from the object.  On bad JSON,
 * *err points to a thread-local buffer valid until the next failing call
 * on this thread; the other reasons are static strings. */
ch_msg *ch_msg_from_text(const char *text, size_t len, const char **err)
{
    static _Thread_local char errbuf[200];
    const char *dummy;
    json_error_t jerr;
    json_t *obj;
    ch_msg *m;

    if (!err)
        err = &dummy;
    obj = json_loadb(text, len, 0, &jerr);
    if (!obj) {
        snprintf(errbuf, sizeof errbuf, "invalid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        *err = errbuf;
        return NULL;
    }
    m = ch_msg_from_json(obj, err);
    json_decref(obj);
    return m;
}

void ch_msg_unref(ch_msg *m)
{
    if (!m || --m->refs)
        return;
    ch_buf_unref(m->body); /* the frame, if made, is body */
    free(m->handler);
    json_decref(m->json);
    free(m);
}

int ch_msg_use_handler_name(ch_msg *m)
{
    char *h;

    if (!strchr(m->type, '.'))
        return 0;
    h = strdup(m->type);
    if (!h)
        return -1;
    for (char *p = h; (p = strchr(p, '.')) != NULL;)
        *p = '_';
    free(m->handler);
    m->handler = h;
    m->type = h;
    return 0;
}

/* Built once, in place: the header goes into the room left before the
 * text in m->body, which becomes the frame (m's one reference is body's);
 * every caller gets the same buffer (borrowed: take ch_buf_ref to keep it
 * past m's lifetime). */
ch_buf *ch_msg_frame(ch_msg *m)
{
    if (!m->frame) {
        ch_ws_frame_header(m->body->data, CH_WS_OP_TEXT, m->text_len);
        m->frame = m->body;
    }
    return m->frame;
}
