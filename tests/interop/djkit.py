"""The Django side of the login interop tests: the test project
(djproject/) migrated on its own database and served by Daphne, its account
views (interop/accounts.py) called over HTTP, and HS256 tokens made by hand
for the expired and forged cases."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

from conftest import DJANGO_PYTHON, DJPROJECT

LISTEN_RE = re.compile(r"Listening on TCP address [\d.]+:(\d+)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DjangoSite:
    """djproject with database `db` (sqlite:PATH or postgresql://...) and
    session engine `engine` (db or signed_cookies): migrated, then served by
    Daphne on a free port until stop()."""

    def __init__(self, db, engine="db", secret="interop-djauth-secret-key"):
        self.secret = secret
        self.env = dict(os.environ, INTEROP_DB=db, INTEROP_SESSION_ENGINE=engine,
                        INTEROP_SECRET_KEY=secret, PYTHONDONTWRITEBYTECODE="1")
        r = subprocess.run([DJANGO_PYTHON, "manage.py", "migrate", "-v", "0"], cwd=DJPROJECT,
                           env=self.env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        self.port = free_port()
        self.proc = subprocess.Popen([DJANGO_PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p",
                                      str(self.port), "interop.asgi:application"],
                                     cwd=DJPROJECT, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait_listening(60.0)

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)
            self._cond.notify_all()

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    assert line is not None, "daphne exited:\n" + "\n".join(
                        l for l in self.lines if l)
                    if LISTEN_RE.search(line):
                        return
                remaining = deadline - time.monotonic()
                assert remaining > 0, "daphne never listened:\n" + "\n".join(self.lines)
                self._cond.wait(remaining)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self._reader.join(5)

    def post(self, path, body=None, cookie=None):
        """POST JSON; returns (status, decoded body, {cookie name: value} set)."""
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=json.dumps(body or {}), headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            set_cookies = {}
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    k, _, v = value.split(";", 1)[0].partition("=")
                    set_cookies[k.strip()] = v.strip()
            return resp.status, json.loads(data or b"null"), set_cookies
        finally:
            conn.close()

    def manage(self, *args):
        """Run manage.py with this site's settings; returns its stdout."""
        r = subprocess.run([DJANGO_PYTHON, "manage.py", *args], cwd=DJPROJECT, env=self.env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def expire_sessions(self):
        """Every django_session row expires now (as if SESSION_COOKIE_AGE passed)."""
        self.manage("shell", "-c", "from django.contrib.sessions.models import Session; "
                    "from django.utils import timezone; "
                    "Session.objects.update(expire_date=timezone.now())")

    def register(self, username, password="a-long-password-1"):
        status, body, _ = self.post("/accounts/register/", {"username": username, "password": password})
        assert status == 201, body
        return body

    def login(self, username, password="a-long-password-1"):
        """Log in; returns the Cookie header value carrying the session."""
        status, body, cookies = self.post("/accounts/login/", {"username": username, "password": password})
        assert status == 200, body
        assert "sessionid" in cookies, cookies
        return f"sessionid={cookies['sessionid']}"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, key):
    """An HS256 JWT of claims signed with key (str)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"
