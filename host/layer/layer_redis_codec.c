/*
 * layer_redis_codec.c -- owns the Redis backend's formats, with no I/O:
 * the Redis key and channel names, process ids, and the PUBLISH payload
 * (the url parser is core/redis_url.c, shared with the config check) (layout in layer_redis.h).  Everything here is
 * pure and unit-tested on its own (tests/unit/test_layer_redis.c).
 */
#include "layer_redis.h"
#include "router.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX_LEN (2 * (size_t)CH_RL_ID_LEN) /* a process id in hex */

/* ---- payloads -------------------------------------------------------- */

/* A target name's length as encoded: at most CH_NAME_MAX - 1 bytes. */
static size_t target_len(const char *target)
{
    return target ? strnlen(target, CH_NAME_MAX - 1) : 0;
}

size_t ch_rl_payload_len(const char *target, size_t text_len)
{
    return CH_RL_HEADER + (target ? 1 + target_len(target) : 0) + text_len;
}

void ch_rl_payload_write(uint8_t *out, const uint8_t sender[CH_RL_ID_LEN], uint64_t seq,
                         const char *target, const char *text, size_t text_len)
{
    *out++ = CH_RL_VERSION;
    memcpy(out, sender, CH_RL_ID_LEN);
    out += CH_RL_ID_LEN;
    for (int i = 7; i >= 0; i--)
        *out++ = (uint8_t)(seq >> (8 * i));
    if (target) {
        size_t n = target_len(target);

        *out++ = (uint8_t)n;
        memcpy(out, target, n);
        out += n;
    }
    memcpy(out, text, text_len);
}

/* Read the target name of a direct payload at p (left bytes).  Returns
 * the bytes used, or 0 if the name is missing or invalid. */
static size_t decode_target(const uint8_t *p, size_t left, char *target)
{
    size_t n = left ? p[0] : 0;

    if (n == 0 || n >= CH_NAME_MAX || n + 1 > left)
        return 0;
    memcpy(target, p + 1, n);
    target[n] = '\0';
    if (strlen(target) != n || !ch_layer_valid_channel(target))
        return 0;
    return n + 1;
}

int ch_rl_payload_decode(const void *buf, size_t len, int direct, ch_rl_payload *out)
{
    const uint8_t *p = buf;
    size_t used = CH_RL_HEADER;

    if (!buf || len <= CH_RL_HEADER || p[0] != CH_RL_VERSION)
        return -EINVAL;
    memcpy(out->sender, p + 1, CH_RL_ID_LEN);
    out->seq = 0;
    for (int i = 0; i < 8; i++)
        out->seq = out->seq << 8 | p[1 + CH_RL_ID_LEN + i];
    out->target[0] = '\0';
    if (direct) {
        size_t n = decode_target(p + used, len - used, out->target);

        if (!n)
            return -EINVAL;
        used += n;
    }
    if (used >= len)
        return -EINVAL;
    out->text = (const char *)p + used;
    out->text_len = len - used;
    return 0;
}

/* "*3\r\n$7\r\nPUBLISH\r\n$<k>\r\n<key>\r\n$<n>\r\n<payload>\r\n", the
 * payload written in place: one allocation, no intermediate copy. */
char *ch_rl_publish_command(const char *key, const uint8_t sender[CH_RL_ID_LEN], uint64_t seq,
                            const char *target, const char *text, size_t text_len, size_t *len)
{
    size_t klen = strlen(key), plen = ch_rl_payload_len(target, text_len);
    char head[CH_RL_KEY_MAX + 80];
    int hlen = snprintf(head, sizeof head, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n", klen,
                        key, plen);
    char *cmd;

    if (hlen < 0 || (size_t)hlen >= sizeof head)
        return NULL;
    cmd = malloc((size_t)hlen + plen + 2);
    if (!cmd)
        return NULL;
    memcpy(cmd, head, (size_t)hlen);
    ch_rl_payload_write((uint8_t *)cmd + hlen, sender, seq, target, text, text_len);
    cmd[(size_t)hlen + plen] = '\r';
    cmd[(size_t)hlen + plen + 1] = '\n';
    *len = (size_t)hlen + plen + 2;
    return cmd;
}

/* ---- names ----------------------------------------------------------- */

void ch_rl_key(char *out, char kind, const char *name)
{
    snprintf(out, CH_RL_KEY_MAX, "%s:%c:%s", CH_RL_PREFIX, kind, name);
}

/* A lower-case hex digit's value, or -1. */
static int lowerhex(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int ch_rl_id_parse(const char *hex, uint8_t id[CH_RL_ID_LEN])
{
    for (size_t i = 0; i < CH_RL_ID_LEN; i++) {
        int hi = lowerhex(hex[2 * i]), lo = hi >= 0 ? lowerhex(hex[2 * i + 1]) : -1;

        if (lo < 0)
            return -1;
        id[i] = (uint8_t)(hi * 16 + lo);
    }
    return hex[HEX_LEN] == '\0' || hex[HEX_LEN] == '!' ? 0 : -1;
}

int ch_rl_channel_process(const char *channel, char hex[33])
{
    static const char prefix[] = "chanhost.";
    uint8_t id[CH_RL_ID_LEN];
    const char *p = channel;

    if (strncmp(p, prefix, sizeof prefix - 1) != 0)
        return -1;
    p += sizeof prefix - 1;
    if (strnlen(p, HEX_LEN + 1) <= HEX_LEN || p[HEX_LEN] != '!' || ch_rl_id_parse(p, id) != 0)
        return -1;
    snprintf(hex, HEX_LEN + 1, "%.*s", (int)HEX_LEN, p);
    return 0;
}
