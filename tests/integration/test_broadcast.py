"""The broadcast plugin and the channel layer behind it: rooms, isolation,
error replies, a slow consumer that never reads, and a 1000-member room."""

import asyncio
import json
import time

import struct

from conftest import (
    OP_CLOSE,
    Frame,
    chat,
    get_metrics,
    healthz,
    metric,
    open_raw_ws,
    raise_nofile,
    recv_json,
    run,
    ws_connect,
)


def room(host, n):
    return host.url(f"/ws/broadcast/{n}/")


def test_room_members_all_receive_including_sender(host):
    async def main():
        a = await ws_connect(room(host, 1))
        b = await ws_connect(room(host, 1))
        c = await ws_connect(room(host, 1))
        await a.send(chat("hello room"))
        for ws in (a, b, c):
            assert await recv_json(ws) == {"type": "chat_message", "message": "hello room"}
        await b.send(chat("from b ✓"))
        for ws in (a, b, c):
            assert await recv_json(ws) == {"type": "chat_message", "message": "from b ✓"}
        for ws in (a, b, c):
            await ws.close()

    run(main())


def test_rooms_are_isolated(host):
    async def main():
        a = await ws_connect(room(host, 1))
        b = await ws_connect(room(host, 1))
        c = await ws_connect(room(host, 2))
        await a.send(chat("M1 for room 1"))
        assert (await recv_json(a))["message"] == "M1 for room 1"
        assert (await recv_json(b))["message"] == "M1 for room 1"
        # M1 was fanned out before a got its copy: had c been a member, M1
        # would be queued ahead of M2 on c's connection.
        await c.send(chat("M2 for room 2"))
        assert (await recv_json(c))["message"] == "M2 for room 2"
        await a.send(chat("M3 for room 1"))
        assert (await recv_json(a))["message"] == "M3 for room 1"
        assert (await recv_json(b))["message"] == "M3 for room 1"
        for ws in (a, b, c):
            await ws.close()

    run(main())


def test_bad_json_and_wrong_type_get_error_and_stay_open(host):
    async def main():
        a = await ws_connect(room(host, 5))
        b = await ws_connect(room(host, 5))
        for bad in ["this is not json", "{\"type\": \"chat_message\"", json.dumps({"type": "other", "message": "x"}),
                    json.dumps(["chat_message", "x"]),
                    '{"type": "chat_message", "message": "x", "message": "y"}']:
            await a.send(bad)
            reply = await recv_json(a)
            assert reply.get("type") == "error", (bad, reply)
            assert isinstance(reply.get("message"), str) and reply["message"], (bad, reply)
        # still open, and the room never saw the errors
        await a.send(chat("after errors"))
        assert await recv_json(a) == {"type": "chat_message", "message": "after errors"}
        assert await recv_json(b) == {"type": "chat_message", "message": "after errors"}
        await a.close()
        await b.close()

    run(main())


def test_member_leaving_does_not_disturb_the_room(host):
    async def main():
        since = host.mark()
        a = await ws_connect(room(host, 9))
        b = await ws_connect(room(host, 9))
        c = await ws_connect(room(host, 9))
        await c.close()
        await host.await_log(r"WebSocket DISCONNECT /ws/broadcast/9/", since=since)
        await a.send(chat("after c left"))
        assert (await recv_json(a))["message"] == "after c left"
        assert (await recv_json(b))["message"] == "after c left"
        await a.close()
        await b.close()

    run(main())


# --------------------------------------------------------------------------
# slow consumer


def _parse_frames(data):
    """Complete server frames in data (a cut-off last frame is dropped)."""
    frames = []
    pos = 0
    while pos + 2 <= len(data):
        b0, b1 = data[pos], data[pos + 1]
        n = b1 & 0x7F
        p = pos + 2
        if n == 126:
            if p + 2 > len(data):
                break
            n = struct.unpack("!H", data[p:p + 2])[0]
            p += 2
        elif n == 127:
            if p + 8 > len(data):
                break
            n = struct.unpack("!Q", data[p:p + 8])[0]
            p += 8
        if p + n > len(data):
            break
        frames.append(Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, False, data[p:p + n]))
        pos = p + n
    return frames


