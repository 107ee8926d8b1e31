"""The JSON HTTP API under /api/ (docs/api.md) and the WebSocket
handshake's authentication, against the real binary over real sockets.

Every test host gets a fresh SQLite store, the service token and cheap
password hashes from apiclient.auth_config_lines.  Tokens are checked by
decoding their claims; an expired token for the WebSocket checks is
forged with the host's own secret (the auth.secret file beside the
store), so expiry is tested without waiting.
"""

import base64
import hashlib
import hmac
import json
import re
import time

import pytest

from apiclient import SERVICE_TOKEN, Api, ApiError, auth_config_lines
from conftest import TEST_PLUGIN_DIR, http_request, recv_json, run, ws_connect

PASSWORD = "correct horse 1"


# The stock routes, and the chat plugins that serve /api/ads/ (support) and
# /api/tasks/<id>/members/ (taskcomments): a route is what loads a plugin.
API_ROUTES = ["/ws/echo/ echo", "/ws/broadcast/<int:room_id>/ broadcast",
              "/ws/chat/ad/<int:ad_id>/ support", "/ws/task-comments/<int:task_id>/ taskcomments"]


@pytest.fixture
def api_host(make_host, tmp_path):
    """(host, Api with the service token) on a fresh store."""
    host = make_host(auth_config_lines(tmp_path), routes=API_ROUTES)
    return host, Api(host.port, service_token=SERVICE_TOKEN)


