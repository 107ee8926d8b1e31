/*
 * heap.c -- owns the host's questions to malloc (heap.h): bytes in use,
 * and handing free memory back.  jemalloc is reached through its control
 * interface, `mallctl`, declared weak: the symbol is there only when the
 * binary was linked with jemalloc, so the same code serves the unit tests
 * on glibc's malloc.
 */
#include "heap.h"

#include <stddef.h>
#include <stdio.h>

#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__)
/* The sanitizer runtime's count (sanitizer/allocator_interface.h, which
 * Debian ships only with clang). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* jemalloc's control interface; NULL when the process runs on another
 * malloc. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* jemalloc's MALLCTL_ARENAS_ALL: "arena.<this>.purge" purges them all. */
#define ARENAS_ALL 4096

/* jemalloc's "stats.allocated" (refreshed through "epoch"), 0 on
 * failure. */
static uint64_t jemalloc_allocated(void)
{
    uint64_t epoch = 1;
    size_t allocated = 0, len = sizeof epoch;

    if (mallctl("epoch", &epoch, &len, &epoch, sizeof epoch) != 0)
        return 0;
    len = sizeof allocated;
    return mallctl("stats.allocated", &allocated, &len, NULL, 0) == 0 ? (uint64_t)allocated : 0;
}

uint64_t ch_heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
    if (!mallctl)
        return (uint64_t)__sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi;

    if (!mallctl) {
        mi = mallinfo2();
        return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
    }
#endif
    return jemalloc_allocated();
}

void ch_heap_trim(void)
{
    char name[32];

    if (mallctl) {
        snprintf(name, sizeof name, "arena.%d.purge", ARENAS_ALL);
        mallctl(name, NULL, NULL, NULL, 0);
        return;
    }
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

int ch_heap_is_jemalloc(void) { return mallctl != NULL; }
