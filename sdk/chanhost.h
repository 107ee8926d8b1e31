/*
 * chanhost.h -- the one header a chanhost consumer plugin includes.
 *
 * A plugin is a shared object (.so) that exports ONE data symbol,
 *
 *     const chanhost_plugin chanhost_plugin_descriptor = { ... };
 *
 * built with CHANHOST_PLUGIN_INIT(...) so that the ABI fields are filled in
 * from this header.  The host dlopen()s the file, reads the descriptor,
 * checks its ABI version and mandatory fields, and only then calls
 * anything in it.  A plugin that fails a check is refused with a log line
 * naming the plugin, the file, the field, the expected and the actual
 * value; the host keeps running without it.
 *
 * The model is Django Channels' WebsocketConsumer, in C:
 *
 *   Channels                         chanhost
 *   --------                         --------
 *   connect() / accept()             descriptor.connect -> CHANHOST_ACCEPT
 *   close(code) in connect()         return a close code (4001, 4003, ...)
 *   receive(text_data, bytes_data)   descriptor.receive
 *   chat_message(self, event)        descriptor.group_message(type="chat_message")
 *   disconnect(code)                 descriptor.disconnect
 *   self.send(text_data=...)         api->send_text / api->send_json
 *   channel_layer.group_add/...      api->group_add / group_discard / group_send
 *   channel_layer.send(name, msg)    api->channel_send
 *   self.channel_name                api->channel_name
 *   scope["url_route"]["kwargs"]     api->route_param
 *   scope["query_string"]            api->query_string / api->query_param
 *   scope["headers"]                 api->header
 *   scope["user"]                    api->user_id, username (1.3) / user
 *
 * Callbacks.  name, version and receive are mandatory; every other
 * callback (init, fini, connect, disconnect, group_message, adopt) and the
 * HTTP endpoints (endpoints, n_endpoints) are optional: leave them out of
 * CHANHOST_PLUGIN_INIT and the host does what their comments below say
 * happens without them.
 *
 * Threading.  Every callback runs on the host's event-loop thread, one at a
 * time, and every api function must be called from that thread (from inside
 * a callback), with ONE exception: api->loop_post (ABI 1.2), which any
 * thread may call.  A callback must never block: no sleeping, no
 * synchronous network or disk I/O.  Slow work belongs to host services that
 * answer asynchronously, or to the plugin's own worker threads:
 *
 *   - on the loop (in init, or any callback) take a poster with
 *     api->poster_new() and start the thread with it;
 *   - the thread does its slow work and hands each result to the loop with
 *     api->loop_post(poster, cb, drop, arg); cb(arg) then runs on the loop
 *     thread, inside the version that owns the poster, where every api
 *     function may be called again (send to a connection, group_send ...);
 *   - fini stops and joins the thread, then calls api->poster_free (the
 *     host frees every poster the plugin left after fini returns; a thread
 *     still running then would use a freed poster and unloaded code).
 *
 * This is Redis's thread-safe context (RedisModule_GetThreadSafeContext),
 * turned into a queue: a worker never takes the loop's lock, it queues a
 * callback.  Timers (api->timer_start) need no thread at all.
 *
 * Lifetimes.  A chanhost_conn is owned by the host.  It is valid from the
 * connect callback until the disconnect callback returns; after that the
 * pointer must not be used.  disconnect (if the plugin has one) is called
 * exactly once for every connection that reached connect (whether or not
 * the plugin has a connect callback), whatever the outcome.  Strings
 * returned by the api (route parameters, headers, channel name) are owned
 * by the host and stay valid for as long as the connection does (the
 * request's: until api->release_request frees them, if the plugin calls
 * it).  String and buffer arguments are borrowed: the host copies.
 *
 * Ownership of JSON, in jansson's words, with no exception to this rule:
 * a json_t passed to the host is "borrowed" (the caller keeps its
 * reference and must not change the value during the call) unless the
 * function's comment says "stolen" (the host owns that reference from the
 * call on, whatever the call returns); a json_t the host hands out (as a
 * result or a callback argument) is "borrowed" (not yours to decref; valid
 * as long as its comment says) unless the comment says "new reference".
 * Today api->store_call's and api->store_exec's params and
 * api->http_reply's body are the only stolen arguments, and
 * api->presence_list's result (ABI 1.4) the only new reference the host
 * hands out.  Host and plugins share one
 * libjansson.so (the host checks JANSSON_MAJOR_VERSION at load time).
 *
 * Errors.  api functions that return int return CHANHOST_OK (0) or a
 * negative CHANHOST_ERR_* (CHANHOST_STORE_* for the store);
 * chanhost_strerror() turns either into a short English phrase for logs.
 *
 * Versions.  CHANHOST_ABI_MAJOR changes when something here changes
 * incompatibly; the host refuses a plugin built for another major.  Within
 * a major, both tables only grow at their end, and each addition raises
 * CHANHOST_ABI_MINOR.  The descriptor's abi_minor is the minor the plugin
 * needs (CHANHOST_PLUGIN_INIT puts this header's minor there):
 *   - a host whose minor is the same or newer loads it; descriptor fields
 *     beyond the plugin's struct_size (callbacks added after it was built)
 *     count as NULL, i.e. absent;
 *   - a host whose minor is older refuses it, saying which SDK minor the
 *     plugin was built for and which the host speaks.
 * So a plugin built with CHANHOST_PLUGIN_INIT finds every api member of
 * this header.  A plugin that should also load on older hosts declares
 * the oldest minor it needs with CHANHOST_PLUGIN_INIT_MINOR(minor, ...)
 * and tests each newer api member with CHANHOST_API_HAS(api, member)
 * before calling it (the host's table ends at api->struct_size; a member
 * beyond it does not exist, so testing its pointer for NULL is wrong).
 *
 * Several versions of one plugin may be loaded at once (hot reload): each
 * load is its own copy of the code with its own static data, and each
 * connection stays with the version that accepted it (unless a newer
 * version takes it over with adopt).  A plugin must
 * therefore keep its state in what init returns or in per-connection data,
 * never rely on being the only copy.
 */
