"""Loss-free recovery (issue 16, item 2): every change to a room (a
message, an edit, a delete, a read receipt, a bulk read, a participant
added or removed) takes a position in the room's stream in its own
transaction (docs/store.md, "Streams"); live frames carry it ("pos"), the
history frame carries the room's position and the store's epoch; a client
reconnecting with ?since_pos=N&epoch=E gets exactly the changes after N,
in order, then {"type":"resumed"}, then live frames, none twice
(docs/api.md, "Resuming").  A position of another epoch (the store was
restored with `chanhost import`) or older than the room keeps
(stream_retention) gets {"type":"reload"} and the history.

On SQLite and on PostgreSQL, and across two hosts sharing Redis and
PostgreSQL.  Waits are on frames with deadlines; "nothing twice" is a ping
answered by the very next frame.
"""

import pytest

from apiclient import auth_config_lines
from chatkit import (
    PgDatabase,
    World,
    chat_host,
    connect,
    frame,
    group_room,
    nothing_pending,
    open_ws,
    pg_fixture,
    post,
    redis,  # noqa: F401 (a fixture)
    room_url,
    run_chat,
    say,
    send,
    subscribed,
    two_hosts,
)
from conftest import config_text, run_chanhost

ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, make_host, tmp_path):
    """One host with the chatroom plugin on a fresh store of each engine."""
    if request.param == "sqlite":
        yield chat_host(make_host, tmp_path, ROUTES)
        return
    db = PgDatabase("chanhost_recovery")
    lines = [l for l in auth_config_lines(tmp_path) if not l.startswith("store ")] + [
        f"store {db.url}", f"store_key_file {tmp_path}/store.key"]
    yield World(make_host(lines, routes=ROUTES))
    db.drop()


def resume_query(pos, epoch):
    return f"since_pos={pos}&epoch={epoch}"


async def missed_four(w, room, a, c):
    """While bob is away, alice makes a message, an edit, a delete and a
    read receipt of bob's message b0 (each seen by carol, so committed):
    the ids of the new message (m2) and of the edited one (m1)."""
    m1 = w.m1
    m2 = await say(a, "while away", "m2")
    assert (await frame(c, "chat_message"))["id"] == m2
    await send(a, "edit_message", message_id=m1, message="m1 edited")
    for ws in (a, c):
        assert (await frame(ws, "message_edited"))["id"] == m1
    await send(a, "delete_message", message_id=m2)
    for ws in (a, c):
        assert (await frame(ws, "message_deleted"))["id"] == m2
    await send(a, "read_receipt", message_id=w.b0)
    assert (await frame(c, "read_receipt"))["message_id"] == w.b0
    return m2, m1


def test_resume_replays_exactly_what_was_missed(world):
    w = world
    room = group_room(w, "alice", ["bob", "carol"])

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        c, _ = await open_ws(room_url(w, room, "carol"))
        b, hist = await open_ws(room_url(w, room, "bob"))
        epoch = hist["epoch"]
        assert isinstance(hist["pos"], int) and isinstance(epoch, str) and epoch
        w.b0 = await say(b, "from bob", "b0")
        for ws in (a, c):
            assert (await frame(ws, "chat_message"))["id"] == w.b0
        w.m1 = await say(a, "first", "m1")
        assert (await frame(c, "chat_message"))["id"] == w.m1
        seen = await frame(b, "chat_message")          # live, with its position
        assert seen["id"] == w.m1 and seen["pos"] == hist["pos"] + 2
        last = seen["pos"]
        await b.close()

        m2, m1 = await missed_four(w, room, a, c)
        b = await connect(room_url(w, room, "bob", resume_query(last, epoch)))
        got = [await frame(b) for _ in range(5)]
        assert [f["type"] for f in got] == ["chat_message", "message_edited", "message_deleted",
                                            "read_receipt", "resumed"], got
        assert [f["pos"] for f in got] == [last + 1, last + 2, last + 3, last + 4, last + 4]
        assert got[0]["id"] == m2 and got[0]["message"] == "while away"
        assert got[1]["id"] == m1 and got[1]["message"] == "m1 edited"
        assert got[2]["id"] == m2
        assert got[3]["message_id"] == w.b0 and got[3]["user_id"] == w.uid("alice")
        assert got[3]["username"] == "alice"
        assert got[4]["epoch"] == epoch
        # then live, once
        m3 = await say(a, "after", "m3")
        live = await frame(b, "chat_message")
        assert live["id"] == m3 and live["pos"] == last + 5
        await nothing_pending(b)

        # resuming at the newest position replays nothing
        b2 = await connect(room_url(w, room, "bob", resume_query(last + 5, epoch)))
        assert await frame(b2) == {"type": "resumed", "pos": last + 5, "epoch": epoch}
        await nothing_pending(b2)

    run_chat(main)


