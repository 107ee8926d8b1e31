"""SDK 1.3's per-connection calls, through the userinfo test plugins
(tests/plugins/userinfo.c): the user as plain values (api->user_id,
api->username, api->user_has_role) next to api->user's JSON, and
api->release_request, which frees the query and headers at accept.  The
same plugin built for SDK 1.2 (userinfo12) still loads and reaches the
new calls through CHANHOST_API_HAS."""

import pytest

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from conftest import TEST_PLUGIN_DIR, recv_json, run, ws_connect

ROUTES = ["/ws/userinfo/<slug:room>/ userinfo", "/ws/userinfo12/<slug:room>/ userinfo12"]


@pytest.fixture
def host(make_host, tmp_path):
    h = make_host(auth_config_lines(tmp_path), plugin_dir=TEST_PLUGIN_DIR, routes=ROUTES)
    h.wait_for(r"plugin userinfo12 1\.0\.0 loaded")
    return h, Api(h.port, service_token=SERVICE_TOKEN)


async def session(h, plugin, query="", **kw):
    """Connect to /ws/<plugin>/blue/<query>: the first message, the answer
    to one message sent after it, and the subprotocol the host chose."""
    async with ws_connect(h.url(f"/ws/{plugin}/blue/") + query, **kw) as ws:
        first = await recv_json(ws)
        await ws.send("again")
        return first, await recv_json(ws), ws.subprotocol


def test_scalar_user_calls_match_the_json(host):
    h, api = host
    admin = api.create_user("ada", role="admin")
    token = api.token_for(admin["id"])
    as_json = {"id": admin["id"], "username": "ada", "roles": ["admin"]}
    for plugin, minor in (("userinfo", 4), ("userinfo12", 2)):  # userinfo: this SDK's minor
        first, later, _ = run(session(h, plugin, f"?token={token}"))
        assert first["minor"] == minor and first["has_scalars"] is True
        assert (first["id"], first["username"]) == (admin["id"], "ada")
        assert first["admin"] is True and first["member"] is False
        assert later["user"] == as_json and later["id"] == admin["id"]


def test_no_token_no_user(host):
    h, _ = host
    first, later, _ = run(session(h, "userinfo"))
    assert (first["id"], first["username"], first["admin"]) == (0, None, False)
    assert later["user"] is None and later["id"] == 0


def test_release_request_frees_query_and_headers_at_accept(host):
    h, api = host
    user = api.create_user("rosa", role="publisher")
    token = api.token_for(user["id"])
    first, later, sub = run(session(h, "userinfo", f"?token={token}&release=1&x=1",
                                    extra_headers={"X-Probe": "probe/1"}))
    # in connect, before the accept, the request is all there
    assert first["released"] is True and first["token_seen"] is True
    assert first["agent"] == "probe/1" and first["username"] == "rosa"
    # after the accept it is gone; the path, route, and user stay
    assert later["query"] == "" and later["token"] is None and later["agent"] is None
    assert later["bearer"] is False
    assert later["path"] == "/ws/userinfo/blue/" and later["room"] == "blue"
    assert later["id"] == user["id"]
    assert later["user"] == {"id": user["id"], "username": "rosa", "roles": ["publisher"]}
    assert sub is None


def test_release_before_accept_still_answers_the_bearer_subprotocol(host):
    h, api = host
    user = api.create_user("bea")
    token = api.token_for(user["id"])
    first, later, sub = run(session(h, "userinfo", "?release=1", subprotocols=["Bearer", token]))
    assert first["released"] is True and first["username"] == "bea"
    assert sub == "Bearer"  # the 101 read the offer after the release call
    assert later["bearer"] is False and later["query"] == ""


def test_without_release_the_request_lives_on(host):
    h, api = host
    user = api.create_user("otto")
    token = api.token_for(user["id"])
    for plugin in ("userinfo", "userinfo12"):
        first, later, _ = run(session(h, plugin, f"?token={token}&x=1",
                                      extra_headers={"X-Probe": "probe/2"}))
        assert first["released"] is False
        assert later["query"] == f"token={token}&x=1" and later["token"] == token
        assert later["agent"] == "probe/2"
