"""Two nodes whose machines' clocks disagree (one 90 s behind, one 90 s ahead; Redis and this test on
the true clock): every `now` they stamp is Redis's time, so countdowns agree; a deal starts when Redis
says; holds expire when Redis says, each released exactly once and the units back in stock and limits.

The seam: each node is a `livecart serve` process whose `time.time` is shifted (fleet.NodeProcess),
which is what a wrong machine clock looks like to livecart. Redis is not faked."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from tests.reliability.fleet import NodeProcess
from tests.support import WAIT, RoomClient, api, claim, create_deal, token, ws_url

SKEW_S = 90.0
HOLD_S = 2
# How far a stamped `now` may be from this test's clock when the frame is read: sync error and delivery
# on a busy machine. Generous, and still far below the skew, which is what it has to tell apart.
SLACK_MS = 3000


def real_ms() -> int:
    return int(time.time() * 1000)


def check_now(frame: dict[str, Any], where: str) -> None:
    received = real_ms()
    assert received - SLACK_MS <= frame["now"] <= received + SLACK_MS, (
        f"{where}: now {frame['now']} is {(frame['now'] - received) / 1000:+.1f} s off", frame["type"])


async def test_clock_skew_between_nodes_breaks_neither_countdowns_nor_hold_expiry(redis_server, room,
                                                                                   tmp_path):
    env = {"LIVECART_HOLD_S": str(HOLD_S)}
    nodes = [NodeProcess(redis_server.url, tmp_path / "behind", clock_shift_s=-SKEW_S, env=env),
             NodeProcess(redis_server.url, tmp_path / "ahead", clock_shift_s=SKEW_S, env=env)]
    sockets: list[RoomClient] = []
    try:
        for i, node in enumerate(nodes):
            await node.start()
            # Straight away, in the node's first second: its very first frame already has Redis's time.
            tok = token("viewer", room, f"v{i}")
            sockets.append(await RoomClient.connect(ws_url(node.port, room, tok=tok)))
            check_now(await sockets[-1].recv(), f"first frame of node {i}")
        behind, ahead = nodes
        for sock in sockets:  # what came while the other node started is old by now: not a clock reading
            with contextlib.suppress(TimeoutError):
                while True:
                    await sock.recv(timeout=0.05)

        # A deal made on the node that runs ahead, starting 2.5 s from now by Redis's (and our) clock.
        starts_at = real_ms() + 2500
        deal = await create_deal(ahead.port, room, stock=4, limit_per_user=2, start_at=starts_at,
                                 duration_s=60)
        assert deal["state"] == "scheduled" and deal["starts_at"] == starts_at
        assert await claim(behind.port, room, deal["id"], "early", 1, "e") == (409, {"ok": False,
                                                                                   "reason": "not_live"})

        # Both sockets see it go live, and never before Redis's clock says so: countdowns agree. Read at
        # the same time: a frame left waiting while the other socket is read would look late.
        async def sees_it_live(i: int, sock: RoomClient) -> None:
            while True:
                frame = await sock.recv(timeout=6 * WAIT)
                if "now" in frame:
                    check_now(frame, f"node {i} {frame['type']}")
                states = [d["state"] for d in frame.get("deals", []) if d["id"] == deal["id"]]
                if states and states[-1] == "live":
                    assert frame["now"] >= starts_at and real_ms() >= starts_at - SLACK_MS
                    break
            await sock.send({"type": "ping", "req": "p"})
            check_now(await sock.until(lambda f: f["type"] == "pong"), f"node {i} pong")

        await asyncio.gather(*(sees_it_live(i, sock) for i, sock in enumerate(sockets)))

        # Claims on both nodes; the holds run out after HOLD_S by Redis's clock.
        answers = [await claim(ahead.port, room, deal["id"], "ann", 2, "a1"),
                   await claim(behind.port, room, deal["id"], "bob", 1, "b1")]
        claimed_at = real_ms()
        assert [status for status, _ in answers] == [200, 200], answers
        expires = [body["claim"]["expires_at"] for _, body in answers]
        for expires_at in expires:
            assert claimed_at - SLACK_MS <= expires_at - HOLD_S * 1000 <= claimed_at + SLACK_MS

        # Watch both nodes until the units are back: never early, never twice, never more than the stock.
        deadline = asyncio.get_running_loop().time() + 6 * WAIT
        turn = 0
        while True:
            port = nodes[turn % 2].port
            turn += 1
            _, body = await api(port, "GET", f"/api/rooms/{room}/deals", token("host", room))
            [now_deal] = body["deals"]
            assert now_deal["left"] + now_deal["held"] + now_deal["sold"] == now_deal["stock"] == 4, now_deal
            if body["now"] < min(expires) - SLACK_MS:
                assert now_deal["held"] == 3, ("released early", body["now"], expires)
            if now_deal["held"] == 0:
                assert now_deal["left"] == 4
                break
            assert asyncio.get_running_loop().time() < deadline, now_deal
            await asyncio.sleep(0.1)
        _, audit = await api(ahead.port, "GET", f"/api/rooms/{room}/audit", token("assistant", room, "amy"))
        released = Counter(e["claim"] for e in audit["entries"] if e.get("op") == "expired")
        assert released == Counter({body["claim"]["id"]: 1 for _, body in answers}), audit["entries"]

        # The users' limits came back exactly once too: ann may take 2 again, and not a third.
        assert (await claim(behind.port, room, deal["id"], "ann", 2, "a2"))[0] == 200
        assert await claim(ahead.port, room, deal["id"], "ann", 1, "a3") == (409, {"ok": False,
                                                                                 "reason": "limit_reached"})
    finally:
        for sock in sockets:
            await sock.close()
        for node in nodes:
            await node.close()
