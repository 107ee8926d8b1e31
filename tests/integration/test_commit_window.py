"""The store's commit window (`store_commit_delay`, host/store/store_queue.c)
through the real host, on SQLite and on PostgreSQL.

The window here is an hour, so that only events end it: a batch that waits
is committed when it holds `store_batch_max` calls or when the host shuts
down, never by the clock.  A lone call on an idle store is not held at all
(had it been, its answer would not come within the test's timeout).
Windows are armed once calls overlap: two calls sent in one TCP write (the
second arrives while the first is queued or in its transaction).  The
transactions are counted by /metrics (chanhost_store_transactions_total);
calls go in through the storeprobe test plugin, which answers each call
after its commit.
"""

import asyncio
import json
import signal

from conftest import OP_PING, OP_TEXT, build_frame, get_metrics, metric, open_raw_ws, run, ws_connect
from test_durability import Probe, append, history, probe_host, room_of, store_url  # noqa: F401

BATCH = 4
# the sweep of unattached uploads is a store call of its own at start-up:
# off, so that the store is idle when the test's first call arrives
WINDOW = ("store_commit_delay 1h", f"store_batch_max {BATCH}", "attachment_sweep_interval 0")


def store_metric(h, name):
    value = metric(get_metrics(h.port), name)
    assert value is not None, f"{name} missing from /metrics"
    return int(value)


async def queued(h, n):
    """Wait until n calls are queued or in flight (the window holds them)."""
    for _ in range(2000):
        if store_metric(h, "chanhost_store_queue_depth") == n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"the store never held {n} calls")


def append_frame(i, room, text):
    return build_frame(OP_TEXT, json.dumps({"id": i, "op": "message.append", "params": {
        "room_id": room, "sender_id": 1, "content": text, "client_msg_id": text}}).encode())


def raw_reply(raw):
    """The next answer on a raw storeprobe connection (pings skipped)."""
    while True:
        f = raw.read_frame(timeout=30)
        assert f.opcode in (OP_TEXT, OP_PING), f
        if f.opcode == OP_TEXT:
            return json.loads(f.payload)


def arm(h, room):
    """Two appends in one write: the second arrives while the first is
    queued or in its transaction, which arms the windows; neither waits
    (the second joins the first's batch or is batched by its transaction
    alone), so both are answered."""
    raw = open_raw_ws(h.port, "/ws/store/")
    try:
        raw.send(append_frame(1, room, "pair 0") + append_frame(2, room, "pair 1"))
        replies = [raw_reply(raw), raw_reply(raw)]
        assert all(r["status"] == 0 for r in replies), replies
    finally:
        raw.sock.close()


async def hold(h, probes, room, tag):
    """Send one append from each probe, each only once the ones before it
    are held in the window; returns the futures of their answers."""
    calls = []
    for i, p in enumerate(probes):
        calls.append(asyncio.ensure_future(append(p, room, f"{tag} {i}", f"{tag}{i}")))
        await queued(h, i + 1)
    return calls


def test_lone_call_runs_at_once_and_a_window_is_one_transaction(make_host, tmp_path, store_url):
    h = probe_host(make_host, tmp_path, store_url, extra=WINDOW)
    before = store_metric(h, "chanhost_store_transactions_total")

    async def main():
        conns = [ws_connect(h.url("/ws/store/")) for _ in range(BATCH)]
        wss = [await c.__aenter__() for c in conns]
        try:
            probes = [Probe(ws) for ws in wss]
            # the idle store's first call: answered without waiting for company
            room = await room_of(probes[0], "window:1")
            assert store_metric(h, "chanhost_store_transactions_total") == before + 1
            assert store_metric(h, "chanhost_store_transactions_total") == before + 1
            arm(h, room)
            # then calls from several clients, each held until the batch is full
            armed = store_metric(h, "chanhost_store_transactions_total")
            calls = await hold(h, probes[:BATCH - 1], room, "held")
            assert store_metric(h, "chanhost_store_transactions_total") == armed
            assert not any(c.done() for c in calls)
            calls.append(asyncio.ensure_future(append(probes[BATCH - 1], room, "last", "last")))
            results = await asyncio.gather(*calls)
            assert all(status == 0 for status, _ in results), results
            assert store_metric(h, "chanhost_store_transactions_total") == armed + 1
            stored = sorted(m["content"] for m in await history(probes[0], room))
            assert stored == sorted(["pair 0", "pair 1", "last"] +
                                    [f"held {i}" for i in range(BATCH - 1)])
        finally:
            for c in conns:
                await c.__aexit__(None, None, None)

    run(main())


