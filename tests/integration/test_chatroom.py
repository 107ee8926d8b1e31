"""The chatroom plugin (plugins/chatroom) through the real host, real
WebSocket clients and the HTTP API: every route and refusal (4001, 4003,
4004, roles, rate limit), every payload of seed 004 section 3.1 (messages,
typing, read receipts, bulk reads, lobby notifications), acks and retries
without duplicates, history and ?since= recovery, edits and deletes by the
author only, error frames that keep the connection, and the same chat
across two chanhost processes on Redis and PostgreSQL.

Waits are on frames with deadlines; "nothing else arrived" is shown by a
ping answered by the very next frame, or by a later message arriving
first.
"""

import asyncio

import pytest

from chatkit import (
    chat_host,
    closed_with,
    connect,
    frame,
    group_room,
    messages,
    nothing_pending,
    open_ws,
    pg_fixture,
    post,
    redis,  # noqa: F401 (a fixture)
    refused,
    room_url,
    run_chat,
    say,
    send,
    subscribed,
    two_hosts,
    unstreamed,
)

ROUTES = [
    "/ws/chat-room/<int:room_id>/ chatroom",
    "/ws/threads/<int:thread_id>/ chatroom",
    "/ws/chats/<int:chat_id>/ chatroom",
    "/ws/chat/group/<slug:room_name>/ chatroom",
    "/ws/lobby/ chatroom",
    "/ws/task-comments/<int:task_id>/ taskcomments",
]
ID_ROUTES = ["/ws/chat-room/{}/", "/ws/threads/{}/", "/ws/chats/{}/"]


@pytest.fixture
def world(make_host, tmp_path):
    return chat_host(make_host, tmp_path, ROUTES)


# --------------------------------------------------------------------------
# refusals


def test_refusals_on_every_route(world):
    w = world
    room = group_room(w, "alice", ["bob"])
    w.user("carol")
    w.user("root", role="admin")
    w.api.add_task_member(5, w.uid("alice"))
    task_room = next(r for r in w.api.rooms(w.token("alice")) if r["key"] == "task:5")

    async def main():
        for route in ID_ROUTES:
            path = route.format(room["id"])
            assert (await refused(w.url(path)))[0] == 4001, path
            assert (await refused(w.url(path, query="token=not.a.token")))[0] == 4001, path
            assert (await refused(w.url(path, "carol")))[0] == 4003, path
            assert (await refused(w.url(path, "root")))[0] == 4003, path    # roles grant nothing
            assert (await refused(w.url(route.format(999999), "alice")))[0] == 4004, path
            assert (await refused(w.url(route.format(task_room["id"]), "alice")))[0] == 4004
            ws, hist = await open_ws(w.url(path, "alice"))
            assert unstreamed(hist) == {"type": "history", "messages": []}
            await ws.close()
        # a group room the route may not make (its name is longer than a
        # room's): 4004; a missing room under group_rooms members is 4004
        # too (test_open_rooms.py)
        assert (await refused(w.url(f"/ws/chat/group/{'n' * 101}/", "alice")))[0] == 4004
        assert (await refused(w.url("/ws/chat/group/general/", "carol")))[0] == 4003
        assert (await refused(w.url("/ws/lobby/")))[0] == 4001
        # the token as a subprotocol offer: answered with "Bearer"
        ws = await connect(w.url("/ws/chat/group/general/"),
                              subprotocols=["Bearer", w.token("bob")])
        assert ws.subprotocol == "Bearer"
        await frame(ws, "history")
        await ws.close()

    run_chat(main)


def test_rate_limit_errors_then_1008(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES,
                  settings=["chatroom rate 0.2", "chatroom burst 3", "chatroom abuse_close_after 5"])
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        b, _ = await open_ws(room_url(w, room, "bob"))
        for _ in range(8):
            await send(a, "ping")
        code, got = await closed_with(a)
        assert code == 1008
        assert got[:3] == [{"type": "pong"}] * 3
        assert [g["code"] for g in got[3:]] == ["rate_limited"] * 4, got
        await nothing_pending(b)          # the bucket is per connection
        await b.close()

    run_chat(main)


