"""Django logins on chanhost (docs/django.md): a browser session made by the
Django test project's login view (database sessions on SQLite and on
PostgreSQL, signed-cookie sessions) opens a chanhost chat socket and the API,
until the user changes the password or is deactivated (then 4001 / 401);
DRF and SimpleJWT tokens from the Django app open /ws/chats/<id>/ as in seed
002, expired and forged ones get 4001.  The chat room is made by the service
token with the Django app's chat id and user ids."""

import time

import pytest

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from chatkit import PgDatabase, frame, post, refused
from conftest import run, ws_connect
from djkit import DjangoSite, hs256

CHAT = 5
ROUTES = ["/ws/chats/<int:chat_id>/ chatroom"]


def chanhost_beside(make_host, tmp_path, site, db, engine):
    """A chanhost reading site's database with its SECRET_KEY (a 0600 file)."""
    key = tmp_path / "django.secret"
    key.write_text(site.secret + "\n")
    key.chmod(0o600)
    extra = auth_config_lines(tmp_path) + [
        f"django_database {db}",
        f"django_secret_key_file {key}",
        f"django_session_engine {engine}",
    ]
    return make_host(extra, routes=ROUTES)


def make_chat(host, *user_ids):
    """The service token makes chat CHAT with the Django users as participants."""
    api = Api(host.port, service_token=SERVICE_TOKEN)
    room = api.call("POST", "/api/rooms/", {"type": "private", "id": CHAT, "participants": list(user_ids)},
                    token=SERVICE_TOKEN)["room"]
    assert room["id"] == CHAT and room["participants"] == list(user_ids), room
    return api


async def chats(host, cmid, **kw):
    """Open /ws/chats/CHAT/, read the history, post a message: its id."""
    async with ws_connect(host.url(f"/ws/chats/{CHAT}/"), **kw) as ws:
        await frame(ws, "history")
        return await post(ws, "hello from django", cmid)


def refused_code(host, query="", **kw):
    code, _ = run(refused(host.url(f"/ws/chats/{CHAT}/{query}"), **kw))
    return code


def me(api, cookie):
    return api.request("GET", "/api/auth/me/", headers={"Cookie": cookie})


def session_lifecycle(make_host, tmp_path, db, engine):
    site = DjangoSite(db, engine)
    try:
        host = chanhost_beside(make_host, tmp_path, site, db, engine)
        alice, bob = site.register("alice"), site.register("bob")
        api = make_chat(host, alice["id"], bob["id"])

        cookie = site.login("alice")
        assert run(chats(host, "c1", extra_headers={"Cookie": cookie})) > 0
        got = me(api, cookie)
        assert got.status == 200, got.body
        assert got.body["user"]["id"] == alice["id"] and got.body["user"]["username"] == "alice"
        again = api.request("POST", "/api/rooms/", {"type": "private", "id": CHAT}, token=SERVICE_TOKEN)
        assert again.status == 409, again.body
        mine = api.request("POST", "/api/rooms/", {"type": "private", "id": CHAT + 1},
                           headers={"Cookie": cookie})
        assert mine.status == 403 and mine.body["error"] == "forbidden", mine.body

        status, body, _ = site.post("/accounts/password/", {"password": "another-password-2"}, cookie)
        assert status == 200, body
        assert refused_code(host, extra_headers={"Cookie": cookie}) == 4001
        assert me(api, cookie).status == 401

        cookie = site.login("alice", "another-password-2")
        assert run(chats(host, "c2", extra_headers={"Cookie": cookie})) > 0
        if engine == "db":
            site.expire_sessions()
            assert refused_code(host, extra_headers={"Cookie": cookie}) == 4001
            assert me(api, cookie).status == 401
            cookie = site.login("alice", "another-password-2")
        status, body, _ = site.post("/accounts/deactivate/", cookie=cookie)
        assert status == 200, body
        assert refused_code(host, extra_headers={"Cookie": cookie}) == 4001
        assert me(api, cookie).status == 401

        forged = cookie[:-2] + ("x" if cookie[-2] != "x" else "y") + cookie[-1]
        assert refused_code(host, extra_headers={"Cookie": forged}) == 4001
    finally:
        site.stop()


@pytest.mark.parametrize("engine", ["db", "signed_cookies"])
def test_sqlite_sessions_until_password_change_and_deactivation(make_host, tmp_path, engine):
    session_lifecycle(make_host, tmp_path, f"sqlite:{tmp_path / 'django.sqlite3'}", engine)


def test_postgresql_sessions_until_password_change_and_deactivation(make_host, tmp_path):
    pg = PgDatabase("djauth")
    try:
        session_lifecycle(make_host, tmp_path, pg.url, "db")
    finally:
        pg.drop()


def test_drf_and_simplejwt_tokens_open_chats(make_host, tmp_path):
    db = f"sqlite:{tmp_path / 'django.sqlite3'}"
    site = DjangoSite(db)
    try:
        host = chanhost_beside(make_host, tmp_path, site, db, "db")
        alice, bob = site.register("alice"), site.register("bob")
        api = make_chat(host, alice["id"], bob["id"])

        status, body, _ = site.post("/accounts/token/", {"username": "bob", "password": "a-long-password-1"})
        assert status == 200, body
        drf = body["token"]
        assert run(chats_query(host, drf, "d1")) > 0
        got = api.request("GET", "/api/auth/me/", headers={"Authorization": f"Token {drf}"})
        assert got.status == 200 and got.body["user"]["id"] == bob["id"], got.body

        status, body, _ = site.post("/accounts/jwt/", {"username": "alice", "password": "a-long-password-1"})
        assert status == 200, body
        assert run(chats_query(host, body["access"], "j1")) > 0
        assert run(chats(host, "j2", subprotocols=["Bearer", body["access"]])) > 0
        got = api.request("GET", "/api/auth/me/", headers={"Authorization": f"Bearer {body['access']}"})
        assert got.status == 200 and got.body["user"]["id"] == alice["id"], got.body

        now = int(time.time())
        claims = {"token_type": "access", "user_id": alice["id"], "jti": "x", "iat": now - 600}
        expired = hs256(dict(claims, exp=now - 300), site.secret)
        forged = hs256(dict(claims, exp=now + 300), "not-the-secret-key")
        assert refused_code(host, f"?token={expired}") == 4001
        assert refused_code(host, f"?token={forged}") == 4001
        assert refused_code(host, f"?token={body['refresh']}") == 4001
        assert refused_code(host, "?token=" + "0" * 40) == 4001
        assert api.request("GET", "/api/auth/me/", headers={"Authorization": f"Bearer {forged}"}).status == 401
    finally:
        site.stop()


async def chats_query(host, token, cmid):
    """chats() with the token in ?token= (seed 002)."""
    async with ws_connect(host.url(f"/ws/chats/{CHAT}/?token={token}")) as ws:
        await frame(ws, "history")
        return await post(ws, "hello from a token", cmid)
