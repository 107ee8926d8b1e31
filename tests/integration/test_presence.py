"""Presence (docs/presence.md): the host's service through the SDK
(tests/plugins/presence_probe.c) and through the chatroom plugin, with
real clients and real servers: the list and the batched diffs on one host,
several tabs of a user counting once, the endpoint with last-seen times,
two hosts on Redis, a host killed with SIGKILL leaving within the
documented bound, two hosts on the channels_redis layer, a Redis restart
of about a second without leave/join flaps, 2,000 clients joining one group at once, and two workers on the
memory layer.

Waits are on frames and log lines with deadlines; "no flap" is shown by
the next diff after the outage being exactly the join that followed it.
The only sleep is the Redis outage itself (its length is the scenario).
"""

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import time

import websockets

from apiclient import ApiError
from chatkit import (
    REDIS_CONNECTED,
    chat_host,
    connect,
    frame,
    pg_fixture,
    redis,  # noqa: F401 (a fixture)
    run_chat,
    two_hosts,
)
from conftest import TEST_PLUGIN_DIR, get_metrics, metric, raise_nofile, ws_connect

FAST = ["presence_interval 100ms", "presence_heartbeat 300ms"]
EXPIRY_S = 3.0  # presence_expiry of the multi-host tests
PROBE_ROUTE = ["/ws/p/<slug:group>/ presence_probe"]

pg = pg_fixture("chanhost_presence")


