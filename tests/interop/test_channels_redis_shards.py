"""chanhost on `layer channels_redis://A channels_redis://B` beside the
Django project configured with the same two hosts (INTEROP_REDIS="A,B":
CHANNEL_LAYERS' `hosts`, in that order): two redis-servers started here on
free ports, Debian's channels_redis 4.0.0 on the Django side, chanhost
serving the broadcast and directsend plugins.

  - chanhost's membership of a group lives on the server channels_redis's
    consistent hash picks for the group (room_1 and room_8: one on each),
    and nowhere else;
  - a Django group_send to either group reaches a chanhost client once;
  - a chanhost client's group message reaches a Django process's channel
    in either group once, written into that process's inbox on the server
    channels_redis picks for the inbox ("specific.<prefix>!") and nowhere
    else (checked with redis-cli on each server);
  - send() to a specific channel both ways (Django's send() hashes the full
    channel name, channels_redis bug #221: chanhost polls its inbox on
    every server, so it arrives wherever it lands).

Every "once" is checked by a marker sent after the message: the next thing
received must be the marker.  Waits are on events (frames, log lines,
process output) or polls with deadlines where Redis state is the only
event."""

import json
import os
import subprocess

import pytest

from conftest import DJANGO_PYTHON, DJPROJECT, recv_json, run, ws_connect
from test_channels_redis import CONNECTED, DJANGO_PREAMBLE, ROUTES, chat, send_json
from test_redis import plugin_dir, wait_until  # noqa: F401 (fixture)
from test_redis_shards import servers, shard_of, shard_servers  # noqa: F401 (fixtures)


GROUPS = ("room_1", "room_8")
assert sorted(shard_of(g, 2) for g in GROUPS) == [0, 1]


@pytest.fixture
def host(make_host, plugin_dir, servers):  # noqa: F811
    """A chanhost on both servers, connected to both."""
    layer = "layer " + " ".join(f"channels_redis://127.0.0.1:{s.port}/0" for s in servers)
    h = make_host([layer], routes=ROUTES, plugin_dir=plugin_dir)
    h.wait_for(CONNECTED, count=2)
    return h


def django_env(servers, tmp_path):
    return dict(os.environ, DJANGO_SETTINGS_MODULE="interop.settings", PYTHONPATH=str(DJPROJECT),
                INTEROP_REDIS=",".join(s.url for s in servers), INTEROP_DB=f"sqlite:{tmp_path / 'dj.sqlite3'}",
                PYTHONDONTWRITEBYTECODE="1")


