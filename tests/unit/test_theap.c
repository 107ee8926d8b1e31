/*
 * test_theap.c -- unit tests of host/core/theap.c: the deadline heap
 * against a brute-force minimum under random sets, moves and removals;
 * pops come out in order; removing an unarmed node and freeing the heap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "theap.h"

#define NODES 2000

/* The smallest due among the armed nodes, by looking at every one. */
static ch_tnode *brute_min(ch_tnode *nodes, size_t n)
{
    ch_tnode *best = NULL;

    for (size_t i = 0; i < n; i++)
        if (nodes[i].pos && (!best || nodes[i].due < best->due))
            best = &nodes[i];
    return best;
}

/* Every armed node is where its pos says, and no child is due before
 * its parent. */
static void check_shape(const ch_theap *h)
{
    for (uint32_t i = 0; i < h->n; i++) {
        assert_int_equal(h->v[i]->pos, i + 1);
        if (i > 0)
            assert_true(h->v[(i - 1) / 2]->due <= h->v[i]->due);
    }
}

static void test_random_against_brute_force(void **state)
{
    ch_tnode *nodes = calloc(NODES, sizeof *nodes);
    ch_theap h = {0};
    size_t armed = 0;

    (void)state;
    assert_non_null(nodes);
    srand(13);
    for (int step = 0; step < 50000; step++) {
        ch_tnode *n = &nodes[(size_t)rand() % NODES];
        int was = n->pos != 0;

        if (rand() % 4 == 0) {
            ch_theap_remove(&h, n);
            assert_int_equal(n->pos, 0);
            armed -= was;
        } else {
            assert_int_equal(ch_theap_set(&h, n, (uint64_t)(rand() % 100000)), 0);
            assert_int_not_equal(n->pos, 0);
            armed += !was;
        }
        assert_int_equal(h.n, armed);
        if (armed) {
            assert_non_null(ch_theap_top(&h));
            assert_true(ch_theap_top(&h)->due == brute_min(nodes, NODES)->due);
        } else {
            assert_null(ch_theap_top(&h));
        }
        if (step % 997 == 0)
            check_shape(&h);
    }
    check_shape(&h);
    ch_theap_free(&h);
    for (size_t i = 0; i < NODES; i++)
        assert_int_equal(nodes[i].pos, 0);
    free(nodes);
}

static void test_pops_in_order(void **state)
{
    ch_tnode nodes[500];
    ch_theap h = {0};
    uint64_t last = 0;

    (void)state;
    memset(nodes, 0, sizeof nodes);
    for (size_t i = 0; i < 500; i++)
        assert_int_equal(ch_theap_set(&h, &nodes[i], (i * 7919) % 1009), 0);
    for (size_t i = 0; i < 100; i++) /* move some later, some earlier */
        assert_int_equal(ch_theap_set(&h, &nodes[i * 5], i % 2 ? 2000 + i : i / 4), 0);
    for (size_t i = 0; i < 500; i++) {
        ch_tnode *top = ch_theap_top(&h);

        assert_non_null(top);
        assert_true(top->due >= last);
        last = top->due;
        ch_theap_remove(&h, top);
    }
    assert_null(ch_theap_top(&h));
    assert_int_equal(h.n, 0);
    ch_theap_free(&h);
}

static void test_remove_unarmed_and_reuse(void **state)
{
    ch_tnode a = {0}, b = {0};
    ch_theap h = {0};

    (void)state;
    ch_theap_remove(&h, &a); /* nothing armed: nothing happens */
    assert_int_equal(h.n, 0);
    assert_int_equal(ch_theap_set(&h, &a, 50), 0);
    assert_int_equal(ch_theap_set(&h, &b, 10), 0);
    assert_ptr_equal(ch_theap_top(&h), &b);
    assert_int_equal(ch_theap_set(&h, &b, 90), 0); /* moved behind a */
    assert_ptr_equal(ch_theap_top(&h), &a);
    ch_theap_remove(&h, &a);
    ch_theap_remove(&h, &a);
    assert_int_equal(h.n, 1);
    assert_ptr_equal(ch_theap_top(&h), &b);
    ch_theap_free(&h);
    assert_int_equal(b.pos, 0);
    assert_int_equal(ch_theap_set(&h, &a, 5), 0); /* usable after free */
    assert_ptr_equal(ch_theap_top(&h), &a);
    ch_theap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_brute_force),
        cmocka_unit_test(test_pops_in_order),
        cmocka_unit_test(test_remove_unarmed_and_reuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
