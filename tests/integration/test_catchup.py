"""Catch-up that always completes (plugins/common/catchup.c): a ?since=
backlog far larger than max_outbound_bytes (6,000 messages of 3 KB, 18 MB,
against the default 4 MB) goes out in history frames of bounded size, each
after the previous one was written, and arrives whole, once, in order,
without a 1013; messages sent live meanwhile follow exactly once; past
catchup_max the client gets a reload frame and the newest history.

The room is filled by `chanhost import` of a generated JSON-lines file
before the host starts (docs/store.md, "import"), as an operator would.
"""

import json

from apiclient import auth_config_lines
from chatkit import World, connect, frame, nothing_pending, run_chat, say
from conftest import config_text, run_chanhost

ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]
T0 = 1_700_000_000_000
ALICE, BOB, ROOM = 1, 2, 1
FRAME_MSGS = 200
FRAME_BYTES = 256 * 1024


def filled_host(make_host, tmp_path, n, size, settings=()):
    """A host whose store holds users alice (1) and bob (2) and one group
    room (1) of both with n messages of about size bytes (ids 1..n, by
    alice, each starting "m<i> "); returns its World."""
    lines = auth_config_lines(tmp_path) + [f"plugin_setting {s}" for s in settings]
    text = config_text(lines, routes=ROUTES)
    cfg = tmp_path / "import.conf"
    cfg.write_text(text)
    rows = [{"type": "user", "id": uid, "username": name, "email": None,
             "password": "pbkdf2$x", "role": "user", "is_active": True, "created_at": T0}
            for uid, name in ((ALICE, "alice"), (BOB, "bob"))]
    rows.append({"type": "room", "id": ROOM, "key": "group:big", "kind": "group",
                 "name": "big", "is_private": False, "created_at": T0, "is_active": True,
                 "participants": [{"user_id": ALICE, "joined_at": T0},
                                  {"user_id": BOB, "joined_at": T0}]})
    filler = "x" * size
    rows += [{"type": "message", "id": i, "room_id": ROOM, "sender_id": ALICE,
              "content": f"m{i} {filler}", "created_at": T0 + i, "edited_at": None,
              "is_deleted": False, "client_msg_id": f"c{i}", "extra": {"username": "alice"},
              "read_by": []} for i in range(1, n + 1)]
    data = tmp_path / "backlog.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run_chanhost(["--config", str(cfg), "import", str(data)], timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    w = World(make_host(config=text))
    for name, uid in (("alice", ALICE), ("bob", BOB)):
        w.users[name] = {"id": uid, "username": name}
        w.tokens[name] = w.api.token_for(uid)
    return w


async def history_frames(ws):
    """History frames up to the one without "more" (each checked for its
    bounds): (their messages, number of frames)."""
    msgs, n = [], 0
    while True:
        f = await frame(ws, "history")
        n += 1
        assert len(f["messages"]) <= FRAME_MSGS
        size = sum(len(json.dumps(m, separators=(",", ":"))) + 1 for m in f["messages"])
        assert len(f["messages"]) == 1 or size <= FRAME_BYTES, size
        msgs += f["messages"]
        if not f.get("more"):
            assert "more" not in f
            return msgs, n


def test_since_catches_up_6000_messages_of_3kb(make_host, tmp_path):
    n = 6000
    w = filled_host(make_host, tmp_path, n, 3000)
    room = f"/ws/chat-room/{ROOM}/"

    async def main():
        b = await connect(w.url(room, "bob", "since=0"), max_size=2 ** 20)
        first = await frame(b, "history")
        assert first["more"] is True and [m["id"] for m in first["messages"]] == \
            list(range(1, len(first["messages"]) + 1))
        # alice talks while bob is still behind: every message arrives once,
        # after the backlog, in order
        a = await connect(w.url(room, "alice"))
        await frame(a, "history")
        live = [await say(a, f"live{i}", f"l{i}") for i in range(5)]
        rest, frames = await history_frames(b)
        got = first["messages"] + rest
        assert frames >= 18_000_000 // FRAME_BYTES
        while len(got) < n + len(live):
            got.append(await frame(b, "chat_message"))
        assert [m["id"] for m in got] == list(range(1, n + 1)) + live
        assert all(m["message"].startswith(f"m{m['id']} ") for m in got[:n])
        assert [m["message"] for m in got[n:]] == [f"live{i}" for i in range(5)]
        await nothing_pending(b)

    run_chat(main)
    assert "code=1013" not in w.host.stderr_text(), "a client was closed as too slow"


def test_past_catchup_max_the_client_is_told_to_reload(make_host, tmp_path):
    w = filled_host(make_host, tmp_path, 1500, 100,
                    settings=["chatroom catchup_max 1000", "chatroom history_limit 30"])

    async def main():
        b = await connect(w.url(f"/ws/chat-room/{ROOM}/", "bob", "since=0"))
        sent = []
        while True:
            f = await frame(b)
            if f["type"] == "reload":
                break
            assert f["type"] == "history" and f["more"] is True
            sent += f["messages"]
        assert f == {"type": "reload", "code": "too_far_behind", "max": 1000,
                     "message": f["message"]}
        assert [m["id"] for m in sent] == list(range(1, len(sent) + 1))
        assert len(sent) <= 1000
        newest, _ = await history_frames(b)
        assert [m["id"] for m in newest] == list(range(1471, 1501))
        await nothing_pending(b)
        # exactly catchup_max behind is not too far
        c = await connect(w.url(f"/ws/chat-room/{ROOM}/", "bob", "since=500"))
        got, _ = await history_frames(c)
        assert [m["id"] for m in got] == list(range(501, 1501))
        await nothing_pending(c)

    run_chat(main)
