"""Authorization that follows membership (issue 12, part 2), through real
hosts and real WebSocket clients:

- removing a participant (the rooms API, or a plugin's own endpoint)
  closes that user's open sockets on that room with 4003 within a second,
  on the host that removed them and on another host sharing Redis, while
  their other rooms and the other members stay connected;
- hosts that share only PostgreSQL (each its own memory layer) hear the
  database's notification of a deleted participant: a removal through
  another host's API, or a plain SQL DELETE, cuts the socket off as fast,
  and again after PostgreSQL restarted (the hosts LISTEN again);
- a message from a socket whose user is no longer a participant is never
  stored (the append checks membership in its own transaction);
- who may change a room's participants follows its kind: the rooms of the
  host's API (group, private, thread) are managed by their members; the
  plugins' kinds (task, ad, ad_chat, support) only by the service token or
  an admin (403 forbidden for their members), one test for each kind.

Waits are on frames and closes with deadlines; "still connected" is a ping
answered by the very next frame.
"""

import asyncio
import os
import sqlite3
import subprocess
import time

import pytest

from chatkit import (
    PG_LISTENING,
    chat_host,
    closed_with,
    connect,
    frame,
    nothing_pending,
    open_ws,
    pg_fixture,
    post,
    redis,  # noqa: F401 (a fixture)
    run_chat,
    say,
    send,
    subscribed,
    two_hosts,
)
from conftest import healthz

ROUTES = [
    "/ws/chat-room/<int:room_id>/ chatroom",
    "/ws/task-comments/<int:task_id>/ taskcomments",
    "/ws/chat/ad/<int:ad_id>/ support",
    "/ws/chat/support/<str:room_name>/ support",
]
CUT_OFF = 1.0     # seconds within which a removed member's socket must close
PG_CTL = os.environ.get("CHANHOST_TEST_PG_CTL")


@pytest.fixture
def world(make_host, tmp_path):
    return chat_host(make_host, tmp_path, ROUTES)


def room_url(w, room_id, name):
    return w.url(f"/ws/chat-room/{room_id}/", name)


def task_url(w, task, name):
    return w.url(f"/ws/task-comments/{task}/", name)


def room_of(w, name, kind):
    """The one room of that kind among user name's rooms."""
    rooms = [r for r in w.api.rooms(w.token(name)) if r["kind"] == kind]
    assert len(rooms) == 1, rooms
    return rooms[0]


def participants_call(w, method, room_id, user_id, token):
    return w.api.request(method, f"/api/rooms/{room_id}/participants/", {"user_id": user_id},
                         token=token)


def expect_forbidden(reply):
    assert reply.status == 403, (reply.status, reply.body)
    assert reply.body["error"] == "forbidden" and reply.body["message"], reply.body


async def cut_off(ws):
    """The server closes ws with 4003 within CUT_OFF seconds."""
    start = time.monotonic()
    code, frames = await closed_with(ws, timeout=CUT_OFF)
    assert code == 4003, (code, frames)
    assert time.monotonic() - start < CUT_OFF
    return frames


# --------------------------------------------------------------------------
# one host: removal closes the socket, appends after removal are refused


def test_removed_participant_is_closed_at_once(world):
    w = world
    room = w.api.create_room(w.token("alice"), "general", "group", [w.uid("bob")])
    other = w.api.create_room(w.token("alice"), "other", "group", [w.uid("bob")])

    async def main():
        a, _ = await open_ws(room_url(w, room["id"], "alice"))
        b, _ = await open_ws(room_url(w, room["id"], "bob"))
        b2, _ = await open_ws(room_url(w, room["id"], "bob"))
        b_other, _ = await open_ws(room_url(w, other["id"], "bob"))
        await post(b, "before", "b-1")
        assert w.api.remove_participant(w.token("alice"), room["id"], w.uid("bob")) is True
        await asyncio.gather(cut_off(b), cut_off(b2))
        await nothing_pending(b_other)          # another room of bob's: still open
        assert (await frame(a, "chat_message"))["message"] == "before"
        await nothing_pending(a)                 # the other member: still open
        code, _ = await closed_with(await connect(room_url(w, room["id"], "bob")))
        assert code == 4003
        # leaving is removing oneself: the same cut-off
        b3, _ = await open_ws(room_url(w, other["id"], "bob"))
        assert w.api.remove_participant(w.token("bob"), other["id"], w.uid("bob")) is True
        await asyncio.gather(cut_off(b3), cut_off(b_other))
        texts = [m["message"] for m in w.api.messages(w.token("alice"), room["id"])]
        assert texts == ["before"]

    run_chat(main)