@pytest.fixture
def api(api_host):
    return api_host[1]


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(secret, claims):
    """An HS256 token signed with secret (bytes)."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def cookie_of(reply):
    """The chanhost_session Set-Cookie value of a reply (one header)."""
    cookies = [c for c in reply.header_all("set-cookie") if c.startswith("chanhost_session=")]
    assert len(cookies) == 1, reply.headers
    return cookies[0]


def expect_error(reply, status, code, field=None):
    assert reply.status == status, (reply.status, reply.body)
    assert isinstance(reply.body, dict) and reply.body.get("error") == code, reply.body
    assert isinstance(reply.body.get("message"), str) and reply.body["message"], reply.body
    if field is not None:
        assert reply.body.get("field") == field, reply.body


def user_with_token(api, name, role="user"):
    user = api.create_user(name, role=role)
    return user, api.token_for(user["id"])


# --------------------------------------------------------------------------
# accounts


def test_register_login_me(api):
    reply = api.request("POST", "/api/auth/register/",
                        {"username": "alice", "email": "alice@Example.COM", "password": PASSWORD})
    assert reply.status == 201, reply.body
    body = reply.body
    assert body["user"] == {"id": body["user"]["id"], "username": "alice",
                            "email": "alice@example.com", "role": "user"}
    uid = body["user"]["id"]
    assert isinstance(uid, int) and uid > 0
    claims = claims_of(body["token"])
    assert claims["sub"] == str(uid) and claims["username"] == "alice"
    assert claims["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == 86400
    assert abs(claims["iat"] - time.time()) < 60
    assert body["expires_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    cookie = cookie_of(reply)
    assert cookie.startswith(f"chanhost_session={body['token']};")
    for attr in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"):
        assert attr in [a.strip() for a in cookie.split(";")], cookie
    assert reply.header("cache-control") == "no-store"

    by_name = api.request("POST", "/api/auth/login/", {"username": "alice", "password": PASSWORD})
    assert by_name.status == 200, by_name.body
    assert set(by_name.body) == {"token", "expires_at", "user"}
    assert by_name.body["user"]["id"] == uid
    assert cookie_of(by_name).startswith(f"chanhost_session={by_name.body['token']};")
    # by email, the domain compared case-insensitively (Django's normalize_email)
    by_email = api.login("alice@EXAMPLE.com", PASSWORD)
    assert by_email["user"]["username"] == "alice"

    assert api.me(by_email["token"])["id"] == uid
    me = api.request("GET", "/api/auth/me/", headers={"Cookie": f"a=b; chanhost_session={by_name.body['token']}"})
    assert me.status == 200 and me.body["user"]["username"] == "alice", me.body
    expect_error(api.request("GET", "/api/auth/me/"), 401, "not_authenticated")


def test_wrong_password_and_unknown_user_401(api):
    api.register("bob", "bob@example.com", PASSWORD)
    wrong = api.request("POST", "/api/auth/login/", {"username": "bob", "password": PASSWORD + "x"})
    expect_error(wrong, 401, "bad_credentials")
    assert wrong.header("www-authenticate", ) is not None
    assert not wrong.header_all("set-cookie")
    unknown = api.request("POST", "/api/auth/login/", {"username": "nobody", "password": PASSWORD})
    expect_error(unknown, 401, "bad_credentials")
    assert unknown.body == wrong.body
    expect_error(api.request("POST", "/api/auth/login/", {"email": "nobody@example.com", "password": PASSWORD}),
                 401, "bad_credentials")
    # a user created by the service without a password cannot log in
    api.create_user("nopass")
    expect_error(api.request("POST", "/api/auth/login/", {"username": "nopass", "password": PASSWORD}),
                 401, "bad_credentials")


def test_duplicate_username_or_email_409(api):
    api.register("carol", "carol@example.com", PASSWORD)
    with pytest.raises(ApiError) as e:
        api.register("carol", "other@example.com", PASSWORD)
    assert (e.value.status, e.value.code) == (409, "exists")
    with pytest.raises(ApiError) as e:
        api.register("carol2", "carol@example.com", PASSWORD)
    assert (e.value.status, e.value.code) == (409, "exists")
    with pytest.raises(ApiError) as e:
        api.create_user("carol")
    assert (e.value.status, e.value.code) == (409, "exists")


GOOD = {"username": "dave", "email": "dave@example.com", "password": PASSWORD}


@pytest.mark.parametrize("change, field", [
    ({"username": None}, "username"),
    ({"username": ""}, "username"),
    ({"username": "has space"}, "username"),
    ({"username": "semi;colon"}, "username"),
    ({"username": "x" * 151}, "username"),
    ({"username": 42}, "username"),
    ({"email": None}, "email"),
    ({"email": "no-at.example.com"}, "email"),
    ({"email": "two@@example.com"}, "email"),
    ({"email": "a@b@example.com"}, "email"),
    ({"email": "nodot@example"}, "email"),
    ({"email": "@example.com"}, "email"),
    ({"email": "dot@.example"}, "email"),
    ({"email": "x" * 250 + "@example.com"}, "email"),
    ({"password": None}, "password"),
    ({"password": "short12"}, "password"),
    ({"password": "p" * 129}, "password"),
    ({"password": ["list"]}, "password"),
    ({"role": "admin"}, "role"),
])
def test_register_validation_400(api, change, field):
    body = dict(GOOD)
    for k, v in change.items():
        if v is None:
            del body[k]
        else:
            body[k] = v
    expect_error(api.request("POST", "/api/auth/register/", body), 400, "invalid", field)


def test_register_accepts_the_limits(api):
    # 150-character username, 8 and 128 characters (not bytes) passwords
    api.register("u" * 150, "long@example.com", "p" * 8)
    api.register("unicode", "uni@example.com", "é" * 128)
    assert api.login("unicode", "é" * 128)["user"]["username"] == "unicode"
    expect_error(api.request("POST", "/api/auth/register/",
                             {"username": "u2", "email": "u2@example.com", "password": "é" * 7}),
                 400, "invalid", "password")


@pytest.mark.parametrize("raw, ctype, code", [
    ("", "application/json", "invalid_json"),
    ("{not json", "application/json", "invalid_json"),
    ("[1, 2]", "application/json", "invalid_json"),
    ('"text"', "application/json", "invalid_json"),
    ('{"a": 1, "a": 2}', "application/json", "invalid_json"),
    ('{"username": "x", "password": "y"}', "text/plain", "invalid_content_type"),
    ('{"username": "x", "password": "y"}', None, "invalid_content_type"),
])
def test_bodies_must_be_json_objects(api_host, raw, ctype, code):
    host, _ = api_host
    lines = ["POST /api/auth/login/ HTTP/1.1", f"Host: 127.0.0.1:{host.port}",
             f"Content-Length: {len(raw.encode())}", "Connection: close"]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    resp = http_request(host.port, ("\r\n".join(lines) + "\r\n\r\n" + raw).encode())
    assert resp.status == 400, resp
    assert resp.json()["error"] == code, resp


def test_login_needs_exactly_one_of_username_and_email(api):
    expect_error(api.request("POST", "/api/auth/login/", {"password": PASSWORD}), 400, "invalid")
    expect_error(api.request("POST", "/api/auth/login/",
                             {"username": "a", "email": "a@example.com", "password": PASSWORD}),
                 400, "invalid")
    expect_error(api.request("POST", "/api/auth/login/", {"username": "a"}), 400, "invalid", "password")


def test_logout_clears_the_cookie(api):
    reply = api.request("POST", "/api/auth/logout/")
    assert reply.status == 200 and reply.body == {}, reply.body
    cookie = cookie_of(reply)
    parts = [a.strip() for a in cookie.split(";")]
    assert parts[0] == "chanhost_session=" and "Max-Age=0" in parts and "Path=/" in parts, cookie


def test_token_expiry(make_host, tmp_path):
    host = make_host(auth_config_lines(tmp_path) + ["auth_token_ttl 2s"])
    api = Api(host.port)
    reply = api.request("POST", "/api/auth/register/",
                        {"username": "erin", "email": "erin@example.com", "password": PASSWORD})
    assert reply.status == 201, reply.body
    token = reply.body["token"]
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] == 2
    assert "Max-Age=2" in cookie_of(reply)
    assert api.request("GET", "/api/auth/me/", token=token).status == 200
    deadline = time.monotonic() + 8
    while True:
        r = api.request("GET", "/api/auth/me/", token=token)
        if r.status == 401:
            break
        assert r.status == 200, r.body
        assert time.monotonic() < deadline, "the token did not expire"
        time.sleep(0.2)
    assert time.time() >= claims["exp"]
    expect_error(r, 401, "not_authenticated")
    assert "expired" in r.body["message"]


def test_tampered_or_foreign_tokens_are_refused(api):
    _, token = user_with_token(api, "frank")
    head, body, sig = token.split(".")
    claims = claims_of(token)
    claims["roles"] = ["admin"]
    evil = f"{head}.{b64url(json.dumps(claims).encode())}.{sig}"
    expect_error(api.request("GET", "/api/auth/me/", token=evil), 401, "not_authenticated")
    expect_error(api.request("GET", "/api/auth/me/", token=forge(b"0" * 32, claims)), 401, "not_authenticated")
    expect_error(api.request("GET", "/api/auth/me/", headers={"Authorization": f"Token {token}"}),
                 401, "not_authenticated")


def test_users_list_hides_other_emails(api):
    a = api.register("gina", "gina@example.com", PASSWORD)
    api.register("hank", "hank@example.com", PASSWORD)
    users = {u["username"]: u for u in api.users(a["token"])}
    assert set(users) == {"gina", "hank"}
    assert users["gina"]["email"] == "gina@example.com"
    assert users["hank"]["email"] is None
    everyone = api.call("GET", "/api/users/", token=SERVICE_TOKEN)["users"]
    assert {u["email"] for u in everyone} == {"gina@example.com", "hank@example.com"}


# --------------------------------------------------------------------------
# service endpoints


def test_service_endpoints_refuse_users_and_anonymous(api):
    _, token = user_with_token(api, "ivan")
    calls = [("POST", "/api/users/", {"username": "x1"}),
             ("POST", "/api/tokens/", {"user_id": 1}),
             ("POST", "/api/ads/", {"ad_id": 1, "publisher_id": 1}),
             ("POST", "/api/tasks/1/members/", {"user_id": 1}),
             ("DELETE", "/api/tasks/1/members/", {"user_id": 1})]
    for method, path, body in calls:
        expect_error(api.request(method, path, body, token=token), 403, "forbidden")
        expect_error(api.request(method, path, body), 401, "not_authenticated")
        expect_error(api.request(method, path, body, token=SERVICE_TOKEN + "x"), 401, "not_authenticated")
    assert api.request("POST", "/api/users/", {"username": "x1"}, token=SERVICE_TOKEN).status == 201


def test_service_creates_users_and_mints_tokens(api):
    pub = api.create_user("pub", role="publisher", password=PASSWORD, email="pub@example.com")
    assert pub["role"] == "publisher" and pub["email"] == "pub@example.com"
    assert api.login("pub", PASSWORD)["user"]["id"] == pub["id"]
    reply = api.request("POST", "/api/tokens/", {"user_id": pub["id"]}, token=SERVICE_TOKEN)
    assert reply.status == 201, reply.body
    assert not reply.header_all("set-cookie")
    claims = claims_of(reply.body["token"])
    assert claims["sub"] == str(pub["id"]) and claims["roles"] == ["publisher"]
    assert reply.body["user"]["username"] == "pub"
    assert api.me(reply.body["token"])["role"] == "publisher"
    expect_error(api.request("POST", "/api/tokens/", {"user_id": 9999}, token=SERVICE_TOKEN), 404, "not_found")
    expect_error(api.request("POST", "/api/tokens/", {"user_id": "1"}, token=SERVICE_TOKEN), 400, "invalid", "user_id")
    expect_error(api.request("POST", "/api/users/", {"username": "r", "role": "root"}, token=SERVICE_TOKEN),
                 400, "invalid", "role")
    expect_error(api.request("POST", "/api/users/", {"username": "r", "password": "short"}, token=SERVICE_TOKEN),
                 400, "invalid", "password")


def test_admins_may_call_service_endpoints(api):
    _, admin = user_with_token(api, "root", role="admin")
    user = api.create_user("plain")
    reply = api.request("POST", "/api/tokens/", {"user_id": user["id"]}, token=admin)
    assert reply.status == 201, reply.body


def test_service_token_has_no_user(api):
    expect_error(api.request("GET", "/api/rooms/", token=SERVICE_TOKEN), 403, "forbidden")
    expect_error(api.request("GET", "/api/auth/me/", token=SERVICE_TOKEN), 403, "forbidden")


# --------------------------------------------------------------------------
# rooms


def test_unknown_endpoint_404_and_method_405(api):
    expect_error(api.request("GET", "/api/nothing/"), 404, "not_found")
    expect_error(api.request("GET", "/api/rooms/abc/messages/"), 404, "not_found")
    expect_error(api.request("GET", "/api/rooms/0/messages/"), 404, "not_found")
    r = api.request("PUT", "/api/rooms/")
    expect_error(r, 405, "method_not_allowed")
    assert r.header("allow") == "GET, POST"
    r = api.request("GET", "/api/auth/login/")
    assert r.status == 405 and r.header("allow") == "POST"
    r = api.request("GET", "/api/tasks/3/members/")
    assert r.status == 405 and r.header("allow") == "POST, DELETE"


def test_create_group_room(api):
    alice, ta = user_with_token(api, "alice")
    bob, tb = user_with_token(api, "bob")
    room = api.create_room(ta, "lobby", "group", [bob["id"], bob["id"], alice["id"]])
    assert room["key"] == "group:lobby" and room["kind"] == "group" and room["name"] == "lobby"
    assert room["is_private"] is False and room["is_active"] is True
    assert room["participants"] == [alice["id"], bob["id"]]
    assert set(room) >= {"id", "key", "kind", "name", "is_private", "created_at", "is_active"}
    with pytest.raises(ApiError) as e:
        api.create_room(tb, "lobby", "group", [])
    assert (e.value.status, e.value.code) == (409, "exists")
    assert [r["id"] for r in api.rooms(tb)] == [room["id"]]


@pytest.mark.parametrize("body, field", [
    ({"name": "has space", "type": "group"}, "name"),
    ({"name": "x" * 101, "type": "group"}, "name"),
    ({"type": "group"}, "name"),
    ({"name": "ok", "type": "public"}, "type"),
    ({"name": "ok"}, "type"),
    ({"name": "ok", "type": "group", "participants": "1"}, "participants"),
    ({"name": "ok", "type": "group", "participants": [0]}, "participants"),
    ({"name": "ok", "type": "group", "participants": ["2"]}, "participants"),
    ({"name": "ok", "type": "group", "participants": list(range(1, 102))}, "participants"),
])
def test_create_room_validation_400(api, body, field):
    _, token = user_with_token(api, "vera")
    expect_error(api.request("POST", "/api/rooms/", body, token=token), 400, "invalid", field)


def test_create_room_unknown_participant_400(api):
    _, token = user_with_token(api, "walt")
    expect_error(api.request("POST", "/api/rooms/", {"name": "g", "type": "group", "participants": [4242]},
                             token=token), 400, "unknown_user")
    # nothing was created: the name is still free
    assert api.create_room(token, "g", "group", [])["key"] == "group:g"


def test_private_rooms_get_their_own_keys(api):
    alice, ta = user_with_token(api, "alice")
    bob, _ = user_with_token(api, "bob")
    r1 = api.create_room(ta, "Our chat", "private", [bob["id"]])
    r2 = api.create_room(ta, "Our chat", "private", [bob["id"]])
    assert r1["id"] != r2["id"]
    for r in (r1, r2):
        assert re.fullmatch(r"private:[0-9a-f]{32}", r["key"]), r
        assert r["kind"] == "private" and r["is_private"] is True and r["name"] == "Our chat"
    assert api.create_room(ta, None, "private", [])["name"] is None


def test_rooms_list_fresh_rooms(api):
    alice, ta = user_with_token(api, "alice")
    bob, tb = user_with_token(api, "bob")
    g = api.create_room(ta, "first", "group", [])
    h = api.create_room(ta, "second", "group", [bob["id"]])
    mine = api.rooms(ta)
    assert [r["id"] for r in mine] == [h["id"], g["id"]]   # newest activity first
    for r in mine:
        assert r["unread"] == 0 and r["last_message"] is None, r
    assert [r["key"] for r in api.rooms(tb)] == ["group:second"]
    expect_error(api.request("GET", "/api/rooms/"), 401, "not_authenticated")


def test_participants_add_remove(api):
    alice, ta = user_with_token(api, "alice")
    bob, tb = user_with_token(api, "bob")
    carol, tc = user_with_token(api, "carol")
    room = api.create_room(ta, "team", "group", [])
    path = f"/api/rooms/{room['id']}/participants/"
    # a non-participant may not add anyone, not even herself
    expect_error(api.request("POST", path, {"user_id": carol["id"]}, token=tc), 403, "not_participant")
    assert api.add_participant(ta, room["id"], bob["id"]) is True
    assert api.add_participant(tb, room["id"], bob["id"]) is False
    assert [r["id"] for r in api.rooms(tb)] == [room["id"]]
    expect_error(api.request("POST", path, {"user_id": 777}, token=ta), 400, "unknown_user")
    expect_error(api.request("POST", path, {}, token=ta), 400, "invalid", "user_id")
    assert api.remove_participant(ta, room["id"], bob["id"]) is True
    assert api.remove_participant(ta, room["id"], bob["id"]) is False
    assert api.rooms(tb) == []
    # bob is out: he may not put himself back
    expect_error(api.request("POST", path, {"user_id": bob["id"]}, token=tb), 403, "not_participant")
    # the service acts as an admin
    assert api.call("POST", path, {"user_id": carol["id"]}, token=SERVICE_TOKEN)["added"] is True
    assert [r["id"] for r in api.rooms(tc)] == [room["id"]]
    expect_error(api.request("POST", "/api/rooms/99999/participants/", {"user_id": bob["id"]}, token=ta),
                 404, "not_found")
    expect_error(api.request("DELETE", "/api/rooms/99999/participants/", {"user_id": bob["id"]},
                             token=SERVICE_TOKEN), 404, "not_found")


def test_messages_history_access(api):
    alice, ta = user_with_token(api, "alice")
    bob, tb = user_with_token(api, "bob")
    _, admin = user_with_token(api, "boss", role="admin")
    room = api.create_room(ta, "quiet", "group", [])
    assert api.messages(ta, room["id"]) == []
    assert api.messages(ta, room["id"], before=10, limit=200) == []
    assert api.messages(admin, room["id"]) == []
    assert api.call("GET", f"/api/rooms/{room['id']}/messages/", token=SERVICE_TOKEN) == {"messages": []}
    expect_error(api.request("GET", f"/api/rooms/{room['id']}/messages/", token=tb), 403, "not_participant")
    expect_error(api.request("GET", "/api/rooms/424242/messages/", token=ta), 404, "not_found")
    expect_error(api.request("GET", f"/api/rooms/{room['id']}/messages/"), 401, "not_authenticated")
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"),
                         ("before=0", "before"), ("before=-3", "before"), ("before=", "before")):
        expect_error(api.request("GET", f"/api/rooms/{room['id']}/messages/?{query}", token=ta),
                     400, "invalid", field)


def test_threads_get_or_create(api):
    alice, ta = user_with_token(api, "alice")
    bob, tb = user_with_token(api, "bob")
    first = api.thread_with(ta, bob["id"])
    assert first["created"] is True
    room = first["room"]
    lo, hi = sorted((alice["id"], bob["id"]))
    assert room["key"] == f"thread:{lo}-{hi}" and room["kind"] == "thread" and room["is_private"] is True
    again = api.thread_with(ta, bob["id"])
    assert again == {"room": room, "created": False}
    other_side = api.thread_with(tb, alice["id"])
    assert other_side == {"room": room, "created": False}
    assert [r["id"] for r in api.rooms(ta)] == [room["id"]]
    assert [r["id"] for r in api.rooms(tb)] == [room["id"]]
    # a thread keeps its two participants only
    carol, _ = user_with_token(api, "carol")
    expect_error(api.request("POST", f"/api/rooms/{room['id']}/participants/", {"user_id": carol["id"]},
                             token=ta), 400, "invalid")
    expect_error(api.request("POST", "/api/threads/", {"user_id": alice["id"]}, token=ta), 400, "invalid")
    expect_error(api.request("POST", "/api/threads/", {"user_id": 5555}, token=ta), 400, "unknown_user")


def test_threads_leaving_and_coming_back(api):
    alice, ta = user_with_token(api, "alice")
    bob, tb = user_with_token(api, "bob")
    room = api.thread_with(ta, bob["id"])["room"]
    assert api.remove_participant(tb, room["id"], bob["id"]) is True
    assert api.rooms(tb) == []
    back = api.thread_with(tb, alice["id"])
    assert back == {"room": room, "created": False}
    assert [r["id"] for r in api.rooms(tb)] == [room["id"]]


def test_ads_register(api):
    pub, tp = user_with_token(api, "pub", role="publisher")
    other, _ = user_with_token(api, "pub2", role="publisher")
    room = api.register_ad(17, pub["id"])
    assert room["key"] == "ad:17" and room["kind"] == "ad"
    assert [r["key"] for r in api.rooms(tp)] == ["ad:17"]
    again = api.request("POST", "/api/ads/", {"ad_id": 17, "publisher_id": pub["id"]}, token=SERVICE_TOKEN)
    assert again.status == 200 and again.body == {"room": room, "created": False}, again.body
    expect_error(api.request("POST", "/api/ads/", {"ad_id": 17, "publisher_id": other["id"]},
                             token=SERVICE_TOKEN), 409, "exists")
    expect_error(api.request("POST", "/api/ads/", {"ad_id": 0, "publisher_id": 1}, token=SERVICE_TOKEN),
                 400, "invalid", "ad_id")
    expect_error(api.request("POST", "/api/ads/", {"ad_id": 3}, token=SERVICE_TOKEN),
                 400, "invalid", "publisher_id")


def test_task_members(api):
    dev, td = user_with_token(api, "dev")
    qa, tq = user_with_token(api, "qa")
    assert api.remove_task_member(8, dev["id"]) is False      # no such task room yet
    assert api.add_task_member(8, dev["id"]) is True
    assert api.add_task_member(8, dev["id"]) is False
    assert api.add_task_member(8, qa["id"]) is True
    rooms = api.rooms(td)
    assert [(r["key"], r["kind"]) for r in rooms] == [("task:8", "task")]
    assert [r["id"] for r in api.rooms(tq)] == [rooms[0]["id"]]
    assert api.remove_task_member(8, dev["id"]) is True
    assert api.remove_task_member(8, dev["id"]) is False
    assert api.rooms(td) == []
    assert [r["key"] for r in api.rooms(tq)] == ["task:8"]


def test_chat_endpoints_are_the_plugins(api, make_host, tmp_path):
    """/api/ads/ and /api/tasks/<id>/members/ come with the support and
    taskcomments plugins: a host that routes neither answers 404; with
    them, a task id the host's routes would not take (0, a leading zero,
    too long) is 404 too, and a missing body is 400 as for the host's."""
    (tmp_path / "bare").mkdir()
    bare = Api(make_host(auth_config_lines(tmp_path / "bare")).port, service_token=SERVICE_TOKEN)
    expect_error(bare.request("POST", "/api/ads/", {"ad_id": 1, "publisher_id": 1},
                              token=SERVICE_TOKEN), 404, "not_found")
    expect_error(bare.request("POST", "/api/tasks/1/members/", {"user_id": 1},
                              token=SERVICE_TOKEN), 404, "not_found")
    for path in ("/api/tasks/0/members/", "/api/tasks/07/members/",
                 "/api/tasks/99999999999999999999/members/"):
        expect_error(api.request("POST", path, {"user_id": 1}, token=SERVICE_TOKEN), 404, "not_found")
    expect_error(api.request("POST", "/api/tasks/7/members/", token=SERVICE_TOKEN), 400, "invalid_json")
    expect_error(api.request("POST", "/api/ads/", token=SERVICE_TOKEN), 400, "invalid_json")
    reply = api.request("POST", "/api/tasks/7/members", {"user_id": 3}, token=SERVICE_TOKEN)
    assert reply.status == 200 and reply.body == {"added": True}, reply.body


