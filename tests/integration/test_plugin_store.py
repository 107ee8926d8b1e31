"""Plugin storage (SDK 1.2): a plugin's own tables, migrations and
operations through the real host, on SQLite and on PostgreSQL.

The notes test plugin (tests/plugins/notes.c) declares a schema with a
sealed column and answers each {"id", "op", "params"} with what
api->store_call gave it.  Its version 2 (the same source with -DNOTES_V2,
compiled here with cc and -I sdk only) adds a migration and an op.  The
badmig plugin's migration fails.
"""

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import urllib.parse
import uuid

import pytest

from chatkit import free_port
from conftest import (SOURCE_DIR, TEST_PLUGIN_DIR, config_text, handshake_request, new_key,
                      raw_handshake, run, run_chanhost, ws_connect)

PG_URL = os.environ.get("CHANHOST_TEST_PG_URL")
MARKER = "plaintext-note-4b1d"
NOTES_SRC = SOURCE_DIR / "tests" / "plugins" / "notes.c"


def psql(url, sql):
    r = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def new_pg_database():
    """A new PostgreSQL database: (its URL, its name)."""
    assert PG_URL, "CHANHOST_TEST_PG_URL is not set (./scripts/test starts PostgreSQL and sets it)"
    db = f"chanhost_pls_{uuid.uuid4().hex[:12]}"
    psql(PG_URL, f"CREATE DATABASE {db}")
    parts = urllib.parse.urlsplit(PG_URL)
    return urllib.parse.urlunsplit(parts._replace(path="/" + db)), db


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database, dropped after the test."""
    url, db = new_pg_database()
    yield url
    psql(PG_URL, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request, tmp_path):
    """Factory of fresh stores of one engine: SQLite files, or new
    PostgreSQL databases (dropped after the test)."""
    made = []

    def make():
        made.append(len(made))
        if request.param == "sqlite":
            return f"sqlite:{tmp_path}/store{len(made)}/chat.db"
        url, made[-1] = new_pg_database()
        return url

    yield make
    for db in made:
        if isinstance(db, str):
            psql(PG_URL, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


@pytest.fixture
def store_url(new_store):
    """One fresh store."""
    return new_store()


def raw(store, sql):
    """The first column of the first row of sql on the raw database, as text."""
    if store.startswith("sqlite:"):
        with sqlite3.connect(store[len("sqlite:"):]) as db:
            row = db.execute(sql).fetchone()
        return None if row is None else str(row[0])
    out = psql(store, sql)
    return out if out != "" else None


def has_table(store, name):
    if store.startswith("sqlite:"):
        return raw(store, f"SELECT count(*) FROM sqlite_master WHERE name = '{name}'") == "1"
    return raw(store, f"SELECT count(*) FROM pg_tables WHERE tablename = '{name}'") == "1"


def build_notes(out, v2):
    """Compile notes.c (version 2 with v2) and rename it over `out`."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    r = subprocess.run(["cc", "-std=gnu11", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
                        "-I", str(SOURCE_DIR / "sdk"), *(["-DNOTES_V2"] if v2 else []),
                        "-o", str(tmp), str(NOTES_SRC), "-ljansson"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    os.replace(tmp, out)


def notes_host(make_host, tmp_path, store, plugin_dir=TEST_PLUGIN_DIR, routes=None):
    return make_host(plugin_dir=plugin_dir, routes=routes or ["/ws/notes/ notes"],
                     extra=[f"store {store}", f"store_key_file {tmp_path}/keys",
                            f"auth_secret_file {tmp_path}/auth.secret"])


