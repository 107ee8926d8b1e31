"""Attachments (issue 16, item 3; docs/api.md "Attachments") through the
real host, the HTTP API and WebSocket clients of the chatroom plugin, on
SQLite and on PostgreSQL: an upload by a participant, a message that
references it, the download by another participant (byte-exact, Range
requests), the refusals (403 to a non-participant, 404, 413 on a large
Content-Length before the body is read, 415), the stored chunks holding
no plaintext, the upload deleted with its message, `chanhost export`
/ `import` of attachments, and the timer dropping unattached uploads;
each also with the chunks as files in an attachment_dir ("sqlite+dir").

Every wait is on an answer or a frame with a deadline.
"""

import base64
import json
import os
import sqlite3
import subprocess
import urllib.parse

import pytest

from chatkit import PgDatabase, chat_host, frame, open_ws, post, run_chat, send
from conftest import RawConn, get_metrics, metric
from test_manage import cli, counts
from test_redis import wait_until

ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]
MARKER = b"attachment-plaintext-marker-5d1e"
CHUNK = 65536


@pytest.fixture(params=["sqlite", "postgresql", "sqlite+dir"])
def world(request, make_host, tmp_path):
    """alice and bob in a group room, carol outside it, on either engine,
    or with the chunks in a folder (w.dir); unattached uploads swept
    every 300 ms."""
    pg = PgDatabase("chanhost_attach") if request.param == "postgresql" else None
    extra = [f"store {pg.url}", f"store_key_file {tmp_path}/keys"] if pg else []
    folder = tmp_path / "files" if request.param.endswith("+dir") else None
    if folder:
        extra.append(f"attachment_dir {folder}")
    w = chat_host(make_host, tmp_path, ROUTES,
                  extra=extra + ["attachment_max_size 1mb", "attachment_sweep_interval 300ms"])
    w.pg, w.db, w.dir = pg, tmp_path / "chat.db", folder
    w.room = w.api.create_room(w.token("alice"), "files", "group", [w.uid("bob")])
    w.user("carol")
    yield w
    if pg:
        w.host.stop()
        pg.drop()


def upload(w, who, data, ctype="image/png", name="photo.png", room=None):
    path = f"/api/rooms/{(room or w.room)['id']}/attachments/?name={urllib.parse.quote(name)}"
    return w.api.request("POST", path, token=w.token(who), raw=data,
                         headers={"Content-Type": ctype})


def download(w, who, att_id, headers=None):
    hdrs = {"Authorization": f"Bearer {w.token(who)}", **(headers or {})}
    conn = RawConn.connect(w.host.port, timeout=10.0)
    with conn:
        lines = [f"GET /api/attachments/{att_id}/ HTTP/1.1", "Host: x", "Connection: close",
                 *[f"{k}: {v}" for k, v in hdrs.items()]]
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        return conn.read_response(10.0)


def sql(w, query):
    """Run query on the world's database (PostgreSQL or SQLite): its rows."""
    if w.pg:
        r = subprocess.run(["psql", w.pg.url, "-qAtc", query],
                           capture_output=True, text=True, timeout=60, check=True)
        return [tuple(line.split("|")) for line in r.stdout.split()]
    with sqlite3.connect(w.db) as db:
        return db.execute(query).fetchall()


FILE_HEAD = 4 + 4 + 12                  # "CHA1", the key id, the nonce


def folder_chunks(folder):
    """(attachment id, seq, sealed bytes) of every chunk file in folder,
    checking the layout and modes (folders 0700, files 0600)."""
    out = []
    for sub in sorted(folder.iterdir(), key=lambda p: int(p.name)):
        assert sub.is_dir() and sub.stat().st_mode & 0o777 == 0o700
        for f in sorted(sub.iterdir(), key=lambda p: int(p.name.split(".")[0])):
            assert f.name.endswith(".chunk") and f.stat().st_mode & 0o777 == 0o600, f
            raw = f.read_bytes()
            assert raw[:4] == b"CHA1"
            out.append((int(sub.name), int(f.name.split(".")[0]), raw[FILE_HEAD:]))
    return out


