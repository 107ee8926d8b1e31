"""The taskcomments plugin (plugins/taskcomments) through the real host:
seed 001's /ws/task-comments/<int:task_id>/ with task membership from the
HTTP API (POST/DELETE /api/tasks/<id>/members/), every refusal, comments
acked after commit and broadcast once to everyone watching the task (and
nobody else), the "chat_message" alias, history and ?since= recovery,
edit and delete by the author only, typing, heartbeat, error frames and
the rate limit.
"""

import pytest

from chatkit import (
    chat_host,
    closed_with,
    frame,
    nothing_pending,
    open_ws,
    post,
    refused,
    run_chat,
    say,
    send,
    unstreamed,
)

ROUTES = ["/ws/task-comments/<int:task_id>/ taskcomments"]


def task_url(w, task, name, query=""):
    return w.url(f"/ws/task-comments/{task}/", name, query)


@pytest.fixture
def board(make_host, tmp_path):
    """Task 7 watched by alice and bob, task 8 by carol."""
    w = chat_host(make_host, tmp_path, ROUTES, settings=["taskcomments history_limit 2"])
    for task, name in ((7, "alice"), (7, "bob"), (8, "carol")):
        assert w.api.add_task_member(task, w.uid(name)) is True
    return w


async def comment(ws, text, cmid):
    """A member's comment: its id, after its ack and its own copy."""
    return await say(ws, text, cmid, type_="comment")


def test_refusals(board):
    w = board
    w.user("root", role="admin")

    async def main():
        assert (await refused(w.url("/ws/task-comments/7/")))[0] == 4001
        assert (await refused(task_url(w, 7, None, "token=x.y.z")))[0] == 4001
        assert (await refused(task_url(w, 77, "alice")))[0] == 4004     # no member yet
        assert (await refused(task_url(w, 0, "alice")))[0] == 4004
        assert (await refused(task_url(w, 7, "carol")))[0] == 4003
        assert (await refused(task_url(w, 7, "root")))[0] == 4003       # roles grant nothing
        assert w.api.remove_task_member(7, w.uid("bob")) is True
        assert (await refused(task_url(w, 7, "bob")))[0] == 4003
        ws, hist = await open_ws(task_url(w, 7, "alice"))
        assert unstreamed(hist) == {"type": "history", "messages": []}

    run_chat(main)


def test_comments_reach_every_watcher_once(board):
    w = board

    async def main():
        a, _ = await open_ws(task_url(w, 7, "alice"))
        b, _ = await open_ws(task_url(w, 7, "bob"))
        c, _ = await open_ws(task_url(w, 8, "carol"))
        await send(a, "comment", message="needs tests", client_msg_id="k1", username="eve")
        ack = await frame(a, "ack")
        want = {"type": "comment", "id": ack["id"], "message": "needs tests", "username": "alice",
                "user_id": w.uid("alice"), "client_msg_id": "k1", "task_id": 7}
        for ws in (a, b):
            got = await frame(ws, "comment")
            assert {k: got[k] for k in want} == want and got["timestamp"] > 1.7e12
        # a retry is acked with the same id; the next comment comes next
        assert await post(a, "needs tests", "k1", type_="comment") == ack["id"]
        reply = await post(b, "on it", "k2", type_="chat_message")      # the alias
        for ws in (a, b):
            got = await frame(ws, "comment")
            assert got["id"] == reply and got["username"] == "bob"
        await nothing_pending(c)                                         # another task
        await nothing_pending(a)
        texts = [m["message"] for m in w.api.messages(w.token("bob"), got["room_id"])]
        assert texts == ["needs tests", "on it"]

    run_chat(main)


def test_history_and_since_recovery(board):
    w = board

    async def main():
        a, _ = await open_ws(task_url(w, 7, "alice"))
        ids = [await comment(a, f"c{i}", f"k{i}") for i in range(4)]
        _, hist = await open_ws(task_url(w, 7, "bob"))
        assert [m["message"] for m in hist["messages"]] == ["c2", "c3"]     # history_limit 2
        first = hist["messages"][0]
        assert first["task_id"] == 7 and first["is_deleted"] is False and first["read_by"] == []
        _, hist = await open_ws(task_url(w, 7, "bob", f"since={ids[0]}"))
        assert [m["id"] for m in hist["messages"]] == ids[1:]
        _, hist = await open_ws(task_url(w, 7, "bob", f"since={ids[-1]}"))
        assert hist["messages"] == []

    run_chat(main)


def test_edit_and_delete_by_the_author(board):
    w = board

    async def main():
        a, _ = await open_ws(task_url(w, 7, "alice"))
        b, _ = await open_ws(task_url(w, 7, "bob"))
        cid = await comment(a, "draft", "d1")
        await frame(b, "comment")
        await send(b, "edit_comment", message_id=cid, message="hijacked")
        assert (await frame(b, "error"))["code"] == "forbidden"
        await send(b, "delete_comment", message_id=cid)
        assert (await frame(b, "error"))["code"] == "forbidden"
        await send(a, "edit_comment", message_id=cid, message="final")
        for ws in (b, a):
            got = await frame(ws, "comment_edited")
            assert (got["id"], got["message"]) == (cid, "final") and got["edited_at"]
        await send(a, "delete_comment", message_id=cid)
        for ws in (a, b):
            assert unstreamed(await frame(ws)) == {"type": "comment_deleted", "id": cid}
        await send(a, "edit_message", message_id=cid, message="x")      # chatroom's name
        assert (await frame(a, "error"))["code"] == "unknown_type"
        await send(a, "delete_comment", message_id=cid)
        assert (await frame(a, "error"))["code"] == "not_found"
        await nothing_pending(b)

    run_chat(main)


def test_typing_heartbeat_and_errors(board):
    w = board

    async def main():
        a, _ = await open_ws(task_url(w, 7, "alice"))
        b, _ = await open_ws(task_url(w, 7, "bob"))
        await send(b, "typing")
        assert await frame(a) == {"type": "typing", "username": "bob", "user_id": w.uid("bob"),
                                  "is_typing": True}
        await nothing_pending(b)
        for data, code in (("{", "bad_json"),
                           ('{"type": "comment", "message": "x", "message": "y"}', "bad_json"),
                           ('{"type": 1}', "bad_type"),
                           ('{"type": "reaction", "message_id": 1}', "unknown_type"),
                           ('{"type": "comment"}', "bad_request")):
            await a.send(data)
            assert (await frame(a, "error"))["code"] == code
        await send(a, "comment", message="y" * 4001, client_msg_id="big")
        got = await frame(a, "error")
        assert (got["code"], got["client_msg_id"]) == ("too_long", "big")
        await nothing_pending(a)
        await nothing_pending(b)

    run_chat(main)


def test_rate_limit(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES,
                  settings=["taskcomments rate 0.1", "taskcomments burst 2",
                            "taskcomments abuse_close_after 3"])
    w.api.add_task_member(1, w.uid("alice"))

    async def main():
        a, _ = await open_ws(task_url(w, 1, "alice"))
        for i in range(6):
            await send(a, "typing", is_typing=bool(i % 2))
        code, got = await closed_with(a)
        assert code == 1008
        assert [g["code"] for g in got] == ["rate_limited", "rate_limited"], got

    run_chat(main)
