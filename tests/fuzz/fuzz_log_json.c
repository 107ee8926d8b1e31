/*
 * fuzz_log_json.c -- core/log_json.c: any bytes as a log message (the
 * first byte, if any, also picks a plugin prefix and a worker) must give
 * one line of valid JSON whose "message" is the input with invalid UTF-8
 * replaced, and whose extra fields are all strings.  Owns nothing across
 * inputs.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ch_log_parts p = {"2026-12-03T11:54:54+00:00", "DEBUG", 0, NULL, 0, (const char *)data, size};
    json_error_t err;
    json_t *o, *v;
    const char *k;
    size_t n = 0;
    char *s;

    if (size > 0 && (data[0] & 1)) {
        p.plugin = (const char *)data + 1;
        p.plugin_len = (size - 1) / 4;
        p.worker = data[0] >> 1;
    }
    s = ch_log_json(&p, &n);
    FZ_CHECK(s != NULL);
    FZ_CHECK(n > 0 && s[n - 1] == '\n' && memchr(s, '\n', n - 1) == NULL);
    o = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!o)
        fprintf(stderr, "not JSON (%s): %s\n", err.text, s);
    FZ_CHECK(json_is_object(o));
    FZ_CHECK(json_string_length(json_object_get(o, "message")) >= size);
    json_object_foreach(o, k, v) FZ_CHECK(json_is_string(v) || strcmp(k, "worker") == 0);
    json_decref(o);
    free(s);
    return 0;
}