def test_keep_alive_and_pipelined_answers_in_order(api_host):
    host, api = api_host
    api.register("kim", "kim@example.com", PASSWORD)
    body = json.dumps({"username": "kim", "password": PASSWORD})
    one = (f"POST /api/auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}")
    two = "GET /api/nothing/ HTTP/1.1\r\nHost: x\r\n\r\n"
    three = "GET /api/auth/me/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    from conftest import RawConn
    with RawConn.connect(host.port) as conn:
        conn.send(one + two + three)
        statuses = [conn.read_response(10).status for _ in range(3)]
    assert statuses == [200, 404, 401]


def test_store_none_answers_503(make_host, tmp_path):
    lines = [l for l in auth_config_lines(tmp_path) if not l.startswith("store ")]
    host = make_host(lines + [f"auth_secret_file {tmp_path}/auth.secret"])
    api = Api(host.port, service_token=SERVICE_TOKEN)
    r = api.request("POST", "/api/auth/login/", {"username": "x", "password": PASSWORD})
    expect_error(r, 503, "store_unavailable")


# --------------------------------------------------------------------------
# WebSocket handshake authentication (the whoami test plugin)


@pytest.fixture
def ws_host(make_host, tmp_path):
    host = make_host(auth_config_lines(tmp_path), plugin_dir=TEST_PLUGIN_DIR,
                     routes=["/ws/whoami/ whoami"], args=("-v", "2"))
    return host, Api(host.port, service_token=SERVICE_TOKEN), (tmp_path / "auth.secret").read_bytes().strip()


