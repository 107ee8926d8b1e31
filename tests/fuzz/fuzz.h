/*
 * fuzz.h -- what every target of tests/fuzz/ exports: libFuzzer's entry
 * point.  In the clang build (CHANHOST_FUZZ=ON) libFuzzer calls it; in
 * every other build driver.c's main() replays the committed corpus
 * through it, so the corpora (and the regressions they hold) run in
 * ./scripts/test too.
 */
#ifndef CH_FUZZ_H
#define CH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Run one input (data[0..size), borrowed for the call).  Returns 0;
 * a bug is a crash or a sanitizer report, never a return value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message naming the broken expectation (a harness check
 * that found the host misbehaving: a crash is what fuzzers report). */
#define FZ_CHECK(cond)                                                               \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#endif
