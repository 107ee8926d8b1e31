"""Helpers shared by the chat plugins' integration tests (test_chatroom.py,
test_taskcomments.py): a world of users with tokens on one host, JSON
frames awaited with deadlines, refusals read from the close frame, and the
real servers of the multi-process test (a private redis-server, a fresh
PostgreSQL database, and the fixtures `redis` and `pg_fixture` around them),
a group room and its WebSocket URL.

Every wait is on an event (a frame, a close, a log line) with a deadline;
the only polls are on Redis' own view of subscriptions, where no event
exists.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import websockets

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from conftest import recv_json, run, ws_connect

TIMEOUT = 10.0


# --------------------------------------------------------------------------
# users, tokens, hosts


class World:
    """One host with the HTTP API: users by name, their tokens, URLs."""

    def __init__(self, host):
        self.host = host
        self.api = Api(host.port, service_token=SERVICE_TOKEN)
        self.users = {}
        self.tokens = {}

    def user(self, name, role="user"):
        """Create user `name` (once); returns its JSON."""
        if name not in self.users:
            self.users[name] = self.api.create_user(name, role=role)
            self.tokens[name] = self.api.token_for(self.users[name]["id"])
        return self.users[name]

    def uid(self, name):
        return self.user(name)["id"]

    def token(self, name):
        self.user(name)
        return self.tokens[name]

    def url(self, path, name=None, query=""):
        """ws:// URL of path, with ?token= of user `name` (None: none)."""
        parts = [f"token={self.token(name)}"] if name else []
        if query:
            parts.append(query)
        return self.host.url(path) + ("?" + "&".join(parts) if parts else "")


def chat_host(make_host, tmp_path, routes, settings=(), extra=()):
    """A host with a fresh SQLite store, the service token and routes;
    settings are plugin_setting lines' arguments."""
    lines = auth_config_lines(tmp_path) + [f"plugin_setting {s}" for s in settings] + list(extra)
    return World(make_host(lines, routes=routes))


REDIS_CONNECTED = r"channel layer: redis at \S+ connected"
PG_LISTENING = r"postgresql: listening on channel chanhost_membership"


def two_hosts(make_host, tmp_path, routes, redis, pg, extra=()):
    """Two hosts sharing the Redis layer redis (None: each has its own
    memory layer) and the PostgreSQL store pg (one token secret and one
    key file), with the config lines extra too: their Worlds (w1, w2),
    each host connected to Redis and listening to the store's
    notifications before the next starts."""
    lines = [l for l in auth_config_lines(tmp_path) if not l.startswith("store ")] + [
        f"layer {redis.url if redis else 'memory'}", f"store {pg.url}",
        f"auth_secret_file {tmp_path}/auth.secret", f"store_key_file {tmp_path}/store.key",
        *extra]
    worlds = []
    for _ in range(2):
        h = make_host(lines, routes=routes)
        if redis:
            h.wait_for(REDIS_CONNECTED)
        h.wait_for(PG_LISTENING)
        worlds.append(World(h))
    return worlds[0], worlds[1]


# --------------------------------------------------------------------------
# frames


async def frame(ws, type_=None, timeout=TIMEOUT):
    """The next JSON frame; with type_, it must be of that type."""
    got = await recv_json(ws, timeout)
    if type_ is not None:
        assert got.get("type") == type_, f"expected a {type_!r} frame, got {got!r}"
    return got


def unstreamed(f):
    """A copy of frame f without its stream fields, which must be there
    (docs/api.md, "Resuming"): "pos" (a position, 0 or more) and, on a
    history frame, "epoch" (the store's)."""
    f = dict(f)
    pos = f.pop("pos")
    assert isinstance(pos, int) and pos >= 0, f
    if f.get("type") == "history":
        epoch = f.pop("epoch")
        assert isinstance(epoch, str) and epoch, f
    return f


async def send(ws, type_, **fields):
    await ws.send(json.dumps({"type": type_, **fields}))


async def nothing_pending(ws):
    """Ping: the very next frame must be the pong (nothing was queued
    before it on this connection)."""
    await send(ws, "ping")
    got = await frame(ws)
    assert got == {"type": "pong"}, f"expected only a pong, got {got!r}"


_clients = []


async def connect(url, **kw):
    """A client connection, closed by run_chat at the end of the test."""
    ws = await ws_connect(url, **kw)
    _clients.append(ws)
    return ws


async def open_ws(url, first="history", **kw):
    """Connect and read the first frame (the history by default):
    returns (ws, first frame)."""
    ws = await connect(url, **kw)
    return ws, await frame(ws, first)


def run_chat(main):
    """Run the coroutine function main, then close every connection it
    opened (a clean close each, rather than cancelled at loop exit)."""

    async def wrapper():
        try:
            return await main()
        finally:
            clients = list(_clients)
            _clients.clear()
            await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)

    return run(wrapper())


