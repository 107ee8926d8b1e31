/*
 * api.c -- the function table handed to plugins (sdk/chanhost.h), each
 * entry a thin, argument-checking bridge to the host module that does the
 * work (the HTTP endpoint members are endpoints.c's, store_call and
 * store_exec api_store.c's).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_store.h"
#include "app.h"
#include "endpoints.h"
#include "handshake.h"
#include "ident.h"
#include "layer.h"
#include "log.h"
#include "membership.h"
#include "metrics.h"
#include "msg.h"
#include "plugins.h"
#include "presence.h"
#include "timers.h"
#include "upgrade.h"
#include "ws.h"

/* The app whose layer group_send/channel_send use (one per process). */
static ch_app *api_app;

void ch_api_bind(ch_app *app) { api_app = app; }

static void api_log(int level, const char *fmt, ...)
{
    const ch_plugin *p = ch_plugin_current();
    char prefix[80];
    va_list ap;

    snprintf(prefix, sizeof prefix, "[%s] ", p ? p->name : "plugin");
    va_start(ap, fmt);
    ch_logv(level, prefix, fmt, ap);
    va_end(ap);
}

static int api_accept(chanhost_conn *c, const char *subprotocol)
{
    return c ? ch_ws_accept(c, subprotocol) : CHANHOST_ERR_INVALID;
}

/* Inside connect: remember the subprotocol for the 101 (in the request
 * block, which stays until the 101 is out). */
static int api_select_subprotocol(chanhost_conn *c, const char *sp)
{
    if (!c || !sp)
        return CHANHOST_ERR_INVALID;
    if (c->accepted || !c->req)
        return CHANHOST_ERR_STATE;
    if (!ch_subprotocol_offered(ch_ws_header(c, "sec-websocket-protocol"), sp))
        return CHANHOST_ERR_INVALID;
    free(c->req->subprotocol);
    c->req->subprotocol = strdup(sp);
    return c->req->subprotocol ? CHANHOST_OK : CHANHOST_ERR_NOMEM;
}

static int api_close(chanhost_conn *c, int code, const char *reason)
{
    return c ? ch_ws_close(c, code, reason) : CHANHOST_ERR_INVALID;
}

/* Non-zero if a message of len bytes is longer than max_message_size:
 * what the host sends is held to the limit its clients' messages have. */
static int too_big(size_t len) { return len > api_app->cfg.max_message_size; }

/* Build one frame (data borrowed, copied) and queue it.  Returns 0 or a
 * CHANHOST_ERR_*. */
static int send_payload(chanhost_conn *c, int opcode, const void *data, size_t len)
{
    ch_buf *frame;
    int rc;

    if (!c || (!data && len))
        return CHANHOST_ERR_INVALID;
    if (too_big(len))
        return CHANHOST_ERR_TOO_BIG;
    frame = ch_ws_frame_new(opcode, data, len);
    if (!frame)
        return CHANHOST_ERR_NOMEM;
    rc = ch_ws_send_frame(c, frame);
    ch_buf_unref(frame);
    return rc;
}

static int api_send_text(chanhost_conn *c, const char *data, size_t len)
{
    return send_payload(c, CH_WS_OP_TEXT, data, len);
}

static int api_send_binary(chanhost_conn *c, const void *data, size_t len)
{
    return send_payload(c, CH_WS_OP_BINARY, data, len);
}

/* Encode msg (borrowed) straight into the frame buffer: one allocation
 * per send.  Returns 0 or a CHANHOST_ERR_*. */
static int api_send_json(chanhost_conn *c, const json_t *msg)
{
    size_t len = msg ? json_dumpb(msg, NULL, 0, JSON_COMPACT) : 0;
    size_t hl = ch_ws_frame_header_len(len);
    ch_buf *frame;
    int rc;

    if (!c || len == 0)
        return CHANHOST_ERR_INVALID;
    if (too_big(len))
        return CHANHOST_ERR_TOO_BIG;
    frame = ch_buf_new(hl + len);
    if (!frame)
        return CHANHOST_ERR_NOMEM;
    ch_ws_frame_header(frame->data, CH_WS_OP_TEXT, len);
    json_dumpb(msg, (char *)frame->data + hl, len, JSON_COMPACT);
    rc = ch_ws_send_frame(c, frame);
    ch_buf_unref(frame);
    return rc;
}

/* Queue m's shared frame (m borrowed).  Returns 0 or a CHANHOST_ERR_*. */
static int api_forward(chanhost_conn *c, const chanhost_msg *m)
{
    ch_buf *frame;

    if (!c || !m)
        return CHANHOST_ERR_INVALID;
    if (too_big(((const ch_msg *)m)->text_len))
        return CHANHOST_ERR_TOO_BIG;
    frame = ch_msg_frame((ch_msg *)m);
    return frame ? ch_ws_send_frame(c, frame) : CHANHOST_ERR_NOMEM;
}

