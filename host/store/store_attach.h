/*
 * store_attach.h -- the message store's operations on files uploaded to
 * a room (attachment.*, export.attachments), defined in store_attach.c
 * and found by ch_store_op_find (store_ops.c) after the exports' table
 * (store_export.c), so the management commands have them too.
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
 * or NULL. */
const struct ch_store_op *ch_st_attach_op(const char *name);

#endif
