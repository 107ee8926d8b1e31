"""The Redis channel layer sharded over two redis-servers (started by this
module on free loopback ports), with three chanhost processes sharing them:
each group lives on the shard channels_redis's consistent hash picks, group
and direct sends reach every member exactly once, and one shard going down
degrades only the groups on it (/healthz names that shard).

Waiting is on events (log lines, received frames); where no event exists
(Redis-side subscriptions, /healthz state) a poll with a deadline is used.
"""

import asyncio
import binascii
import json

import pytest

from conftest import chat, config_text, healthz, recv_json, run, run_chanhost, ws_connect
from test_redis import (  # noqa: F401  (plugin_dir is a fixture)
    BACK,
    ROUTES,
    RedisServer,
    expect,
    numsub,
    plugin_dir,
    room,
    wait_until,
)


def shard_of(name, n):
    """channels_redis's utils._consistent_hash, for the assertions."""
    return int((binascii.crc32(name.encode()) & 0xFFF) / (4096.0 / n))


# room_1 and room_8 land on different shards of two
ROOMS = (1, 8)
assert sorted(shard_of(f"room_{n}", 2) for n in ROOMS) == [0, 1]


@pytest.fixture(scope="module")
def shard_servers():
    servers = [RedisServer(), RedisServer()]
    for s in servers:
        s.start()
    yield servers
    for s in servers:
        s.kill()


@pytest.fixture
def servers(shard_servers):
    """Both shards, running and empty."""
    for s in shard_servers:
        if not s.running():
            s.start()
        s.cmd("FLUSHALL")
    return shard_servers


@pytest.fixture
def three_hosts(make_host, plugin_dir, servers):
    layer = "layer " + " ".join(s.url for s in servers)
    hosts = [make_host([layer], routes=ROUTES, plugin_dir=plugin_dir) for _ in range(3)]
    for h in hosts:
        # one "connected" line per shard
        h.wait_for(r"channel layer: redis at \S+ connected", count=2)
    return hosts


def group_home(servers, group):
    return servers[shard_of(group, len(servers))]


async def groups_placed(servers, members):
    """Each group of `members` (room number -> member count) subscribed by
    the 3 processes and holding its members on its own shard, and absent
    from the other."""
    for n, count in members.items():
        group = f"room_{n}"
        home = group_home(servers, group)
        await asyncio.to_thread(wait_until, lambda: numsub(home, f"chanhost:g:{group}") == 3,
                                f"3 subscribers of {group} on its shard")
        await asyncio.to_thread(wait_until, lambda: home.cmd("ZCARD", f"chanhost:m:{group}") == count,
                                f"{count} members of {group} on its shard")
        for other in servers:
            if other is not home:
                assert numsub(other, f"chanhost:g:{group}") == 0
                assert other.cmd("KEYS", f"*{group}*") == []


async def exactly_once(senders, members, tag, maybe=()):
    """Each of senders (one socket per host) sends a message and then its
    own end marker (one sender's messages stay in order; different
    senders' do not); every member gets each message once and nothing else
    before the last marker but, at most once each, the messages in maybe."""
    sent = [f"{tag} from host {i}" for i in range(len(senders))]
    ends = {f"{tag} END {i}" for i in range(len(senders))}
    for i, (ws, text) in enumerate(zip(senders, sent)):
        await ws.send(chat(text))
        await ws.send(chat(f"{tag} END {i}"))
    for ws in members:
        got, seen = [], set()
        while seen != ends:
            message = (await recv_json(ws, 20.0)).get("message")
            if message in ends:
                assert message not in seen, (tag, message, "twice")
                seen.add(message)
            else:
                got.append(message)
        extra = [m for m in got if m in maybe]
        assert len(extra) == len(set(extra)), (tag, got)
        assert sorted(m for m in got if m not in maybe) == sorted(sent), (tag, got)


