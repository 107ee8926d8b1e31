"""Tokens that end (issue 15, part 5), through real hosts and real
WebSocket clients:

- an open socket whose token expires is closed with 4001 within a second
  of the token's exp;
- a socket whose client sent {"type": "refresh", "token": T} with a
  fresh token of the same user before then is kept (the host answers
  {"type": "refresh", "ok": true, "exp"}); a refresh with another user's
  token is refused ({"ok": false}) and the socket still ends at its exp,
  and so is a refresh with a token revoked by logout;
- logout on host A revokes its token on host B too (two hosts sharing
  only PostgreSQL): the open sockets with that token close with 4001 on
  both, a handshake or an API call with it fails on B, another token of
  the same user keeps working;
- deactivating a user (PATCH /api/users/<id>/) closes its sockets on both
  hosts with 4001 within a second and refuses its new handshakes.

Tokens are signed here with the host's secret file, so their exp can be
seconds away.  Every wait is on a frame or a close, with a deadline.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import pytest

from chatkit import (
    chat_host,
    closed_with,
    connect,
    frame,
    nothing_pending,
    open_ws,
    pg_fixture,
    run_chat,
    send,
    two_hosts,
)

ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]
CUT_OFF = 1.0  # seconds after exp within which the socket must be closed


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(secret, claims):
    """An HS256 token signed with secret (bytes)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


class Tokens:
    """The world of one host plus tokens of its users with chosen exp."""

    def __init__(self, world, secret_file):
        self.w = world
        self.secret = open(secret_file, "rb").read().rstrip(b"\n ")

    def token(self, name, exp):
        user = self.w.user(name)
        return forge(self.secret, {"sub": str(user["id"]), "username": name, "roles": ["user"],
                                   "iat": int(time.time()), "exp": exp})

    def url(self, room_id, token):
        return self.w.host.url(f"/ws/chat-room/{room_id}/") + f"?token={token}"


@pytest.fixture
def tokens(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES, extra=[f"auth_secret_file {tmp_path}/auth.secret"])
    return Tokens(w, tmp_path / "auth.secret")


def group_room(t, *names):
    w = t.w
    return w.api.create_room(w.token(names[0]), "general", "group",
                             [w.uid(n) for n in names[1:]])


async def expired_at(ws, exp):
    """The server closes ws with 4001 at exp (whole seconds), not before,
    and within CUT_OFF after."""
    code, frames = await closed_with(ws, timeout=exp - time.time() + 5)
    now = time.time()
    assert code == 4001, (code, frames)
    assert exp - 0.05 <= now < exp + CUT_OFF, (now, exp)


def test_expired_token_closes_the_socket(tokens):
    t = tokens
    room = group_room(t, "alice", "bob")

    async def main():
        exp = int(time.time()) + 2
        a, _ = await open_ws(t.url(room["id"], t.token("alice", exp)))
        b, _ = await open_ws(t.url(room["id"], t.token("bob", exp + 600)))
        await expired_at(a, exp)
        await nothing_pending(b)  # a token that has not ended: still open
        # a token that ended is refused at the handshake as before
        code, _ = await closed_with(await connect(t.url(room["id"], t.token("alice", exp))))
        assert code == 4001

    run_chat(main)


def test_refreshed_token_keeps_the_socket(tokens):
    t = tokens
    room = group_room(t, "alice", "bob")

    async def main():
        exp = int(time.time()) + 2
        kept, _ = await open_ws(t.url(room["id"], t.token("alice", exp)))
        witness, _ = await open_ws(t.url(room["id"], t.token("alice", exp)))
        fresh = int(time.time()) + 600
        await send(kept, "refresh", token=t.token("alice", fresh))
        assert await frame(kept, "refresh") == {"type": "refresh", "ok": True, "exp": fresh}
        # another user's token, or none, does not move the witness's exp
        await send(witness, "refresh", token=t.token("bob", fresh))
        got = await frame(witness, "refresh")
        assert got["ok"] is False and got["error"] == "another user", got
        await send(witness, "refresh")
        assert (await frame(witness, "refresh"))["ok"] is False
        await expired_at(witness, exp)
        await nothing_pending(kept)  # past the first exp: still open

    run_chat(main)


