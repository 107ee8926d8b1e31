"""The support plugin (plugins/support, seed 003) with real WebSocket
clients: publisher <-> client chats about an ad (/ws/chat/ad/<ad_id>/)
and publisher <-> admin support rooms (/ws/chat/support/publisher_<id>/).

Every payload type and every refusal: history on connect with
sender_name / sender_role, messages both ways, one conversation per ad
and client, typing (not echoed), acks and retried client_msg_ids (never
broadcast twice), error frames (bad JSON, unknown type, too long, rate
limit) with the connection staying open, 1008 after persistent abuse,
4001 / 4003 / 4004, a sender that leaves before its messages are stored,
and the same rooms served by two hosts sharing Redis and one store
(SQLite; PostgreSQL when CHANHOST_TEST_PG_URL is set).

Waits are on frames with deadlines.  "Nothing else came" is shown with a
barrier: a later frame that would have been queued after the unwanted one
(a pong, or a later message through the same groups) arrives next.
"""

import asyncio
import json
import socket

import pytest

from apiclient import auth_config_lines
from chatkit import (PgDatabase, RedisServer, World, chat_host, closed_with, frame,
                     nothing_pending, open_ws, refused, send, subscribed)
from conftest import OP_TEXT, build_frame, open_raw_ws, run

ROUTES = ["/ws/chat/ad/<int:ad_id>/ support", "/ws/chat/support/<str:room_name>/ support"]


def world(make_host, tmp_path, settings=(), extra=()):
    return chat_host(make_host, tmp_path, ROUTES, [f"support {s}" for s in settings], extra)


class Tabs:
    """The connections a test opens (open_ws), all closed at its end, so
    that none is left to time out when the event loop stops."""

    def __init__(self):
        self.all = []

    async def open(self, url, **kw):
        ws, first = await open_ws(url, **kw)
        self.all.append(ws)
        return ws, first

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await asyncio.gather(*(ws.close() for ws in self.all))


def ad(n):
    return f"/ws/chat/ad/{n}/"


def support(n):
    return f"/ws/chat/support/publisher_{n}/"


async def say(ws, text, cmid=None, **fields):
    """Send a message; with cmid, the sender's own echo and then the ack
    must follow: returns the echo."""
    body = {"message": text, **fields}
    if cmid is not None:
        body["client_msg_id"] = cmid
    await send(ws, "message", **body)
    if cmid is None:
        return None
    echo = await frame(ws, "message")
    ack = await frame(ws, "ack")
    assert ack == {"type": "ack", "client_msg_id": cmid, "id": echo["id"]}, ack
    return echo


def check(msg, text, name, role, sender_id, client_id=None):
    assert msg["type"] == "message", msg
    assert (msg["message"], msg["sender_name"], msg["sender_role"], msg["sender_id"]) == \
        (text, name, role, sender_id), msg
    assert isinstance(msg["id"], int) and isinstance(msg["timestamp"], int), msg
    assert msg.get("client_id") == client_id, msg


# --------------------------------------------------------------------------
# ad chats


