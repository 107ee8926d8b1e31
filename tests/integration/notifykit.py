"""The service manager's end of sd_notify(3), for tests: a datagram socket
that a chanhost started with NOTIFY_SOCKET=<its path> reports to (READY=1,
RELOADING=1, STOPPING=1, STATUS=...), each datagram read with the sender's
pid (SO_PASSCRED), as systemd reads them.

Used by test_notify.py (the build's binary) and tests/package (the
installed package's, run as the chanhost user: the socket's folder and
the socket are open to every user).
"""

import os
import shutil
import socket
import struct
import tempfile
import time


class NotifySocket:
    """A bound AF_UNIX datagram socket in a fresh folder under /tmp."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chanhost-notify-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.seen = []  # every (pid, {field: value}) read so far

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _read(self, timeout):
        """One datagram as (pid, fields), or None if none came in timeout
        (0: only one already queued)."""
        self.sock.settimeout(timeout if timeout > 0 else None)
        if timeout <= 0:
            self.sock.setblocking(False)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except (socket.timeout, BlockingIOError):
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.seen.append((pid, fields))
        return pid, fields

    def expect(self, key, timeout=30.0, proc=None):
        """Read datagrams until one sets `key` (e.g. "READY") to 1; returns
        (pid, fields).  Fails with everything seen on timeout, or as soon
        as the process `proc` (a Popen, optional) has ended without it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            ended = proc is not None and proc.poll() is not None
            # a live sender is awaited in slices, so that its end is seen
            got = self._read(0 if ended else min(remaining, 0.5)) if remaining > 0 else None
            if got is None:
                if ended:
                    raise AssertionError(f"process exited ({proc.returncode}) before {key}=1; seen: {self.seen}")
                if time.monotonic() < deadline:
                    continue
                raise AssertionError(f"no {key}=1 within {timeout}s; seen: {self.seen}")
            if got[1].get(key) == "1":
                return got

    def pending(self):
        """Every datagram already queued, without waiting."""
        out = []
        while (got := self._read(0)) is not None:
            out.append(got)
        return out
