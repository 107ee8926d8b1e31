/*
 * store_support.h -- the message store's operations for the support chat
 * plugin (plugins/support), defined in store_support.c.  The assembler
 * registers ch_st_support_op with ch_store_ops_register (store.h);
 * ch_store_op_find (store_ops.c) then finds them by name.
 */
#ifndef CH_STORE_SUPPORT_H
#define CH_STORE_SUPPORT_H

struct ch_store_op;

/* The operation called name ("support.conversations"; static, borrowed),
 * or NULL.  A ch_store_op_lookup. */
const struct ch_store_op *ch_st_support_op(const char *name);

#endif
