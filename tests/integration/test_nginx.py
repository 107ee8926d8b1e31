"""chanhost behind real nginx (issue 17, item 3), with the site file
etc/nginx/chanhost.conf itself: the test substitutes free loopback ports,
a self-signed certificate made here and its own log, pid and temp paths,
runs Debian's nginx in the foreground and stops it at the end.

- two wss:// clients (python3-websockets trusting the certificate), bound
  to 127.0.0.2 and 127.0.0.3, chat through nginx (nginx reaches chanhost
  from 127.0.0.1, chanhost's trusted_proxies);
- chanhost logs each client's own address, not nginx's, and
  max_connections_per_ip limits the one client (the other still gets in),
  even when it forges X-Forwarded-For through nginx;
- a forged X-Forwarded-For sent straight to chanhost from an untrusted
  peer is ignored (logged and limited as that peer);
- the login limiter locks the one client's address, not nginx's;
- /api/ reaches chanhost (its access line names the client) and the rest
  goes to the Django placeholder, with the forwarding headers.

Every wait is on a connection, an answer or a log line, with a deadline.
"""

import asyncio
import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import websockets

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from conftest import RawConn, handshake_request, run

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "etc/nginx/chanhost.conf"
NGINX = "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def substitute(text, pairs):
    """Replace each (old, new) of pairs in text; each old must be there."""
    for old, new in pairs:
        assert old in text, f"{old!r} is no longer in {SITE}: update the test"
        text = text.replace(old, new)
    return text


