"""Timers and the loop for plugins (SDK 1.2): api->timer_start/timer_stop,
and api->loop_post from a plugin's own worker thread.

The test plugin tests/plugins/ticker.c (built by CMake; for the reload test
compiled here twice with cc and -I sdk only, as generation 1 and 2) ticks
on every connection, fires one-shot timers, stops timers on request, and
runs a worker thread whose results reach the client through loop_post.
Every wait is for a frame or a log line with a deadline.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from conftest import SOURCE_DIR, TEST_PLUGIN_DIR, run, ws_connect

TICKER_SRC = SOURCE_DIR / "tests" / "plugins" / "ticker.c"
SDK = SOURCE_DIR / "sdk"


def build_ticker(out, gen):
    """Compile ticker.c as generation `gen` and rename it over `out`."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    r = subprocess.run(["cc", "-std=gnu11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Wshadow",
                        "-Wmissing-prototypes", "-Wstrict-prototypes", "-Werror", "-pthread",
                        "-I", str(SDK), f"-DTICKER_GEN={gen}", "-o", str(tmp), str(TICKER_SRC),
                        "-ljansson"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    os.replace(tmp, out)


async def next_json(ws, timeout=5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until(ws, pred, timeout=5.0, skip=("tick", "beat")):
    """Frames until one satisfies pred; only the `skip` types may come
    before it.  Returns (that frame, the frames skipped)."""
    skipped = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        m = await next_json(ws, max(0.01, deadline - loop.time()))
        if pred(m):
            return m, skipped
        assert m["type"] in skip, f"unexpected frame {m} while waiting"
        skipped.append(m)


def ticker_host(make_host, tmp_path, args=()):
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    shutil.copy(Path(TEST_PLUGIN_DIR) / "ticker.so", plugins / "ticker.so")
    h = make_host(plugin_dir=plugins, routes=["/ws/tick/ ticker reload=keep"], args=args)
    h.wait_for(r"\[ticker\] generation 1 started")
    return h


def test_repeating_and_one_shot_timers_then_stop(make_host, tmp_path):
    h = ticker_host(make_host, tmp_path)

    async def main():
        async with ws_connect(h.url("/ws/tick/?every=15")) as ws:
            seen = {}
            ticks = []
            while not ({"once", "later"} <= seen.keys() and len(ticks) >= 3):
                m = await next_json(ws)
                assert m["type"] in ("tick", "once", "later"), m
                if m["type"] == "tick":
                    ticks.append(m["n"])
                else:
                    assert m["type"] not in seen, f"one-shot {m} fired twice"
                seen[m["type"]] = m
            assert ticks == list(range(1, len(ticks) + 1))
            # timer_stop: after "stopped" the next frame is "quiet" (5 periods
            # later): no tick, and never the stopped-at-once timer
            await ws.send("stop")
            stopped, _ = await until(ws, lambda m: m["type"] == "stopped", skip=("tick",))
            quiet = await next_json(ws)
            assert quiet == {"type": "quiet"}, quiet
            assert stopped["ticks"] >= 3
            # the connection still works, and still no tick comes
            await ws.send("ping")
            assert await next_json(ws) == {"type": "pong", "gen": 1}

    run(main())


def test_worker_thread_results_come_back_through_loop_post_in_order(make_host, tmp_path):
    h = ticker_host(make_host, tmp_path)
    words = [f"job{i}" for i in range(20)]

    async def main():
        async with ws_connect(h.url("/ws/tick/?every=1000")) as ws:
            for w in words:
                await ws.send(f"work:{w}")
            got = []
            while len(got) < len(words):
                m, _ = await until(ws, lambda m: m["type"] == "worked",
                                   skip=("tick", "once", "later"))
                got.append(m)
            assert [m["text"] for m in got] == [w.upper() for w in words]
            assert all(m["on_loop"] for m in got), got

    run(main())
    # fini joins the worker and frees its poster; the host cancels the beat
    h.stop()
    h.wait_for(r"\[ticker\] generation 1 fini")
    h.wait_for(r"plugin ticker 1\.0\.1 unloaded \(generation 1; 1 timer\(s\) cancelled\)")


def test_reload_unloads_old_version_and_cancels_its_timers(make_host, tmp_path):
    """Timers do not keep a version loaded: generation 1 goes when its last
    connection does, and its version-wide beat timer (which its fini leaves
    running) is cancelled by the host; no gen-1 beat comes after that."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build_ticker(plugins / "ticker.so", 1)
    h = make_host(plugin_dir=plugins, routes=["/ws/tick/ ticker reload=keep"])

    async def main():
        async with ws_connect(h.url("/ws/tick/?every=1000&beats=1")) as old:
            m, _ = await until(old, lambda m: m["type"] == "beat",
                               skip=("tick", "once", "later"))
            assert m["gen"] == 1
            mark = h.mark()
            build_ticker(plugins / "ticker.so", 2)
            h.proc.send_signal(signal.SIGHUP)
            await h.await_log(r"plugin ticker reloaded: generation 2", since=mark)
            async with ws_connect(h.url("/ws/tick/?every=1000&beats=1")) as new:
                await new.send("ping")
                pong, _ = await until(new, lambda m: m["type"] == "pong",
                                      skip=("tick", "once", "later", "beat"))
                assert pong["gen"] == 2
                # both generations beat while both are loaded
                gens = set()
                while gens != {1, 2}:
                    m, _ = await until(new, lambda m: m["type"] == "beat",
                                       skip=("tick", "once", "later"))
                    gens.add(m["gen"])
                # generation 1's old connection stays with it
                await old.send("ping")
                pong, _ = await until(old, lambda m: m["type"] == "pong",
                                      skip=("tick", "once", "later", "beat"))
                assert pong["gen"] == 1
                mark = h.mark()
                await old.close()
                await h.await_log(r"\[ticker\] generation 1 fini", since=mark)
                await h.await_log(r"plugin ticker 1\.0\.1 unloaded \(generation 1; "
                                  r"1 timer\(s\) cancelled\)", since=mark)
                # every frame queued after the unload comes after this pong
                # (the memory layer delivers at once): from here on, gen 2 only
                await new.send("ping")
                await until(new, lambda m: m["type"] == "pong",
                            skip=("tick", "once", "later", "beat"))
                beats = 0
                while beats < 5:
                    m, _ = await until(new, lambda m: m["type"] == "beat",
                                       skip=("tick", "once", "later"))
                    assert m["gen"] == 2, f"generation 1 beat after its unload: {m}"
                    beats += 1

    run(main())
