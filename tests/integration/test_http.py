"""Plain HTTP on the WebSocket port: /healthz, /metrics, request limits,
keep-alive and static files."""

import asyncio

import pytest

from conftest import (
    RawConn,
    get_metrics,
    healthz,
    http_get,
    http_request,
    metric,
    parse_metrics,
    raw_handshake,
    run,
    ws_connect,
)


# --------------------------------------------------------------------------
# /healthz


def test_healthz(host):
    r = http_get(host.port, "/healthz")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("application/json"), r
    body = r.json()
    assert body["status"] == "ok", body
    assert isinstance(body["uptime_seconds"], (int, float)) and body["uptime_seconds"] >= 0, body
    assert body["connections"] == 0, body
    assert body["layer"]["backend"] == "memory", body
    assert body["layer"]["state"] == "ok", body
    assert "backend" in body["store"] and "state" in body["store"], body


def test_healthz_counts_open_websockets(host):
    async def main():
        since = host.mark()
        clients = [await ws_connect(host.url()) for _ in range(3)]
        b = await ws_connect(host.url("/ws/broadcast/3/"))
        body = await asyncio.to_thread(healthz, host.port)
        assert body["connections"] == 4, body
        for ws in clients + [b]:
            await ws.close()
        await host.await_log(r"WebSocket DISCONNECT ", since=since, count=4)
        body = await asyncio.to_thread(healthz, host.port)
        assert body["connections"] == 0, body

    run(main())


def test_post_healthz_is_405(host):
    r = http_request(host.port, f"POST /healthz HTTP/1.1\r\nHost: {host.authority}\r\n"
                                f"Content-Length: 2\r\nConnection: close\r\n\r\n{{}}".encode())
    assert r.status == 405, r


def test_unknown_http_path_is_404(host):
    r = http_get(host.port, "/no/such/thing")
    assert r.status == 404, r


# --------------------------------------------------------------------------
# /metrics


def test_metrics_format_and_names(host):
    r = http_get(host.port, "/metrics")
    assert r.status == 200, r
    assert (r.header("content-type") or "").startswith("text/plain; version=0.0.4"), r
    samples = parse_metrics(r.body.decode("utf-8"))      # every line parses
    names = {name for name, _ in samples}
    for name in ("chanhost_frames_received_total", "chanhost_frames_sent_total",
                 "chanhost_bytes_received_total", "chanhost_bytes_sent_total",
                 "chanhost_groups", "chanhost_slow_consumer_closes_total"):
        assert name in names, f"{name} missing from /metrics:\n{r.body.decode()}"
    assert metric(samples, "chanhost_slow_consumer_closes_total") == 0


def test_metrics_list_every_handshake_failure_reason(host):
    samples = get_metrics(host.port)
    for reason in ("bad_origin", "not_found", "bad_version", "bad_key", "bad_method",
                   "bad_request", "not_websocket", "timeout", "denied"):
        assert metric(samples, "chanhost_handshake_failures_total", reason=reason) == 0, \
            f"chanhost_handshake_failures_total{{reason=\"{reason}\"}} 0 missing"


def test_metrics_connections_per_route_and_groups(host):
    async def main():
        e1 = await ws_connect(host.url())
        e2 = await ws_connect(host.url())
        b1 = await ws_connect(host.url("/ws/broadcast/1/"))
        b2 = await ws_connect(host.url("/ws/broadcast/2/"))
        b3 = await ws_connect(host.url("/ws/broadcast/2/"))
        samples = await asyncio.to_thread(get_metrics, host.port)
        assert metric(samples, "chanhost_connections", route="/ws/echo/") == 2, samples
        assert metric(samples, "chanhost_groups") == 2, samples
        for ws in (e1, e2, b1, b2, b3):
            await ws.close()

    run(main())


def test_metrics_frame_and_byte_counters(host):
    before = get_metrics(host.port)

    async def main():
        since = host.mark()
        async with ws_connect(host.url(), compression=None) as ws:
            for i in range(5):
                await ws.send("p" * 100)
                assert await ws.recv() == "p" * 100
        await host.await_log(r"WebSocket DISCONNECT ", since=since)

    run(main())
    after = get_metrics(host.port)

    def delta(name):
        return metric(after, name) - metric(before, name)

    assert delta("chanhost_frames_received_total") >= 5
    assert delta("chanhost_frames_sent_total") >= 5
    assert delta("chanhost_bytes_received_total") >= 500
    assert delta("chanhost_bytes_sent_total") >= 500


