"""Fault tests against the real servers: kill -9 of the host while group
commits are in flight (SQLite and PostgreSQL), SQLite on a full disk (a
small tmpfs), PostgreSQL and Redis restarted while chat clients keep
sending, and a reader that never reads in a 1,000-member room.

The invariant everywhere: a message the host acknowledged is in the store
exactly once, and the members who stay connected receive it.  The
single-client cases (kill -9 after the acks, PostgreSQL restart with two
store clients, Redis outage semantics) are in test_durability.py and
test_redis.py; these add concurrency and load.

Waits are on events (acks, frames, log lines) with deadlines; the only
polls are on Redis' view of subscriptions (chatkit.subscribed).
"""

import asyncio
import errno
import json
import os
import random
import socket
import subprocess
import time

import pytest

from apiclient import auth_config_lines
from chatkit import PgDatabase, World
from conftest import (OP_CLOSE, RawConn, chat, handshake_request, healthz, raise_nofile,
                      recv_json, run, ws_connect)
from test_broadcast import _parse_frames
from test_durability import Probe, append, probe_host, room_of, store_url  # noqa: F401 (fixture)
from test_redis import BACK, CONNECTED, DOWN, RedisServer, numsub, wait_until

PG_CTL = os.environ.get("CHANHOST_TEST_PG_CTL")
CHAT_ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]