def test_ad_chat_both_ways_with_history(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub, cli = w.user("pat", "publisher")["id"], w.uid("carl")
    w.api.register_ad(101, pub)

    async def main():
        async with Tabs() as t:
            c, h = await t.open(w.url(ad(101), "carl"))
            assert h == {"type": "history", "messages": []}
            p, h = await t.open(w.url(ad(101), "pat"))
            assert h == {"type": "history", "messages": []}
            mine = await say(c, "is it still for sale?", cmid="c-1")
            check(mine, "is it still for sale?", "carl", "client", cli, client_id=cli)
            assert mine["client_msg_id"] == "c-1"
            got = await frame(p, "message")
            assert got == mine
            reply = await say(p, "yes it is", cmid="p-1", client_id=cli)
            check(reply, "yes it is", "pat", "publisher", pub, client_id=cli)
            assert await frame(c, "message") == reply
            # a message without client_msg_id: no ack, a server-made id
            await send(c, "message", message="great")
            no_ack = await frame(c, "message")
            assert no_ack["client_msg_id"].startswith("srv-")
            assert await frame(p, "message") == no_ack
            # second connections see the history, oldest first
            c2, h = await t.open(w.url(ad(101), "carl"))
            assert h["messages"] == [mine, reply, no_ack]
            p2, h = await t.open(w.url(ad(101), "pat"))
            assert h["messages"] == [mine, reply, no_ack]
            for ws in (c, p, c2, p2):
                await nothing_pending(ws)

    run(main())


def test_each_client_has_its_own_conversation(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub = w.user("pia", "publisher")["id"]
    a, b = w.uid("ann"), w.uid("bob")
    w.api.register_ad(7, pub)

    async def main():
        async with Tabs() as t:
            p, _ = await t.open(w.url(ad(7), "pia"))
            ca, _ = await t.open(w.url(ad(7), "ann"))
            cb, _ = await t.open(w.url(ad(7), "bob"))
            m1 = await say(ca, "from ann", cmid="a1")
            m2 = await say(cb, "from bob", cmid="b1")
            assert (await frame(p, "message"), await frame(p, "message")) == (m1, m2)
            assert (m1["client_id"], m2["client_id"]) == (a, b)
            r = await say(p, "to bob", cmid="p1", client_id=b)
            assert await frame(cb, "message") == r
            # ann got neither bob's message nor the reply: her own next one is next
            m3 = await say(ca, "ann again", cmid="a2")
            assert await frame(p, "message") == m3
            await nothing_pending(cb)
            # the publisher's history merges both conversations by id
            _, h = await t.open(w.url(ad(7), "pia"))
            assert h["messages"] == [m1, m2, r, m3]
            _, h = await t.open(w.url(ad(7), "ann"))
            assert h["messages"] == [m1, m3]
            _, h = await t.open(w.url(ad(7), "bob"))
            assert h["messages"] == [m2, r]
            # the conversations are rooms with the client and the publisher
            rooms = {r["key"]: r for r in w.api.rooms(w.token("pia"))}
            assert {"ad:7", f"ad:7:client:{a}", f"ad:7:client:{b}"} <= set(rooms)
            assert rooms[f"ad:7:client:{a}"]["kind"] == "ad_chat"

    run(main())


def test_publisher_reply_needs_an_existing_conversation(make_host, tmp_path):
    w = world(make_host, tmp_path)
    w.api.register_ad(5, w.user("pam", "publisher")["id"])
    stranger = w.uid("sam")

    async def main():
        async with Tabs() as t:
            p, _ = await t.open(w.url(ad(5), "pam"))
            await send(p, "message", message="hello?")
            err = await frame(p, "error")
            assert err["code"] == "client_id_required", err
            await send(p, "message", message="hello?", client_id=stranger, client_msg_id="x1")
            err = await frame(p, "error")
            assert (err["code"], err["client_msg_id"]) == ("forbidden", "x1"), err
            await send(p, "typing", client_id=stranger)
            assert (await frame(p, "error"))["code"] == "forbidden"
            await nothing_pending(p)

    run(main())


def test_unknown_ad_and_missing_token(make_host, tmp_path):
    w = world(make_host, tmp_path)
    w.api.register_ad(1, w.user("pete", "publisher")["id"])

    async def main():
        assert (await refused(w.url(ad(999), "pete")))[0] == 4004
        assert (await refused(w.url(ad(0), "pete")))[0] == 4004
        assert (await refused(w.url(ad(1))))[0] == 4001
        assert (await refused(w.url(ad(1)) + "?token=not.a.token"))[0] == 4001
        assert (await refused(w.url(support(w.uid("pete")))))[0] == 4001

    run(main())


def test_ad_conversations_are_not_chatroom_rooms(make_host, tmp_path):
    """An ad conversation belongs to the support plugin: the chatroom
    routes answer it 4004 even for its participants (no message stored
    without sender_role, none lost to the ad chat's listeners)."""
    w = chat_host(make_host, tmp_path, ROUTES + ["/ws/chat-room/<int:room_id>/ chatroom"])
    w.api.register_ad(5, w.user("pam", "publisher")["id"])
    w.uid("cid")

    async def main():
        async with Tabs() as t:
            await t.open(w.url(ad(5), "cid"))
            rooms = w.api.rooms(w.token("cid"))
            conv = [r for r in rooms if r["kind"] == "ad_chat"]
            assert len(conv) == 1, rooms
            assert (await refused(w.url(f"/ws/chat-room/{conv[0]['id']}/", "cid")))[0] == 4004

    run(main())


def test_typing_reaches_the_others_only(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub, cli = w.user("tia", "publisher")["id"], w.uid("tom")
    w.user("ada", "admin")
    w.api.register_ad(3, pub)

    async def main():
        async with Tabs() as t:
            p, _ = await t.open(w.url(ad(3), "tia"))
            c, _ = await t.open(w.url(ad(3), "tom"))
            c_again, _ = await t.open(w.url(ad(3), "tom"))
            await send(c, "typing")
            assert await frame(p, "typing") == {"type": "typing", "user_name": "tom",
                                                "user_id": cli, "is_typing": True,
                                                "client_id": cli}
            for ws in (c, c_again):  # not echoed to the typist, nor to its other tab
                await nothing_pending(ws)
            await send(p, "typing", client_id=cli, is_typing=False)
            for ws in (c, c_again):
                assert await frame(ws, "typing") == {"type": "typing", "user_name": "tia",
                                                     "user_id": pub, "is_typing": False,
                                                     "client_id": cli}
            await nothing_pending(p)
            # support rooms: no client_id
            sp, _ = await t.open(w.url(support(pub), "tia"))
            sa, _ = await t.open(w.url(support(pub), "ada"))
            await send(sa, "typing", is_typing=True)
            assert await frame(sp, "typing") == {"type": "typing", "user_name": "ada",
                                                 "user_id": w.uid("ada"), "is_typing": True}
            await nothing_pending(sa)

    run(main())


# --------------------------------------------------------------------------
# support rooms


def test_support_room_publisher_and_admins(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub = w.user("paul", "publisher")["id"]
    a1, a2 = w.user("alice", "admin")["id"], w.user("arno", "admin")["id"]

    async def main():
        async with Tabs() as t:
            p, h = await t.open(w.url(support(pub), "paul"))
            assert h == {"type": "history", "messages": []}
            x, _ = await t.open(w.url(support(pub), "alice"))
            y, _ = await t.open(w.url(support(pub), "arno"))
            ask = await say(p, "my ad is not shown", cmid="q1")
            check(ask, "my ad is not shown", "paul", "publisher", pub)
            assert await frame(x, "message") == ask and await frame(y, "message") == ask
            answer = await say(x, "fixed it", cmid="r1")
            check(answer, "fixed it", "alice", "admin", a1)
            assert await frame(p, "message") == answer and await frame(y, "message") == answer
            # the history of a later connection keeps names and roles
            _, h = await t.open(w.url(support(pub), "arno"))
            assert h["messages"] == [ask, answer]
            rooms = [r for r in w.api.rooms(w.token("paul"))
                     if r["key"] == f"support:publisher_{pub}"]
            assert len(rooms) == 1 and rooms[0]["kind"] == "support"
            assert a2 not in (ask["sender_id"], answer["sender_id"])

    run(main())


def test_support_room_refusals(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub, other = w.user("pola", "publisher")["id"], w.user("pino", "publisher")["id"]
    plain = w.uid("ulla")

    async def main():
        async with Tabs() as t:
            # another publisher's room, a plain user, a plain user's "own" room
            assert (await refused(w.url(support(pub), "pino")))[0] == 4003
            assert (await refused(w.url(support(pub), "ulla")))[0] == 4003
            assert (await refused(w.url(support(plain), "ulla")))[0] == 4003
            for name in ("publisher_abc", "helpdesk", "publisher_", f"publisher_0{pub}",
                         "publisher_-1", "publisher_99999999999999999999"):
                assert (await refused(w.url(f"/ws/chat/support/{name}/", "pola")))[0] == 4004, name
            ws, _ = await t.open(w.url(support(other), "pino"))
            await nothing_pending(ws)

    run(main())


def test_bearer_subprotocol_is_answered(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub = w.user("bea", "publisher")["id"]

    async def main():
        async with Tabs() as t:
            ws, _ = await t.open(w.host.url(support(pub)),
                                 subprotocols=["Bearer", w.token("bea")])
            assert ws.subprotocol == "Bearer"

    run(main())


# --------------------------------------------------------------------------
# acks, errors, limits


def test_retried_client_msg_id_is_acked_not_broadcast(make_host, tmp_path):
    w = world(make_host, tmp_path)
    pub = w.user("rita", "publisher")["id"]
    w.uid("rudi")
    w.api.register_ad(11, pub)

    async def main():
        async with Tabs() as t:
            p, _ = await t.open(w.url(ad(11), "rita"))
            c, _ = await t.open(w.url(ad(11), "rudi"))
            first = await say(c, "once", cmid="retry-1")
            assert await frame(p, "message") == first
            for _ in range(2):  # retries: the same ack, and no echo before it
                await send(c, "message", message="once", client_msg_id="retry-1")
                assert await frame(c) == {"type": "ack", "client_msg_id": "retry-1",
                                          "id": first["id"]}
            later = await say(c, "twice?", cmid="retry-2")
            assert await frame(p, "message") == later  # the retries never reached the publisher
            _, h = await t.open(w.url(ad(11), "rudi"))
            assert [m["message"] for m in h["messages"]] == ["once", "twice?"]

    run(main())


def test_messages_of_a_client_that_left_at_once_are_delivered(make_host, tmp_path):
    """The client sends five messages and its TCP FIN in one write: the
    host sees it gone before the store answers, and still broadcasts."""
    w = world(make_host, tmp_path)
    w.api.register_ad(12, w.user("lea", "publisher")["id"])
    w.uid("leo")

    async def main():
        async with Tabs() as t:
            p, _ = await t.open(w.url(ad(12), "lea"))
            raw = open_raw_ws(w.host.port, ad(12) + "?token=" + w.token("leo"))
            assert json.loads(raw.read_data_frame().payload)["type"] == "history"
            raw.send(b"".join(build_frame(OP_TEXT, json.dumps(
                {"type": "message", "message": f"m{i}", "client_msg_id": f"gone-{i}"}))
                for i in range(5)))
            raw.sock.shutdown(socket.SHUT_WR)
            raw.expect_eof()
            raw.close()
            got = [(await frame(p, "message"))["message"] for _ in range(5)]
            assert got == [f"m{i}" for i in range(5)]

    run(main())


def test_error_frames_keep_the_connection_open(make_host, tmp_path):
    w = world(make_host, tmp_path, settings=["max_message_chars 10"])
    pub = w.user("eve", "publisher")["id"]

    async def main():
        async with Tabs() as t:
            ws, _ = await t.open(w.url(support(pub), "eve"))
            cases = [
                ("this is not json", "bad_json"),
                ("[1, 2]", "bad_json"),
                ('{"type": "message", "message": "ok", "message": "ok"}', "bad_json"),
                (json.dumps({"message": "no type"}), "bad_type"),
                (json.dumps({"type": "dance"}), "unknown_type"),
                (json.dumps({"type": "message", "message": 42}), "bad_message"),
                (json.dumps({"type": "message", "message": "   "}), "empty_message"),
                (json.dumps({"type": "message", "message": "12345678901"}), "message_too_long"),
                (json.dumps({"type": "message", "message": "ok", "client_msg_id": 5}),
                 "bad_client_msg_id"),
                (json.dumps({"type": "message", "message": "ok", "client_msg_id": "x" * 101}),
                 "bad_client_msg_id"),
                (b"\x00\x01", "binary_unsupported"),
            ]
            for data, code in cases:
                await ws.send(data)
                err = await frame(ws, "error")
                assert err["code"] == code and err["message"], (data, err)
            # the limit counts characters: ten 2-byte characters pass
            ok = await say(ws, "\u00e9" * 10, cmid="fits")
            assert ok["message"] == "\u00e9" * 10
            await nothing_pending(ws)

    run(main())


def test_rate_limit_errors_then_1008(make_host, tmp_path):
    w = world(make_host, tmp_path, settings=["rate 0.001", "burst 3", "abuse_close_after 5"])
    pub = w.user("flo", "publisher")["id"]

    async def main():
        async with Tabs() as t:
            ws, _ = await t.open(w.url(support(pub), "flo"))
            for _ in range(12):
                await send(ws, "ping")
            code, frames = await closed_with(ws)
            assert code == 1008
            assert frames[:3] == [{"type": "pong"}] * 3, frames
            assert [f["code"] for f in frames[3:]] == ["rate_limited"] * 4, frames
            # another connection of the same user has its own bucket
            other, _ = await t.open(w.url(support(pub), "flo"))
            await nothing_pending(other)

    run(main())


# --------------------------------------------------------------------------
# two hosts, one Redis layer, one store


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request, tmp_path):
    """Config lines (auth, store) for two hosts sharing one store: the
    SQLite file of auth_config_lines, or a fresh PostgreSQL database
    (without CHANHOST_TEST_PG_URL the test fails; it never skips)."""
    lines = auth_config_lines(tmp_path)
    if request.param == "sqlite":
        yield lines
        return
    db = PgDatabase("chanhost_support")
    try:
        yield [l for l in lines if not l.startswith("store ")] + [
            f"store {db.url}", f"auth_secret_file {tmp_path}/auth.secret",
            f"store_key_file {tmp_path}/store.key"]
    finally:
        db.drop()


def test_two_hosts_behind_redis_share_the_rooms(shared_store, make_host):
    redis = RedisServer()
    try:
        lines = shared_store + [f"layer {redis.url}"]
        w1, w2 = World(make_host(lines, routes=ROUTES)), World(make_host(lines, routes=ROUTES))
        pub = w1.user("hanna", "publisher")["id"]
        cli = w1.uid("hugo")
        w1.api.register_ad(77, pub)
        w2.users, w2.tokens = w1.users, w1.tokens

        async def main():
            async with Tabs() as t:
                c, _ = await t.open(w1.url(ad(77), "hugo"))
                p, _ = await t.open(w2.url(ad(77), "hanna"))
                conv = next(r for r in w1.api.rooms(w1.token("hugo"))
                            if r["key"] == f"ad:77:client:{cli}")
                await subscribed(redis, "ad_77", 1)
                await subscribed(redis, f"adchat_{conv['id']}", 1)
                m = await say(c, "across hosts", cmid="h1")
                assert await frame(p, "message") == m
                r = await say(p, "got it", cmid="h2", client_id=cli)
                assert await frame(c, "message") == r
                await send(c, "typing")
                assert (await frame(p, "typing"))["user_name"] == "hugo"
                _, h = await t.open(w2.url(ad(77), "hugo"))
                assert h["messages"] == [m, r]
                _, h = await t.open(w1.url(ad(77), "hanna"))
                assert h["messages"] == [m, r]

        run(main())
    finally:
        redis.stop()
