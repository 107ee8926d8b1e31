"""The developer loop: hot reload of rebuilt plugins (keep, restart,
adopt), refusal of broken builds and broken configs, drop-in plugins after
SIGHUP, and many reloads under load without losing a connection.

A test plugin (tests/integration/data/hot.c) is compiled here with cc and
-I sdk only, answering REPLY + text, so a client can tell which build
answers it.  Builds are installed the way build tools do it: written next
to the target and renamed over it.
"""

import asyncio
import json
import os
import re
import signal
import subprocess
import urllib.request

import pytest

from conftest import SOURCE_DIR, run, ws_connect

HOT_SRC = SOURCE_DIR / "tests" / "integration" / "data" / "hot.c"
SDK = SOURCE_DIR / "sdk"


def build(out, reply, adopt=False, tmpdir=None):
    """Compile hot.c answering `reply` and rename it over `out`."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    r = subprocess.run(["cc", "-std=gnu11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Wshadow",
                        "-Wmissing-prototypes", "-Wstrict-prototypes", "-Werror",
                        "-I", str(SDK), f"-DREPLY=\"{reply}\"", f"-DWITH_ADOPT={int(adopt)}",
                        "-o", str(tmp), str(HOT_SRC), "-ljansson"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    os.replace(tmp, out)


def reload_config(h, since):
    h.proc.send_signal(signal.SIGHUP)
    return h.wait_for(r"configuration reloaded|configuration reload refused", since=since)


def dev_plugins(h):
    with urllib.request.urlopen(f"http://127.0.0.1:{h.port}/dev/plugins", timeout=5) as r:
        return json.loads(r.read())["plugins"]


async def ask(ws, text="x"):
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), 5)


@pytest.fixture
def hot_host(make_host, tmp_path):
    """A --dev host serving the hot plugin on a keep and a restart route."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build(plugins / "hot.so", "v1:")

    def start(extra_routes=(), args=("--dev",)):
        routes = ["/ws/keep/ hot reload=keep", "/ws/restart/ hot reload=restart", *extra_routes]
        return make_host(plugin_dir=plugins, routes=routes, args=args)

    start.plugins = plugins
    return start


def test_rebuilt_plugin_keep_and_restart(hot_host):
    h = hot_host()

    async def main():
        async with ws_connect(h.url("/ws/keep/")) as kept, ws_connect(h.url("/ws/restart/")) as restarted:
            assert await ask(kept) == "v1:x"
            assert await ask(restarted) == "v1:x"
            mark = h.mark()
            build(hot_host.plugins / "hot.so", "v2:")
            h.wait_for(r"plugin hot reloaded: generation 2", since=mark)
            # reload=restart: the old connection is closed with 1012
            await asyncio.wait_for(restarted.wait_closed(), 5)
            assert restarted.close_code == 1012
            # reload=keep: the old connection keeps the old code
            assert await ask(kept) == "v1:x"
            async with ws_connect(h.url("/ws/keep/")) as fresh:
                assert await ask(fresh) == "v2:x"
            async with ws_connect(h.url("/ws/restart/")) as fresh:
                assert await ask(fresh) == "v2:x"
            gens = {p["generation"]: p for p in dev_plugins(h)}
            assert gens[1]["connections"] == 1 and not gens[1]["current"]
            assert gens[2]["current"]
        # the last connection of generation 1 is gone: it is unloaded
        mark = h.mark()
        async with ws_connect(h.url("/ws/keep/")) as probe:
            assert await ask(probe) == "v2:x"
        assert [p["generation"] for p in dev_plugins(h)] == [2]

    run(main())


def test_new_version_can_adopt_old_connections(hot_host):
    h = hot_host()

    async def main():
        async with ws_connect(h.url("/ws/keep/")) as ws:
            assert await ask(ws) == "v1:x"
            mark = h.mark()
            build(hot_host.plugins / "hot.so", "v2:", adopt=True)
            h.wait_for(r"plugin hot reloaded: generation 2", since=mark)
            assert await ask(ws) == "v2:x"
            assert [p["generation"] for p in dev_plugins(h)] == [2]

    run(main())


def test_broken_build_is_refused_and_old_keeps_serving(hot_host):
    h = hot_host()

    async def main():
        async with ws_connect(h.url("/ws/keep/")) as ws:
            mark = h.mark()
            tmp = hot_host.plugins / ".broken"
            tmp.write_bytes(b"\x7fELF this is not a shared object")
            os.replace(tmp, hot_host.plugins / "hot.so")
            h.wait_for(r"plugin 'hot'.*dlopen failed.*running version keeps serving", since=mark)
            assert await ask(ws) == "v1:x"
            async with ws_connect(h.url("/ws/keep/")) as fresh:
                assert await ask(fresh) == "v1:x"

    run(main())
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{h.port}/metrics", timeout=5).read().decode()
    assert re.search(r"^chanhost_plugin_load_failures_total [1-9]", metrics, re.M)


