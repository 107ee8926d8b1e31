"""The Redis channel layer behind Redis Sentinel: a master, a replica and
one sentinel (quorum 1), all started by this module on free loopback ports
in a temporary directory.  Two chanhost processes find the master through
the sentinel (the first sentinel they are given is down, so they fall over
to the next), chat across hosts, the master is SIGKILLed (or demoted by
SENTINEL FAILOVER), the sentinel promotes the replica, and messages flow
between the hosts again.

Waiting is on events (log lines, received frames); where no event exists
(replication, the sentinel's view) a poll with a deadline is used.
"""

import asyncio

import pytest

from conftest import chat, config_text, healthz, run, run_chanhost, ws_connect
from test_redis import (  # noqa: F401  (plugin_dir is a fixture)
    BACK,
    CONNECTED,
    ROUTES,
    RedisError,
    RedisServer,
    expect,
    free_port,
    numsub,
    plugin_dir,
    room,
    wait_until,
)

MASTER = "chanmaster"


def info(server, section):
    """INFO section as a dict."""
    text = server.cmd("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def answers(fn):
    """fn() or None while the server does not answer (yet)."""
    try:
        return fn()
    except (OSError, RedisError):
        return None


def replica_ready(sentinel, replica):
    """The sentinel has the replica's own INFO: a healthy link to the
    master (what it needs to promote it)."""
    for r in sentinel.cmd("SENTINEL", "REPLICAS", MASTER):
        fields = dict(zip(r[::2], r[1::2]))
        if (fields[b"port"] == str(replica.port).encode() and fields[b"flags"] == b"slave"
                and fields[b"master-link-status"] == b"ok"):
            return True
    return False


@pytest.fixture
def sentinel_setup(tmp_path):
    """(master, replica, sentinel), replicating and watched; all killed at
    the end."""
    # their files (a replica's full sync writes one) in the test's directory
    master = RedisServer(extra=("--dir", str(tmp_path)))
    master.start()
    replica = RedisServer(extra=("--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(master.port)))
    started = [master]
    try:
        replica.start()
        started.append(replica)
        wait_until(lambda: info(replica, "replication").get("master_link_status") == "up",
                   "the replica in sync", timeout=20)
        conf = tmp_path / "sentinel.conf"
        conf.write_text(f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 1\n"
                        f"sentinel down-after-milliseconds {MASTER} 500\n"
                        f"sentinel failover-timeout {MASTER} 5000\n"
                        f"dir {tmp_path}\n")
        sentinel = RedisServer(conf=conf, extra=("--sentinel",))
        sentinel.start()
        started.append(sentinel)
        wait_until(lambda: replica_ready(sentinel, replica), "the sentinel knowing the replica",
                   timeout=30)
        yield master, replica, sentinel
    finally:
        for s in started:
            s.kill()


def master_port(sentinel):
    return int(sentinel.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)[1])


@pytest.mark.parametrize("how", ["kill", "command"])
def test_failover_and_messages_flow_again(make_host, plugin_dir, sentinel_setup, how):
    """how: the master is SIGKILLed, or a SENTINEL FAILOVER demotes it
    while it runs (the sentinel then closes its clients' connections, and
    the hosts must ask again rather than stay on a replica)."""
    master, replica, sentinel = sentinel_setup
    dead_sentinel = free_port()
    layer = f"layer redis-sentinel://127.0.0.1:{dead_sentinel},127.0.0.1:{sentinel.port}/{MASTER}/0"
    a, b = (make_host([layer], routes=ROUTES, plugin_dir=plugin_dir) for _ in range(2))
    for h in (a, b):
        h.wait_for(CONNECTED)
        h.wait_for(rf"sentinel at 127.0.0.1:{sentinel.port} names 127.0.0.1:{master.port} as master")

    async def main():
        a1, b1 = await ws_connect(room(a, 3)), await ws_connect(room(b, 3))
        await asyncio.to_thread(wait_until, lambda: numsub(master, "chanhost:g:room_3") == 2,
                                "both hosts subscribed on the master")
        await a1.send(chat("before"))
        for ws in (a1, b1):
            await expect(ws, "before")

        marks = (a.mark(), b.mark())
        if how == "kill":
            master.kill()
        else:
            assert sentinel.cmd("SENTINEL", "FAILOVER", MASTER) == "OK"
        await asyncio.to_thread(wait_until, lambda: answers(lambda: master_port(sentinel)) == replica.port,
                                "the sentinel promoting the replica", timeout=30)
        assert info(replica, "replication")["role"] == "master"
        for h, since in zip((a, b), marks):
            await h.await_log(rf"names 127.0.0.1:{replica.port} as master", since=since, timeout=20)
            await h.await_log(BACK, since=since, timeout=20)
        await asyncio.to_thread(wait_until, lambda: numsub(replica, "chanhost:g:room_3") == 2,
                                "both hosts subscribed on the new master")
        await b1.send(chat("after, from B"))
        for ws in (a1, b1):
            await expect(ws, "after, from B")
        await a1.send(chat("after, from A"))
        for ws in (a1, b1):
            await expect(ws, "after, from A")
        for ws in (a1, b1):
            await ws.close()

    run(main(), timeout=120)
    for h in (a, b):
        assert healthz(h.port)["layer"]["state"] == "ok"


def test_check_asks_the_sentinels(sentinel_setup, tmp_path, plugin_dir):  # noqa: F811
    master, _, sentinel = sentinel_setup
    cfg = tmp_path / "sentinel-check.conf"
    layer = f"layer redis-sentinel://127.0.0.1:{free_port()},127.0.0.1:{sentinel.port}/{MASTER}"
    cfg.write_text(config_text([layer], plugin_dir=plugin_dir, routes=ROUTES))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"redis at sentinel:{MASTER} (master 127.0.0.1:{master.port}) reachable, version 7."
            in r.stdout), r.stdout

    cfg.write_text(config_text([layer.replace(f"/{MASTER}", "/nosuchmaster")], plugin_dir=plugin_dir,
                               routes=ROUTES))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"sentinel at 127.0.0.1:{sentinel.port} does not know master nosuchmaster" in r.stderr, r.stderr
