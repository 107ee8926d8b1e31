"""TLS listeners (`listen ADDR:PORT tls`, docs/tls.md): wss:// straight to
the host with real clients (python3-websockets, Node's ws) trusting a
self-signed certificate made at test time, plain and TLS listeners side by
side, the certificate renewed by SIGHUP while an old connection keeps
chatting, broken clients costing only their own connection, workers, and
bad certificate files named by file and line.  Also `log_format json`
(issue 17's operator logs): every line one JSON object."""

import asyncio
import hashlib
import http.client
import json
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
import warnings

import pytest
import websockets

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from conftest import TEST_PLUGIN_DIR, RawConn, config_text, run, run_chanhost
from test_node import node_script

TLS_RE = r"Listening on TLS address (\S+):(\d+)"


def make_cert(directory, name):
    """A self-signed EC certificate for 127.0.0.1 and localhost, as
    directory/name.crt and directory/name.key; returns (crt, key)."""
    crt, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt),
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def fingerprint(pem_path):
    """SHA-256 of the DER form of the certificate in pem_path."""
    der = ssl.PEM_cert_to_DER_cert(pem_path.read_text())
    return hashlib.sha256(der).hexdigest()


def client_ctx(*cas):
    """A client context trusting only the certificates in cas."""
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cadata="".join(p.read_text() for p in cas))
    return ctx


def peer_fingerprint(ws):
    """SHA-256 of the certificate the server presented on ws."""
    return hashlib.sha256(ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)).hexdigest()


@pytest.fixture
def certs(tmp_path):
    """Two certificates: `live` (the files the config names) and `next`
    (to replace them with)."""
    live = make_cert(tmp_path, "live")
    nxt = make_cert(tmp_path, "next")
    return {"live": live, "next": nxt}


@pytest.fixture
def tls_host(make_host, certs):
    """Start a host with a plain and a TLS listener; h.tls_port is set."""

    def start(extra=(), **kw):
        crt, key = certs["live"]
        lines = ["listen 127.0.0.1:0 tls", f"tls_certificate {crt}", f"tls_certificate_key {key}", *extra]
        h = make_host(lines, **kw)
        h.tls_port = int(h.wait_for(TLS_RE).group(2))
        h.wss = lambda path="/ws/echo/": f"wss://127.0.0.1:{h.tls_port}{path}"
        return h

    return start


def metrics(h, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{h.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return int(m.group(1))


def chat(text):
    """The broadcast plugin's message carrying text."""
    return json.dumps({"type": "chat_message", "message": text})


async def said(ws):
    """The text of the next broadcast message on ws."""
    return json.loads(await asyncio.wait_for(ws.recv(), 10))["message"]


async def echo(ws, text):
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), 10)


def test_wss_echo_beside_plain_listener(tls_host, certs):
    h = tls_host()

    async def main():
        ctx = client_ctx(certs["live"][0])
        async with websockets.connect(h.wss(), ssl=ctx) as s, websockets.connect(h.url()) as p:
            assert s.transport.get_extra_info("ssl_object").selected_alpn_protocol() in (None, "http/1.1")
            assert s.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            assert await echo(s, "över tls ✓") == "över tls ✓"
            assert await echo(p, "plain") == "plain"
            big = "x" * 300_000  # many records each way
            assert await echo(s, big) == big
        # a room shared by a TLS and a plain client
        async with websockets.connect(h.wss("/ws/broadcast/7/"), ssl=ctx) as s, \
                websockets.connect(h.url("/ws/broadcast/7/")) as p:
            await s.send(chat("from tls"))
            assert await said(p) == "from tls"
            await p.send(chat("from plain"))
            assert [await said(s), await said(s)] == ["from tls", "from plain"]

    run(main())
    assert metrics(h, "chanhost_tls_handshakes_total") == 2


