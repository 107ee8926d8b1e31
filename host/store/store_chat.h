/*
 * store_chat.h -- the message store's operations for the chat plugins
 * (plugins/chatroom, plugins/taskcomments): unread.for_room and
 * read.mark_room, defined in store_chat.c and looked up by
 * ch_store_op_find (store_ops.c) by name.
 */
#ifndef CH_STORE_CHAT_H
#define CH_STORE_CHAT_H

#include "store_impl.h"

/* The operation called name ("unread.for_room"), or NULL. */
const ch_store_op *ch_st_chat_op(const char *name);

#endif