def forge(secret, uid, name):
    """An HS256 token of user uid / name, signed with secret (bytes)."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": str(uid), "username": name, "roles": ["user"],
                           "exp": int(time.time()) + 3600}).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


class Probe:
    """Hosts running presence_probe with one token secret (no store)."""

    def __init__(self, make_host, tmp_path, extra=()):
        self.make_host, self.extra = make_host, list(extra)
        self.secret_file = tmp_path / "auth.secret"
        self.hosts = []

    def host(self, extra=()):
        h = self.make_host(["store none", f"auth_secret_file {self.secret_file}", *FAST,
                            *self.extra, *extra], routes=PROBE_ROUTE, plugin_dir=TEST_PLUGIN_DIR)
        self.hosts.append(h)
        return h

    def url(self, h, uid, group="room1"):
        secret = self.secret_file.read_bytes().rstrip(b"\n ")
        return h.url(f"/ws/p/{group}/") + "?token=" + forge(secret, uid, f"user{uid}")


class View:
    """One client's idea of who is present: the presence frame, then the
    diffs applied; every diff kept in order."""

    def __init__(self, ws, first):
        assert first["type"] == "presence", first
        self.ws = ws
        self.ids = {u["user_id"] for u in first["users"]}
        self.diffs = []

    async def next_diff(self, timeout=10.0):
        """The next presence_diff (other frames fail the test), applied."""
        got = await frame(self.ws, "presence_diff", timeout)
        self.diffs.append(got)
        self.ids |= {u["user_id"] for u in got["joins"]}
        self.ids -= {u["user_id"] for u in got["leaves"]}
        for item in got["joins"] + got["leaves"]:
            assert set(item) == {"user_id", "username"}, item
        return got

    async def answer(self, request, type_, timeout=10.0):
        """Send request; the next frame of type_, the diffs before it
        applied."""
        await self.ws.send(request)
        while True:
            got = await frame(self.ws, None, timeout)
            if got["type"] == type_:
                return got
            assert got["type"] == "presence_diff", got
            self.diffs.append(got)
            self.ids |= {u["user_id"] for u in got["joins"]}
            self.ids -= {u["user_id"] for u in got["leaves"]}

    async def until(self, ids, timeout=10.0):
        """Read diffs until exactly ids are present."""
        deadline = time.monotonic() + timeout
        while self.ids != set(ids):
            left = deadline - time.monotonic()
            assert left > 0, f"present {sorted(self.ids)}, expected {sorted(ids)}"
            await self.next_diff(left)


async def join(url, **kw):
    ws = await connect(url, **kw)
    return View(ws, await frame(ws, "presence"))


def ids(users):
    return sorted(u["user_id"] for u in users)


# --------------------------------------------------------------------------
# one host


def test_list_diffs_and_tabs_on_one_host(make_host, tmp_path):
    p = Probe(make_host, tmp_path)
    h = p.host()

    async def main():
        a1 = await join(p.url(h, 1))
        await a1.until({1})
        b = await join(p.url(h, 2))
        assert b.ids == {1}  # the announced set; bob's own join follows
        await a1.until({1, 2})
        await b.until({1, 2})
        a2 = await join(p.url(h, 1))  # alice's second tab
        assert a2.ids == {1, 2}
        c = await join(p.url(h, 3))
        d = await b.next_diff()  # the second tab changed nothing: carol only
        assert ids(d["joins"]) == [3] and d["leaves"] == [], d
        await a1.ws.close()  # alice keeps a tab: no leave
        await c.ws.close()
        d = await b.next_diff()
        assert d["joins"] == [] and ids(d["leaves"]) == [3], d
        assert (await a2.answer("untrack", "untracked"))["rc"] == 0
        assert (await a2.answer("untrack", "untracked"))["rc"] == -71  # not tracked any more
        d = await b.next_diff()
        assert d == {"type": "presence_diff", "joins": [],
                     "leaves": [{"user_id": 1, "username": "user1"}]}, d
        assert ids((await b.answer("list", "list"))["users"]) == [2]
        # every diff a client read was a frame counted; one process: its
        # own announcements are sent but never applied as another's
        m = get_metrics(h.port)
        read = sum(len(v.diffs) for v in (a1, b, a2, c))
        assert metric(m, "chanhost_presence_diff_frames_total") >= read > 0, m
        assert metric(m, "chanhost_presence_announcements_total", direction="sent") >= 1
        assert metric(m, "chanhost_presence_announcements_total", direction="received") == 0

    run_chat(main)


def test_chatroom_presence_frames_and_endpoint(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ["/ws/chat-room/<int:room_id>/ chatroom"],
                  settings=["chatroom presence on"], extra=FAST)
    room = w.api.create_room(w.token("alice"), "general", "group", [w.uid("bob")])
    w.user("carol")
    path = f"/api/rooms/{room['id']}/presence/"

    async def main():
        ws_a = await connect(w.url(f"/ws/chat-room/{room['id']}/", "alice"))
        await frame(ws_a, "history")
        a = View(ws_a, await frame(ws_a, "presence"))
        ws_b = await connect(w.url(f"/ws/chat-room/{room['id']}/", "bob"))
        await frame(ws_b, "history")
        View(ws_b, await frame(ws_b, "presence"))
        await a.until({w.uid("alice"), w.uid("bob")})

        got = await asyncio.to_thread(w.api.call, "GET", path, token=w.token("alice"))
        assert ids(got["online"]) == sorted([w.uid("alice"), w.uid("bob")]), got
        by_id = {u["user_id"]: u for u in got["users"]}
        assert by_id[w.uid("bob")]["online"] is True and by_id[w.uid("bob")]["username"] == "bob"

        await ws_b.close()
        await a.until({w.uid("alice")})
        deadline = time.monotonic() + 10  # the store's write is asynchronous: poll it
        while True:
            got = await asyncio.to_thread(w.api.call, "GET", path, token=w.token("alice"))
            bob = {u["user_id"]: u for u in got["users"]}[w.uid("bob")]
            if bob["last_seen"] is not None:
                break
            assert time.monotonic() < deadline, got
            await asyncio.sleep(0.05)
        assert bob["online"] is False and abs(bob["last_seen"] / 1000 - time.time()) < 60, bob
        for token, status in ((w.token("carol"), 403), (None, 401)):
            try:
                await asyncio.to_thread(w.api.call, "GET", path, token=token)
                raise AssertionError("expected an error")
            except ApiError as e:
                assert e.status == status, e
        try:
            await asyncio.to_thread(w.api.call, "GET", "/api/rooms/999999/presence/",
                                    token=w.token("alice"))
            raise AssertionError("expected 404")
        except ApiError as e:
            assert e.status == 404, e

    run_chat(main)


def test_taskcomments_takes_the_same_setting(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ["/ws/task-comments/<int:task_id>/ taskcomments"],
                  settings=["taskcomments presence on"], extra=FAST)
    for name in ("alice", "bob"):
        assert w.api.add_task_member(7, w.uid(name)) is True

    async def main():
        views = []
        for name in ("alice", "bob"):
            ws = await connect(w.url("/ws/task-comments/7/", name))
            await frame(ws, "history")
            views.append(View(ws, await frame(ws, "presence")))
        for v in views:
            await v.until({w.uid("alice"), w.uid("bob")})

    run_chat(main)


# --------------------------------------------------------------------------
# several processes


def test_chatroom_presence_across_two_hosts_on_redis(make_host, tmp_path, redis, pg):
    w1, w2 = two_hosts(make_host, tmp_path, ["/ws/chat-room/<int:room_id>/ chatroom"],
                       redis, pg, extra=["plugin_setting chatroom presence on", *FAST])
    room = w1.api.create_room(w1.token("alice"), "general", "group", [w1.uid("bob")])
    w2.users, w2.tokens = w1.users, w1.tokens

    async def main():
        views = []
        for w, name in ((w1, "alice"), (w2, "bob")):
            ws = await connect(w.url(f"/ws/chat-room/{room['id']}/", name))
            await frame(ws, "history")
            views.append(View(ws, await frame(ws, "presence")))
        both = {w1.uid("alice"), w1.uid("bob")}
        for v in views:
            await v.until(both)

    run_chat(main)


def two_probe_hosts(make_host, tmp_path, redis, layer=None):
    """Two presence_probe hosts on the layer at redis (redis.url, or the
    layer url given), each connected before the next starts."""
    p = Probe(make_host, tmp_path, extra=[f"layer {layer or redis.url}",
                                          f"presence_expiry {int(EXPIRY_S * 1000)}ms"])
    h1 = p.host()
    h1.wait_for(REDIS_CONNECTED)
    h2 = p.host()
    h2.wait_for(REDIS_CONNECTED)
    return p, h1, h2


def test_two_hosts_on_channels_redis(make_host, tmp_path, redis):
    """docs/presence.md: presence spans every process the layer spans, the
    channels_redis layer too (its announcements go through the inboxes)."""
    p, h1, h2 = two_probe_hosts(make_host, tmp_path, redis,
                                layer=f"channels_redis://127.0.0.1:{redis.port}/0")

    async def main():
        a = await join(p.url(h1, 1))
        b = await join(p.url(h2, 2))
        await a.until({1, 2})
        await b.until({1, 2})
        assert ids((await a.answer("list", "list"))["users"]) == [1, 2]
        for h in (h1, h2):  # each applied the other's announcements
            m = get_metrics(h.port)
            assert metric(m, "chanhost_presence_announcements_total",
                          direction="received") >= 1, m
        await b.ws.close()  # h2's last user: its empty announcement
        d = await a.next_diff()
        assert d["joins"] == [] and ids(d["leaves"]) == [2], d

    run_chat(main)


def test_killed_host_users_leave_within_the_bound(make_host, tmp_path, redis):
    p, h1, h2 = two_probe_hosts(make_host, tmp_path, redis)

    async def main():
        a = await join(p.url(h1, 1))
        b = await join(p.url(h2, 2))
        b2 = await join(p.url(h2, 3))
        await a.until({1, 2, 3})
        await b.until({1, 2, 3})
        assert b2.ids <= {1, 2, 3}
        killed = time.monotonic()
        h2.kill()
        d = await a.next_diff(timeout=EXPIRY_S + 5)
        took = time.monotonic() - killed
        assert ids(d["leaves"]) == [2, 3] and d["joins"] == [], d
        # docs/presence.md: presence_expiry + presence_interval (+ scheduling)
        assert took <= EXPIRY_S + 0.1 + 1.0, took
        assert took >= EXPIRY_S - 0.5, took  # left by expiry, not by chance

    run_chat(main)


def test_redis_restart_of_a_second_causes_no_flap(make_host, tmp_path, redis):
    p, h1, h2 = two_probe_hosts(make_host, tmp_path, redis)

    async def main():
        a = await join(p.url(h1, 1))
        b = await join(p.url(h2, 2))
        await a.until({1, 2})
        await b.until({1, 2})
        before = [len(v.diffs) for v in (a, b)]
        marks = [h.mark() for h in (h1, h2)]
        redis.stop()
        for h, m in zip((h1, h2), marks):
            await h.await_log(r"channel layer: redis at \S+ .*degraded|redis at \S+ lost",
                              since=m)
        await asyncio.sleep(1.0)  # the outage: about a second
        marks = [h.mark() for h in (h1, h2)]
        redis.proc = subprocess.Popen(
            ["redis-server", "--port", str(redis.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert redis.wait_ready()
        for h, m in zip((h1, h2), marks):
            await h.await_log(r"channel layer: redis at \S+ back after", since=m, timeout=15)
        # the next change: its diff must be the first since the outage
        c = await join(p.url(h2, 3))
        for v in (a, b):
            d = await v.next_diff()
            assert ids(d["joins"]) == [3] and d["leaves"] == [], d
        await c.until({1, 2, 3})
        for v, n in zip((a, b), before):
            got = await v.answer("list", "list")
            assert ids(got["users"]) == [1, 2, 3], got
            assert len(v.diffs) == n + 1, v.diffs[n:]  # the join only: no flap

    run_chat(main)


def test_two_workers_on_the_memory_layer(make_host, tmp_path):
    p = Probe(make_host, tmp_path)
    h = p.host(extra=["workers 2"])

    async def main():
        views, uid = [], 0
        while True:  # clients until both workers serve one (the kernel chooses)
            uid += 1
            assert uid <= 40, "the kernel never used the second worker"
            mark = h.mark()
            views.append(await join(p.url(h, uid)))
            await h.await_log(r"\[worker \d\].*WebSocket CONNECT /ws/p/", since=mark)
            workers = {l.split("[worker ")[1][0]
                       for l in h.matching(r"\[worker \d\].*WebSocket CONNECT /ws/p/")}
            if len(workers) == 2:
                break
        everyone = set(range(1, uid + 1))
        for v in views:
            await v.until(everyone)
        await views[0].ws.close()
        for v in views[1:]:
            await v.until(everyone - {1})

    run_chat(main)


# --------------------------------------------------------------------------
# 2,000 clients


def test_2000_clients_joining_at_once_get_batched_diffs(make_host, tmp_path):
    raise_nofile(8192)
    n = 2000
    p = Probe(make_host, tmp_path, extra=["presence_interval 1s", "max_connections_per_ip 0",
                                          "handshake_rate_per_ip 0"])
    h = p.host()

    async def main():
        sem = asyncio.Semaphore(100)
        counts = [0] * n
        done = asyncio.Event()
        present = [0.0]

        async def client(i):
            async with sem:
                ws = await ws_connect(p.url(h, i + 1), compression=None, open_timeout=30,
                                      max_size=None)
            sockets.append(ws)
            first = json.loads(await ws.recv())
            view = {u["user_id"] for u in first["users"]}
            try:
                while True:
                    raw = await ws.recv()
                    if not raw.startswith('{"type":"presence_diff"'):
                        continue
                    counts[i] += 1
                    if i == 0:
                        d = json.loads(raw)
                        view |= {u["user_id"] for u in d["joins"]}
                        view -= {u["user_id"] for u in d["leaves"]}
                        if len(view) == n:
                            present[0] = time.monotonic()
                            done.set()
            except websockets.ConnectionClosed:
                pass

        sockets = []
        started = time.monotonic()
        tasks = [asyncio.create_task(client(i)) for i in range(n)]
        await asyncio.wait_for(done.wait(), 120)
        took = present[0] - started
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await asyncio.gather(*tasks)
        total = sum(counts)
        print(f"\n{n} clients: {total} presence_diff frames in all, at most {max(counts)} "
              f"per client, all present after {took:.1f} s")
        # one diff per group per interval: a client gets at most one per tick
        ticks = took / 1.0 + 2
        assert max(counts) <= ticks, (max(counts), ticks)
        assert total <= n * ticks

    run_chat(main)
