/*
 * proxy.h -- who the client is behind a reverse proxy (config:
 * trusted_proxies CIDR...): parsing addresses and CIDR blocks, and the
 * client address and scheme that X-Forwarded-For, X-Real-IP and
 * X-Forwarded-Proto give when, and only when, the TCP peer is one of the
 * trusted proxies.  Pure (no I/O, no logging, no allocation): net/conn.c
 * applies it to each request of a connection (ch_conn_proxy), and every
 * user of the connection's peer (logs, limits, the SDK's peer) sees the
 * result.
 *
 * Addresses are kept as 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped
 * IPv6 address ::ffff:a.b.c.d (so an IPv4 block also matches a peer seen
 * on a dual-stack socket).  An IPv4 block's bits are counted in that
 * form (a /8 is stored as /104).
 */
#ifndef CH_PROXY_H
#define CH_PROXY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ch_cidr {
    uint8_t addr[16]; /* the block's address, host bits cleared */
    uint8_t bits;     /* prefix length over the 16 bytes: 0..128 */
} ch_cidr;

/* Parse one address of a forwarding header from s[0..len): "192.0.2.1",
 * "2001:db8::1", "[2001:db8::1]", and either with a port ("192.0.2.1:80",
 * "[2001:db8::1]:80"; the port is dropped), blanks around it cut.  0 with
 * the address in out (IPv4 mapped), or -EINVAL. */
int ch_ip_parse(const char *s, size_t len, uint8_t out[16]);

/* Parse a trusted_proxies entry (s borrowed): an address ("10.0.0.1",
 * "::1": the one address) or a block ("10.0.0.0/8", "fd00::/8").  0 with
 * *out set (host bits cleared), or -EINVAL. */
int ch_cidr_parse(const char *s, ch_cidr *out);

/* 1 if ip is inside one of list[0..n), else 0. */
int ch_cidr_match(const ch_cidr *list, size_t n, const uint8_t ip[16]);

/* The client of a request whose TCP peer is peer: when peer is inside
 * trusted[0..n), the rightmost address of xff (X-Forwarded-For, may be
 * NULL) that is not itself trusted (nginx's real_ip_recursive: the
 * leftmost when all are; a malformed element stops the walk at the hop
 * that wrote it), else the address of xrip (X-Real-IP, may be NULL);
 * else the peer.  Header values are borrowed.  Returns 1 with the
 * address from a header in out, 0 with the peer's copied to out. */
int ch_proxy_client(const uint8_t peer[16], const char *xff, const char *xrip,
                    const ch_cidr *trusted, size_t n, uint8_t out[16]);

/* 1 if xfp (X-Forwarded-Proto, may be NULL) says the client spoke
 * https or wss to the proxy (its first element, any case), else 0. */
int ch_proxy_https(const char *xfp);

/* 1 if the 16 bytes of ip are an IPv4-mapped address (::ffff:a.b.c.d:
 * the IPv4 address is in ip[12..16)), else 0. */
int ch_ip_is_v4(const uint8_t ip[16]);

#endif
