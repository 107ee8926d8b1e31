/*
 * redis_url.h -- the Redis channel layer's url, parsed: shared by the
 * config check (config.c, core) and the Redis backend (layer/), so the
 * config needs nothing from the layer.  Includes nothing of the host.
 */
#ifndef CH_REDIS_URL_H
#define CH_REDIS_URL_H

#include <stddef.h>

#define CH_RL_DEFAULT_PORT 6379
#define CH_RL_DEFAULT_SENTINEL_PORT 26379
#define CH_RL_SENTINELS_MAX 8 /* sentinels in one redis-sentinel:// url */
#define CH_RL_SERVERS_MAX 64  /* urls (shards) in one layer */

/* A sentinel's address. */
typedef struct ch_rl_sentinel {
    char host[256];
    int port;
} ch_rl_sentinel;

/* A parsed url.  Strings are NUL-terminated copies. */
typedef struct ch_rl_url {
    int is_unix;    /* unix:// (path holds the socket) */
    char host[256]; /* tcp: host name or address, no [] */
    char path[108]; /* unix: socket path */
    int port;
    int db;
    char user[128];     /* "" if none */
    char password[256]; /* "" if none */
    char where[300];    /* "host:port" or the path, for logs */
    /* redis-sentinel:// only (n_sentinels 0 otherwise): the sentinels, asked
     * in this order, and the master's name; where is "sentinel:<master>" */
    int n_sentinels;
    ch_rl_sentinel sentinels[CH_RL_SENTINELS_MAX];
    char master[128];
} ch_rl_url;

/* Parse "redis://[[user]:password@]host[:port][/db]",
 * "unix:///path[?db=N][&password=P]" or
 * "redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master
 * [/db]" (sentinels default to port 26379; user and password, which are
 * the master's, may be percent-encoded).  Returns 0, or -EINVAL with a
 * reason in err naming the part that is wrong (the password is never
 * echoed). */
int ch_rl_url_parse(const char *url, ch_rl_url *out, char *err, size_t errlen);

/* Non-zero if s starts like one of the urls above (no parsing). */
int ch_rl_url_kind(const char *s);

/* Parse a layer's servers: 1 .. CH_RL_SERVERS_MAX urls separated by
 * spaces (the shards, in order).  Returns their number with *out a new
 * malloc'd array (the caller frees it), or -EINVAL with the reason in err
 * (naming the url's position when there are several), or -ENOMEM. */
int ch_rl_url_list_parse(const char *list, ch_rl_url **out, char *err, size_t errlen);

/* The channels_redis layer's own settings (channels_redis's names and
 * defaults: prefix "asgi", capacity 100, expiry 60 s, group_expiry 1 day). */
typedef struct ch_cr_opts {
    char prefix[64];
    unsigned capacity;
    unsigned expiry_s;
    unsigned group_expiry_s;
} ch_cr_opts;

/* Parse "channels_redis://[[user]:password@]host[:port][/db][?k=v&...]",
 * "channels_redis+unix:///path[?db=N&password=P&k=v...]" or
 * "channels_redis+sentinel://[[user]:password@]host[:port][,...]/master
 * [/db][?k=v&...]" (the redis-sentinel:// url's parts) where k is prefix,
 * capacity, expiry or group_expiry: the connection into *out as
 * ch_rl_url_parse does, the settings into *opts (defaults for those not
 * given).  Returns 0 or -EINVAL with a reason in err. */
int ch_cr_url_parse(const char *url, ch_rl_url *out, ch_cr_opts *opts, char *err, size_t errlen);

/* Non-zero if s starts like a channels_redis url (no parsing). */
int ch_cr_url_kind(const char *s);

/* ch_rl_url_list_parse for channels_redis urls (the shards of a layer
 * shared with channels_redis, in its `hosts` order): every url's settings
 * must be the same; they go into *opts. */
int ch_cr_url_list_parse(const char *list, ch_rl_url **out, ch_cr_opts *opts, char *err,
                         size_t errlen);

/* The layer directive's urls args[0..n) (borrowed; "memory" is the
 * caller's): all Redis urls (redis://, unix://, redis-sentinel://) or all
 * channels_redis urls, each well-formed.  Returns them joined by single
 * spaces (malloc'd, the caller frees it), or NULL with the reason in err
 * (naming the url's position when there are several). */
char *ch_rl_layer_value(char **args, int n, char *err, size_t errlen);

#endif