def test_append_of_a_removed_participant_is_not_stored(world, tmp_path):
    """A removal the host did not see (made in the database, as a host
    that shares only the store would): the socket stays open, but its next
    message is refused by the store's check, the client told and closed."""
    w = world
    room = w.api.create_room(w.token("alice"), "general", "group", [w.uid("bob")])

    async def main():
        a, _ = await open_ws(room_url(w, room["id"], "alice"))
        b, _ = await open_ws(room_url(w, room["id"], "bob"))
        db = sqlite3.connect(tmp_path / "chat.db", timeout=10)
        with db:
            db.execute("DELETE FROM participants WHERE room_id = ? AND user_id = ?",
                       (room["id"], w.uid("bob")))
        db.close()
        await send(b, "chat_message", message="after", client_msg_id="b-2")
        code, frames = await closed_with(b)
        assert code == 4003, (code, frames)
        assert [f["code"] for f in frames] == ["not_participant"], frames
        assert frames[0]["client_msg_id"] == "b-2"
        await nothing_pending(a)                 # nothing was broadcast
        assert w.api.messages(w.token("alice"), room["id"]) == []

    run_chat(main)


def test_plugin_endpoint_removal_closes_the_socket(world):
    """DELETE /api/tasks/<id>/members/ (the taskcomments plugin's endpoint,
    through the host's participant.remove) cuts the member off too."""
    w = world
    for name in ("alice", "bob"):
        assert w.api.add_task_member(7, w.uid(name)) is True

    async def main():
        a, _ = await open_ws(task_url(w, 7, "alice"))
        b, _ = await open_ws(task_url(w, 7, "bob"))
        assert w.api.remove_task_member(7, w.uid("bob")) is True
        await cut_off(b)
        await nothing_pending(a)

    run_chat(main)


# --------------------------------------------------------------------------
# two hosts on Redis and PostgreSQL


pg = pg_fixture("chanhost_membership")


def test_removal_closes_sockets_on_another_host(make_host, tmp_path, redis, pg):
    w1, w2 = two_hosts(make_host, tmp_path, ROUTES, redis, pg)
    room = w1.api.create_room(w1.token("alice"), "general", "group", [w1.uid("bob")])
    assert w1.api.add_task_member(7, w1.uid("bob")) is True
    w2.users, w2.tokens = w1.users, w1.tokens      # one secret: tokens work on both
    bob = w1.uid("bob")

    async def main():
        a, _ = await open_ws(room_url(w1, room["id"], "alice"))
        b1, _ = await open_ws(room_url(w1, room["id"], "bob"))
        b2, _ = await open_ws(room_url(w2, room["id"], "bob"))
        t2, _ = await open_ws(task_url(w2, 7, "bob"))
        await subscribed(redis, f"chanhost.user.{bob}", 2)
        assert w1.api.remove_participant(w1.token("alice"), room["id"], bob) is True
        await asyncio.gather(cut_off(b1), cut_off(b2))
        await nothing_pending(t2)                # bob's task room stays open
        await nothing_pending(a)
        # a plugin's endpoint on host 1 cuts bob off on host 2
        assert w1.api.remove_task_member(7, bob) is True
        await cut_off(t2)

    run_chat(main)