def test_group_sends_across_three_hosts_and_two_shards_exactly_once(servers, three_hosts):
    hosts = three_hosts

    async def main():
        members = {n: [await ws_connect(room(h, n)) for h in hosts] for n in ROOMS}
        members[ROOMS[0]].append(await ws_connect(room(hosts[0], ROOMS[0])))
        await groups_placed(servers, {n: len(m) for n, m in members.items()})
        for n in ROOMS:
            await exactly_once(members[n][:3], members[n], f"room {n}")
        for ws in (ws for m in members.values() for ws in m):
            await ws.close()

    run(main(), timeout=60)
    # each process channel is subscribed on exactly one shard
    pchans = [c for s in servers for c in s.cmd("PUBSUB", "CHANNELS", "chanhost:p:*")]
    assert len(pchans) == len(set(pchans)) == 3, pchans
    for h in hosts:
        layer = healthz(h.port)["layer"]
        assert layer["backend"] == "redis" and layer["state"] == "ok", layer


def test_direct_sends_between_three_hosts(servers, three_hosts):
    async def main():
        socks = [await ws_connect(h.url("/ws/direct/")) for h in three_hosts]
        names = [(await recv_json(ws))["channel"] for ws in socks]
        await asyncio.to_thread(
            wait_until, lambda: sum(len(s.cmd("PUBSUB", "CHANNELS", "chanhost:p:*")) for s in servers) == 3,
            "the 3 process channels subscribed")
        for i, src in enumerate(socks):
            dst = (i + 1) % 3
            text = f"{i} to {dst}"
            await src.send(json.dumps({"type": "direct", "to": names[dst], "message": text}))
            assert await recv_json(socks[dst]) == {"type": "direct_message", "message": text}
        for ws in socks:
            await ws.close()

    run(main())


def test_one_shard_down_degrades_only_its_groups(servers, three_hosts):
    a, b, c = three_hosts
    up_n, down_n = sorted(ROOMS, key=lambda n: shard_of(f"room_{n}", 2))
    down = servers[1]
    down_where = f"127.0.0.1:{down.port}"

    async def main():
        members = {n: [await ws_connect(room(h, n)) for h in three_hosts] for n in ROOMS}
        await groups_placed(servers, {n: 3 for n in ROOMS})
        marks = [h.mark() for h in three_hosts]
        down.kill()
        for h, since in zip(three_hosts, marks):
            await h.await_log(rf"WARNING channel layer: redis at {down_where} unreachable .*degraded", since=since)
        for h in three_hosts:
            state = (await asyncio.to_thread(healthz, h.port))["layer"]["state"]
            assert state.startswith(f"degraded: shard 2 of 2: redis at {down_where} unreachable"), state
        # the group on the other shard still crosses hosts, exactly once
        await exactly_once(members[up_n], members[up_n], "while shard 2 is down")
        # the group on the dead shard reaches the sender's own host only
        await members[down_n][0].send(chat("local only"))
        await expect(members[down_n][0], "local only")

        marks = [h.mark() for h in three_hosts]
        await asyncio.to_thread(down.start)
        for h, since in zip(three_hosts, marks):
            await h.await_log(BACK, since=since, timeout=15)
        await groups_placed(servers, {n: 3 for n in ROOMS})
        # (what was published meanwhile may follow once the shard is back)
        await exactly_once(members[down_n], members[down_n], "after shard 2 is back", maybe=("local only",))
        for ws in (ws for m in members.values() for ws in m):
            await ws.close()

    run(main(), timeout=90)
    for h in three_hosts:
        assert healthz(h.port)["layer"]["state"] == "ok"


def test_check_probes_every_shard(servers, tmp_path, plugin_dir):  # noqa: F811
    cfg = tmp_path / "shards.conf"
    cfg.write_text(config_text(["layer " + " ".join(s.url for s in servers)], plugin_dir=plugin_dir,
                               routes=ROUTES))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    for s in servers:
        assert f"redis at 127.0.0.1:{s.port} reachable, version 7." in r.stdout, r.stdout

    servers[1].kill()
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"redis at 127.0.0.1:{servers[0].port} reachable" in r.stderr, r.stderr
    assert f"redis at 127.0.0.1:{servers[1].port} unreachable" in r.stderr, r.stderr