async def whoami(host, query="", **kw):
    async with ws_connect(host.url("/ws/whoami/") + query, **kw) as ws:
        return await recv_json(ws), ws.subprotocol


def test_ws_token_in_each_place(ws_host):
    host, api, _ = ws_host
    user = api.create_user("wendy", role="publisher")
    token = api.token_for(user["id"])
    expect = {"id": user["id"], "username": "wendy", "roles": ["publisher"]}

    got, sub = run(whoami(host, f"?token={token}"))
    assert got == {"user": expect, "subprotocol": None} and sub is None
    got, sub = run(whoami(host, subprotocols=["Bearer", token]))
    assert got == {"user": expect, "subprotocol": "Bearer"} and sub == "Bearer"
    got, sub = run(whoami(host, extra_headers={"Authorization": f"Bearer {token}"}))
    assert got["user"] == expect
    got, sub = run(whoami(host, extra_headers={"Cookie": f"x=1; chanhost_session={token}"}))
    assert got["user"] == expect
    got, sub = run(whoami(host))
    assert got == {"user": None, "subprotocol": None}
    text = host.stderr_text()
    assert "HANDSHAKING /ws/whoami/" in text
    assert token not in text and token.split(".")[2] not in text


def test_ws_expired_or_tampered_token_gives_no_user(ws_host):
    host, api, secret = ws_host
    user = api.create_user("xena")
    good = api.token_for(user["id"])
    claims = claims_of(good)
    now = int(time.time())
    fresh = forge(secret, dict(claims, iat=now, exp=now + 600))
    expired = forge(secret, dict(claims, iat=now - 600, exp=now - 10))
    head, body, sig = good.split(".")
    tampered = f"{head}.{b64url(json.dumps(dict(claims, sub='1')).encode())}.{sig}"
    # the forged fresh token works: the secret really is the host's
    assert run(whoami(host, f"?token={fresh}"))[0]["user"]["id"] == user["id"]
    for bad in (expired, tampered, good[:-2]):
        got, _ = run(whoami(host, f"?token={bad}"))
        assert got["user"] is None, bad
        got, sub = run(whoami(host, subprotocols=["Bearer", bad]))
        assert got["user"] is None and sub == "Bearer"
        got, _ = run(whoami(host, extra_headers={"Authorization": f"Bearer {bad}"}))
        assert got["user"] is None
        got, _ = run(whoami(host, extra_headers={"Cookie": f"chanhost_session={bad}"}))
        assert got["user"] is None
    text = host.stderr_text()
    for t in (good, fresh, expired, tampered):
        assert t not in text
    assert "expired" in text    # -v2 says why a token was refused, without the token