# --------------------------------------------------------------------------
# messages, acks, order


def test_two_users_see_each_others_messages_in_order(world):
    w = world
    room = group_room(w, "alice", ["bob"])

    async def talk(ws, me, n):
        for i in range(n):
            await send(ws, "chat_message", message=f"{me}{i}", client_msg_id=f"{me}-{i}")
        acks, msgs = [], []
        while len(acks) < n or len(msgs) < 2 * n:
            got = await frame(ws)
            (acks if got["type"] == "ack" else msgs).append(got)
        return acks, msgs

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        b, _ = await open_ws(room_url(w, room, "bob"))
        (acks_a, seen_a), (acks_b, seen_b) = await asyncio.gather(talk(a, "a", 15),
                                                                  talk(b, "b", 15))
        ids = [m["id"] for m in seen_a]
        assert ids == [m["id"] for m in seen_b] and ids == sorted(set(ids))
        assert seen_a == seen_b
        for me, acks in (("a", acks_a), ("b", acks_b)):
            mine = [m for m in seen_a if m["client_msg_id"].startswith(me + "-")]
            assert [m["message"] for m in mine] == [f"{me}{i}" for i in range(15)]
            assert [x["id"] for x in acks] == [m["id"] for m in mine]
            assert {m["username"] for m in mine} == {"alice" if me == "a" else "bob"}
        await nothing_pending(a)
        await nothing_pending(b)

    run_chat(main)


def test_ack_after_commit_and_retries_never_duplicate(world):
    w = world
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        b, _ = await open_ws(room_url(w, room, "bob"))
        await send(a, "chat_message", message="hello", username="mallory", client_msg_id="m-1")
        ack = await frame(a, "ack")
        assert ack == {"type": "ack", "client_msg_id": "m-1", "id": ack["id"]}
        mine, theirs = await frame(a, "chat_message"), await frame(b, "chat_message")
        assert mine == theirs
        assert unstreamed(mine) == {"type": "chat_message", "id": ack["id"], "message": "hello",
                        "username": "alice", "user_id": w.uid("alice"),
                        "timestamp": mine["timestamp"], "client_msg_id": "m-1",
                        "room_id": room["id"], "edited_at": None, "is_deleted": False,
                        "read_by": []}
        assert isinstance(mine["timestamp"], int) and mine["timestamp"] > 1.7e12
        # the same client_msg_id again: acked again, never broadcast again
        assert await post(a, "hello", "m-1") == ack["id"]
        second = await post(a, "next", "m-2")
        assert (await frame(b, "chat_message"))["id"] == second
        assert (await frame(a, "chat_message"))["id"] == second
        # a retry after a reconnect, as seed 004's client does
        await a.close()
        a, hist = await open_ws(room_url(w, room, "alice", f"since={second}"))
        assert hist["messages"] == []
        assert await post(a, "hello", "m-1") == ack["id"]
        # an integer client_msg_id is echoed as sent; none: no ack
        assert await post(a, "numbered", 12345) is not None
        assert (await frame(b, "chat_message"))["client_msg_id"] == "12345"
        await post(a, "no ack wanted")
        got = await frame(b, "chat_message")
        assert got["message"] == "no ack wanted" and got["client_msg_id"].startswith("srv-")
        await frame(a, "chat_message")
        await frame(a, "chat_message")
        await nothing_pending(a)
        await nothing_pending(b)
        texts = [m["message"] for m in w.api.messages(w.token("bob"), room["id"])]
        assert texts == ["hello", "next", "numbered", "no ack wanted"]

    run_chat(main)


# --------------------------------------------------------------------------
# history and recovery