# --------------------------------------------------------------------------
# two hosts sharing only PostgreSQL (memory layers): the database's NOTIFY


def pg_only_hosts(make_host, tmp_path, pg):
    """Hosts 1 and 2 on one PostgreSQL store, each with its own memory
    layer; tokens work on both.  alice, bob and carol share room "general"."""
    w1, w2 = two_hosts(make_host, tmp_path, ROUTES, None, pg)
    w2.users, w2.tokens = w1.users, w1.tokens
    room = w1.api.create_room(w1.token("alice"), "general", "group",
                              [w1.uid("bob"), w1.uid("carol")])
    return w1, w2, room


async def keeps_chatting(ws, text, cmid):
    """A member not removed: nothing else pending, and a message is
    acknowledged and broadcast back to it."""
    await nothing_pending(ws)
    await say(ws, text, cmid)


def test_removal_reaches_a_host_sharing_only_postgresql(make_host, tmp_path, pg):
    w1, w2, room = pg_only_hosts(make_host, tmp_path, pg)
    other = w1.api.create_room(w1.token("alice"), "other", "group", [w1.uid("bob")])
    bob = w1.uid("bob")

    async def main():
        b2, _ = await open_ws(room_url(w2, room["id"], "bob"))
        b2_other, _ = await open_ws(room_url(w2, other["id"], "bob"))
        c2, _ = await open_ws(room_url(w2, room["id"], "carol"))
        a1, _ = await open_ws(room_url(w1, room["id"], "alice"))
        assert w1.api.remove_participant(w1.token("alice"), room["id"], bob) is True
        await cut_off(b2)
        await nothing_pending(b2_other)          # bob's other room on host 2
        await keeps_chatting(c2, "still here", "c-1")
        await keeps_chatting(a1, "me too", "a-1")

    run_chat(main)
    assert w2.host.matching(r"WebSocket MEMBERSHIP .* user %d removed from room %d"
                            % (bob, room["id"]))
    assert w1.host.matching(r"WebSocket MEMBERSHIP") == []   # bob had no socket there
    for w in (w1, w2):                                       # each heard the database
        assert healthz(w.host.port)["store"]["notifications"] >= 1


def test_sql_delete_cuts_off_on_every_host(make_host, tmp_path, pg):
    w1, w2, room = pg_only_hosts(make_host, tmp_path, pg)
    bob = w1.uid("bob")

    async def main():
        b1, _ = await open_ws(room_url(w1, room["id"], "bob"))
        b2, _ = await open_ws(room_url(w2, room["id"], "bob"))
        c2, _ = await open_ws(room_url(w2, room["id"], "carol"))
        await asyncio.to_thread(pg.psql, "DELETE FROM participants WHERE room_id = %d AND user_id = %d"
                                % (room["id"], bob), pg.url)
        await asyncio.gather(cut_off(b1), cut_off(b2))
        await keeps_chatting(c2, "after the delete", "c-2")

    run_chat(main)


def test_removal_after_a_postgresql_restart(make_host, tmp_path, pg):
    assert PG_CTL, "CHANHOST_TEST_PG_CTL is not set (./scripts/test sets it)"
    w1, w2, room = pg_only_hosts(make_host, tmp_path, pg)
    bob = w1.uid("bob")

    async def main():
        b2, _ = await open_ws(room_url(w2, room["id"], "bob"))
        c2, _ = await open_ws(room_url(w2, room["id"], "carol"))
        marks = [w.host.mark() for w in (w1, w2)]
        r = await asyncio.to_thread(subprocess.run, [PG_CTL, "restart"], capture_output=True,
                                    timeout=90)
        assert r.returncode == 0, r.stderr
        for w, since in zip((w1, w2), marks):     # each host reconnected and LISTENs again
            await w.host.await_log(PG_LISTENING, timeout=30, since=since)
        assert await asyncio.to_thread(w1.api.remove_participant, w1.token("alice"), room["id"],
                                       bob) is True
        await cut_off(b2)
        await keeps_chatting(c2, "after the restart", "c-3")

    run_chat(main)