def test_membership_changes_are_in_the_stream(world):
    w = world
    room = group_room(w, "alice", ["bob"])

    async def main():
        b, hist = await open_ws(room_url(w, room, "bob"))
        await b.close()
        w.api.add_participant(w.token("alice"), room["id"], w.uid("carol"))
        w.api.remove_participant(w.token("alice"), room["id"], w.uid("carol"))
        b = await connect(room_url(w, room, "bob", resume_query(hist["pos"], hist["epoch"])))
        got = [await frame(b) for _ in range(3)]
        assert [(f["type"], f.get("user_id"), f["pos"]) for f in got] == [
            ("participant_added", w.uid("carol"), hist["pos"] + 1),
            ("participant_removed", w.uid("carol"), hist["pos"] + 2),
            ("resumed", None, hist["pos"] + 2)]
        await nothing_pending(b)

    run_chat(main)


def test_another_epoch_or_a_bad_position_gets_reload(world):
    w = world
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, hist = await open_ws(room_url(w, room, "alice"))
        mid = await post(a, "one", "c1")
        for query, code in ((resume_query(hist["pos"], "0123456789abcdef"), "epoch_changed"),
                            (resume_query(hist["pos"] + 1000, hist["epoch"]), "epoch_changed")):
            b = await connect(room_url(w, room, "bob", query))
            f = await frame(b, "reload")
            assert f["code"] == code and f["message"]
            h = await frame(b, "history")
            assert [m["id"] for m in h["messages"]] == [mid]
            assert h["epoch"] == hist["epoch"] and h["pos"] == hist["pos"] + 1
            await nothing_pending(b)
        b = await connect(room_url(w, room, "bob", "since_pos=x"))
        assert (await frame(b, "error"))["code"] == "bad_request"
        assert (await frame(b, "history"))["messages"][0]["id"] == mid

    run_chat(main)


def test_a_position_older_than_the_retention_gets_reload(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES, settings=["chatroom stream_retention 2", "chatroom rate 0"])
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, hist = await open_ws(room_url(w, room, "alice"))
        for i in range(64):             # the 64th position trims up to 64 - 2
            await say(a, f"m{i}", f"c{i}")
        b = await connect(room_url(w, room, "bob", resume_query(hist["pos"], hist["epoch"])))
        f = await frame(b, "reload")
        assert f["code"] == "too_old"
        h = await frame(b, "history")
        assert h["pos"] == hist["pos"] + 64
        # the positions after the trim are kept: a resume from there works
        b = await connect(room_url(w, room, "bob", resume_query(hist["pos"] + 62, h["epoch"])))
        got = [await frame(b) for _ in range(3)]
        assert [f["type"] for f in got] == ["chat_message", "chat_message", "resumed"]
        assert [f["message"] for f in got[:2]] == ["m62", "m63"]

    run_chat(main)


def test_a_position_from_before_a_restore_gets_reload(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ROUTES)
    room = group_room(w, "alice", ["bob"])
    state = {}

    async def before():
        a, hist = await open_ws(room_url(w, room, "alice"))
        state["id"] = await post(a, "kept", "k1")
        state["pos"], state["epoch"] = hist["pos"] + 1, hist["epoch"]

    run_chat(before)
    w.host.stop()
    backup = tmp_path / "backup.jsonl"
    r = run_chanhost(["--config", str(w.host.config_path), "export", "--output", str(backup)])
    assert r.returncode == 0, r.stderr
    restored = tmp_path / "restored"
    restored.mkdir()
    lines = [l for l in auth_config_lines(tmp_path) if not l.startswith("store ")] + [
        f"store sqlite:{restored}/chat.db"]
    cfg = tmp_path / "restored.conf"
    cfg.write_text(config_text(lines, routes=ROUTES))
    r = run_chanhost(["--config", str(cfg), "import", str(backup)])
    assert r.returncode == 0, (r.stdout, r.stderr)
    w2 = World(make_host(config=cfg.read_text()))
    w2.users = w.users                        # imported, with their ids
    w2.tokens = {name: w2.api.token_for(w.uid(name)) for name in ("alice", "bob")}

    async def after():
        b = await connect(room_url(w2, room, "bob", resume_query(state["pos"], state["epoch"])))
        f = await frame(b, "reload")
        assert f["code"] == "epoch_changed"
        h = await frame(b, "history")
        assert [m["id"] for m in h["messages"]] == [state["id"]]
        assert h["epoch"] != state["epoch"]

    run_chat(after)