def test_config_error_is_refused_with_file_and_line(hot_host):
    h = hot_host(args=())
    cfg = h.config_path
    good = cfg.read_text()
    cfg.write_text(good + "max_message_size 12q\nroute /ws/nope/ hot\n")
    line = len(good.splitlines()) + 1
    mark = h.mark()
    reload_config(h, mark)
    h.wait_for(re.escape(f"{cfg}:{line}:") + r" max_message_size", since=mark)
    h.wait_for(r"configuration reload refused", since=mark)

    async def main():
        async with ws_connect(h.url("/ws/keep/")) as ws:
            assert await ask(ws) == "v1:x"

    run(main())
    # the refused file's route was not applied
    with pytest.raises(Exception):
        run(ask_once(h.url("/ws/nope/")))


async def ask_once(url):
    async with ws_connect(url) as ws:
        return await ask(ws)


def test_dropped_in_plugin_serves_after_sighup(hot_host):
    h = hot_host(args=())
    extra = hot_host.plugins / "extra.so"
    build(extra, "extra:")   # its descriptor is named "hot"; the file name is what routes use
    with pytest.raises(Exception):
        run(ask_once(h.url("/ws/extra/")))
    with open(h.config_path, "a") as f:
        f.write("route /ws/extra/ extra\n")
    mark = h.mark()
    assert "reloaded" in reload_config(h, mark).group(0)
    assert run(ask_once(h.url("/ws/extra/"))) == "extra:x"
    assert run(ask_once(h.url("/ws/keep/"))) == "v1:x"


def test_restart_only_settings_are_reported(hot_host):
    h = hot_host(args=())
    with open(h.config_path, "a") as f:
        f.write("listen 127.0.0.1:1\n")
    mark = h.mark()
    reload_config(h, mark)
    h.wait_for(r"listen changed; that needs a restart", since=mark)
    assert run(ask_once(h.url("/ws/keep/"))) == "v1:x"


def test_store_limits_changed_by_sighup_are_reported(hot_host):
    h = hot_host(args=())
    with open(h.config_path, "a") as f:
        f.write("store_queue_max 500\nstore_batch_max 16\n")
    mark = h.mark()
    assert "reloaded" in reload_config(h, mark).group(0)
    h.wait_for(r"config reload: store_queue_max changed; that needs a restart \(kept 0\)",
               since=mark)
    h.wait_for(r"config reload: store_batch_max changed; that needs a restart \(kept 0\)",
               since=mark)
    # a second reload of the same file reports them again: the running values stay
    mark = h.mark()
    reload_config(h, mark)
    h.wait_for(r"store_queue_max changed; that needs a restart \(kept 0\)", since=mark)
    assert run(ask_once(h.url("/ws/keep/"))) == "v1:x"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_fifty_reloads_under_two_hundred_clients(hot_host):
    h = hot_host()

    async def main():
        clients = [await ws_connect(h.url("/ws/keep/")) for _ in range(200)]
        try:
            replies = await asyncio.gather(*(ask(ws) for ws in clients))
            assert set(replies) == {"v1:x"}
            fds_before = fd_count(h.proc.pid)
            for gen in range(2, 52):
                mark = h.mark()
                build(hot_host.plugins / "hot.so", f"v{gen}:")
                h.wait_for(rf"plugin hot reloaded: generation {gen}\b", since=mark, timeout=30)
            # no connection lost: every client still answers from generation 1
            replies = await asyncio.gather(*(ask(ws) for ws in clients))
            assert set(replies) == {"v1:x"}
            assert all(ws.open for ws in clients)
            assert fd_count(h.proc.pid) == fds_before   # before any HTTP request below
            live = {p["generation"]: p["connections"] for p in dev_plugins(h)}
            assert live == {1: 200, 51: 0}, live   # 2..50 were unloaded
            async with ws_connect(h.url("/ws/keep/")) as fresh:
                assert await ask(fresh) == "v51:x"
        finally:
            await asyncio.gather(*(ws.close() for ws in clients))

    run(main(), timeout=300)


def test_dev_mode_reloads_an_edited_config(hot_host):
    h = hot_host()   # --dev watches the config file too
    with pytest.raises(Exception):
        run(ask_once(h.url("/ws/later/")))
    mark = h.mark()
    text = h.config_path.read_text() + "route /ws/later/ hot\n"
    tmp = h.config_path.with_name(".edited")
    tmp.write_text(text)
    os.replace(tmp, h.config_path)          # as editors save
    h.wait_for(r"configuration reloaded \(file change\)", since=mark)
    assert run(ask_once(h.url("/ws/later/"))) == "v1:x"
