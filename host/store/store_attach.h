/*
 * store_attach.h -- the message store's operations on files uploaded to
 * a room (attachment.*), defined in store_attach.c.  The assembler
 * registers ch_st_attach_op with ch_store_ops_register (store.h);
 * ch_store_op_find (store_ops.c) then finds them by name.
 */
#ifndef CH_STORE_ATTACH_H
#define CH_STORE_ATTACH_H

struct ch_store_op;

/* The largest chunk attachment.write takes (plain bytes); uploads are
 * stored and read in chunks of this size (the last one shorter). */
#define CH_ST_ATTACH_CHUNK 65536

/* Uploads never attached to a message are dropped after this long (ms). */
#define CH_ST_ATTACH_TTL_MS (24LL * 3600 * 1000)

/* The operation called name ("attachment.create" ...; static, borrowed),
 * or NULL.  A ch_store_op_lookup. */
const struct ch_store_op *ch_st_attach_op(const char *name);

#endif
