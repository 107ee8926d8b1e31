"""The store's durability contract through the real host, on SQLite and on
PostgreSQL: an acknowledged message survives kill -9 of the host; while
PostgreSQL restarts, clients' messages wait and are all stored exactly
once without restarting the host; the raw database holds no plaintext.

Messages go in through the storeprobe test plugin (tests/plugins/
storeprobe.c), which exposes api->store_call over a WebSocket and answers
each call once the store has (for writes: after the commit).
"""

import asyncio
import itertools
import json
import os
import subprocess
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import TEST_PLUGIN_DIR, run, ws_connect

PG_URL = os.environ.get("CHANHOST_TEST_PG_URL")
PG_CTL = os.environ.get("CHANHOST_TEST_PG_CTL")
MARKER = "plaintext-marker-7f3a9c"


def psql(url, sql):
    r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh store: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path}/store/chat.db"
        return
    assert PG_URL, "CHANHOST_TEST_PG_URL is not set (./scripts/test starts PostgreSQL and sets it)"
    db = f"chanhost_dur_{uuid.uuid4().hex[:12]}"
    psql(PG_URL, f"CREATE DATABASE {db}")
    parts = urllib.parse.urlsplit(PG_URL)
    yield urllib.parse.urlunsplit(parts._replace(path="/" + db))
    psql(PG_URL, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def probe_host(make_host, tmp_path, store, extra=()):
    return make_host(plugin_dir=TEST_PLUGIN_DIR, routes=["/ws/store/ storeprobe"],
                     extra=[f"store {store}", f"store_key_file {tmp_path}/keys",
                            f"auth_secret_file {tmp_path}/auth.secret", *extra])


class Probe:
    """One storeprobe connection: call(op, params) -> (status, result)."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        async for text in self.ws:
            reply = json.loads(text)
            self.waiting.pop(reply["id"]).set_result(reply)

    async def call(self, op, params, timeout=30):
        i = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[i] = fut
        await self.ws.send(json.dumps({"id": i, "op": op, "params": params}))
        reply = await asyncio.wait_for(fut, timeout)
        return reply["status"], reply.get("result")


async def room_of(p, key="durability:1"):
    status, result = await p.call("room.get_or_create", {"key": key, "kind": "test"})
    assert status == 0, result
    return result["room"]["id"]


async def append(p, room, text, cid, timeout=30):
    return await p.call("message.append", {"room_id": room, "sender_id": 1, "content": text,
                                           "client_msg_id": cid}, timeout=timeout)


async def history(p, room):
    status, result = await p.call("message.history", {"room_id": room, "limit": 500})
    assert status == 0, result
    return result["messages"]


def test_acked_messages_survive_kill_9(make_host, tmp_path, store_url):
    h = probe_host(make_host, tmp_path, store_url)
    acked = {}

    async def write():
        async with ws_connect(h.url("/ws/store/")) as ws:
            p = Probe(ws)
            room = await room_of(p)
            for i in range(100):
                status, result = await append(p, room, f"message {i} {MARKER}", f"c{i}")
                assert status == 0, result
                acked[result["id"]] = f"message {i} {MARKER}"
            return room

    room = run(write())
    h.kill()     # SIGKILL: no flush, no goodbye
    h2 = probe_host(make_host, tmp_path, store_url)

    async def read():
        async with ws_connect(h2.url("/ws/store/")) as ws:
            return await history(Probe(ws), room)

    stored = {m["id"]: m["content"] for m in run(read())}
    assert stored == acked
    if store_url.startswith("sqlite:"):
        raw = b"".join(f.read_bytes() for f in (tmp_path / "store").iterdir() if f.is_file())
        assert raw, "no database files"
        assert MARKER.encode() not in raw, "plaintext in the SQLite files"
    else:
        dump = psql(store_url, "SELECT string_agg(content || nonce, '') FROM messages")
        assert dump and MARKER not in dump


def test_group_committed_acks_survive_kill_9(make_host, tmp_path, store_url):
    """Appends in flight together (group commit: many in one transaction,
    with the chat plugins' "unread" counts) are each acknowledged only
    after their commit: every acknowledged one is there after kill -9
    right after the last acknowledgement, exactly once."""
    h = probe_host(make_host, tmp_path, store_url)
    acked = {}

    async def write():
        async with ws_connect(h.url("/ws/store/")) as ws:
            p = Probe(ws)
            room = await room_of(p, "durability:group")

            async def one(i):
                status, result = await p.call(
                    "message.append", {"room_id": room, "sender_id": 1 + i % 3, "unread": True,
                                       "content": f"group {i}", "client_msg_id": f"g{i}"})
                assert status == 0, result
                assert not result["duplicate"] and isinstance(result["unread"], dict), result
                acked[result["id"]] = f"group {i}"

            await asyncio.gather(*(one(i) for i in range(300)))
            return room

    room = run(write())
    h.kill()
    h2 = probe_host(make_host, tmp_path, store_url)

    async def read():
        async with ws_connect(h2.url("/ws/store/")) as ws:
            return await history(Probe(ws), room)

    stored = {m["id"]: m["content"] for m in run(read())}
    assert len(acked) == 300
    assert stored == acked


def healthz(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return json.loads(r.read())


def test_postgresql_restart_while_clients_send(make_host, tmp_path):
    assert PG_URL and PG_CTL, "CHANHOST_TEST_PG_URL / CHANHOST_TEST_PG_CTL are not set"
    db = f"chanhost_dur_{uuid.uuid4().hex[:12]}"
    psql(PG_URL, f"CREATE DATABASE {db}")
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(PG_URL)._replace(path="/" + db))
    try:
        h = probe_host(make_host, tmp_path, url)

        async def main():
            async with ws_connect(h.url("/ws/store/")) as ws1, ws_connect(h.url("/ws/store/")) as ws2:
                p1, p2 = Probe(ws1), Probe(ws2)
                room = await room_of(p1)

                async def sender(p, name):
                    results = []
                    for i in range(150):
                        results.append(await append(p, room, f"{name}{i}", f"{name}{i}", timeout=60))
                    return results

                tasks = [asyncio.ensure_future(sender(p1, "a")), asyncio.ensure_future(sender(p2, "b"))]
                # restart PostgreSQL once the senders are well under way
                while len(p1.waiting) + len(p2.waiting) == 0:
                    await asyncio.sleep(0)
                r = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: subprocess.run([PG_CTL, "restart"], capture_output=True, timeout=60))
                assert r.returncode == 0, r.stderr
                results = [x for t in tasks for x in await t]
                assert all(status == 0 for status, _ in results), results
                ids = [res["id"] for _, res in results]
                assert len(set(ids)) == 300
                return room

        run(main(), timeout=180)
        assert psql(url, "SELECT count(*), count(DISTINCT client_msg_id) FROM messages") == "300|300"
        store = healthz(h.port)["store"]
        assert store["state"] == "ok" and store["reconnects"] >= 1, store
    finally:
        psql(PG_URL, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def test_full_queue_is_refused_at_once_never_lost(make_host, tmp_path):
    """With the queue bound reached, a call is refused immediately (the
    chat plugins turn that into an error frame); every accepted call is
    stored."""
    h = probe_host(make_host, tmp_path, f"sqlite:{tmp_path}/q.db", extra=["store_queue_max 5"])

    async def main():
        async with ws_connect(h.url("/ws/store/")) as ws:
            p = Probe(ws)
            room = await room_of(p)
            calls = [append(p, room, f"m{i}", f"q{i}") for i in range(200)]
            results = await asyncio.gather(*calls)
            ok = [r for s, r in results if s == 0]
            busy = [s for s, _ in results if s != 0]
            assert set(busy) <= {-16}
            stored = await history(p, room)
            assert sorted(m["id"] for m in stored) == sorted(r["id"] for r in ok)

    run(main())
