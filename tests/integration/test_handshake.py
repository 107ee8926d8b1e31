"""The WebSocket opening handshake: status codes for every malformed or
refused handshake, origin policy, token case-insensitivity, subprotocols,
the handshake timeout and the Daphne-style access log lines."""

import asyncio
import time

import pytest
import websockets

from conftest import (
    OP_TEXT,
    RawConn,
    accept_for,
    new_key,
    open_raw_ws,
    raw_handshake,
    run,
    ws_connect,
)


def test_handshake_101_with_correct_accept(host):
    key = new_key()
    conn, resp = raw_handshake(host.port, "/ws/echo/", key=key)
    with conn:
        assert resp.status == 101, resp
        assert resp.version == "HTTP/1.1"
        assert (resp.header("upgrade") or "").lower() == "websocket", resp
        assert "upgrade" in (resp.header("connection") or "").lower(), resp
        assert resp.header("sec-websocket-accept") == accept_for(key), resp
        assert resp.header("sec-websocket-protocol") is None, resp
        # and it really is a WebSocket now
        conn.send_frame(OP_TEXT, "ping?")
        f = conn.read_data_frame()
        assert (f.opcode, f.payload) == (OP_TEXT, b"ping?")


def test_rfc6455_sample_key(host):
    # RFC 6455 section 1.3's worked example
    conn, resp = raw_handshake(host.port, key="dGhlIHNhbXBsZSBub25jZQ==")
    with conn:
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp


def test_unknown_path_is_404(host):
    conn, resp = raw_handshake(host.port, "/ws/nowhere/")
    conn.close()
    assert resp.status == 404, resp


def test_broadcast_route_requires_int_room(host):
    for path in ("/ws/broadcast/abc/", "/ws/broadcast/-1/", "/ws/broadcast//"):
        conn, resp = raw_handshake(host.port, path)
        conn.close()
        assert resp.status == 404, (path, resp)
    conn = open_raw_ws(host.port, "/ws/broadcast/42/")
    conn.close()


def test_plain_get_on_websocket_route_is_426(host):
    with RawConn.connect(host.port) as conn:
        conn.send(f"GET /ws/echo/ HTTP/1.1\r\nHost: {host.authority}\r\n\r\n")
        resp = conn.read_response()
    assert resp.status == 426, resp


def test_post_with_upgrade_headers_is_405(host):
    conn, resp = raw_handshake(host.port, method="POST", extra=[("Content-Length", "0")])
    conn.close()
    assert resp.status == 405, resp


def test_version_8_is_426_with_supported_version(host):
    conn, resp = raw_handshake(host.port, headers={"Sec-WebSocket-Version": "8"})
    conn.close()
    assert resp.status == 426, resp
    assert resp.header("sec-websocket-version") == "13", resp


def test_missing_version_is_refused(host):
    conn, resp = raw_handshake(host.port, headers={"Sec-WebSocket-Version": None})
    conn.close()
    assert resp.status in (400, 426), resp


@pytest.mark.parametrize("key", [
    None,                                  # header missing
    "",                                    # empty
    "not base64 at all!",                  # not base64
    "AAAAAAAAAAAAAAAAAAAA",                # base64 of 15 bytes
    "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",        # base64 of 20 bytes
])
def test_bad_or_missing_key_is_400(host, key):
    headers = {"Sec-WebSocket-Key": key}
    conn, resp = raw_handshake(host.port, headers=headers)
    conn.close()
    assert resp.status == 400, (key, resp)


def test_missing_connection_upgrade_is_400(host):
    conn, resp = raw_handshake(host.port, headers={"Connection": "keep-alive"})
    conn.close()
    assert resp.status == 400, resp
    conn, resp = raw_handshake(host.port, headers={"Connection": None})
    conn.close()
    assert resp.status == 400, resp


def test_http_1_0_is_400(host):
    conn, resp = raw_handshake(host.port, version="HTTP/1.0")
    conn.close()
    assert resp.status == 400, resp


@pytest.mark.parametrize("headers", [
    {"Upgrade": "WebSocket"},
    {"Upgrade": "WEBSOCKET", "Connection": "UPGRADE"},
    {"Connection": "keep-alive, Upgrade"},
    {"Connection": "Upgrade,keep-alive"},
    {"Upgrade": "websocket", "Connection": "keep-alive,  upgrade"},
])
def test_tokens_are_case_insensitive_lists(host, headers):
    conn, resp = raw_handshake(host.port, headers=headers)
    with conn:
        assert resp.status == 101, (headers, resp)
        conn.send_frame(OP_TEXT, "ok")
        assert conn.read_data_frame().payload == b"ok"


def test_lower_case_header_names(host):
    key = new_key()
    req = (f"GET /ws/echo/ HTTP/1.1\r\nhost: {host.authority}\r\nupgrade: websocket\r\n"
           f"connection: upgrade\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n")
    with RawConn.connect(host.port) as conn:
        conn.send(req)
        resp = conn.read_response()
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == accept_for(key)


# --------------------------------------------------------------------------
# origins