def rss_kb(pid):
    """VmRSS of process pid in kB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


async def stored_messages(p, room):
    """Every message of room through storeprobe, paged with after_id."""
    out, after = [], 0
    while True:
        status, result = await p.call("message.history", {"room_id": room, "limit": 500,
                                                          "after_id": after})
        assert status == 0, result
        page = result["messages"]
        if not page:
            return out
        out += page
        after = max(m["id"] for m in page)


def assert_acked_stored_once(acked, stored):
    """acked: {id: content}; stored: [message].  Every acked message is
    stored with its content, and no content is stored twice."""
    by_id = {m["id"]: m["content"] for m in stored}
    missing = {i: c for i, c in acked.items() if by_id.get(i) != c}
    assert not missing, f"{len(missing)} acked message(s) lost, e.g. {list(missing.items())[:3]}"
    contents = [m["content"] for m in stored]
    dups = {c for c in contents if contents.count(c) > 1}
    assert not dups, f"stored more than once: {sorted(dups)[:5]}"


# --------------------------------------------------------------------------
# kill -9 during group commits


def test_kill_9_during_group_commit(make_host, tmp_path, store_url):  # noqa: F811
    seed = int(os.environ.get("CHANHOST_FAULT_SEED") or time.time_ns() % 1000003)
    rng = random.Random(seed)
    kill_after = rng.randint(20, 300)
    print(f"\nseed {seed}: kill -9 after {kill_after} acks")
    h = probe_host(make_host, tmp_path, store_url)
    clients, in_flight, per_client = 8, 8, 60
    acked = {}

    async def main():
        wss = [await ws_connect(h.url("/ws/store/")) for _ in range(clients)]
        probes = [Probe(ws) for ws in wss]
        room = await room_of(probes[0])
        enough = asyncio.Event()

        async def one(p, text):
            status, result = await append(p, room, text, text)
            assert status == 0, result
            acked[result["id"]] = text
            if len(acked) >= kill_after:
                enough.set()

        async def client(c, p):
            # several calls in flight per connection, so appends batch
            for start in range(0, per_client, in_flight):
                await asyncio.gather(*(one(p, f"k{c}-{i}") for i in range(start, start + in_flight)))

        senders = [asyncio.ensure_future(client(c, p)) for c, p in enumerate(probes)]
        done = asyncio.ensure_future(asyncio.gather(*senders))
        await asyncio.wait([done, asyncio.ensure_future(enough.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        assert enough.is_set(), done.result()
        h.kill()                        # SIGKILL with commits in flight
        for t in senders:
            t.cancel()
        await asyncio.gather(done, return_exceptions=True)
        for p in probes:
            p.reader.cancel()
        await asyncio.gather(*(p.reader for p in probes), return_exceptions=True)
        return room

    room = run(main(), timeout=120)
    assert len(acked) >= kill_after
    h2 = probe_host(make_host, tmp_path, store_url)

    async def read():
        async with ws_connect(h2.url("/ws/store/")) as ws:
            return await stored_messages(Probe(ws), room)

    stored = run(read())
    assert_acked_stored_once(acked, stored)
    print(f"{len(acked)} acked, {len(stored)} stored")


# --------------------------------------------------------------------------
# SQLite on a full disk


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB tmpfs mounted on tmp_path/disk (needs root: fails, never
    skips, without it); unmounted at teardown, after the hosts stopped
    (this fixture must come before make_host in the test's arguments)."""
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount an 8 MB tmpfs on {d} (the fault tests run as root): "
                    f"{r.stderr.strip()}")
    yield d
    if subprocess.run(["umount", str(d)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(path):
    """Write path until the file system is full."""
    chunk = os.urandom(64 * 1024)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
        # the last partial pages too
        for size in (4096, 512, 1):
            while True:
                try:
                    f.write(chunk[:size])
                except OSError:
                    break


def test_sqlite_on_a_full_disk(small_disk, make_host, tmp_path):
    store = f"sqlite:{small_disk}/chat.db"
    h = probe_host(make_host, tmp_path, store)
    acked, refused = {}, []
    text = "f" * 2000

    async def session(host, n_before, fill_disk):
        async with ws_connect(host.url("/ws/store/")) as ws:
            p = Probe(ws)
            room = await room_of(p)
            for i in range(n_before):
                status, result = await append(p, room, f"{i}:{text}", f"b{i}")
                assert status == 0, result
                acked[result["id"]] = f"{i}:{text}"
            if not fill_disk:
                return room
            await asyncio.to_thread(fill, small_disk / "filler")
            # appends until the store refuses (the free pages of the
            # database and its journal are used up first)
            for i in range(3000):
                status, result = await append(p, room, f"full{i}:{text}", f"full{i}")
                if status == 0:
                    acked[result["id"]] = f"full{i}:{text}"
                else:
                    refused.append(status)
                    if len(refused) >= 20:
                        break
            assert refused, "3000 appends of 2 kB were all acked on a full 8 MB disk"
            assert host.proc.poll() is None, "the host died on a full disk"
            assert (await asyncio.to_thread(healthz, host.port))["status"], "no /healthz"
            # space again: the same connection is served again
            os.unlink(small_disk / "filler")
            for i in range(20):
                status, result = await append(p, room, f"after{i}:{text}", f"after{i}")
                assert status == 0, f"append after the disk was freed: {status} {result}"
                acked[result["id"]] = f"after{i}:{text}"
            return room

    room = run(session(h, 20, True), timeout=120)
    print(f"\n{len(acked)} acked, {len(refused)} refused on the full disk (statuses "
          f"{sorted(set(refused))})")
    assert h.stop() == 0
    h2 = probe_host(make_host, tmp_path, store)

    async def read():
        async with ws_connect(h2.url("/ws/store/")) as ws:
            return await stored_messages(Probe(ws), room)

    assert_acked_stored_once(acked, run(read()))


# --------------------------------------------------------------------------
# chat clients under load


class Member:
    """One chatroom connection: chat_message frames collected in order,
    posts resolved by their ack or error frame (by client_msg_id)."""

    def __init__(self, ws):
        self.ws = ws
        self.got = []
        self.pending = {}
        self.watched = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for text in self.ws:
                f = json.loads(text)
                if f.get("type") == "chat_message":
                    self.got.append(f)
                    if f["message"] in self.watched:
                        self.watched.pop(f["message"]).set_result(f)
                elif f.get("type") in ("ack", "error") and f.get("client_msg_id") in self.pending:
                    self.pending.pop(f["client_msg_id"]).set_result(f)
        finally:
            for fut in [*self.pending.values(), *self.watched.values()]:
                if not fut.done():
                    fut.set_exception(AssertionError("the connection ended"))

    async def post(self, text, timeout=90):
        """Send text (its own client_msg_id); the ack or error frame."""
        fut = asyncio.get_running_loop().create_future()
        self.pending[text] = fut
        await self.ws.send(json.dumps({"type": "chat_message", "message": text,
                                       "client_msg_id": text}))
        return await asyncio.wait_for(fut, timeout)

    async def until(self, text, timeout=30):
        """Wait until text has been received (at once if it was)."""
        if any(m["message"] == text for m in self.got):
            return
        assert not self.reader.done(), f"connection ended: {self.reader}"
        fut = self.watched.setdefault(text, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{text!r} not received within {timeout}s") from None

    def ids(self):
        return [m["id"] for m in self.got]


async def join(world, room, name):
    ws = await ws_connect(world.url(f"/ws/chat-room/{room['id']}/", name))
    first = await recv_json(ws)
    assert first["type"] == "history", first
    return Member(ws)


async def keep_sending(member, prefix, n, acked, errors, started=None):
    """n posts in a row; acked {id: text}, errors [frame]."""
    for i in range(n):
        got = await member.post(f"{prefix}{i}")
        if got["type"] == "ack":
            acked[got["id"]] = f"{prefix}{i}"
        else:
            errors.append(got)
        if started is not None and len(acked) >= 30:
            started.set()


def chat_lines(tmp_path, pg, extra=()):
    return [l for l in auth_config_lines(tmp_path) if not l.startswith("store ")] + [
        f"store {pg.url}", f"store_key_file {tmp_path}/store.key",
        f"auth_secret_file {tmp_path}/auth.secret", "plugin_setting chatroom rate 0", *extra]


def stored_in_room(world, name, room):
    """Every message of room through the HTTP API, oldest first."""
    out, before = [], None
    while True:
        page = world.api.messages(world.token(name), room["id"], before=before, limit=100)
        if not page:
            return out
        out = page + out
        before = page[0]["id"]


@pytest.fixture
def pg():
    db = PgDatabase("chanhost_faults")
    yield db
    db.drop()


def test_postgresql_restart_under_chat_load(make_host, tmp_path, pg):
    assert PG_CTL, "CHANHOST_TEST_PG_CTL is not set (./scripts/test sets it)"
    w = World(make_host(chat_lines(tmp_path, pg), routes=CHAT_ROUTES))
    senders, readers = ["s0", "s1", "s2"], ["r0", "r1", "r2"]
    room = w.api.create_room(w.token("s0"), "load", "group", [w.uid(n) for n in senders + readers])
    acked, errors = {}, []

    async def main():
        members = {n: await join(w, room, n) for n in senders + readers}
        started = asyncio.Event()
        load = asyncio.ensure_future(asyncio.gather(
            *(keep_sending(members[n], f"{n}-", 120, acked, errors, started) for n in senders)))
        await asyncio.wait([load, asyncio.ensure_future(started.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        assert started.is_set(), load.result()
        r = await asyncio.to_thread(subprocess.run, [PG_CTL, "restart"], capture_output=True,
                                    timeout=90)
        assert r.returncode == 0, r.stderr
        assert not load.done(), "the senders were done before PostgreSQL was back: no load"
        await load
        last = await members["s0"].post("END")
        assert last["type"] == "ack", last
        for m in members.values():
            await m.until("END")
        for n, m in members.items():
            got = [i for i in m.ids() if i in acked]
            assert sorted(got) == sorted(acked), f"{n} got {len(got)} of {len(acked)} acked messages"
            assert len(m.ids()) == len(set(m.ids())), f"{n} got duplicates"
        for m in members.values():
            await m.ws.close()

    run(main(), timeout=240)
    print(f"\n{len(acked)} acked, {len(errors)} refused during the restart")
    assert len(acked) + len(errors) == 3 * 120
    stored = stored_in_room(w, "s0", room)
    assert_acked_stored_once(acked, [{"id": m["id"], "content": m["message"]} for m in stored])
    store = healthz(w.host.port)["store"]
    assert store["state"] == "ok" and store["reconnects"] >= 1, store


async def subscribed(redis, room):
    """Both hosts subscribed to the room's group (a poll: Redis offers no
    event for it)."""
    channel = f"chanhost:g:chat_{room['id']}"
    await asyncio.to_thread(wait_until, lambda: numsub(redis, channel) >= 2, f"2 subscribers of {channel}")


def test_redis_restart_under_chat_load(make_host, tmp_path, pg):
    redis = RedisServer()
    redis.start()
    try:
        lines = chat_lines(tmp_path, pg, [f"layer {redis.url}"])
        h1 = make_host(lines, routes=CHAT_ROUTES)
        h1.wait_for(CONNECTED)
        h2 = make_host(lines, routes=CHAT_ROUTES)
        h2.wait_for(CONNECTED)
        w1, w2 = World(h1), World(h2)
        names = ["s1", "r1", "s2", "r2"]
        room = w1.api.create_room(w1.token("s1"), "load", "group", [w1.uid(n) for n in names])
        w2.users, w2.tokens = w1.users, w1.tokens
        acked = {"s1": {}, "s2": {}}
        errors = []

        async def main():
            m = {n: await join(w1 if n.endswith("1") else w2, room, n) for n in names}
            await subscribed(redis, room)
            started = asyncio.Event()
            load = asyncio.ensure_future(asyncio.gather(
                *(keep_sending(m[s], f"{s}-", 300, acked[s], errors, started) for s in ("s1", "s2"))))
            await asyncio.wait([load, asyncio.ensure_future(started.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            assert started.is_set(), load.result()
            marks = (h1.mark(), h2.mark())
            redis.kill()
            await h1.await_log(DOWN, since=marks[0])
            await h2.await_log(DOWN, since=marks[1])
            assert not load.done(), "the senders were done before Redis was down: no load"
            during = len(acked["s1"]) + len(acked["s2"])
            marks = (h1.mark(), h2.mark())
            await asyncio.to_thread(redis.start)
            await h1.await_log(BACK, since=marks[0], timeout=15)
            await h2.await_log(BACK, since=marks[1], timeout=15)
            await load
            assert len(acked["s1"]) + len(acked["s2"]) > during, "nothing acked after the outage"
            await subscribed(redis, room)
            # new messages flow across the hosts again
            for s, far in (("s1", "r2"), ("s2", "r1")):
                got = await m[s].post(f"END-{s}")
                assert got["type"] == "ack", got
                await m[far].until(f"END-{s}")
            for n in names:
                await m[n].until("END-s1")
                await m[n].until("END-s2")
            # the members on a sender's host got every acked message; no
            # member got one twice
            for s, local in (("s1", "r1"), ("s2", "r2")):
                got = set(m[local].ids())
                lost = [i for i in acked[s] if i not in got]
                assert not lost, f"{local} missed {len(lost)} of {s}'s acked messages"
            for n in names:
                assert len(m[n].ids()) == len(set(m[n].ids())), f"{n} got duplicates"
            for x in m.values():
                await x.ws.close()

        run(main(), timeout=240)
        assert not errors, errors[:3]
        everything = {**acked["s1"], **acked["s2"]}
        stored = stored_in_room(w1, "s1", room)
        assert_acked_stored_once(everything, [{"id": x["id"], "content": x["message"]} for x in stored])
    finally:
        redis.kill()


# --------------------------------------------------------------------------
# a reader that never reads, in a 1,000-member room


def open_slow_member(port, path):
    """A WebSocket member with a tiny receive buffer and a small MSS (so
    the kernel holds little for it) that never reads after the 101."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    conn = RawConn(s)
    conn.send(handshake_request(f"127.0.0.1:{port}", path))
    resp = conn.read_response()
    assert resp.status == 101, resp
    return conn


def test_slow_reader_in_a_thousand_member_room(make_host, monkeypatch):
    raise_nofile(8192)
    # under ASan, a small quarantine so that freed output buffers are
    # reused (the default 256 MB quarantine would hide the bound)
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "quarantine_size_mb=4")
    h = make_host(["max_outbound_bytes 64kb"])
    path = "/ws/broadcast/9/"
    n_readers, rounds, size = 999, 48, 16000

    async def main():
        sem = asyncio.Semaphore(64)

        async def connect():
            async with sem:
                return await ws_connect(h.url(path), compression=None, open_timeout=30)

        readers = await asyncio.gather(*[connect() for _ in range(n_readers)])
        slow = await asyncio.to_thread(open_slow_member, h.port, path)
        slow_port = slow.sock.getsockname()[1]
        await h.await_log(rf"WebSocket CONNECT {path} ", count=n_readers + 1)
        base = rss_kb(h.proc.pid)
        peak = base
        # lock-step rounds: a reader never has more than one message queued
        for r in range(rounds):
            text = f"{r}:" + "x" * size
            await readers[r % n_readers].send(chat(text))
            got = await asyncio.gather(*(recv_json(ws, timeout=30) for ws in readers))
            bad = [i for i, g in enumerate(got) if g != {"type": "chat_message", "message": text}]
            assert not bad, f"round {r}: {len(bad)} readers got something else, e.g. {str(got[bad[0]])[:80]}"
            peak = max(peak, rss_kb(h.proc.pid))
        await h.await_log(rf"WebSocket DISCONNECT {path} \[127\.0\.0\.1:{slow_port}\]", timeout=20)
        data, _ = await asyncio.to_thread(slow.read_until_eof, time.monotonic() + 20)
        slow.close()
        assert len(data) < rounds * size, "the slow reader got everything: it was never cut off"
        closes = [f.close_code for f in _parse_frames(data) if f.opcode == OP_CLOSE]
        assert closes in ([], [1013]), f"unexpected close frame(s) for the slow reader: {closes}"
        print(f"\nslow reader cut off after {len(data)} bytes; host RSS {base} kB with "
              f"1000 members, peak {peak} kB")
        assert peak - base < 64 * 1024, f"host RSS grew from {base} kB to {peak} kB"
        # the readers are still all there
        await readers[0].send(chat("after"))
        for ws in readers:
            assert await recv_json(ws) == {"type": "chat_message", "message": "after"}
        await asyncio.gather(*[ws.close() for ws in readers])

    run(main(), timeout=180)
    assert h.proc.poll() is None