def test_history_and_since_recovery(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES, settings=["chatroom history_limit 3"])
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        ids = [await say(a, f"m{i}", f"c{i}") for i in range(5)]
        b, hist = await open_ws(room_url(w, room, "bob"))
        assert [m["message"] for m in hist["messages"]] == ["m2", "m3", "m4"]
        assert hist["messages"][0] == {
            "id": ids[2], "message": "m2", "username": "alice", "user_id": w.uid("alice"),
            "timestamp": hist["messages"][0]["timestamp"], "client_msg_id": "c2",
            "room_id": room["id"], "edited_at": None, "is_deleted": False, "read_by": []}
        c, hist = await open_ws(room_url(w, room, "bob", f"since={ids[0]}"))
        assert [m["id"] for m in hist["messages"]] == ids[1:]      # not capped at 3
        await c.close()
        # bob drops; three messages later he recovers exactly those
        ids.append(await say(a, "m5", "c5"))
        assert (await frame(b, "chat_message"))["id"] == ids[5]
        await b.close()
        for i in (6, 7, 8):
            ids.append(await say(a, f"m{i}", f"c{i}"))
        b, hist = await open_ws(room_url(w, room, "bob", f"since={ids[5]}"))
        assert [(m["id"], m["message"]) for m in hist["messages"]] == \
            [(ids[i], f"m{i}") for i in (6, 7, 8)]
        await say(a, "m9", "c9")
        assert (await frame(b, "chat_message"))["message"] == "m9"
        c, hist = await open_ws(room_url(w, room, "bob", f"since={ids[-1] + 1}"))
        assert hist["messages"] == []
        await c.close()
        c = await connect(room_url(w, room, "bob", "since=yesterday"))
        assert (await frame(c, "error"))["code"] == "bad_request"
        assert len((await frame(c, "history"))["messages"]) == 3
        await nothing_pending(c)

    run_chat(main)


# --------------------------------------------------------------------------
# typing, receipts, lobby


def test_typing_reaches_the_others_only(world):
    w = world
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        b, _ = await open_ws(room_url(w, room, "bob"))
        await send(a, "typing", is_typing=True, username="mallory")
        assert await frame(b) == {"type": "typing", "username": "alice",
                                  "user_id": w.uid("alice"), "is_typing": True}
        await nothing_pending(a)
        await send(a, "typing", is_typing=False)
        assert (await frame(b, "typing"))["is_typing"] is False
        await send(a, "typing", is_typing="yes")
        assert (await frame(a, "error"))["code"] == "bad_request"
        await nothing_pending(a)
        await nothing_pending(b)

    run_chat(main)


def test_read_receipts_bulk_reads_and_unread_counts(world):
    w = world
    room = group_room(w, "alice", ["bob"])
    other = group_room(w, "alice", ["bob"], name="other")
    rid, oid = str(room["id"]), str(other["id"])

    async def main():
        lobby, counts = await open_ws(w.url("/ws/lobby/", "bob"), first="unread")
        assert counts["counts"] == {rid: 0, oid: 0}
        a, _ = await open_ws(room_url(w, room, "alice"))
        m1, m2 = await say(a, "one", "c1"), await say(a, "two", "c2")
        for n in (1, 2):
            assert await frame(lobby) == {"type": "notification", "sender": "alice",
                                          "room_name": "general", "room_type": "group",
                                          "room_id": room["id"], "unread": n}
        b, _ = await open_ws(room_url(w, room, "bob"))
        await send(a, "read_receipt", message_id=m1)          # her own: no blue tick
        await send(b, "read_receipt", message_id=m1)
        assert unstreamed(await frame(a)) == {"type": "read_receipt", "message_id": m1,
                                              "username": "bob", "user_id": w.uid("bob")}
        assert await frame(lobby) == {"type": "unread", "counts": {rid: 1}}
        await nothing_pending(b)
        await send(b, "read_receipt", message_id=m1)          # not new: nothing
        await send(b, "bulk_read")
        assert unstreamed(await frame(a)) == {"type": "bulk_read", "message_ids": [m2],
                                              "username": "bob", "user_id": w.uid("bob")}
        assert await frame(lobby) == {"type": "unread", "counts": {rid: 0}}
        _, hist = await open_ws(room_url(w, room, "alice"))
        assert [m["read_by"] for m in hist["messages"]] == [[w.uid("bob")]] * 2
        # receipts only for this room's messages; alice has nothing to read
        o, _ = await open_ws(room_url(w, other, "alice"))
        elsewhere = await post(o, "elsewhere", "c3")
        assert (await frame(lobby, "notification"))["room_id"] == other["id"]
        await send(b, "read_receipt", message_id=elsewhere)
        await send(a, "bulk_read")
        m3 = await post(a, "three", "c4")
        assert (await frame(b, "chat_message"))["id"] == m3   # no receipt came first
        assert (await frame(lobby, "notification"))["unread"] == 1
        unread = {r["id"]: r["unread"] for r in w.api.rooms(w.token("bob"))}
        assert unread == {room["id"]: 1, other["id"]: 1}

    run_chat(main)


