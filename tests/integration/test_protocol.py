"""WebSocket framing after the handshake (RFC 6455), through the echo
plugin: data round trips, message size limit, UTF-8 validation, masking,
reserved bits and opcodes, fragmentation with interleaved control frames,
ping/pong, the closing handshake and close-code validation, server pings."""

import asyncio
import os
import time

import pytest
import websockets

from conftest import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    build_frame,
    close_payload,
    open_raw_ws,
    run,
    ws_connect,
)


# --------------------------------------------------------------------------
# echo round trips (websockets client)


def test_echo_text_and_binary(host):
    async def main():
        async with ws_connect(host.url()) as ws:
            for msg in ["hello", "", "héllo wörld ✓ 😀", "x" * 10000]:
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(got, str) and got == msg
            for msg in [b"\x00\x01\x02\xff", b"", os.urandom(50000)]:
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(got, bytes) and got == msg

    run(main())


def test_echo_keeps_order_of_pipelined_messages(host):
    async def main():
        async with ws_connect(host.url()) as ws:
            msgs = [f"message {i}" for i in range(500)]
            for m in msgs:
                await ws.send(m)
            got = [await asyncio.wait_for(ws.recv(), 10) for _ in msgs]
            assert got == msgs

    run(main())


def test_echo_prefix_setting(make_host):
    h = make_host(['plugin_setting echo prefix "x:"'])

    async def main():
        async with ws_connect(h.url()) as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 5) == "x:hi"
            await ws.send(b"bin")
            assert await asyncio.wait_for(ws.recv(), 5) == b"bin"

    run(main())


# --------------------------------------------------------------------------
# message size


def test_message_at_limit_is_echoed_and_over_limit_closes_1009(make_host):
    h = make_host(["max_message_size 64kb"])

    async def main():
        async with ws_connect(h.url(), max_size=None) as ws:
            msg = "a" * 65536
            await ws.send(msg)
            assert await asyncio.wait_for(ws.recv(), 10) == msg
            await ws.send("b" * 65537)
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1009

    run(main())


def test_fragmented_message_over_limit_closes_1009(make_host):
    h = make_host(["max_message_size 64kb"])
    with open_raw_ws(h.port) as conn:
        chunk = b"z" * 16000
        data = build_frame(OP_BINARY, chunk, fin=False)
        for _ in range(3):
            data += build_frame(OP_CONT, chunk, fin=False)
        data += build_frame(OP_CONT, chunk, fin=True)     # 80000 bytes in all
        conn.send(data)
        conn.expect_close(1009)


def test_single_frame_over_limit_closes_1009_raw(make_host):
    h = make_host(["max_message_size 1kb"])
    with open_raw_ws(h.port) as conn:
        conn.send_frame(OP_BINARY, b"q" * 2000)
        conn.expect_close(1009)


# --------------------------------------------------------------------------
# UTF-8


@pytest.mark.parametrize("payload", [
    b"\xff",                      # never valid
    b"abc\xc3\x28",               # bad continuation
    b"\xc0\xaf",                  # overlong '/'
    b"\xed\xa0\x80",              # UTF-16 surrogate
    b"\xf4\x90\x80\x80",          # above U+10FFFF
    b"ok\xe2\x82",                # truncated at the end
])
def test_invalid_utf8_text_closes_1007(host, payload):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, payload)
        conn.expect_close(1007)


def test_invalid_utf8_across_fragments_closes_1007(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"valid start ", fin=False)
        conn.send_frame(OP_CONT, b"\xc3", fin=False)
        conn.send_frame(OP_CONT, b"\x28 end", fin=True)
        conn.expect_close(1007)


def test_valid_utf8_split_across_fragments_is_echoed(host):
    with open_raw_ws(host.port) as conn:
        text = "é😀".encode("utf-8")                 # c3 a9 f0 9f 98 80
        conn.send_frame(OP_TEXT, text[:1], fin=False)
        conn.send_frame(OP_CONT, text[1:4], fin=False)
        conn.send_frame(OP_CONT, text[4:], fin=True)
        f = conn.read_data_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, text)


def test_binary_message_is_not_utf8_checked(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_BINARY, b"\xff\xfe\xc0")
        f = conn.read_data_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b"\xff\xfe\xc0")


# --------------------------------------------------------------------------
# protocol violations -> 1002


def test_unmasked_client_frame_closes_1002(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"not masked", mask=False)
        conn.expect_close(1002)


@pytest.mark.parametrize("opcode", [3, 7, 0xB, 0xF])
def test_reserved_opcode_closes_1002(host, opcode):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(opcode, b"?")
        conn.expect_close(1002)


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_reserved_bits_close_1002(host, rsv):
    # no extension was negotiated, so RSV1-3 must be 0
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"rsv", rsv=rsv)
        conn.expect_close(1002)


def test_continuation_without_start_closes_1002(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_CONT, b"orphan", fin=True)
        conn.expect_close(1002)


def test_new_message_inside_fragmented_message_closes_1002(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"first", fin=False)
        conn.send_frame(OP_TEXT, b"second", fin=True)
        conn.expect_close(1002)