#ifndef CHANHOST_H
#define CHANHOST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHANHOST_ABI_MAJOR 1
#define CHANHOST_ABI_MINOR 4

/* The name of the one symbol a plugin exports. */
#define CHANHOST_DESCRIPTOR_SYMBOL "chanhost_plugin_descriptor"

/* Return values of the connect callback (besides a close code >= 1000). */
#define CHANHOST_ACCEPT 0     /* accept now, with the subprotocol set, if any */
#define CHANHOST_PENDING (-1) /* decide later with api->accept / api->close */
#define CHANHOST_DENY \
    (-2) /* refuse the handshake with HTTP 403, as Daphne
                                 does for a close() before accept() */

/* Log levels for api->log.  ERROR and WARN always show; INFO from -v1
 * (the default), DEBUG from -v2, as in Daphne. */
#define CHANHOST_LOG_ERROR 0
#define CHANHOST_LOG_WARN 1
#define CHANHOST_LOG_INFO 2
#define CHANHOST_LOG_DEBUG 3

/* Errors returned by api functions: 0 is success, negative is failure.
 * Each function's comment lists the ones it returns. */
#define CHANHOST_OK 0
#define CHANHOST_ERR_INVALID (-22) /* bad argument (name, code, NULL) */
#define CHANHOST_ERR_CLOSED (-32)  /* the connection is closing or gone */
#define CHANHOST_ERR_NOMEM (-12)   /* out of memory */
#define CHANHOST_ERR_TOO_BIG (-90) /* message larger than max_message_size */
#define CHANHOST_ERR_STATE (-71)   /* wrong state (e.g. accept twice) */
#define CHANHOST_ERR_BUSY \
    (-11) /* a bounded queue is full: try again later
                                        (EAGAIN; api->loop_post, ABI 1.2) */

/* Results of the message store (api->store_call), negative errno values. */
#define CHANHOST_STORE_ENOENT (-2)      /* no such room / message / user */
#define CHANHOST_STORE_EPERM (-1)       /* not allowed (another's message) */
#define CHANHOST_STORE_EINVAL (-22)     /* bad parameters */
#define CHANHOST_STORE_EBUSY (-16)      /* the store's queue is full */
#define CHANHOST_STORE_EIO (-5)         /* the database failed, or no store */
#define CHANHOST_STORE_EEXIST (-17)     /* a unique value is taken */
#define CHANHOST_STORE_ECANCELED (-125) /* the host stopped first */

/* A short English phrase for a CHANHOST_OK, CHANHOST_ERR_* or
 * CHANHOST_STORE_* value (the two families share only -22, "invalid
 * argument"), e.g. for api->log.  Returns a static string, never NULL;
 * "unknown error" for any other value.  Header-only: no ABI change. */