def test_lobby_notifications_private_and_group(world):
    w = world
    dm = w.api.create_room(w.token("alice"), "dm", "private", [w.uid("bob")])
    thread = w.api.thread_with(w.token("alice"), w.uid("bob"))["room"]
    group = group_room(w, "alice", ["bob", "carol"], name="team")

    async def main():
        lb, first = await open_ws(w.url("/ws/lobby/", "bob"), first="unread")
        lc, _ = await open_ws(w.url("/ws/lobby/", "carol"), first="unread")
        la, _ = await open_ws(w.url("/ws/lobby/", "alice"), first="unread")
        assert set(first["counts"]) == {str(dm["id"]), str(thread["id"]), str(group["id"])}
        for route, room in (("/ws/chats/{}/", dm), ("/ws/threads/{}/", thread)):
            a, _ = await open_ws(room_url(w, room, "alice", route=route))
            await post(a, "psst", "p1")
            assert await frame(lb) == {"type": "notification", "sender": "alice",
                                       "target_user": "bob", "room_type": "private",
                                       "room_id": room["id"], "unread": 1}
            await a.close()
        c, _ = await open_ws(room_url(w, group, "carol", route="/ws/chat/group/team/"))
        await post(c, "hi all", "g1")
        want = {"type": "notification", "sender": "carol", "room_name": "team",
                "room_type": "group", "room_id": group["id"], "unread": 1}
        assert await frame(lb) == want and await frame(la) == want
        await nothing_pending(lc)          # never one's own notification
        await send(lb, "typing")
        assert (await frame(lb, "error"))["code"] == "unknown_type"
        await nothing_pending(lb)

    run_chat(main)


def test_lobby_counts_of_a_burst(world):
    """Messages of a room committed in one store transaction make one
    notification per lobby, with the counts after the last of them (the
    counts are absolute, so nothing is lost): the counts a lobby sees only
    grow and end at the room's count, and a burst makes fewer
    notifications than messages."""
    w = world
    room = group_room(w, "alice", ["bob", "carol", "dave"], name="burst")
    n = 15          # within the rate limit's burst (20)

    async def burst(ws, name):
        for i in range(n):
            await send(ws, "chat_message", message=f"{name}{i}", client_msg_id=f"{name}{i}")

    async def main():
        ld, _ = await open_ws(w.url("/ws/lobby/", "dave"), first="unread")
        lb, _ = await open_ws(w.url("/ws/lobby/", "bob"), first="unread")
        a, _ = await open_ws(room_url(w, room, "alice"))
        c, _ = await open_ws(room_url(w, room, "carol"))
        await asyncio.gather(burst(a, "a"), burst(c, "c"))
        for lobby, want in ((ld, 2 * n), (lb, 2 * n)):
            seen = []
            while not seen or seen[-1] < want:
                note = await frame(lobby, "notification")
                assert note["room_id"] == room["id"] and note["sender"] in ("alice", "carol")
                seen.append(note["unread"])
            assert seen[-1] == want and seen == sorted(set(seen)), seen
            assert len(seen) < 2 * n, seen
            await nothing_pending(lobby)
        unread = {r["id"]: r["unread"] for r in w.api.rooms(w.token("dave"))}
        assert unread[room["id"]] == 2 * n

    run_chat(main)


