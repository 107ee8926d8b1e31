/*
 * chathttp.c -- the chat plugins' shared HTTP endpoint helpers (see
 * chathttp.h for what it owns).  Compiled into each plugin that serves
 * endpoints, so every loaded copy has its own; no static state lives here.
 *
 * A chain (hc_call) is answered exactly once: every function here that
 * answers also frees the chain, and a step that continues hands it on to
 * the next store call.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chathttp.h"

hc_call *hc_begin(const chanhost_api *api, chanhost_http *req)
{
    hc_call *call = calloc(1, sizeof *call);

    if (!call) {
        api->http_reply(req, 500,
                        json_pack("{s:s, s:s}", "error", "internal", "message", "out of memory"));
        return NULL;
    }
    call->api = api;
    call->req = req;
    return call;
}

void hc_reply(hc_call *call, int status, json_t *body)
{
    call->api->http_reply(call->req, status, body);
    json_decref(call->room);
    free(call);
}

void hc_fail(hc_call *call, int status, const char *code, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    json_t *body;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    body = json_pack("{s:s, s:s}", "error", code, "message", msg);
    if (body && field)
        json_object_set_new(body, "field", json_string(field));
    hc_reply(call, status, body);
}

void hc_store_failed(hc_call *call, int status, const char *error)
{
    const char *why = error ? error : "the message store refused the call";

    switch (status) {
    case CHANHOST_STORE_ENOENT:
        hc_fail(call, 404, "not_found", NULL, "%s", why);
        break;
    case CHANHOST_STORE_EEXIST:
        hc_fail(call, 409, "exists", NULL, "%s", why);
        break;
    case CHANHOST_STORE_EINVAL:
        hc_fail(call, 400, "invalid", NULL, "%s", why);
        break;
    case CHANHOST_STORE_EPERM:
        hc_fail(call, 403, "forbidden", NULL, "%s", why);
        break;
    case CHANHOST_STORE_EBUSY:
        hc_fail(call, 503, "busy", NULL, "the message store is busy");
        break;
    default:
        hc_fail(call, 503, "store_unavailable", NULL, "the message store is unavailable");
    }
}

int hc_body_id(hc_call *call, const char *field, int required, json_int_t *out)
{
    const json_t *body = call->api->http_body(call->req);
    const json_t *v = json_object_get(body, field);

    *out = 0;
    if (!body) {
        hc_fail(call, 400, "invalid_json", NULL, "a JSON object body is required");
        return -1;
    }
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        hc_fail(call, 400, "invalid", field, "%s: required", field);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        hc_fail(call, 400, "invalid", field, "%s: must be a positive integer", field);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int hc_path_id(hc_call *call, const char *name)
{
    const char *s = call->api->http_param(call->req, name);
    size_t n = s ? strlen(s) : 0, i;
    json_int_t v = 0;

    for (i = 0; i < n && n <= 19 && s[0] != '0'; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (LLONG_MAX - (s[i] - '0')) / 10)
            break;
        v = v * 10 + (s[i] - '0');
    }
    if (n == 0 || i < n) {
        hc_fail(call, 404, "not_found", NULL, "no such API endpoint");
        return -1;
    }
    call->id = v;
    return 0;
}

/* The store answered a step of the chain in arg. */
static void on_store(int status, const json_t *result, const char *error, void *arg)
{
    hc_call *call = arg;

    call->next(call, status, result, error);
}

void hc_exec(hc_call *call, const char *op, json_t *params, hc_step next)
{
    int rc;

    if (!params) {
        hc_fail(call, 500, "internal", NULL, "out of memory");
        return;
    }
    call->next = next;
    rc = call->api->store_exec(op, params, on_store, call);
    if (rc != 0)
        hc_store_failed(call, rc, NULL);
}

json_t *hc_private_room(const char *key, const char *kind)
{
    return json_pack("{s:s, s:s, s:b}", "key", key, "kind", kind, "is_private", 1);
}

json_t *hc_room_user(const hc_call *call, json_int_t user)
{
    return json_pack("{s:I, s:I}", "room_id", json_integer_value(json_object_get(call->room, "id")),
                     "user_id", user);
}

json_t *hc_room_user_streamed(const hc_call *call, json_int_t user)
{
    json_t *p = hc_room_user(call, user);

    json_object_set_new(p, "stream", json_true());
    return p;
}

void hc_answer_change(hc_call *call, int status, const json_t *result, const char *error)
{
    json_t *out;

    if (status != 0) {
        hc_store_failed(call, status, error);
        return;
    }
    out = json_deep_copy(result);
    json_object_del(out, "pos");
    json_object_del(out, "epoch");
    hc_reply(call, 200, out);
}
