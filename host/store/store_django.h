/*
 * store_django.h -- the store operations of Django logins (runtime's
 * django_auth.c), defined in store_django.c:
 *
 * on a foreign store opened on the Django project's database (store.h,
 * opts.foreign), reads only:
 *   django.session {key}  -> {"data": session_data} of the django_session
 *                            row with that key whose expire_date is in
 *                            the future; ENOENT if none
 *   django.user {id}      -> {"user": {"id", "username", "password",
 *                            "is_active"}} from auth_user; ENOENT if none
 *   django.token {key}    -> the same for the user of DRF's
 *                            authtoken_token row with that key
 * on chanhost's own store:
 *   user.mirror {id, username} -> {"id"}: the users row with that id
 *                            created (unusable password, role user) or
 *                            its username refreshed; EEXIST when another
 *                            id holds the username
 *
 * The assembler registers ch_st_django_op with ch_store_ops_register.
 */
#ifndef CH_STORE_DJANGO_H
#define CH_STORE_DJANGO_H

struct ch_store_op;

/* The operation called name (static, borrowed), or NULL.  A
 * ch_store_op_lookup. */
const struct ch_store_op *ch_st_django_op(const char *name);

#endif