def test_refresh_with_a_revoked_token_is_refused(tokens):
    t = tokens
    room = group_room(t, "alice", "bob")

    async def main():
        exp = int(time.time()) + 600
        ws, _ = await open_ws(t.url(room["id"], t.token("alice", exp)))
        revoked = t.token("alice", exp + 1)
        reply = t.w.api.request("POST", "/api/auth/logout/", token=revoked)
        assert reply.status == 200, (reply.status, reply.body)
        await send(ws, "refresh", token=revoked)
        assert await frame(ws, "refresh") == {"type": "refresh", "ok": False, "error": "revoked"}
        fresh = exp + 2
        await send(ws, "refresh", token=t.token("alice", fresh))
        assert await frame(ws, "refresh") == {"type": "refresh", "ok": True, "exp": fresh}

    run_chat(main)


# --------------------------------------------------------------------------
# two hosts sharing only PostgreSQL: logout and deactivation everywhere


pg = pg_fixture("chanhost_tokens")


@pytest.fixture
def pair(make_host, tmp_path, pg):
    """Two hosts (each its own memory layer) on one PostgreSQL store, a
    group room of alice and bob, and token forging with the shared secret."""
    w1, w2 = two_hosts(make_host, tmp_path, ROUTES, None, pg)
    w2.users, w2.tokens = w1.users, w1.tokens  # one secret: tokens work on both
    room = w1.api.create_room(w1.token("alice"), "general", "group", [w1.uid("bob")])
    return Tokens(w1, tmp_path / "auth.secret"), Tokens(w2, tmp_path / "auth.secret"), room


async def cut_off(ws):
    """The server closes ws with 4001 within CUT_OFF seconds."""
    start = time.monotonic()
    code, frames = await closed_with(ws, timeout=CUT_OFF)
    assert code == 4001, (code, frames)
    assert time.monotonic() - start < CUT_OFF


def test_logout_on_one_host_revokes_the_token_on_the_other(pair):
    t1, t2, room = pair
    token = t1.w.token("alice")
    other = t1.token("alice", int(time.time()) + 3600)

    async def main():
        a1, _ = await open_ws(t1.url(room["id"], token))
        a2, _ = await open_ws(t2.url(room["id"], token))
        kept, _ = await open_ws(t2.url(room["id"], other))
        reply = t1.w.api.request("POST", "/api/auth/logout/", token=token)
        assert reply.status == 200, (reply.status, reply.body)
        await asyncio.gather(cut_off(a1), cut_off(a2))
        await nothing_pending(kept)  # another token of alice's: still open
        code, _ = await closed_with(await connect(t2.url(room["id"], token)))
        assert code == 4001
        assert t2.w.api.request("GET", "/api/auth/me/", token=token).status == 401
        assert t2.w.api.request("GET", "/api/auth/me/", token=other).status == 200
        await open_ws(t2.url(room["id"], other))

    run_chat(main)


def test_deactivation_closes_the_user_on_both_hosts(pair):
    t1, t2, room = pair
    bob = t1.w.uid("bob")

    async def main():
        b1, _ = await open_ws(t1.url(room["id"], t1.w.token("bob")))
        b2, _ = await open_ws(t2.url(room["id"], t1.w.token("bob")))
        a2, _ = await open_ws(t2.url(room["id"], t1.w.token("alice")))
        reply = t1.w.api.request("PATCH", f"/api/users/{bob}/", {"is_active": False},
                                 token=t1.w.api.service_token)
        assert reply.status == 200, (reply.status, reply.body)
        assert reply.body["user"] == {"id": bob, "is_active": False}
        await asyncio.gather(cut_off(b1), cut_off(b2))
        await nothing_pending(a2)  # another user: still open
        code, _ = await closed_with(await connect(t2.url(room["id"], t1.w.token("bob"))))
        assert code == 4001
        assert t2.w.api.request("GET", "/api/auth/me/", token=t1.w.token("bob")).status == 401
        # alice is no admin: she may not deactivate anyone
        reply = t2.w.api.request("PATCH", f"/api/users/{bob}/", {"is_active": True},
                                 token=t1.w.token("alice"))
        assert reply.status == 403, (reply.status, reply.body)

    run_chat(main)
