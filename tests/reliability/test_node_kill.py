"""A node is SIGKILLed in the middle of a deal rush: no unit oversold or lost, every claim key keeps its
first answer on the other node, and the dead node's viewers resume there with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import orjson
import websockets

from tests.reliability.fleet import Follower, NodeProcess, Publisher, wait_followers
from tests.support import WAIT, RoomClient, api, create_deal, token, ws_url

USERS = 120  # half on the node that dies
REQS = 3  # claims per user, one unit each, against a limit of 2: the third is always refused
STOCK, LIMIT = 100, 2  # demand (up to 240 units) is well over the stock: the deal sells out early
RESTOCK = 10


class Claimer:
    """One user's claims over a room socket, one at a time; if its node dies, every one of its claim
    keys again on the other node: those answered before must get the same answer."""

    def __init__(self, room: str, deal: str, user: str, port: int, fallback: int,
                 progress: Counter[str]) -> None:
        self.room, self.deal, self.user = room, deal, user
        self.port, self.fallback = port, fallback
        self.progress = progress
        self.reqs = [f"{user}-r{n}" for n in range(REQS)]
        self.first: dict[str, dict[str, Any]] = {}  # answers from the first node
        self.final: dict[str, dict[str, Any]] = {}  # answers from the fallback node, for every key
        self.cut = False

    async def run(self) -> None:
        try:
            await self._claim(self.port, self.first, pause=True)
        except (websockets.ConnectionClosed, websockets.InvalidHandshake, OSError):
            # Its node died, perhaps before it answered the handshake (a slow machine may sell out on
            # the survivor's claimers alone while these still connect): what it did not hear about,
            # the other node tells.
            self.cut = True
        await self._claim(self.fallback, self.final, pause=False)

    async def _claim(self, port: int, answers: dict[str, dict[str, Any]], pause: bool) -> None:
        url = ws_url(port, self.room, tok=token("viewer", self.room, self.user))
        async with websockets.connect(url, open_timeout=3 * WAIT, close_timeout=1) as ws:
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 3 * WAIT))["type"] == "snapshot"
            for req in self.reqs:
                if pause:
                    await asyncio.sleep(random.uniform(0, 0.3))  # spread the rush over time
                claim = {"type": "claim", "deal": self.deal, "qty": 1, "req": req}
                await ws.send(orjson.dumps(claim).decode())
                while True:
                    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 6 * WAIT))
                    if frame["type"] in ("claim_result", "error") and frame.get("req") == req:
                        break
                assert frame["type"] == "claim_result", frame
                answers[req] = frame
                self.progress["answered"] += 1


async def test_a_node_killed_mid_rush_loses_no_unit_and_no_event(make_node, redis_server, room, tmp_path):
    doomed = await NodeProcess(redis_server.url, tmp_path / "doomed").start()
    try:
        survivor = await make_node()
        ports = [doomed.port, survivor.port]
        followers = [Follower(ports, room, start=i) for i in range(8)]  # four of them on the doomed node
        await wait_followers(followers)
        deal = await create_deal(survivor.port, room, stock=STOCK, limit_per_user=LIMIT)
        publisher = Publisher(ports, room)
        progress: Counter[str] = Counter()
        claimers = [Claimer(room, deal["id"], f"user{i}", ports[i % 2], survivor.port, progress)
                    for i in range(USERS)]
        # A user on the doomed node who claims one unit before the rush and tries again after the
        # sell-out: the doomed node refuses that from memory (sold_out), and dies right after.
        straggler = RoomClient(await websockets.connect(
            ws_url(doomed.port, room, tok=token("viewer", room, "straggler")), max_size=2**24))
        await straggler.recv()
        await straggler.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "s0"})
        assert (await straggler.until(lambda f: f["type"] == "claim_result"))["ok"]
        rush = [asyncio.create_task(c.run()) for c in claimers]
        await straggler.until(lambda f: any(d["left"] == 0 for d in f.get("deals", [])), timeout=12 * WAIT)
        await straggler.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "s2"})
        refused = await straggler.until(lambda f: f["type"] == "claim_result")
        assert refused["reason"] == "sold_out"
        await doomed.kill()  # mid-rush: claims are in flight on both nodes
        await asyncio.wait_for(asyncio.gather(*rush), 12 * WAIT)
        # Units come back (a restock); the straggler's app retries its refused key on the survivor: the
        # first answer again, not a claim (the refusal must have outlived the node that gave it).
        status, _ = await api(survivor.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/restock",
                              token("assistant", room, "amy"), {"add": RESTOCK})
        assert status == 200
        again = RoomClient(await websockets.connect(
            ws_url(survivor.port, room, tok=token("viewer", room, "straggler"))))
        await again.until(lambda f: any(d["left"] == RESTOCK for d in f.get("deals", [])))
        await again.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "s2"})
        assert await again.until(lambda f: f["type"] == "claim_result") == refused  # the first answer
        await again.close()
        await asyncio.sleep(0.3)  # a few more events after the rush, then stop publishing
        await publisher.stop()

        # Units: none oversold, none lost, every claim key kept its first answer across nodes.
        assert any(c.cut for c in claimers), "the kill happened after the doomed node's claimers were done"
        units: Counter[str] = Counter()
        for c in claimers:
            assert set(c.final) == set(c.reqs)
            for req, answer in c.first.items():
                assert c.final[req] == answer, (c.user, req, answer, c.final[req])
            for answer in c.final.values():
                assert answer["ok"] or answer["reason"] in ("sold_out", "limit_reached"), answer
                if answer["ok"]:
                    units[c.user] += answer["claim"]["qty"]
        units["straggler"] = 1
        assert max(units.values()) <= LIMIT
        _, body = await api(survivor.port, "GET", f"/api/rooms/{room}/deals", token("host", room))
        [after] = body["deals"]
        assert after["left"] + after["held"] + after["sold"] == after["stock"] == STOCK + RESTOCK
        assert (after["held"], after["sold"], after["left"]) == (sum(units.values()), 0, RESTOCK)
        assert after["buyers"] == len(units)

        # Events: the doomed node's viewers resumed on the survivor; nobody missed or repeated one.
        final = len(publisher.ids)
        await asyncio.gather(*(f.reach(final, 6 * WAIT) for f in followers))
        for f in followers:
            f.assert_complete(publisher.ids)
        moved = [f for f in followers if f.first_frames["recovered"]]
        assert len(moved) >= 4, [f.first_frames for f in followers]
        await asyncio.gather(*(f.stop() for f in followers))
    finally:
        await doomed.close()
