"""chanhost on `layer channels_redis://...` beside the Django project in
djproject/: Debian's channels_redis 4.0.0 on the Django side, a real
redis-server (started here on a free port), Daphne serving the project's
RoomConsumer (djproject/interop/consumers.py), chanhost serving the
broadcast and directsend plugins.  Both sides use group room_<n>.

  - a Django shell's group_send reaches a chanhost client, once;
  - a chanhost client's message reaches a Channels consumer under Daphne
    in the same group as the event dict a Channels consumer sends, and
    the other way round, once;
  - send() to a specific channel both ways;
  - after a Redis restart, new messages flow both ways, once;
  - a malformed member pushed into chanhost's inbox with redis-cli is
    skipped and counted, the next good one delivered;
  - POST /api/publish/ reaches the clients of two chanhost processes
    sharing the layer (and a Channels consumer in the group);
  - seed 002's group chat_<id> (the chatroom plugin's default, or its
    group_prefix setting) takes Django's group_send to a chat room.

Every "once" is checked by a marker sent after the message: the next thing
the client gets must be the marker.  Waits are on events (frames, log
lines) or polls with deadlines where Redis state is the only event."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import (DJANGO_PYTHON, DJPROJECT, config_text, get_metrics, metric, recv_json, run, run_chanhost,
                      ws_connect)
from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from chatkit import chat_host, open_ws, run_chat
from test_redis import Resp, free_port, plugin_dir, redis, redis_server, wait_until  # noqa: F401 (fixtures)

ROUTES = ["/ws/broadcast/<int:room_id>/ broadcast", "/ws/direct/ directsend"]
CONNECTED = r"channel layer: redis at \S+ connected"
BACK = r"channel layer: redis at \S+ back after"


def cr_url(redis):
    return f"channels_redis://127.0.0.1:{redis.port}/0"


@pytest.fixture
def cr_host(make_host, plugin_dir, redis, tmp_path):  # noqa: F811
    """Factory: a chanhost on the channels_redis layer, connected."""

    def factory():
        h = make_host([f"layer {cr_url(redis)}", *auth_config_lines(tmp_path)], routes=ROUTES,
                      plugin_dir=plugin_dir)
        h.wait_for(CONNECTED)
        return h

    return factory


def django_env(redis, tmp_path):
    return dict(os.environ, DJANGO_SETTINGS_MODULE="interop.settings", PYTHONPATH=str(DJPROJECT),
                INTEROP_REDIS=redis.url, INTEROP_DB=f"sqlite:{tmp_path / 'dj.sqlite3'}",
                PYTHONDONTWRITEBYTECODE="1")


DJANGO_PREAMBLE = """
import asyncio, json, sys
import django
django.setup()
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
layer = get_channel_layer()
"""


def django_shell(redis, tmp_path, code):
    """Run code in a Django process (the project's settings, the shared
    layer as `layer`); return its stdout.  Fails on a non-zero exit."""
    p = subprocess.run([DJANGO_PYTHON, "-c", DJANGO_PREAMBLE + code], env=django_env(redis, tmp_path),
                       cwd=DJPROJECT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def group_send(redis, tmp_path, group, *messages):
    code = "".join(f"async_to_sync(layer.group_send)({group!r}, {m!r})\n" for m in messages)
    django_shell(redis, tmp_path, code)


@pytest.fixture
def daphne(redis, tmp_path):
    """Daphne serving the project on a free port; yields ws://... base."""
    port = free_port()
    log = open(tmp_path / "daphne.log", "w")
    proc = subprocess.Popen([DJANGO_PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "interop.asgi:application"], cwd=DJPROJECT, env=django_env(redis, tmp_path),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def listening():
            assert proc.poll() is None, (tmp_path / "daphne.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, "daphne listening", timeout=30)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def members(redis, group):
    return redis.cmd("ZRANGE", f"asgi:group:{group}", 0, -1) or []


def chat(text):
    return {"type": "chat_message", "message": text}


async def send_json(ws, obj):
    await ws.send(json.dumps(obj))


# --------------------------------------------------------------------------


def test_django_group_send_reaches_a_chanhost_client(cr_host, redis, tmp_path):
    h = cr_host()

    async def main():
        async with ws_connect(h.url("/ws/broadcast/5/")) as ws:
            wait_until(lambda: members(redis, "room_5"), "chanhost's membership in Redis")
            [name] = members(redis, "room_5")
            assert name.decode().startswith("specific.") and "!" in name.decode()
            group_send(redis, tmp_path, "room_5", {"type": "chat.message", "message": "from django"},
                       {"type": "chat.message", "message": "marker"})
            assert await recv_json(ws) == {"type": "chat.message", "message": "from django"}
            assert await recv_json(ws) == {"type": "chat.message", "message": "marker"}

    run(main())


def test_chanhost_and_daphne_share_a_group(cr_host, redis, daphne):
    h = cr_host()

    async def main():
        async with ws_connect(h.url("/ws/broadcast/6/")) as c, ws_connect(f"{daphne}/ws/room/6/") as d:
            hello = await recv_json(d)
            assert hello["type"] == "hello"
            wait_until(lambda: len(members(redis, "room_6")) == 2, "both members in Redis")
            # chanhost -> Daphne: the broadcast plugin's event, as a Channels consumer gets it
            await c.send(json.dumps(chat("from chanhost")))
            assert await recv_json(c) == chat("from chanhost")
            assert await recv_json(d) == chat("from chanhost")
            # Daphne -> chanhost
            await send_json(d, {"type": "say", "message": "from daphne"})
            assert await recv_json(d) == chat("from daphne")
            assert await recv_json(c) == chat("from daphne")
            # once each: the next frames are the markers
            await c.send(json.dumps(chat("marker")))
            assert await recv_json(c) == chat("marker")
            assert await recv_json(d) == chat("marker")

    run(main())


def test_send_to_a_specific_channel_both_ways(cr_host, redis, daphne):
    h = cr_host()

    async def main():
        async with ws_connect(h.url("/ws/direct/")) as c, ws_connect(f"{daphne}/ws/room/7/") as d:
            mine = (await recv_json(c))["channel"]
            theirs = (await recv_json(d))["channel"]
            assert mine.startswith("specific.") and theirs.startswith("specific.")
            await send_json(d, {"type": "direct", "to": mine, "message": "to chanhost"})
            assert await recv_json(c) == {"type": "direct_message", "message": "to chanhost"}
            await send_json(c, {"type": "direct", "to": theirs, "message": "to daphne"})
            assert await recv_json(d) == {"type": "direct_message", "message": "to daphne"}
            await send_json(d, {"type": "direct", "to": mine, "message": "marker"})
            assert await recv_json(c) == {"type": "direct_message", "message": "marker"}
            await send_json(c, {"type": "direct", "to": theirs, "message": "marker"})
            assert await recv_json(d) == {"type": "direct_message", "message": "marker"}

    run(main())


RECEIVE_ONE = """
async def main():
    ch = await layer.new_channel()
    await layer.group_add({group!r}, ch)
    print("READY", flush=True)
    got = [await asyncio.wait_for(layer.receive(ch), 20) for _ in range(2)]
    print(json.dumps(got), flush=True)
asyncio.run(main())
"""


def test_new_messages_flow_after_a_redis_restart(cr_host, redis, tmp_path):
    h = cr_host()

    async def main():
        async with ws_connect(h.url("/ws/broadcast/8/")) as c:
            wait_until(lambda: members(redis, "room_8"), "chanhost's membership in Redis")
            mark = h.mark()
            redis.kill()
            redis.start()
            h.wait_for(BACK, since=mark, timeout=20)
            # the membership is re-added by the next refresh after the reconnect
            wait_until(lambda: members(redis, "room_8"), "membership re-added", timeout=20)
            group_send(redis, tmp_path, "room_8", {"type": "chat.message", "message": "after"},
                       {"type": "chat.message", "message": "marker"})
            assert await recv_json(c) == {"type": "chat.message", "message": "after"}
            assert await recv_json(c) == {"type": "chat.message", "message": "marker"}
            # chanhost -> a Django process that joined after the restart
            proc = subprocess.Popen([DJANGO_PYTHON, "-c", DJANGO_PREAMBLE + RECEIVE_ONE.format(group="room_8")],
                                    env=django_env(redis, tmp_path), cwd=DJPROJECT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            try:
                assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
                await c.send(json.dumps(chat("to django")))
                assert await recv_json(c) == chat("to django")
                await c.send(json.dumps(chat("marker")))
                assert await recv_json(c) == chat("marker")
                out, err = proc.communicate(timeout=30)
                assert proc.returncode == 0, err
                assert json.loads(out) == [chat("to django"), chat("marker")]
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    run(main())


def test_a_malformed_inbox_member_is_skipped_and_counted(cr_host, redis, tmp_path):
    h = cr_host()

    async def main():
        async with ws_connect(h.url("/ws/direct/")) as c:
            mine = (await recv_json(c))["channel"]
            inbox = "asgi" + mine[: mine.index("!") + 1]
            mark = h.mark()
            bad = subprocess.run(["redis-cli", "-p", str(redis.port), "ZADD", inbox, str(time.time()),
                                  "0123456789ab-not-msgpack"], capture_output=True, text=True, timeout=10)
            assert bad.returncode == 0 and bad.stdout.strip() == "1", bad
            h.wait_for(r"WARNING channel layer: skipped 1 undecodable message", since=mark)
            django_shell(redis, tmp_path,
                         f"async_to_sync(layer.send)({mine!r}, {{'type': 'direct_message', 'message': 'good'}})\n")
            assert await recv_json(c) == {"type": "direct_message", "message": "good"}
            assert metric(get_metrics(h.port), "chanhost_redis_malformed_total") == 1

    run(main())


def test_publish_reaches_two_chanhost_processes_and_daphne(cr_host, redis, daphne):
    h1, h2 = cr_host(), cr_host()
    api = Api(h2.port, service_token=SERVICE_TOKEN)

    async def main():
        async with ws_connect(h1.url("/ws/broadcast/9/")) as a, ws_connect(h2.url("/ws/broadcast/9/")) as b, \
                ws_connect(f"{daphne}/ws/room/9/") as d:
            await recv_json(d)
            wait_until(lambda: len(members(redis, "room_9")) == 3, "three members in Redis")
            for text in ("published", "marker"):
                got = api.call("POST", "/api/publish/", {"group": "room_9", "message": chat(text)},
                               token=SERVICE_TOKEN)
                assert got == {"results": [{"ok": True}]}
            for ws in (a, b, d):
                assert await recv_json(ws) == chat("published")
                assert await recv_json(ws) == chat("marker")

    run(main())


@pytest.mark.parametrize("settings, prefix", [((), "chat_"), (("chatroom group_prefix django.chat-",), "django.chat-")])
def test_django_group_send_reaches_a_seed_002_chat(make_host, redis, tmp_path, settings, prefix):
    """Seed 002's consumer groups /ws/chats/<id>/ as chat_<id>: Django's
    group_send("chat_<id>", {"type": "chat.message", ...}) reaches the
    chatroom plugin's clients of that room as it was sent; group_prefix
    changes the name."""
    w = chat_host(make_host, tmp_path, ["/ws/chats/<int:chat_id>/ chatroom"], settings=settings,
                  extra=[f"layer {cr_url(redis)}"])
    w.host.wait_for(CONNECTED)
    room = w.api.create_room(w.token("alice"), "django", "group", [w.uid("bob")])
    group = f"{prefix}{room['id']}"

    async def main():
        ws, _history = await open_ws(w.url(f"/ws/chats/{room['id']}/", "bob"))
        wait_until(lambda: members(redis, group), "the chat's membership in Redis")
        event = {"type": "chat.message", "message": "from a Django view", "user_id": w.uid("alice")}
        group_send(redis, tmp_path, group, event, {"type": "chat.message", "message": "marker"})
        assert await recv_json(ws) == event
        assert await recv_json(ws) == {"type": "chat.message", "message": "marker"}

    run_chat(main)


def test_check_probes_the_channels_redis_server(redis, tmp_path, plugin_dir):  # noqa: F811
    cfg = tmp_path / "cr.conf"
    cfg.write_text(config_text([f"layer {cr_url(redis)}?prefix=app"], plugin_dir=plugin_dir, routes=ROUTES))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"redis at 127.0.0.1:{redis.port} reachable" in r.stdout, r.stdout
    redis.kill()
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode != 0
    assert f"redis at 127.0.0.1:{redis.port} unreachable" in r.stderr, r.stderr
