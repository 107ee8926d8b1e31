/*
 * static.h -- static files from the config's static_dir (the web UI).
 *
 * Files are resolved and read on libuv's thread pool, never on the loop.
 * The request path is mapped below static_dir; a path naming a directory
 * serves its index.html; ".." segments, symlinks leading outside the
 * directory, and non-regular files answer 404.  GET and HEAD only (405
 * otherwise).  Files larger than 16 MiB answer 404 as well: this is a UI
 * server, not a download server.
 */
#ifndef CH_STATIC_H
#define CH_STATIC_H

#include "request.h"

typedef struct ch_conn ch_conn;

/* Non-zero if static files are served (the config names static_dir): the
 * matcher of the static handler (http.h), which takes any path. */
int ch_static_wanted(ch_conn *c, const ch_req *req);

/* Answer req (borrowed; what is needed is copied) from static_dir. */
void ch_static_serve(ch_conn *c, const ch_req *req);

/* The Content-Type for a file name, by extension (static string). */
const char *ch_static_content_type(const char *name);

/* Resolve a decoded request path below root.  Returns a new malloc'd
 * absolute file path, or NULL if it escapes root or does not exist as a
 * regular file (a directory yields its index.html).  Blocking: call it
 * off the loop. */
char *ch_static_resolve(const char *root, const char *path);

#endif
