"""Plugins built out of tree: `cmake --install` of the build under test to
a temporary prefix, then everything a plugin author does with it.

  * the installed files: binary, bundled plugins (not the test plugins),
    SDK headers, web UI, a config pointing at all of them, chanhost.pc and
    the CMake package;
  * `chanhost --version` names the ABI of sdk/chanhost.h;
  * the installed binary finds its plugins and config with no --config,
    while the build tree's binary keeps plugins/ next to itself;
  * examples/plugin-template, copied out of the source tree, built with
    CMake from CMAKE_PREFIX_PATH=<prefix> alone and with one cc line from
    pkg-config, never including anything from the source tree;
  * the INSTALLED host picks the built plugin up from its plugin_dir after
    a route line and SIGHUP, and a WebSocket client talks to it.

The build directory comes from CHANHOST_BUILD_DIR (tests/CMakeLists.txt).
"""

import os
import re

import pytest

import conftest
from conftest import PLUGIN_DIR, SOURCE_DIR, raw_handshake, recv_json, run, run_chanhost, ws_connect
from installkit import (BUILD_DIR, assert_built_from_the_install_only, build_out_of_tree,  # noqa: F401
                        check_run, clean_env, drop_in, installed)

TEMPLATE_DIR = SOURCE_DIR / "examples" / "plugin-template"
SDK_HEADERS = ("chanhost.h", "chanhost_schema.h", "chanhost_kit.h")


def header_abi():
    """(major, minor) as sdk/chanhost.h defines them."""
    text = (SOURCE_DIR / "sdk" / "chanhost.h").read_text()
    return tuple(int(re.search(rf"^#define CHANHOST_ABI_{p} +(\d+)", text, re.M).group(1))
                 for p in ("MAJOR", "MINOR"))


def project_version():
    text = (SOURCE_DIR / "CMakeLists.txt").read_text()
    return re.search(r"project\(chanhost VERSION (\S+)", text).group(1)


def shipped_plugins():
    """The plugin names plugins/*/CMakeLists.txt build."""
    names = set()
    for cml in SOURCE_DIR.glob("plugins/*/CMakeLists.txt"):
        names.update(re.findall(r"chanhost_plugin\((\w+)", cml.read_text()))
    return names


@pytest.fixture(scope="module")
def template_so(installed, tmp_path_factory):
    """examples/plugin-template copied out of the tree and built with CMake
    against the install only; returns (the .so, the compile commands)."""
    return build_out_of_tree(TEMPLATE_DIR, installed, tmp_path_factory.mktemp("template"),
                             "template")


def test_install_puts_everything_under_the_prefix(installed):
    assert os.access(installed.bin, os.X_OK)
    so = {p.stem for p in installed.plugin_dir.glob("*.so")}
    assert so == shipped_plugins(), f"installed plugins {so}"
    for name in SDK_HEADERS:
        assert (installed.prefix / "include" / "chanhost" / name).read_bytes() == \
            (SOURCE_DIR / "sdk" / name).read_bytes()
    web = installed.prefix / "share" / "chanhost" / "web"
    assert (web / "index.html").read_bytes() == (SOURCE_DIR / "web" / "index.html").read_bytes()
    assert (web / "msg" / "ui" / "threads" / "index.html").is_file()
    assert (installed.libdir / "cmake" / "chanhost" / "chanhostConfig.cmake").is_file()
    assert (installed.libdir / "cmake" / "chanhost" / "chanhostConfigVersion.cmake").is_file()

    # the config is etc/chanhost.conf with its paths pointing at the install
    state = installed.prefix / "var" / "lib" / "chanhost"
    assert state.is_dir()
    want = {"plugin_dir": f"plugin_dir {installed.plugin_dir}", "static_dir": f"static_dir {web}",
            "store": f"store sqlite:{state}/chanhost.db"}
    source = (SOURCE_DIR / "etc" / "chanhost.conf").read_text().splitlines()
    conf = installed.config.read_text().splitlines()
    assert len(conf) == len(source)
    changed = {a.split()[0]: b for a, b in zip(source, conf) if a != b}
    assert changed == want


