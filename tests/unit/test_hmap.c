/*
 * test_hmap.c -- unit tests of host/core/hmap.c: insert, find, replace,
 * remove (including probe runs that must survive backward shifts),
 * growth to 100,000 keys, and iteration; the same for ch_vmap (values
 * that carry their keys: numbers and names).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hmap.h"

#define MANY 100000

/* n keys "key-<i>", each malloc'd; free with free_keys. */
static char **make_keys(size_t n)
{
    char **keys = malloc(n * sizeof *keys);

    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) {
        keys[i] = malloc(32);
        assert_non_null(keys[i]);
        snprintf(keys[i], 32, "key-%zu", i);
    }
    return keys;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static void zeroed_map_is_empty(void **state)
{
    ch_hmap m = {0};
    size_t pos = 0;

    (void)state;
    assert_null(ch_hmap_get(&m, "a"));
    assert_null(ch_hmap_remove(&m, "a"));
    assert_int_equal(ch_hmap_count(&m), 0);
    assert_int_equal(ch_hmap_next(&m, &pos, NULL, NULL), 0);
    ch_hmap_free(&m);
}

static void insert_then_find(void **state)
{
    ch_hmap m;
    int a = 1, b = 2;

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, "alpha", &a), 0);
    assert_int_equal(ch_hmap_put(&m, "beta", &b), 0);
    assert_ptr_equal(ch_hmap_get(&m, "alpha"), &a);
    assert_ptr_equal(ch_hmap_get(&m, "beta"), &b);
    assert_null(ch_hmap_get(&m, "gamma"));
    assert_null(ch_hmap_get(&m, "alph"));
    assert_int_equal(ch_hmap_count(&m), 2);
    ch_hmap_free(&m);
}

static void find_uses_content_not_pointer(void **state)
{
    ch_hmap m;
    int a = 1;
    char key[] = "room.7";
    char probe[] = "room.7";

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, key, &a), 0);
    assert_ptr_equal(ch_hmap_get(&m, probe), &a);
    ch_hmap_free(&m);
}

static void put_existing_replaces_value_and_key(void **state)
{
    ch_hmap m;
    int a = 1, b = 2;
    char k1[] = "same", k2[] = "same";
    const char *key;
    void *val;
    size_t pos = 0;

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, k1, &a), 0);
    assert_int_equal(ch_hmap_put(&m, k2, &b), 1);
    assert_int_equal(ch_hmap_count(&m), 1);
    assert_ptr_equal(ch_hmap_get(&m, "same"), &b);
    assert_int_equal(ch_hmap_next(&m, &pos, &key, &val), 1);
    assert_ptr_equal(key, k2);
    ch_hmap_free(&m);
}

static void put_rejects_null_key_or_value(void **state)
{
    ch_hmap m;
    int a = 1;

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, NULL, &a), -EINVAL);
    assert_int_equal(ch_hmap_put(&m, "k", NULL), -EINVAL);
    assert_int_equal(ch_hmap_count(&m), 0);
    ch_hmap_free(&m);
}

static void remove_returns_value_once(void **state)
{
    ch_hmap m;
    int a = 1;

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, "k", &a), 0);
    assert_ptr_equal(ch_hmap_remove(&m, "k"), &a);
    assert_null(ch_hmap_remove(&m, "k"));
    assert_null(ch_hmap_get(&m, "k"));
    assert_int_equal(ch_hmap_count(&m), 0);
    ch_hmap_free(&m);
}

static void reinsert_after_remove(void **state)
{
    ch_hmap m;
    int a = 1, b = 2;

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, "k", &a), 0);
    ch_hmap_remove(&m, "k");
    assert_int_equal(ch_hmap_put(&m, "k", &b), 0);
    assert_ptr_equal(ch_hmap_get(&m, "k"), &b);
    assert_int_equal(ch_hmap_count(&m), 1);
    ch_hmap_free(&m);
}

/* Fill a small table densely (probe runs are long at 3/4 load), remove
 * every other key, and check every survivor is still reachable: this is
 * what breaks if backward-shift deletion moves an entry wrongly. */
