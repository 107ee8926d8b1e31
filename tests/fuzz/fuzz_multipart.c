/*
 * fuzz_multipart.c -- net/multipart.c: the input's first line is the
 * boundary (as a Content-Type's parameter, through ch_mp_boundary), the
 * rest a body, fed whole and then in pieces of 1 to 8 bytes (the sizes
 * taken from the body's bytes).  Both feeds must give the same result,
 * the same number of parts and the same data bytes, and never more data
 * than the body holds.  Owns nothing across inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "multipart.h"

/* What one feed saw. */
typedef struct tally {
    size_t begins, ends, data_bytes;
    unsigned long sum; /* of the data bytes, in order */
} tally;

static int on_begin(void *arg, const ch_mp_part *p)
{
    tally *t = arg;

    FZ_CHECK(p->disposition != NULL && p->content_type != NULL);
    FZ_CHECK(t->begins == t->ends);
    t->begins++;
    return 0;
}

static int on_data(void *arg, const char *d, size_t n)
{
    tally *t = arg;

    FZ_CHECK(n > 0 && t->begins == t->ends + 1);
    for (size_t i = 0; i < n; i++)
        t->sum = t->sum * 31 + (unsigned char)d[i];
    t->data_bytes += n;
    return 0;
}

static int on_end(void *arg)
{
    tally *t = arg;

    FZ_CHECK(t->begins == t->ends + 1);
    t->ends++;
    return 0;
}

static const ch_mp_events events = {on_begin, on_data, on_end};

/* Feed body whole (step 0) or in pieces; returns the result, *t filled. */
static int run_one(const char *boundary, const char *body, size_t len, int pieces, tally *t,
                   int *done)
{
    ch_multipart *m = malloc(sizeof *m);
    int rc = 0;

    FZ_CHECK(m != NULL);
    memset(t, 0, sizeof *t);
    ch_mp_init(m, boundary, &events, t);
    if (!pieces) {
        rc = ch_mp_feed(m, body, len);
    } else {
        for (size_t i = 0, n; i < len && rc == 0; i += n) {
            n = 1 + (unsigned char)body[i] % 8;
            if (n > len - i)
                n = len - i;
            rc = ch_mp_feed(m, body + i, n);
        }
    }
    *done = ch_mp_done(m);
    free(m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *nl = memchr(text, '\n', size);
    char ctype[200], boundary[CH_MP_BOUNDARY_MAX + 1];
    size_t head = nl ? (size_t)(nl - text) : size;
    tally a, b;
    int rc_a, rc_b, done_a, done_b;

    if (head >= sizeof ctype - 40)
        return 0;
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%.*s", (int)head, text);
    if (ch_mp_boundary(ctype, boundary) != 0)
        return 0;
    FZ_CHECK(strlen(boundary) >= 1 && strlen(boundary) <= CH_MP_BOUNDARY_MAX);
    text += nl ? head + 1 : head;
    size -= nl ? head + 1 : head;
    rc_a = run_one(boundary, text, size, 0, &a, &done_a);
    rc_b = run_one(boundary, text, size, 1, &b, &done_b);
    FZ_CHECK(rc_a == 0 || rc_a == -1);
    FZ_CHECK(rc_a == rc_b && done_a == done_b);
    FZ_CHECK(a.data_bytes <= size);
    if (rc_a == 0)
        FZ_CHECK(a.begins == b.begins && a.ends == b.ends && a.data_bytes == b.data_bytes &&
                 a.sum == b.sum);
    return 0;
}
