"""Plugin HTTP endpoints (SDK 1.2): a plugin declares routes under /api/
with an access level; the host authenticates, checks access, parses and
limits the body, answers errors in its JSON shape and logs the access
line; the plugin answers asynchronously with api->http_reply, e.g. after
api->store_exec.

The plugin is tests/plugins/hello_http.c: the CMake build (prefix
/api/hello) for most tests, and builds made here with cc (other prefixes,
another greeting) for refusals, overlaps and reloads.
"""

import json
import os
import signal
import subprocess

import pytest

from apiclient import Api, SERVICE_TOKEN, auth_config_lines
from conftest import SOURCE_DIR, TEST_PLUGIN_DIR, RawConn

HELLO_SRC = SOURCE_DIR / "tests" / "plugins" / "hello_http.c"
SDK = SOURCE_DIR / "sdk"


def build(out, prefix="/api/hello", greeting="hello"):
    """Compile hello_http.c with a prefix and greeting; rename it over out."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    r = subprocess.run(["cc", "-std=gnu11", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall",
                        "-Wextra", "-Werror", "-I", str(SDK), f"-DHELLO_PREFIX=\"{prefix}\"",
                        f"-DHELLO_GREETING=\"{greeting}\"", "-o", str(tmp), str(HELLO_SRC),
                        "-ljansson"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    os.replace(tmp, out)


@pytest.fixture
def hello(make_host, tmp_path):
    """A host with a store, the service token, and hello_http on /ws/hello/;
    returns (host, Api)."""
    h = make_host(auth_config_lines(tmp_path) + ["max_body_size 1kb", "plugin_http_timeout 1s"],
                  plugin_dir=TEST_PLUGIN_DIR, routes=["/ws/hello/ hello_http"])
    return h, Api(h.port, service_token=SERVICE_TOKEN)


def error_of(reply):
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def test_access_levels(hello):
    h, api = hello
    user = api.create_user("plain")
    admin = api.create_user("boss", role="admin")
    tok_user, tok_admin = api.token_for(user["id"]), api.token_for(admin["id"])
    callers = {"anonymous": None, "user": tok_user, "admin": tok_admin, "service": SERVICE_TOKEN}
    expected = {  # path -> status per caller
        "/api/hello/": {"anonymous": 200, "user": 200, "admin": 200, "service": 200},
        "/api/hello/user/": {"anonymous": 401, "user": 200, "admin": 200, "service": 403},
        "/api/hello/admin/": {"anonymous": 401, "user": 403, "admin": 200, "service": 403},
        "/api/hello/service/": {"anonymous": 401, "user": 403, "admin": 200, "service": 200},
    }
    for path, by_caller in expected.items():
        for who, status in by_caller.items():
            r = api.request("GET", path, token=callers[who])
            assert r.status == status, (path, who, r.status, r.body)
            if status == 401:
                assert error_of(r) == "not_authenticated"
                assert r.header("WWW-Authenticate") is not None
            elif status == 403:
                assert error_of(r) == "forbidden"
            else:
                assert r.header("Cache-Control") == "no-store"
                assert r.body["greeting"] == "hello"
    # the identity the plugin sees
    me = api.call("GET", "/api/hello/user/", token=tok_user)
    assert me["user"]["id"] == user["id"] and me["user"]["username"] == "plain"
    assert me["service"] is False
    svc = api.call("GET", "/api/hello/service/", token=SERVICE_TOKEN)
    assert svc["user"] is None and svc["service"] is True
    anon = api.call("GET", "/api/hello/")
    assert anon["user"] is None and anon["service"] is False
    # a bad token is 401 where a user is needed; where anyone may call it
    # counts as anonymous (as on the host's own routes: login, register)
    bad = api.request("GET", "/api/hello/user/", token="not-a-token")
    assert bad.status == 401 and error_of(bad) == "not_authenticated"
    assert api.call("GET", "/api/hello/", token="not-a-token")["user"] is None
    # one access line per request, as for the host's own API
    h.wait_for(r"HTTP GET /api/hello/service/ 200 \[[0-9.]+, 127\.0\.0\.1:\d+\]")
    h.wait_for(r"HTTP GET /api/auth/me/ 401|HTTP POST /api/users/ 201")


def test_converter_query_body_and_errors(hello):
    h, api = hello
    item = api.call("GET", "/api/hello/items/42/?q=a%20b")
    assert item["item_id"] == "42" and item["q"] == "a b" and item["path"] == "/api/hello/items/42/"
    assert item["peer"].startswith("127.0.0.1:")
    # the trailing slash may be left out, as on the host's routes
    assert api.call("GET", "/api/hello/items/7")["item_id"] == "7"
    # the converter refuses what it does not match
    r = api.request("GET", "/api/hello/items/x/")
    assert r.status == 404 and error_of(r) == "not_found"
    # another method on a known path: 405 with Allow
    r = api.request("PUT", "/api/hello/echo/")
    assert r.status == 405 and error_of(r) == "method_not_allowed"
    assert set(r.header("Allow").split(", ")) == {"POST", "DELETE"}
    # a JSON body is echoed; no body reads as null
    echoed = api.request("POST", "/api/hello/echo/", {"a": [1, 2], "b": "é"})
    assert echoed.status == 201 and echoed.body == {"echo": {"a": [1, 2], "b": "é"}, "method": "POST"}
    assert api.request("POST", "/api/hello/echo/").body == {"echo": None, "method": "POST"}
    # bad JSON, a non-object, the wrong content type: the host's 400s
    r = api.request("POST", "/api/hello/echo/", raw="{bad")
    assert r.status == 400 and error_of(r) == "invalid_json"
    r = api.request("POST", "/api/hello/echo/", raw="[1]")
    assert r.status == 400 and error_of(r) == "invalid_json"
    r = api.request("POST", "/api/hello/echo/", raw=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status == 400 and error_of(r) == "invalid_content_type"
    # over max_body_size (1kb here): 413 before the plugin sees anything
    r = api.request("POST", "/api/hello/echo/", {"x": "y" * 2000})
    assert r.status == 413
    # an answer without a body (and http_reply refusing status 99 first)
    r = api.request("DELETE", "/api/hello/echo/")
    assert r.status == 204 and r.body is None
    assert not h.matching("accepted status 99")
    # the host's own routes are unchanged
    assert api.request("GET", "/api/nothing-here/").status == 404


def test_async_answer_after_store_exec(hello):
    h, api = hello
    alice = api.create_user("alice")
    token = api.token_for(alice["id"])
    room = api.create_room(token, "lobby", "group", [])
    got = api.call("GET", f"/api/hello/rooms/{room['id']}/", token=token)
    assert got["room"]["id"] == room["id"] and got["room"]["key"] == "group:lobby"
    r = api.request("GET", "/api/hello/rooms/999999/", token=token)
    assert r.status == 404 and error_of(r) == "not_found"


def test_unanswered_request_gets_504(hello):
    h, api = hello
    before = metric(api, "chanhost_plugin_http_timeouts_total")
    r = api.request("GET", "/api/hello/silent/")
    assert r.status == 504 and error_of(r) == "timeout"
    h.wait_for(r"plugin 'hello_http': GET /api/hello/silent/ not answered within plugin_http_timeout")
    assert metric(api, "chanhost_plugin_http_timeouts_total") == before + 1
    assert metric(api, 'chanhost_http_responses_total{code="504"}') >= 1
    # the connection's next request is served as usual
    assert api.call("GET", "/api/hello/")["greeting"] == "hello"


def test_stop_does_not_wait_for_unanswered_requests(make_host, tmp_path):
    h = make_host(["plugin_http_timeout 600s"], plugin_dir=TEST_PLUGIN_DIR,
                  routes=["/ws/hello/ hello_http"])
    conn = RawConn.connect(h.port)
    conn.send(f"GET /api/hello/silent/ HTTP/1.1\r\nHost: {h.authority}\r\n\r\n")
    h.wait_for(r"\[hello_http\] holding /api/hello/silent/ unanswered")
    h.send_signal(signal.SIGTERM)
    assert h.wait_exit(timeout=15) == 0
    assert conn.sock.recv(4096) == b""   # closed without an answer


def metric(api, name):
    """The value of one line of /metrics (0 if absent)."""
    text = api.request("GET", "/metrics").body
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0


def test_refused_plugin_answers_503_while_others_serve(make_host, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build(plugins / "hello_a.so", prefix="/api/a")
    build(plugins / "hello_b.so", prefix="/api/b")
    h = make_host(["plugin_setting hello_b fail yes"], plugin_dir=plugins,
                  routes=["/ws/a/ hello_a", "/ws/b/ hello_b"])
    h.wait_for(r"plugin 'hello_b' .*init failed")
    api = Api(h.port)
    assert api.call("GET", "/api/a/")["greeting"] == "hello"
    r = api.request("GET", "/api/b/")
    assert r.status == 503 and error_of(r) == "unavailable" and r.header("Retry-After") == "1"
    assert api.request("POST", "/api/b/echo/", {"x": 1}).status == 503
    # a path it never declared is still unknown
    assert api.request("GET", "/api/b/nothing/").status == 404


def test_overlapping_patterns_are_refused(make_host, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build(plugins / "first.so", prefix="/api/same")
    build(plugins / "second.so", prefix="/api/same")
    build(plugins / "hostlike.so", prefix="/api/<str:anything>")
    h = make_host(plugin_dir=plugins, routes=["/ws/1/ first", "/ws/2/ second", "/ws/3/ hostlike"])
    h.wait_for(r"plugin 'second': endpoint GET /api/same/ refused: it overlaps first's endpoint GET /api/same/")
    h.wait_for(r"plugin 'hostlike': endpoint GET /api/<str:anything>/ refused: it overlaps "
               r"the host's API route GET /api/users/")
    api = Api(h.port)
    assert api.call("GET", "/api/same/")["greeting"] == "hello"
    assert api.call("POST", "/api/same/echo/", {"n": 1})["echo"] == {"n": 1}
    # the host's own route keeps its answer (401 without a token)
    r = api.request("GET", "/api/users/")
    assert r.status == 401 and error_of(r) == "not_authenticated"
    # hostlike's other endpoints overlap first's (/api/same/...): refused too
    assert api.request("GET", "/api/zzz/items/3/").status == 404


def test_reload_swaps_endpoints(make_host, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    build(plugins / "hello_http.so", greeting="v1")
    h = make_host(plugin_dir=plugins, routes=["/ws/hello/ hello_http"])
    api = Api(h.port)
    assert api.call("GET", "/api/hello/")["greeting"] == "v1"
    build(plugins / "hello_http.so", greeting="v2")
    mark = h.mark()
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"configuration reloaded", since=mark)
    h.wait_for(r"plugin hello_http reloaded: generation 2", since=mark)
    assert api.call("GET", "/api/hello/")["greeting"] == "v2"
    # a config that no longer names the plugin drops its endpoints
    h.config_path.write_text(h.config_path.read_text().replace("route /ws/hello/ hello_http",
                                                               "route /ws/echo/ hello_echo"))
    build(plugins / "hello_echo.so", prefix="/api/other")
    mark = h.mark()
    h.send_signal(signal.SIGHUP)
    h.wait_for(r"configuration reloaded", since=mark)
    assert api.request("GET", "/api/hello/").status == 404
    assert api.call("GET", "/api/other/")["greeting"] == "hello"
