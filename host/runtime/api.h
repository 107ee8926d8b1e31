/*
 * api.h -- the function table handed to plugins (api.c: chanhost_api of
 * sdk/chanhost.h, each entry a thin wrapper over ws.c, upgrade.c, the
 * layer and api_store.c).  Sub-system runtime.
 */
#ifndef CH_API_H
#define CH_API_H

#include "chanhost.h"

typedef struct ch_app ch_app;

/* Tell api.c which app plugins act on (once, at start; borrowed). */
void ch_api_bind(ch_app *app);

/* The api table handed to plugins (static, borrowed). */
const chanhost_api *ch_api_table(void);

#endif