def stored_chunks(w):
    """(seq, sealed bytes) of every stored chunk, from the database itself,
    or from the attachment folder (the database then has none)."""
    if w.dir:
        assert [int(n) for (n,) in sql(w, "SELECT count(*) FROM attachment_chunks")] == [0]
        for f in w.dir.rglob("*"):
            assert f.is_dir() or MARKER not in f.read_bytes()
        return [(seq, data) for _, seq, data in folder_chunks(w.dir)]
    if w.pg:
        r = subprocess.run(["psql", w.pg.url, "-qAtc",
                            "SELECT seq || ':' || data FROM attachment_chunks ORDER BY seq"],
                           capture_output=True, text=True, timeout=60, check=True)
        rows = [line.split(":", 1) for line in r.stdout.split()]
    else:
        with sqlite3.connect(w.db) as db:
            rows = db.execute("SELECT seq, data FROM attachment_chunks ORDER BY seq").fetchall()
    return [(int(s), base64.b64decode(d)) for s, d in rows]


def test_upload_message_download_and_delete(world):
    w = world
    data = MARKER * 3000 + os.urandom(60000) + MARKER      # about 156 kB: three chunks
    up = upload(w, "alice", data, name="holiday 'pic' ü.png")
    assert up.status == 201, up.body
    att = up.body
    assert (att["name"], att["type"], att["size"]) == ("holiday 'pic' ü.png", "image/png", len(data))

    # stored sealed: no plaintext, each chunk its ciphertext plus a 16-byte tag
    chunks = stored_chunks(w)
    assert [s for s, _ in chunks] == [0, 1, 2]
    assert [len(c) for _, c in chunks] == [CHUNK + 16, CHUNK + 16, len(data) - 2 * CHUNK + 16]
    assert all(MARKER not in c for _, c in chunks)
    if not w.pg:
        for path in w.db.parent.glob("chat.db*"):
            assert MARKER not in path.read_bytes()

    async def main():
        a, _ = await open_ws(w.url(f"/ws/chat-room/{w.room['id']}/", "alice"))
        b, _ = await open_ws(w.url(f"/ws/chat-room/{w.room['id']}/", "bob"))
        for bad in ("x", [0], ["1"], list(range(1, 12))):
            await send(a, "chat_message", message="bad", attachments=bad, client_msg_id="x1")
            assert (await frame(a, "error"))["code"] == "bad_request"
        # only the sender's own upload of this room is accepted
        await send(b, "chat_message", message="steal", attachments=[att["id"]],
                   client_msg_id="b1")
        err = await frame(b, "error")
        assert err["code"] == "bad_attachments" and err["client_msg_id"] == "b1"
        msg_id = await post(a, "look", "a1", attachments=[att["id"]])
        got = await frame(b, "chat_message")
        want = {k: att[k] for k in ("id", "name", "type", "size")}
        assert got["id"] == msg_id and got["attachments"] == [want]
        assert (await frame(a, "chat_message"))["attachments"] == [want]
        # once attached, it cannot be attached again
        await send(a, "chat_message", message="again", attachments=[att["id"]],
                   client_msg_id="a2")
        assert (await frame(a, "error"))["code"] == "bad_attachments"
        history = w.api.messages(w.token("bob"), w.room["id"])
        assert [m.get("attachments") for m in history] == [[want]]

        whole = download(w, "bob", att["id"])
        assert whole.status == 200 and whole.body == data
        assert whole.header("content-type") == "image/png"
        assert whole.header("content-length") == str(len(data))
        assert whole.header("accept-ranges") == "bytes"
        disp = whole.header("content-disposition")
        assert disp.startswith('inline; filename="holiday \'pic\' _.png"'), disp
        assert "filename*=UTF-8''holiday%20%27pic%27%20%C3%BC.png" in disp

        part = download(w, "bob", att["id"], {"Range": "bytes=65000-140000"})
        assert part.status == 206 and part.body == data[65000:140001]
        assert part.header("content-range") == f"bytes 65000-140000/{len(data)}"
        tail = download(w, "bob", att["id"], {"Range": "bytes=-100"})
        assert tail.status == 206 and tail.body == data[-100:]
        over = download(w, "bob", att["id"], {"Range": f"bytes={len(data)}-"})
        assert over.status == 416 and over.header("content-range") == f"bytes */{len(data)}"

        assert download(w, "carol", att["id"]).status == 403
        assert download(w, "bob", att["id"] + 1000).status == 404

        # deleted with its message
        await send(a, "delete_message", message_id=msg_id)
        assert (await frame(b))["id"] == msg_id
        assert download(w, "bob", att["id"]).status == 404
        if w.dir:       # the purge follows the deletion (plugins/common/attach.c)
            wait_until(lambda: not (w.dir / str(att["id"])).exists(), "the folder removed")
        assert stored_chunks(w) == []

    run_chat(main)
    # one upload of len(data) bytes; three downloads started (200, 206, 206),
    # the refusals (416, 403, 404) not counted
    m = get_metrics(w.host.port)
    assert metric(m, "chanhost_attachment_uploads_total") == 1
    assert metric(m, "chanhost_attachment_upload_bytes_total") == len(data)
    assert metric(m, "chanhost_attachment_downloads_total") == 3