def stage(h, name, le=None):
    """A store stage's sample count (le: the calls at most le seconds)."""
    samples = get_metrics(h.port)
    if le is None:
        value = metric(samples, "chanhost_store_stage_seconds_count", stage=name)
    else:
        value = metric(samples, "chanhost_store_stage_seconds_bucket", stage=name, le=le)
    assert value is not None, f"no {name} stage in /metrics"
    return int(value)


def test_stages_show_the_wait_in_the_window(make_host, tmp_path, store_url):
    """chanhost_store_stage_seconds (host/store/store_stages.c) counts each
    committed call once per stage, and a call held in the window shows
    the hold in its queue stage (over 0.25 s here), not in its
    transaction."""
    h = probe_host(make_host, tmp_path, store_url, extra=WINDOW)

    async def main():
        conns = [ws_connect(h.url("/ws/store/")) for _ in range(BATCH)]
        wss = [await c.__aenter__() for c in conns]
        try:
            probes = [Probe(ws) for ws in wss]
            room = await room_of(probes[0], "stages:1")
            arm(h, room)
            before = {s: stage(h, s) for s in ("queue", "transaction", "handoff", "callback")}
            quick_queue, quick_txn = stage(h, "queue", "0.25"), stage(h, "transaction", "0.25")
            calls = await hold(h, probes[:BATCH - 1], room, "staged")
            await asyncio.sleep(0.3)  # the hold to be seen, not an event awaited
            calls.append(asyncio.ensure_future(append(probes[BATCH - 1], room, "end", "end")))
            results = await asyncio.gather(*calls)
            assert all(status == 0 for status, _ in results), results
            for s, n in before.items():
                assert stage(h, s) == n + BATCH, s
            # the held calls waited 0.3 s at least in the queue; none of the
            # batch's transaction took that long
            assert stage(h, "queue", "0.25") - quick_queue <= 1
            assert stage(h, "transaction", "0.25") - quick_txn == BATCH
        finally:
            for c in conns:
                await c.__aexit__(None, None, None)

    run(main())


def test_sigterm_commits_the_calls_in_the_window(make_host, tmp_path, store_url):
    """The host closes its connections (1001) first and the store after
    them: the calls still in the window are committed then (the window
    cut short by the close, an hour early), and the host exits 0."""
    h = probe_host(make_host, tmp_path, store_url, extra=WINDOW)

    async def main():
        async with ws_connect(h.url("/ws/store/")) as ws1, ws_connect(h.url("/ws/store/")) as ws2:
            p1, p2 = Probe(ws1), Probe(ws2)
            room = await room_of(p1, "window:2")
            arm(h, room)
            calls = await hold(h, [p1, p2], room, "in the window")
            h.send_signal(signal.SIGTERM)
            for ws in (ws1, ws2):
                await asyncio.wait_for(ws.wait_closed(), 30)
                assert ws.close_code == 1001
            for c in calls:  # no answer can follow the close frame
                c.cancel()
            return room

    room = run(main())
    assert h.wait_exit() == 0
    h2 = probe_host(make_host, tmp_path, store_url)

    async def read():
        async with ws_connect(h2.url("/ws/store/")) as ws:
            return await history(Probe(ws), room)

    stored = sorted(m["content"] for m in run(read()))
    assert stored == ["in the window 0", "in the window 1", "pair 0", "pair 1"]