pg = pg_fixture("chanhost_recovery2")


def test_resume_on_another_host(make_host, tmp_path, redis, pg):
    w1, w2 = two_hosts(make_host, tmp_path, ROUTES, redis, pg)
    room = group_room(w1, "alice", ["bob"])
    w2.users, w2.tokens = w1.users, w1.tokens

    async def main():
        a, _ = await open_ws(room_url(w1, room, "alice"))
        b, hist = await open_ws(room_url(w2, room, "bob"))
        await subscribed(redis, f"chat_{room['id']}", 2)
        m1 = await say(a, "one", "c1")
        seen = await frame(b, "chat_message")
        assert seen["id"] == m1 and seen["pos"] == hist["pos"] + 1
        await b.close()
        await send(a, "edit_message", message_id=m1, message="one edited")
        await frame(a, "message_edited")
        m2 = await say(a, "two", "c2")
        # bob comes back on the other host: the positions are the store's
        b = await connect(room_url(w1, room, "bob", resume_query(seen["pos"], hist["epoch"])))
        got = [await frame(b) for _ in range(3)]
        assert [(f["type"], f["id"]) for f in got[:2]] == [("message_edited", m1),
                                                          ("chat_message", m2)]
        assert got[2] == {"type": "resumed", "pos": seen["pos"] + 2, "epoch": hist["epoch"]}
        await nothing_pending(b)

    run_chat(main)


def test_live_frames_carry_positions_in_order(world):
    w = world
    room = group_room(w, "alice", ["bob"])

    async def main():
        a, hist = await open_ws(room_url(w, room, "alice"))
        b, _ = await open_ws(room_url(w, room, "bob"))
        mid = await say(b, "x", "x1")
        assert (await frame(a, "chat_message"))["pos"] == hist["pos"] + 1
        await send(a, "read_receipt", message_id=mid)
        assert (await frame(b, "read_receipt"))["pos"] == hist["pos"] + 2
        await send(a, "bulk_read")          # nothing new to mark: no position taken
        await send(b, "edit_message", message_id=mid, message="y")
        assert (await frame(a, "message_edited"))["pos"] == hist["pos"] + 3

    run_chat(main)


def test_task_members_are_in_the_stream(make_host, tmp_path):
    w = chat_host(make_host, tmp_path, ["/ws/task-comments/<int:task_id>/ taskcomments"])
    alice, bob = w.uid("alice"), w.uid("bob")
    assert w.api.add_task_member(7, alice) is True

    async def main():
        a, hist = await open_ws(w.url("/ws/task-comments/7/", "alice"))
        await a.close()
        assert w.api.add_task_member(7, bob) is True        # the answers are as before
        assert w.api.remove_task_member(7, bob) is True
        a = await connect(w.url("/ws/task-comments/7/", "alice",
                                resume_query(hist["pos"], hist["epoch"])))
        got = [await frame(a) for _ in range(3)]
        assert [(f["type"], f.get("user_id"), f["pos"]) for f in got] == [
            ("participant_added", bob, hist["pos"] + 1),
            ("participant_removed", bob, hist["pos"] + 2),
            ("resumed", None, hist["pos"] + 2)]

    run_chat(main)


def test_changes_during_a_resume_arrive_once_without_gap(make_host, tmp_path):
    """Bob resumes while alice writes: what the store replays and what the
    layer delivers meanwhile overlap; each position arrives once, in
    order, none missing."""
    w = chat_host(make_host, tmp_path, ROUTES, settings=["chatroom rate 0"])
    room = group_room(w, "alice", ["bob"])
    missed, during = 250, 20   # the replay takes two store pages

    async def burst(a, word, n):
        for i in range(n):
            await send(a, "chat_message", message=f"{word}{i}")

    async def main():
        a, _ = await open_ws(room_url(w, room, "alice"))
        b, hist = await open_ws(room_url(w, room, "bob"))
        await b.close()
        await burst(a, "before", missed)
        last = hist["pos"] + missed + during
        b = await connect(room_url(w, room, "bob", resume_query(hist["pos"], hist["epoch"])))
        await burst(a, "during", during)    # while bob's replay is paging
        positions, resumed = [], 0
        while not resumed or not positions or positions[-1] < last:
            f = await frame(b)
            if f["type"] == "resumed":
                resumed += 1
                continue
            assert f["type"] == "chat_message", f
            positions.append(f["pos"])
        assert resumed == 1
        assert positions == list(range(hist["pos"] + 1, last + 1))
        await nothing_pending(b)

    run_chat(main)
