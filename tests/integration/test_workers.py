"""`workers N`: one chanhost command, a master and N worker processes
(app/master.c).  Group sends of the memory layer reach every member on
every worker exactly once and in order per sender, channel sends cross
workers, a worker killed with SIGKILL is replaced while the other
worker's clients keep chatting, SIGHUP reloads every worker, SIGTERM
stops every process, and the SQLite store keeps its guarantees under two
workers.

Which worker holds a connection is read from the kernel: the socket's
inode in /proc/net/tcp, found among a worker's file descriptors.  Waits
are on log lines and frames with deadlines.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from chatkit import (PgDatabase, RedisServer, chat_host, frame, open_ws, run_chat, send,
                     subscribed)
from conftest import (PLUGIN_DIR, TEST_PLUGIN_DIR, chat, get_metrics, healthz, metric, recv_json,
                      run, ws_connect)

ROUTES = ["/ws/broadcast/<int:room_id>/ broadcast", "/ws/direct/ directsend"]
READY = r"worker (\d+) \(pid (\d+)\) ready"


@pytest.fixture
def plugin_dir(tmp_path):
    """broadcast and directsend side by side."""
    d = tmp_path / "plugins"
    d.mkdir()
    for src in (Path(PLUGIN_DIR) / "broadcast.so", Path(TEST_PLUGIN_DIR) / "directsend.so"):
        shutil.copy(src, d / src.name)
    return str(d)


def start(make_host, plugin_dir, n=2):
    """A host with n workers; returns it and {worker number: pid}."""
    h = make_host([f"workers {n}"], routes=ROUTES, plugin_dir=plugin_dir)
    return h, worker_pids(h)


def worker_pids(h, since=0):
    """The pid of each worker's latest ready line after since."""
    pids = {}
    for line in h.matching(READY, since):
        m = re.search(READY, line)
        pids[int(m.group(1))] = int(m.group(2))
    return pids


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def server_inode(server_port, client_port):
    """The inode of the server side of the TCP connection from
    client_port to server_port (IPv4 loopback)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            local, remote = cols[1], cols[2]
            if (int(local.split(":")[1], 16) == server_port
                    and int(remote.split(":")[1], 16) == client_port):
                return cols[9]
    return None


def owner(h, ws, pids):
    """The number of the worker holding websocket client ws."""
    inode = server_inode(h.port, ws.transport.get_extra_info("sockname")[1])
    for n, pid in pids.items():
        if inode in socket_inodes(pid):
            return n
    raise AssertionError(f"no worker holds the connection (inode {inode})")


async def spread(h, pids, url, count):
    """Open count connections to url, more if one worker has none yet:
    (connections, the worker of each)."""
    conns, where = [], []
    while len(conns) < count or len(set(where)) < len(pids):
        assert len(conns) < 200, "the kernel never spread connections over the workers"
        ws = await ws_connect(url)
        conns.append(ws)
        where.append(owner(h, ws, pids))
    return conns, where


async def group_talk(h, pids, url, before_sending=None):
    """Members of one room on every worker; three senders (one on each
    worker and one more) send 25 messages each at once: every member gets
    each message once, in order per sender."""
    conns, where = await spread(h, pids, url, 12)
    if before_sending:
        await before_sending()
    senders = [conns[where.index(1)], conns[where.index(2)]]
    senders.append(next(c for c in conns if c not in senders))
    n = 25

    async def talk(s, ws):
        for k in range(n):
            await ws.send(chat(f"s{s}-{k}"))
        await ws.send(chat(f"done-{s}"))

    async def collect(ws):
        got, done = [], set()
        while len(done) < len(senders):
            m = (await recv_json(ws))["message"]
            if m.startswith("done-"):
                done.add(m)
            else:
                got.append(m)
        return got

    results = await asyncio.gather(*(talk(s, ws) for s, ws in enumerate(senders)),
                                   *(collect(ws) for ws in conns))
    for got in results[len(senders):]:
        assert len(got) == len(senders) * n
        for s in range(len(senders)):
            assert [m for m in got if m.startswith(f"s{s}-")] == [f"s{s}-{k}" for k in range(n)]
    for ws in conns:
        await ws.close()


def test_group_send_reaches_every_member_on_every_worker_once_in_order(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    assert sorted(pids) == [1, 2]
    run(group_talk(h, pids, h.url("/ws/broadcast/7/")))


def test_redis_layer_under_workers(make_host, plugin_dir):
    redis = RedisServer()
    try:
        h = make_host(["workers 2", f"layer {redis.url}"], routes=ROUTES, plugin_dir=plugin_dir)
        h.wait_for(r"\[worker 1\] channel layer: redis at \S+ connected")
        h.wait_for(r"\[worker 2\] channel layer: redis at \S+ connected")
        run(group_talk(h, worker_pids(h), h.url("/ws/broadcast/8/"),
                       lambda: subscribed(redis, "room_8", 2)))
        assert h.stop() == 0
    finally:
        redis.stop()


def test_channel_send_reaches_a_connection_on_another_worker(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)

    async def main():
        by_worker = {}
        conns = []
        while len(by_worker) < 2:
            assert len(conns) < 200
            ws = await ws_connect(h.url("/ws/direct/"))
            conns.append(ws)
            hello = await recv_json(ws)
            proc = hello["channel"].split("!")[0]
            by_worker.setdefault(proc, (ws, hello["channel"]))
        (a, name_a), (b, name_b) = by_worker.values()
        await a.send(json.dumps({"type": "direct", "to": name_b, "message": "to b"}))
        assert await recv_json(b) == {"type": "direct_message", "message": "to b"}
        await b.send(json.dumps({"type": "direct", "to": name_a, "message": "to a"}))
        assert await recv_json(a) == {"type": "direct_message", "message": "to a"}
        for ws in conns:
            await ws.close()

    run(main())


def test_sigkill_worker_is_replaced_and_the_other_keeps_chatting(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    url = h.url("/ws/broadcast/3/")

    async def main():
        conns, where = await spread(h, pids, url, 8)
        victim = where[0]
        alive = [ws for ws, w in zip(conns, where) if w != victim]
        dead = [ws for ws, w in zip(conns, where) if w == victim]
        mark = h.mark()
        os.kill(pids[victim], signal.SIGKILL)
        h.wait_for(rf"worker {victim} \(pid {pids[victim]}\) killed by signal 9", since=mark)
        for ws in dead:
            await asyncio.wait_for(ws.wait_closed(), 10)
        # the other worker's clients chat on while the master restarts it
        await alive[0].send(chat("still here"))
        for ws in alive:
            assert (await recv_json(ws))["message"] == "still here"
        await h.await_log(rf"worker {victim} \(pid \d+\) ready", since=mark)
        new_pids = {**pids, **worker_pids(h, mark)}
        assert new_pids[victim] != pids[victim]
        # the dead worker's clients reconnect; some land on its successor
        again, where2 = await spread(h, new_pids, url, len(dead))
        await again[where2.index(victim)].send(chat("back"))
        for ws in alive + again:
            assert (await recv_json(ws))["message"] == "back"
        for ws in alive + again:
            await ws.close()

    run(main())


def test_a_crash_loop_backs_off_and_recovers(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    text = h.config_path.read_text()
    h.config_path.write_text(text + "max_message_size 12q\n")  # a restart now fails
    mark = h.mark()
    os.kill(pids[2], signal.SIGKILL)
    h.wait_for(r"restarting worker 2 in 400 ms", since=mark)
    delays = [int(d) for d in re.findall(r"restarting worker 2 in (\d+) ms",
                                          "\n".join(h.matching("restarting worker 2", mark)))]
    assert delays[:3] == [100, 200, 400]
    assert len(h.matching(r"worker 2 \(pid \d+\) exited with status 1", mark)) >= 2
    h.config_path.write_text(text)
    h.wait_for(r"worker 2 \(pid \d+\) ready", since=mark)
    pids = {**pids, **worker_pids(h, mark)}
    run(group_talk(h, pids, h.url("/ws/broadcast/6/")))


def test_sighup_reloads_every_worker(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    mark = h.mark()
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"\[worker \d\] configuration reloaded \(SIGHUP\)", since=mark, count=2)
    done = h.matching(r"configuration reloaded \(SIGHUP\)", mark)
    assert sorted(re.search(r"\[worker (\d)\]", l).group(1) for l in done) == ["1", "2"]


def test_sighup_with_a_broken_config_keeps_every_worker_serving(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    text = h.config_path.read_text()
    h.config_path.write_text(text + "max_message_size 12q\n")
    mark = h.mark()
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"\[worker \d\] configuration reload refused", since=mark, count=2)
    refused = h.matching(r"configuration reload refused", mark)
    assert sorted(re.search(r"\[worker (\d)\]", l).group(1) for l in refused) == ["1", "2"]
    assert worker_pids(h, mark) == {}  # nobody restarted

    async def main():
        conns, where = await spread(h, pids, h.url("/ws/broadcast/5/"), 4)
        await conns[0].send(chat("serving"))
        for ws in conns:
            assert (await recv_json(ws))["message"] == "serving"
            await ws.close()

    run(main())


def test_healthz_and_metrics_name_the_worker_that_answers(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    seen = set()
    for _ in range(200):
        j = healthz(h.port)
        assert pids[j["worker"]] == j["pid"]
        seen.add(j["worker"])
        if seen == {1, 2}:
            break
    assert seen == {1, 2}
    samples = get_metrics(h.port)
    assert metric(samples, "chanhost_worker") in (1, 2)
    assert metric(samples, "chanhost_layer_relay_dropped_total") == 0

    async def main():
        conns, where = await spread(h, pids, h.url("/ws/broadcast/9/"), 6)
        # every worker sends its figures each second: a poll, no event exists
        deadline = time.monotonic() + 10
        while True:
            j = healthz(h.port)
            workers = {w["worker"]: w for w in j["workers"]}
            if j["all_connections"] == len(conns) and len(workers) == 2:
                break
            assert time.monotonic() < deadline, f"/healthz never counted every worker: {j}"
            await asyncio.sleep(0.1)
        assert {n: w["pid"] for n, w in workers.items()} == pids
        assert sorted(w["connections"] for w in workers.values()) == sorted(
            where.count(n) for n in (1, 2))
        for ws in conns:
            await ws.close()

    run(main())


def test_dev_mode_hot_reloads_a_rebuilt_plugin_in_every_worker(make_host, tmp_path):
    from test_reload import ask, build
    plugins = tmp_path / "hot"
    plugins.mkdir()
    build(plugins / "hot.so", "v1:")
    h = make_host(["workers 2"], routes=["/ws/hot/ hot"], plugin_dir=plugins, args=("--dev",))
    pids = worker_pids(h)
    mark = h.mark()
    build(plugins / "hot.so", "v2:")
    h.wait_for(r"\[worker \d\] plugin hot reloaded: generation 2", since=mark, count=2)
    done = h.matching(r"plugin hot reloaded: generation 2", mark)
    assert sorted(re.search(r"\[worker (\d)\]", l).group(1) for l in done) == ["1", "2"]

    async def main():
        conns, where = await spread(h, pids, h.url("/ws/hot/"), 2)
        for ws in conns:
            assert await ask(ws) == "v2:x"
            await ws.close()

    run(main())


def test_sigterm_stops_every_process(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    assert h.stop() == 0
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the master"
    assert len(h.matching(r"worker \d \(pid \d+\) stopped")) == 2


def test_master_killed_its_workers_stop(make_host, plugin_dir):
    h, pids = start(make_host, plugin_dir)
    mark = h.mark()
    h.kill()
    h.wait_for(r"\[worker \d\] stopped", since=mark, count=2)


CHAT_ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]


def store_talk(w):
    """Clients of one room on both workers of w's host each send 10
    messages at once: every client gets every message once, in order per
    sender, and the store holds each once with a unique id."""
    h = w.host
    pids = worker_pids(h)
    names = ["alice", "bob"]
    room = w.api.create_room(w.token("alice"), "general", "group", [w.uid("bob")])
    n = 10

    async def main():
        conns, where = [], []
        while len(conns) < 4 or len(set(where)) < 2:
            assert len(conns) < 20  # 200 messages at most: one page of the API
            ws, _ = await open_ws(w.url(f"/ws/chat-room/{room['id']}/", names[len(conns) % 2]))
            conns.append(ws)
            where.append(owner(h, ws, pids))

        async def talk(i, ws):
            for k in range(n):
                await send(ws, "chat_message", message=f"c{i}-{k}", client_msg_id=f"c{i}-{k}")

        async def collect(ws):
            got = []
            while len(got) < len(conns) * n:
                f = await frame(ws)
                if f["type"] == "chat_message":
                    got.append(f)
            return got

        results = await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(conns)),
                                       *(collect(ws) for ws in conns))
        seen = results[len(conns):]
        ids = {m["id"] for m in seen[0]}
        assert len(ids) == len(conns) * n
        for got in seen:
            assert {m["id"] for m in got} == ids
            for i in range(len(conns)):
                mine = [m["message"] for m in got if m["client_msg_id"].startswith(f"c{i}-")]
                assert mine == [f"c{i}-{k}" for k in range(n)]
        return ids

    ids = run_chat(main)
    stored = w.api.messages(w.token("bob"), room["id"], limit=200)
    assert sorted(m["id"] for m in stored) == sorted(ids)


def test_sqlite_store_under_two_workers_keeps_every_message_once(make_host, tmp_path):
    store_talk(chat_host(make_host, tmp_path, CHAT_ROUTES, extra=["workers 2"]))
    # the workers took turns to write (docs/workers.md): the turn's lock
    # file next to the database, private as the database is
    turn = tmp_path / "chat.db-turn"
    assert turn.exists() and turn.stat().st_mode & 0o777 == 0o600


def test_postgresql_store_under_two_workers_keeps_every_message_once(make_host, tmp_path):
    # no token secret configured: the master's run key serves both workers
    pg = PgDatabase("chanhost_workers")
    try:
        w = chat_host(make_host, tmp_path, CHAT_ROUTES,
                      extra=["workers 2", f"store {pg.url}", f"store_key_file {tmp_path}/store.key"])
        store_talk(w)
        assert w.host.stop() == 0
    finally:
        pg.drop()