@pytest.mark.parametrize("origin", [
    "http://localhost:3000",
    "http://localhost",
    "https://localhost:8443",
    "http://127.0.0.1:9999",
    "http://[::1]:8080",
])
def test_local_origins_allowed_by_default(host, origin):
    conn, resp = raw_handshake(host.port, headers={"Origin": origin})
    conn.close()
    assert resp.status == 101, (origin, resp)


def test_own_origin_allowed_by_default(host):
    # the Origin's host:port equals the Host header
    conn, resp = raw_handshake(host.port, headers={"Host": "chat.internal:8080",
                                                   "Origin": "http://chat.internal:8080"})
    conn.close()
    assert resp.status == 101, resp


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null", "http://chat.internal:9090"])
def test_foreign_origin_refused_by_default(host, origin):
    conn, resp = raw_handshake(host.port, headers={"Host": "chat.internal:8080", "Origin": origin})
    conn.close()
    assert resp.status == 403, (origin, resp)


def test_no_origin_accepted_by_default(host):
    conn, resp = raw_handshake(host.port)
    conn.close()
    assert resp.status == 101, resp


def test_allowed_origins_directive(make_host):
    h = make_host(["allowed_origins https://chat.example.com"])
    conn, resp = raw_handshake(h.port, headers={"Origin": "https://chat.example.com"})
    conn.close()
    assert resp.status == 101, resp
    for origin in ("https://evil.example.com", "http://chat.example.com", "https://chat.example.com:8443"):
        conn, resp = raw_handshake(h.port, headers={"Origin": origin})
        conn.close()
        assert resp.status == 403, (origin, resp)
    # localhost stays allowed
    conn, resp = raw_handshake(h.port, headers={"Origin": "http://localhost:5173"})
    conn.close()
    assert resp.status == 101, resp


def test_require_origin(make_host):
    h = make_host(["allowed_origins https://chat.example.com", "require_origin yes"])
    conn, resp = raw_handshake(h.port)
    conn.close()
    assert resp.status == 403, resp
    conn, resp = raw_handshake(h.port, headers={"Origin": "https://chat.example.com"})
    conn.close()
    assert resp.status == 101, resp


def test_websockets_client_with_foreign_origin_is_refused(host):
    async def main():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as ei:
            async with ws_connect(host.url(), origin="https://evil.example.com"):
                pass
        assert ei.value.status_code == 403

    run(main())


# --------------------------------------------------------------------------
# subprotocols


def test_echo_accepts_no_subprotocol_raw(host):
    conn, resp = raw_handshake(host.port, headers={"Sec-WebSocket-Protocol": "chat.v1, chat.v2"})
    with conn:
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-protocol") is None, resp


def test_echo_accepts_no_subprotocol_websockets(host):
    async def main():
        async with ws_connect(host.url(), subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response_headers
            await ws.send("still works")
            assert await asyncio.wait_for(ws.recv(), 5) == "still works"

    run(main())


# --------------------------------------------------------------------------
# handshake timeout


def test_handshake_timeout_silent_client(make_host):
    h = make_host(["handshake_timeout 1s"])
    with RawConn.connect(h.port) as conn:
        t0 = time.monotonic()
        _, how = conn.expect_eof(timeout=4.0)
        elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed <= 2.5, f"dropped after {elapsed:.2f}s ({how}), expected about 1s"


def test_handshake_timeout_partial_request(make_host):
    h = make_host(["handshake_timeout 1s"])
    with RawConn.connect(h.port) as conn:
        t0 = time.monotonic()
        conn.send(f"GET /ws/echo/ HTTP/1.1\r\nHost: {h.authority}\r\nUpgrade: websocket\r\n")
        _, how = conn.expect_eof(timeout=4.0)
        elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed <= 2.5, f"dropped after {elapsed:.2f}s ({how}), expected about 1s"


def test_handshake_timeout_does_not_touch_open_websockets(make_host):
    h = make_host(["handshake_timeout 1s"])

    async def main():
        async with ws_connect(h.url()) as ws:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), 2.0)
            await ws.send("alive")
            assert await asyncio.wait_for(ws.recv(), 5) == "alive"

    run(main())


# --------------------------------------------------------------------------
# access log lines (Daphne runserver style)


def test_log_lines_for_a_connection(host):
    async def main():
        since = host.mark()
        async with ws_connect(host.url()) as ws:
            cport = ws.local_address[1]
            peer = rf"\[127\.0\.0\.1:{cport}\]"
            await host.await_log(rf"WebSocket HANDSHAKING /ws/echo/ {peer}", since=since)
            await host.await_log(rf"WebSocket CONNECT /ws/echo/ {peer}", since=since)
            await ws.send("x")
            await ws.recv()
        await host.await_log(rf"WebSocket DISCONNECT /ws/echo/ {peer} code=1000", since=since)

    run(main())


def test_log_line_for_a_rejected_handshake(host):
    since = host.mark()
    conn, resp = raw_handshake(host.port, headers={"Origin": "https://evil.example.com"})
    cport = conn.sock.getsockname()[1]
    conn.close()
    assert resp.status == 403, resp
    host.wait_for(rf"WebSocket REJECT /ws/echo/ \[127\.0\.0\.1:{cport}\]", since=since)
