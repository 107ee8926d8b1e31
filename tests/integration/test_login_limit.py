"""Login protection (docs/api.md, "Login protection"; issue 12, finding 7):
wrong passwords are limited per account and per client address (429
too_many_attempts with Retry-After, no hash run), and password hashes run
on a bounded queue where one client address cannot take every slot.

The attacker and the honest user come from different loopback addresses
(127.0.0.1 and 127.0.0.2: all of 127.0.0.0/8 is local on Linux), as they
would from different machines."""

import http.client
import json
import threading
import time

from apiclient import SERVICE_TOKEN, Api, auth_config_lines

PASSWORD = "correct horse 1"
ATTACKER, HONEST = "127.0.0.1", "127.0.0.2"


def login(port, body, source):
    """POST /api/auth/login/ from the loopback address source: (status,
    headers dict with lower-case names, decoded body, seconds taken)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", "/api/auth/login/", body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, json.loads(payload or b"null"), time.monotonic() - started
    finally:
        conn.close()


def metric(api, name):
    """The value of one line of /metrics (0 if absent)."""
    for line in api.request("GET", "/metrics").body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0


def cheap_host(make_host, tmp_path, *extra):
    host = make_host(auth_config_lines(tmp_path) + list(extra))
    api = Api(host.port, service_token=SERVICE_TOKEN)
    return host, api


def test_sixty_wrong_logins_get_429_while_another_account_logs_in_fast(make_host, tmp_path):
    # a real cost per hash (about 30 ms here), not the other tests' cheap
    # one: before the limiter and the hash queue, the 60 hashes filled the
    # 4 threads of the pool (2 cores) and the correct login waited behind
    # them, over a second (the finding: 2.7 s at 260000 iterations).  15
    # failures per account (not 5) let 16 of the attacker's hashes through,
    # so the honest login has a long queue to overtake.
    lines = [x for x in auth_config_lines(tmp_path) if not x.startswith("auth_pbkdf2")]
    host = make_host(lines + ["auth_pbkdf2_iterations 100000", "auth_login_failures 15"])
    api = Api(host.port, service_token=SERVICE_TOKEN)
    api.create_user("victim", password=PASSWORD)
    api.create_user("alice", password=PASSWORD)
    status, _, _, _ = login(host.port, {"username": "alice", "password": PASSWORD}, HONEST)
    assert status == 200

    results = []
    go = threading.Barrier(61)

    def attack(i):
        go.wait()
        status, headers, body, took = login(host.port, {"username": "victim",
                                                        "password": f"wrong {i:02}xx"}, ATTACKER)
        results.append((status, headers, body, took, time.monotonic()))

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    go.wait()
    # meanwhile: once the attacker's hashes hold the pool, the honest login
    deadline = time.monotonic() + 10
    while metric(api, "chanhost_password_hashes_total") < 4 and time.monotonic() < deadline:
        pass
    honest_started = time.monotonic()
    status, _, body, took = login(host.port, {"username": "alice", "password": PASSWORD}, HONEST)
    for t in threads:
        t.join()

    assert status == 200 and body["user"]["username"] == "alice", body
    limited = [r for r in results if r[0] == 429]
    checked = [r for r in results if r[0] == 401]
    assert len(limited) + len(checked) == 60, [r[0] for r in results]
    assert len(limited) >= 40 and len(checked) <= 16, f"only {len(limited)} of 60 were limited"
    # The honest login overtook the attacker's queue: one address runs one
    # hash at a time, so the attacker's hashes run one after another on one
    # slot while the honest one takes the other.  Order, not a time bound
    # (a loaded machine slows every hash alike): had it waited behind the
    # attacker's queue, at most one of their hashes would end after it.
    honest_end = honest_started + took
    after = [r for r in checked if r[4] > honest_end]
    assert len(after) >= 4, (f"the correct login ({took:.3f} s) ended after all but "
                             f"{len(after)} of the attacker's {len(checked)} hashes")
    for _, headers, body, took_429, _ in limited:
        assert body["error"] == "too_many_attempts" and body["retry_after"] >= 1, body
        assert int(headers["retry-after"]) == body["retry_after"]
    # the attack's hashes were still running when the honest login came
    assert max(r[4] for r in checked) > honest_started
    assert metric(api, "chanhost_login_limited_total") == len(limited)
    assert metric(api, "chanhost_login_failures_total") == len(checked)
    assert metric(api, "chanhost_login_attempts_total") == 62
    assert metric(api, "chanhost_password_hashes_running") == 0
    assert metric(api, "chanhost_password_hash_queue_depth") == 0


def test_account_lockout_doubles_and_a_success_resets(make_host, tmp_path):
    host, api = cheap_host(make_host, tmp_path, "auth_login_failures 3", "auth_login_delay 10s")
    api.create_user("bob", password=PASSWORD, email="bob@example.com")
    wrong = {"username": "bob", "password": "not the one"}
    # a success clears the failures before it
    for _ in range(3):
        assert login(host.port, wrong, ATTACKER)[0] == 401
    assert login(host.port, {"username": "bob", "password": PASSWORD}, ATTACKER)[0] == 200
    for _ in range(3):
        assert login(host.port, wrong, ATTACKER)[0] == 401
    # the 4th failure still runs, and locks the account for 10 s
    assert login(host.port, wrong, ATTACKER)[0] == 401
    hashes = metric(api, "chanhost_password_hashes_total")
    status, headers, body, _ = login(host.port, {"username": "bob", "password": PASSWORD}, HONEST)
    assert status == 429 and body["error"] == "too_many_attempts", body
    assert 9 <= int(headers["retry-after"]) <= 10
    # refused without a hash, whatever the address or the password
    assert metric(api, "chanhost_password_hashes_total") == hashes
    # another account is not locked
    api.create_user("carol", password=PASSWORD)
    assert login(host.port, {"username": "carol", "password": PASSWORD}, ATTACKER)[0] == 200


def test_client_address_limit(make_host, tmp_path):
    host, api = cheap_host(make_host, tmp_path, "auth_login_ip_failures 4", "auth_login_delay 10s")
    api.create_user("dave", password=PASSWORD)
    for i in range(5):   # made-up names: each account fails once only
        assert login(host.port, {"username": f"nobody{i}", "password": "x" * 8}, ATTACKER)[0] == 401
    status, headers, body, _ = login(host.port, {"username": "dave", "password": PASSWORD},
                                     ATTACKER)
    assert status == 429 and int(headers["retry-after"]) >= 9, body
    # another address is served
    assert login(host.port, {"username": "dave", "password": PASSWORD}, HONEST)[0] == 200
    assert metric(api, "chanhost_login_limiter_entries") >= 2


def test_limits_off_with_zero(make_host, tmp_path):
    host, api = cheap_host(make_host, tmp_path, "auth_login_failures 0",
                           "auth_login_ip_failures 0")
    api.create_user("erin", password=PASSWORD)
    for _ in range(12):
        assert login(host.port, {"username": "erin", "password": "wrong one"}, ATTACKER)[0] == 401
    assert login(host.port, {"username": "erin", "password": PASSWORD}, ATTACKER)[0] == 200


def test_hash_queue_full_is_503_at_once(make_host, tmp_path):
    lines = [x for x in auth_config_lines(tmp_path) if not x.startswith("auth_pbkdf2")]
    host = make_host(lines + ["auth_pbkdf2_iterations 1000000", "auth_hash_threads 1",
                              "auth_hash_queue 0"])
    api = Api(host.port, service_token=SERVICE_TOKEN)
    first = []
    t = threading.Thread(target=lambda: first.append(
        login(host.port, {"username": "nobody", "password": "x" * 8}, ATTACKER)))
    t.start()
    deadline = time.monotonic() + 10
    while metric(api, "chanhost_password_hashes_running") < 1 and time.monotonic() < deadline:
        pass
    # its one slot is taken: a second hash has no room to wait in
    status, headers, body, took = login(host.port, {"username": "other", "password": "y" * 8},
                                        HONEST)
    # answered at once: before the one running hash (a million iterations)
    # ended, not after it
    still_hashing = t.is_alive() and metric(api, "chanhost_password_hashes_running") == 1
    t.join()
    assert status == 503 and body["error"] == "busy" and headers["retry-after"] == "1", body
    assert still_hashing, f"the 503 came after the running hash ended ({took:.3f} s)"
    assert first[0][0] == 401
    assert metric(api, "chanhost_password_hashes_rejected_total") == 1
    assert metric(api, "chanhost_password_hashes_total") == 1
