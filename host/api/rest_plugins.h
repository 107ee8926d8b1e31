/*
 * rest_plugins.h -- the endpoints plugins declare under /api/
 * (chanhost_endpoint, ABI 1.2), for the assembler: their table, rebuilt
 * from the current plugin versions whenever the plugins or the config
 * change (at start, and in the reload's swap callback, so that routes,
 * plugins and endpoints change together), and the timer of the answers
 * awaited.  Serving them is rest.c's (ch_rest_serve).  Sub-system api.
 */
#ifndef CH_REST_PLUGINS_H
#define CH_REST_PLUGINS_H

typedef struct ch_app ch_app;

/* Build the endpoint table from the plugins the config names, in the
 * order the config names them: each current version's declared
 * endpoints, and for a name with no running version the endpoints its
 * refused descriptor declared (they answer 503).  An endpoint with a bad
 * method, pattern or access, or whose pattern overlaps a host API route
 * or an earlier plugin's endpoint, is refused with one log line.  Replaces
 * app->endpoints' table (the first call also sets up its timer).  Returns
 * 0 or -ENOMEM (the old table stays). */
int ch_rest_endpoints_build(ch_app *app);

/* The host is stopping (its connections are closing): stop waiting for
 * the plugins' answers now rather than at their deadlines. */
void ch_rest_endpoints_stop(ch_app *app);

/* Close the timer (part of a graceful stop, when no request is left). */
void ch_rest_endpoints_close(ch_app *app);

/* Free the table (after the loop ended; the timer is closed). */
void ch_rest_endpoints_free(ch_app *app);

#endif
