/*
 * log_json.h -- one log line as one JSON object (`log_format json`), for
 * log shippers: the same fields as a text line.
 *
 *   {"time":"2026-12-03T11:54:54+00:00","level":"INFO","worker":2,
 *    "plugin":"chat","message":"WebSocket DISCONNECT /ws/x/ [1.2.3.4:5] code=1000",
 *    "code":"1000"}
 *
 * "worker" only in a worker process, "plugin" only for a plugin's line
 * (its "[name] " prefix); every key=value word of the message (the first 32; key: a
 * letter or '_', then letters, digits, '_', '.' or '-'; value: up to the
 * next blank) is also a field of its own, as a string, unless its key is
 * one of those above or came earlier in the line.  Any bytes are valid in
 * the message: quotes, backslashes and control characters are escaped and
 * bytes that are not UTF-8 become U+FFFD, so every line is valid JSON.
 */
#ifndef CH_LOG_JSON_H
#define CH_LOG_JSON_H

#include <stddef.h>

/* The parts of one line (all borrowed): time (RFC 3339), level name,
 * worker number (0: none), plugin name (NULL: none; plugin_len bytes) and
 * the message (msg_len bytes, any content). */
typedef struct ch_log_parts {
    const char *time;
    const char *level;
    int worker;
    const char *plugin;
    size_t plugin_len;
    const char *msg;
    size_t msg_len;
} ch_log_parts;

/* The JSON object of p followed by '\n', NUL-terminated, in a new buffer
 * (the caller frees it); its length without the NUL into *len.  NULL if
 * out of memory. */
char *ch_log_json(const ch_log_parts *p, size_t *len);

#endif
