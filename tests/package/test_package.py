"""The Debian package as an operator meets it (issue 17, item 1): built
by scripts/package (CPack), installed with apt-get, its unit checked by
systemd-analyze verify, run, chatted through with python3-websockets,
reloaded, upgraded to a package of a higher revision (data, keys, token
secret and an edited conffile survive; the old messages are still
there), removed (data kept) and purged (data and user gone).

Who runs the service depends on the machine:
- without systemd as PID 1 (a container): the test runs the unit's
  ExecStart line itself as the chanhost user with NOTIFY_SOCKET, on a
  port of its own (ByHand);
- with systemd as PID 1 (/run/systemd/system): the postinst enabled and
  started chanhost.service on the installed config's address
  (127.0.0.1:8000), the upgrade's postinst restarts it and the prerm of
  the removal stops it; the test watches it with systemctl and journalctl
  (Systemd).  That address must be free: the test checks it before
  installing and fails naming it otherwise (the package's config cannot
  be changed before its postinst starts the service).

Needs root and dpkg (CI and the development machine run as root).  It
refuses to start when a chanhost package, user or /var/lib/chanhost is
there already (a developer's own install is never touched), and purges
whatever it installed even when it fails.  The package is built in
CHANHOST_PKG_BUILD_DIR (tests/CMakeLists.txt: <build>/deb).
"""

import asyncio
import grp
import hashlib
import json
import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets

SOURCE_DIR = Path(os.environ.get("CHANHOST_SOURCE_DIR") or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SOURCE_DIR / "tests" / "integration"))
from apiclient import Api  # noqa: E402
from notifykit import NotifySocket  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pkgconf import address_taken, listen_address, parse_addr  # noqa: E402

PKG_BUILD_DIR = Path(os.environ.get("CHANHOST_PKG_BUILD_DIR") or SOURCE_DIR / "build-deb")
STATE_DIR = Path("/var/lib/chanhost")
CONF = Path("/etc/chanhost/chanhost.conf")
UNIT = Path("/usr/lib/systemd/system/chanhost.service")
PLUGIN_DIR = Path("/usr/lib/chanhost/plugins")
ROOM = "/ws/chat/group/debian/"
KEYS = ("chanhost.key", "auth.secret")
UNDER_SYSTEMD = Path("/run/systemd/system").is_dir()