/* The connection's channel name, made once on the first ask and kept for
 * the connection's life in w->rare->channel (freed with w): the endpoint
 * holds only its number.  "" before the layer attached it; NULL when
 * memory is short. */
static const char *api_channel_name(chanhost_conn *c)
{
    char buf[CH_CHANNEL_NAME_MAX];

    if (!c)
        return NULL;
    if (!c->ep.id)
        return "";
    if (!ch_ws_rare_get(c))
        return NULL;
    if (!c->rare->channel)
        c->rare->channel = strdup(ch_layer_channel_name(api_app->layer, &c->ep, buf));
    return c->rare->channel;
}

static const char *api_route_param(chanhost_conn *c, const char *name)
{
    return c && name ? ch_ws_param(c, name) : NULL;
}

static const char *api_query_string(chanhost_conn *c) { return c ? ch_ws_query(c) : NULL; }

static const char *api_query_param(chanhost_conn *c, const char *name)
{
    return c && name ? ch_ws_query_param(c, name) : NULL;
}

static const char *api_header(chanhost_conn *c, const char *name)
{
    return c && name ? ch_ws_header(c, name) : NULL;
}

static const char *api_path(chanhost_conn *c) { return c ? c->path : NULL; }

/* The peer as "ip:port", formatted once per connection on the first ask
 * (the SDK promises it for the connection's life; w->rare->peer, freed
 * with w).  NULL when memory is short. */
static const char *api_peer(chanhost_conn *c)
{
    char buf[CH_CONN_PEER_LEN];

    if (!c || !ch_ws_rare_get(c))
        return NULL;
    if (!c->rare->peer)
        c->rare->peer = strdup(ch_conn_peer_format(c->conn, buf));
    return c->rare->peer;
}

static int api_subprotocol_offered(chanhost_conn *c, const char *name)
{
    return c && name && ch_subprotocol_offered(ch_ws_header(c, "sec-websocket-protocol"), name);
}

static void api_set_data(chanhost_conn *c, void *data)
{
    if (c)
        c->user = data;
}

static void *api_get_data(chanhost_conn *c) { return c ? c->user : NULL; }

/* Map the layer's negative errno values onto the SDK's. */
static int layer_rc(int rc)
{
    return rc == 0 ? CHANHOST_OK : rc == -ENOMEM ? CHANHOST_ERR_NOMEM : CHANHOST_ERR_INVALID;
}

static int api_group_add(chanhost_conn *c, const char *group)
{
    if (!c || !group || c->conn->closing)
        return CHANHOST_ERR_INVALID;
    return layer_rc(ch_layer_group_add(api_app->layer, &c->ep, group));
}

static int api_group_discard(chanhost_conn *c, const char *group)
{
    if (!c || !group)
        return CHANHOST_ERR_INVALID;
    return layer_rc(ch_layer_group_discard(api_app->layer, &c->ep, group));
}

/* A group send that reaches nobody: a layer of this process alone
 * (memory, no link to other workers) and a valid group none of its
 * connections holds. */
static int reaches_nobody(const char *group)
{
    ch_layer *l = api_app->layer;

    return strcmp(ch_layer_backend_name(l), "memory") == 0 && !ch_layer_link(l) &&
           ch_layer_valid_group(group) && ch_layer_group_size(l, group) == 0;
}

/* Wrap a plugin's JSON (borrowed) in a message (encoded once) and hand it
 * on to a group or a channel.  A group send that reaches nobody is only
 * checked (the same refusals, no message made; no encoding either when a
 * bound of its size is under max_message_size).  Returns 0 or a
 * CHANHOST_ERR_*. */
static int send_msg(const char *name, const json_t *obj, int group)
{
    const char *why = NULL;
    ch_msg *m = NULL;
    size_t len = 0;
    int rc, nobody;

    if (!name || !obj)
        return CHANHOST_ERR_INVALID;
    nobody = group && reaches_nobody(name);
    if (nobody)
        rc = ch_msg_check_json_max(obj, api_app->cfg.max_message_size, &len, &why);
    else if ((m = ch_msg_from_json(obj, &why)) != NULL)
        rc = 0, len = m->text_len;
    else
        rc = -1;
    if (rc != 0 || too_big(len)) {
        api_log(CH_LOG_WARN, "%s to '%s' refused: %s", group ? "group_send" : "channel_send", name,
                rc != 0 ? (why ? why : "invalid message") : "larger than max_message_size");
        ch_msg_unref(m);
        return rc != 0 ? CHANHOST_ERR_INVALID : CHANHOST_ERR_TOO_BIG;
    }
    if (group)
        ch_metric_count(CH_M_GROUP_SENDS);
    if (nobody)
        return CHANHOST_OK;
    rc = group ? ch_layer_group_send(api_app->layer, name, m)
               : ch_layer_send(api_app->layer, name, m);
    ch_msg_unref(m);
    return layer_rc(rc);
}

