"""The management commands of the real binary (docs/store.md):
`chanhost --config CFG migrate | cleanup-empty-threads | export | import`.

Every test writes its own config files with fresh SQLite stores under
tmp_path (the key file defaults to chanhost.key next to each database) and
fills them through `import` of a hand-written JSON-lines fixture: the
commands are tested through the command line alone, exactly as an operator
runs them.
"""

import json
import os
import re
import sqlite3
import stat

from conftest import run_chanhost

T0 = 1_700_000_000_000

USERS = [
    {"type": "user", "id": 1, "username": "alice", "email": "alice@example.com",
     "password": "pbkdf2_sha256$1000$salt$aGFzaA==", "role": "user", "is_active": True,
     "created_at": T0},
    {"type": "user", "id": 2, "username": "bob", "email": None, "password": "pbkdf2$bob",
     "role": "publisher", "is_active": False, "created_at": T0 + 1},
]
ROOMS = [
    {"type": "room", "id": 1, "key": "thread:1-2", "kind": "thread", "name": "Alice & Bob",
     "is_private": True, "created_at": T0 + 2, "is_active": True, "is_open": False,
     "participants": [{"user_id": 1, "joined_at": T0 + 3}, {"user_id": 2, "joined_at": T0 + 4}]},
    {"type": "room", "id": 2, "key": "chat-room:7", "kind": "chat", "name": None,
     "is_private": False, "created_at": T0 + 5, "is_active": False, "is_open": True,
     "participants": []},
    {"type": "room", "id": 3, "key": "thread:1-3", "kind": "thread", "name": None,
     "is_private": False, "created_at": T0 + 6, "is_active": True, "is_open": False,
     "participants": [{"user_id": 1, "joined_at": T0 + 7}]},
]
MESSAGES = [
    {"type": "message", "id": 1, "room_id": 1, "sender_id": 1, "content": "héllo ✓ \"quoted\"\n",
     "created_at": T0 + 10, "edited_at": None, "is_deleted": False, "client_msg_id": "c-1",
     "extra": {"a": [True, None], "b": 1}, "read_by": [{"user_id": 2, "read_at": T0 + 11}]},
    {"type": "message", "id": 2, "room_id": 1, "sender_id": 2, "content": "edited text",
     "created_at": T0 + 12, "edited_at": T0 + 13, "is_deleted": False,
     "client_msg_id": "srv-0123456789abcdef0123456789abcdef", "extra": None, "read_by": []},
    {"type": "message", "id": 5, "room_id": 2, "sender_id": 1, "content": "",
     "created_at": T0 + 14, "edited_at": None, "is_deleted": True, "client_msg_id": "c-5",
     "extra": None, "read_by": [{"user_id": 1, "read_at": T0 + 15},
                                {"user_id": 2, "read_at": T0 + 16}]},
]
FIXTURE = USERS + ROOMS + MESSAGES

SUMMARY_RE = r"^  {kind:<14} (\d+) imported, (\d+) skipped"


def write_fixture(path, objects):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects))
    return path


def store_config(tmp_path, name):
    """A config file whose store is a fresh SQLite database tmp_path/name/;
    (config path, database path)."""
    (tmp_path / name).mkdir()
    db = tmp_path / name / "chanhost.db"
    cfg = tmp_path / f"{name}.conf"
    cfg.write_text(f"# test_manage.py\nstore sqlite:{db}\n")
    return cfg, db


def cli(cfg, *args, ok=True):
    """Run `chanhost --config cfg ARGS`; ok: it must exit 0."""
    r = run_chanhost(["--config", str(cfg), *args], timeout=60)
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def counts(summary, kind):
    """(imported, skipped) of an import summary's line for kind."""
    m = re.search(SUMMARY_RE.format(kind=kind), summary, re.M)
    assert m, summary
    return int(m.group(1)), int(m.group(2))


def test_help_lists_the_commands():
    r = run_chanhost(["--help"])
    assert r.returncode == 0
    for word in ("migrate", "cleanup-empty-threads [--dry-run] [--kind KIND]",
                 "export [--output FILE]", "import FILE"):
        assert word in r.stdout, r.stdout


def test_migrate_prints_the_schema_version(tmp_path):
    cfg, db = store_config(tmp_path, "a")
    first = cli(cfg, "migrate")
    m = re.search(r"schema at version (\d+) \(applied (\d+) migrations\)", first.stdout)
    assert m and int(m.group(1)) >= 1 and m.group(1) == m.group(2), first.stdout
    again = cli(cfg, "migrate")
    assert f"schema at version {m.group(1)} (applied 0 migrations)" in again.stdout
    assert db.exists()