def sh(args, **kw):
    """Run args (stdin closed, so a prompt fails rather than waits); must
    succeed.  Returns the CompletedProcess."""
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=kw.pop("timeout", 180), **kw)
    assert r.returncode == 0, f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def apt(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return sh(["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", *args], env=env)


def dpkg_status():
    """The package's dpkg status ("install ok installed", ...) or None."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "chanhost"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip() or r.stdout.endswith(" not-installed"):
        return None
    return r.stdout


def user_exists(name="chanhost"):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name="chanhost"):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def build_package(release):
    """scripts/package with Debian revision `release`: the .deb's path."""
    env = dict(os.environ, PKG_BUILD_DIR=str(PKG_BUILD_DIR), DEB_RELEASE=str(release))
    out = sh([str(SOURCE_DIR / "scripts" / "package")], env=env, timeout=600).stdout
    deb = Path(out.strip().splitlines()[-1])
    assert re.fullmatch(rf"chanhost_\d+\.\d+\.\d+-{release}_amd64\.deb", deb.name), deb
    return deb


def digests():
    """sha256 of every file in the state folder, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in STATE_DIR.iterdir() if p.is_file()}


def poll(what, probe, detail, timeout=60.0):
    """probe() until it returns something true, which is returned; after
    `timeout` seconds fails naming `what`, with detail()'s text.  For
    states only systemctl or the journal tell, which nothing signals."""
    deadline = time.monotonic() + timeout
    while not (got := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s:\n{detail()}")
        time.sleep(0.1)
    return got


@pytest.fixture
def clean_machine():
    """Fails unless no chanhost install is there; afterwards purges what
    the test installed and removes what a failed purge left."""
    if os.geteuid() != 0:
        pytest.fail("the package test installs a system package: run it as root", pytrace=False)
    leftovers = [what for what, there in (("package chanhost", dpkg_status()), ("user chanhost", user_exists()),
                                          ("group chanhost", group_exists()), (str(STATE_DIR), STATE_DIR.exists()),
                                          (str(CONF.parent), CONF.parent.exists())) if there]
    if leftovers:
        pytest.fail(f"refusing to run: {', '.join(leftovers)} exist(s) already (purge that install first)",
                    pytrace=False)
    if UNDER_SYSTEMD:
        # the postinst starts the service on the shipped config's address
        host, port = listen_address((SOURCE_DIR / "etc" / "chanhost.conf").read_text())
        why = address_taken(host, port)
        if why:
            pytest.fail(f"{host}:{port} is taken ({why}): under systemd the package's postinst starts "
                        "chanhost there; free it (or run the test in a container)", pytrace=False)
    hosts = []
    yield hosts
    for h in hosts:
        h.kill()
    if dpkg_status():  # under systemd its prerm stops the service
        subprocess.run(["dpkg", "--purge", "chanhost"], stdin=subprocess.DEVNULL, capture_output=True)
    if user_exists():
        subprocess.run(["userdel", "chanhost"], capture_output=True)
    if group_exists():
        subprocess.run(["groupdel", "chanhost"], capture_output=True)
    subprocess.run(["rm", "-rf", str(STATE_DIR), str(CONF.parent), "/run/chanhost"])
    if UNDER_SYSTEMD:
        subprocess.run(["systemctl", "reset-failed", "chanhost.service"], capture_output=True)


class UnitProcess:
    """The installed unit's ExecStart line run the way systemd would: as
    User=/Group= chanhost, no new privileges, cwd /, NOTIFY_SOCKET set;
    plus --listen 127.0.0.1:0 so that it never meets a developer's host.
    The port comes from READY=1's STATUS."""

    def __init__(self, notify, log_path):
        unit = UNIT.read_text()
        line = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)
        user = re.search(r"^User=(.+)$", unit, re.M).group(1)
        group = re.search(r"^Group=(.+)$", unit, re.M).group(1)
        self.notify = notify
        self.log_path = log_path
        self.log = open(log_path, "ab")
        args = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--no-new-privs", "--",
                *shlex.split(line), "--listen", "127.0.0.1:0"]
        env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify.path, "LANG": "C.UTF-8"}
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     cwd="/", env=env, start_new_session=True)
        pid, ready = self.expect("READY")
        self.port = int(re.fullmatch(r"Listening on TCP address 127\.0\.0\.1:(\d+)", ready["STATUS"]).group(1))

    def expect(self, key):
        """The next datagram setting key=1: it must come from the main pid."""
        try:
            pid, fields = self.notify.expect(key, proc=self.proc)
        except AssertionError as e:
            raise AssertionError(f"{e}\nhost log:\n{self.tail()}") from None
        assert pid == self.proc.pid, (pid, self.proc.pid, fields)
        return pid, fields

    def tail(self):
        return Path(self.log_path).read_text(errors="replace")[-6000:]

    def reload(self):
        """systemctl reload: ExecReload's SIGHUP; RELOADING=1, then READY=1."""
        self.proc.send_signal(signal.SIGHUP)
        self.expect("RELOADING")
        self.expect("READY")

    def stop(self):
        """systemctl stop: SIGTERM to the main process; STOPPING=1, exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        self.expect("STOPPING")
        assert self.proc.wait(30) == 0, self.tail()
        self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


class ByHand:
    """No systemd as PID 1: the maintainer scripts skip systemctl, so the
    test runs the service itself (UnitProcess) where systemd would, and
    stops it before each package change.  `hosts` (borrowed: the
    fixture's list) collects each process for the fixture to kill."""

    stable = None  # every state file is at rest when the test reads them: the host is stopped

    def __init__(self, hosts, tmp_path):
        self.hosts = hosts
        self.tmp_path = tmp_path
        self.notify = NotifySocket()

    def start(self):
        """A new UnitProcess (owned by self.hosts), serving."""
        h = UnitProcess(self.notify, self.tmp_path / f"host{len(self.hosts) + 1}.log")
        self.hosts.append(h)
        return h

    def installed(self):
        """After the first install: the serving host (borrowed)."""
        return self.start()

    def upgraded(self, old):
        """After the upgrade (`old` was stopped): the serving host."""
        return self.start()

    def before_package_change(self, h):
        """Before an upgrade or a removal: h stopped, as systemd would."""
        h.stop()

    def removed(self):
        """After the removal: nothing ran, nothing to check."""

    def close(self):
        self.notify.close()


def systemctl_show(*props):
    """chanhost.service's properties `props` (systemctl show) as a dict."""
    out = sh(["systemctl", "show", "chanhost.service", *(f"--property={p}" for p in props)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def active_state():
    """chanhost.service's ActiveState once it is not changing (active,
    failed, inactive), else None."""
    state = systemctl_show("ActiveState")["ActiveState"]
    return None if state in ("activating", "reloading", "deactivating") else state


def unit_journal():
    """The unit's recent journal, for failure messages."""
    return subprocess.run(["journalctl", "-u", "chanhost.service", "-n", "60", "--no-pager"],
                          capture_output=True, text=True).stdout


class SystemdService:
    """chanhost.service as systemd runs it (started by a maintainer
    script): once it is active, checks that it is the unit as shipped
    (Type=notify, a main pid, User=chanhost) and serves where the
    installed config says (its STATUS= line).  Clients use 127.0.0.1."""

    def __init__(self):
        state = poll("chanhost.service settled", active_state, unit_journal)
        assert state == "active", f"chanhost.service is {state}:\n{unit_journal()}"
        p = systemctl_show("Type", "MainPID", "User", "StatusText", "InvocationID")
        assert (p["Type"], p["User"]) == ("notify", "chanhost") and int(p["MainPID"]) > 0, p
        self.pid, self.invocation = int(p["MainPID"]), p["InvocationID"]
        host, self.port = listen_address(CONF.read_text())
        assert host in ("127.0.0.1", "0.0.0.0"), f"{CONF} listens on {host}, not reachable as 127.0.0.1"
        assert parse_addr(p["StatusText"].removeprefix("Listening on TCP address ")) == (host, self.port), p

    def journal(self):
        """The log of this run of the service (its invocation's journal)."""
        return sh(["journalctl", f"_SYSTEMD_INVOCATION_ID={self.invocation}", "-o", "cat", "--no-pager"]).stdout

    def reload(self):
        """systemctl reload (ExecReload's SIGHUP): active again, the same
        main pid, and the host's log of the reload in the journal."""
        sh(["systemctl", "reload", "chanhost.service"])
        assert poll("chanhost.service settled after the reload", active_state, unit_journal) == "active", \
            unit_journal()
        assert int(systemctl_show("MainPID")["MainPID"]) == self.pid
        poll("the reload in the journal",
             lambda: re.search(r"received SIGHUP|reloading configuration and plugins", self.journal()), self.journal)


class Systemd:
    """systemd as PID 1: the maintainer scripts start (postinst, with
    enable), restart (postinst try-restart on upgrade) and stop (prerm
    remove) chanhost.service; the test checks each."""

    stable = KEYS  # the service runs until the removal, and the store writes on close

    def installed(self):
        """After the first install: enabled and serving (the postinst)."""
        assert sh(["systemctl", "is-enabled", "chanhost.service"]).stdout.strip() == "enabled"
        return SystemdService()

    def upgraded(self, old):
        """After the upgrade: serving again with a new main process."""
        h = SystemdService()
        assert h.pid != old.pid, f"the upgrade did not restart chanhost (main pid {h.pid})"
        return h

    def before_package_change(self, h):
        """Nothing: the maintainer scripts stop and restart the service."""

    def removed(self):
        """After the removal: stopped by the prerm, no process left."""
        state = systemctl_show("ActiveState", "MainPID")
        assert state == {"ActiveState": "inactive", "MainPID": "0"}, f"{state}\n{unit_journal()}"
        left = subprocess.run(["pgrep", "-a", "-u", "chanhost"], capture_output=True, text=True).stdout
        assert not left, f"left running after the removal: {left}"

    def close(self):
        """Nothing held."""


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def recv_type(ws, kind):
    """The next frame of type `kind` (others, e.g. presence, skipped)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if frame.get("type") == kind:
            return frame


def connect(port, token):
    return websockets.connect(f"ws://127.0.0.1:{port}{ROOM}?token={token}", ping_interval=None,
                              open_timeout=10, close_timeout=5)


async def first_chat(port, alice, bob):
    """alice says something to bob in the room; both see it stored."""
    async with connect(port, alice["token"]) as a, connect(port, bob["token"]) as b:
        await recv_type(a, "history")
        await recv_type(b, "history")
        await a.send(json.dumps({"type": "chat_message", "message": "before the upgrade", "client_msg_id": "deb-1"}))
        ack = await recv_type(a, "ack")
        got = await recv_type(b, "chat_message")
        assert got["message"] == "before the upgrade" and got["username"] == "alice", got
        assert (ack["client_msg_id"], ack["id"]) == ("deb-1", got["id"]), ack
        return got


async def history_after_upgrade(port, alice):
    """alice, with her token from before the upgrade, reads the history."""
    async with connect(port, alice["token"]) as a:
        history = await recv_type(a, "history")
        await a.send(json.dumps({"type": "chat_message", "message": "after the upgrade", "client_msg_id": "deb-2"}))
        await recv_type(a, "ack")
        return history["messages"]


def check_installed_files(deb):
    """The files, the Depends, the conffile and the state folder of a fresh
    install."""
    control = sh(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    for lib in ("libuv1", "libjansson4", "libsqlite3-0", "libssl3", "libwslay1", "libsystemd0",
                "libjemalloc2", "passwd"):
        assert lib in control, control
    assert os.access("/usr/bin/chanhost", os.X_OK)
    shipped = {m for cml in SOURCE_DIR.glob("plugins/*/CMakeLists.txt")
               for m in re.findall(r"chanhost_plugin\((\w+)", cml.read_text())}
    assert {p.stem for p in PLUGIN_DIR.glob("*.so")} == shipped
    assert Path("/usr/share/chanhost/web/index.html").is_file()
    for name in ("chanhost.h", "chanhost_schema.h", "chanhost_kit.h"):
        assert Path("/usr/include/chanhost", name).read_bytes() == (SOURCE_DIR / "sdk" / name).read_bytes()
    assert sh(["pkg-config", "--variable=plugindir", "chanhost"]).stdout.strip() == str(PLUGIN_DIR)
    assert sh(["dpkg-query", "-W", "-f=${Conffiles}", "chanhost"]).stdout.split()[0] == str(CONF)
    conf = CONF.read_text()
    assert f"\nplugin_dir {PLUGIN_DIR}\n" in conf and "\nstatic_dir /usr/share/chanhost/web\n" in conf
    assert f"\nstore sqlite:{STATE_DIR}/chanhost.db\n" in conf
    st = STATE_DIR.stat()
    assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) == ("chanhost", "chanhost")
    assert st.st_mode & 0o777 == 0o750
    assert pwd.getpwnam("chanhost").pw_shell == "/usr/sbin/nologin"
    # `chanhost` with no --config reads the installed config; as the
    # chanhost user, as every command (it opens the store, which creates
    # its files: root's would lock the service out, docs/deploy.md)
    r = sh(["setpriv", "--reuid=chanhost", "--regid=chanhost", "--init-groups", "--",
            "/usr/bin/chanhost", "--check"], cwd="/")
    assert f"{len(shipped)} plugin(s) loaded from {PLUGIN_DIR}" in r.stdout, r.stdout


def check_unit():
    unit = UNIT.read_text()
    for line in ("Type=notify", "User=chanhost", "Group=chanhost", "ExecReload=/bin/kill -HUP $MAINPID",
                 "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                 "StateDirectory=chanhost", "RuntimeDirectory=chanhost"):
        assert f"\n{line}\n" in unit, line
    assert re.search(r"^LimitNOFILE=\d+$", unit, re.M)
    assert re.search(rf"^ExecStart=/usr/bin/chanhost --config {CONF}$", unit, re.M)
    r = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def same(before, after, names):
    """Whether the digests of the files `names` are equal (a missing file
    counts as None)."""
    return {k: after.get(k) for k in names} == {k: before.get(k) for k in names}


def test_install_run_upgrade_remove_purge(clean_machine, tmp_path):
    manager = Systemd() if UNDER_SYSTEMD else ByHand(clean_machine, tmp_path)
    try:
        deb1 = build_package(1)
        apt("install", str(deb1))
        assert dpkg_status() == "install ok installed"
        check_installed_files(deb1)
        check_unit()

        # first start: users and a message, a reload
        h = manager.installed()
        api = Api(h.port)
        alice = api.register("alice", "alice@example.com", "alice-password-1")
        bob = api.register("bob", "bob@example.com", "bob-password-1")
        sent = run(first_chat(h.port, alice, bob))
        h.reload()
        manager.before_package_change(h)
        before = digests()
        assert {"chanhost.db", *KEYS} <= set(before), before
        with open(CONF, "a") as f:
            f.write("# an operator's edit, kept by upgrades\n")

        # upgrade to a higher revision: everything in /var/lib/chanhost kept
        deb2 = build_package(2)
        apt("install", str(deb2))
        assert sh(["dpkg-query", "-W", "-f=${Version}", "chanhost"]).stdout.endswith("-2")
        assert CONF.read_text().endswith("# an operator's edit, kept by upgrades\n")
        assert same(before, digests(), KEYS)
        h = manager.upgraded(h)
        messages = run(history_after_upgrade(h.port, alice))
        assert [(m["id"], m["message"]) for m in messages] == [(sent["id"], "before the upgrade")], messages
        manager.before_package_change(h)

        # remove: the program goes, the data, keys, config and user stay
        kept = digests()
        apt("remove", "chanhost")
        manager.removed()
        assert not Path("/usr/bin/chanhost").exists()
        assert dpkg_status() == "deinstall ok config-files"
        after = digests()
        assert "chanhost.db" in after and same(kept, after, manager.stable or {*kept, *after}), (kept, after)
        assert user_exists() and CONF.is_file()

        # purge: all of it goes (under systemd, the enablement too)
        apt("purge", "chanhost")
        assert dpkg_status() is None
        assert not STATE_DIR.exists() and not CONF.parent.exists()
        assert not user_exists() and not group_exists()
        assert not os.path.lexists("/etc/systemd/system/multi-user.target.wants/chanhost.service")
    finally:
        manager.close()
