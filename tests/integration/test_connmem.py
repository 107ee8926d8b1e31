"""Per-connection protocol state only while a frame is in flight: ws.c
makes a connection's wslay context when bytes arrive and frees it once no
frame is partly read, no fragmented message is open and nothing waits to
be sent.  The gauge chanhost_websocket_parsers counts the contexts alive.

Ordering the tests rely on: bytes a raw client sent before it opens the
connection that asks /metrics are read by the host no later than the loop
turn that accepts that connection, and an echo is written only after the
read that produced it (and the release that follows it) finished."""

import time

from conftest import (
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    build_frame,
    close_payload,
    get_metrics,
    healthz,
    metric,
    open_raw_ws,
    raise_nofile,
)


def parsers(port):
    """The host's live wslay contexts."""
    value = metric(get_metrics(port), "chanhost_websocket_parsers")
    assert value is not None, "/metrics has no chanhost_websocket_parsers"
    return int(value)


def send_in_pieces(conn, data, sizes, pause=0.03):
    """Send data in pieces of the given sizes (the rest last), pausing
    between them so that each arrives in a read of its own."""
    pos = 0
    for n in sizes:
        conn.send(data[pos:pos + n])
        pos += n
        time.sleep(pause)  # the point of the test: separate reads, not an event
    conn.send(data[pos:])


def heap_in_use(port):
    """What malloc has handed out in the host, in bytes."""
    value = metric(get_metrics(port), "chanhost_heap_in_use_bytes")
    assert value is not None, "/metrics has no chanhost_heap_in_use_bytes"
    return int(value)


def test_heap_gauge_counts_the_connections_held(host):
    # each WebSocket connection holds at least its TCP connection's
    # struct and its WebSocket state (over 600 bytes between them)
    before = heap_in_use(host.port)
    assert before > 0
    conns = [open_raw_ws(host.port) for _ in range(100)]
    try:
        for conn in conns:  # an echo each: every upgrade is complete
            conn.send_frame(OP_TEXT, b"x")
            assert conn.read_data_frame().payload == b"x"
        assert heap_in_use(host.port) - before >= 100 * 600
    finally:
        for conn in conns:
            conn.close()


def test_idle_connection_holds_no_parser_and_a_message_releases_it(host):
    with open_raw_ws(host.port) as conn:
        assert parsers(host.port) == 0, "an accepted idle connection keeps a wslay context"
        conn.send_frame(OP_TEXT, b"hello")
        f = conn.read_data_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"hello")
        assert parsers(host.port) == 0, "the context stayed after a whole message"


def test_frame_split_across_many_reads_after_idle_periods(host):
    payload = ("split " * 50).encode()  # 300 bytes: a 16-bit length
    frame = build_frame(OP_TEXT, payload)
    with open_raw_ws(host.port) as conn:
        # the header byte by byte (2 + 2 length + 4 mask), then the payload
        send_in_pieces(conn, frame[:200], [1, 1, 1, 1, 1, 1, 1, 1, 50, 100])
        assert parsers(host.port) == 1, "a partly read frame must keep its context"
        conn.send(frame[200:])
        f = conn.read_data_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, payload)
        assert parsers(host.port) == 0
        # the next frame after the release parses from a fresh context,
        # here with a 64-bit length split inside the length itself
        big = bytes(range(256)) * 300  # 76,800 bytes
        frame = build_frame(OP_TEXT, big.hex().encode()[:70000], length=None)
        send_in_pieces(conn, frame, [1, 3, 4, 3, 1000])
        f = conn.read_data_frame()
        assert f.payload == big.hex().encode()[:70000]
        assert parsers(host.port) == 0


def test_fragmented_message_with_ping_between_after_release(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"first")
        assert conn.read_data_frame().payload == b"first"
        assert parsers(host.port) == 0
        conn.send_frame(OP_TEXT, b"Hel", fin=False)
        conn.send_frame(OP_PING, b"between")
        f = conn.read_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"between"), f
        assert parsers(host.port) == 1, "an open fragmented message must keep its context"
        conn.send_frame(OP_CONT, b"lo, wor", fin=False)
        conn.send_frame(OP_CONT, b"ld", fin=True)
        f = conn.read_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, b"Hello, world"), f
        assert parsers(host.port) == 0
        # a continuation after the release is still one without a start
        conn.send_frame(OP_CONT, b"orphan", fin=True)
        conn.expect_close(1002)


