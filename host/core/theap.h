/*
 * theap.h -- a min-heap of deadlines: many timers (one per connection)
 * driven by one uv_timer, 16 bytes a timer instead of a uv_timer_t each.
 *
 * A ch_tnode lives inside its owner (the caller's struct); the heap holds
 * borrowed pointers to the armed nodes, ordered by `due` (absolute loop
 * ms).  Setting, moving and removing a node are O(log n); the earliest
 * is ch_theap_top.  The caller runs the one uv_timer on the top's due
 * (net/conn.c does, for every connection's deadline).
 */
#ifndef CH_THEAP_H
#define CH_THEAP_H

#include <stdint.h>

/* One timer, embedded in its owner; zeroed means not armed. */
typedef struct ch_tnode {
    uint64_t due;   /* absolute loop ms */
    uint32_t pos;   /* 1 + index in the heap, 0 = not armed */
    uint32_t round; /* the caller's tag (conn.c: the dispatch round it was set in) */
} ch_tnode;

typedef struct ch_theap {
    ch_tnode **v; /* borrowed nodes, heap-ordered by due */
    uint32_t n, cap;
} ch_theap;

/* Arm n for `due`, or move it there if it is armed.  Returns 0 or
 * -ENOMEM (n is then left as it was). */
int ch_theap_set(ch_theap *h, ch_tnode *n, uint64_t due);

/* Disarm n (nothing if it is not armed). */
void ch_theap_remove(ch_theap *h, ch_tnode *n);

/* The armed node due first (borrowed), or NULL when none is. */
ch_tnode *ch_theap_top(const ch_theap *h);

/* Free the heap's array (the nodes are their owners'); h is then empty
 * and may be used again. */
void ch_theap_free(ch_theap *h);

#endif
