/*
 * support_http.h -- the support plugin's HTTP endpoint (SDK 1.2), defined
 * in support_http.c and declared in support.c's descriptor.
 */
#ifndef SUPPORT_HTTP_H
#define SUPPORT_HTTP_H

#include "chanhost.h"

/* POST /api/ads/ {"ad_id", "publisher_id"} (CHANHOST_HTTP_SERVICE): the
 * handler; req borrowed until answered, state the plugin's (cc_plugin). */
void sp_ads_register(chanhost_http *req, void *state);

#endif /* SUPPORT_HTTP_H */