def test_lobby_counts_when_the_last_of_a_burst_is_a_retry(world):
    """A burst whose messages alternate with retries of a stored message:
    a new message that left its counts to a later append of the batch
    which turned out a duplicate (so brought none) is still notified,
    with counts read after the batch (which may by then include later
    messages, so a count can repeat); the lobby's counts never go down and
    end at the room's count."""
    w = world
    room = group_room(w, "alice", ["dave"], name="retries")
    n = 8

    async def main():
        ld, _ = await open_ws(w.url("/ws/lobby/", "dave"), first="unread")
        a, _ = await open_ws(room_url(w, room, "alice"))
        await post(a, "first", "x")
        assert (await frame(ld, "notification"))["unread"] == 1
        for i in range(n):
            await send(a, "chat_message", message=f"m{i}", client_msg_id=f"m{i}")
            await send(a, "chat_message", message="first", client_msg_id="x")
        seen = []
        while not seen or seen[-1] < n + 1:
            seen.append((await frame(ld, "notification"))["unread"])
        assert seen[-1] == n + 1 and seen == sorted(seen), seen
        await send(ld, "ping")
        while (got := await frame(ld)) != {"type": "pong"}:
            assert got["type"] == "notification" and got["unread"] == n + 1, got
        acks, echoes = [], []
        while len(acks) < 2 * n or len(echoes) < n + 1:
            got = await frame(a)
            (acks if got["type"] == "ack" else echoes).append(got["client_msg_id"])
        assert acks == [c for i in range(n) for c in (f"m{i}", "x")]
        assert echoes == ["x"] + [f"m{i}" for i in range(n)]      # retries not sent again

    run_chat(main)


# --------------------------------------------------------------------------
# edit and delete


def test_edit_and_delete_by_the_author_only(world):
    w = world
    room = group_room(w, "alice", ["bob"])
    other = group_room(w, "alice", [], name="other")

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        b, _ = await open_ws(room_url(w, room, "bob"))
        m1 = await post(a, "tpyo", "c1")
        await frame(a, "chat_message"), await frame(b, "chat_message")
        await send(a, "edit_message", message_id=m1, message="typo")
        for ws in (a, b):
            got = await frame(ws, "message_edited")
            assert unstreamed(got) == {"type": "message_edited", "id": m1, "message": "typo",
                                       "edited_at": got["edited_at"]} and got["edited_at"] > 1.7e12
        for kind, extra in (("edit_message", {"message": "mine now"}), ("delete_message", {})):
            await send(b, kind, message_id=m1, **extra)
            assert (await frame(b, "error"))["code"] == "forbidden"
        await nothing_pending(a)
        await send(a, "edit_message", message_id=999999, message="x")
        assert (await frame(a, "error"))["code"] == "not_found"
        await send(a, "edit_message", message="x")
        assert (await frame(a, "error"))["code"] == "bad_request"
        o, _ = await open_ws(room_url(w, other, "alice"))
        elsewhere = await post(o, "elsewhere", "o1")
        await send(a, "delete_message", message_id=elsewhere)   # not in this room
        assert (await frame(a, "error"))["code"] == "not_found"
        await send(a, "delete_message", id=m1)
        for ws in (a, b):
            assert unstreamed(await frame(ws)) == {"type": "message_deleted", "id": m1}
        await send(a, "edit_message", message_id=m1, message="back")
        assert (await frame(a, "error"))["code"] == "not_found"
        _, hist = await open_ws(room_url(w, room, "bob"))
        assert hist["messages"][0]["is_deleted"] is True and hist["messages"][0]["message"] == ""

    run_chat(main)


# --------------------------------------------------------------------------
# client mistakes


