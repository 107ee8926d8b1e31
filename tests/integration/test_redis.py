"""The Redis channel layer across processes, against a real redis-server
started by this module on a free loopback port: group_send and direct sends
between two chanhost processes, an outage (redis-server SIGKILLed and
started again on the same port) with no duplicates and a bounded buffer, a
host started before Redis, --check, /metrics and /healthz.

Waiting is on events (log lines, received frames); where no event exists
(Redis-side subscriptions, /healthz state) a poll with a deadline is used.
"""

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    PLUGIN_DIR,
    TEST_PLUGIN_DIR,
    chat,
    config_text,
    get_metrics,
    healthz,
    metric,
    recv_json,
    run,
    run_chanhost,
    ws_connect,
)

ROUTES = ["/ws/broadcast/<int:room_id>/ broadcast", "/ws/direct/ directsend"]
CONNECTED = r"channel layer: redis at \S+ connected"
BACK = r"channel layer: redis at \S+ back after"
DOWN = r"WARNING channel layer: redis at \S+ unreachable .*degraded"


# --------------------------------------------------------------------------
# redis-server and a minimal RESP client


class RedisError(Exception):
    pass


class Resp:
    """Just enough of the Redis protocol for assertions."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")

    def cmd(self, *args):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        n = int(rest)
        return None if n < 0 else [self._read() for _ in range(n)]

    def close(self):
        self.f.close()
        self.sock.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server on a fixed loopback port, killable and restartable.
    conf: a config file to start from (a sentinel's, which must be
    writable); extra: more command-line options (--replicaof, --sentinel)."""

    def __init__(self, conf=None, extra=()):
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.args = ([str(conf)] if conf else []) + list(extra)

    def start(self):
        self.proc = subprocess.Popen(["redis-server", *self.args, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
            try:
                c = Resp(self.port)
                c.cmd("PING")
                c.close()
                return
            except (OSError, RedisError):
                time.sleep(0.02)
        raise AssertionError("redis-server did not answer within 10 s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def cmd(self, *args):
        c = Resp(self.port)
        try:
            return c.cmd(*args)
        finally:
            c.close()


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis(redis_server):
    """The module's redis-server, running and empty."""
    if not redis_server.running():
        redis_server.start()
    redis_server.cmd("FLUSHALL")
    return redis_server


def wait_until(fn, what, timeout=10.0):
    """Poll fn (no event exists for it) until truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def numsub(redis, channel):
    return redis.cmd("PUBSUB", "NUMSUB", channel)[1]


# --------------------------------------------------------------------------
# hosts


@pytest.fixture
def plugin_dir(tmp_path):
    """broadcast and directsend side by side (one plugin_dir per config)."""
    d = tmp_path / "plugins"
    d.mkdir()
    for src in (Path(PLUGIN_DIR) / "broadcast.so", Path(TEST_PLUGIN_DIR) / "directsend.so"):
        if not src.exists():
            pytest.fail(f"{src} is missing: build the tree first")
        shutil.copy(src, d / src.name)
    return str(d)


@pytest.fixture
def redis_host(make_host, plugin_dir, redis_server):
    """Factory: a chanhost on the module's Redis; wait_up waits for its
    'connected' line."""

    def factory(wait_up=True, extra=()):
        h = make_host([f"layer {redis_server.url}", *extra], routes=ROUTES, plugin_dir=plugin_dir)
        if wait_up:
            h.wait_for(CONNECTED)
        return h

    return factory


def room(h, n):
    return h.url(f"/ws/broadcast/{n}/")


async def expect(ws, message, timeout=10.0):
    got = await recv_json(ws, timeout)
    assert got == {"type": "chat_message", "message": message}, got


async def drain_until(ws, marker, timeout=20.0):
    """Messages received before the chat message `marker` (which is consumed)."""
    seen = []
    while True:
        got = await recv_json(ws, timeout)
        if got.get("message") == marker:
            return seen
        seen.append(got.get("message"))


async def members_ready(redis, group, processes, members):
    """Both Redis views of a group: subscribed processes and members."""
    await asyncio.to_thread(wait_until, lambda: numsub(redis, f"chanhost:g:{group}") == processes,
                            f"{processes} subscriber(s) of {group}")
    await asyncio.to_thread(wait_until, lambda: redis.cmd("ZCARD", f"chanhost:m:{group}") == members,
                            f"{members} member(s) of {group}")


# --------------------------------------------------------------------------
# across processes


def test_group_send_reaches_every_member_in_both_processes(redis, redis_host):
    a, b = redis_host(), redis_host()

    async def main():
        a1, a2 = await ws_connect(room(a, 1)), await ws_connect(room(a, 1))
        b1, b2 = await ws_connect(room(b, 1)), await ws_connect(room(b, 1))
        other = await ws_connect(room(b, 2))
        everyone = (a1, a2, b1, b2)
        await members_ready(redis, "room_1", 2, 4)
        await a1.send(chat("from A"))
        for ws in everyone:
            await expect(ws, "from A")
        await b2.send(chat("from B ✓"))
        for ws in everyone:
            await expect(ws, "from B ✓")
        await a2.send(chat("END"))
        for ws in everyone:
            assert await drain_until(ws, "END") == [], "a duplicate arrived before END"
        await other.send(chat("room 2 only"))
        await expect(other, "room 2 only")        # nothing of room 1 queued before it
        for ws in (*everyone, other):
            await ws.close()

    run(main())
    ma, mb = get_metrics(a.port), get_metrics(b.port)
    assert metric(ma, "chanhost_redis_published_total") >= 2, ma
    assert metric(ma, "chanhost_redis_received_total") >= 1, ma
    assert metric(ma, "chanhost_redis_delivered_total") >= 2, ma       # "from B" to a1, a2
    assert metric(mb, "chanhost_redis_delivered_total") >= 2, mb       # "from A" to b1, b2
    assert metric(ma, "chanhost_redis_latency_ms") is not None, ma
    assert metric(ma, "chanhost_redis_dropped_total") == 0, ma
    body = healthz(a.port)
    assert body["layer"]["backend"] == "redis" and body["layer"]["state"] == "ok", body


def test_direct_sends_across_processes(redis, redis_host):
    a, b = redis_host(), redis_host()

    async def main():
        x, x2 = await ws_connect(a.url("/ws/direct/")), await ws_connect(a.url("/ws/direct/"))
        y = await ws_connect(b.url("/ws/direct/"))
        names = {}
        for ws in (x, x2, y):
            hello = await recv_json(ws)
            assert hello["type"] == "hello", hello
            names[ws] = hello["channel"]
        assert names[x].split("!")[0] == names[x2].split("!")[0] != names[y].split("!")[0]
        await asyncio.to_thread(wait_until, lambda: len(redis.cmd("PUBSUB", "CHANNELS", "chanhost:p:*")) == 2,
                                "both process channels subscribed")

        async def direct(src, dst, message):
            await src.send(json.dumps({"type": "direct", "to": names[dst], "message": message}))
            assert await recv_json(dst) == {"type": "direct_message", "message": message}

        await direct(x, y, "A to B")
        await direct(y, x, "B to A")
        await direct(y, x2, "B to A again")
        await direct(x, x2, "A to A")
        await direct(x, x, "to myself")
        for ws in (x, x2, y):
            await ws.close()

    run(main())
    assert metric(get_metrics(b.port), "chanhost_redis_delivered_total") == 1


def test_redis_killed_and_restarted_mid_run(redis, redis_host):
    a, b = redis_host(), redis_host()
    n_during = 1500

    async def main():
        a1, a2, b1 = await ws_connect(room(a, 5)), await ws_connect(room(a, 5)), await ws_connect(room(b, 5))
        await members_ready(redis, "room_5", 2, 3)
        await a1.send(chat("before"))
        for ws in (a1, a2, b1):
            await expect(ws, "before")

        marks = (a.mark(), b.mark())
        redis.kill()
        await a.await_log(DOWN, since=marks[0])
        await b.await_log(DOWN, since=marks[1])
        for h in (a, b):
            state = (await asyncio.to_thread(healthz, h.port))["layer"]["state"]
            assert state.startswith("degraded: redis at 127.0.0.1:"), state

        # local delivery goes on; remote publishes are buffered, then dropped
        for i in range(n_during):
            await a1.send(chat(f"during-{i}"))
        for ws in (a1, a2):
            for i in range(n_during):
                await expect(ws, f"during-{i}")
        samples = await asyncio.to_thread(get_metrics, a.port)
        buffered = int(metric(samples, "chanhost_redis_buffered"))
        assert buffered == 1000, samples
        assert metric(samples, "chanhost_redis_dropped_total") == n_during - buffered
        assert 0 < metric(samples, "chanhost_redis_buffered_bytes") <= 1024 * 1024

        marks = (a.mark(), b.mark())
        t0 = time.monotonic()
        await asyncio.to_thread(redis.start)
        await a.await_log(BACK, since=marks[0], timeout=15)
        await b.await_log(BACK, since=marks[1], timeout=15)
        print(f"\nboth hosts back {time.monotonic() - t0:.2f} s after redis-server restarted")
        await members_ready(redis, "room_5", 2, 3)

        # "after" from A follows A's buffered messages on the same path
        await a1.send(chat("after"))
        got = {}
        for name, ws in (("a1", a1), ("a2", a2), ("b1", b1)):
            got[name] = await drain_until(ws, "after")
        # A's members never see their own buffered messages again
        assert got["a1"] == [] and got["a2"] == [], got
        # B may miss part of the flush (it resubscribes on its own schedule)
        # but gets each buffered message at most once, in order
        during = got["b1"]
        assert all(m.startswith("during-") for m in during), during[:5]
        assert len(during) == len(set(during)), "duplicates on B"
        assert during == sorted(during, key=lambda m: int(m.split("-")[1]))
        assert all(int(m.split("-")[1]) < buffered for m in during), during[-3:]
        print(f"B received {len(during)} of the {buffered} buffered messages")
        # and nothing else is on its way: END (from B, through Redis to A)
        # is next everywhere
        await b1.send(chat("END"))
        for ws in (a1, a2, b1):
            assert await drain_until(ws, "END") == []
        for ws in (a1, a2, b1):
            await ws.close()

    run(main(), timeout=120)
    for h in (a, b):
        samples = get_metrics(h.port)
        assert metric(samples, "chanhost_redis_reconnects_total") >= 2, samples
        assert metric(samples, "chanhost_redis_down_seconds_total") > 0, samples
        assert metric(samples, "chanhost_redis_buffered") == 0, samples
        assert healthz(h.port)["layer"]["state"] == "ok"


def test_host_started_before_redis_joins_when_it_comes_up(redis, redis_host):
    redis.kill()
    a = redis_host(wait_up=False)
    a.wait_for(DOWN)
    assert healthz(a.port)["layer"]["state"].startswith("degraded: redis at "), healthz(a.port)

    async def main():
        a1, a2 = await ws_connect(room(a, 7)), await ws_connect(room(a, 7))
        await a1.send(chat("alone"))
        for ws in (a1, a2):
            await expect(ws, "alone")
        since = a.mark()
        await asyncio.to_thread(redis.start)
        await a.await_log(CONNECTED, since=since, timeout=15)
        b = await asyncio.to_thread(redis_host)
        b1 = await ws_connect(room(b, 7))
        await members_ready(redis, "room_7", 2, 3)
        await b1.send(chat("hello from B"))
        for ws in (a1, a2, b1):
            await expect(ws, "hello from B")
        await a2.send(chat("hello from A"))
        for ws in (a1, a2, b1):
            await expect(ws, "hello from A")
        for ws in (a1, a2, b1):
            await ws.close()

    run(main())
    assert len(a.matching(DOWN)) == 1, "the outage at start must be reported once"
    assert healthz(a.port)["layer"]["state"] == "ok"


def test_cross_process_fan_out_rate(redis, redis_host):
    """Throughput figure: one sender on A, members on B."""
    a, b = redis_host(), redis_host()
    n_members, n_messages = 20, 1000

    async def main():
        sender = await ws_connect(room(a, 9), compression=None)
        members = [await ws_connect(room(b, 9), compression=None) for _ in range(n_members)]
        await members_ready(redis, "room_9", 2, n_members + 1)

        async def reader(ws):
            for i in range(n_messages):
                await expect(ws, f"m{i}", timeout=30)

        readers = [asyncio.create_task(reader(ws)) for ws in members]
        t0 = time.monotonic()
        for i in range(n_messages):
            await sender.send(chat(f"m{i}"))
        await asyncio.gather(*readers)
        elapsed = time.monotonic() - t0
        print(f"\ncross-process fan-out: {n_messages} messages to {n_members} members on the other "
              f"host in {elapsed:.2f} s = {n_messages / elapsed:.0f} msg/s, "
              f"{n_messages * n_members / elapsed:.0f} deliveries/s")
        for ws in (sender, *members):
            await ws.close()

    run(main(), timeout=90)


# --------------------------------------------------------------------------
# --check


def test_check_reports_redis_reachability_and_version(redis, tmp_path, plugin_dir):
    cfg = tmp_path / "redis.conf"
    cfg.write_text(config_text([f"layer {redis.url}"], plugin_dir=plugin_dir, routes=ROUTES))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"redis at 127.0.0.1:{redis.port} reachable, version 7." in r.stdout, r.stdout

    redis.kill()
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode != 0, r.stdout + r.stderr
    assert f"redis at 127.0.0.1:{redis.port} unreachable" in r.stderr, r.stderr

    cfg.write_text(config_text(["layer redis://127.0.0.1:99999/0"], plugin_dir=plugin_dir, routes=ROUTES))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode != 0
    assert "port '99999' is not a number in 1..65535" in r.stderr, r.stderr
