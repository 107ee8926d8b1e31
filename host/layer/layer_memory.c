/*
 * layer_memory.c -- owns the "memory" channel-layer backend: no I/O of
 * its own.  Sends are delivered locally at once through layer.c; the
 * membership hooks are not needed and left NULL.  The backend's state is
 * the layer itself, so there is nothing to allocate or destroy.
 *
 * Several workers (app/master.c): when the layer has a link to the
 * master (ch_layer_link), a group send is delivered locally and also
 * sent to the master, which relays it to every other worker, whose
 * ch_layer_link_input delivers it to its local members: every member on
 * every worker gets it once, in the order its sender sent.  A channel
 * send to a name of another process goes the same way; the worker
 * holding it delivers.  The link's output is bounded (link.h: dropped
 * and counted past it).
 */
#include "layer.h"

#include <errno.h>

#include "link.h"
#include "log.h"

static int memory_group_send(void *self, const char *group, ch_msg *msg)
{
    ch_link *link = ch_layer_link(self);

    ch_layer_deliver_group(self, group, msg);
    if (link)
        ch_link_send(link, CH_LINK_GROUP, group, msg->text, msg->text_len);
    return 0;
}

/* A send to a channel nobody holds is not an error in Channels (the
 * message would just expire), so this always returns 0. */
static int memory_channel_send(void *self, const char *channel, ch_msg *msg)
{
    ch_link *link = ch_layer_link(self);

    if (ch_layer_deliver_channel(self, channel, msg) == 0 && link &&
        !ch_layer_channel_is_local(self, channel))
        ch_link_send(link, CH_LINK_CHANNEL, channel, msg->text, msg->text_len);
    return 0;
}

static const char *memory_state(void *self)
{
    (void)self;
    return "ok";
}

static const ch_layer_backend memory_ops = {
    .name = "memory",
    .group_send = memory_group_send,
    .channel_send = memory_channel_send,
    .state = memory_state,
};

int ch_layer_memory_new(ch_layer *l, const ch_layer_backend **ops, void **self)
{
    *ops = &memory_ops;
    *self = l;
    return 0;
}

/* Decode text into a message (new, unref'd here) and deliver it locally:
 * the relay of another worker's send. */
int ch_layer_link_input(ch_layer *l, int kind, const char *name, const char *text, size_t len)
{
    const char *why = NULL;
    ch_msg *msg;
    size_t n;

    if (kind == CH_LINK_GROUP ? !ch_layer_valid_group(name) : !ch_layer_valid_channel(name)) {
        ch_log(CH_LOG_WARN, "channel layer: relayed send to a bad name dropped");
        return -EINVAL;
    }
    if (!(msg = ch_msg_from_text(text, len, &why))) {
        ch_log(CH_LOG_WARN, "channel layer: relayed message dropped: %s", why ? why : "?");
        return -EINVAL;
    }
    n = kind == CH_LINK_GROUP ? ch_layer_deliver_group(l, name, msg)
                              : ch_layer_deliver_channel(l, name, msg);
    ch_msg_unref(msg);
    return (int)n;
}