async def refused(url, **kw):
    """Connect to url, which must answer 101 and then close: (code, reason)."""
    async with ws_connect(url, **kw) as ws:
        try:
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else ""
    raise AssertionError(f"{url}: expected a close, got a frame {got!r}")


async def closed_with(ws, timeout=TIMEOUT):
    """Read until the server closes ws; returns (code, frames read)."""
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except websockets.ConnectionClosed as e:
        return (e.rcvd.code if e.rcvd else None), frames


async def post(ws, text, cmid=None, type_="chat_message", **fields):
    """Send a message (with client_msg_id cmid) and await its ack: the id."""
    body = {"message": text, **fields}
    if cmid is not None:
        body["client_msg_id"] = cmid
    await send(ws, type_, **body)
    if cmid is None:
        return None
    ack = await frame(ws, "ack")
    assert ack["client_msg_id"] == cmid, ack
    return ack["id"]


async def say(ws, text, cmid, type_="chat_message", out_type=None):
    """post() from a member of the room, then read its own copy: the id."""
    msg_id = await post(ws, text, cmid, type_)
    echo = await frame(ws, out_type or type_)
    assert echo["id"] == msg_id and echo["message"] == text, echo
    return msg_id


async def messages(ws, n, type_="chat_message"):
    """The next n frames, all of type_."""
    return [await frame(ws, type_) for _ in range(n)]


# --------------------------------------------------------------------------
# the real servers of the multi-process test


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cmd(port, *args):
    """One Redis command over RESP; returns the raw reply line(s) as text."""
    payload = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(str(a).encode()), str(a).encode()) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        return s.recv(65536).decode("utf-8", "replace")


class RedisServer:
    """A private redis-server on a free port, no persistence.  A port
    taken by another process meanwhile makes it try another one."""

    def __init__(self):
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        for _ in range(5):
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self.wait_ready():
                return
        raise AssertionError("redis-server did not start on any of 5 free ports")

    def wait_ready(self, timeout=10.0):
        """True once it answers PING; False if it exited (port taken)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if "PONG" in redis_cmd(self.port, "PING"):
                    return True
            except OSError:
                time.sleep(0.02)
        raise AssertionError("redis-server did not answer within 10 s")

    def subscribers(self, group):
        """PUBSUB NUMSUB of the layer's channel for group."""
        reply = redis_cmd(self.port, "PUBSUB", "NUMSUB", f"chanhost:g:{group}")
        return int(reply.strip().split("\r\n")[-1].lstrip(":"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


async def subscribed(redis, group, processes, timeout=TIMEOUT):
    """Wait until `processes` hosts subscribe to group on Redis (a poll:
    Redis offers no event for it)."""
    deadline = time.monotonic() + timeout
    while redis.subscribers(group) < processes:
        assert time.monotonic() < deadline, f"{processes} subscriber(s) of {group} never came"
        await asyncio.sleep(0.02)


class PgDatabase:
    """A fresh database on the server of CHANHOST_TEST_PG_URL, dropped by
    drop(); absent variable: the test fails (it never skips)."""

    def __init__(self, prefix):
        base = os.environ.get("CHANHOST_TEST_PG_URL")
        if not base:
            pytest.fail("CHANHOST_TEST_PG_URL is not set (./scripts/test starts PostgreSQL "
                        "and sets it)")
        self.base = base
        self.name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
        head, _, query = base.partition("?")
        self.url = head.rsplit("/", 1)[0] + "/" + self.name + ("?" + query if query else "")
        self.psql(f"CREATE DATABASE {self.name}")

    def psql(self, sql, url=None):
        """Run sql through psql on url (default: the server's base database)."""
        r = subprocess.run(["psql", url or self.base, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"psql {sql!r}: {r.stderr}"

    def drop(self):
        self.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


@pytest.fixture
def redis():
    """A fixture: a private redis-server (RedisServer) for one test, stopped
    after it.  A test module takes it with `from chatkit import redis`."""
    server = RedisServer()
    yield server
    server.stop()


def pg_fixture(prefix):
    """A fixture `pg` for a test module (`pg = pg_fixture("chanhost_x")`):
    a fresh PostgreSQL database (PgDatabase) named after prefix for each
    test, dropped after it."""

    @pytest.fixture
    def pg():
        db = PgDatabase(prefix)
        yield db
        db.drop()

    return pg


def group_room(w, owner, members, name="general"):
    """A group room created through w's API by owner with members (user
    names of World w): the API's room object."""
    return w.api.create_room(w.token(owner), name, "group", [w.uid(m) for m in members])


def room_url(w, room, name, query="", route="/ws/chat-room/{}/"):
    """The WebSocket URL of room (the API's object) on w's host for user
    name, with query."""
    return w.url(route.format(room["id"]), name, query)
