"""A flash-deal rush across two nodes: never oversold, limits hold, everyone answered, all converge."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.support import RoomClient, create_deal, token, ws_url

USERS = 500
CLAIMS_PER_USER = 4  # 2,000 claims in all
STOCK, LIMIT = 100, 2


async def test_2000_claims_from_500_users_on_two_nodes_sell_exactly_the_stock(make_node, room):
    nodes = [await make_node(), await make_node()]
    clients = await asyncio.gather(*(
        RoomClient.connect(ws_url(nodes[i % 2].port, room, tok=token("viewer", room, f"user{i}")))
        for i in range(USERS)))
    await asyncio.gather(*(c.recv() for c in clients))
    deal = await create_deal(nodes[0].port, room, stock=STOCK, limit_per_user=LIMIT)
    await asyncio.gather(*(c.until(lambda f: any(d["id"] == deal["id"] for d in f.get("deals", [])))
                           for c in clients))

    async def rush(i: int, client: RoomClient) -> list[dict]:
        for n in range(CLAIMS_PER_USER):
            await client.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": f"u{i}-{n}"})
        answers = []
        while len(answers) < CLAIMS_PER_USER:
            frame = await client.recv(timeout=30)
            if frame["type"] == "claim_result":
                answers.append(frame)
        return answers

    answers = await asyncio.gather(*(rush(i, c) for i, c in enumerate(clients)))
    won = Counter()
    for i, user_answers in enumerate(answers):
        assert len({a["req"] for a in user_answers}) == CLAIMS_PER_USER  # every claim answered once
        for a in user_answers:
            assert a["ok"] or a["reason"] in ("sold_out", "limit_reached"), a
            if a["ok"]:
                won[i] += a["claim"]["qty"]
    assert sum(won.values()) == STOCK
    assert max(won.values()) <= LIMIT

    def sold_out(f: dict) -> bool:
        return any(d["id"] == deal["id"] and d["left"] == 0 and d["held"] == STOCK
                   for d in f.get("deals", []))

    await asyncio.gather(*(c.until(sold_out) for c in clients if not any(
        sold_out(f) for f in c.frames)))
    await asyncio.gather(*(c.close() for c in clients))