static inline const char *chanhost_strerror(int err)
{
    switch (err) {
    case CHANHOST_OK:
        return "success";
    case CHANHOST_ERR_INVALID:
        return "invalid argument";
    case CHANHOST_ERR_CLOSED:
        return "connection closing or closed";
    case CHANHOST_ERR_NOMEM:
        return "out of memory";
    case CHANHOST_ERR_TOO_BIG:
        return "message larger than max_message_size";
    case CHANHOST_ERR_STATE:
        return "not allowed in this state";
    case CHANHOST_ERR_BUSY:
        return "queue full, try again later";
    case CHANHOST_STORE_ENOENT:
        return "no such room, message or user";
    case CHANHOST_STORE_EPERM:
        return "not allowed";
    case CHANHOST_STORE_EBUSY:
        return "store queue full";
    case CHANHOST_STORE_EIO:
        return "store failed or absent";
    case CHANHOST_STORE_EEXIST:
        return "value already taken";
    case CHANHOST_STORE_ECANCELED:
        return "host stopped first";
    default:
        return "unknown error";
    }
}

/* Opaque: one WebSocket connection, owned by the host. */
typedef struct chanhost_conn chanhost_conn;

/* Opaque: one channel-layer message, owned by the host.  Its JSON was
 * encoded once, and api->forward() sends those very bytes. */
typedef struct chanhost_msg chanhost_msg;

/* Opaque: one HTTP request to a plugin endpoint (ABI 1.2), owned by the
 * host.  Valid from the endpoint's handler until the plugin answers it
 * with api->http_reply (exactly once), even if the client left meanwhile
 * (the answer is then dropped).  A request never answered is never freed
 * (a leak of the plugin's making); its client gets 504 after the host's
 * plugin_http_timeout. */
typedef struct chanhost_http chanhost_http;

/* Who may call a plugin endpoint (chanhost_endpoint.access).  The host
 * checks it before the handler runs: no credentials (or a bad token) is
 * 401 {"error": "not_authenticated"}, the wrong kind is 403
 * {"error": "forbidden"} (docs/api.md, "Identity"). */
#define CHANHOST_HTTP_ANY 0   /* anyone, with or without credentials */
#define CHANHOST_HTTP_USER 1  /* a user's token (the service token: 403) */
#define CHANHOST_HTTP_ADMIN 2 /* a user's token with role admin */
#define CHANHOST_HTTP_SERVICE \
    3 /* the service token, or an admin user's
                                   token (as the host's service endpoints) */

/*
 * One HTTP endpoint a plugin declares in its descriptor (ABI 1.2).  The
 * host serves it under /api/ after its own API routes: authentication,
 * body parsing (a JSON object, Content-Type: application/json, at most
 * max_body_size: else 400 / 413), the access check, the JSON error shape
 * and the access log line are the host's; the handler only answers.
 * Every string is borrowed for as long as the plugin is loaded.
 */
typedef struct chanhost_endpoint {
    const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" ... */
    const char *pattern; /* "/api/polls/<int:poll_id>/": Django's path
                             converters (<int:>, <str:>, <slug:>, <uuid:>,
                             <path:>); must start with /api/; the trailing
                             slash may be left out by clients.  A pattern
                             that overlaps one of the host's API routes or
                             another plugin's is refused (one log line) */
    int access;          /* CHANHOST_HTTP_ANY / _USER / _ADMIN / _SERVICE */
    /* The request arrived and passed the checks (loop thread; req:
     * borrowed, valid until the plugin answers it with api->http_reply,
     * now or later, e.g. from a store_exec callback). */
    void (*handler)(chanhost_http *req, void *state);
} chanhost_endpoint;
/* Opaque: one timer of api->timer_start (ABI 1.2), owned by the host and
 * by the plugin version that started it. */
typedef struct chanhost_timer chanhost_timer;

/* Opaque: a plugin version's handle for api->loop_post (ABI 1.2), made by
 * api->poster_new and owned by that version. */
typedef struct chanhost_poster chanhost_poster;

/*
 * The host's services, passed to init (borrowed; valid while the plugin
 * is loaded).  The table is append-only: new functions are added at the
 * end and raise CHANHOST_ABI_MINOR; test a member newer than the minor
 * your descriptor declares with CHANHOST_API_HAS.  Every pointer in the
 * host's table is non-NULL.
 */