def django(servers, tmp_path, code):
    """A Django process running code (the shared layer as `layer`), its
    stdout piped (line-buffered text)."""
    return subprocess.Popen([DJANGO_PYTHON, "-c", DJANGO_PREAMBLE + code], env=django_env(servers, tmp_path),
                            cwd=DJPROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    """proc's remaining stdout once it exits 0."""
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return out


def home(servers, name):
    return servers[shard_of(name, len(servers))]


def other(servers, name):
    return servers[1 - shard_of(name, len(servers))]


def members(server, group):
    return server.cmd("ZRANGE", f"asgi:group:{group}", 0, -1) or []


def redis_cli(server, *args):
    """redis-cli's answer (stripped text): the check the brief asks for."""
    r = subprocess.run(["redis-cli", "-p", str(server.port), *map(str, args)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def placed(servers, group):
    """chanhost's one member of group is on the group's server only."""
    wait_until(lambda: members(home(servers, group), group), f"the membership of {group}")
    [name] = members(home(servers, group), group)
    assert name.decode().startswith("specific.") and "!" in name.decode()
    assert redis_cli(other(servers, group), "EXISTS", f"asgi:group:{group}") == "0"
    return name.decode()


def test_memberships_live_on_the_groups_server(host, servers):
    async def main():
        async with ws_connect(host.url("/ws/broadcast/1/")), ws_connect(host.url("/ws/broadcast/8/")):
            a, b = (placed(servers, g) for g in GROUPS)
            assert a.split("!")[0] == b.split("!")[0]  # one process, one inbox
            assert redis_cli(home(servers, GROUPS[0]), "ZCARD", f"asgi:group:{GROUPS[0]}") == "1"
            assert redis_cli(home(servers, GROUPS[1]), "ZCARD", f"asgi:group:{GROUPS[1]}") == "1"

    run(main())


def test_django_group_send_reaches_a_chanhost_client_once(host, servers, tmp_path):
    async def main():
        async with ws_connect(host.url("/ws/broadcast/1/")) as one, ws_connect(host.url("/ws/broadcast/8/")) as eight:
            for g in GROUPS:
                placed(servers, g)
            code = "".join(f"async_to_sync(layer.group_send)({g!r}, {m!r})\n" for g in GROUPS
                           for m in ({"type": "chat.message", "message": f"to {g}"},
                                     {"type": "chat.message", "message": "marker"}))
            finish(django(servers, tmp_path, code))
            for ws, g in ((one, GROUPS[0]), (eight, GROUPS[1])):
                assert await recv_json(ws) == {"type": "chat.message", "message": f"to {g}"}
                assert await recv_json(ws) == {"type": "chat.message", "message": "marker"}

    run(main())


# A Django process: a channel in both groups; prints it, then the next
# `count` messages it receives.
RECEIVE = """
async def main():
    ch = await layer.new_channel()
    for g in {groups!r}:
        await layer.group_add(g, ch)
    print(ch, flush=True)
    got = [await asyncio.wait_for(layer.receive(ch), 20) for _ in range({count})]
    print(json.dumps(got), flush=True)
asyncio.run(main())
"""

# A Django process that only joins a channel to both groups and leaves it
# unread (its inbox keeps what chanhost writes).
JOIN_ONLY = """
async def main():
    ch = await layer.new_channel()
    for g in {groups!r}:
        await layer.group_add(g, ch)
    print(ch, flush=True)
asyncio.run(main())
"""


def test_chanhost_group_send_reaches_django_once(host, servers, tmp_path):
    proc = django(servers, tmp_path, RECEIVE.format(groups=GROUPS, count=4))

    async def main():
        async with ws_connect(host.url("/ws/broadcast/1/")) as one, ws_connect(host.url("/ws/broadcast/8/")) as eight:
            theirs = proc.stdout.readline().strip()
            assert theirs.startswith("specific."), proc.stderr.read()
            for ws, g in ((one, GROUPS[0]), (eight, GROUPS[1])):
                wait_until(lambda: len(members(home(servers, g), g)) == 2, f"both members of {g}")
                for text in (f"from chanhost to {g}", f"marker {g}"):
                    await ws.send(json.dumps(chat(text)))
                    assert await recv_json(ws) == chat(text)
        got = json.loads(finish(proc))
        # in order per group; the two groups live on different servers (each
        # group's send is its own EVAL there), so they may interleave
        assert len(got) == 4, got
        for g in GROUPS:
            assert [m for m in got if m["message"].endswith(f" {g}")] == \
                [chat(f"from chanhost to {g}"), chat(f"marker {g}")], got

    run(main())


def test_chanhost_writes_django_inboxes_on_their_server(host, servers, tmp_path):
    """One of the two groups lives on another server than the Django
    inbox: chanhost reads the group there and writes the inbox on the
    inbox's server, one copy per message."""
    theirs = finish(django(servers, tmp_path, JOIN_ONLY.format(groups=GROUPS))).strip()
    inbox = theirs[: theirs.index("!") + 1]
    key = "asgi" + inbox

    async def main():
        async with ws_connect(host.url("/ws/broadcast/1/")) as one, ws_connect(host.url("/ws/broadcast/8/")) as eight:
            for ws, g in ((one, GROUPS[0]), (eight, GROUPS[1])):
                wait_until(lambda: len(members(home(servers, g), g)) == 2, f"both members of {g}")
                await ws.send(json.dumps(chat(f"to {g}")))
                assert await recv_json(ws) == chat(f"to {g}")
            wait_until(lambda: redis_cli(home(servers, inbox), "ZCARD", key) == "2", "two copies in the inbox")
            assert redis_cli(other(servers, inbox), "EXISTS", key) == "0"

    run(main())


def test_send_to_a_specific_channel_both_ways(host, servers, tmp_path):
    proc = django(servers, tmp_path, RECEIVE.format(groups=(), count=2))

    async def main():
        async with ws_connect(host.url("/ws/direct/")) as c:
            mine = (await recv_json(c))["channel"]
            theirs = proc.stdout.readline().strip()
            assert mine.startswith("specific.") and theirs.startswith("specific."), proc.stderr.read()
            for text in ("to django", "marker"):
                await send_json(c, {"type": "direct", "to": theirs, "message": text})
            assert json.loads(finish(proc)) == [{"type": "direct_message", "message": "to django"},
                                                {"type": "direct_message", "message": "marker"}]
        # Django's send() to a chanhost channel whose full name hashes to
        # the other server than its inbox's name (channels_redis #221): the
        # next connections' names until one does (each is a new name)
        inbox = mine[: mine.index("!") + 1]
        for _ in range(32):
            async with ws_connect(host.url("/ws/direct/")) as c:
                name = (await recv_json(c))["channel"]
                if shard_of(name, 2) == shard_of(inbox, 2):
                    continue
                code = "".join(f"async_to_sync(layer.send)({name!r}, {{'type': 'direct_message', 'message': {t!r}}})\n"
                               for t in ("to chanhost", "marker"))
                finish(django(servers, tmp_path, code))
                assert await recv_json(c) == {"type": "direct_message", "message": "to chanhost"}
                assert await recv_json(c) == {"type": "direct_message", "message": "marker"}
                return
        raise AssertionError("no channel name off its inbox's server in 32 connections")

    run(main())
