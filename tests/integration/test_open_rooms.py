"""Open group rooms and one message shape (issue 15, parts 3 and 4),
through the real host, real WebSocket clients and the HTTP API:

- /ws/chat/group/<slug>/ under the default `group_rooms open`: the first
  signed-in user to connect creates the room (open), every later one
  joins it; many first joins at once make one room with every user in
  (on one host with SQLite, and on two hosts sharing PostgreSQL);
- members-only group rooms (POST /api/rooms/ without "open") keep 4003
  for strangers; "open": true makes a REST room joinable by URL;
  `group_rooms members` restores the old route (4004, 4003);
- a user removed from an open room is cut off at once (4003) and may
  join again by connecting;
- one message as the REST history (and the rooms list's last_message)
  gives it, as the live chat_message frame gives it and as the WebSocket
  history gives it: equal.
"""

import asyncio

from chatkit import (
    chat_host,
    closed_with,
    frame,
    open_ws,
    pg_fixture,
    post,
    refused,
    run_chat,
    send,
    two_hosts,
    unstreamed,
)

ROUTES = [
    "/ws/chat/group/<slug:room_name>/ chatroom",
    "/ws/lobby/ chatroom",
]


def world(make_host, tmp_path, settings=()):
    return chat_host(make_host, tmp_path, ROUTES, settings=settings)


def room_of(w, name, key):
    """The room with key among user name's rooms (None if not theirs)."""
    return next((r for r in w.api.rooms(w.token(name)) if r["key"] == key), None)


def test_open_room_made_on_first_join_then_joined(make_host, tmp_path):
    w = world(make_host, tmp_path)

    async def main():
        assert room_of(w, "alice", "group:lounge") is None
        a, hist = await open_ws(w.url("/ws/chat/group/lounge/", "alice"))
        assert unstreamed(hist) == {"type": "history", "messages": []}
        room = room_of(w, "alice", "group:lounge")
        assert room["kind"] == "group" and room["name"] == "lounge"
        assert room["is_open"] is True and room["is_private"] is False
        b, hist = await open_ws(w.url("/ws/chat/group/lounge/", "bob"))
        assert unstreamed(hist) == {"type": "history", "messages": []}
        assert room_of(w, "bob", "group:lounge")["id"] == room["id"]
        msg_id = await post(a, "hello bob", "c1")
        got = await frame(b, "chat_message")
        assert got["id"] == msg_id and got["username"] == "alice", got
        # a third user joining later gets the history
        c, hist = await open_ws(w.url("/ws/chat/group/lounge/", "carol"))
        assert [m["message"] for m in hist["messages"]] == ["hello bob"]
        assert (await refused(w.url("/ws/chat/group/lounge/")))[0] == 4001

    run_chat(main)


def test_concurrent_first_joins_make_one_room(make_host, tmp_path):
    w = world(make_host, tmp_path)
    names = [f"user{i}" for i in range(8)]
    for n in names:
        w.user(n)

    async def main():
        opened = await asyncio.gather(
            *(open_ws(w.url("/ws/chat/group/rush/", n)) for n in names))
        assert all(unstreamed(h) == {"type": "history", "messages": []} for _, h in opened)
        ids = {room_of(w, n, "group:rush")["id"] for n in names}
        assert len(ids) == 1, ids
        # every one of them is a participant: a message reaches all others
        await post(opened[0][0], "first!", "r1")
        for ws, _ in opened[1:]:
            assert (await frame(ws, "chat_message"))["message"] == "first!"

    run_chat(main)


pg = pg_fixture("chanhost_open_rooms")


def test_concurrent_first_joins_on_two_hosts_sharing_postgresql(make_host, tmp_path, pg):
    w1, w2 = two_hosts(make_host, tmp_path, ROUTES, None, pg)
    names = [f"user{i}" for i in range(10)]
    for n in names:
        w1.user(n)
    w2.users, w2.tokens = w1.users, w1.tokens      # one secret: tokens work on both

    async def main():
        opened = await asyncio.gather(*(open_ws((w1 if i % 2 else w2).url(
            "/ws/chat/group/both/", n)) for i, n in enumerate(names)))
        assert all(unstreamed(h) == {"type": "history", "messages": []} for _, h in opened)
        # one room, and every user a participant of it (it is among theirs)
        rooms = [room_of(w1, n, "group:both") for n in names]
        assert None not in rooms and len({r["id"] for r in rooms}) == 1, rooms

    run_chat(main)


