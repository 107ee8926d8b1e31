/*
 * multipart.h -- a streaming multipart/form-data parser (RFC 7578 over
 * RFC 2046): bytes go in as they arrive, in pieces of any size, and come
 * out as events (a part's headers, its data, its end) without the body
 * ever being held: the state is a fixed-size struct (the caller's; no
 * allocation), holding only the current part's header block (at most
 * CH_MP_HEADERS_MAX bytes).
 */
#ifndef CH_MULTIPART_H
#define CH_MULTIPART_H

#include <stddef.h>

#define CH_MP_BOUNDARY_MAX 70  /* RFC 2046 */
#define CH_MP_HEADERS_MAX 2048 /* one part's header lines together */

/* What a part's headers said (borrowed, valid during the call; "" when
 * absent): its Content-Disposition and Content-Type values. */
typedef struct ch_mp_part {
    const char *disposition;
    const char *content_type;
} ch_mp_part;

/* The events; each returns 0 to go on, non-zero to stop (ch_mp_feed then
 * returns that value).  arg: the caller's. */
typedef struct ch_mp_events {
    int (*begin)(void *arg, const ch_mp_part *part);
    int (*data)(void *arg, const char *data, size_t len); /* borrowed */
    int (*end)(void *arg);
} ch_mp_events;

typedef struct ch_multipart {
    char delim[CH_MP_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
    size_t delim_len, matched;          /* bytes of delim matched so far */
    int state;
    size_t after; /* bytes seen after a delimiter ("--" or blanks, CRLF) */
    char headers[CH_MP_HEADERS_MAX + 1];
    size_t headers_len;
    const ch_mp_events *ev;
    void *arg;
} ch_multipart;

/* Copy the boundary parameter of a multipart Content-Type value (quoted
 * or not) into out[CH_MP_BOUNDARY_MAX + 1].  0, or -1 when there is none
 * or it is not 1..70 of RFC 2046's characters. */
int ch_mp_boundary(const char *content_type, char *out);

/* Start m (the caller's memory) for boundary (borrowed for the call;
 * 1..CH_MP_BOUNDARY_MAX bytes) with the events ev (borrowed while m is
 * fed) and arg. */
void ch_mp_init(ch_multipart *m, const char *boundary, const ch_mp_events *ev, void *arg);

/* Parse data[0..len) (borrowed).  Returns 0, -1 when the body is
 * malformed (a part's headers too long or with a NUL, garbage after a
 * delimiter), or an event's non-zero value, after which m is not touched
 * again (the event may have freed it).  After a non-zero value, m is not
 * to be fed again. */
int ch_mp_feed(ch_multipart *m, const char *data, size_t len);

/* Non-zero once the closing delimiter ("--boundary--") was seen. */
int ch_mp_done(const ch_multipart *m);

#endif