static void remove_keeps_probe_runs_intact(void **state)
{
    enum { N = 12 }; /* 12/16 = the growth threshold */
    char **keys = make_keys(N);
    ch_hmap m;

    (void)state;
    ch_hmap_init(&m);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(ch_hmap_put(&m, keys[i], keys[i]), 0);
    assert_int_equal(m.cap, 16);
    for (size_t i = 0; i < N; i += 2)
        assert_ptr_equal(ch_hmap_remove(&m, keys[i]), keys[i]);
    for (size_t i = 0; i < N; i++) {
        if (i % 2)
            assert_ptr_equal(ch_hmap_get(&m, keys[i]), keys[i]);
        else
            assert_null(ch_hmap_get(&m, keys[i]));
    }
    ch_hmap_free(&m);
    free_keys(keys, N);
}

static void grows_to_100k_keys(void **state)
{
    char **keys = make_keys(MANY);
    ch_hmap m;

    (void)state;
    ch_hmap_init(&m);
    for (size_t i = 0; i < MANY; i++)
        assert_int_equal(ch_hmap_put(&m, keys[i], keys[i]), 0);
    assert_int_equal(ch_hmap_count(&m), MANY);
    assert_true(m.cap * 3 >= (size_t)MANY * 4);
    for (size_t i = 0; i < MANY; i++)
        assert_ptr_equal(ch_hmap_get(&m, keys[i]), keys[i]);
    assert_null(ch_hmap_get(&m, "key-100000"));
    ch_hmap_free(&m);
    free_keys(keys, MANY);
}

static void remove_half_of_100k(void **state)
{
    char **keys = make_keys(MANY);
    ch_hmap m;

    (void)state;
    ch_hmap_init(&m);
    for (size_t i = 0; i < MANY; i++)
        assert_int_equal(ch_hmap_put(&m, keys[i], keys[i]), 0);
    for (size_t i = 0; i < MANY; i += 2)
        assert_ptr_equal(ch_hmap_remove(&m, keys[i]), keys[i]);
    assert_int_equal(ch_hmap_count(&m), MANY / 2);
    for (size_t i = 0; i < MANY; i++) {
        if (i % 2)
            assert_ptr_equal(ch_hmap_get(&m, keys[i]), keys[i]);
        else
            assert_null(ch_hmap_get(&m, keys[i]));
    }
    ch_hmap_free(&m);
    free_keys(keys, MANY);
}

static void iteration_visits_each_entry_once(void **state)
{
    enum { N = 1000 };
    char **keys = make_keys(N);
    unsigned char seen[N] = {0};
    ch_hmap m;
    size_t pos = 0, visits = 0;
    const char *key;
    void *val;

    (void)state;
    ch_hmap_init(&m);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(ch_hmap_put(&m, keys[i], keys[i]), 0);
    while (ch_hmap_next(&m, &pos, &key, &val)) {
        size_t i = strtoul(key + 4, NULL, 10);

        assert_true(i < N);
        assert_ptr_equal(val, keys[i]);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        visits++;
    }
    assert_int_equal(visits, N);
    assert_int_equal(ch_hmap_next(&m, &pos, &key, &val), 0);
    ch_hmap_free(&m);
    free_keys(keys, N);
}

/* A named block: made once, zeroed, its key its own copy of the name. */
typedef struct named {
    int n;
    char name[];
} named;

static void get_or_add_makes_one_block_per_key(void **state)
{
    ch_hmap m;
    char key[16] = "room.7";
    named *a, *b;

    (void)state;
    ch_hmap_init(&m);
    a = ch_hmap_get_or_add(&m, key, sizeof(named), offsetof(named, name));
    assert_non_null(a);
    assert_int_equal(a->n, 0);
    assert_string_equal(a->name, "room.7");
    a->n = 5;
    strcpy(key, "other"); /* the map keys on the block's copy, not on key */
    assert_ptr_equal(ch_hmap_get(&m, "room.7"), a);
    b = ch_hmap_get_or_add(&m, "room.7", sizeof(named), offsetof(named, name));
    assert_ptr_equal(b, a);
    assert_int_equal(b->n, 5);
    assert_int_equal(ch_hmap_count(&m), 1);
    assert_ptr_equal(ch_hmap_remove(&m, "room.7"), a);
    free(a);
    ch_hmap_free(&m);
}

static void free_leaves_map_reusable(void **state)
{
    ch_hmap m;
    int a = 1;

    (void)state;
    ch_hmap_init(&m);
    assert_int_equal(ch_hmap_put(&m, "k", &a), 0);
    ch_hmap_free(&m);
    assert_null(ch_hmap_get(&m, "k"));
    assert_int_equal(ch_hmap_put(&m, "k", &a), 0);
    assert_ptr_equal(ch_hmap_get(&m, "k"), &a);
    ch_hmap_free(&m);
}

