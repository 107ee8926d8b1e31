/*
 * secret.h -- secret files (token secrets, encryption keys, service
 * tokens): the one way the host reads and creates them.
 *
 * Reading refuses a file that is not regular, that its group or others may
 * read, or that is larger than the caller allows; the error names the file
 * and its mode.  Creating writes a temporary file with mode 0600 in the
 * target's folder, fsyncs it, links it into place (so a reader never sees
 * a half-written secret, and an existing file is never replaced), and
 * fsyncs the folder.  Every buffer that held secret bytes is wiped with
 * OPENSSL_cleanse before it is freed.
 *
 * The functions block on the file system: the host calls them while
 * starting or reloading, off the hot path, never per request.
 */
#ifndef CH_SECRET_H
#define CH_SECRET_H

#include <stddef.h>
#include <sys/types.h>

/* Read the secret file path (borrowed) whole, at most max bytes.  Returns
 * 0 with a new malloc'd NUL-terminated copy in *out (*len bytes before the
 * NUL; the caller releases it with ch_secret_free), or a negative errno
 * with the reason, naming path, in err[0..errlen): -ENOENT when it does not
 * exist, -EACCES when group or others may read it or it is not a regular
 * file, -EFBIG when larger than max, -ENOMEM, or the read's error. */
int ch_secret_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/* Create the secret file path (borrowed) holding data[0..n) (borrowed),
 * mode 0600, making missing parent folders with mode 0700.  Returns 0 when
 * written and synced (file and folder); 1 when path exists already
 * (nothing is written: read that one); a negative errno with the reason in
 * err.  On failure nothing is left behind. */
int ch_secret_create(const char *path, const void *data, size_t n, char *err, size_t errlen);

/* Wipe n bytes of p (owned by the caller; NULL is fine), then free it. */
void ch_secret_free(void *p, size_t n);

/* mkdir -p of the folders above the file path (path: borrowed), the new
 * ones with mode.  0, or a negative errno with the reason in err. */
int ch_make_parent_dirs(const char *path, mode_t mode, char *err, size_t errlen);

#endif
