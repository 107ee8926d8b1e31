/*
 * store_support.h -- the message store's operations for the support chat
 * plugin (plugins/support), defined in store_support.c and looked up by
 * ch_store_op_find (store_ops.c) by name.
 */
#ifndef CH_STORE_SUPPORT_H
#define CH_STORE_SUPPORT_H

#include "store_impl.h"

/* The operation called name ("support.conversations"), or NULL. */
const ch_store_op *ch_st_support_op(const char *name);

#endif