def test_export_import_export_gives_the_same_file(tmp_path):
    cfg_a, _ = store_config(tmp_path, "a")
    cfg_b, db_b = store_config(tmp_path, "b")
    fixture = write_fixture(tmp_path / "fixture.jsonl", FIXTURE)
    r = cli(cfg_a, "import", str(fixture))
    assert counts(r.stdout, "users") == (2, 0)
    assert counts(r.stdout, "rooms") == (3, 0)
    assert counts(r.stdout, "participants") == (3, 0)
    assert counts(r.stdout, "messages") == (3, 0)
    assert counts(r.stdout, "read receipts") == (3, 0)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    r = cli(cfg_a, "export", "--output", str(a))
    assert f"export to {a}: 8 lines" in r.stdout, r.stdout
    # what the fixture said is what the export says, line by line
    exported = [json.loads(line) for line in a.read_text().splitlines()]
    assert exported == FIXTURE
    r = cli(cfg_b, "import", str(a))
    assert counts(r.stdout, "messages") == (3, 0), r.stdout
    cli(cfg_b, "export", "--output", str(b))
    assert a.read_text().splitlines() == b.read_text().splitlines()
    # at rest the content is sealed: no plaintext in the database
    with sqlite3.connect(db_b) as con:
        stored = [row[0] for row in con.execute("SELECT content FROM messages")]
    assert len(stored) == 3 and not any("héllo" in s or "edited" in s for s in stored)
    # a second import skips every row, and changes nothing
    r = cli(cfg_b, "import", str(a))
    assert counts(r.stdout, "users") == (0, 2)
    assert counts(r.stdout, "read receipts") == (0, 3)
    cli(cfg_b, "export", "--output", str(b))
    assert a.read_text() == b.read_text()


def test_import_rebuilds_the_unread_counters(tmp_path):
    """The unread counters (docs/store.md, schema 10) are not exported: an
    import rebuilds them row by row through the store's triggers, the same
    as a count from scratch, in a store that had none of the file's rows."""
    cfg_a, _ = store_config(tmp_path, "a")
    cfg_b, db_b = store_config(tmp_path, "b")
    cli(cfg_a, "import", str(write_fixture(tmp_path / "fixture.jsonl", FIXTURE)))
    a = tmp_path / "a.jsonl"
    cli(cfg_a, "export", "--output", str(a))
    assert "_counts" not in a.read_text()
    cli(cfg_b, "import", str(a))
    with sqlite3.connect(db_b) as con:
        live = sorted(con.execute("SELECT room_id, sender_id, n FROM room_live_counts"))
        read = sorted(con.execute("SELECT room_id, user_id, n FROM room_read_counts"))
    # room 1: one live message by each of alice and bob, bob read alice's;
    # message 5 is deleted, so neither it nor its receipts count
    assert live == [(1, 1, 1), (1, 2, 1)]
    assert read == [(1, 2, 1)]


def test_export_file_is_private_whatever_the_umask(tmp_path):
    """Finding 8: the export holds password hashes and opened messages; it
    used to be written 0644."""
    cfg, _ = store_config(tmp_path, "a")
    cli(cfg, "import", str(write_fixture(tmp_path / "f.jsonl", FIXTURE)))
    out = tmp_path / "backup.jsonl"
    out.write_text("an older, world-readable file\n")
    out.chmod(0o644)
    old = os.umask(0o022)
    try:
        cli(cfg, "export", "--output", str(out))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [json.loads(line) for line in out.read_text().splitlines()] == FIXTURE


def test_export_to_standard_output(tmp_path):
    cfg, _ = store_config(tmp_path, "a")
    cli(cfg, "import", str(write_fixture(tmp_path / "f.jsonl", FIXTURE)))
    r = cli(cfg, "export")
    assert [json.loads(line) for line in r.stdout.splitlines()] == FIXTURE
    assert "export to standard output: 8 lines" in r.stderr


def test_import_of_a_malformed_file_names_the_line(tmp_path):
    cfg, db = store_config(tmp_path, "a")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(USERS[0]) + "\n"
                   + '{"type": "room", "id": 1, "key": "x"\n'
                   + json.dumps({**MESSAGES[0], "sender_id": "alice"}) + "\n")
    r = cli(cfg, "import", str(bad), ok=False)
    assert r.returncode == 1
    assert f"{bad}:2: invalid JSON" in r.stderr, r.stderr
    assert f"{bad}:3: sender_id: expected an integer" in r.stderr, r.stderr
    assert "2 bad line(s); nothing imported" in r.stderr
    assert not db.exists()  # the store was never opened


def test_import_stops_at_a_line_the_store_refuses(tmp_path):
    cfg, _ = store_config(tmp_path, "a")
    orphan = {**MESSAGES[0], "room_id": 42}
    f = write_fixture(tmp_path / "orphan.jsonl", USERS + [orphan])
    r = cli(cfg, "import", str(f), ok=False)
    assert r.returncode == 1
    assert f"{f}:3: no such room" in r.stderr, r.stderr
    assert counts(r.stdout, "users") == (2, 0)
    assert counts(r.stdout, "read receipts") == (0, 0)