def test_pkg_config_names_the_install(installed):
    cflags = installed.pkg_config("--cflags")
    assert f"-I{installed.prefix}/include/chanhost" in cflags.split(), cflags
    assert str(SOURCE_DIR) not in cflags and str(BUILD_DIR) not in cflags, cflags
    assert "-ljansson" in installed.pkg_config("--libs").split()
    assert installed.pkg_config("--variable=plugindir") == str(installed.plugin_dir)
    abi = (int(installed.pkg_config("--variable=abi_major")), int(installed.pkg_config("--variable=abi_minor")))
    assert abi == header_abi()
    assert installed.pkg_config("--modversion") == project_version()


def test_version_names_the_sdk_abi(installed):
    r = check_run([str(installed.bin), "--version"])
    major, minor = header_abi()
    assert r.stdout == f"chanhost {project_version()} (SDK ABI {major}.{minor})\n"


def test_installed_binary_defaults_to_its_plugins_and_config(installed, tmp_path):
    # no --config: the installed config, which loads every bundled plugin
    r = installed.check(cwd=tmp_path)
    n = len(shipped_plugins())
    assert re.search(rf"plugin\(s\) loaded from {re.escape(str(installed.plugin_dir))}$", r.stdout.strip()), r.stdout
    assert f"{n} plugin(s)" in r.stdout, r.stdout
    assert str(installed.config) in check_run([str(installed.bin), "--help"]).stdout

    # a config without plugin_dir: the installed plugins for the installed
    # binary, plugins/ next to the binary in the build tree
    conf = tmp_path / "echo.conf"
    conf.write_text("route /ws/echo/ echo\n")
    r = installed.check("--config", str(conf))
    assert r.stdout.strip().endswith(f"loaded from {installed.plugin_dir}"), r.stdout
    r = run_chanhost(["--check", "--config", str(conf)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(f"loaded from {os.path.realpath(PLUGIN_DIR)}"), r.stdout


def test_template_builds_with_cmake_against_the_install_only(installed, template_so):
    so, commands = template_so
    assert so.is_file()
    assert_built_from_the_install_only(installed, commands)
    exported = check_run(["nm", "-D", "--defined-only", str(so)]).stdout.split()
    assert "chanhost_plugin_descriptor" in exported
    assert not [s for s in exported if s.startswith("template_")], exported


def test_template_builds_with_one_cc_line_from_pkg_config(installed, tmp_path):
    out = tmp_path / "template.so"
    line = (f"cc -std=c11 -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror "
            f"$(pkg-config --cflags chanhost) -o {out} {TEMPLATE_DIR / 'template.c'} "
            f"$(pkg-config --libs chanhost)")
    check_run(["/bin/sh", "-c", line], env=clean_env(PKG_CONFIG_PATH=str(installed.pc_dir)))
    conf = tmp_path / "t.conf"
    conf.write_text(f"plugin_dir {tmp_path}\nroute /ws/template/ template\n")
    r = installed.check("--config", str(conf))
    assert "1 plugin(s) loaded" in r.stdout, r.stdout


def test_installed_host_serves_a_dropped_in_plugin_after_sighup(installed, template_so, make_host,
                                                                tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "BIN", str(installed.bin))
    drop = tmp_path / "plugins"
    drop.mkdir()
    h = make_host(plugin_dir=drop, routes=[])
    assert h.args[0] == str(installed.bin)
    conn, resp = raw_handshake(h.port, "/ws/template/")
    conn.close()
    assert resp.status == 404, resp

    mark = drop_in(h, template_so[0], drop, "template",
                   ["route /ws/template/ template", "plugin_setting template greeting installed"])
    h.wait_for(rf"plugin template 0\.1\.0 loaded from {re.escape(str(drop))}/template\.so", since=mark)

    async def talk():
        async with ws_connect(h.url("/ws/template/")) as ws:
            await ws.send("hi")
            first = await recv_json(ws)
            await ws.send("again")
            second = await recv_json(ws)
            await ws.send(b"\x00\x01")
            third = await recv_json(ws)
            return first, second, third

    first, second, third = run(talk())
    assert first == {"type": "reply", "greeting": "installed", "message": "hi", "count": 1}
    assert second == {"type": "reply", "greeting": "installed", "message": "again", "count": 2}
    assert third == {"type": "error", "error": "text messages only"}
