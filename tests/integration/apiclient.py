"""A small client for chanhost's JSON HTTP API (docs/api.md), for tests.

Standard library only (http.client), so that every integration test can
import it with /usr/bin/python3:

    from apiclient import Api, ApiError, SERVICE_TOKEN, auth_config_lines

    host = make_host(auth_config_lines(tmp_path) + [...routes...])
    api = Api(host.port, service_token=SERVICE_TOKEN)
    alice = api.create_user("alice")
    token = api.token_for(alice["id"])
    room = api.create_room(token, "lobby", "group", [])

Every method raises ApiError(status, body) when the host answers with a
status outside 2xx; `body` is the decoded JSON answer (or the raw text
when it is not JSON).
"""

import http.client
import json
from pathlib import Path
from urllib.parse import urlencode

SERVICE_TOKEN = "test-service-token-0123456789"


def auth_config_lines(tmp_path):
    """Config lines giving a test host the service token SERVICE_TOKEN, a
    cheap password hash (1000 iterations), the support plugin's role
    "publisher" (as etc/chanhost.conf) and a fresh SQLite store in
    tmp_path.  The token is written to tmp_path/service.token."""
    tmp_path = Path(tmp_path)
    path = tmp_path / "service.token"
    path.write_text(SERVICE_TOKEN + "\n")
    path.chmod(0o600)
    return [
        f"auth_service_token_file {path}",
        "auth_pbkdf2_iterations 1000",
        "roles publisher",
        f"store sqlite:{tmp_path}/chat.db",
    ]


class ApiError(Exception):
    """A non-2xx answer: `status` (int) and `body` (decoded JSON or text)."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body

    @property
    def code(self):
        """The error code of a JSON error body, or None."""
        return self.body.get("error") if isinstance(self.body, dict) else None


class Reply:
    """One answer: status, headers (list of (name, value)), json body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]


class Api:
    """A client for one host on 127.0.0.1:<port>.  A new HTTP connection is
    used for each request (simple and independent of keep-alive)."""

    def __init__(self, port, service_token=None, host="127.0.0.1", timeout=30.0):
        self.port = port
        self.host = host
        self.service_token = service_token
        self.timeout = timeout

    # -- low level ---------------------------------------------------------

    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        """Send one request; returns a Reply whatever the status.  `body` is
        JSON-encoded unless `raw` (bytes/str) is given instead."""
        hdrs = {"Accept": "application/json"}
        data = None
        if raw is not None:
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if headers:
            hdrs.update(headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            status, resp_headers = resp.status, resp.getheaders()
        finally:
            conn.close()
        text = payload.decode("utf-8", "replace")
        try:
            decoded = json.loads(text) if text else None
        except ValueError:
            decoded = text
        return Reply(status, resp_headers, decoded)

    def call(self, method, path, body=None, token=None, headers=None):
        """Like request() but returns the decoded body of a 2xx answer and
        raises ApiError otherwise."""
        r = self.request(method, path, body=body, token=token, headers=headers)
        if not 200 <= r.status < 300:
            raise ApiError(r.status, r.body)
        return r.body

    def _service(self):
        if not self.service_token:
            raise ValueError("this Api has no service_token")
        return self.service_token

    # -- accounts ----------------------------------------------------------

    def register(self, username, email, password):
        """POST /api/auth/register/ -> {"user", "token", "expires_at"}."""
        return self.call("POST", "/api/auth/register/",
                         {"username": username, "email": email, "password": password})

    def login(self, login, password):
        """POST /api/auth/login/ by username, or by email when `login`
        contains '@' -> {"token", "expires_at", "user"}."""
        field = "email" if "@" in login else "username"
        return self.call("POST", "/api/auth/login/", {field: login, "password": password})

    def me(self, token):
        """GET /api/auth/me/ -> user."""
        return self.call("GET", "/api/auth/me/", token=token)["user"]

    def users(self, token):
        """GET /api/users/ -> [user...]."""
        return self.call("GET", "/api/users/", token=token)["users"]

    def create_user(self, username, role="user", password=None, email=None):
        """Service: POST /api/users/ -> user."""
        body = {"username": username, "role": role}
        if password is not None:
            body["password"] = password
        if email is not None:
            body["email"] = email
        return self.call("POST", "/api/users/", body, token=self._service())["user"]

    def token_for(self, user_id):
        """Service: POST /api/tokens/ -> the token string."""
        return self.call("POST", "/api/tokens/", {"user_id": user_id}, token=self._service())["token"]

    # -- rooms -------------------------------------------------------------

    def create_room(self, token, name, type, participants, open=None):
        """POST /api/rooms/ -> room (open: the body's "open" when given)."""
        body = {"name": name, "type": type, "participants": list(participants)}
        if open is not None:
            body["open"] = open
        return self.call("POST", "/api/rooms/", body, token=token)["room"]

    def add_participant(self, token, room_id, user_id):
        """POST /api/rooms/<id>/participants/ -> True if newly added."""
        return self.call("POST", f"/api/rooms/{room_id}/participants/",
                         {"user_id": user_id}, token=token)["added"]

    def remove_participant(self, token, room_id, user_id):
        """DELETE /api/rooms/<id>/participants/ -> True if removed."""
        return self.call("DELETE", f"/api/rooms/{room_id}/participants/",
                         {"user_id": user_id}, token=token)["removed"]

    def rooms(self, token):
        """GET /api/rooms/ -> [room + unread + last_message...]."""
        return self.call("GET", "/api/rooms/", token=token)["rooms"]

    def messages(self, token, room_id, before=None, limit=None):
        """GET /api/rooms/<id>/messages/ -> [message...] oldest first."""
        query = {}
        if before is not None:
            query["before"] = before
        if limit is not None:
            query["limit"] = limit
        path = f"/api/rooms/{room_id}/messages/"
        if query:
            path += "?" + urlencode(query)
        return self.call("GET", path, token=token)["messages"]

    def thread_with(self, token, user_id):
        """POST /api/threads/ -> {"room", "created"}."""
        return self.call("POST", "/api/threads/", {"user_id": user_id}, token=token)

    # -- service: ads and tasks --------------------------------------------

    def register_ad(self, ad_id, publisher_id):
        """Service: POST /api/ads/ -> room ad:<ad_id>."""
        return self.call("POST", "/api/ads/", {"ad_id": ad_id, "publisher_id": publisher_id},
                         token=self._service())["room"]

    def add_task_member(self, task_id, user_id):
        """Service: POST /api/tasks/<id>/members/ -> True if newly added."""
        return self.call("POST", f"/api/tasks/{task_id}/members/", {"user_id": user_id},
                         token=self._service())["added"]

    def remove_task_member(self, task_id, user_id):
        """Service: DELETE /api/tasks/<id>/members/ -> True if removed."""
        return self.call("DELETE", f"/api/tasks/{task_id}/members/", {"user_id": user_id},
                         token=self._service())["removed"]
