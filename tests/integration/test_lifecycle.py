"""The process: command line, --check, plugin loading failures, busy port,
graceful shutdown on SIGTERM/SIGINT."""

import asyncio
import os
import re
import shutil
import signal
import time

import pytest
import websockets

from conftest import (
    PLUGIN_DIR,
    TEST_PLUGIN_DIR,
    config_text,
    healthz,
    open_raw_ws,
    raw_handshake,
    run,
    run_chanhost,
    sanitizer_report,
    ws_connect,
)


def output_of(proc):
    return (proc.stdout or "") + "\n" + (proc.stderr or "")


def assert_no_sanitizer(text):
    bad = sanitizer_report(text)
    assert not bad, f"sanitizer report ({bad}):\n{text}"


# --------------------------------------------------------------------------
# command line


def test_help():
    r = run_chanhost(["--help"])
    out = output_of(r)
    assert r.returncode == 0, out
    assert "--config" in out and "--check" in out, out


def test_unknown_option_is_refused():
    r = run_chanhost(["--definitely-not-an-option", "x"])
    out = output_of(r)
    assert r.returncode != 0, out
    assert "definitely-not-an-option" in out, out
    assert_no_sanitizer(out)


def test_bind_and_port_on_command_line(make_host):
    h = make_host(listen=None, args=["-b", "127.0.0.1", "-p", "0"])
    assert h.port and h.port != 8000

    async def main():
        async with ws_connect(h.url()) as ws:
            await ws.send("via -p 0")
            assert await asyncio.wait_for(ws.recv(), 5) == "via -p 0"

    run(main())


def test_directives_on_command_line(make_host):
    h = make_host(["max_message_size 64kb"],
                  args=["--route", "/ws/extra/ echo", "--plugin_setting", "echo prefix p:",
                        "--max_message_size", "1kb"])

    async def main():
        # --route adds to the file's routes
        for path in ("/ws/echo/", "/ws/extra/"):
            async with ws_connect(h.url(path)) as ws:
                await ws.send("hi")
                assert await asyncio.wait_for(ws.recv(), 5) == "p:hi"
        # --max_message_size overrides the file's 64kb
        async with ws_connect(h.url()) as ws:
            await ws.send("z" * 2000)
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1009

    run(main())


# --------------------------------------------------------------------------
# --check


def test_check_good_config(tmp_path):
    cfg = tmp_path / "good.conf"
    cfg.write_text(config_text(["max_message_size 64kb", "ping_interval 1s", "ping_timeout 1s",
                                "handshake_timeout 1s", "max_outbound_bytes 64kb",
                                'plugin_setting echo prefix "x:"', "allowed_origins https://chat.example.com",
                                "require_origin yes", "verbosity 2", "# a comment"]))
    r = run_chanhost(["--check", "--config", str(cfg)])
    out = output_of(r)
    assert r.returncode == 0, out
    assert re.search(r"(?i)\bok\b|valid", out), f"no OK line: {out!r}"
    assert_no_sanitizer(out)


def test_check_reports_every_error_with_file_and_line(tmp_path):
    cfg = tmp_path / "bad.conf"
    cfg.write_text("listen 127.0.0.1:0\n"
                   f"plugin_dir {PLUGIN_DIR}\n"
                   "frobnicate yes\n"                        # line 3: unknown directive
                   "route /ws/echo/ echo\n"
                   "max_message_size 12parsecs\n")           # line 5: bad size
    r = run_chanhost(["--check", "--config", str(cfg)])
    out = output_of(r)
    assert r.returncode != 0, out
    assert f"{cfg}:3:" in out, out
    assert f"{cfg}:5:" in out, out
    assert "frobnicate" in out, out
    assert_no_sanitizer(out)


def test_bad_config_refuses_to_start(tmp_path):
    cfg = tmp_path / "bad.conf"
    cfg.write_text(config_text(["frobnicate yes"]))
    t0 = time.monotonic()
    r = run_chanhost(["--config", str(cfg)], timeout=10)
    out = output_of(r)
    assert r.returncode != 0, out
    assert time.monotonic() - t0 < 5
    assert f"{cfg}:" in out and "frobnicate" in out, out
    assert "Listening on" not in out, out


def test_check_missing_config_file(tmp_path):
    missing = tmp_path / "nope.conf"
    r = run_chanhost(["--check", "--config", str(missing)])
    out = output_of(r)
    assert r.returncode != 0, out
    assert str(missing) in out, out


# --------------------------------------------------------------------------
# plugins that cannot be loaded

# (route's plugin name, test plugin to copy as <name>.so or None for a
#  missing file, what the refusal must mention)
BROKEN = [
    ("from_the_future", "bad_abi.so", r"(?i)abi"),
    ("next_minor", "new_minor.so",
     r"built for SDK 1\.\d+, this host speaks 1\.\d+ \(upgrade the host or rebuild"),
    ("nosym", "no_descriptor.so", r"chanhost_plugin_descriptor"),
    ("refuser", "init_fails.so", r"(?i)init"),
    ("ghost", None, r"(?i)\.so\b|no such file|not found|missing|cannot open|does not exist"),
]


