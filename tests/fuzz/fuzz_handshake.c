/*
 * fuzz_handshake.c -- the WebSocket opening handshake and the session
 * token, as runtime/upgrade.c runs them, on the real code of each step:
 * bytes through http.c into a request; the route table (core routes and
 * router, built from etc/chanhost.conf's patterns); ch_handshake_check
 * with an origin policy; the token from the Bearer subprotocol, the
 * Authorization header, the session cookie or ?token= (ch_auth_find_token
 * over the stored headers), verified as a JWT and turned into the user;
 * then ch_ws_accept (the 101, wslay started, the early frames that came
 * with the request fed through ws.c).  There are no Django sessions yet:
 * the cookie holds the host's JWT.  Owns the app's routes and secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "fake_conn.h"
#include "fake_ws.h"
#include "fuzz.h"
#include "handshake.h"
#include "routes.h"

static const char secret[] = "fuzz-secret-0123456789abcdef";

/* Routes and allowed origins as a deployment would have them. */
static void setup(ch_app *app)
{
    static const char *const routes[] = {
        "/ws/echo/ echo",
        "/ws/chat-room/<int:room_id>/ chatroom",
        "/ws/chat/group/<slug:room_name>/ chatroom",
        "/ws/chat/support/<str:room_name>/ support",
        "/ws/files/<path:rest> echo",
        "/ws/u/<uuid:id>/ echo",
    };
    ch_diag diag = {0};

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        FZ_CHECK(ch_config_apply(&app->cfg, "route", routes[i], "fuzz", &diag) == 0);
    FZ_CHECK(ch_config_apply(&app->cfg, "allowed_origins",
                             "https://example.com .example.org http://app.test:*", "fuzz",
                             &diag) == 0);
    ch_diag_free(&diag);
    FZ_CHECK(ch_routes_build(&app->routes, &app->cfg, NULL) == 0);
    app->auth_secret = (unsigned char *)secret;
    app->auth_secret_len = sizeof secret - 1;
}

static const char *header_of(void *ctx, const char *name) { return ch_ws_header(ctx, name); }

/* The token the handshake carries, verified: the user, or nothing. */
static void authenticate(ch_ws *w)
{
    ch_app *app = w->conn->app;
    const char *via = NULL, *why = NULL;
    char *token = ch_auth_find_token(header_of, w, ch_ws_query(w), &via);
    json_t *claims, *user;

    if (!token)
        return;
    FZ_CHECK(via != NULL);
    if (strcmp(via, "subprotocol") == 0)
        FZ_CHECK((w->req->subprotocol = strdup("Bearer")) != NULL);
    claims = ch_jwt_verify(token, app->auth_secret, app->auth_secret_len, time(NULL), &why);
    free(token);
    FZ_CHECK(claims != NULL || why != NULL);
    user = ch_auth_user(claims);
    json_decref(user);
    json_decref(claims);
}

/* The upgrade: route, handshake, token, accept. */
static void h_upgrade(ch_conn *c, const ch_req *req)
{
    ch_app *app = c->app;
    ch_origin_policy policy = {app->cfg.allowed_origins, app->cfg.n_allowed_origins,
                               strstr(req->query, "strict") != NULL};
    ch_route_params params = {0};
    ch_handshake hs;
    ch_ws *w;

    if (!ch_routes_match(&app->routes, req->path, &params)) {
        ch_http_error(c, 404, NULL);
        return;
    }
    ch_route_params_free(&params);
    if (ch_handshake_check(req, &policy, &hs) != 0) {
        FZ_CHECK(hs.status >= 400 && hs.reason != NULL);
        ch_http_close_after(c);
        ch_http_error(c, hs.status, NULL);
        return;
    }
    FZ_CHECK(strlen(hs.accept) == 28);
    w = fz_ws_pending(c, req);
    authenticate(w);
    if (ch_ws_accept(w, NULL) != 0 && !c->closing)
        ch_conn_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    ch_app *app = fz_app();

    if (!ready) {
        setup(app);
        FZ_CHECK(ch_http_handle(app, "/", 1, NULL, h_upgrade) == 0);
        ready = 1;
    }
    fz_http_run(data, size, NULL);
    return 0;
}
