/*
 * store_attach.h -- the message store's operations on files uploaded to
 * a room (attachment.*, export.attachments), defined in store_attach.c
 * and found by ch_store_op_find (store_ops.c) after the exports' table
 * (store_export.c), so the management commands have them too.
 */
#ifndef CH_STORE_ATTACH_H
#define CH_STORE_ATTACH_H

#include <stddef.h>
#include <stdint.h>

struct ch_store_op;

/* The largest chunk attachment.write takes (plain bytes); uploads are
 * stored and read in chunks of this size (the last one shorter). */
#define CH_ST_ATTACH_CHUNK 65536

/* Uploads never attached to a message are dropped after this long (ms). */
#define CH_ST_ATTACH_TTL_MS (24LL * 3600 * 1000)

/* The associated data of upload id's chunks, "attachment:<id>", into out
 * (sealed with it in the database and in the folder alike). */
void ch_st_chunk_place(char out[40], int64_t id);

/* The path of upload id's chunk seq in the attachment folder dir:
 * "<dir>/<id>/<seq>.<ext>" (ext "chunk": the sealed chunk, "tmp": one
 * being written), or with ext NULL the upload's own folder "<dir>/<id>".
 * 0, or -1 when it does not fit in n bytes or id < 1, seq < 0, dir empty. */
int ch_st_attach_path(char *out, size_t n, const char *dir, int64_t id, int seq, const char *ext);

/* The operation called name ("attachment.create" ...; static, borrowed),
 * or NULL. */
const struct ch_store_op *ch_st_attach_op(const char *name);

#endif