def test_slow_consumer_is_closed_and_others_keep_working(make_host):
    h = make_host(["max_outbound_bytes 64kb"])
    # a member with a tiny receive window that never reads
    slow = open_raw_ws(h.port, "/ws/broadcast/77/", rcvbuf=4096)
    slow_port = slow.sock.getsockname()[1]
    n_messages, size = 300, 30000          # ~9 MB: more than any kernel buffering

    async def main():
        a = await ws_connect(room(h, 77), compression=None)
        b = await ws_connect(room(h, 77), compression=None)
        # lock-step, so that a and b never have more than one message queued
        for i in range(n_messages):
            text = f"{i}:" + "x" * size
            await a.send(chat(text))
            for ws in (a, b):
                got = await recv_json(ws, timeout=20)
                assert got == {"type": "chat_message", "message": text}, str(got)[:80]

        # the slow member has been dropped: draining its socket reaches EOF
        try:
            data, how = await asyncio.to_thread(slow.read_until_eof, time.monotonic() + 20)
        except TimeoutError:
            raise AssertionError("the slow consumer is still connected after ~9 MB were broadcast "
                                 "with max_outbound_bytes 64kb") from None
        assert len(data) < n_messages * size, "the slow consumer got everything: it was never cut off"
        closes = [f.close_code for f in _parse_frames(data) if f.opcode == OP_CLOSE]
        assert closes in ([], [1013]), f"unexpected close frame(s) for a slow consumer: {closes}"
        await h.await_log(rf"WebSocket DISCONNECT /ws/broadcast/77/ \[127\.0\.0\.1:{slow_port}\]")

        samples = await asyncio.to_thread(get_metrics, h.port)
        assert metric(samples, "chanhost_slow_consumer_closes_total") >= 1, samples

        # the fast members, on their original connections, keep working
        await a.send(chat("after the drop"))
        for ws in (a, b):
            assert await recv_json(ws) == {"type": "chat_message", "message": "after the drop"}
        assert a.open and b.open
        await a.close()
        await b.close()

    try:
        run(main(), timeout=150)
    finally:
        slow.close()


# --------------------------------------------------------------------------
# a 1000-member room


def test_thousand_member_room(make_host):
    raise_nofile(8192)
    h = make_host()
    n_clients, senders, per_sender = 1000, 5, 2
    expected = sorted(f"sender{s}-msg{m}" for s in range(senders) for m in range(per_sender))

    async def main():
        url = room(h, 1)
        sem = asyncio.Semaphore(64)

        async def connect():
            async with sem:
                return await ws_connect(url, compression=None, open_timeout=30)

        clients = await asyncio.gather(*[connect() for _ in range(n_clients)])
        await h.await_log(r"WebSocket CONNECT /ws/broadcast/1/ ", count=n_clients)
        body = await asyncio.to_thread(healthz, h.port)
        assert body["connections"] == n_clients, body

        received = [[] for _ in clients]
        all_in = [asyncio.Event() for _ in clients]

        async def reader(i, ws):
            while True:
                msg = await recv_json(ws, timeout=45)
                assert msg["type"] == "chat_message", msg
                if msg["message"] == "END":
                    return
                received[i].append(msg["message"])
                if len(received[i]) == len(expected):
                    all_in[i].set()

        readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(clients)]

        async def sender(s):
            for m in range(per_sender):
                await clients[s].send(chat(f"sender{s}-msg{m}"))

        await asyncio.gather(*[sender(s) for s in range(senders)])

        # wait until every client holds ten messages (or a reader fails)
        barrier = asyncio.ensure_future(asyncio.gather(*[e.wait() for e in all_in]))
        await asyncio.wait([barrier, *readers], return_when=asyncio.FIRST_COMPLETED, timeout=45)
        for r in readers:
            if r.done():
                r.result()                  # raises the reader's failure
                raise AssertionError("a reader ended before END was sent")
        missing = [i for i, e in enumerate(all_in) if not e.is_set()]
        assert not missing, (f"{len(missing)} clients did not get all {len(expected)} messages; "
                             f"e.g. client {missing[0]} got {received[missing[0]]}")

        # END goes out after everyone holds all ten: a duplicate of any of
        # them would have been queued ahead of it.
        await clients[0].send(chat("END"))
        await asyncio.gather(*readers)
        bad = [(i, r) for i, r in enumerate(received) if sorted(r) != expected]
        assert not bad, f"{len(bad)} clients got a wrong list, e.g. client {bad[0][0]}: {bad[0][1]}"

        await asyncio.gather(*[ws.close() for ws in clients])

    t0 = time.monotonic()
    run(main(), timeout=90)
    elapsed = time.monotonic() - t0
    assert elapsed < 60, f"1000-member room took {elapsed:.1f}s"
