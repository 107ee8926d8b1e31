"""Attachments (issue 16, item 3; docs/api.md "Attachments") through the
real host, the HTTP API and WebSocket clients of the chatroom plugin, on
SQLite and on PostgreSQL: an upload by a participant, a message that
references it, the download by another participant (byte-exact, Range
requests), the refusals (403 to a non-participant, 404, 413 on a large
Content-Length before the body is read, 415), the stored chunks holding
no plaintext, the upload deleted with its message, and `chanhost export`
/ `import` of attachments.

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

ROUTES = ["/ws/chat-room/<int:room_id>/ chatroom"]
MARKER = b"attachment-plaintext-marker-5d1e"
CHUNK = 65536


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, make_host, tmp_path):
    """alice and bob in a group room, carol outside it, on either engine."""
    pg = PgDatabase("chanhost_attach") if request.param == "postgresql" else None
    extra = [f"store {pg.url}", f"store_key_file {tmp_path}/keys"] if pg else []
    w = chat_host(make_host, tmp_path, ROUTES, extra=extra + ["attachment_max_size 1mb"])
    w.pg, w.db = pg, tmp_path / "chat.db"
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


def stored_chunks(w):
    """(seq, sealed bytes) of every stored chunk, from the database itself."""
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
    dst_dir = tmp_path / "dst"
    dst_dir.mkdir()
    dst = tmp_path / "dst.conf"
    dst.write_text(f"store sqlite:{dst_dir}/chanhost.db\n")
    a_file, b_file = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
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

    r = cli(dst, "import", str(a_file))
    assert counts(r.stdout, "attachments") == (1, 0)
    assert counts(r.stdout, "attachment chunks") == (3, 0)
    with sqlite3.connect(dst_dir / "chanhost.db") as db:
        sealed = [base64.b64decode(d) for (d,) in db.execute("SELECT data FROM attachment_chunks")]
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