/* Random puts and removes over 64 keys, checked after every step against
 * a plain array: deletion bugs show up as a lost or resurrected key. */
static void churn_matches_reference(void **state)
{
    enum { N = 64, STEPS = 20000 };
    char **keys = make_keys(N);
    unsigned char present[N] = {0};
    size_t count = 0;
    unsigned seed = 12345;
    ch_hmap m;

    (void)state;
    ch_hmap_init(&m);
    for (int step = 0; step < STEPS; step++) {
        size_t k = (size_t)rand_r(&seed) % N;

        if (rand_r(&seed) % 2) {
            assert_int_equal(ch_hmap_put(&m, keys[k], keys[k]), present[k] ? 1 : 0);
            count += !present[k];
            present[k] = 1;
        } else {
            assert_ptr_equal(ch_hmap_remove(&m, keys[k]), present[k] ? keys[k] : NULL);
            count -= present[k];
            present[k] = 0;
        }
        assert_int_equal(ch_hmap_count(&m), count);
        for (size_t i = 0; i < N; i++)
            assert_ptr_equal(ch_hmap_get(&m, keys[i]), present[i] ? keys[i] : NULL);
    }
    ch_hmap_free(&m);
    free_keys(keys, N);
}

/* ---- ch_vmap ----------------------------------------------------------- */

/* A value of the tests' number-keyed maps: it carries its key. */
typedef struct uval {
    uint64_t key;
} uval;

static uint64_t u_hash_key(const void *k, uint64_t seed)
{
    return ch_vmap_hash_u64(*(const uint64_t *)k, seed);
}

static uint64_t u_hash_val(const void *v, uint64_t seed)
{
    return ch_vmap_hash_u64(((const uval *)v)->key, seed);
}

static int u_match(const void *v, const void *k)
{
    return ((const uval *)v)->key == *(const uint64_t *)k;
}

static const ch_vmap_ops u_ops = {u_hash_key, u_hash_val, u_match};

/* A value of the tests' name-keyed maps. */
typedef struct nval {
    char name[24];
} nval;

static uint64_t n_hash_key(const void *k, uint64_t seed) { return ch_vmap_hash_str(k, seed); }

static uint64_t n_hash_val(const void *v, uint64_t seed)
{
    return ch_vmap_hash_str(((const nval *)v)->name, seed);
}

static int n_match(const void *v, const void *k) { return strcmp(((const nval *)v)->name, k) == 0; }

static const ch_vmap_ops n_ops = {n_hash_key, n_hash_val, n_match};

#define U(v) (&(uint64_t){(v)}) /* a number key for a call */

/* A fresh map finds nothing; NULL keys and values are refused; put,
 * replace (another value with the same key) and remove answer as
 * documented; after free the map is reusable. */
static void vmap_put_get_replace_remove(void **state)
{
    uval a = {7}, a2 = {7}, b = {UINT64_MAX};
    ch_vmap m;
    size_t pos = 0;

    (void)state;
    ch_vmap_init(&m, &u_ops);
    assert_null(ch_vmap_get(&m, U(1)));
    assert_null(ch_vmap_remove(&m, U(1)));
    assert_int_equal(ch_vmap_next(&m, &pos, NULL), 0);
    assert_int_equal(ch_vmap_put(&m, NULL, &a), -EINVAL);
    assert_int_equal(ch_vmap_put(&m, U(7), NULL), -EINVAL);
    assert_int_equal(ch_vmap_put(&m, U(7), &a), 0);
    assert_int_equal(ch_vmap_put(&m, U(UINT64_MAX), &b), 0);
    assert_ptr_equal(ch_vmap_get(&m, U(7)), &a);
    assert_ptr_equal(ch_vmap_get(&m, U(UINT64_MAX)), &b);
    assert_null(ch_vmap_get(&m, NULL));
    assert_null(ch_vmap_get(&m, U(8)));
    assert_int_equal(ch_vmap_put(&m, U(7), &a2), 1);
    assert_ptr_equal(ch_vmap_get(&m, U(7)), &a2);
    assert_int_equal(ch_vmap_count(&m), 2);
    assert_ptr_equal(ch_vmap_remove(&m, U(7)), &a2);
    assert_null(ch_vmap_remove(&m, U(7)));
    assert_null(ch_vmap_get(&m, U(7)));
    assert_int_equal(ch_vmap_count(&m), 1);
    ch_vmap_free(&m);
    assert_int_equal(ch_vmap_count(&m), 0);
    assert_null(ch_vmap_get(&m, U(UINT64_MAX)));
    assert_int_equal(ch_vmap_put(&m, U(7), &a), 0); /* reusable: ops kept */
    assert_ptr_equal(ch_vmap_get(&m, U(7)), &a);
    ch_vmap_free(&m);
}