def test_refusals(world):
    w = world
    assert upload(w, "carol", b"x" * 10).status == 403                 # not a participant
    bad = upload(w, "alice", b"MZ" * 10, ctype="application/x-msdownload", name="a.exe")
    assert bad.status == 415
    assert upload(w, "alice", b"%PDF-1.4", ctype="application/pdf", name="a.pdf").status == 201
    text = upload(w, "alice", b"hello", ctype="text/plain; charset=utf-8", name="../../etc/x")
    assert text.status == 201 and text.body["name"] == "x" and text.body["type"] == "text/plain"
    assert download(w, "bob", text.body["id"]).header("content-disposition").startswith(
        'attachment; filename="x"')
    # Expect: 100-continue: told to go on once the upload is accepted
    with RawConn.connect(w.host.port, timeout=10.0) as conn:
        conn.send((f"POST /api/rooms/{w.room['id']}/attachments/?name=c.txt HTTP/1.1\r\n"
                   f"Host: x\r\nAuthorization: Bearer {w.token('alice')}\r\n"
                   "Content-Type: text/plain\r\nContent-Length: 5\r\n"
                   "Expect: 100-continue\r\n\r\n").encode())
        assert conn.read_response(10.0, head_only=True).status == 100
        conn.send(b"hello")
        done = conn.read_response(10.0)
        assert done.status == 201 and done.json()["size"] == 5
    empty = upload(w, "alice", b"", ctype="text/plain", name="empty.txt")
    assert empty.status == 201 and empty.body["size"] == 0
    got = download(w, "bob", empty.body["id"])
    assert got.status == 200 and got.body == b"" and got.header("content-length") == "0"

    # a large Content-Length is refused before the body: headers only, the
    # answer and the close come without a byte of it sent
    with RawConn.connect(w.host.port, timeout=10.0) as conn:
        conn.send((f"POST /api/rooms/{w.room['id']}/attachments/?name=big.png HTTP/1.1\r\n"
                   f"Host: x\r\nAuthorization: Bearer {w.token('alice')}\r\n"
                   "Content-Type: image/png\r\nContent-Length: 5000000000\r\n\r\n").encode())
        resp = conn.read_response(10.0)
        assert resp.status == 413 and resp.header("connection") == "close"
        conn.expect_eof(10.0)

    # a chunked body is refused when it grows past the limit
    with RawConn.connect(w.host.port, timeout=10.0) as conn:
        conn.send((f"POST /api/rooms/{w.room['id']}/attachments/ HTTP/1.1\r\n"
                   f"Host: x\r\nAuthorization: Bearer {w.token('alice')}\r\n"
                   "Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        piece = b"%x\r\n%s\r\n" % (CHUNK, b"y" * CHUNK)
        try:
            for _ in range(20):                                 # 1.25 MB > 1 MB
                conn.send(piece)
        except OSError:
            pass                                                # closed after the 413
        assert conn.read_response(10.0).status == 413


def test_export_import_round_trip(world, tmp_path):
    """`chanhost export` writes an attachment and its chunks (opened); an
    import into a new SQLite store seals them anew, and a second import
    skips them."""
    w = world
    data = MARKER + os.urandom(2 * CHUNK) + MARKER
    att = upload(w, "alice", data, ctype="application/pdf", name="doc.pdf").body

    async def main():
        a, _ = await open_ws(w.url(f"/ws/chat-room/{w.room['id']}/", "alice"))
        msg_id = await post(a, "the doc", "d1", attachments=[att["id"]])
        assert (await frame(a, "chat_message"))["id"] == msg_id
        return msg_id

    msg_id = run_chat(main)
    src = tmp_path / "src.conf"
    src.write_text(open(w.host.config_path).read())
    a_file = tmp_path / "a.jsonl"
    cli(src, "export", "--output", str(a_file))
    lines = [json.loads(line) for line in a_file.read_text().splitlines()]
    head = [x for x in lines if x["type"] == "attachment"]
    chunks = [x for x in lines if x["type"] == "attachment_chunk"]
    assert head == [{"type": "attachment", "id": att["id"], "room_id": w.room["id"],
                     "uploader_id": w.uid("alice"), "name": "doc.pdf",
                     "media_type": "application/pdf", "size": len(data),
                     "created_at": head[0]["created_at"], "message_id": msg_id}]
    assert [c["seq"] for c in chunks] == [0, 1, 2]
    assert b"".join(base64.b64decode(c["data"]) for c in chunks) == data
    for into_dir in (False, True):
        import_into(tmp_path / ("dst-dir" if into_dir else "dst"), a_file, att["id"], into_dir)


def import_into(dst_dir, a_file, att_id, into_dir):
    """Import a_file into a new SQLite store in dst_dir (with an
    attachment folder or not): three chunks sealed anew where they belong,
    an export equal to a_file, a second import skipping them."""
    dst_dir.mkdir()
    dst, b_file = dst_dir / "dst.conf", dst_dir / "b.jsonl"
    folder = dst_dir / "files"
    dst.write_text(f"store sqlite:{dst_dir}/chanhost.db\n" +
                   (f"attachment_dir {folder}\n" if into_dir else ""))
    r = cli(dst, "import", str(a_file))
    assert counts(r.stdout, "attachments") == (1, 0)
    assert counts(r.stdout, "attachment chunks") == (3, 0)
    with sqlite3.connect(dst_dir / "chanhost.db") as db:
        sealed = [base64.b64decode(d) for (d,) in db.execute("SELECT data FROM attachment_chunks")]
    if into_dir:
        assert sealed == []
        files = folder_chunks(folder)
        assert [(i, seq) for i, seq, _ in files] == [(att_id, 0), (att_id, 1), (att_id, 2)]
        sealed = [data for _, _, data in files]
    else:
        assert not folder.exists()
    assert len(sealed) == 3 and all(MARKER not in s for s in sealed)
    cli(dst, "export", "--output", str(b_file))
    assert a_file.read_text() == b_file.read_text()
    r = cli(dst, "import", str(a_file))
    assert counts(r.stdout, "attachments") == (0, 1)
    assert counts(r.stdout, "attachment chunks") == (0, 3)


def test_multipart_upload(world):
    """A browser form's multipart/form-data body: the file part is the
    upload (its own type and filename), other fields are skipped."""
    w = world
    data = os.urandom(CHUNK + 5000) + b"\r\n--not-the-boundary\r\n" + MARKER
    boundary = "----chanhostFormBoundary7MA4YWxk"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"C:\\\\photos\\\\cat.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + data + (
            f"\r\n--{boundary}--\r\n").encode()
    path = f"/api/rooms/{w.room['id']}/attachments/"
    ctype = f"multipart/form-data; boundary={boundary}"
    up = w.api.request("POST", path, token=w.token("alice"), raw=body,
                       headers={"Content-Type": ctype})
    assert up.status == 201, up.body
    assert (up.body["name"], up.body["type"], up.body["size"]) == ("cat.png", "image/png", len(data))
    got = download(w, "bob", up.body["id"])
    assert got.status == 200 and got.body == data

    def refused(payload, status):
        r = w.api.request("POST", path, token=w.token("alice"), raw=payload,
                          headers={"Content-Type": ctype})
        assert r.status == status, (payload[:80], r.status, r.body)

    refused(f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n"
            f"--{boundary}--\r\n".encode(), 400)                       # no file part
    refused(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
            "Content-Type: text/plain\r\n\r\nabc".encode(), 400)        # never closed
    refused(f"--{boundary}X\r\n".encode(), 400)                         # malformed
    refused(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.html\"\r\n"
            f"Content-Type: text/html\r\n\r\n<p>\r\n--{boundary}--".encode(), 415)
    r = w.api.request("POST", path, token=w.token("alice"), raw=b"x",
                      headers={"Content-Type": "multipart/form-data"})
    assert r.status == 400                                              # no boundary

    # a file part growing past attachment_max_size (chunked: no Content-Length)
    with RawConn.connect(w.host.port, timeout=10.0) as conn:
        conn.send((f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {w.token('alice')}\r\nContent-Type: {ctype}\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode())
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; "
                f"filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
        try:
            conn.send(b"%x\r\n%s\r\n" % (len(head), head))
            for _ in range(20):                                         # 1.25 MB > 1 MB
                conn.send(b"%x\r\n%s\r\n" % (CHUNK, b"z" * CHUNK))
        except OSError:
            pass                                                        # closed after the 413
        assert conn.read_response(10.0).status == 413



def test_download_abandoned_midway(world):
    """A client that takes the head of a large download and goes away
    while the host waits for its output to drain: the download ends
    cleanly (the host stays healthy; under ASan, without a leak or a use
    after free) and the next download is whole."""
    w = world
    data = os.urandom(900_000)
    att = upload(w, "alice", data).body
    for _ in range(3):
        conn = RawConn.connect(w.host.port, rcvbuf=4096, timeout=10.0)
        conn.send((f"GET /api/attachments/{att['id']}/ HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {w.token('bob')}\r\n\r\n").encode())
        assert conn.read_response(10.0, head_only=True).status == 200
        conn.close()
    got = download(w, "bob", att["id"])
    assert got.status == 200 and got.body == data


def test_unattached_swept_by_timer(world):
    """An upload never attached and older than a day is dropped by the
    host's timer (every attachment_sweep_interval), its chunks or files
    with it; a fresh one and an attached one stay."""
    w = world
    stale = upload(w, "alice", MARKER + os.urandom(CHUNK)).body
    fresh = upload(w, "alice", b"fresh", ctype="text/plain", name="f.txt").body
    sql(w, f"UPDATE attachments SET created_at = 0 WHERE id = {stale['id']}")
    w.host.wait_for(r"store: 1 unattached upload\(s\) dropped", timeout=10.0)
    assert download(w, "bob", stale["id"]).status == 404
    got = download(w, "bob", fresh["id"])
    assert got.status == 200 and got.body == b"fresh"
    left = sql(w, "SELECT DISTINCT attachment_id FROM attachment_chunks")
    if w.dir:
        assert left == [] and [i for i, _, _ in folder_chunks(w.dir)] == [fresh["id"]]
    else:
        assert [int(i) for (i,) in left] == [fresh["id"]]
