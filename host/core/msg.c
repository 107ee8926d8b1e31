/*
 * msg.c -- owns ch_buf (refcounted byte buffers), the encoding of
 * unmasked server WebSocket frame headers (RFC 6455 section 5.2), and
 * ch_msg (a channel-layer message: its JSON object, its compact text
 * encoded once, and one lazily built text frame shared by every
 * recipient -- no per-recipient copy is ever made here).
 */
#include "msg.h"

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
    m->text = json_dumps(obj, JSON_COMPACT);
    if (!m->text) {
        free(m);
        *err = "message cannot be encoded as JSON";
        return NULL;
    }
    m->refs = 1;
    m->json = json_incref(obj);
    m->type = type;
    m->text_len = strlen(m->text);
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
    ch_buf_unref(m->frame);
    free(m->handler);
    free(m->text);
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

/* Built once from m->text and kept in m; every caller gets the same
 * buffer (borrowed: take ch_buf_ref to keep it past m's lifetime). */
ch_buf *ch_msg_frame(ch_msg *m)
{
    if (!m->frame)
        m->frame = ch_ws_frame_new(CH_WS_OP_TEXT, m->text, m->text_len);
    return m->frame;
}
