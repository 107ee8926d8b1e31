/*
 * jalloc.h -- jansson's allocator for the host process: small blocks are
 * kept per thread for reuse (see jalloc.c).
 */
#ifndef CH_JALLOC_H
#define CH_JALLOC_H

/* Make jansson allocate through the per-thread caches of jalloc.c (every
 * json_t, hashtable pair and string of the process, plugins' too).  Call
 * once at start, before any thread is made.  Nothing is installed in a
 * build with AddressSanitizer, which must see each malloc and free, nor
 * when the process runs on jemalloc, whose thread caches do the same. */
void ch_jalloc_install(void);

#endif