# --------------------------------------------------------------------------
# who may add and remove: one test per room kind


def test_task_room_is_managed_by_the_service(world):
    w = world
    w.user("root", role="admin")
    for name in ("alice", "bob"):
        assert w.api.add_task_member(9, w.uid(name)) is True
    room = room_of(w, "alice", "task")

    expect_forbidden(participants_call(w, "POST", room["id"], w.uid("eve"), w.token("alice")))
    expect_forbidden(participants_call(w, "DELETE", room["id"], w.uid("bob"), w.token("alice")))
    expect_forbidden(participants_call(w, "DELETE", room["id"], w.uid("alice"), w.token("alice")))
    reply = participants_call(w, "POST", room["id"], w.uid("eve"), w.token("eve"))
    assert reply.status == 403 and reply.body["error"] == "not_participant"
    # the stranger is no participant: no history, no comment socket
    assert w.api.request("GET", f"/api/rooms/{room['id']}/messages/",
                         token=w.token("eve")).status == 403

    async def refused_task():
        code, _ = await closed_with(await connect(task_url(w, 9, "eve")))
        assert code == 4003

    run_chat(refused_task)
    # the service and admins may
    assert w.api.add_participant(w.api.service_token, room["id"], w.uid("carol")) is True
    assert w.api.remove_participant(w.token("root"), room["id"], w.uid("carol")) is True


def test_support_room_is_managed_by_the_service(world):
    w = world
    pat = w.user("pat", "publisher")["id"]

    async def main():
        ws, _ = await open_ws(w.url(f"/ws/chat/support/publisher_{pat}/", "pat"))
        await nothing_pending(ws)

    run_chat(main)
    room = room_of(w, "pat", "support")
    expect_forbidden(participants_call(w, "POST", room["id"], w.uid("eve"), w.token("pat")))
    reply = w.api.request("GET", f"/api/rooms/{room['id']}/messages/", token=w.token("eve"))
    assert reply.status == 403 and reply.body["error"] == "not_participant"


def test_ad_rooms_are_managed_by_the_service(world):
    w = world
    pat = w.user("pat", "publisher")["id"]
    w.api.register_ad(101, pat)
    ad_room = room_of(w, "pat", "ad")
    expect_forbidden(participants_call(w, "POST", ad_room["id"], w.uid("eve"), w.token("pat")))

    async def main():
        ws, _ = await open_ws(w.url("/ws/chat/ad/101/", "carl"))
        await nothing_pending(ws)

    run_chat(main)
    conv = room_of(w, "carl", "ad_chat")
    expect_forbidden(participants_call(w, "POST", conv["id"], w.uid("eve"), w.token("carl")))
    expect_forbidden(participants_call(w, "DELETE", conv["id"], pat, w.token("carl")))


def test_chat_rooms_stay_managed_by_their_members(world):
    w = world
    group = w.api.create_room(w.token("alice"), "general", "group", [w.uid("bob")])
    private = w.api.create_room(w.token("alice"), None, "private", [w.uid("bob")])
    thread = w.api.thread_with(w.token("alice"), w.uid("bob"))["room"]

    for room in (group, private):
        assert w.api.add_participant(w.token("bob"), room["id"], w.uid("carol")) is True
        assert w.api.remove_participant(w.token("bob"), room["id"], w.uid("carol")) is True
    reply = participants_call(w, "POST", thread["id"], w.uid("carol"), w.token("bob"))
    assert reply.status == 400 and reply.body["error"] == "invalid"      # its two users only
    assert w.api.remove_participant(w.token("bob"), thread["id"], w.uid("bob")) is True
    assert w.api.add_participant(w.token("alice"), thread["id"], w.uid("bob")) is True
