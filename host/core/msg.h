/*
 * msg.h -- shared byte buffers and channel-layer messages.
 *
 * ch_buf is a reference-counted byte buffer: the same bytes (an encoded
 * WebSocket frame, an HTTP response) can sit in the output queues of many
 * connections at once without a copy per connection.  Everything runs on
 * the loop thread, so the counts are plain integers.
 *
 * ch_msg is one channel-layer message: a JSON object with a string "type",
 * its compact JSON text (encoded once), and, made on first use, the
 * WebSocket text frame carrying that text, shared by every recipient.
 */
#ifndef CH_MSG_H
#define CH_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ch_buf {
    uint32_t refs;
    uint32_t len; /* bytes used in data */
    uint8_t data[];
} ch_buf;

/* A new buffer of `len` bytes (contents undefined), refs = 1; NULL if out
 * of memory or len > UINT32_MAX. */
ch_buf *ch_buf_new(size_t len);
/* A new buffer holding a copy of data[0..len). */
ch_buf *ch_buf_from(const void *data, size_t len);
static inline ch_buf *ch_buf_ref(ch_buf *b)
{
    b->refs++;
    return b;
}
void ch_buf_unref(ch_buf *b); /* frees at zero; NULL is a no-op */

/* WebSocket opcodes used by the host when building frames. */
enum {
    CH_WS_OP_TEXT = 1,
    CH_WS_OP_BINARY = 2,
    CH_WS_OP_CLOSE = 8,
    CH_WS_OP_PING = 9,
    CH_WS_OP_PONG = 10
};

/* Size of the header of an unmasked server frame with `len` payload. */
size_t ch_ws_frame_header_len(uint64_t len);
/* Write that header (FIN set) into out (>= 10 bytes); returns its length. */
size_t ch_ws_frame_header(uint8_t *out, int opcode, uint64_t len);
/* A new buffer holding one complete unmasked frame with this payload. */
ch_buf *ch_ws_frame_new(int opcode, const void *payload, size_t len);

typedef struct ch_msg {
    uint32_t refs;
    json_t *json;     /* the object (own reference) */
    const char *type; /* its "type", borrowed from json */
    char *text;       /* compact JSON encoding, NUL-terminated (in body) */
    size_t text_len;
    ch_buf *body;  /* owns text: room for a frame header, text, a NUL */
    ch_buf *frame; /* text frame of `text`: body once its header is
                      written (no reference of its own), NULL until
                      first needed */
    char *handler; /* ch_msg_use_handler_name's copy (type points at it), or NULL */
} ch_msg;

/* Channels' type dispatch for a message from a Django process: if m's
 * "type" holds a '.', m->type becomes the handler name ("chat.message" ->
 * "chat_message", owned by m); json and text stay as they came.  Returns 0
 * or -1 if out of memory (m unchanged). */
int ch_msg_use_handler_name(ch_msg *m);

/* A message from a JSON object (borrowed; the message takes its own
 * reference).  NULL with *err set to a reason if obj is not an object with
 * a string "type", or cannot be encoded. */
ch_msg *ch_msg_from_json(const json_t *obj, const char **err);

/* Whether ch_msg_from_json would take obj (borrowed), and the length of
 * its text in *text_len, with no allocation once the thread's encoding
 * scratch is large enough (for a send that reaches nobody).  0, or -1
 * with *err set to the reason ch_msg_from_json would give. */
int ch_msg_check_json(const json_t *obj, size_t *text_len, const char **err);

/* ch_msg_check_json for a caller with a size limit max: when a cheap
 * upper bound of the text's length (no encoding) is at most max, 0 with
 * that bound in *text_len; otherwise ch_msg_check_json's answer, the
 * exact length.  The same refusals either way. */
int ch_msg_check_json_max(const json_t *obj, size_t max, size_t *text_len, const char **err);

/* A message from JSON text (copied).  NULL with *err set on bad JSON, a
 * non-object, or a missing "type". */
ch_msg *ch_msg_from_text(const char *text, size_t len, const char **err);

static inline ch_msg *ch_msg_ref(ch_msg *m)
{
    m->refs++;
    return m;
}
void ch_msg_unref(ch_msg *m); /* NULL is a no-op */

/* The shared text frame of m (made on first call; borrowed, owned by m).
 * NULL if out of memory. */
ch_buf *ch_msg_frame(ch_msg *m);

#endif
