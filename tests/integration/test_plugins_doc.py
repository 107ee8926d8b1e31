"""docs/plugins.md says what compiles and runs:

  * its hello world is examples/hello/hello.c, whole, under 50 lines;
  * every other C block is a verbatim excerpt of examples/polls/polls.c
    (which test_polls.py builds and drives), so no snippet drifts from
    code that compiles;
  * the shell block that builds hello.c, run as written against a
    temporary install ($HOME/chanhost), gives a plugin the INSTALLED host
    serves after a drop-in and SIGHUP.
"""

import asyncio
import re
import shutil
import subprocess

import conftest
from conftest import SOURCE_DIR, run, ws_connect
from installkit import clean_env, drop_in, installed  # noqa: F401

DOC = SOURCE_DIR / "docs" / "plugins.md"
HELLO = SOURCE_DIR / "examples" / "hello" / "hello.c"
POLLS = SOURCE_DIR / "examples" / "polls" / "polls.c"


def blocks(lang):
    """The code blocks of the doc fenced with ```lang, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```$", DOC.read_text(), re.M | re.S)


def test_c_blocks_are_hello_whole_or_excerpts_of_polls():
    c = blocks("c")
    hello = HELLO.read_text()
    assert c and c[0] == hello, "the first C block is examples/hello/hello.c"
    assert len(hello.splitlines()) < 50
    polls = POLLS.read_text()
    for block in c[1:]:
        assert block in polls, f"not an excerpt of examples/polls/polls.c:\n{block}"


def test_the_documented_build_of_hello_is_served_by_the_installed_host(installed, make_host,
                                                                       tmp_path, monkeypatch):
    build = next(b for b in blocks("sh") if "hello.c" in b and "pkg-config" in b)
    home = tmp_path / "home"
    home.mkdir()
    (home / "chanhost").symlink_to(installed.prefix)
    assert installed.pc_dir == installed.prefix / "lib" / "pkgconfig", installed.pc_dir
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(HELLO, work / "hello.c")
    r = subprocess.run(["/bin/sh", "-ec", build], cwd=work, env=clean_env(HOME=str(home)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr

    monkeypatch.setattr(conftest, "BIN", str(installed.bin))
    drop = tmp_path / "plugins"
    drop.mkdir()
    h = make_host(plugin_dir=drop, routes=[])
    drop_in(h, work / "hello.so", drop, "hello", ["route /ws/hello/ hello"])

    async def talk():
        async with ws_connect(h.url("/ws/hello/")) as ws:
            await ws.send("world")
            return await asyncio.wait_for(ws.recv(), 10)

    assert run(talk()) == "hello, world"
