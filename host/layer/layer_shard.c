/*
 * layer_shard.c -- owns the consistent hash that maps a group or process
 * channel name onto one of several Redis servers (layer_shard.h): zlib's
 * CRC-32 (polynomial 0xEDB88320, as Python's binascii.crc32), its low 12
 * bits, scaled to the ring size exactly as channels_redis does.  Holds no
 * state.
 */
#include "layer_shard.h"

#include <stdint.h>

/* CRC-32 of p[0..len), bit by bit (names are under 100 bytes). */
static uint32_t crc32_of(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

int ch_layer_shard(const char *name, size_t len, int nshards)
{
    uint32_t v;

    if (nshards <= 1)
        return 0;
    v = crc32_of((const unsigned char *)name, len) & 0xFFFu;
    return (int)((double)v / (4096.0 / (double)nshards));
}
