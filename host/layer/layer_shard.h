/*
 * layer_shard.h -- which of several Redis servers holds a name: the
 * consistent hash of channels_redis (channels_redis/utils.py,
 * _consistent_hash), so that a layer sharded over the same list of servers
 * puts every group and process channel where channels_redis would.
 * Pure: no state, no I/O.
 */
#ifndef CH_LAYER_SHARD_H
#define CH_LAYER_SHARD_H

#include <stddef.h>

/* The shard (0 .. nshards-1) of name[0..len): 0 when nshards <= 1, else
 * (CRC-32(name) & 0xFFF) / (4096.0 / nshards), truncated, computed in
 * doubles as Python does.  name is borrowed (bytes, no NUL needed). */
int ch_layer_shard(const char *name, size_t len, int nshards);

#endif
