"""Shared machinery for chanhost's integration tests.

Everything here drives the real binary: a `Host` is one chanhost process
started on a free port with a per-test config file, its stderr collected
line by line by a reader thread so that tests can wait for log lines (an
awaited event with a deadline, never a fixed sleep).

Clients:
  * websockets 10.4 (Debian's python3-websockets), asyncio API, for
    well-behaved clients;
  * RawConn, a blocking socket with a buffer, for hand-built HTTP requests
    and WebSocket frames (malformed handshakes, unmasked frames, ...).

No pytest-asyncio: `run(coro)` runs a coroutine with asyncio.run inside a
plain test function.

Paths come from CTest's environment (CHANHOST_BIN, CHANHOST_PLUGIN_DIR,
CHANHOST_TEST_PLUGIN_DIR, CHANHOST_SOURCE_DIR); when pytest is run by hand
they default to the build/ directory of this source tree.
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
import websockets

SOURCE_DIR = Path(os.environ.get("CHANHOST_SOURCE_DIR") or Path(__file__).resolve().parents[2])
BIN = os.environ.get("CHANHOST_BIN") or str(SOURCE_DIR / "build" / "chanhost")
PLUGIN_DIR = os.environ.get("CHANHOST_PLUGIN_DIR") or str(SOURCE_DIR / "build" / "plugins")
TEST_PLUGIN_DIR = os.environ.get("CHANHOST_TEST_PLUGIN_DIR") or str(SOURCE_DIR / "build" / "test-plugins")
NODE_DIR = SOURCE_DIR / "tests" / "integration" / "node"

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
LISTEN_RE = r"Listening on TCP address (\S+):(\d+)"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


# --------------------------------------------------------------------------
# coroutines in plain test functions


def run(coro, timeout=60.0):
    """Run a coroutine to completion with an overall deadline."""

    async def main():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


def raise_nofile(want=8192):
    """Raise the soft RLIMIT_NOFILE towards `want` (at most the hard limit).
    Child processes (the host) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------
# the host process


def sanitizer_report(text):
    return next((m for m in SANITIZER_MARKERS if m in text), None)


def require_binary():
    if not os.path.isfile(BIN) or not os.access(BIN, os.X_OK):
        pytest.fail(f"chanhost binary not found at {BIN} (build it: cmake -S . -B build && cmake --build build)")


