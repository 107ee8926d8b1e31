/*
 * handshake.h -- validation of a WebSocket opening handshake (RFC 6455
 * section 4.2.1) and of its Origin, without any I/O.
 *
 * Order of checks, and the answer for each failure:
 *   method is not GET                          405  reason "bad_method"
 *   HTTP version below 1.1                     400  "bad_request"
 *   no Upgrade: websocket token                426  "not_websocket"
 *     (a plain GET on a WebSocket route)
 *   no Connection: upgrade token               400  "bad_request"
 *   Sec-WebSocket-Version is not 13            426  "bad_version"
 *     (answered with "Sec-WebSocket-Version: 13")
 *   Sec-WebSocket-Key is not base64 of 16 bytes 400 "bad_key"
 *   Origin not allowed                         403  "bad_origin"
 * Token comparisons are case-insensitive; header values are comma lists.
 *
 * Origin policy (like Channels' AllowedHostsOriginValidator):
 *   - no Origin header: accepted unless require_origin (only non-browser
 *     clients omit it);
 *   - Origin "null" or unparsable: refused;
 *   - the host's own origin (Origin's host:port equals the Host header) and
 *     localhost, 127.0.0.1 and [::1] on any port are always allowed;
 *   - otherwise one allowed_origins entry must match: "*"; a full origin
 *     "scheme://host[:port]" (port defaults 80/443 by scheme); the same
 *     with ":*" for any port; or a host pattern as in Django's
 *     ALLOWED_HOSTS: "example.com" exactly, ".example.com" for it and its
 *     subdomains.  Hosts compare case-insensitively.
 */
#ifndef CH_HANDSHAKE_H
#define CH_HANDSHAKE_H

#include <stddef.h>

#include "request.h"

typedef struct ch_origin_policy {
    char *const *allowed; /* borrowed */
    size_t n_allowed;
    int require_origin;
} ch_origin_policy;

typedef struct ch_handshake {
    int status;         /* 0 if valid, else the HTTP status to answer */
    const char *reason; /* metric label when status != 0 (static) */
    char accept[32];    /* Sec-WebSocket-Accept value when valid */
} ch_handshake;

/* Validate req; fills *out.  Returns 0 when valid, -1 otherwise. */
int ch_handshake_check(const ch_req *req, const ch_origin_policy *policy, ch_handshake *out);

/* base64(SHA-1(key + RFC 6455 GUID)) into out (NUL-terminated, 28 chars).
 * Returns 0, or -1 if key is not base64 of exactly 16 bytes. */
int ch_handshake_accept_key(const char *key, char out[32]);

/* 1 if origin (may be NULL) is allowed for a request with Host header
 * host (may be NULL) under policy, 0 if not. */
int ch_origin_allowed(const char *origin, const char *host, const ch_origin_policy *policy);

/* Non-zero if the client's Sec-WebSocket-Protocol value (may be NULL)
 * offers `name` (exact, case-sensitive per RFC 6455). */
int ch_subprotocol_offered(const char *header, const char *name);

#endif
