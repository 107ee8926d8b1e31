/*
 * theap.c -- owns the deadline heap's array of node pointers (theap.h);
 * the nodes are borrowed from their owners.  A binary min-heap on `due`
 * whose nodes know their position, so that moving or removing one is
 * O(log n) without a search.
 */
#include "theap.h"

#include <errno.h>
#include <stdlib.h>

/* Put node n at index i and tell it where it is. */
static void place(ch_theap *h, uint32_t i, ch_tnode *n)
{
    h->v[i] = n;
    n->pos = i + 1;
}

/* Move the node at index i up while it is due before its parent. */
static void sift_up(ch_theap *h, uint32_t i)
{
    ch_tnode *n = h->v[i];

    while (i > 0) {
        uint32_t parent = (i - 1) / 2;

        if (h->v[parent]->due <= n->due)
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, n);
}

/* Move the node at index i down while a child is due before it. */
static void sift_down(ch_theap *h, uint32_t i)
{
    ch_tnode *n = h->v[i];

    for (;;) {
        uint32_t child = 2 * i + 1;

        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->v[child + 1]->due < h->v[child]->due)
            child++;
        if (n->due <= h->v[child]->due)
            break;
        place(h, i, h->v[child]);
        i = child;
    }
    place(h, i, n);
}

/* Restore the order around index i after its node's due changed. */
static void fix(ch_theap *h, uint32_t i)
{
    if (i > 0 && h->v[(i - 1) / 2]->due > h->v[i]->due)
        sift_up(h, i);
    else
        sift_down(h, i);
}

int ch_theap_set(ch_theap *h, ch_tnode *n, uint64_t due)
{
    if (n->pos) {
        n->due = due;
        fix(h, n->pos - 1);
        return 0;
    }
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        ch_tnode **v = realloc(h->v, cap * sizeof *v);

        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    n->due = due;
    place(h, h->n++, n);
    sift_up(h, h->n - 1);
    return 0;
}

void ch_theap_remove(ch_theap *h, ch_tnode *n)
{
    uint32_t i;
    ch_tnode *last;

    if (!n->pos)
        return;
    i = n->pos - 1;
    n->pos = 0;
    last = h->v[--h->n];
    if (i == h->n)
        return;
    place(h, i, last);
    fix(h, i);
}

ch_tnode *ch_theap_top(const ch_theap *h) { return h->n ? h->v[0] : NULL; }

void ch_theap_free(ch_theap *h)
{
    for (uint32_t i = 0; i < h->n; i++)
        h->v[i]->pos = 0;
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