def test_import_refuses_absurd_hash_parameters(tmp_path):
    """Finding 10: a hash naming 2^31 iterations held a hashing thread for
    minutes at every login; the sane range is 1000 to 10,000,000."""
    cfg, db = store_config(tmp_path, "a")
    f = write_fixture(tmp_path / "hashes.jsonl", [
        {**USERS[0], "password": "pbkdf2_sha256$2147483648$salt$aGFzaA=="},
        {**USERS[0], "id": 3, "username": "c", "password": "pbkdf2_sha256$999$salt$aGFzaA=="},
        {**USERS[0], "id": 4, "username": "d", "password": "pbkdf2_sha256$01000$s$aGFzaA=="},
        {**USERS[0], "id": 5, "username": "e", "password": "pbkdf2_sha256$1000$$aGFzaA=="},
        {**USERS[0], "id": 6, "username": "f", "password": "pbkdf2_sha256$1000$salt$no space"},
        {**USERS[0], "id": 7, "username": "g", "password": "pbkdf2_sha256$10000000$s$aGFzaA=="},
        {**USERS[0], "id": 8, "username": "h", "password": "!unusable"},
    ])
    r = cli(cfg, "import", str(f), ok=False)
    for line in (1, 2, 3):
        assert f"{f}:{line}: password: pbkdf2_sha256 iterations must be 1000 to 10000000" \
            in r.stderr, r.stderr
    for line in (4, 5):
        assert f"{f}:{line}: password: not a pbkdf2_sha256$ITERATIONS$SALT$HASH hash" \
            in r.stderr, r.stderr
    assert f"{f}:6:" not in r.stderr and f"{f}:7:" not in r.stderr
    assert "5 bad line(s); nothing imported" in r.stderr
    assert not db.exists()


def test_import_refuses_references_to_unknown_users(tmp_path):
    """Finding 10: participants, senders and readers must be users of the
    store or of the file; the refusal names the line."""
    ghost = 42
    cases = [
        ({**ROOMS[2], "participants": [{"user_id": ghost, "joined_at": T0}]}, "participants"),
        ({**MESSAGES[0], "sender_id": ghost, "read_by": []}, "messages"),
        ({**MESSAGES[0], "read_by": [{"user_id": ghost, "read_at": T0}]}, "read receipts"),
    ]
    for i, (bad, kind) in enumerate(cases):
        cfg, _ = store_config(tmp_path, f"s{i}")
        lines = USERS + ROOMS[:1] + [bad] if kind != "participants" else USERS + [bad]
        f = write_fixture(tmp_path / f"ghost{i}.jsonl", lines)
        r = cli(cfg, "import", str(f), ok=False)
        assert r.returncode == 1
        assert f"{f}:{len(lines)}: no such user" in r.stderr, (kind, r.stderr)
        assert counts(r.stdout, kind)[0] == 0, r.stdout
    # a user already in the store (not in the file) is a good reference
    cfg, _ = store_config(tmp_path, "present")
    cli(cfg, "import", str(write_fixture(tmp_path / "u.jsonl", USERS)))
    r = cli(cfg, "import", str(write_fixture(tmp_path / "r.jsonl", ROOMS[:1])))
    assert counts(r.stdout, "participants") == (2, 0)


def test_cleanup_empty_threads(tmp_path):
    cfg, _ = store_config(tmp_path, "a")
    cli(cfg, "import", str(write_fixture(tmp_path / "f.jsonl", FIXTURE)))
    r = cli(cfg, "cleanup-empty-threads", "--dry-run")
    assert r.stdout == "would delete 1 empty thread room(s): 3\n"
    rooms = [o["id"] for o in map(json.loads, cli(cfg, "export").stdout.splitlines())
             if o["type"] == "room"]
    assert rooms == [1, 2, 3]
    assert cli(cfg, "cleanup-empty-threads").stdout == "deleted 1 empty thread room(s): 3\n"
    assert cli(cfg, "cleanup-empty-threads").stdout == "deleted 0 empty thread room(s)\n"
    # room 2 has a (deleted) message: a chat room that is not empty
    r = cli(cfg, "cleanup-empty-threads", "--kind", "chat")
    assert r.stdout == "deleted 0 empty chat room(s)\n"
    rooms = [o["id"] for o in map(json.loads, cli(cfg, "export").stdout.splitlines())
             if o["type"] == "room"]
    assert rooms == [1, 2]


def test_usage_errors(tmp_path):
    cfg, _ = store_config(tmp_path, "a")
    r = cli(cfg, "export", "--store", "none", ok=False)  # after the command: not the host's
    assert r.returncode == 2 and "unknown argument --store" in r.stderr
    r = cli(cfg, "import", ok=False)
    assert r.returncode == 2 and "import FILE" in r.stderr
    r = run_chanhost(["--config", str(cfg), "vacuum"])
    assert r.returncode == 2 and "unknown command vacuum" in r.stderr
    r = run_chanhost(["--store", "none", "export"])
    assert r.returncode == 1 and "no store configured" in r.stderr
    r = cli(cfg, "export", ok=False)
    assert r.returncode == 1 and "no database at" in r.stderr
