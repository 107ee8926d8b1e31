"""chanhost on `layer channels_redis+sentinel://...`: the channels_redis
layer on a master found through Redis Sentinel (a master, a replica and
one sentinel started by tests/integration/test_redis_sentinel.py's
fixture), beside Django processes configured with the master's address
(each Django shell is a new process, so after a failover the next one is
given the new master).

  - chanhost asks the sentinels (the first is down) and joins the group
    on the master; a Django group_send reaches its client once;
  - after SENTINEL FAILOVER chanhost asks again, reconnects to the new
    master, and a Django group_send there reaches the client once.

Waits are on events (frames, log lines) or polls with deadlines where
Redis state is the only event."""

from conftest import recv_json, run, ws_connect
from test_channels_redis import BACK, CONNECTED, ROUTES
from test_channels_redis_shards import django, finish
from test_redis import free_port, plugin_dir, wait_until  # noqa: F401 (fixture)
from test_redis_sentinel import MASTER, answers, info, master_port, sentinel_setup  # noqa: F401 (fixture)


def members(server, group):
    return server.cmd("ZRANGE", f"asgi:group:{group}", 0, -1) or []


def group_send(server, tmp_path, group, *texts):
    """A Django process on server's address sends each text to group."""
    code = "".join(f"async_to_sync(layer.group_send)({group!r}, {{'type': 'chat.message', 'message': {t!r}}})\n"
                   for t in texts)
    finish(django([server], tmp_path, code))


def test_channels_redis_follows_a_sentinel_failover(make_host, plugin_dir, sentinel_setup, tmp_path):  # noqa: F811
    master, replica, sentinel = sentinel_setup
    layer = f"layer channels_redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{sentinel.port}/{MASTER}/0"
    h = make_host([layer], routes=ROUTES, plugin_dir=plugin_dir)
    h.wait_for(CONNECTED)
    h.wait_for(rf"sentinel at 127.0.0.1:{sentinel.port} names 127.0.0.1:{master.port} as master")

    async def main():
        async with ws_connect(h.url("/ws/broadcast/4/")) as c:
            wait_until(lambda: members(master, "room_4"), "chanhost's membership on the master")
            group_send(master, tmp_path, "room_4", "before", "marker")
            for text in ("before", "marker"):
                assert await recv_json(c) == {"type": "chat.message", "message": text}

            mark = h.mark()
            assert sentinel.cmd("SENTINEL", "FAILOVER", MASTER) == "OK"
            wait_until(lambda: answers(lambda: master_port(sentinel)) == replica.port,
                       "the sentinel promoting the replica", timeout=30)
            assert info(replica, "replication")["role"] == "master"
            await h.await_log(rf"names 127.0.0.1:{replica.port} as master", since=mark, timeout=20)
            await h.await_log(BACK, since=mark, timeout=20)
            wait_until(lambda: members(replica, "room_4"), "the membership on the new master")
            group_send(replica, tmp_path, "room_4", "after", "marker")
            for text in ("after", "marker"):
                assert await recv_json(c) == {"type": "chat.message", "message": text}

    run(main(), timeout=120)
