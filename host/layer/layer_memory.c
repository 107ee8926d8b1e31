/*
 * layer_memory.c -- owns the "memory" channel-layer backend: one process,
 * no I/O.  Sends are delivered locally at once through layer.c; the
 * membership hooks are not needed and left NULL.  The backend's state is
 * the layer itself, so there is nothing to allocate or destroy.
 */
#include "layer.h"

static int memory_group_send(void *self, const char *group, ch_msg *msg)
{
    ch_layer_deliver_group(self, group, msg);
    return 0;
}

/* A send to a channel nobody holds is not an error in Channels (the
 * message would just expire), so this always returns 0. */
static int memory_channel_send(void *self, const char *channel, ch_msg *msg)
{
    ch_layer_deliver_channel(self, channel, msg);
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
