"""A flash-deal rush across two nodes: never oversold, limits hold, everyone answered, all converge."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.support import RoomClient, api, claim, create_deal, token, ws_url

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


async def viewer(port: int, room: str, user: str) -> RoomClient:
    return await RoomClient.connect(ws_url(port, room, tok=token("viewer", room, user)))


async def test_a_rush_read_one_message_a_loop_pass_is_answered_whole_and_sells_the_stock_exactly(make_node,
                                                                                                 room):
    # The node reads socket input a bounded amount per loop pass (intake.py); with a budget of one
    # message, every claim of the burst after the first waits for a later pass. Nothing may be lost,
    # reordered within a socket, or sold twice on the way.
    node = await make_node(intake_messages=1)
    users, taps, stock = 60, 3, 25
    clients = await asyncio.gather(*(viewer(node.port, room, f"tap{i}") for i in range(users)))
    await asyncio.gather(*(c.recv() for c in clients))
    deal = await create_deal(node.port, room, stock=stock, limit_per_user=1)
    await asyncio.gather(*(c.until(lambda f: any(d["id"] == deal["id"] for d in f.get("deals", [])))
                           for c in clients))
    waited = node.metrics.intake_waits._value.get()

    async def rush(client: RoomClient) -> list[dict]:
        for n in range(taps):
            await client.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": f"t{n}"})
        answers = []
        while len(answers) < taps:
            frame = await client.recv(timeout=30)
            if frame["type"] == "claim_result":
                answers.append(frame)
        return answers

    answers = await asyncio.gather(*(rush(c) for c in clients))
    assert node.metrics.intake_waits._value.get() > waited  # the burst was read over several passes
    won = Counter()
    for i, user_answers in enumerate(answers):
        assert [a["req"] for a in user_answers] == [f"t{n}" for n in range(taps)]  # in order, each once
        for a in user_answers:
            assert a["ok"] or a["reason"] in ("sold_out", "limit_reached"), a
            won[i] += a["claim"]["qty"] if a["ok"] else 0
    assert sum(won.values()) == stock and max(won.values()) == 1

    # Every key keeps its first answer, whichever path (script or sold-out shortcut) gave it.
    first = {(i, a["req"]): a for i, user_answers in enumerate(answers) for a in user_answers}
    again = await asyncio.gather(*(rush(c) for c in clients))
    for i, user_answers in enumerate(again):
        for a in user_answers:
            assert a == first[(i, a["req"])]
    await asyncio.gather(*(c.close() for c in clients))


async def test_claims_after_the_sell_out_are_refused_in_batches_and_keep_their_answer_on_another_node(
        make_node, room):
    a, b = await make_node(), await make_node()
    deal = await create_deal(a.port, room, stock=1, limit_per_user=1)
    winner = await viewer(a.port, room, "first")
    await winner.recv()
    await winner.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "k"})
    assert (await winner.until(lambda f: f["type"] == "claim_result"))["ok"] is True
    await winner.until(lambda f: any(d["id"] == deal["id"] and d["left"] == 0 for d in f.get("deals", [])))

    refusals: list[object] = []
    refuse_once = a.deal_store.refuse_once

    def counted(*args: Any) -> None:  # a spy on our own seam: which path answered
        refusals.append(args)
        refuse_once(*args)

    a.deal_store.refuse_once = counted
    late = await asyncio.gather(*(viewer(a.port, room, f"late{n}") for n in range(40)))
    await asyncio.gather(*(c.recv() for c in late))
    await asyncio.gather(*(c.send({"type": "claim", "deal": deal["id"], "qty": 1, "req": "k"}) for c in late))
    answers = await asyncio.gather(*(c.until(lambda f: f["type"] == "claim_result") for c in late))
    assert all(x["ok"] is False and x["reason"] == "sold_out" for x in answers)
    assert len(refusals) == len(late) == a.claims.refused_from_memory  # the shortcut answered them all

    # The refusals were stored before they were sent: after a restock, the same keys on the other node
    # get them again and claim nothing.
    status, _ = await api(a.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/restock",
                          token("assistant", room, "amy"), {"add": 40})
    assert status == 200
    for i in range(0, 40, 8):
        status, body = await claim(b.port, room, deal["id"], f"late{i}", key="k")
        assert (status, body) == (409, {"ok": False, "reason": "sold_out"})
    await asyncio.gather(*(c.close() for c in [winner, *late]))


async def test_a_starting_node_puts_the_claim_scripts_in_a_fresh_redis(own_redis, make_node):
    # Else the first claims of the node's first rush meet NOSCRIPT and go to Redis twice, around a
    # SCRIPT LOAD made while the node is busiest.
    import hashlib

    import redis.asyncio as aioredis

    from livecart.store.redis_client import lua_source

    sources = [lua_source("claim.lua", with_lib=True), lua_source("refuse.lua")]
    shas = [hashlib.sha1(source.encode()).hexdigest() for source in sources]
    client = aioredis.Redis.from_url(own_redis.url)
    try:
        assert await client.script_exists(*shas) == [False, False]
        await make_node(own_redis.url)
        assert await client.script_exists(*shas) == [True, True]
    finally:
        await client.aclose()
