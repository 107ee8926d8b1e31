/*
 * heap.h -- the process's malloc, as far as the host asks about it: how
 * much is in use, and handing freed memory back to the system.  The
 * chanhost binary runs on jemalloc when it was linked with it
 * (CMakeLists.txt, CHANHOST_JEMALLOC), else on glibc's malloc (the unit
 * tests always); under AddressSanitizer on the sanitizer's allocator.
 */
#ifndef CH_HEAP_H
#define CH_HEAP_H

#include <stdint.h>

/* Bytes malloc has handed out and not had back, over every thread: what
 * the process holds, without the memory freed but kept by malloc (so a
 * figure that does not depend on past peaks).  0 when it cannot tell. */
uint64_t ch_heap_in_use(void);

/* Hand the memory malloc keeps free back to the system (after a large
 * queue was freed): jemalloc purges every arena; glibc trims
 * (malloc_trim). */
void ch_heap_trim(void);

/* 1 when the process runs on jemalloc (its per-thread caches then do
 * what core/jalloc.c's would), else 0. */
int ch_heap_is_jemalloc(void);

#endif
