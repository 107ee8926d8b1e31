/*
 * fuzz_cr_codec.c -- the channels_redis channel layer's codec
 * (layer/layer_cr_codec.c, private header internal/layer_cr.h) and its url
 * parser (core/redis_url.c): the input decoded as an inbox member (what a
 * Django process, or anyone with access to Redis, puts there); a member
 * that decodes is packed again (with its one target, if it had one) and
 * must decode to the same JSON and targets; the input as a
 * channels_redis:// url.  Owns nothing across inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "layer_cr.h"

/* Decode data; if it decodes, re-pack and compare the second decoding. */
static void member(const uint8_t *data, size_t size)
{
    const char *why = NULL, *target;
    ch_cr_msg m, again;
    char *packed;
    size_t n = 0;

    if (ch_cr_decode(data, size, &m, &why) != 0) {
        FZ_CHECK(why != NULL && m.obj == NULL && m.targets == NULL);
        return;
    }
    FZ_CHECK(json_is_object(m.obj) && json_is_array(m.targets));
    FZ_CHECK(!json_object_get(m.obj, CH_CR_CHANNEL_KEY));
    target = json_array_size(m.targets) == 1 ? json_string_value(json_array_get(m.targets, 0))
                                             : NULL;
    packed = ch_cr_member(m.obj, target, &n);
    if (packed) {
        FZ_CHECK(ch_cr_decode(packed, n, &again, &why) == 0);
        FZ_CHECK(json_equal(again.obj, m.obj));
        FZ_CHECK(json_array_size(again.targets) == (target ? 1u : 0u));
        if (target)
            FZ_CHECK(strcmp(json_string_value(json_array_get(again.targets, 0)), target) == 0);
        json_decref(again.obj);
        json_decref(again.targets);
        free(packed);
    }
    json_decref(m.obj);
    json_decref(m.targets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[128];
    ch_rl_url url;
    ch_cr_opts opts;

    FZ_CHECK(text != NULL);
    member(data, size);
    memcpy(text, data, size);
    text[size] = '\0';
    if (ch_cr_url_parse(text, &url, &opts, err, sizeof err) != 0)
        FZ_CHECK(err[0] != '\0');
    else
        FZ_CHECK(opts.capacity > 0 && opts.expiry_s > 0 && opts.group_expiry_s > 0);
    free(text);
    return 0;
}
