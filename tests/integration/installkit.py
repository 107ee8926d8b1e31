"""Helpers for tests of chanhost as a plugin author meets it: an install
to a temporary prefix, plugins built out of tree against that install
only, and a built plugin dropped into a running host.

Used by test_install.py (the plugin template) and test_polls.py (the polls
example).  The build directory comes from CHANHOST_BUILD_DIR
(tests/CMakeLists.txt).
"""

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import SOURCE_DIR

BUILD_DIR = Path(os.environ.get("CHANHOST_BUILD_DIR") or SOURCE_DIR / "build")


def clean_env(**extra):
    """The environment without anything that points a build elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CMAKE_PREFIX_PATH", "PKG_CONFIG_PATH", "CPATH", "C_INCLUDE_PATH", "CFLAGS")}
    env.update(extra)
    return env


def check_run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


class Install:
    """An installed tree and where things are in it."""

    def __init__(self, prefix):
        self.prefix = prefix
        pcs = list(prefix.glob("**/pkgconfig/chanhost.pc"))
        assert len(pcs) == 1, f"expected one chanhost.pc under {prefix}: {pcs}"
        self.pc_dir = pcs[0].parent
        self.libdir = self.pc_dir.parent
        self.bin = prefix / "bin" / "chanhost"
        self.plugin_dir = self.libdir / "chanhost" / "plugins"
        self.config = prefix / "etc" / "chanhost" / "chanhost.conf"

    def check(self, *args, cwd=None):
        """The installed binary's --check with args; must succeed."""
        return check_run([str(self.bin), "--check", *args], cwd=cwd)

    def pkg_config(self, *args):
        env = clean_env(PKG_CONFIG_PATH=str(self.pc_dir))
        return check_run(["pkg-config", *args, "chanhost"], env=env).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`cmake --install` of the build under test to a temporary prefix."""
    prefix = tmp_path_factory.mktemp("prefix")
    check_run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(prefix)])
    return Install(prefix)


def build_out_of_tree(source, installed, work, name, defines=()):
    """Copy the CMake project `source` to work/src and build it in
    work/build with CMAKE_PREFIX_PATH=<the install> and nothing else (plus
    -D`defines`).  Returns (work/build/<name>.so, the compile commands)."""
    src = work / "src"
    shutil.copytree(source, src)
    build = work / "build"
    check_run(["cmake", "-S", str(src), "-B", str(build), f"-DCMAKE_PREFIX_PATH={installed.prefix}",
               "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", *[f"-D{d}" for d in defines]], env=clean_env())
    check_run(["cmake", "--build", str(build)], env=clean_env())
    return build / f"{name}.so", json.loads((build / "compile_commands.json").read_text())


def assert_built_from_the_install_only(installed, commands):
    """Every compile command includes the install's SDK and nothing from
    the source or build tree."""
    assert commands, "no compile commands"
    for c in commands:
        cmd = c.get("command") or " ".join(c["arguments"])
        assert str(SOURCE_DIR) not in cmd and str(BUILD_DIR) not in cmd, cmd
        assert f"{installed.prefix}/include/chanhost" in cmd, cmd


def drop_in(h, so, plugin_dir, name, config_lines=()):
    """Put the built plugin `so` into plugin_dir as <name>.so the way build
    tools do (written beside it, renamed over it), append config_lines to
    the running host h's config, send SIGHUP and await the reload and the
    plugin's load line.  Returns the log mark taken before the signal."""
    tmp = plugin_dir / f".{name}.so.tmp"
    shutil.copyfile(so, tmp)
    os.replace(tmp, plugin_dir / f"{name}.so")
    if config_lines:
        with open(h.config_path, "a") as f:
            f.write("".join(f"{line}\n" for line in config_lines))
    mark = h.mark()
    h.send_signal(signal.SIGHUP)
    m = h.wait_for(r"configuration reloaded|configuration reload refused", since=mark, timeout=30)
    assert "reloaded" in m.group(0), h.tail()
    h.wait_for(rf"plugin {name} \S+ loaded from {re.escape(str(plugin_dir))}/{name}\.so",
               since=mark)
    return mark
