/*
 * link.h -- the link between the master process and one worker
 * (app/master.c): a stream socket (one end of a socketpair) carrying
 * length-prefixed frames, with a bounded output queue.
 *
 * Frame (integers big-endian):
 *
 *   bytes 0..3   n: the length of the rest (2 + name length + data)
 *   byte 4       kind (CH_LINK_*)
 *   byte 5       name length m (0..CH_NAME_MAX-1)
 *   m bytes      name (a group or channel name, or empty)
 *   the rest     data (a message's compact JSON text, or empty)
 *
 * The memory channel layer (layer_memory.c) sends its group and channel
 * sends to the master over the link; the master relays each such frame
 * unchanged to every other worker (the hub), whose layer delivers it to
 * its local members.  A worker tells the master it serves with
 * CH_LINK_READY, and every second what it holds with CH_LINK_STATS
 * (relayed like the sends, for the others' /healthz: app/peers.c).  Everything runs on the loop thread.
 *
 * Output is bounded: a frame that would take the bytes queued towards
 * the peer past the link's limit is dropped and counted (never an
 * unbounded queue), as the Redis backend drops past its outage buffer.
 */
#ifndef CH_LINK_H
#define CH_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "layer.h"
#include "msg.h"

enum {
    CH_LINK_GROUP = 'g',   /* group send: name = group, data = message */
    CH_LINK_CHANNEL = 'c', /* channel send: name = channel, data = message */
    CH_LINK_READY = 'R',   /* worker -> master: listening and loaded */
    CH_LINK_STATS = 'S',   /* a worker's snapshot (JSON), relayed to the others */
};

#define CH_LINK_FRAME_MAX ((size_t)256 << 20) /* the largest frame read */
#define CH_LINK_QUEUE_MAX ((size_t)64 << 20)  /* default output bound */

typedef struct ch_link ch_link;

/* One frame as read: name and data point into the link's read buffer and
 * are valid during the callback only; raw is the whole encoded frame
 * (raw_len bytes), for relaying it unchanged. */
typedef struct ch_link_frame {
    int kind;
    char name[CH_NAME_MAX];
    const char *data;
    size_t len;
    const uint8_t *raw;
    size_t raw_len;
} ch_link_frame;

/* Told of each frame read (borrowed, see above). */
typedef void (*ch_link_frame_fn)(ch_link *k, const ch_link_frame *f, void *arg);
/* Told once when the peer closed, the socket failed or a malformed frame
 * came; the link reads no more (the owner still calls ch_link_close). */
typedef void (*ch_link_gone_fn)(ch_link *k, void *arg);

/* A link over fd (a connected stream socket; the link takes it over and
 * closes it), reading at once.  max_queued: the output bound in bytes (0:
 * CH_LINK_QUEUE_MAX).  Returns a new link (free with ch_link_close) or NULL
 * with the reason in err (fd is closed then too). */
ch_link *ch_link_open(uv_loop_t *loop, int fd, size_t max_queued, ch_link_frame_fn on_frame,
                      ch_link_gone_fn on_gone, void *arg, char *err, size_t errlen);

/* Encode and queue one frame (name may be NULL; data len bytes, copied).
 * Returns 0, -ENOBUFS (dropped: the queue is full; counted), -EPIPE (the
 * link is gone), -EINVAL (name too long, frame too big) or -ENOMEM. */
int ch_link_send(ch_link *k, int kind, const char *name, const void *data, size_t len);

/* Queue an encoded frame buf (borrowed; the link takes its own
 * reference), as ch_link_send's results. */
int ch_link_send_buf(ch_link *k, ch_buf *buf);

/* Frames dropped because the queue was full. */
uint64_t ch_link_dropped(const ch_link *k);

/* Whether the link keeps the loop alive (default yes). */
void ch_link_ref(ch_link *k, int ref);

/* Stop reading and close the socket; queued output is discarded.  The
 * link is freed when libuv has closed it (run the loop once more). */
void ch_link_close(ch_link *k);

#endif
