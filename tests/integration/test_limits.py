"""Connection limits per user and per address, and the handshake rate per
address (issue 15, part 6), through a real host and raw clients:

- max_connections_per_user: the user's next handshake is answered 429
  with Retry-After (another user still gets in; a closed connection frees
  its slot), counted as chanhost_handshake_failures_total{reason="limit_user"};
- max_connections_per_ip: the same per client address; X-Forwarded-For
  names the client only when the peer is one of trusted_proxies (from
  any other peer it is ignored); reason "limit_ip"; a closed connection
  frees its address's slot;
- handshake_rate_per_ip: a burst of that many, then 429 with the wait
  in Retry-After (reason "limit_rate").

Every wait is on a response, a log line or a close, with a deadline.
"""

import pytest

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from conftest import get_metrics, metric, raw_handshake

FAILURES = "chanhost_handshake_failures_total"


def limited(port, reason):
    return metric(get_metrics(port), FAILURES, reason=reason)


def handshake(port, path, xff=None):
    """A raw handshake: (conn, response)."""
    extra = [("X-Forwarded-For", xff)] if xff else []
    return raw_handshake(port, path, extra=extra)


def opened(port, path, xff=None):
    conn, resp = handshake(port, path, xff)
    assert resp.status == 101, resp
    return conn


def too_many(port, path, xff=None, retry=None):
    conn, resp = handshake(port, path, xff)
    conn.close()
    assert resp.status == 429, resp
    assert resp.header("retry-after") is not None, resp
    if retry is not None:
        assert int(resp.header("retry-after")) == retry, resp
    return resp


def test_per_user_limit(make_host, tmp_path):
    host = make_host(auth_config_lines(tmp_path) + ["max_connections_per_user 2"],
                     routes=["/ws/chat-room/<int:room_id>/ chatroom"])
    api = Api(host.port, service_token=SERVICE_TOKEN)
    alice, bob = api.create_user("alice"), api.create_user("bob")
    room = api.create_room(api.token_for(alice["id"]), "general", "group", [bob["id"]])
    a_path = f"/ws/chat-room/{room['id']}/?token={api.token_for(alice['id'])}"
    b_path = f"/ws/chat-room/{room['id']}/?token={api.token_for(bob['id'])}"
    assert limited(host.port, "limit_user") == 0
    conns = [opened(host.port, a_path), opened(host.port, a_path)]
    too_many(host.port, a_path)
    assert limited(host.port, "limit_user") == 1
    conns.append(opened(host.port, b_path))  # another user: in
    conns.pop(0).close()
    host.wait_for(r"WebSocket DISCONNECT /ws/chat-room/")
    conns.append(opened(host.port, a_path))  # a freed slot: in again
    too_many(host.port, a_path)
    assert limited(host.port, "limit_user") == 2
    for c in conns:
        c.close()


def test_per_ip_limit_and_trusted_proxies(make_host):
    host = make_host(["max_connections_per_ip 2", "trusted_proxies 127.0.0.1"])
    conns = [opened(host.port, "/ws/echo/", "198.51.100.1"),
             opened(host.port, "/ws/echo/", "203.0.113.5, 198.51.100.1")]
    too_many(host.port, "/ws/echo/", "198.51.100.1")
    assert limited(host.port, "limit_ip") == 1
    conns.append(opened(host.port, "/ws/echo/", "198.51.100.2"))  # another client: in
    for c in conns:
        c.close()


def test_per_ip_slot_is_freed_by_a_close(make_host):
    # the teardown finds the address's entry again by the client address
    # the proxy named (the connection keeps no pointer to it)
    host = make_host(["max_connections_per_ip 2", "trusted_proxies 127.0.0.1"])
    conns = [opened(host.port, "/ws/echo/", "198.51.100.1"),
             opened(host.port, "/ws/echo/", "198.51.100.1")]
    too_many(host.port, "/ws/echo/", "198.51.100.1")
    conns.pop(0).close()
    host.wait_for(r"WebSocket DISCONNECT /ws/echo/")
    conns.append(opened(host.port, "/ws/echo/", "198.51.100.1"))  # a freed slot: in again
    too_many(host.port, "/ws/echo/", "198.51.100.1")
    assert limited(host.port, "limit_ip") == 2
    for c in conns:
        c.close()


def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_host):
    host = make_host(["max_connections_per_ip 2"])
    conns = [opened(host.port, "/ws/echo/", "198.51.100.1"),
             opened(host.port, "/ws/echo/", "198.51.100.2")]
    too_many(host.port, "/ws/echo/", "198.51.100.3")  # all are 127.0.0.1
    assert limited(host.port, "limit_ip") == 1
    for c in conns:
        c.close()


def test_handshake_rate_per_ip(make_host):
    # 1 a second: the refusal must come within a second of the first
    # handshake, a margin a loaded machine keeps
    host = make_host(["handshake_rate_per_ip 1"])
    conns = [opened(host.port, "/ws/echo/")]
    too_many(host.port, "/ws/echo/", retry=1)
    assert limited(host.port, "limit_rate") == 1
    assert limited(host.port, "limit_ip") == 0
    for c in conns:
        c.close()
