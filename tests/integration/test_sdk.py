"""The SDK as a plugin author meets it: plugins build against sdk/ alone,
and the README's tutorial plugin compiles and works as described."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from conftest import PLUGIN_DIR, SOURCE_DIR, TEST_PLUGIN_DIR, run, ws_connect

import asyncio

SDK = SOURCE_DIR / "sdk"


def compile_plugin(src, out):
    """cc -shared with -I sdk and nothing else from this repository."""
    r = subprocess.run(["cc", "-std=gnu11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Wshadow",
                        "-Wmissing-prototypes", "-Wstrict-prototypes", "-Werror",
                        "-I", str(SDK), "-o", str(out), str(src), "-ljansson"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{src} does not build against sdk/ alone:\n{r.stderr}"


def test_every_shipped_plugin_builds_against_sdk_alone(tmp_path):
    sources = sorted((SOURCE_DIR / "plugins").glob("*/*.c"))
    assert sources, "no plugin sources found"
    for src in sources:
        text = src.read_text()
        assert not re.search(r'#include\s*"[^"]*host/', text), f"{src} includes host internals"
        compile_plugin(src, tmp_path / (src.stem + ".so"))


def readme_plugin_source():
    readme = (SOURCE_DIR / "README.md").read_text()
    blocks = re.findall(r"```c\n(.*?)```", readme, re.S)
    assert len(blocks) == 1, "the README should hold exactly one C block, the tutorial plugin"
    return blocks[0]


def test_readme_tutorial_plugin_works(make_host, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    src = tmp_path / "lengths.c"
    src.write_text(readme_plugin_source())
    compile_plugin(src, plugins / "lengths.so")
    shutil.copy(Path(PLUGIN_DIR) / "echo.so", plugins / "echo.so")
    h = make_host(plugin_dir=plugins, routes=["/ws/lengths/<slug:room>/ lengths"])
    h.wait_for(r"plugin lengths 1\.0 loaded")

    async def main():
        async with ws_connect(h.url("/ws/lengths/blue/")) as a, \
                ws_connect(h.url("/ws/lengths/blue/")) as b, \
                ws_connect(h.url("/ws/lengths/red/")) as other:
            await a.send("hello")
            for ws in (a, b):
                got = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert got == {"type": "length", "length": 5}
            # the red room's first message is its own: blue's never came
            await other.send("xy")
            got = json.loads(await asyncio.wait_for(other.recv(), 5))
            assert got == {"type": "length", "length": 2}

    run(main())
    h.stop()
    h.wait_for(r"\[lengths\] gone with 100[01]")


def test_older_minor_plugin_loads_and_sends_over_the_limit_are_refused(make_host, tmp_path):
    """oldabi (tests/plugins/oldabi.c) is built as for SDK 1.0: a shorter
    descriptor, no connect/disconnect.  The host loads it and accepts for
    it; what it sends beyond max_message_size comes back as
    CHANHOST_ERR_TOO_BIG (-90) and never reaches the client."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(Path(PLUGIN_DIR) / "echo.so", plugins / "echo.so")
    shutil.copy(Path(TEST_PLUGIN_DIR) / "oldabi.so", plugins / "oldabi.so")
    h = make_host(["max_message_size 1kb"], plugin_dir=plugins, routes=["/ws/old/ oldabi"])
    h.wait_for(r"plugin oldabi 1\.0\.0 loaded")

    async def probe(ws, n):
        await ws.send(str(n))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))

    async def main():
        async with ws_connect(h.url("/ws/old/")) as ws:
            assert await probe(ws, 2000) == {"type": "sizes", "send_text": -90, "group_send": -90,
                                             "error": "message larger than max_message_size",
                                             "has_user": True}
            await ws.send("1024")
            assert await asyncio.wait_for(ws.recv(), 5) == "x" * 1024
            # the group message's JSON is longer than its 1024-byte pad
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {
                "type": "sizes", "send_text": 0, "group_send": -90, "error": "success",
                "has_user": True}
            await ws.send("10")
            assert await asyncio.wait_for(ws.recv(), 5) == "x" * 10
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["group_send"] == 0

    run(main())
    h.wait_for(r"WebSocket DISCONNECT /ws/old/")
    assert h.stop() == 0, h.tail()
