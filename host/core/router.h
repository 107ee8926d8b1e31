/*
 * router.h -- WebSocket URL routing with Django's path converters.
 *
 * A pattern is a path with converters, as in Django's path():
 *   <int:name>   one or more ASCII digits
 *   <str:name>   one or more characters except '/'  (also <name>)
 *   <slug:name>  one or more of [-a-zA-Z0-9_]
 *   <uuid:name>  8-4-4-4-12 lowercase hex digits
 *   <path:name>  one or more characters, '/' included
 * The whole (percent-decoded) request path must match.  A leading '/' is
 * optional on both sides ("ws/chat/" and "/ws/chat/" are the same), as
 * Channels' URLRouter strips it.  Routes are tried in order; the first
 * match wins.
 */
#ifndef CH_ROUTER_H
#define CH_ROUTER_H

#include <stddef.h>

#define CH_ROUTE_MAX_PARAMS 8

typedef struct ch_pattern ch_pattern; /* one compiled pattern */

/* Parameters of a match.  names[] point into the pattern (valid while it
 * lives); values[] point into buf, which the match owns. */
typedef struct ch_route_params {
    size_t n;
    const char *names[CH_ROUTE_MAX_PARAMS];
    const char *values[CH_ROUTE_MAX_PARAMS];
    char *buf; /* malloc'd; free with ch_route_params_free */
} ch_route_params;

/* Compile a pattern.  Returns a new pattern (free with ch_pattern_free), or
 * NULL with the reason in err ("unknown converter 'foo'", "duplicate
 * parameter 'x'", "unterminated '<'", more than CH_ROUTE_MAX_PARAMS). */
ch_pattern *ch_pattern_compile(const char *pattern, char *err, size_t errlen);
void ch_pattern_free(ch_pattern *p);

/* The pattern's source text (owned by p). */
const char *ch_pattern_text(const ch_pattern *p);

/* Match a decoded path.  Returns 1 on a match and fills *out (the caller
 * frees it with ch_route_params_free), 0 if it does not match (out is
 * left empty), -1 out of memory.  out may be NULL to only test. */
int ch_pattern_match(const ch_pattern *p, const char *path, ch_route_params *out);

void ch_route_params_free(ch_route_params *params);

/* The value of parameter `name`, or NULL. */
const char *ch_route_param(const ch_route_params *params, const char *name);

/* Percent-decode src[0..len) into a new malloc'd string.  Returns NULL on
 * a malformed escape, on an encoded NUL ("%00") or out of memory. */
char *ch_percent_decode(const char *src, size_t len);

#endif