/* The layer's channels: 100,000 consecutive numbers, every other one
 * removed, the rest found and iterated exactly once each. */
static void vmap_100k_consecutive_half_removed(void **state)
{
    static unsigned char seen[MANY + 1];
    uval *v = calloc(MANY + 1, sizeof *v);
    ch_vmap m;
    size_t pos = 0, n = 0;
    void *got;

    (void)state;
    assert_non_null(v);
    ch_vmap_init(&m, &u_ops);
    for (size_t i = 1; i <= MANY; i++) {
        v[i].key = i;
        assert_int_equal(ch_vmap_put(&m, &v[i].key, &v[i]), 0);
    }
    for (size_t i = 1; i <= MANY; i += 2)
        assert_ptr_equal(ch_vmap_remove(&m, U(i)), &v[i]);
    assert_int_equal(ch_vmap_count(&m), MANY / 2);
    for (size_t i = 1; i <= MANY; i++)
        assert_ptr_equal(ch_vmap_get(&m, U(i)), i % 2 ? NULL : &v[i]);
    while (ch_vmap_next(&m, &pos, &got)) {
        uint64_t key = ((uval *)got)->key;

        assert_true(key >= 1 && key <= MANY && key % 2 == 0);
        assert_ptr_equal(got, &v[key]);
        assert_false(seen[key]);
        seen[key] = 1;
        n++;
    }
    assert_int_equal(n, MANY / 2);
    ch_vmap_free(&m);
    free(v);
}

/* Random puts and removes over 64 named values (the layer's groups),
 * checked after every step against a plain array: deletion bugs show up
 * as a lost or resurrected value. */
static void vmap_named_churn_matches_reference(void **state)
{
    enum { N = 64, STEPS = 20000 };
    nval vals[N];
    unsigned char present[N] = {0};
    size_t count = 0;
    unsigned seed = 54321;
    ch_vmap m;

    (void)state;
    ch_vmap_init(&m, &n_ops);
    for (size_t i = 0; i < N; i++)
        snprintf(vals[i].name, sizeof vals[i].name, "chanhost.user.%zu", i);
    for (int step = 0; step < STEPS; step++) {
        size_t k = (size_t)rand_r(&seed) % N;

        if (rand_r(&seed) % 2) {
            assert_int_equal(ch_vmap_put(&m, vals[k].name, &vals[k]), present[k] ? 1 : 0);
            count += !present[k];
            present[k] = 1;
        } else {
            assert_ptr_equal(ch_vmap_remove(&m, vals[k].name), present[k] ? &vals[k] : NULL);
            count -= present[k];
            present[k] = 0;
        }
        assert_int_equal(ch_vmap_count(&m), count);
        for (size_t i = 0; i < N; i++)
            assert_ptr_equal(ch_vmap_get(&m, vals[i].name), present[i] ? &vals[i] : NULL);
    }
    assert_null(ch_vmap_get(&m, "chanhost.user.64"));
    ch_vmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zeroed_map_is_empty),
        cmocka_unit_test(insert_then_find),
        cmocka_unit_test(find_uses_content_not_pointer),
        cmocka_unit_test(put_existing_replaces_value_and_key),
        cmocka_unit_test(put_rejects_null_key_or_value),
        cmocka_unit_test(remove_returns_value_once),
        cmocka_unit_test(reinsert_after_remove),
        cmocka_unit_test(remove_keeps_probe_runs_intact),
        cmocka_unit_test(grows_to_100k_keys),
        cmocka_unit_test(remove_half_of_100k),
        cmocka_unit_test(iteration_visits_each_entry_once),
        cmocka_unit_test(free_leaves_map_reusable),
        cmocka_unit_test(get_or_add_makes_one_block_per_key),
        cmocka_unit_test(churn_matches_reference),
        cmocka_unit_test(vmap_put_get_replace_remove),
        cmocka_unit_test(vmap_100k_consecutive_half_removed),
        cmocka_unit_test(vmap_named_churn_matches_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
