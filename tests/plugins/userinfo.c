/*
 * userinfo.c -- a test plugin for SDK 1.3's per-connection user and
 * request calls (api->user_id, username, user_has_role, release_request),
 * built twice: as "userinfo" for this SDK's minor, and, through
 * userinfo12.c, as "userinfo12", a plugin that declares SDK 1.2 and tests
 * the 1.3 members with CHANHOST_API_HAS, as an older plugin must.
 *
 * Route /ws/<name>/<slug:room>/.  On connect it reads the request and
 * answers (after accepting) with one message
 *   {"minor": the minor it declares, "has_scalars": 0|1,
 *    "id": api->user_id, "username": ..., "admin": has role "admin",
 *    "member": has role "member", "token_seen": ?token= present,
 *    "agent": the X-Probe header, "released": 0|1}
 * ("id" ... "member" null when the host lacks the calls).  With ?release=1
 * it calls api->release_request in connect, before accepting.  Every text
 * message then gets
 *   {"query": api->query_string, "token": ?token=, "agent": X-Probe,
 *    "bearer": subprotocol_offered("Bearer"), "path": ..., "room": ...,
 *    "id": ..., "user": api->user (the JSON form)}
 * so a test sees what stays and what goes after the release.
 */
#include <string.h>

#include "chanhost.h"

#ifndef USERINFO_MINOR
#define USERINFO_MINOR CHANHOST_ABI_MINOR
#define USERINFO_NAME "userinfo"
#endif

static const chanhost_api *api;

static int ui_init(const chanhost_api *host, const json_t *settings, void **state)
{
    (void)settings;
    (void)state;
    api = host;
    return 0;
}

/* Non-zero if the host has the 1.3 calls this plugin uses. */
static int has_scalars(void)
{
    return CHANHOST_API_HAS(api, user_id) && CHANHOST_API_HAS(api, username) &&
           CHANHOST_API_HAS(api, user_has_role) && CHANHOST_API_HAS(api, release_request);
}

/* The first message (new reference), read while the request is there. */
static json_t *first_report(chanhost_conn *c, int released)
{
    int has = has_scalars();
    json_t *o = json_pack("{s:i, s:b, s:b, s:s?, s:b}", "minor", USERINFO_MINOR, "has_scalars", has,
                          "token_seen", api->query_param(c, "token") != NULL, "agent",
                          api->header(c, "x-probe"), "released", released);

    if (!o)
        return NULL;
    if (has) {
        json_object_set_new(o, "id", json_integer((json_int_t)api->user_id(c)));
        json_object_set_new(o, "username",
                            api->username(c) ? json_string(api->username(c)) : json_null());
        json_object_set_new(o, "admin", json_boolean(api->user_has_role(c, "admin")));
        json_object_set_new(o, "member", json_boolean(api->user_has_role(c, "member")));
    } else {
        json_object_set_new(o, "id", json_null());
        json_object_set_new(o, "username", json_null());
        json_object_set_new(o, "admin", json_null());
        json_object_set_new(o, "member", json_null());
    }
    return o;
}

/* Report, release the request if asked (?release=1), accept. */
static int ui_connect(chanhost_conn *c, void *state)
{
    const char *release = api->query_param(c, "release");
    int released = release && strcmp(release, "1") == 0 && has_scalars();
    json_t *report = first_report(c, released);

    (void)state;
    if (!report)
        return 1011;
    if (released && api->release_request(c) != CHANHOST_OK) {
        json_decref(report);
        return 1011;
    }
    if (api->accept(c, api->subprotocol_offered(c, "Bearer") ? "Bearer" : NULL) != CHANHOST_OK) {
        json_decref(report);
        return 1011;
    }
    api->send_json(c, report);
    json_decref(report);
    return CHANHOST_ACCEPT;
}

/* What the connection still knows of its request and its user. */
static void ui_receive(chanhost_conn *c, void *state, const char *data, size_t len, int is_binary)
{
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:b, s:s?, s:s?, s:O?}", "query",
                          api->query_string(c), "token", api->query_param(c, "token"), "agent",
                          api->header(c, "x-probe"), "bearer",
                          api->subprotocol_offered(c, "Bearer"), "path", api->path(c), "room",
                          api->route_param(c, "room"), "user", api->user(c));

    (void)state;
    (void)data;
    (void)len;
    (void)is_binary;
    if (!o)
        return;
    if (has_scalars())
        json_object_set_new(o, "id", json_integer((json_int_t)api->user_id(c)));
    api->send_json(c, o);
    json_decref(o);
}

CHANHOST_PLUGIN_EXPORT chanhost_plugin_descriptor =
    CHANHOST_PLUGIN_INIT_MINOR(USERINFO_MINOR, .name = USERINFO_NAME, .version = "1.0.0",
                               .init = ui_init, .connect = ui_connect, .receive = ui_receive, );