def run_chanhost(args, timeout=20, cwd=None):
    """Run chanhost to completion (for --help, --check, start failures)."""
    require_binary()
    return subprocess.run([BIN, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, errors="replace", timeout=timeout, cwd=cwd)


class Host:
    """One running chanhost process and its collected stderr lines."""

    def __init__(self, args, cwd=None):
        require_binary()
        self.args = [BIN, *args]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=cwd)
        self.lines = []
        self.out_lines = []
        self._cond = threading.Condition()
        self._eof = False
        self.port = None
        self._threads = [
            threading.Thread(target=self._reader, args=(self.proc.stderr, self.lines, True), daemon=True),
            threading.Thread(target=self._reader, args=(self.proc.stdout, self.out_lines, False), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _reader(self, stream, into, is_stderr):
        for raw in iter(stream.readline, b""):
            with self._cond:
                into.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            if is_stderr:
                self._eof = True
            self._cond.notify_all()

    # -- log lines ---------------------------------------------------------

    def mark(self):
        """Index of the next log line, to wait only for lines after now."""
        with self._cond:
            return len(self.lines)

    def stderr_text(self):
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=10.0, since=0, count=1):
        """Wait until `count` stderr lines from index `since` on match the
        regex `pattern`; return the last match.  Fails with the collected
        stderr on timeout or if the process ends first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        found = []
        pos = since
        with self._cond:
            while True:
                while pos < len(self.lines):
                    m = rx.search(self.lines[pos])
                    if m:
                        found.append(m)
                    pos += 1
                if len(found) >= count:
                    return found[count - 1]
                if self._eof:
                    self.proc.wait(5)
                    raise AssertionError(
                        f"chanhost exited (rc={self.proc.returncode}) before {count} line(s) "
                        f"matching /{pattern}/ appeared (saw {len(found)}); stderr:\n{self.stderr_text()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {count} line(s) matching "
                        f"/{pattern}/ (saw {len(found)}); stderr:\n{self.tail()}")
                self._cond.wait(remaining)

    async def await_log(self, pattern, timeout=10.0, since=0, count=1):
        return await asyncio.to_thread(self.wait_for, pattern, timeout, since, count)

    def matching(self, pattern, since=0):
        rx = re.compile(pattern)
        with self._cond:
            return [l for l in self.lines[since:] if rx.search(l)]

    def tail(self, n=80):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def wait_listening(self, timeout=10.0):
        m = self.wait_for(LISTEN_RE, timeout=timeout)
        self.port = int(m.group(2))
        return self.port

    # -- process -----------------------------------------------------------

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30.0):
        """Wait for the process to end; returns its exit code."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"chanhost still running {timeout}s later; stderr:\n{self.tail()}")
        for t in self._threads:
            t.join(5)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self):
        """SIGKILL on purpose: teardown then accepts the exit status."""
        self.killed = True
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    # -- addresses ---------------------------------------------------------

    def url(self, path="/ws/echo/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def authority(self):
        return f"127.0.0.1:{self.port}"


def config_text(extra=(), plugin_dir=None, routes=None, listen="127.0.0.1:0"):
    """A config file's text: listen, plugin_dir, the two stock routes (or
    `routes`) and extra lines."""
    lines = ["# written by tests/integration/conftest.py"]
    if listen is not None:
        lines.append(f"listen {listen}")
    lines.append(f"plugin_dir {plugin_dir or PLUGIN_DIR}")
    if routes is None:
        routes = ["/ws/echo/ echo", "/ws/broadcast/<int:room_id>/ broadcast"]
    lines += [f"route {r}" for r in routes]
    # One process unless the test asks for workers: most tests read one
    # process's counters and log (test_workers.py runs several).
    if not any(str(l).split()[:1] == ["workers"] for l in extra):
        lines.append("workers 1")
    lines += list(extra)
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_host(tmp_path):
    """Factory: make_host(extra_lines=(), routes=None, plugin_dir=None,
    args=(), config=None) starts chanhost with a config written to tmp_path
    and waits for its Listening line.  At teardown every host still running
    gets SIGTERM and must exit 0 without a sanitizer report."""
    hosts = []
    counter = [0]

    def factory(extra=(), routes=None, plugin_dir=None, args=(), config=None, wait=True, listen="127.0.0.1:0"):
        counter[0] += 1
        path = tmp_path / f"chanhost-{counter[0]}.conf"
        path.write_text(config if config is not None else
                        config_text(extra, plugin_dir=plugin_dir, routes=routes, listen=listen))
        h = Host(["--config", str(path), *args])
        h.config_path = path
        hosts.append(h)
        if wait:
            h.wait_listening()
        return h

    yield factory

    problems = []
    for h in hosts:
        if h.proc.poll() is None:
            h.proc.send_signal(signal.SIGTERM)
            try:
                h.proc.wait(20)
            except subprocess.TimeoutExpired:
                h.kill()
                problems.append(f"chanhost did not exit within 20s of SIGTERM; stderr tail:\n{h.tail()}")
                continue
        for t in h._threads:
            t.join(5)
        text = h.stderr_text()
        bad = sanitizer_report(text)
        if bad:
            problems.append(f"sanitizer report ({bad}) in chanhost stderr:\n{text[-20000:]}")
        elif h.proc.returncode != 0 and not getattr(h, "killed", False):
            problems.append(f"chanhost exited with {h.proc.returncode} at shutdown; stderr tail:\n{h.tail()}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def host(make_host):
    """A host with the default config: /ws/echo/ and /ws/broadcast/<int:room_id>/."""
    return make_host()


# --------------------------------------------------------------------------
# raw sockets: HTTP and WebSocket frames by hand


class Response:
    def __init__(self, status, reason, version, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        name = name.lower()
        return next((v for n, v in self.headers if n == name), None)

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} headers={self.headers!r} body={self.body[:300]!r}>"


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    def __repr__(self):
        return (f"<Frame op={self.opcode} fin={self.fin} rsv={self.rsv} masked={self.masked} "
                f"len={len(self.payload)} payload={self.payload[:60]!r}>")


def mask_bytes(payload, key):
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame.  `length` overrides the length field (lies)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawConn:
    """A blocking TCP connection with a read buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    @classmethod
    def connect(cls, port, host="127.0.0.1", rcvbuf=None, timeout=5.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(s)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(build_frame(opcode, payload, **kw))

    def _fill(self, deadline):
        """Read more bytes into the buffer.  Returns False at EOF; raises
        TimeoutError at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed while reading")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("deadline passed while reading") from None
        if not data:
            return False
        self.buf += data
        return True

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise EOFError(f"EOF after {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, marker, deadline, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError(f"no {marker!r} within {limit} bytes")
            if not self._fill(deadline):
                raise EOFError(f"EOF before {marker!r}; got {self.buf[:500]!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_until_eof(self, deadline):
        """Read everything until the peer closes.  Returns (bytes, how) with
        how "eof" or "reset"; raises TimeoutError at the deadline."""
        data = b""
        while True:
            try:
                more = self._fill(deadline)
            except (ConnectionResetError, BrokenPipeError):
                data, self.buf = data + self.buf, b""
                return data, "reset"
            data, self.buf = data + self.buf, b""
            if not more:
                return data, "eof"

    def read_response(self, timeout=5.0, head_only=False):
        deadline = time.monotonic() + timeout
        head = self.read_until(b"\r\n\r\n", deadline)
        text = head.decode("latin-1")
        status_line, *header_lines = text.split("\r\n")[:-2]
        m = re.match(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
        assert m, f"bad status line {status_line!r}"
        headers = []
        for line in header_lines:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        resp = Response(int(m.group(2)), m.group(3) or "", m.group(1), headers, b"", head)
        if head_only or resp.status == 101 or resp.status in (204, 304) or 100 <= resp.status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if "chunked" in te:
            body = b""
            while True:
                size_line = self.read_until(b"\r\n", deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self.read_until(b"\r\n", deadline)
                    break
                body += self.read_exact(size, deadline)
                self.read_exact(2, deadline)
            resp.body = body
        elif cl is not None:
            resp.body = self.read_exact(int(cl), deadline)
        else:
            try:
                resp.body, _ = self.read_until_eof(deadline)
            except TimeoutError:
                raise AssertionError(
                    f"response {resp.status} has neither Content-Length nor chunked encoding "
                    f"and the connection stayed open: {head!r}") from None
        return resp

    def read_frame(self, timeout=5.0, deadline=None):
        if deadline is None:
            deadline = time.monotonic() + timeout
        b0, b1 = self.read_exact(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read_exact(8, deadline))[0]
        key = self.read_exact(4, deadline) if b1 & 0x80 else None
        payload = self.read_exact(n, deadline)
        if key:
            payload = mask_bytes(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, bool(b1 & 0x80), payload)

    def read_data_frame(self, timeout=5.0, skip_pings=True):
        """Next frame that is not a server ping (pings are answered)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(deadline=deadline)
            if skip_pings and f.opcode == OP_PING:
                self.send_frame(OP_PONG, f.payload)
                continue
            return f

    def expect_close(self, code, timeout=5.0, echo=True):
        """The next non-ping frame must be a close with `code`; then answer
        it and expect the server to close the TCP connection."""
        try:
            f = self.read_data_frame(timeout)
        except EOFError as e:
            raise AssertionError(f"connection closed without a close frame (expected code {code}): {e}")
        assert f.opcode == OP_CLOSE, f"expected a close frame with code {code}, got {f!r}"
        assert f.close_code == code, f"expected close code {code}, got {f.close_code} ({f.payload!r})"
        assert not f.masked, "server frames must not be masked"
        if echo:
            try:
                self.send_frame(OP_CLOSE, close_payload(code))
            except OSError:
                pass
        self.expect_eof(timeout)
        return f

    def expect_eof(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        try:
            rest, how = self.read_until_eof(deadline)
        except TimeoutError:
            raise AssertionError(f"server did not close the TCP connection within {timeout}s") from None
        return rest, how

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def handshake_request(authority, path="/ws/echo/", method="GET", version="HTTP/1.1",
                      key=None, headers=None, extra=()):
    """A WebSocket opening handshake as bytes.  `headers` maps header names
    (any case) to replacement values, None to drop one; `extra` appends
    (name, value) pairs."""
    base = [("Host", authority), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key or new_key()), ("Sec-WebSocket-Version", "13")]
    overrides = {k.lower(): v for k, v in (headers or {}).items()}
    lines = []
    seen = set()
    for name, value in base:
        if name.lower() in overrides:
            seen.add(name.lower())
            value = overrides[name.lower()]
            if value is None:
                continue
        lines.append(f"{name}: {value}")
    for name, value in overrides.items():
        if name not in seen and value is not None:
            lines.append(f"{name}: {value}")
    lines += [f"{n}: {v}" for n, v in extra]
    return (f"{method} {path} {version}\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw_handshake(port, path="/ws/echo/", rcvbuf=None, timeout=5.0, **kw):
    """Send a handshake on a new connection; returns (conn, response)."""
    kw.setdefault("key", new_key())
    conn = RawConn.connect(port, rcvbuf=rcvbuf)
    conn.send(handshake_request(f"127.0.0.1:{port}", path, **kw))
    resp = conn.read_response(timeout)
    conn.key = kw["key"]
    return conn, resp


def open_raw_ws(port, path="/ws/echo/", rcvbuf=None, **kw):
    """A raw WebSocket connection after a checked 101."""
    conn, resp = raw_handshake(port, path, rcvbuf=rcvbuf, **kw)
    assert resp.status == 101, f"handshake to {path} failed: {resp!r}"
    assert resp.header("sec-websocket-accept") == accept_for(conn.key), resp
    return conn


def http_request(port, data, timeout=5.0):
    """Send raw request bytes on a new connection and read one response."""
    with RawConn.connect(port) as conn:
        conn.send(data)
        return conn.read_response(timeout)


def http_get(port, path, headers=(), method="GET", timeout=5.0):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", *[f"{n}: {v}" for n, v in headers]]
    return http_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), timeout)


# --------------------------------------------------------------------------
# metrics


_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Prometheus text format -> {(name, frozenset(labels)): value}.  Every
    non-comment line must be a sample."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = {}
        if m.group(2):
            rest = m.group(2)
            pos = 0
            while pos < len(rest):
                lm = _LABEL_RE.match(rest, pos)
                assert lm, f"unparsable labels in {line!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    """One sample's value, or None if absent."""
    return samples.get((name, frozenset(labels.items())))


def get_metrics(port):
    r = http_get(port, "/metrics")
    assert r.status == 200, r
    return parse_metrics(r.body.decode("utf-8"))


def healthz(port):
    r = http_get(port, "/healthz")
    assert r.status == 200, r
    return r.json()


# --------------------------------------------------------------------------
# websockets clients


def ws_connect(url, **kw):
    """websockets.connect with test defaults: no client keepalive pings,
    bounded open/close timeouts."""
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    return websockets.connect(url, **kw)


async def recv_json(ws, timeout=10.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def chat(message):
    return json.dumps({"type": "chat_message", "message": message})