def login_cookie(conn):
    """POST a login on conn (http.client); the Set-Cookie header."""
    body = json.dumps({"username": "dora", "password": "password123"})
    conn.request("POST", "/api/auth/login/", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200, resp.status
    return resp.getheader("Set-Cookie")


def test_session_cookie_is_secure_on_the_tls_listener(tls_host, certs, tmp_path):
    h = tls_host(auth_config_lines(tmp_path))
    Api(h.port, service_token=SERVICE_TOKEN).create_user("dora", password="password123")
    ctx = client_ctx(certs["live"][0])
    assert "; Secure;" in login_cookie(http.client.HTTPSConnection("127.0.0.1", h.tls_port, context=ctx, timeout=10))
    assert "Secure" not in login_cookie(http.client.HTTPConnection("127.0.0.1", h.port, timeout=10))


def test_alpn_and_old_protocols(tls_host, certs):
    h = tls_host()
    ctx = client_ctx(certs["live"][0])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", h.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
    tls12 = client_ctx(certs["live"][0])
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", h.tls_port), timeout=5) as raw:
        with tls12.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            assert s.version() == "TLSv1.2"
            assert "GCM" in s.cipher()[0] or "CHACHA20" in s.cipher()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = client_ctx(certs["live"][0])
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    since = h.mark()
    with socket.create_connection(("127.0.0.1", h.tls_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):  # the host's alert
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    h.wait_for(r"TLS handshake failed: unsupported protocol", since=since)


def test_renegotiation_is_refused(tls_host, certs):
    h = tls_host()
    # s_client's "R" line asks for a TLS 1.2 renegotiation; its stdin stays
    # open (end of input would end the session first) until it exits.
    p = subprocess.Popen(["openssl", "s_client", "-tls1_2", "-connect", f"127.0.0.1:{h.tls_port}",
                          "-CAfile", str(certs["live"][0])],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    p.stdin.write(b"R\n")
    p.stdin.flush()
    try:
        out = p.stdout.read().decode(errors="replace")  # until s_client exits
        p.wait(30)
    finally:
        p.stdin.close()
        if p.poll() is None:
            p.kill()
    assert "RENEGOTIATING" in out and "no renegotiation" in out, out


def test_node_ws_over_wss(tls_host, certs, monkeypatch):
    h = tls_host()
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(certs["live"][0]))
    assert "ok echo" in node_script("echo.mjs", h.wss())


def test_sighup_renews_certificate_and_keeps_old_connections(tls_host, certs):
    h = tls_host()
    (live_crt, live_key), (next_crt, next_key) = certs["live"], certs["next"]
    old_fp, new_fp = fingerprint(live_crt), fingerprint(next_crt)
    ctx = client_ctx(live_crt, next_crt)

    async def main():
        async with websockets.connect(h.wss("/ws/broadcast/3/"), ssl=ctx) as old:
            assert peer_fingerprint(old) == old_fp
            live_crt.write_bytes(next_crt.read_bytes())
            live_key.write_bytes(next_key.read_bytes())
            since = h.mark()
            h.send_signal(signal.SIGHUP)
            await h.await_log(r"configuration reloaded", since=since)
            async with websockets.connect(h.wss("/ws/broadcast/3/"), ssl=ctx) as new:
                assert peer_fingerprint(new) == new_fp
                await old.send(chat("old still here"))
                assert await said(new) == "old still here"
                await new.send(chat("and the new one"))
                assert [await said(old), await said(old)] == ["old still here", "and the new one"]
            assert peer_fingerprint(old) == old_fp

    run(main())


def test_bad_certificate_on_reload_keeps_the_running_one(tls_host, certs):
    h = tls_host()
    live_crt, live_key = certs["live"]
    live_key.write_bytes(certs["next"][1].read_bytes())  # a key of another certificate
    since = h.mark()
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"configuration reload refused", since=since)
    line = h.wait_for(r"tls_certificate_key .* does not match", since=since).string
    assert f"{h.config_path}:{line_of(h.config_path, f'tls_certificate_key {live_key}')}:" in line

    async def main():
        async with websockets.connect(h.wss(), ssl=client_ctx(live_crt)) as s:
            assert peer_fingerprint(s) == fingerprint(live_crt)
            assert await echo(s, "still served") == "still served"

    run(main())


def test_reload_without_tls_lines_keeps_the_running_listener(tls_host, certs):
    h = tls_host()
    h.config_path.write_text(config_text())  # no TLS lines at all
    since = h.mark()
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"configuration reload refused", since=since)
    h.wait_for(rf"{re.escape(str(h.config_path))}: the TLS listener .* needs tls_certificate", since=since)

    async def main():
        async with websockets.connect(h.wss(), ssl=client_ctx(certs["live"][0])) as s:
            assert await echo(s, "still tls") == "still tls"

    run(main())


def test_plain_http_and_garbage_cost_only_their_connection(tls_host, certs):
    h = tls_host()
    since = h.mark()

    async def main():
        async with websockets.connect(h.wss(), ssl=client_ctx(certs["live"][0])) as s:
            for junk in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                         b"\x16\x03\x01\x00\x30" + bytes(range(48)),
                         bytes(range(256)) * 4):
                await asyncio.to_thread(closed_after, h.tls_port, junk)
            assert await echo(s, "unharmed") == "unharmed"

    run(main())
    assert len(h.matching(r"TLS handshake failed", since=since)) == 3
    assert metrics(h, "chanhost_tls_handshake_failures_total") == 3


def closed_after(port, data):
    """Send data to port and read until the host closes (an alert may
    come first: it is not plaintext HTTP); returns what came."""
    c = RawConn.connect(port)
    try:
        c.send(data)
        got, _how = c.read_until_eof(time.monotonic() + 10)
        assert b"HTTP/1.1" not in got
        return got
    finally:
        c.sock.close()