def test_utf8_checked_across_fragments_after_release(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"warm")
        assert conn.read_data_frame().payload == b"warm"
        conn.send_frame(OP_TEXT, b"caf\xc3", fin=False)  # an incomplete sequence
        conn.send_frame(OP_PING, b"p")
        assert conn.read_frame().opcode == OP_PONG
        conn.send_frame(OP_CONT, b"\x28", fin=True)  # not a continuation byte
        conn.expect_close(1007)
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"caf\xc3", fin=False)
        conn.send_frame(OP_CONT, b"\xa9", fin=True)
        assert conn.read_data_frame().payload == "café".encode()


def test_client_drop_during_partial_frame_frees_the_parser(host):
    conn = open_raw_ws(host.port)
    conn.send(build_frame(OP_TEXT, b"x" * 1000)[:500])
    assert parsers(host.port) == 1
    conn.close()
    assert parsers(host.port) == 0
    assert healthz(host.port)["connections"] == 0


def test_server_close_during_partial_frame(make_host):
    h = make_host(["idle_timeout 1s"])
    with open_raw_ws(h.port) as conn:
        conn.send(build_frame(OP_TEXT, b"y" * 1000)[:10])
        assert parsers(h.port) == 1
        f = conn.read_frame(timeout=5.0)  # the idle timeout's close
        assert (f.opcode, f.close_code) == (OP_CLOSE, 1001), f
        # the rest of the frame, then the close reply: the frame is
        # dropped (close sent) and the handshake completes
        conn.send(build_frame(OP_TEXT, b"y" * 1000)[10:])
        conn.send_frame(OP_CLOSE, close_payload(1001))
        conn.expect_eof()
    assert parsers(h.port) == 0


def test_many_idle_connections_then_traffic(make_host):
    n = 300
    raise_nofile(4 * n)
    h = make_host(["ping_interval 1s", "ping_timeout 2s"])
    conns = [open_raw_ws(h.port) for _ in range(n)]
    try:
        assert parsers(h.port) == 0
        assert healthz(h.port)["connections"] == n
        for i, c in enumerate(conns):
            c.send_frame(OP_TEXT, f"message {i}".encode())
        for i, c in enumerate(conns):
            assert c.read_data_frame().payload == f"message {i}".encode()
        assert parsers(h.port) == 0
        # every connection gets its own server ping from the shared
        # deadline heap (ping_interval 1s) and stays open answering it
        t0 = time.monotonic()
        for c in conns:
            f = c.read_frame(deadline=t0 + 5.0)
            assert f.opcode == OP_PING, f
            c.send_frame(OP_PONG, f.payload)
        for i, c in enumerate(conns):
            c.send_frame(OP_TEXT, f"again {i}".encode())
        for i, c in enumerate(conns):
            assert c.read_data_frame().payload == f"again {i}".encode()
        assert healthz(h.port)["connections"] == n
        assert parsers(h.port) == 0
    finally:
        for c in conns:
            c.close()


def test_connections_not_answering_pings_are_dropped_together(make_host):
    n = 100
    raise_nofile(4 * n)
    h = make_host(["ping_interval 1s", "ping_timeout 1s"])
    conns = [open_raw_ws(h.port) for _ in range(n)]
    try:
        t0 = time.monotonic()
        for c in conns:  # a ping each, never answered, then the drop
            f = c.read_frame(deadline=t0 + 5.0)
            assert f.opcode == OP_PING, f
        for c in conns:
            c.expect_eof(timeout=max(0.5, t0 + 6.0 - time.monotonic()))
        assert time.monotonic() - t0 >= 1.5, "dropped before ping_timeout ran out"
        assert healthz(h.port)["connections"] == 0
        assert parsers(h.port) == 0
    finally:
        for c in conns:
            c.close()
