/*
 * store_rooms.h -- the message store's operations over several rooms of
 * a user at once, defined in store_rooms.c.  The assembler
 * registers ch_st_rooms_op with ch_store_ops_register (store.h);
 * ch_store_op_find (store_ops.c) then finds them by name.
 */
#ifndef CH_STORE_ROOMS_H
#define CH_STORE_ROOMS_H

struct ch_store_op;

/* The operation called name ("room.conversations"; static, borrowed),
 * or NULL.  A ch_store_op_lookup. */
const struct ch_store_op *ch_st_rooms_op(const char *name);

#endif