def test_pipelined_requests_survive_a_pause(tls_host, certs):
    """Requests decrypted but not yet parsed when the host stops reading
    (output over the pause) are answered once the client reads."""
    h = tls_host(["outbound_pause_bytes 8kb", "max_outbound_bytes 1mb", "verbosity 2"])
    n = 300
    with socket.create_connection(("127.0.0.1", h.tls_port), timeout=10) as raw:
        with client_ctx(certs["live"][0]).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            for _ in range(n):  # a TLS record each: most wait in the host's SSL
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            h.wait_for(r"paused: \d+ bytes queued")  # the host stopped reading
            got = b""
            while got.count(b"HTTP/1.1 200") < n:
                more = s.recv(65536)
                assert more, f"closed after {got.count(b'HTTP/1.1 200')} answers"
                got += more
    assert metrics(h, "chanhost_backpressure_pauses_total") >= 1


def test_silent_tls_client_meets_the_handshake_timeout(tls_host):
    h = tls_host(["handshake_timeout 300ms"])
    started = time.monotonic()
    closed_after(h.tls_port, b"\x16\x03\x01")  # the start of a record, then nothing
    assert time.monotonic() - started < 5


def test_wss_against_two_workers(tls_host, certs):
    h = tls_host(["workers 2"])
    h.wait_for(r"Listening on TCP address .* \(2 workers\)")
    ctx = client_ctx(certs["live"][0])

    async def main():
        socks = [await websockets.connect(h.wss("/ws/broadcast/9/"), ssl=ctx) for _ in range(8)]
        try:
            await socks[0].send(chat("to all workers"))
            for s in socks:
                assert await said(s) == "to all workers"
        finally:
            for s in socks:
                await s.close()

    run(main())


@pytest.mark.parametrize("case", ["missing_key", "mismatch", "no_files", "not_pem"])
def test_bad_tls_config_names_file_and_line(tmp_path, certs, case):
    crt, key = certs["live"]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    listen = "listen 127.0.0.1:0 tls"
    lines, bad_line, want = {
        "missing_key": ([listen, f"tls_certificate {crt}", f"tls_certificate_key {tmp_path}/nope.key"], 2,
                        r"tls_certificate_key .*nope.key: cannot read: No such file"),
        "mismatch": ([listen, f"tls_certificate {crt}", f"tls_certificate_key {certs['next'][1]}"], 2,
                     r"tls_certificate_key .* does not match the certificate"),
        "no_files": ([listen], 0, r"listen \.\.\. tls needs tls_certificate and tls_certificate_key"),
        "not_pem": ([listen, f"tls_certificate {garbage}", f"tls_certificate_key {key}"], 1,
                    r"tls_certificate .*garbage.pem: not a PEM certificate"),
    }[case]
    path = tmp_path / "bad.conf"
    path.write_text(config_text(lines))
    where = f"{re.escape(str(path))}:{line_of(path, lines[bad_line])}: "
    for args in (["--check"], []):
        r = run_chanhost(["--config", str(path), *args])
        assert r.returncode == 1, r.stderr
        assert re.search(where + want, r.stderr), r.stderr


def line_of(path, text):
    """The 1-based number of the line of path that equals text."""
    return path.read_text().splitlines().index(text) + 1


def test_log_format_json(make_host):
    h = make_host(["log_format json", "verbosity 2"])

    async def main():
        async with websockets.connect(h.url("/ws/echo/")) as ws:
            assert await echo(ws, "x") == "x"
        await h.await_log(r"WebSocket DISCONNECT", since=0)

    run(main())
    lines = [l for l in h.lines if l.strip()]
    assert lines
    objs = [json.loads(l) for l in lines]  # every line is one JSON object
    for o in objs:
        assert {"time", "level", "message"} <= o.keys(), o
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", o["time"]), o
    disc = next(o for o in objs if o["message"].startswith("WebSocket DISCONNECT"))
    assert disc["code"] == "1000" and disc["level"] == "INFO"
    assert any(o["message"].startswith("WebSocket HANDSHAKING /ws/echo/") for o in objs)


def test_log_format_json_plugin_lines(make_host):
    h = make_host(["log_format json"], plugin_dir=TEST_PLUGIN_DIR, routes=["/ws/x/ init_fails"])
    objs = [json.loads(l) for l in h.lines if l.strip()]
    mine = [o for o in objs if o.get("plugin") == "init_fails"]
    assert mine and mine[0]["message"] == "refusing to start (test plugin)", objs
    assert mine[0]["level"] == "ERROR"


def test_log_format_json_workers(make_host):
    h = make_host(["log_format json", "workers 2"])
    h.wait_for(r"Listening on TCP address .* \(2 workers\)")
    objs = [json.loads(l) for l in h.lines if l.strip()]
    assert {o.get("worker") for o in objs} >= {1, 2}


def test_log_format_bad_value(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text(config_text(["log_format yaml"]))
    r = run_chanhost(["--config", str(path), "--check"])
    assert r.returncode == 1
    assert re.search(rf"{path}:\d+: log_format: 'yaml' is not text or json", r.stderr), r.stderr