typedef struct chanhost_api {
    uint32_t struct_size; /* sizeof(chanhost_api) of the host */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* printf-style log line, prefixed by the plugin's name. */
    void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

    /* --- connection --------------------------------------------------- */

    /* Accept a connection whose connect callback returned CHANHOST_PENDING.
     * subprotocol: NULL, or one of the client's offers (borrowed; copied).
     * Returns 0, CHANHOST_ERR_STATE if already accepted or closed,
     * CHANHOST_ERR_INVALID if the client did not offer subprotocol (or c
     * is NULL), CHANHOST_ERR_NOMEM, or CHANHOST_ERR_CLOSED if the answer
     * could not be written (the connection then goes away). */
    int (*accept)(chanhost_conn *c, const char *subprotocol);

    /* Choose the subprotocol answered in the handshake; call it inside
     * connect before returning CHANHOST_ACCEPT.  Returns 0,
     * CHANHOST_ERR_STATE if already accepted, CHANHOST_ERR_INVALID if not
     * offered (or an argument is NULL), CHANHOST_ERR_NOMEM. */
    int (*select_subprotocol)(chanhost_conn *c, const char *subprotocol);

    /* Close with a code (1000, 1001, 1008, 1011-1013, 3000-4999) and an
     * optional reason (borrowed, truncated to 123 bytes).  Before the
     * handshake is answered, the client gets the 101 and then this close
     * frame, so browsers see the code (4001, 4003 ...).  The disconnect
     * callback follows later, never from inside this call.  Returns 0,
     * CHANHOST_ERR_INVALID (another code, or c NULL), CHANHOST_ERR_CLOSED
     * (already closing), or an error of accept. */
    int (*close)(chanhost_conn *c, int code, const char *reason);

    /* The four sends to the client return 0 when the message is queued,
     * CHANHOST_ERR_TOO_BIG if it is longer than the host's
     * max_message_size (the limit clients' messages have too; nothing is
     * sent), CHANHOST_ERR_STATE before the connection is accepted,
     * CHANHOST_ERR_CLOSED once it is closing (including a slow client the
     * host just closed with 1013), CHANHOST_ERR_INVALID (NULL c or data),
     * CHANHOST_ERR_NOMEM. */

    /* Send one text message (valid UTF-8, borrowed; copied). */
    int (*send_text)(chanhost_conn *c, const char *data, size_t len);

    /* Send one binary message (borrowed; copied). */
    int (*send_binary)(chanhost_conn *c, const void *data, size_t len);

    /* Encode msg (borrowed) compactly and send it as one text message.
     * CHANHOST_ERR_INVALID also if msg is NULL or encodes to nothing. */
    int (*send_json)(chanhost_conn *c, const json_t *msg);

    /* Send a channel-layer message (borrowed) to the client as it is (its
     * JSON text).  The encoded frame is shared by every recipient: no copy
     * is made. */
    int (*forward)(chanhost_conn *c, const chanhost_msg *m);

    /* This connection's channel name (Channels' self.channel_name). */
    const char *(*channel_name)(chanhost_conn *c);

    /* Value of route parameter `name` (<int:room_id> -> "room_id"), or NULL.
     * The value is percent-decoded; for <int:> it holds only digits. */
    const char *(*route_param)(chanhost_conn *c, const char *name);

    /* The raw query string after '?' (not decoded), "" if none. */
    const char *(*query_string)(chanhost_conn *c);

    /* The first value of query parameter `name`, percent-decoded, or NULL.
     * The returned string lives as long as the connection. */
    const char *(*query_param)(chanhost_conn *c, const char *name);

    /* Value of request header `name` (case-insensitive), or NULL. */
    const char *(*header)(chanhost_conn *c, const char *name);

    /* The request path, percent-decoded ("/ws/chat/7/"). */
    const char *(*path)(chanhost_conn *c);

    /* "ip:port" of the peer. */
    const char *(*peer)(chanhost_conn *c);

    /* Non-zero if the client offered subprotocol `name`. */
    int (*subprotocol_offered)(chanhost_conn *c, const char *name);

    /* The plugin's per-connection pointer (NULL until set).  The host never
     * touches what it points to: free it in disconnect. */
    void (*set_data)(chanhost_conn *c, void *data);
    void *(*get_data)(chanhost_conn *c);

    /* --- channel layer ------------------------------------------------ */

    /* Join / leave a group (names: ASCII letters, digits, '-', '_', '.',
     * shorter than 100 bytes, as in Channels).  Memberships are dropped
     * by the host when the connection goes away.  Return 0,
     * CHANHOST_ERR_INVALID (bad name, NULL, or c closing for group_add),
     * CHANHOST_ERR_NOMEM. */
    int (*group_add)(chanhost_conn *c, const char *group);
    int (*group_discard)(chanhost_conn *c, const char *group);

    /* Send msg (borrowed; an object with a string "type") to every member
     * of the group, in every process that shares the layer.  The JSON is
     * encoded once.  Each member's plugin gets group_message(type, msg);
     * if that callback is NULL the message is forwarded to the client.
     * Returns 0 if handed to the layer, CHANHOST_ERR_TOO_BIG if its JSON
     * text is longer than max_message_size (it could reach no client
     * whole; nothing is sent), CHANHOST_ERR_INVALID (bad name, no "type"),
     * CHANHOST_ERR_NOMEM. */
    int (*group_send)(const char *group, const json_t *msg);

    /* Send msg (borrowed, with "type") to one connection by its channel
     * name, wherever it lives.  Returns as group_send. */
    int (*channel_send)(const char *channel, const json_t *msg);

    /* Number of members of a group known to this host (0 if none). */
    size_t (*group_size)(const char *group);

    /* --- ABI 1.1: the message store ------------------------------------ */

    /* Run a store operation asynchronously ("message.append",
     * "message.history", "room.get_or_create", "participant.check" ...;
     * docs/store.md lists them with their parameters and results).
     * A plugin with a schema (ABI 1.2) also calls its own operations,
     * "<plugin>.<name>"; another plugin's are refused with EINVAL.
     * params: stolen (the host owns it from here, whatever the result,
     * even when an argument is NULL): do not decref it after the call.
     * op: borrowed.  c: the connection the call is for, or NULL.  Returns 0 when queued,
     * and then cb runs later on the loop thread exactly once; returns a
     * CHANHOST_STORE_* error at once (queue full, bad op, no store), and
     * then cb never runs.  A write is reported only after it committed.
     * If c goes away before the result, cb still runs, with c == NULL
     * (free what arg holds; do not touch the old connection).  In cb,
     * result (NULL on failure) and error are borrowed, valid during the
     * call only; arg is the plugin's, passed back untouched. */
    int (*store_call)(chanhost_conn *c, const char *op, json_t *params,
                      void (*cb)(chanhost_conn *c, int status, const json_t *result,
                                 const char *error, void *arg),
                      void *arg);

    /* Milliseconds of a monotonic clock (for rate limits, timeouts). */
    uint64_t (*now_ms)(void);

    /* The user the handshake authenticated (docs/api.md): borrowed, valid
     * for the connection's life, {"id": int, "username": str, "roles":
     * [str...]}; NULL when the client sent no valid token.  Built on the
     * first call for c and kept (about 650 bytes): prefer api->user_id. */
    const json_t *(*user)(chanhost_conn *c);

    /* --- ABI 1.2: HTTP endpoints --- */

    /* The request's method ("POST"), its percent-decoded path
     * ("/api/polls/7/") and the peer ("ip:port").  Borrowed, valid until
     * the request is answered; NULL if req is NULL. */
    const char *(*http_method)(chanhost_http *req);
    const char *(*http_path)(chanhost_http *req);

    /* Value of the endpoint pattern's parameter `name` (<int:poll_id> ->
     * "poll_id"), percent-decoded, or NULL.  Borrowed, valid until the
     * request is answered. */
    const char *(*http_param)(chanhost_http *req, const char *name);

    /* The first value of query parameter `name`, '+' and %XX decoded, or
     * NULL.  Borrowed, valid until the request is answered. */
    const char *(*http_query)(chanhost_http *req, const char *name);

    /* The request's JSON object body (borrowed, valid until the request is
     * answered; do not change it), or NULL when the request had no body
     * (e.g. GET).  A body that is not a JSON object never reaches the
     * handler (400). */
    const json_t *(*http_body)(chanhost_http *req);

    /* The calling user (borrowed, valid until the request is answered):
     * {"id": int, "username": str, "roles": [str...]}; NULL for an
     * anonymous caller and for the service token. */
    const json_t *(*http_user)(chanhost_http *req);

    /* Non-zero if the caller sent the service token. */
    int (*http_is_service)(chanhost_http *req);
    const char *(*http_peer)(chanhost_http *req);

    /* Answer req with status (200..599) and body (stolen, whatever the
     * result: a JSON value sent compactly as application/json; NULL sends
     * no body), exactly once: a successful call frees req, so it must not
     * be used again.  Errors should use the host's shape {"error":
     * "<code>", "message": "<text>"}; a 503 gets the header Retry-After:
     * 1, as the host's own do.  If the client has gone, or the host
     * already answered 504 because plugin_http_timeout passed, the answer
     * is dropped (and 0 returned).  Returns 0, or CHANHOST_ERR_INVALID
     * (req NULL or status out of range: req stays unanswered). */
    int (*http_reply)(chanhost_http *req, int status, json_t *body);

    /* store_call without a connection (for endpoint handlers and timers):
     * the same operations, queueing and errors.  op: borrowed; params:
     * stolen (whatever the result).  Returns 0 when queued, and then cb
     * runs later on the loop thread exactly once (result and error
     * borrowed, valid during the call only; result NULL on failure; arg is
     * the plugin's, passed back untouched); or a CHANHOST_STORE_* error at
     * once (queue full, bad op, no store), and then cb never runs.  The
     * plugin version that called stays loaded until cb has run. */
    int (*store_exec)(const char *op, json_t *params,
                      void (*cb)(int status, const json_t *result, const char *error, void *arg),
                      void *arg);
    /* --- ABI 1.2: timers and the loop ---------------------------------- */

    /* Start a timer: cb(t, arg) runs on the loop thread after ms
     * milliseconds, then every repeat_ms milliseconds if repeat_ms > 0
     * (0: once).  Loop thread only, from inside a callback of the plugin
     * (init, connect, receive, a timer, a loop_post callback ...): the
     * timer belongs to the version whose callback is running, and cb runs
     * inside that version (its api->log prefix, pinned for the call).
     * arg is the plugin's, passed back untouched (the host never frees
     * it).  Returns a handle owned by the host, valid until one of:
     *   - timer_stop(t);
     *   - a one-shot timer's cb returns (t is freed then: do not stop it
     *     afterwards; stopping it inside its own cb is allowed);
     *   - the version unloads: after fini returns, every timer it still
     *     has is stopped and freed (fini may stop them itself first).
     * Timers do not keep a version loaded: an old version whose last
     * connection closed (or was adopted) after a reload is unloaded (fini,
     * then its timers are cancelled) even if it has timers running; a
     * timer that should outlive its version has no meaning, its code goes
     * with it.  When the host stops,
     * every timer is stopped once the connections are gone (the handles
     * stay valid for timer_stop until the version unloads).  Returns NULL
     * (with a log line) outside a plugin callback, when the host is
     * stopping, or when out of memory. */
    chanhost_timer *(*timer_start)(uint64_t ms, uint64_t repeat_ms,
                                   void (*cb)(chanhost_timer *t, void *arg), void *arg);

    /* Stop timer t and free it (t borrowed; invalid after the call): cb
     * will not run again.  NULL is ignored.  Loop thread only. */
    void (*timer_stop)(chanhost_timer *t);

    /* A new poster for api->loop_post, owned by the version whose callback
     * is running (loop thread only, inside a callback).  Free it with
     * poster_free once no thread uses it; whatever the plugin has not
     * freed when fini returns is freed by the host.  Returns NULL (with a
     * log line) outside a plugin callback or when out of memory. */
    chanhost_poster *(*poster_new)(void);

    /* Free poster p (loop thread only; NULL is ignored).  Callbacks queued
     * through p and not run yet are dropped: their drop(arg) is called
     * (if given) before poster_free returns.  No thread may use p after. */
    void (*poster_free)(chanhost_poster *p);

    /* Callable from ANY thread (the only api function that is): queue
     * cb(arg) to run on the loop thread, inside the version that owns p,
     * where every api function may be called.  Callbacks run in the order
     * they were queued (one queue for the host).  cb and drop are the
     * plugin's, arg is passed back untouched.  If the callback cannot run
     * any more (p freed, its version unloaded, the host stopping), it is
     * dropped instead: drop(arg) is called on the loop thread (if drop is
     * not NULL) to free what arg holds; cb then never runs.  So for every
     * post that returned 0, cb runs, or else drop (if given).  The queue is
     * bounded (4096 callbacks of all plugins together): returns 0,
     * CHANHOST_ERR_BUSY when it is full (nothing was queued: retry later
     * or give up; arg is still the caller's), CHANHOST_ERR_STATE when the
     * host is stopping, CHANHOST_ERR_INVALID (p or cb NULL).  Never
     * blocks on the loop (a short mutex only). */
    int (*loop_post)(chanhost_poster *p, void (*cb)(void *arg), void (*drop)(void *arg), void *arg);

    /* --- ABI 1.2: flow control --- */

    /* Call cb(c, arg) on the loop thread once everything queued for c so
     * far (by any send, forward or group delivery) has been written to the
     * socket, i.e. the connection's output queue is empty: the moment to
     * send the next part of something large (a backlog in pages) without
     * ever coming near max_outbound_bytes.  Never from inside this call:
     * with nothing queued, cb runs at the end of the current loop turn.
     * One-shot; at most one waits per connection (cb is cleared before it
     * runs, so cb may ask again).  cb runs inside the version that asked;
     * if the connection closes first, or a newer version adopts it, cb
     * never runs (free what arg holds in disconnect / adopt).  arg is the
     * plugin's, passed back untouched.  Returns 0, CHANHOST_ERR_INVALID
     * (c or cb NULL), CHANHOST_ERR_STATE (not accepted yet, or a callback
     * already waits), CHANHOST_ERR_CLOSED (the connection is closing). */
    int (*on_drain)(chanhost_conn *c, void (*cb)(chanhost_conn *c, void *arg), void *arg);

    /* --- ABI 1.2: membership --- */

    /* Bind connection c to the store's room room_id (> 0), once the plugin
     * has checked that c's user (api->user) is a participant of it: from
     * then on, when that user is removed from the room (participant.remove
     * by the HTTP API, a plugin, any host sharing the channel layer), the
     * host closes c with 4003 "removed from the room", and the plugin sees
     * only its disconnect.  One room per connection: a later call
     * rebinds.  Binding before the check (while connect is pending) is
     * allowed and closes the gap between the check and the bind.  Loop
     * thread only.  Returns CHANHOST_OK, CHANHOST_ERR_INVALID (c NULL or
     * closing, no authenticated user, room_id <= 0) or
     * CHANHOST_ERR_NOMEM. */
    int (*bind_room)(chanhost_conn *c, int64_t room_id);

    /* --- ABI 1.3: the user as plain values; the request released --- */
    /* api->user's id (0: no user), name (the host's, valid for the
     * connection's life; NULL: no user) and whether it has role `role`
     * (borrowed; 0 without a user or role), without building its JSON. */
    int64_t (*user_id)(chanhost_conn *c);
    const char *(*username)(chanhost_conn *c);
    int (*user_has_role)(chanhost_conn *c, const char *role);

    /* c needs its query string and headers no more: the host wipes and
     * frees them (tokens included) once c is accepted (now, or right after
     * the 101).  Then query_string is "", query_param and header NULL,
     * subprotocol_offered 0, and what they returned is invalid; the path,
     * route parameters and user stay (docs/plugins.md).  Returns
     * CHANHOST_OK or CHANHOST_ERR_INVALID (c NULL). */
    int (*release_request)(chanhost_conn *c);

    /* --- ABI 1.4: presence --- */
    /* Who is connected to a group, per user, on every host sharing the
     * channel layer (docs/presence.md).  presence_track counts c's user
     * (api->user_id / username; several connections of a user count once)
     * present in group (1..80 bytes of a group name's characters) until
     * presence_untrack or the connection goes; idempotent.  From then on
     * c gets, through group_message (or forwarded as it is when the
     * plugin has none), {"type": "presence_diff", "joins": [...],
     * "leaves": [...]} (items {"user_id", "username"}) at most once per
     * presence_interval per group, whenever the group's users changed.
     * Loop thread only.  Returns CHANHOST_OK, CHANHOST_ERR_INVALID (c
     * NULL or closing, no authenticated user, a bad group name),
     * CHANHOST_ERR_NOMEM; untrack: CHANHOST_ERR_STATE when c was not
     * tracked there. */
    int (*presence_track)(chanhost_conn *c, const char *group);
    int (*presence_untrack)(chanhost_conn *c, const char *group);

    /* The users present in group as this host announced them last (the
     * set its next presence_diff starts from): an array of {"user_id",
     * "username"}, a NEW reference (the caller decrefs it); empty when
     * this host has no tracked connection in group (the host knows a
     * group's users only while it has a connection there).  NULL when out
     * of memory or group is NULL.  Loop thread only. */
    json_t *(*presence_list)(const char *group);
} chanhost_api;

