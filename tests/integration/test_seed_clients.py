"""Seed clients' payloads unchanged (issue 15, parts 1 and 2), with real
WebSocket clients against the real host:

- seed 002 on /ws/chats/<id>/: {"type": "message", "text"} is taken, and
  every new message reaches that route as chatroom's chat_message and
  then as seed 002's {"type": "message", "text", "sender"}; other routes
  keep chatroom's frame only;
- seed 003's publisher writes without client_id: to the conversation of
  ?client_id=, else to the one with the newest message it got;
- read receipts, unread counts that clear and lobby notifications for
  ad, support and task rooms, as for chat rooms (plugins/common/receipts.c).

Waits are on frames with deadlines; "nothing else came" is a ping answered
by the very next frame (nothing_pending).
"""

import pytest

from chatkit import chat_host, frame, nothing_pending, open_ws, post, run_chat, send, unstreamed

ROUTES = [
    "/ws/chat-room/<int:room_id>/ chatroom",
    "/ws/chats/<int:chat_id>/ chatroom",
    "/ws/lobby/ chatroom",
    "/ws/task-comments/<int:task_id>/ taskcomments",
    "/ws/chat/ad/<int:ad_id>/ support",
    "/ws/chat/support/<str:room_name>/ support",
]


@pytest.fixture
def world(make_host, tmp_path):
    return chat_host(make_host, tmp_path, ROUTES)


def ad(n):
    return f"/ws/chat/ad/{n}/"


def room_of(w, name, key):
    """The room keyed key among user name's rooms (GET /api/rooms/)."""
    return next(r for r in w.api.rooms(w.token(name)) if r["key"] == key)


# --------------------------------------------------------------------------
# seed 002


def test_seed_002_text_messages_on_chats(world):
    w = world
    dm = w.api.create_room(w.token("alice"), "dm", "private", [w.uid("bob")])
    chats = f"/ws/chats/{dm['id']}/"

    def seed_form(cm, text, name):
        return {"type": "message", "id": cm["id"], "chat_id": dm["id"], "text": text,
                "sender": {"id": w.uid(name), "username": name}, "timestamp": cm["timestamp"],
                "client_msg_id": cm["client_msg_id"]}

    async def main():
        a, _ = await open_ws(w.url(chats, "alice"))
        b, _ = await open_ws(w.url(chats, "bob"))
        r, _ = await open_ws(w.url(f"/ws/chat-room/{dm['id']}/", "bob"))
        await send(a, "message", text="Hello")
        for ws in (a, b):
            cm = await frame(ws, "chat_message")
            assert (cm["message"], cm["username"], cm["user_id"]) == ("Hello", "alice",
                                                                      w.uid("alice"))
            assert await frame(ws) == seed_form(cm, "Hello", "alice")
        assert (await frame(r, "chat_message"))["message"] == "Hello"
        await nothing_pending(r)            # other routes: chatroom's frame only
        # chatroom's payloads on the same route: ack, chat_message, seed 002's form
        mid = await post(b, "hi alice", "b1")
        for ws in (a, b):
            cm = await frame(ws, "chat_message")
            assert (cm["id"], cm["client_msg_id"]) == (mid, "b1")
            assert await frame(ws) == seed_form(cm, "hi alice", "bob")
        # a text message with a client_msg_id is acked like chat_message
        await send(a, "message", text="again", client_msg_id="a2")
        assert (await frame(a, "ack"))["client_msg_id"] == "a2"
        assert (await frame(a, "chat_message"))["message"] == "again"
        assert (await frame(a, "message"))["text"] == "again"
        for bad in ({"text": ""}, {}, {"text": 5}):
            await send(a, "message", **bad)
            assert (await frame(a, "error"))["code"] == "bad_request"
        await nothing_pending(a)
        history = w.api.messages(w.token("bob"), dm["id"])
        assert [m.get("message", m.get("content")) for m in history] == \
            ["Hello", "hi alice", "again"]

    run_chat(main)


# --------------------------------------------------------------------------
# seed 003: the publisher's frames without client_id


def test_publisher_without_client_id_answers_the_current_conversation(world):
    w = world
    w.api.register_ad(7, w.user("pia", "publisher")["id"])
    ann, bob = w.uid("ann"), w.uid("bob")

    async def main():
        ca, _ = await open_ws(w.url(ad(7), "ann"))
        cb, _ = await open_ws(w.url(ad(7), "bob"))
        await send(ca, "message", message="from ann")
        assert (await frame(ca, "message"))["message"] == "from ann"
        p, hist = await open_ws(w.url(ad(7), "pia"))
        assert [m["client_id"] for m in hist["messages"]] == [ann]
        await send(p, "message", message="to ann")          # seed 003's page, unchanged
        got = await frame(ca, "message")
        assert (got["message"], got["client_id"], got["sender_role"]) == ("to ann", ann,
                                                                       "publisher")
        assert (await frame(p, "message"))["client_id"] == ann
        await send(cb, "message", message="from bob")       # now bob's is the newest
        assert (await frame(cb, "message"))["message"] == "from bob"
        assert (await frame(p, "message"))["client_id"] == bob
        await send(p, "message", message="to bob")
        assert (await frame(cb, "message"))["message"] == "to bob"
        assert (await frame(p, "message"))["client_id"] == bob
        await send(p, "typing")                              # typing follows too
        assert (await frame(cb, "typing"))["client_id"] == bob
        await nothing_pending(ca)
        # ?client_id= fixes the conversation of that socket
        pf, _ = await open_ws(w.url(ad(7), "pia", query=f"client_id={ann}"))
        await send(cb, "message", message="bob again")
        assert (await frame(cb, "message"))["message"] == "bob again"
        assert (await frame(pf, "message"))["client_id"] == bob
        await send(pf, "message", message="still ann")
        assert (await frame(ca, "message"))["message"] == "still ann"
        await send(pf, "message", message="explicit", client_id=bob)   # client_id wins
        assert (await frame(cb, "message"))["message"] == "explicit"
        await nothing_pending(ca)
        await nothing_pending(cb)

    run_chat(main)


