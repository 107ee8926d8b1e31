"""The operator's status document, GET /api/admin/status/ (issue 17,
item 4; the page web/admin/status/ polls it): 401 without a token, 403
for a user who is not an admin, 200 for an admin user and the service
token; its numbers follow a small load (connections per route, messages
in and out, the plugin versions, layer and store); the static page is
served from static_dir with no external reference.  The Grafana
dashboard's queries name metrics the host exports.
"""

import json
import re
from pathlib import Path

import websockets

from apiclient import SERVICE_TOKEN, Api, auth_config_lines
from conftest import http_get, run

ROOT = Path(__file__).resolve().parents[2]
STATUS = "/api/admin/status/"


def test_status_access_and_numbers_under_load(make_host, tmp_path):
    host = make_host(auth_config_lines(tmp_path))
    api = Api(host.port, service_token=SERVICE_TOKEN)
    root = api.token_for(api.create_user("root", role="admin")["id"])
    joe = api.token_for(api.create_user("joe")["id"])

    none = api.request("GET", STATUS)
    assert none.status == 401, none.body
    assert api.request("GET", STATUS, token=joe).status == 403
    assert api.request("GET", STATUS, token=SERVICE_TOKEN).status == 200
    assert api.request("POST", STATUS, token=root).status == 405

    before = api.call("GET", STATUS, token=root)
    assert before["worker"] == 0 and before["connections"] == 0
    assert {r["route"]: r["connections"] for r in before["routes"]} == {
        "/ws/echo/": 0, "/ws/broadcast/<int:room_id>/": 0}
    assert {p["name"] for p in before["plugins"]} == {"echo", "broadcast"}
    assert all(p["version"] for p in before["plugins"])
    assert before["layer"]["backend"] == "memory" and before["store"]["backend"] == "sqlite"
    assert "queue_depth" in before["store"] and "commit_latency_ms" in before["store"]

    async def load():
        async with websockets.connect(host.url("/ws/echo/")) as a, \
                websockets.connect(host.url("/ws/echo/")):
            for i in range(25):
                await a.send(f"m{i}")
                assert await a.recv() == f"m{i}"
            return api.call("GET", STATUS, token=root)

    during = run(load())
    assert during["connections"] == 2
    assert {r["route"]: r["connections"] for r in during["routes"]}["/ws/echo/"] == 2
    assert during["messages"]["in"] - before["messages"]["in"] == 25
    assert during["messages"]["out"] - before["messages"]["out"] >= 25
    assert during["bytes"]["in"] > before["bytes"]["in"]
    assert during["at_ms"] >= before["at_ms"]


def test_status_page_is_served_and_self_contained(make_host):
    host = make_host([f"static_dir {ROOT / 'web'}"])
    api = Api(host.port)
    page = api.request("GET", "/admin/status/")
    assert page.status == 200, page.body
    assert "<canvas" in page.body or "<svg" in page.body
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.body)
    assert refs and all(r.startswith("/admin/status/") for r in refs), refs
    script = api.request("GET", "/admin/status/status.js")
    assert script.status == 200 and STATUS in script.body
    assert len(script.body) < 16000  # a few KB
    assert "http://" not in script.body and "https://" not in script.body


def test_grafana_dashboard_names_exported_metrics(make_host):
    host = make_host()
    text = http_get(host.port, "/metrics").body.decode("utf-8")
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    assert "chanhost_connections" in exported
    board = json.loads((ROOT / "etc/grafana/chanhost.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 6
    for expr in exprs:
        names = set(re.findall(r"\bchanhost_[a-z_]+", expr))
        assert names, expr
        assert names <= exported, (expr, names - exported)
