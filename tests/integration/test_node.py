"""A second, independent client implementation: Node's `ws` package, run
as `node tests/integration/node/<script>.mjs URL` so that CTest stays the
one entry point.  The npm dependencies must be installed beforehand
(`npm ci --prefix tests/integration/node`); without them these tests fail,
they do not skip."""

import shutil
import subprocess

import pytest

from conftest import NODE_DIR


def node_script(name, *args, timeout=60):
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed (Debian: apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        pytest.fail(f"{NODE_DIR}/node_modules/ws is missing: run `npm ci --prefix tests/integration/node`")
    r = subprocess.run([node, str(NODE_DIR / name), *args], cwd=NODE_DIR, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"node {name} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    assert r.stdout.startswith("ok "), r.stdout
    return r.stdout


def test_node_echo_text_and_binary(host):
    out = node_script("echo.mjs", host.url("/ws/echo/"))
    assert "ok echo" in out


def test_node_broadcast_room_of_50(host):
    since = host.mark()
    out = node_script("broadcast.mjs", host.url("/ws/broadcast/31/"), "50")
    assert "ok broadcast 50 clients" in out
    host.wait_for(r"WebSocket DISCONNECT /ws/broadcast/31/ .*code=1000", since=since, count=50)