# --------------------------------------------------------------------------
# receipts, unread counts and lobby notifications


def test_ad_conversation_notifies_and_replying_clears_unread(world):
    w = world
    pia = w.user("pia", "publisher")["id"]
    w.api.register_ad(3, pia)
    ann = w.uid("ann")

    async def main():
        lp, _ = await open_ws(w.url("/ws/lobby/", "pia"), first="unread")
        la, _ = await open_ws(w.url("/ws/lobby/", "ann"), first="unread")
        ca, _ = await open_ws(w.url(ad(3), "ann"))
        rid = room_of(w, "ann", f"ad:3:client:{ann}")["id"]
        for n, text in ((1, "is it still for sale?"), (2, "hello?")):
            await send(ca, "message", message=text)
            assert await frame(lp) == {"type": "notification", "sender": "ann",
                                       "target_user": "pia", "room_type": "private",
                                       "room_id": rid, "unread": n}
        assert room_of(w, "pia", f"ad:3:client:{ann}")["unread"] == 2
        p, _ = await open_ws(w.url(ad(3), "pia"))
        await send(p, "message", message="yes")              # answering reads the chat
        assert await frame(lp) == {"type": "unread", "counts": {str(rid): 0}}
        assert room_of(w, "pia", f"ad:3:client:{ann}")["unread"] == 0
        assert await frame(la) == {"type": "notification", "sender": "pia",
                                   "target_user": "ann", "room_type": "private",
                                   "room_id": rid, "unread": 1}
        got = [await frame(ca, "message") for _ in range(3)]
        assert [m["message"] for m in got] == ["is it still for sale?", "hello?", "yes"]
        await send(ca, "read_receipt", message_id=got[2]["id"])
        assert await frame(p, "message") == got[2]
        assert unstreamed(await frame(p)) == {"type": "read_receipt", "message_id": got[2]["id"],
                                              "username": "ann", "user_id": ann, "client_id": ann}
        assert await frame(la) == {"type": "unread", "counts": {str(rid): 0}}
        await send(ca, "read_receipt", message_id=got[0]["id"])   # her own: nothing
        await nothing_pending(ca)
        await nothing_pending(p)
        await nothing_pending(lp)

    run_chat(main)


def test_support_room_receipts_and_unread(world):
    w = world
    pub = w.user("pub", "publisher")["id"]
    w.user("root", role="admin")
    room = f"/ws/chat/support/publisher_{pub}/"

    async def main():
        lp, _ = await open_ws(w.url("/ws/lobby/", "pub"), first="unread")
        p, _ = await open_ws(w.url(room, "pub"))
        rid = room_of(w, "pub", f"support:publisher_{pub}")["id"]
        adm, _ = await open_ws(w.url(room, "root"))
        for text in ("welcome", "how can we help?"):
            await send(adm, "message", message=text)
            assert (await frame(adm, "message"))["message"] == text
        ids = [(await frame(p, "message"))["id"] for _ in range(2)]
        assert [(await frame(lp, "notification"))["unread"] for _ in range(2)] == [1, 2]
        await send(p, "read_receipt", message_id=ids[0])
        assert unstreamed(await frame(adm)) == {"type": "read_receipt", "message_id": ids[0],
                                                "username": "pub", "user_id": pub}
        assert await frame(lp) == {"type": "unread", "counts": {str(rid): 1}}
        await send(p, "bulk_read")
        assert unstreamed(await frame(adm)) == {"type": "bulk_read", "message_ids": [ids[1]],
                                                "username": "pub", "user_id": pub}
        assert await frame(lp) == {"type": "unread", "counts": {str(rid): 0}}
        await send(p, "read_receipt", message_id="x")
        assert (await frame(p, "error"))["code"] == "bad_request"
        await nothing_pending(p)                              # never one's own receipts
        _, counts = await open_ws(w.url("/ws/lobby/", "pub"), first="unread")
        assert counts["counts"][str(rid)] == 0

    run_chat(main)


def test_task_comments_notify_and_receipts_clear(world):
    w = world
    for name in ("alice", "bob"):
        w.api.add_task_member(5, w.uid(name))
    task = "/ws/task-comments/5/"

    async def main():
        lb, _ = await open_ws(w.url("/ws/lobby/", "bob"), first="unread")
        a, _ = await open_ws(w.url(task, "alice"))
        b, _ = await open_ws(w.url(task, "bob"))
        rid = room_of(w, "bob", "task:5")["id"]
        cid = await post(a, "looks good", "c1", type_="comment")
        assert (await frame(b, "comment"))["id"] == cid
        assert await frame(lb) == {"type": "notification", "sender": "alice",
                                   "target_user": "bob", "room_type": "private",
                                   "room_id": rid, "unread": 1}
        await send(b, "read_receipt", message_id=cid)
        assert (await frame(a, "comment"))["id"] == cid
        assert unstreamed(await frame(a)) == {"type": "read_receipt", "message_id": cid,
                                              "username": "bob", "user_id": w.uid("bob")}
        assert await frame(lb) == {"type": "unread", "counts": {str(rid): 0}}
        await nothing_pending(b)

    run_chat(main)
