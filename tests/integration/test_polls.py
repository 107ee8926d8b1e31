"""Issue 11's proof: a new chat type as a drop-in plugin, on SQLite and on
PostgreSQL.

examples/polls is copied out of the source tree and built with CMake
against a temporary install only (twice: results format 1 and 2).  The
INSTALLED host starts without it; the .so is dropped into its plugin_dir,
a route line appended, SIGHUP sent.  Then, as a user of the chat type:

  * HTTP (the plugin's endpoints): two users register, one creates a poll
    (bad bodies are 400 in the host's error shape), GET reads it back;
  * WebSocket: both users connect, get the room's polls, vote (the second
    user votes twice, then changes their mind: still one vote each), each
    vote acked after COMMIT and the results broadcast to both;
  * the question is sealed at rest: the raw database holds no plaintext;
  * the format-2 build is dropped over the first with SIGHUP while both
    clients stay connected: polls adopts them, so the next broadcast
    reaches them in format 2, as does a new connection's list;
  * the sweep timer closes a poll with closes_in and broadcasts the final
    results; a vote after that is refused;
  * after a restart of the host, GET and a new connection show the votes.
"""

import asyncio
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

import conftest
from apiclient import Api, ApiError, auth_config_lines
from chatkit import PgDatabase, frame, open_ws, run_chat, send
from conftest import SOURCE_DIR
from installkit import (assert_built_from_the_install_only, build_out_of_tree, drop_in,  # noqa: F401
                        installed)

POLLS_DIR = SOURCE_DIR / "examples" / "polls"
QUESTION = "Where do we eat today, plaintext-7f3a?"
OPTIONS = ["pizza", "sushi", "salad"]
ROUTE = "route /ws/polls/<slug:room>/ polls"


@pytest.fixture(scope="module")
def polls_builds(installed, tmp_path_factory):
    """examples/polls built out of tree against the install only, once per
    results format: {format: (the .so, the compile commands)}."""
    return {fmt: build_out_of_tree(POLLS_DIR, installed, tmp_path_factory.mktemp(f"polls{fmt}"),
                                   "polls", [f"POLLS_RESULTS_FORMAT={fmt}"])
            for fmt in (1, 2)}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh store of one engine: its `store` config value."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path}/db/chat.db"
        return
    db = PgDatabase("chanhost_polls")
    try:
        yield db.url
    finally:
        db.drop()


