"""sd_notify (host/app/notify.c): a host started with NOTIFY_SOCKET, as
systemd's Type=notify starts it, says READY=1 with its address once it
serves, RELOADING=1 then READY=1 around a SIGHUP's reload, and STOPPING=1
on SIGTERM; with `workers N` only the master (the main pid) speaks, never
a worker.  A build without libsystemd sends nothing at all.
"""

import re
import signal
import subprocess

import pytest

from conftest import BIN
from notifykit import NotifySocket


def built_with_libsystemd():
    out = subprocess.run(["ldd", BIN], capture_output=True, text=True, check=True).stdout
    return "libsystemd.so" in out


@pytest.fixture
def notify(monkeypatch):
    s = NotifySocket()
    monkeypatch.setenv("NOTIFY_SOCKET", s.path)
    yield s
    s.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_ready_reloading_stopping_from_the_main_process(notify, make_host, workers):
    h = make_host([f"workers {workers}"], wait=False)
    if not built_with_libsystemd():
        # compiled out: the host serves and stops, and nothing was sent
        h.wait_listening()
        assert h.stop() == 0
        assert notify.pending() == []
        return

    pid, ready = notify.expect("READY")
    port = h.wait_listening()
    assert pid == h.proc.pid
    assert ready["STATUS"] == f"Listening on TCP address 127.0.0.1:{port}"
    # every worker serves before the master's READY=1
    if workers > 1:
        assert len(h.matching(r"worker \d+ \(pid \d+\) ready")) == workers

    mark = h.mark()
    h.send_signal(signal.SIGHUP)
    pid, reloading = notify.expect("RELOADING")
    assert pid == h.proc.pid and reloading["STATUS"] == "reloading"
    pid, again = notify.expect("READY")
    assert pid == h.proc.pid and again["STATUS"] == ready["STATUS"]
    if workers == 1:
        # READY=1 comes once the reload is done: the host logged it before
        # (the test's reader of the host's stderr may still be behind)
        h.wait_for(r"configuration reloaded", since=mark, timeout=5)

    h.send_signal(signal.SIGTERM)
    pid, stopping = notify.expect("STOPPING")
    assert pid == h.proc.pid
    assert h.wait_exit() == 0
    late = notify.pending()
    assert all(p == h.proc.pid for p, _ in notify.seen), notify.seen
    assert not [f for _, f in late if f.get("READY") == "1"], late


def test_no_notify_socket_no_message(make_host, notify, monkeypatch):
    # without NOTIFY_SOCKET (not started by systemd) nothing is sent
    monkeypatch.delenv("NOTIFY_SOCKET")
    h = make_host(["workers 1"])
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"configuration reloaded")
    assert h.stop() == 0
    assert notify.pending() == []
    assert re.search(r"stopped", h.tail())
