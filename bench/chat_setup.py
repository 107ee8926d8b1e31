#!/usr/bin/python3
"""bench/chat_setup.py -- make chanbench's chat scenario through the host's
HTTP API: N users (POST /api/users/, service token), a token each
(POST /api/tokens/), rooms of R members (POST /api/rooms/ as the room's
first member, type group).  Writes one line "ROOM_ID TOKEN" per user to
OUT, the file chanbench's --setup reads.

    chat_setup.py PORT SERVICE_TOKEN N R OUT
"""
import http.client
import json
import os
import sys


def call(conn, method, path, token, body):
    """One request on the kept-alive connection; the decoded JSON answer."""
    conn.request(method, path, json.dumps(body),
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 201):
        sys.exit(f"chat_setup: {method} {path} -> {r.status} {data[:200]!r}")
    return json.loads(data)


def main():
    port, service, n, r, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    tag = os.urandom(4).hex()
    users = []
    for i in range(n):
        u = call(conn, "POST", "/api/users/", service, {"username": f"b{tag}{i}"})["user"]
        t = call(conn, "POST", "/api/tokens/", service, {"user_id": u["id"]})["token"]
        users.append((u["id"], t))
    lines = []
    for k in range(0, n, r):
        members = users[k:k + r]
        room = call(conn, "POST", "/api/rooms/", members[0][1],
                    {"name": f"b{tag}-{k // r}", "type": "group",
                     "participants": [m[0] for m in members[1:]]})["room"]
        lines += [f"{room['id']} {m[1]}\n" for m in members]
    with open(out, "w") as f:
        f.writelines(lines)


main()
