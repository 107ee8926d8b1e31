/*
 * fuzz_router.c -- core/router.c: a route pattern (the input's first
 * line) compiled with Django's converters, then matched against each
 * following line as a raw request path (percent-decoded first, as http.c
 * does).  A match must give every parameter a value.  Owns nothing
 * across inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "router.h"

/* Match one raw path against p. */
static void match_one(const ch_pattern *p, const char *raw, size_t len)
{
    char *path = ch_percent_decode(raw, len);
    ch_route_params params = {0};

    if (!path)
        return;
    if (ch_pattern_match(p, path, &params)) {
        FZ_CHECK(params.n <= CH_ROUTE_MAX_PARAMS);
        for (size_t i = 0; i < params.n; i++)
            FZ_CHECK(params.values[i] != NULL && ch_route_param(&params, params.names[i]) != NULL);
    }
    ch_route_params_free(&params);
    free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *line, *next, err[128];
    ch_pattern *p;

    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    next = strchr(text, '\n');
    if (next)
        *next++ = '\0';
    p = ch_pattern_compile(text, err, sizeof err);
    if (p) {
        FZ_CHECK(strcmp(ch_pattern_text(p), text) == 0);
        for (line = next; line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            match_one(p, line, strlen(line));
        }
        ch_pattern_free(p);
    } else {
        FZ_CHECK(err[0] != '\0');
    }
    free(text);
    return 0;
}