def raw_questions(store):
    """The question column of every poll as the database holds it."""
    if store.startswith("sqlite:"):
        with sqlite3.connect(store[len("sqlite:"):]) as db:
            return [r[0] for r in db.execute("SELECT question FROM polls_polls ORDER BY id")]
    r = subprocess.run(["psql", store, "-v", "ON_ERROR_STOP=1", "-qAtc",
                        "SELECT question FROM polls_polls ORDER BY id"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def assert_sealed_at_rest(store):
    questions = raw_questions(store)
    assert questions and all(q.startswith("ch1:") for q in questions), questions
    assert not any("plaintext-7f3a" in q for q in questions)
    if store.startswith("sqlite:"):
        db = Path(store[len("sqlite:"):])
        for f in db.parent.glob(db.name + "*"):   # the database, its WAL
            assert b"plaintext-7f3a" not in f.read_bytes(), f


def ws_url(h, room, token):
    return h.url(f"/ws/polls/{room}/") + f"?token={token}"


async def vote(ws, poll_id, option):
    """Vote and await the ack (sent only after COMMIT)."""
    await send(ws, "vote", poll_id=poll_id, option=option)
    ack = await frame(ws, "ack")
    assert ack == {"type": "ack", "poll_id": poll_id, "option": option}, ack


async def results(ws, poll_id):
    got = await frame(ws, "results")
    assert got["poll_id"] == poll_id, got
    return got


def counts1(counts, closed=False):
    """A results frame of format 1 for a poll's counts."""
    return {"counts": counts, "total": sum(counts), "closed": closed}


def counts2(counts, closed=False):
    """The same in format 2: a map option -> count."""
    return {"counts": dict(zip(OPTIONS, counts)), "total": sum(counts), "closed": closed,
            "format": 2}


def test_polls_builds_out_of_tree_from_the_install_only(installed, polls_builds):
    for so, commands in polls_builds.values():
        assert so.is_file()
        assert_built_from_the_install_only(installed, commands)


def check_http(api, alice, poll_id):
    """The create endpoint's refusals, and GET of an unknown poll."""
    good = {"room": "lunch", "question": "q?", "options": ["a", "b"]}
    bad = [{**good, "options": ["a"]}, {**good, "options": [str(i) for i in range(11)]},
           {**good, "options": ["a", "a"]}, {**good, "question": ""},
           {**good, "room": "no spaces"}, {**good, "closes_in": 0}, {k: good[k] for k in ("room", "options")}]
    for body in bad:
        r = api.request("POST", "/api/polls/", body, token=alice)
        assert r.status == 400 and r.body["error"] == "invalid" and r.body["message"], (body, r.body)
    assert api.request("POST", "/api/polls/", good).status == 401
    with pytest.raises(ApiError) as e:
        api.call("GET", f"/api/polls/{poll_id + 1000}/", token=alice)
    assert e.value.status == 404 and e.value.code == "not_found"


def test_polls_drop_in_vote_reload_restart(installed, polls_builds, make_host, store, tmp_path,
                                           monkeypatch):
    monkeypatch.setattr(conftest, "BIN", str(installed.bin))
    drop = tmp_path / "plugins"
    drop.mkdir()
    lines = [l for l in auth_config_lines(tmp_path) if not l.startswith("store ")]
    lines += [f"store {store}", f"store_key_file {tmp_path}/keys",
              f"auth_secret_file {tmp_path}/auth.secret"]
    h = make_host(lines, plugin_dir=drop, routes=[])
    assert h.args[0] == str(installed.bin)
    mark = drop_in(h, polls_builds[1][0], drop, "polls", [ROUTE, "plugin_setting polls sweep_ms 50"])
    h.wait_for(r"\[polls\] results format 1, sweep every 50 ms", since=mark)

    api = Api(h.port)
    alice = api.register("alice", "alice@example.com", "secret-alice-1")
    bob = api.register("bob", "bob@example.com", "secret-bob-1")
    ta, tb = alice["token"], bob["token"]
    poll = api.call("POST", "/api/polls/", {"room": "lunch", "question": QUESTION,
                                            "options": OPTIONS}, token=ta)
    pid = poll["id"]
    assert poll == {"id": pid, "room": "lunch", "question": QUESTION, "options": OPTIONS,
                    "created_by": alice["user"]["id"], "closed": False, "counts": [0, 0, 0],
                    "total": 0}
    check_http(api, ta, pid)
    assert_sealed_at_rest(store)

    async def before_reload():
        wa, first = await open_ws(ws_url(h, "lunch", ta), "polls")
        wb, _ = await open_ws(ws_url(h, "lunch", tb), "polls")
        assert first["room"] == "lunch" and first["polls"] == [poll], first

        await vote(wa, pid, 0)
        for ws in (wa, wb):
            assert await results(ws, pid) == {"type": "results", "poll_id": pid, **counts1([1, 0, 0])}
        for option, want in ((1, [1, 1, 0]), (1, [1, 1, 0]), (2, [1, 0, 1])):   # bob: one vote
            await vote(wb, pid, option)
            for ws in (wa, wb):
                assert await results(ws, pid) == {"type": "results", "poll_id": pid, **counts1(want)}
        await send(wb, "vote", poll_id=pid, option=3)
        assert (await frame(wb, "error"))["code"] == "bad_option"
        await send(wb, "vote", poll_id=pid + 1000, option=0)
        assert (await frame(wb, "error"))["code"] == "not_found"
        return wa, wb

    async def scenario():
        wa, wb = await before_reload()
        assert api.call("GET", f"/api/polls/{pid}/", token=tb)["counts"] == [1, 0, 1]

        # the format-2 build over the running one, both clients connected
        mark = await asyncio.to_thread(drop_in, h, polls_builds[2][0], drop, "polls")
        await h.await_log(r"\[polls\] results format 2", since=mark)
        await vote(wb, pid, 0)
        for ws in (wa, wb):   # adopted: the new version formats their results
            assert await results(ws, pid) == {"type": "results", "poll_id": pid, **counts2([2, 0, 0])}
        wc, listed = await open_ws(ws_url(h, "lunch", tb), "polls")
        assert listed["polls"][0] == {**poll, **counts2([2, 0, 0])}

        # the sweep timer closes a poll whose time is up
        timed = await asyncio.to_thread(api.call, "POST", "/api/polls/",
                                        {"room": "lunch", "question": "Coffee?",
                                         "options": OPTIONS, "closes_in": 1}, ta)
        for ws in (wa, wb, wc):
            announced = await frame(ws, "poll")
            assert announced["poll"] == {**timed, **counts2([0, 0, 0])}, announced
        for ws in (wa, wb, wc):
            got = await results(ws, timed["id"])
            assert got == {"type": "results", "poll_id": timed["id"], **counts2([0, 0, 0], True)}
        await send(wa, "vote", poll_id=timed["id"], option=0)
        assert (await frame(wa, "error"))["code"] == "closed"
        return timed

    timed = run_chat(scenario)
    assert h.stop() == 0

    # a restart: the votes and the closed poll are still there
    h2 = make_host(config=h.config_path.read_text())
    api2 = Api(h2.port)
    assert api2.call("GET", f"/api/polls/{pid}/", token=ta) == {**poll, **counts2([2, 0, 0])}

    async def after_restart():
        _, listed = await open_ws(ws_url(h2, "lunch", ta), "polls")
        assert listed["polls"] == [{**timed, **counts2([0, 0, 0], True)},
                                   {**poll, **counts2([2, 0, 0])}], listed

    run_chat(after_restart)
    assert_sealed_at_rest(store)