def test_fragmented_ping_closes_1002(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_PING, b"frag", fin=False)
        conn.expect_close(1002)


def test_oversized_control_frame_closes_1002(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_PING, b"p" * 126)
        conn.expect_close(1002)


# --------------------------------------------------------------------------
# fragmentation and ping/pong


def test_fragmented_text_with_ping_between_fragments(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_TEXT, b"Hel", fin=False)
        conn.send_frame(OP_PING, b"between")
        f = conn.read_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"between"), f
        conn.send_frame(OP_CONT, b"lo, wor", fin=False)
        conn.send_frame(OP_CONT, b"ld", fin=True)
        f = conn.read_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_TEXT, True, b"Hello, world"), f
        # exactly once: the next frame is the answer to a fresh ping
        conn.send_frame(OP_PING, b"after")
        f = conn.read_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"after"), f


def test_fragmented_binary_is_echoed_as_one_binary_message(host):
    with open_raw_ws(host.port) as conn:
        parts = [os.urandom(1000), os.urandom(1), b"", os.urandom(3000)]
        conn.send_frame(OP_BINARY, parts[0], fin=False)
        for i, p in enumerate(parts[1:], 1):
            conn.send_frame(OP_CONT, p, fin=(i == len(parts) - 1))
        f = conn.read_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_BINARY, True, b"".join(parts)), f


@pytest.mark.parametrize("payload", [b"", b"hello ping", bytes(range(125))])
def test_ping_gets_pong_with_same_payload(host, payload):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_PING, payload)
        f = conn.read_frame()
        assert (f.opcode, f.fin, f.payload) == (OP_PONG, True, payload), f
        assert not f.masked


def test_unsolicited_pong_is_ignored(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_PONG, b"heartbeat")
        conn.send_frame(OP_TEXT, b"after pong")
        f = conn.read_data_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"after pong"), f


# --------------------------------------------------------------------------
# closing handshake


def test_client_close_1000_is_answered_1000(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_CLOSE, close_payload(1000, b"bye"))
        f = conn.read_data_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1000, f
        conn.expect_eof()


@pytest.mark.parametrize("code", [1001, 3000, 4999])
def test_client_close_valid_codes_are_answered(host, code):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_CLOSE, close_payload(code))
        f = conn.read_data_frame()
        assert f.opcode == OP_CLOSE, f
        assert f.close_code in (code, 1000), f
        conn.expect_eof()


def test_client_close_without_code_is_answered(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_CLOSE, b"")
        f = conn.read_data_frame()
        assert f.opcode == OP_CLOSE, f
        assert f.close_code in (None, 1000), f
        conn.expect_eof()


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_client_close_with_invalid_code_gets_1002(host, code):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_CLOSE, close_payload(code))
        conn.expect_close(1002, echo=False)


def test_client_close_with_one_byte_payload_gets_1002(host):
    with open_raw_ws(host.port) as conn:
        conn.send_frame(OP_CLOSE, b"\x03")
        conn.expect_close(1002, echo=False)


def test_websockets_client_close_is_clean(host):
    async def main():
        ws = await ws_connect(host.url())
        await ws.send("x")
        await ws.recv()
        await ws.close(1000, "done")
        assert ws.close_code == 1000
        assert ws.close_rcvd is not None and ws.close_rcvd.code == 1000

    run(main())


# --------------------------------------------------------------------------
# server pings


class PongCounter(websockets.WebSocketClientProtocol):
    """A websockets client that counts the server's pings (each ping is
    answered by websockets through pong())."""

    pings_answered = 0

    async def pong(self, data=b""):
        self.pings_answered += 1
        await super().pong(data)


def test_idle_client_answering_pings_stays_open(make_host):
    h = make_host(["ping_interval 1s", "ping_timeout 1s"])

    async def main():
        async with ws_connect(h.url(), create_protocol=PongCounter) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), 3.0)
            assert ws.open
            assert ws.pings_answered >= 2, f"only {ws.pings_answered} server ping(s) in 3s with ping_interval 1s"
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 5) == "still here"

    run(main())


def test_client_ignoring_pings_is_dropped(make_host):
    h = make_host(["ping_interval 1s", "ping_timeout 1s"])
    with open_raw_ws(h.port) as conn:
        t0 = time.monotonic()
        deadline = t0 + 3.0          # ping_interval + ping_timeout + 1s
        pings = []
        frames = []
        while True:
            try:
                f = conn.read_frame(deadline=deadline)
            except EOFError:
                break
            except ConnectionResetError:
                break
            except TimeoutError:
                pytest.fail(f"still connected {deadline - t0:.1f}s after the handshake without answering "
                            f"pings; frames seen: {frames!r}")
            frames.append(f)
            if f.opcode == OP_PING:
                pings.append(time.monotonic() - t0)
        elapsed = time.monotonic() - t0
    assert pings, f"connection dropped after {elapsed:.2f}s without a server ping; frames: {frames!r}"
    assert 0.5 <= pings[0] <= 2.0, f"first ping after {pings[0]:.2f}s, ping_interval is 1s"
    assert elapsed >= 1.5, f"dropped after {elapsed:.2f}s, before ping_timeout could run out"