class Notes:
    """One notes connection: call(op, params) -> the plugin's reply."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, op, params):
        i = next(self.ids)
        await self.ws.send(json.dumps({"id": i, "op": op, "params": params}))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        assert reply["id"] == i
        return reply


async def calls(port, *ops):
    """Run (op, params) pairs in order on one connection: the replies."""
    async with ws_connect(f"ws://127.0.0.1:{port}/ws/notes/") as ws:
        n = Notes(ws)
        return [await n.call(op, params) for op, params in ops]


def test_store_call_acks_after_commit_and_survives_restart(make_host, tmp_path, store_url):
    h = notes_host(make_host, tmp_path, store_url)
    added, got, foreign, reserved = run(calls(
        h.port,
        ("notes.add", {"owner": 4, "title": "x'); DROP TABLE notes; --", "body": MARKER}),
        ("notes.get", {"id": 1}),
        ("other.add", {"owner": 4}),
        ("notes.@export.notes", {})))
    assert added["status"] == 0, added
    note_id = added["result"]["id"]
    # acknowledged: committed, visible to another connection to the database
    assert raw(store_url, f"SELECT title FROM notes WHERE id = {note_id}") == \
        "x'); DROP TABLE notes; --"
    sealed = raw(store_url, f"SELECT body FROM notes WHERE id = {note_id}")
    assert MARKER not in sealed and sealed.startswith("ch1:")
    assert got["status"] == 0 and got["result"]["note"]["body"] == MARKER
    assert foreign["status"] == -22 and reserved["status"] == -22
    assert raw(store_url, "SELECT max(version) FROM ch_plugin_migrations WHERE plugin = 'notes'") \
        == "1"
    h.stop()
    h2 = notes_host(make_host, tmp_path, store_url)
    [again] = run(calls(h2.port, ("notes.list", {"owner": 4})))
    assert again["status"] == 0
    assert [n["body"] for n in again["result"]["notes"]] == [MARKER]
    assert not h2.matching("schema is now at version")


def test_failing_migration_refuses_that_plugin_only(make_host, tmp_path):
    store = f"sqlite:{tmp_path}/store/chat.db"
    h = notes_host(make_host, tmp_path, store,
                   routes=["/ws/bad/ badmig", "/ws/notes/ notes"])
    refusals = h.matching(r"badmig")
    assert len(refusals) == 1, refusals
    assert re.search(r"plugin 'badmig' 0\.9 .*migration 1: sqlite: .*badmig_t", refusals[0]), \
        refusals
    [added] = run(calls(h.port, ("notes.add", {"owner": 1, "title": "t", "body": "b"})))
    assert added["status"] == 0
    conn, resp = raw_handshake(h.port, "/ws/bad/")
    conn.close()
    assert resp.status == 503, resp
    assert not has_table(store, "badmig_t")
    assert raw(store, "SELECT count(*) FROM ch_plugin_migrations WHERE plugin = 'badmig'") == "0"


def test_schema_without_store_is_refused(make_host, tmp_path):
    h = make_host(plugin_dir=TEST_PLUGIN_DIR, routes=["/ws/notes/ notes", "/ws/store/ storeprobe"])
    refusals = h.matching(r"plugin 'notes'")
    assert len(refusals) == 1 and "`store none`" in refusals[0], refusals


def test_rebuilt_version_adds_migration_2_on_sighup(make_host, tmp_path, store_url):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build_notes(plugins / "notes.so", v2=False)
    h = notes_host(make_host, tmp_path, store_url, plugin_dir=plugins)
    [added, vote] = run(calls(h.port, ("notes.add", {"owner": 2, "title": "n", "body": "kept"}),
                              ("notes.vote", {"note_id": 1, "user_id": 5})))
    assert added["status"] == 0 and added["version"] == "1"
    assert vote["status"] == -22          # no such op in version 1
    build_notes(plugins / "notes.so", v2=True)
    since = len(h.lines)
    h.proc.send_signal(signal.SIGHUP)
    h.wait_for(r"configuration reloaded", since=since)
    assert h.matching(r"plugin notes: its schema is now at version 2 \(applied 1\)")
    note = added["result"]["id"]
    v1, v2, listed = run(calls(h.port, ("notes.vote", {"note_id": note, "user_id": 5}),
                               ("notes.vote", {"note_id": note, "user_id": 5}),
                               ("notes.list", {"owner": 2})))
    assert v1["version"] == "2" and v1["status"] == 0 and v1["result"]["votes"] == 1
    assert v2["status"] == 0 and v2["result"]["votes"] == 1
    assert [n["body"] for n in listed["result"]["notes"]] == ["kept"]
    assert raw(store_url, "SELECT count(*) FROM ch_plugin_migrations WHERE plugin = 'notes'") \
        == "2"


def test_migrate_then_export_import_export_is_identical(make_host, tmp_path, new_store):
    a_url, b_url = new_store(), new_store()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build_notes(plugins / "notes.so", v2=True)
    cfg_a, cfg_b = tmp_path / "a.conf", tmp_path / "b.conf"
    for cfg, url in ((cfg_a, a_url), (cfg_b, b_url)):
        cfg.write_text(config_text([f"store {url}", f"store_key_file {tmp_path}/keys"],
                                   plugin_dir=plugins, routes=["/ws/notes/ notes"]))
    r = run_chanhost(["--config", str(cfg_a), "migrate"], timeout=60)
    assert r.returncode == 0, r.stderr
    assert "plugin notes: schema at version 2 (applied 2 migrations)" in r.stdout, r.stdout
    assert raw(a_url, "SELECT count(*) FROM notes") == "0"
    h = make_host(config=cfg_a.read_text())
    run(calls(h.port, ("notes.add", {"owner": 1, "title": "one", "body": MARKER}),
              ("notes.add", {"owner": 2, "title": "two", "body": "é \"quoted\"\n"}),
              ("notes.add", {"owner": 2, "title": "three", "body": None}),
              ("notes.vote", {"note_id": 1, "user_id": 9})))
    h.stop()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    r = run_chanhost(["--config", str(cfg_a), "export", "--output", str(a)], timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in a.read_text().splitlines()]
    assert [(o["plugin"], o["table"]) for o in rows] == [("notes", "notes")] * 3 + \
        [("notes", "notes_votes")]
    assert {o["row"]["title"]: o["row"]["body"] for o in rows[:3]} == \
        {"one": MARKER, "two": "é \"quoted\"\n", "three": None}
    r = run_chanhost(["--config", str(cfg_b), "import", str(a)], timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"plugin rows +4 imported, 0 skipped", r.stdout), r.stdout
    sealed = raw(b_url, "SELECT body FROM notes WHERE title = 'one'")
    assert MARKER not in sealed and sealed.startswith("ch1:")
    r = run_chanhost(["--config", str(cfg_b), "export", "--output", str(b)], timeout=60)
    assert r.returncode == 0, r.stderr
    assert a.read_text() == b.read_text()
    r = run_chanhost(["--config", str(cfg_b), "import", str(a)], timeout=60)
    assert re.search(r"plugin rows +0 imported, 4 skipped", r.stdout), r.stdout
    # the imported ids are behind the sequences: a new note gets a new id
    h = make_host(config=cfg_b.read_text())
    [added] = run(calls(h.port, ("notes.add", {"owner": 3, "title": "four", "body": "x"})))
    assert added["status"] == 0 and added["result"]["id"] == 4, added


def test_connection_during_startup_migrations_waits_for_the_routes(make_host, tmp_path, pg_url):
    """The host listens before it loads plugins; a connection that arrives
    while a plugin's migrations wait (here, on PostgreSQL: for the lock
    another host would hold) is served once the routes exist, not answered
    404."""
    url = pg_url
    locker = subprocess.Popen(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        locker.stdin.write("SELECT pg_advisory_lock(7164795175298740085);\n\\echo locked\n")
        locker.stdin.flush()
        while locker.stdout.readline().strip() != "locked":
            pass
        port = free_port()
        h = make_host(routes=["/ws/notes/ notes"], plugin_dir=TEST_PLUGIN_DIR, wait=False,
                      listen=f"127.0.0.1:{port}", args=["-v", "2"],
                      extra=[f"store {url}", f"store_key_file {tmp_path}/keys",
                             f"auth_secret_file {tmp_path}/auth.secret"])
        h.wait_for(r"plugin notes: migrating its schema before init")
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(handshake_request(f"127.0.0.1:{port}", "/ws/notes/", key=new_key()))
    finally:
        locker.stdin.close()   # psql ends: the lock goes
        locker.wait(30)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    sock.close()
    assert head.startswith(b"HTTP/1.1 101"), head
    h.wait_listening()
