"""Presence (docs/presence.md) of one connection tracked in several
groups at once (tests/plugins/presence_probe.c's "track G" and "untrack
G"): it joins each group's set, leaves one group's alone when untracked
there, and leaves every remaining one when it closes.  A group whose
last tracked connection left is let go and works again when a connection
is tracked there anew.

Waits are on frames with deadlines; no sleeps.
"""

import asyncio

from chatkit import frame
from test_presence import Probe, join

GROUPS = [f"room{i}" for i in range(2, 8)]  # six more: past the first array


async def ask(view, request, type_):
    """request's answer of type_, diffs before it applied (its rc)."""
    return (await view.answer(request, type_))["rc"]


def test_one_connection_in_many_groups(make_host, tmp_path):
    p = Probe(make_host, tmp_path)
    h = p.host()

    async def main():
        a = await join(p.url(h, 1))  # room1
        await a.until({1})
        for g in GROUPS:
            assert await ask(a, f"track {g}", "tracked") == 0
        assert await ask(a, f"track {GROUPS[0]}", "tracked") == 0  # idempotent
        watch = {g: await join(p.url(h, 100 + i, g)) for i, g in enumerate(GROUPS)}
        for i, g in enumerate(GROUPS):
            await watch[g].until({1, 100 + i})
        # untracked in one group: a leaves that one only
        assert await ask(a, f"untrack {GROUPS[0]}", "untracked") == 0
        assert await ask(a, f"untrack {GROUPS[0]}", "untracked") != 0  # not tracked
        await watch[GROUPS[0]].until({100})
        last = watch[GROUPS[-1]]
        assert (await last.answer("list", "list"))["users"] == [
            {"user_id": 1, "username": "user1"},
            {"user_id": 100 + len(GROUPS) - 1, "username": f"user{100 + len(GROUPS) - 1}"}]
        # a goes: it leaves every group it was still in
        await a.ws.close()
        for i, g in enumerate(GROUPS[1:], start=1):
            await watch[g].until({100 + i})
        # a room whose last tracked connection left, then tracked again:
        # the process joined its host group again and diffs flow
        await watch[GROUPS[0]].ws.close()
        again = await join(p.url(h, 2, GROUPS[0]))
        await again.until({2})
        b = await join(p.url(h, 3, GROUPS[0]))
        await again.until({2, 3})
        await b.until({2, 3})
        for v in [again, b, *(watch[g] for g in GROUPS[1:])]:
            await v.ws.close()

    asyncio.run(main())