static int api_group_send(const char *group, const json_t *msg) { return send_msg(group, msg, 1); }

static int api_channel_send(const char *channel, const json_t *msg)
{
    return send_msg(channel, msg, 0);
}

static size_t api_group_size(const char *group)
{
    return group ? ch_layer_group_size(api_app->layer, group) : 0;
}

static uint64_t api_now_ms(void) { return uv_hrtime() / 1000000; }

/* api->user: the JSON form of c's identity, built on the first call and
 * kept with it (borrowed, valid for the connection's life). */
static const json_t *api_user(chanhost_conn *c) { return c ? ch_ident_json(c->ident) : NULL; }

/* api->user_id, api->username and api->user_has_role (ABI 1.3): read the
 * compact identity, never building its JSON. */
static int64_t api_user_id(chanhost_conn *c) { return c && c->ident ? c->ident->id : 0; }

static const char *api_username(chanhost_conn *c) { return c ? ch_ident_username(c->ident) : NULL; }

static int api_user_has_role(chanhost_conn *c, const char *role)
{
    return c ? ch_ident_has_role(c->ident, role) : 0;
}

/* api->release_request (ABI 1.3): the query and headers go once c is
 * accepted (upgrade.c). */
static int api_release_request(chanhost_conn *c)
{
    if (!c)
        return CHANHOST_ERR_INVALID;
    ch_ws_release_request(c);
    return CHANHOST_OK;
}

/* api->on_drain: remember cb and arg (the plugin's) for the version
 * that asks, and have net tell when c's output queue is empty.  One left
 * by a version that no longer serves c (adopt) is replaced. */
static int api_on_drain(chanhost_conn *c, void (*cb)(chanhost_conn *c, void *arg), void *arg)
{
    const ch_plugin *p = ch_plugin_current();

    if (!c || !cb)
        return CHANHOST_ERR_INVALID;
    if (c->conn->closing || c->close_sent)
        return CHANHOST_ERR_CLOSED;
    if (!c->accepted || (c->rare && c->rare->drain_cb && c->drain_gen == c->plugin->generation))
        return CHANHOST_ERR_STATE;
    if (!ch_ws_rare_get(c))
        return CHANHOST_ERR_NOMEM;
    c->rare->drain_cb = cb;
    c->rare->drain_arg = arg;
    c->drain_gen = (p ? p : c->plugin)->generation;
    ch_conn_want_drain(c->conn);
    return CHANHOST_OK;
}

/* api->bind_room (membership.c). */
static int api_bind_room(chanhost_conn *c, int64_t room_id)
{
    return ch_membership_bind(api_app, c, room_id);
}

static const chanhost_api api_table = {
    .struct_size = sizeof(chanhost_api),
    .abi_major = CHANHOST_ABI_MAJOR,
    .abi_minor = CHANHOST_ABI_MINOR,
    .log = api_log,
    .accept = api_accept,
    .select_subprotocol = api_select_subprotocol,
    .close = api_close,
    .send_text = api_send_text,
    .send_binary = api_send_binary,
    .send_json = api_send_json,
    .forward = api_forward,
    .channel_name = api_channel_name,
    .route_param = api_route_param,
    .query_string = api_query_string,
    .query_param = api_query_param,
    .header = api_header,
    .path = api_path,
    .peer = api_peer,
    .subprotocol_offered = api_subprotocol_offered,
    .set_data = api_set_data,
    .get_data = api_get_data,
    .group_add = api_group_add,
    .group_discard = api_group_discard,
    .group_send = api_group_send,
    .channel_send = api_channel_send,
    .group_size = api_group_size,
    .store_call = ch_api_store_call,
    .now_ms = api_now_ms,
    .user = api_user,
    .http_method = ch_api_http_method,
    .http_path = ch_api_http_path,
    .http_param = ch_api_http_param,
    .http_query = ch_api_http_query,
    .http_body = ch_api_http_body,
    .http_user = ch_api_http_user,
    .http_is_service = ch_api_http_is_service,
    .http_peer = ch_api_http_peer,
    .http_reply = ch_api_http_reply,
    .store_exec = ch_api_store_exec,
    .timer_start = ch_timer_start,
    .timer_stop = ch_timer_stop,
    .poster_new = ch_poster_new,
    .poster_free = ch_poster_free,
    .loop_post = ch_loop_post,
    .on_drain = api_on_drain,
    .bind_room = api_bind_room,
    .user_id = api_user_id,
    .username = api_username,
    .user_has_role = api_user_has_role,
    .release_request = api_release_request,
    .presence_track = ch_presence_track,
    .presence_untrack = ch_presence_untrack,
    .presence_list = ch_presence_list,
};

const chanhost_api *ch_api_table(void) { return &api_table; }
