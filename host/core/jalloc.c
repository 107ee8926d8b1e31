/*
 * jalloc.c -- owns jansson's allocator functions and the per-thread
 * caches of small blocks behind them.
 *
 * A chat message makes and frees some hundred small jansson blocks on the
 * loop (the frame parsed, the store's parameters, the broadcast payload,
 * the store's result made on its worker thread and freed on the loop), in
 * bursts of as many messages as one turn of the loop reads.  glibc's
 * per-thread cache holds 7 blocks of a size; past that each malloc and
 * free goes through the arena (bins, consolidation, and its lock when the
 * block came from the other thread's arena).  Here a freed block of at
 * most CLASS_MAX usable bytes goes to the freeing thread's list for its
 * size class (at most KEEP_BYTES per class: 512 KiB per thread at most;
 * 256 KiB per class cost a chat connection about 90 bytes at 10,000 idle
 * ones, the handshake burst's blocks kept for good),
 * and the next allocation of that class on that thread takes it back.
 * 256 bytes covers the bucket array of an object of 9 to 16 keys (the
 * append's parameters, the broadcast payload): jansson doubles it at the
 * ninth key.  A block is always a plain malloc
 * block, so free() of one made here, and ja_free of one made by malloc,
 * are both correct.  A thread's lists are freed when it exits.
 *
 * Not installed when the process runs on jemalloc (core/heap.c): its
 * thread caches keep blocks the same way, and ja_free's
 * malloc_usable_size per block is dearer there (docs/performance.md,
 * part 11).
 */
#include "jalloc.h"

#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "heap.h"

#if defined(__SANITIZE_ADDRESS__)
#define JA_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JA_OFF 1
#endif
#endif

#define CLASS_STEP 16                      /* bytes between classes */
#define N_CLASSES 16                       /* 16, 32, ..., 256 bytes */
#define CLASS_MAX (CLASS_STEP * N_CLASSES) /* the largest size cached */
#define KEEP_BYTES (32 * 1024)             /* kept per class and thread */
/* Blocks kept of class k: a chat message's blocks for a turn's burst of
 * a few dozen messages (2048 of 16 bytes ... 128 of 256 bytes). */
#define KEEP(k) (KEEP_BYTES / (CLASS_STEP * ((unsigned)(k) + 1)))

typedef struct ja_cache {
    void *head[N_CLASSES]; /* each free block's first word: the next */
    unsigned n[N_CLASSES];
    int registered; /* the thread-exit destructor knows this cache */
} ja_cache;

static _Thread_local ja_cache cache;
static pthread_key_t cache_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

/* The thread ends: its kept blocks go back to malloc (arg: its cache). */
static void cache_drop(void *arg)
{
    ja_cache *c = arg;

    for (int k = 0; k < N_CLASSES; k++) {
        while (c->head[k]) {
            void *next = *(void **)c->head[k];

            free(c->head[k]);
            c->head[k] = next;
        }
        c->n[k] = 0;
    }
    c->registered = 0; /* a later free registers it again */
}

static void key_make(void) { key_ok = pthread_key_create(&cache_key, cache_drop) == 0; }

/* jansson's malloc: a kept block of size's class, else malloc of the
 * class's size (a new block, freed by ja_free or free). */
static void *ja_malloc(size_t size)
{
    size_t k;
    void *p;

    if (size > CLASS_MAX)
        return malloc(size);
    k = size ? (size - 1) / CLASS_STEP : 0;
    if ((p = cache.head[k]) != NULL) {
        cache.head[k] = *(void **)p;
        cache.n[k]--;
        return p;
    }
    return malloc((k + 1) * CLASS_STEP);
}

/* jansson's free: a small block is kept by this thread for its class
 * (the largest whose size its usable size covers), unless the class is
 * full or the thread cannot register its destructor; else free. */
static void ja_free(void *p)
{
    size_t usable, k;

    if (!p)
        return;
    usable = malloc_usable_size(p);
    if (usable < CLASS_STEP || usable >= CLASS_MAX + CLASS_STEP) {
        free(p);
        return;
    }
    k = usable / CLASS_STEP - 1;
    if (cache.n[k] >= KEEP(k) ||
        (!cache.registered && (pthread_once(&key_once, key_make) != 0 || !key_ok ||
                               pthread_setspecific(cache_key, &cache) != 0))) {
        free(p);
        return;
    }
    cache.registered = 1;
    *(void **)p = cache.head[k];
    cache.head[k] = p;
    cache.n[k]++;
}

void ch_jalloc_install(void)
{
#ifndef JA_OFF
    if (ch_heap_is_jemalloc())
        return; /* its thread caches do this, without malloc_usable_size per free */
    json_set_alloc_funcs(ja_malloc, ja_free);
#else
    (void)ja_malloc; /* ASan sees jansson's blocks as they come and go */
    (void)ja_free;
#endif
}
