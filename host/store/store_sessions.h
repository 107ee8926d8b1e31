/*
 * store_sessions.h -- the message store's operations on the tokens and
 * accounts behind open connections, defined in store_sessions.c.  The
 * assembler registers ch_st_sessions_op with ch_store_ops_register
 * (store.h); ch_store_op_find (store_ops.c) then finds them by name.
 */
#ifndef CH_STORE_SESSIONS_H
#define CH_STORE_SESSIONS_H

struct ch_store_op;

/* The operation called name ("token.revoke", "session.check",
 * "user.set_active"; static, borrowed), or NULL.  A ch_store_op_lookup. */
const struct ch_store_op *ch_st_sessions_op(const char *name);

#endif
