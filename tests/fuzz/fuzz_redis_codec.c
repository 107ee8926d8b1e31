/*
 * fuzz_redis_codec.c -- the Redis channel layer's codec
 * (layer/layer_redis_codec.c, private header internal/layer_redis.h) and
 * its url parser (core/redis_url.c): the input decoded as a PUBLISH
 * payload, group and direct (what another process sends); a payload
 * that decodes is written back and must come out byte for byte; the
 * input as a channel name, a process id and a layer url.  There is no
 * channels_redis wire format in the host yet: this is the host's own.
 * Owns nothing across inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layer_redis.h"

/* Decode data as a payload; if it decodes, re-encode and compare. */
static void payload(const uint8_t *data, size_t size, int direct)
{
    ch_rl_payload p;
    uint8_t *out;
    size_t n;

    if (ch_rl_payload_decode(data, size, direct, &p) != 0)
        return;
    FZ_CHECK(p.text_len > 0 && p.text >= (const char *)data &&
             p.text + p.text_len == (const char *)data + size);
    n = ch_rl_payload_len(direct ? p.target : NULL, p.text_len);
    FZ_CHECK(n == size && (out = malloc(n)) != NULL);
    ch_rl_payload_write(out, p.sender, p.seq, direct ? p.target : NULL, p.text, p.text_len);
    FZ_CHECK(memcmp(out, data, n) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), hex[33], err[128];
    uint8_t id[CH_RL_ID_LEN];
    ch_rl_url url;

    FZ_CHECK(text != NULL);
    payload(data, size, 0);
    payload(data, size, 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (ch_rl_channel_process(text, hex) == 0)
        FZ_CHECK(strlen(hex) == 32 && ch_rl_id_parse(hex, id) == 0);
    (void)ch_rl_id_parse(text, id);
    if (ch_rl_url_parse(text, &url, err, sizeof err) != 0)
        FZ_CHECK(err[0] != '\0');
    free(text);
    return 0;
}
