"""POST /api/publish/ (host/api/rest_publish.c): a backend hands messages to
the channel layer over HTTP with the service token.  With the memory layer
on one host; with the Redis layer across two hosts sharing it (a message
published on one reaches the clients of both, exactly once).  Bad input is
answered 400 and sends nothing; no token 401, a user's token 403."""

import asyncio

import pytest

from apiclient import SERVICE_TOKEN, Api, ApiError, auth_config_lines
from conftest import recv_json, run, ws_connect
from test_redis import CONNECTED, ROUTES, numsub, plugin_dir, redis, redis_server, wait_until  # noqa: F401


def msg(text):
    return {"type": "chat_message", "message": text}


async def expect_only(ws, want, marker_api, group):
    """ws gets want, and the next message is a fresh marker: want came once."""
    assert await recv_json(ws) == want
    marker = msg("marker")
    marker_api.call("POST", "/api/publish/", {"group": group, "message": marker}, token=SERVICE_TOKEN)
    assert await recv_json(ws) == marker


def publish(api, body, token=SERVICE_TOKEN):
    return api.call("POST", "/api/publish/", body, token=token)


def test_publish_with_the_memory_layer(make_host, plugin_dir, tmp_path):  # noqa: F811
    h = make_host(auth_config_lines(tmp_path), routes=ROUTES, plugin_dir=plugin_dir)
    api = Api(h.port, service_token=SERVICE_TOKEN)

    async def main():
        async with ws_connect(h.url("/ws/broadcast/5/")) as a, ws_connect(h.url("/ws/direct/")) as d:
            hello = await recv_json(d)
            assert publish(api, {"group": "room_5", "message": msg("one")}) == {"results": [{"ok": True}]}
            await expect_only(a, msg("one"), api, "room_5")
            got = publish(api, [{"group": "room_5", "message": msg("two")},
                                {"channel": hello["channel"], "message": {"type": "direct_message", "message": "d"}},
                                {"group": "room_5", "message": msg("three")}])
            assert got == {"results": [{"ok": True}] * 3}
            assert await recv_json(a) == msg("two")
            assert await recv_json(a) == msg("three")
            assert await recv_json(d) == {"type": "direct_message", "message": "d"}

    run(main())


@pytest.mark.parametrize("body, field", [
    ({"message": {"type": "x"}}, "exactly one of"),
    ({"group": "a", "channel": "b!c", "message": {"type": "x"}}, "exactly one of"),
    ({"group": "bad name", "message": {"type": "x"}}, '"group" must be'),
    ({"channel": "a!b!c", "message": {"type": "x"}}, '"channel" must be'),
    ({"group": "room_5", "message": {"text": "no type"}}, '"message" must be'),
    ({"group": "room_5", "message": "text"}, '"message" must be'),
    ([], "1..1000 items"),
    ([{"group": "room_5", "message": {"type": "x"}}, 7], "item 1: an item must be"),
    ("just a string", "invalid JSON"),
])
def test_bad_input_is_400_and_sends_nothing(make_host, plugin_dir, tmp_path, body, field):  # noqa: F811
    h = make_host(auth_config_lines(tmp_path), routes=ROUTES, plugin_dir=plugin_dir)
    api = Api(h.port, service_token=SERVICE_TOKEN)

    async def main():
        async with ws_connect(h.url("/ws/broadcast/5/")) as a:
            r = api.request("POST", "/api/publish/", body, token=SERVICE_TOKEN)
            assert r.status == 400, r.body
            assert field in r.body["message"], r.body
            publish(api, {"group": "room_5", "message": msg("after")})
            assert await recv_json(a) == msg("after")

    run(main())


def test_publish_needs_the_service_token(make_host, plugin_dir, tmp_path):  # noqa: F811
    h = make_host(auth_config_lines(tmp_path), routes=ROUTES, plugin_dir=plugin_dir)
    api = Api(h.port, service_token=SERVICE_TOKEN)
    body = {"group": "room_5", "message": msg("x")}
    with pytest.raises(ApiError) as no_token:
        api.call("POST", "/api/publish/", body)
    assert no_token.value.status == 401
    user = api.create_user("pub-user", password="correct horse 1")
    with pytest.raises(ApiError) as as_user:
        publish(api, body, token=api.token_for(user["id"]))
    assert as_user.value.status == 403
    assert publish(api, body) == {"results": [{"ok": True}]}


def test_publish_reaches_two_hosts_on_the_redis_layer(make_host, plugin_dir, redis, tmp_path):  # noqa: F811
    extra = [f"layer {redis.url}", *auth_config_lines(tmp_path)]
    h1 = make_host(extra, routes=ROUTES, plugin_dir=plugin_dir)
    h2 = make_host(extra, routes=ROUTES, plugin_dir=plugin_dir)
    for h in (h1, h2):
        h.wait_for(CONNECTED)
    api = Api(h1.port, service_token=SERVICE_TOKEN)

    async def main():
        async with ws_connect(h1.url("/ws/broadcast/7/")) as a, ws_connect(h2.url("/ws/broadcast/7/")) as b, \
                ws_connect(h2.url("/ws/direct/")) as d:
            hello = await recv_json(d)
            wait_until(lambda: numsub(redis, "chanhost:g:room_7") == 2, "both hosts subscribed")
            assert publish(api, {"group": "room_7", "message": msg("both")}) == {"results": [{"ok": True}]}
            await expect_only(a, msg("both"), api, "room_7")
            await expect_only(b, msg("both"), api, "room_7")
            publish(api, {"channel": hello["channel"], "message": {"type": "direct_message", "message": "x"}})
            assert await recv_json(d) == {"type": "direct_message", "message": "x"}

    run(main())