@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "plugins"
    d.mkdir()
    echo = os.path.join(PLUGIN_DIR, "echo.so")
    assert os.path.isfile(echo), f"{echo} is not built"
    shutil.copy(echo, d / "echo.so")
    for name, src, _ in BROKEN:
        if src:
            path = os.path.join(TEST_PLUGIN_DIR, src)
            assert os.path.isfile(path), f"test plugin {path} is not built (tests/plugins/*.c)"
            shutil.copy(path, d / f"{name}.so")
    return d


def refusal_lines(text, name, keyword):
    return [l for l in text.splitlines() if name in l and re.search(keyword, l.replace(name, ""))]


@pytest.mark.parametrize("name,src,keyword", BROKEN, ids=[b[0] for b in BROKEN])
def test_check_refuses_broken_plugin(tmp_path, plugin_dir, name, src, keyword):
    cfg = tmp_path / "p.conf"
    cfg.write_text(config_text(plugin_dir=plugin_dir, routes=["/ws/echo/ echo", f"/ws/broken/ {name}"]))
    r = run_chanhost(["--check", "--config", str(cfg)])
    out = output_of(r)
    assert r.returncode != 0, out
    assert refusal_lines(out, name, keyword), f"no line naming {name!r} and matching /{keyword}/:\n{out}"
    assert_no_sanitizer(out)


@pytest.mark.parametrize("name,src,keyword", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_plugin_is_refused_and_host_keeps_serving(make_host, plugin_dir, name, src, keyword):
    h = make_host(plugin_dir=plugin_dir, routes=["/ws/echo/ echo", f"/ws/broken/ {name}"])
    assert refusal_lines(h.stderr_text(), name, keyword), \
        f"no log line naming {name!r} and matching /{keyword}/:\n{h.stderr_text()}"

    conn, resp = raw_handshake(h.port, "/ws/broken/")
    conn.close()
    assert resp.status == 503, resp

    async def main():
        async with ws_connect(h.url()) as ws:
            await ws.send("echo survives")
            assert await asyncio.wait_for(ws.recv(), 5) == "echo survives"

    run(main())
    assert healthz(h.port)["status"] == "ok"


def test_good_plugin_in_copied_dir_loads(tmp_path, plugin_dir):
    cfg = tmp_path / "ok.conf"
    cfg.write_text(config_text(plugin_dir=plugin_dir, routes=["/ws/echo/ echo"]))
    r = run_chanhost(["--check", "--config", str(cfg)])
    assert r.returncode == 0, output_of(r)


# --------------------------------------------------------------------------
# busy port


@pytest.mark.parametrize("how", ["config", "command line"])
def test_busy_port(make_host, tmp_path, how):
    h = make_host()
    cfg = tmp_path / "second.conf"
    if how == "config":
        cfg.write_text(config_text(listen=f"127.0.0.1:{h.port}"))
        args = ["--config", str(cfg)]
    else:
        cfg.write_text(config_text(listen=None))
        args = ["--config", str(cfg), "-b", "127.0.0.1", "-p", str(h.port)]
    t0 = time.monotonic()
    r = run_chanhost(args, timeout=15)
    elapsed = time.monotonic() - t0
    out = output_of(r)
    assert r.returncode != 0, out
    assert elapsed < 5, f"took {elapsed:.1f}s to give up"
    lines = [l for l in r.stderr.splitlines() if "in use" in l.lower()]
    assert len(lines) == 1, f"expected one 'in use' line on stderr:\n{r.stderr}"
    assert f"127.0.0.1:{h.port}" in lines[0], lines[0]
    assert "Listening on" not in out, out
    assert_no_sanitizer(out)
    # the first host is untouched
    assert healthz(h.port)["status"] == "ok"


# --------------------------------------------------------------------------
# graceful shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_closes_clients_1001(make_host, sig):
    h = make_host()

    async def main():
        clients = [await ws_connect(h.url()) for _ in range(3)]
        clients += [await ws_connect(h.url("/ws/broadcast/4/")) for _ in range(2)]
        for ws in clients[:3]:
            await ws.send("before shutdown")
            assert await ws.recv() == "before shutdown"
        raw = await asyncio.to_thread(open_raw_ws, h.port)
        try:
            h.send_signal(sig)
            await asyncio.gather(*[asyncio.wait_for(ws.wait_closed(), 15) for ws in clients])
            codes = [ws.close_code for ws in clients]
            assert codes == [1001] * len(clients), codes
            await asyncio.to_thread(raw.expect_close, 1001, 15)
        finally:
            raw.close()
        rc = await asyncio.to_thread(h.wait_exit, 30)
        assert rc == 0, h.tail()

    run(main())


def test_shutdown_without_clients_is_prompt(make_host):
    h = make_host()
    t0 = time.monotonic()
    rc = h.stop(signal.SIGTERM, timeout=15)
    assert rc == 0, h.tail()
    assert time.monotonic() - t0 < 5


def test_shutdown_does_not_wait_forever_for_a_silent_client(make_host):
    h = make_host(["shutdown_timeout 2s"])
    raw = open_raw_ws(h.port)
    try:
        t0 = time.monotonic()
        h.send_signal(signal.SIGTERM)
        # read the close frame but never answer it nor close the socket
        f = raw.read_frame(timeout=10)
        assert f.close_code == 1001, f
        rc = h.wait_exit(15)
        elapsed = time.monotonic() - t0
        assert rc == 0, h.tail()
        assert elapsed < 6, f"exit took {elapsed:.1f}s with shutdown_timeout 2s"
    finally:
        raw.close()