/* Non-zero if the host's table `api` has member `member` (a field name of
 * chanhost_api), as Redis's RMAPI_FUNC_SUPPORTED: the table ends at
 * api->struct_size, so a member added after the host was built lies
 * beyond it.  Needed only for members newer than the minor the plugin's
 * descriptor declares (CHANHOST_PLUGIN_INIT_MINOR). */
#define CHANHOST_API_HAS(api, member) \
    (offsetof(chanhost_api, member) + sizeof((api)->member) <= (size_t)(api)->struct_size)

/* Plugin storage (ABI 1.2): migrations, operations, the schema. */
#include "chanhost_schema.h"

/*
 * The plugin's descriptor.  Build it with CHANHOST_PLUGIN_INIT so that the
 * ABI fields are right and unused callbacks are NULL.  Mandatory: name,
 * version, receive; every callback else is optional (NULL), with the
 * behaviour its comment gives.
 */
typedef struct chanhost_plugin {
    uint32_t struct_size;   /* sizeof(chanhost_plugin) at build time */
    uint16_t abi_major;     /* CHANHOST_ABI_MAJOR at build time */
    uint16_t abi_minor;     /* the minor it needs (see Versions above) */
    uint32_t jansson_major; /* JANSSON_MAJOR_VERSION at build time */

    const char *name;    /* short name, e.g. "echo" (mandatory) */
    const char *version; /* free text, e.g. "1.0.0" (mandatory) */

    /* Called once per loaded copy, before any other callback (optional:
     * without it the plugin loads with state NULL).  api: borrowed, valid
     * while this copy is loaded (keep it).  settings: borrowed object of
     * string values from the config's `plugin_setting NAME KEY VALUE`
     * lines (empty object if none), valid during the call only.  *state:
     * set it to the plugin's global state (or leave NULL); the plugin owns
     * it and frees it in fini.  Return 0, or a negative value to refuse
     * loading (logged). */
    int (*init)(const chanhost_api *api, const json_t *settings, void **state);

    /* Called once when this copy is unloaded, after its last connection
     * is gone (optional: without it nothing is called). */
    void (*fini)(void *state);

    /* A client asks to connect (optional: without it every connection is
     * accepted, as if it returned CHANHOST_ACCEPT).  Return
     * CHANHOST_ACCEPT, CHANHOST_PENDING, CHANHOST_DENY, or a close code
     * (1008, 4001, 4003, 4004 ...) to accept-then-close so the client sees
     * the code. */
    int (*connect)(chanhost_conn *c, void *state);

    /* A complete message arrived (mandatory).  data is borrowed and valid
     * during the call only; text messages are valid UTF-8 and are also
     * NUL-terminated at data[len]. */
    void (*receive)(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary);

    /* A channel-layer message for this connection (optional; NULL means
     * forward every layer message to the client as it is).  type, msg and
     * m are borrowed, valid during the call only: type is the message's
     * "type"; m can be passed to api->forward. */
    void (*group_message)(chanhost_conn *c, void *state, const char *type, const json_t *msg,
                          const chanhost_msg *m);

    /* The connection is gone (optional: without it nothing is called, so
     * a plugin that sets per-connection data needs it to free that data).
     * code: the close code received or sent (1000, 1001 ...), 1006 if the
     * TCP connection dropped. */
    void (*disconnect)(chanhost_conn *c, void *state, int code);

    /* --- ABI 1.1 -------------------------------------------------------- */

    /* Hot reload (optional): a new version of this plugin was loaded while
     * c was served by an older one.  Called on the NEW version with its
     * state and the data pointer the old version set (api->get_data).
     * Return 0 to take the connection over: from then on the new version's
     * callbacks serve it, and the old version is never called for it
     * again (not even disconnect), so the new version owns old_data now.
     * Return non-zero to leave it with the old version (which then keeps
     * serving it, or closes it with 1012 if its route says
     * reload=restart).  Without adopt, connections always stay with the
     * version that accepted them.  Timers and posters (ABI 1.2) are not
     * carried over: those in old_data stay the old version's and are
     * cancelled and freed when it unloads, which may be right after adopt
     * returns; so adopt stops them (api->timer_stop on them is allowed
     * during adopt), forgets their handles and starts its own. */
    int (*adopt)(chanhost_conn *c, void *state, void *old_data);

    /* --- ABI 1.2: HTTP endpoints --- */

    /* The plugin's HTTP endpoints (optional: NULL / 0 for none), borrowed
     * for as long as the plugin is loaded.  Declared statically so that a
     * plugin refused after its descriptor was read (init failed, a newer
     * minor) still owns its patterns: they answer 503, as its WebSocket
     * routes do.  A reload swaps them with the plugin's new version. */
    const chanhost_endpoint *endpoints;
    size_t n_endpoints;

    /* --- ABI 1.2: plugin storage ----------------------------------------- */

    /* The plugin's tables and store operations (optional; NULL: none):
     * borrowed static data, read by the host (on any of its threads) while
     * the plugin is loaded, before init, and copied; the host never writes
     * it nor keeps a pointer into it (see "ABI 1.2: plugin storage"
     * above).  With a schema, the host applies its migrations before init
     * and refuses the plugin if they fail or if the config says `store
     * none`.  From init on, api->store_call runs "<plugin>.<op name>" for
     * it.  A plugin may call its own operations and the host's, never
     * another plugin's (CHANHOST_STORE_EINVAL). */
    const chanhost_schema *schema;
} chanhost_plugin;

/* A descriptor that needs this header's minor: the usual way. */
#define CHANHOST_PLUGIN_INIT(...) CHANHOST_PLUGIN_INIT_MINOR(CHANHOST_ABI_MINOR, __VA_ARGS__)

/* A descriptor that needs only SDK minor `minor` (<= CHANHOST_ABI_MINOR),
 * so that hosts of that minor load it too; test newer api members with
 * CHANHOST_API_HAS.  Descriptor callbacks newer than the host are ignored
 * by it. */
#define CHANHOST_PLUGIN_INIT_MINOR(minor, ...)                                    \
    {                                                                             \
        .struct_size = sizeof(chanhost_plugin), .abi_major = CHANHOST_ABI_MAJOR,  \
        .abi_minor = (minor), .jansson_major = JANSSON_MAJOR_VERSION, __VA_ARGS__ \
    }

/* Declares the exported descriptor with default visibility. */
#define CHANHOST_PLUGIN_EXPORT __attribute__((visibility("default"))) const chanhost_plugin

#ifdef __cplusplus
}
#endif
#endif /* CHANHOST_H */