def _provoke(port, reason):
    """Make one handshake fail for `reason`; returns the HTTP status."""
    if reason == "bad_origin":
        kw = dict(headers={"Origin": "https://evil.example.com"})
    elif reason == "not_found":
        kw = dict(path="/ws/absent/")
    elif reason == "bad_version":
        kw = dict(headers={"Sec-WebSocket-Version": "8"})
    elif reason == "bad_key":
        kw = dict(headers={"Sec-WebSocket-Key": "short"})
    elif reason == "bad_method":
        kw = dict(method="POST", extra=[("Content-Length", "0")])
    elif reason == "bad_request":
        kw = dict(headers={"Connection": "keep-alive"})
    elif reason == "not_websocket":
        with RawConn.connect(port) as conn:
            conn.send(f"GET /ws/echo/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
            return conn.read_response().status
    else:
        raise AssertionError(reason)
    path = kw.pop("path", "/ws/echo/")
    conn, resp = raw_handshake(port, path, **kw)
    conn.close()
    return resp.status


@pytest.mark.parametrize("reason,status", [
    ("bad_origin", 403), ("not_found", 404), ("bad_version", 426), ("bad_key", 400),
    ("bad_method", 405), ("bad_request", 400), ("not_websocket", 426),
])
def test_handshake_failure_counted_by_reason(host, reason, status):
    before = metric(get_metrics(host.port), "chanhost_handshake_failures_total", reason=reason) or 0
    assert _provoke(host.port, reason) == status
    after = metric(get_metrics(host.port), "chanhost_handshake_failures_total", reason=reason)
    assert after == before + 1, f"reason={reason}: {before} -> {after}"


def test_handshake_timeout_counted(make_host):
    h = make_host(["handshake_timeout 1s"])
    with RawConn.connect(h.port) as conn:
        conn.expect_eof(timeout=4.0)
    after = metric(get_metrics(h.port), "chanhost_handshake_failures_total", reason="timeout")
    assert after is not None and after >= 1, after


# --------------------------------------------------------------------------
# request limits and garbage


def test_request_line_over_8k_is_414(host):
    r = http_request(host.port, f"GET /{'a' * 9000} HTTP/1.1\r\nHost: {host.authority}\r\n\r\n".encode())
    assert r.status == 414, r


def test_request_line_under_limit_is_served(host):
    r = http_request(host.port, f"GET /{'a' * 7000} HTTP/1.1\r\nHost: {host.authority}\r\n"
                                f"Connection: close\r\n\r\n".encode())
    assert r.status == 404, r


def test_more_than_100_headers_is_431(host):
    headers = "".join(f"X-Header-{i}: {i}\r\n" for i in range(101))
    r = http_request(host.port, f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n{headers}\r\n".encode())
    assert r.status == 431, r


def test_fifty_headers_are_fine(host):
    headers = "".join(f"X-Header-{i}: {i}\r\n" for i in range(50))
    r = http_request(host.port, f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n{headers}"
                                f"Connection: close\r\n\r\n".encode())
    assert r.status == 200, r


def test_header_bytes_over_16k_is_431(host):
    headers = "".join(f"X-Big-{i}: {'v' * 1000}\r\n" for i in range(20))
    r = http_request(host.port, f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n{headers}\r\n".encode())
    assert r.status == 431, r


@pytest.mark.parametrize("request_line", ["POST /healthz", "POST /upload/somewhere", "PUT /ws/echo/"])
def test_content_length_over_max_body_size_is_413(host, request_line):
    # default max_body_size is 1mb; no body is sent: the answer must come from the headers
    r = http_request(host.port, f"{request_line} HTTP/1.1\r\nHost: {host.authority}\r\n"
                                f"Content-Length: {1024 * 1024 + 1}\r\n\r\n".encode())
    assert r.status == 413, r


def test_max_body_size_directive(make_host):
    h = make_host(["max_body_size 1kb"])
    r = http_request(h.port, f"POST /anything HTTP/1.1\r\nHost: {h.authority}\r\n"
                             f"Content-Length: 2000\r\n\r\n".encode())
    assert r.status == 413, r


@pytest.mark.parametrize("garbage", [b"HELLO\r\n\r\n",
                                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"])
def test_garbage_is_400(host, garbage):
    r = http_request(host.port, garbage)
    assert r.status == 400, r


def test_keep_alive_two_requests_one_connection(host):
    with RawConn.connect(host.port) as conn:
        for _ in range(2):
            conn.send(f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n\r\n")
            r = conn.read_response()
            assert r.status == 200, r
            assert r.json()["status"] == "ok"


def test_pipelined_requests_are_answered_in_order(host):
    with RawConn.connect(host.port) as conn:
        conn.send(f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n\r\n"
                  f"GET /metrics HTTP/1.1\r\nHost: {host.authority}\r\n\r\n"
                  f"GET /nope HTTP/1.1\r\nHost: {host.authority}\r\nConnection: close\r\n\r\n")
        r1, r2, r3 = conn.read_response(), conn.read_response(), conn.read_response()
        assert (r1.status, r2.status, r3.status) == (200, 200, 404), (r1, r2, r3)
        assert r1.json()["status"] == "ok"
        assert b"chanhost_groups" in r2.body
        conn.expect_eof()


def test_idle_keepalive_connection_does_not_block_others(host):
    with RawConn.connect(host.port) as idle:
        idle.send(f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n\r\n")
        assert idle.read_response().status == 200
        # the idle connection stays open and the host keeps answering others
        assert http_get(host.port, "/healthz").status == 200
        idle.send(f"GET /healthz HTTP/1.1\r\nHost: {host.authority}\r\n\r\n")
        assert idle.read_response().status == 200


# --------------------------------------------------------------------------
# static files


SECRET = "TOP-SECRET-0f5a2c91"


@pytest.fixture
def static_host(make_host, tmp_path):
    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "index.html").write_text("<!doctype html><h1>chanhost static index</h1>\n")
    (www / "style.css").write_text("h1 { color: teal }\n")
    (www / "app.js").write_text("console.log('hi');\n")
    (www / "sub" / "page.html").write_text("<p>sub page</p>\n")
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    return make_host([f"static_dir {www}"])


def test_static_index_html(static_host):
    r = http_get(static_host.port, "/index.html")
    assert r.status == 200, r
    assert r.body == b"<!doctype html><h1>chanhost static index</h1>\n"
    assert (r.header("content-type") or "").startswith("text/html"), r


def test_static_root_serves_index(static_host):
    r = http_get(static_host.port, "/")
    assert r.status == 200, r
    assert b"chanhost static index" in r.body
    assert (r.header("content-type") or "").startswith("text/html"), r


@pytest.mark.parametrize("path,ctype,content", [
    ("/style.css", "text/css", b"h1 { color: teal }\n"),
    ("/app.js", "javascript", b"console.log('hi');\n"),
    ("/sub/page.html", "text/html", b"<p>sub page</p>\n"),
])
def test_static_content_types(static_host, path, ctype, content):
    r = http_get(static_host.port, path)
    assert r.status == 200, r
    assert r.body == content
    assert ctype in (r.header("content-type") or ""), r


def test_static_missing_file_is_404(static_host):
    r = http_get(static_host.port, "/missing.html")
    assert r.status == 404, r


@pytest.mark.parametrize("path", [
    "/../etc/passwd",
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/sub/../../secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/./../secret.txt",
    "/..%5csecret.txt",
])
def test_static_path_escapes_are_404(static_host, path):
    r = http_request(static_host.port, f"GET {path} HTTP/1.1\r\nHost: {static_host.authority}\r\n"
                                       f"Connection: close\r\n\r\n".encode())
    assert SECRET.encode() not in r.body, (path, r)
    assert b"root:x:0:0" not in r.body, (path, r)
    assert r.status == 404, (path, r)


def test_no_static_dir_means_404_for_root(host):
    r = http_get(host.port, "/")
    assert r.status == 404, r