def test_members_only_rooms_keep_4003(make_host, tmp_path):
    w = world(make_host, tmp_path)
    club = w.api.create_room(w.token("alice"), "club", "group", [w.uid("bob")])
    assert club["is_open"] is False
    opened = w.api.create_room(w.token("alice"), "square", "group", [], open=True)
    assert opened["is_open"] is True
    bad = w.api.request("POST", "/api/rooms/", {"name": "x", "type": "private", "open": True},
                        token=w.token("alice"))
    assert bad.status == 400 and bad.body["field"] == "open"
    bad = w.api.request("POST", "/api/rooms/", {"name": "y", "type": "group", "open": "yes"},
                        token=w.token("alice"))
    assert bad.status == 400 and bad.body["field"] == "open"

    async def main():
        assert (await refused(w.url("/ws/chat/group/club/", "carol")))[0] == 4003
        assert room_of(w, "carol", "group:club") is None
        b, _ = await open_ws(w.url("/ws/chat/group/club/", "bob"))
        c, _ = await open_ws(w.url("/ws/chat/group/square/", "carol"))
        assert room_of(w, "carol", "group:square")["id"] == opened["id"]

    run_chat(main)


def test_group_rooms_members_setting(make_host, tmp_path):
    w = world(make_host, tmp_path, settings=["chatroom group_rooms members"])
    opened = w.api.create_room(w.token("alice"), "square", "group", [], open=True)

    async def main():
        assert (await refused(w.url("/ws/chat/group/nosuch/", "alice")))[0] == 4004
        assert room_of(w, "alice", "group:nosuch") is None
        # the route does not join, even an open room
        assert (await refused(w.url("/ws/chat/group/square/", "bob")))[0] == 4003
        a, _ = await open_ws(w.url("/ws/chat/group/square/", "alice"))
        assert opened["participants"] == [w.uid("alice")]

    run_chat(main)


def test_removed_from_open_room_cut_off_then_may_rejoin(make_host, tmp_path):
    w = world(make_host, tmp_path)

    async def main():
        a, _ = await open_ws(w.url("/ws/chat/group/hall/", "alice"))
        b, _ = await open_ws(w.url("/ws/chat/group/hall/", "bob"))
        room = room_of(w, "alice", "group:hall")
        assert w.api.remove_participant(w.token("alice"), room["id"], w.uid("bob")) is True
        assert (await closed_with(b))[0] == 4003
        assert room_of(w, "bob", "group:hall") is None
        b, _ = await open_ws(w.url("/ws/chat/group/hall/", "bob"))
        assert room_of(w, "bob", "group:hall")["id"] == room["id"]

    run_chat(main)


def test_rest_and_websocket_shapes_of_a_message_are_equal(make_host, tmp_path):
    w = world(make_host, tmp_path)
    fields = {"id", "message", "username", "user_id", "timestamp", "client_msg_id", "room_id",
              "edited_at", "is_deleted", "read_by"}

    async def main():
        a, _ = await open_ws(w.url("/ws/chat/group/shapes/", "alice"))
        b, _ = await open_ws(w.url("/ws/chat/group/shapes/", "bob"))
        room = room_of(w, "alice", "group:shapes")
        msg_id = await post(a, "one shape", "s-1")
        live = await frame(b, "chat_message")
        assert await frame(a, "chat_message") == live    # the sender's copy
        assert live.pop("type") == "chat_message"
        live = unstreamed(live)      # the stream position: not in the REST shape
        [stored] = w.api.messages(w.token("bob"), room["id"])
        assert set(stored) == fields, stored
        assert stored == live
        assert stored["id"] == msg_id and stored["user_id"] == w.uid("alice")
        assert stored["client_msg_id"] == "s-1" and stored["read_by"] == []
        assert room_of(w, "bob", "group:shapes")["last_message"] == stored
        # read by bob: the REST page and a new connection's history agree
        await send(b, "read_receipt", message_id=msg_id)
        await frame(a, "read_receipt")
        [stored] = w.api.messages(w.token("alice"), room["id"])
        assert stored["read_by"] == [w.uid("bob")]
        c, hist = await open_ws(w.url("/ws/chat/group/shapes/", "alice"))
        assert hist["messages"] == [stored]

    run_chat(main)