def test_errors_keep_the_connection_open(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES, settings=["chatroom max_message_chars 10"])
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        cases = [("not json", "bad_json"), ("[1, 2]", "bad_json"), ('{"message": "x"}', "bad_type"),
                 ('{"type": "chat_message", "message": "x", "message": "y"}', "bad_json"),
                 ('{"type": "launch"}', "unknown_type"), (b"\x00\x01", "binary_unsupported"),
                 ('{"type": "chat_message", "message": ""}', "bad_request"),
                 ('{"type": "chat_message", "message": 5}', "bad_request"),
                 ('{"type": "chat_message", "message": "x", "client_msg_id": {}}', "bad_request"),
                 ('{"type": "read_receipt", "message_id": "7"}', "bad_request"),
                 ('{"type": "bulk_read", "up_to_id": -1}', "bad_request")]
        for data, code in cases:
            await a.send(data)
            got = await frame(a, "error")
            assert got["code"] == code and got["message"], (data, got)
        await send(a, "chat_message", message="x" * 11, client_msg_id="long")
        assert await frame(a, "error") == {"type": "error", "code": "too_long",
                                           "message": "the message is longer than 10 characters",
                                           "client_msg_id": "long"}
        assert await post(a, "é" * 10, "ten") is not None          # characters, not bytes
        assert (await frame(a, "chat_message"))["message"] == "é" * 10
        await nothing_pending(a)

    run_chat(main)


# --------------------------------------------------------------------------
# two processes: Redis layer, PostgreSQL store


pg = pg_fixture("chanhost_chatroom")


def test_two_hosts_on_redis_and_postgresql(make_host, tmp_path, redis, pg):
    w1, w2 = two_hosts(make_host, tmp_path, ROUTES, redis, pg)
    room = group_room(w1, "alice", ["bob"])
    w2.users, w2.tokens = w1.users, w1.tokens      # one secret: tokens work on both
    group, alice, bob = f"chat_{room['id']}", w1.uid("alice"), w1.uid("bob")

    async def send_five(ws, name):
        for i in range(5):
            await send(ws, "chat_message", message=f"{name}{i}")

    async def main():
        a, _ = await open_ws(room_url(w1, room, "alice"))
        b, _ = await open_ws(room_url(w2, room, "bob"))
        la, _ = await open_ws(w1.url("/ws/lobby/", "alice"), first="unread")
        lb, _ = await open_ws(w2.url("/ws/lobby/", "bob"), first="unread")
        await subscribed(redis, group, 2)
        await subscribed(redis, f"user_{alice}", 1)
        await subscribed(redis, f"user_{bob}", 1)
        first = await post(a, "from one", "a1")
        assert (await frame(b, "chat_message"))["id"] == first
        assert (await frame(a, "chat_message"))["id"] == first
        assert (await frame(lb, "notification"))["unread"] == 1        # across hosts
        reply = await post(b, "from two", "b1")
        assert [m["id"] for m in (await frame(a), await frame(b))] == [reply, reply]
        assert (await frame(la, "notification"))["sender"] == "bob"
        # a retry on the other host is acked with the same id, never sent again
        assert await post(a, "from one", "a1") == first
        b2, _ = await open_ws(room_url(w2, room, "alice", f"since={reply}"))
        assert await post(b2, "from one", "a1") == first
        last = await post(b2, "sentinel", "a2")
        for ws in (a, b):
            assert (await frame(ws, "chat_message"))["id"] == last
        await frame(b2, "chat_message")
        await send(b, "typing", is_typing=True)
        assert (await frame(a, "typing"))["username"] == "bob"
        await send(b, "read_receipt", message_id=first)
        assert (await frame(a, "read_receipt"))["user_id"] == bob
        await b2.close()
        # both ways at once: every message once, each sender's in order
        await asyncio.gather(send_five(a, "a"), send_five(b, "b"))
        for ws in (a, b):
            got = [m["message"] for m in await messages(ws, 10)]
            assert sorted(got) == sorted(f"{n}{i}" for n in "ab" for i in range(5))
            for n in "ab":
                assert [g for g in got if g[0] == n] == [f"{n}{i}" for i in range(5)]
        for ws in (a, b):
            await nothing_pending(ws)
        # each lobby's last notification, across hosts, has the final count
        # (messages committed together make one notification)
        for lobby, w, name in ((la, w1, "alice"), (lb, w2, "bob")):
            want = {r["id"]: r["unread"] for r in w.api.rooms(w.token(name))}[room["id"]]
            got = None
            while got != want:
                note = await frame(lobby)
                if note["type"] == "notification":
                    got = note["unread"]
        texts = [m["message"] for m in w2.api.messages(w2.token("bob"), room["id"])]
        assert len(texts) == 13 and texts.count("from one") == 1

    run_chat(main)