def make_certificate(d):
    """A self-signed certificate for 127.0.0.1 in d: (cert, key)."""
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Django(http.server.BaseHTTPRequestHandler):
    """The Django app's placeholder: answers its path and the forwarding
    headers it got as JSON."""

    def do_GET(self):
        body = json.dumps({"django": self.path,
                           "x-forwarded-for": self.headers.get("X-Forwarded-For"),
                           "x-forwarded-proto": self.headers.get("X-Forwarded-Proto")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Nginx:
    """Real nginx on free loopback ports in front of chanhost_port."""

    def __init__(self, d, chanhost_port, django_port):
        self.dir = d
        self.port, self.http_port = free_port(), free_port()
        cert, key = make_certificate(d)
        site = substitute(SITE.read_text(), [
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{chanhost_port};"),
            ("server 127.0.0.1:8001;", f"server 127.0.0.1:{django_port};"),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("listen [::]:80;", ""),
            ("listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;"),
            ("listen [::]:443 ssl;", ""),
            ("/etc/ssl/certs/chat.example.com.pem", str(cert)),
            ("/etc/ssl/private/chat.example.com.key", str(key)),
            ("/var/log/nginx/chanhost_access.log", str(d / "access.log")),
            ("/var/log/nginx/chanhost_error.log", str(d / "site-error.log")),
        ])
        (d / "site.conf").write_text(site)
        temps = "\n".join(f"    {k}_temp_path {d / k};"
                          for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (d / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "") +
            f"pid {d / 'nginx.pid'};\nerror_log {d / 'error.log'} notice;\n"
            "worker_processes 1;\ndaemon off;\nevents { worker_connections 256; }\n"
            f"http {{\n{temps}\n    access_log off;\n    include {d / 'site.conf'};\n}}\n")
        args = [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")]
        check = subprocess.run(args + ["-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.wait_listening()

    def wait_listening(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
            try:  # nginx tells nothing when it listens: try again, unless it ended
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def ssl(self):
        ctx = ssl.create_default_context(cafile=str(self.dir / "cert.pem"))
        return ctx


@pytest.fixture
def behind_nginx(make_host, tmp_path):
    host = make_host(auth_config_lines(tmp_path) + [
        "trusted_proxies 127.0.0.1/32 ::1",
        "max_connections_per_ip 2",
        "auth_login_ip_failures 1",
        "auth_login_delay 60s",
        f"static_dir {ROOT / 'web'}",
    ])
    django = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Django)
    threading.Thread(target=django.serve_forever, daemon=True).start()
    d = tmp_path / "nginx"
    d.mkdir()
    d.chmod(0o755)
    nginx = Nginx(d, host.port, django.server_address[1])
    yield host, nginx
    nginx.stop()
    django.shutdown()
    django.server_close()


def wss(nginx, source, path="/ws/broadcast/1/", headers=None):
    """A wss:// client through nginx from the source address."""
    return websockets.connect(f"wss://127.0.0.1:{nginx.port}{path}", ssl=nginx.ssl(),
                              local_addr=(source, 0), extra_headers=headers or {})


def https_get(nginx, path, source, token=None, method="GET", body=None):
    """One request through nginx from the source address: (status, JSON)."""
    conn = http.client.HTTPSConnection("127.0.0.1", nginx.port, context=nginx.ssl(),
                                       source_address=(source, 0), timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_wss_chat_through_nginx_logs_and_limits_the_client(behind_nginx):
    host, nginx = behind_nginx
    mark = host.mark()

    async def main():
        async with wss(nginx, "127.0.0.2") as a, wss(nginx, "127.0.0.3") as b:
            await a.send(json.dumps({"type": "chat_message", "message": "hello through nginx"}))
            for ws in (a, b):
                got = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert got == {"type": "chat_message", "message": "hello through nginx"}
            await b.send(json.dumps({"type": "chat_message", "message": "and back"}))
            assert json.loads(await asyncio.wait_for(a.recv(), 10))["message"] == "and back"
            host.wait_for(r"WebSocket CONNECT /ws/broadcast/1/ \[127\.0\.0\.2:0\]", since=mark)
            host.wait_for(r"WebSocket CONNECT /ws/broadcast/1/ \[127\.0\.0\.3:0\]", since=mark)
            # 127.0.0.2's second connection is allowed, its third is not,
            # even with a forged X-Forwarded-For (nginx appends the real one)
            async with wss(nginx, "127.0.0.2"):
                with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
                    async with wss(nginx, "127.0.0.2", headers={"X-Forwarded-For": "127.0.0.9"}):
                        pass
                assert e.value.status_code == 429
                host.wait_for(r"WebSocket REJECT /ws/broadcast/1/ \[127\.0\.0\.2:0\] 429 limit_ip",
                              since=mark)
                # the other client is not limited by it
                async with wss(nginx, "127.0.0.3"):
                    pass

    run(main())
    assert not host.matching(r"WebSocket \w+ /ws/broadcast/1/ \[127\.0\.0\.1:", since=mark)


def test_api_and_django_through_nginx(behind_nginx):
    host, nginx = behind_nginx
    mark = host.mark()
    status, body = https_get(nginx, "/api/admin/status/", "127.0.0.3", SERVICE_TOKEN)
    assert status == 200 and body["routes"], body
    host.wait_for(r"HTTP GET /api/admin/status/ 200 \[[0-9.]+, 127\.0\.0\.3:0\]", since=mark)
    assert https_get(nginx, "/api/admin/status/", "127.0.0.3")[0] == 401
    status, body = https_get(nginx, "/shop/item/7/", "127.0.0.2")
    assert status == 200 and body == {"django": "/shop/item/7/", "x-forwarded-for": "127.0.0.2",
                                      "x-forwarded-proto": "https"}, body
    conn = http.client.HTTPSConnection("127.0.0.1", nginx.port, context=nginx.ssl(), timeout=10)
    conn.request("GET", "/admin/status/")
    resp = conn.getresponse()
    assert resp.status == 200 and b"<canvas" in resp.read()
    conn.close()


def test_session_cookie_is_secure_over_https_at_nginx(behind_nginx):
    host, nginx = behind_nginx
    api = Api(host.port, service_token=SERVICE_TOKEN)
    api.create_user("carol", password="password123")
    body = json.dumps({"username": "carol", "password": "password123"})
    conn = http.client.HTTPSConnection("127.0.0.1", nginx.port, context=nginx.ssl(), timeout=10)
    conn.request("POST", "/api/auth/login/", body=body,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200 and "; Secure;" in resp.getheader("Set-Cookie"), resp.getheaders()
    # straight to chanhost from an untrusted peer, with a forged header: not Secure
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10,
                                      source_address=("127.0.0.2", 0))
    conn.request("POST", "/api/auth/login/", body=body,
                 headers={"Content-Type": "application/json", "X-Forwarded-Proto": "https"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200 and "Secure" not in resp.getheader("Set-Cookie")


def test_login_limiter_counts_the_client_behind_nginx(behind_nginx):
    _, nginx = behind_nginx

    def login(source, name):
        return https_get(nginx, "/api/auth/login/", source, method="POST",
                         body={"username": name, "password": "wrong-password"})[0]

    # the second failure from 127.0.0.2 (other accounts each time) locks
    # that address; 127.0.0.3, through the same nginx, is not locked
    assert login("127.0.0.2", "nobody1") == 401
    assert login("127.0.0.2", "nobody2") == 401
    assert login("127.0.0.2", "nobody3") == 429
    assert login("127.0.0.3", "nobody4") == 401


def handshake_from(source, port, path, extra):
    """A raw handshake to chanhost itself from the source address:
    (conn, response)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    conn = RawConn(sock)
    conn.send(handshake_request(f"127.0.0.1:{port}", path, extra=extra))
    return conn, conn.read_response(5.0)


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(behind_nginx):
    host, _ = behind_nginx
    mark = host.mark()
    conns = []
    for i in range(2):  # 127.0.0.2's two connections, straight to chanhost
        conn, resp = handshake_from("127.0.0.2", host.port, "/ws/broadcast/2/",
                                    [("X-Forwarded-For", f"203.0.113.{i}")])
        assert resp.status == 101, resp
        conns.append(conn)
    conn, resp = handshake_from("127.0.0.2", host.port, "/ws/broadcast/2/",
                                [("X-Forwarded-For", "203.0.113.8"), ("X-Real-IP", "203.0.113.8"),
                                 ("X-Forwarded-Proto", "https")])
    conn.close()
    assert resp.status == 429, resp
    host.wait_for(r"WebSocket REJECT /ws/broadcast/2/ \[127\.0\.0\.2:\d+\] 429 limit_ip", since=mark)
    assert not host.matching(r"203\.0\.113", since=mark)
    for c in conns:
        c.close()
