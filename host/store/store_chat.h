/*
 * store_chat.h -- the message store's read-receipt operations over one
 * room (the host's own domain, used by any chat plugin): unread.for_room
 * and read.mark_room, defined in store_chat.c.  The assembler registers
 * ch_st_chat_op with ch_store_ops_register (store.h); ch_store_op_find
 * (store_ops.c) then finds them by name.
 */
#ifndef CH_STORE_CHAT_H
#define CH_STORE_CHAT_H

struct ch_store_op;

/* The operation called name ("unread.for_room"; static, borrowed), or
 * NULL.  A ch_store_op_lookup. */
const struct ch_store_op *ch_st_chat_op(const char *name);

#endif
