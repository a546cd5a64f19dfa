"""A hostile claim must not change the answer of anybody else's claim (CONTRACT: `no_such_deal` for that
claim alone). The claims of one loop pass for a room go to Redis as ONE claim.lua call, so a claim whose
deal id names a key of another type (`<deal>:ops` is a set) or a hash that is not a deal once failed the
whole call: every honest claim of the rush got `internal`."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import hypothesis.strategies as st
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings

from livecart.deals import new_deal_id, parse_spec
from livecart.errors import NotFound
from livecart.store.batcher import as_future
from livecart.store.deal_store import DealStore
from tests.strategies import claim_keys, claim_qtys, claim_users, hostile_deal_ids
from tests.support import api, token

SOLD_OUT = b'{"ok":false,"reason":"sold_out"}'

HONEST_USERS = st.sampled_from(["ann", "bo", "cy", "di"])
honest_claims = st.lists(st.tuples(HONEST_USERS, st.integers(0, 3), st.sampled_from(["k1", "k2", "k3"])),
                         min_size=1, max_size=6)


async def _open_room(store: DealStore, client: aioredis.Redis, room: str, deal_id: str, stock: int) -> None:
    """A live deal that has every key a deal can have: `:ops` (a set), `:users` with a user named "id",
    `:keys` and `:external` (a set)."""
    now = (await client.time())[0] * 1000
    spec = parse_spec({"product": {"id": "p1", "name": "P"}, "price": 10, "deal_price": 5, "stock": stock,
                       "limit_per_user": 3, "duration_s": 600, "start_at": None}, now)
    await store.create(room, deal_id, spec, "test", start_now=True)
    await store.control(room, deal_id, "restock", "test", 1)
    assert (await as_future(store.claim, room, deal_id, "id", 1, "setup", "c-setup", 600_000)).status == "ok"
    assert await store.external_sale(room, "p1", 1, "e-setup", 500) == 1


def _comparable(reply: dict[str, Any]) -> dict[str, Any]:
    claim = reply.get("claim")
    if claim is None:
        return reply
    return {**reply, "claim": {k: v for k, v in claim.items() if k != "expires_at"}}  # Redis's clock


async def _answers(store: DealStore, room: str, items: list[tuple[str, str, Any, str, str]],
                   together: bool) -> list[Any]:
    """Each item's answer: (status, reply) or "no_such_deal". `together`: all in one loop pass (one script
    call); else each alone, one after another."""
    async def one(deal_id: str, user: str, qty: Any, key: str, claim_id: str) -> Any:
        try:
            answer = await as_future(store.claim, room, deal_id, user, qty, key, claim_id, 600_000)
        except NotFound:
            return "no_such_deal"
        return answer.status, _comparable(answer.parsed())

    if together:
        return list(await asyncio.gather(*(one(*item) for item in items)))
    return [await one(*item) for item in items]


def test_hostile_claims_in_a_batch_change_no_honest_answer(redis_server):
    loop = asyncio.new_event_loop()
    client = aioredis.Redis.from_url(redis_server.url)
    store = DealStore(client)
    deal_id = new_deal_id()
    hostile = st.tuples(hostile_deal_ids(deal_id), claim_users, claim_qtys, claim_keys)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stock=st.integers(1, 6), honest=honest_claims,
           mixed=st.lists(hostile, max_size=12), data=st.data())
    def check(stock: int, honest: list[tuple[str, int, str]], mixed: list[tuple[str, str, Any, str]],
              data: st.DataObject) -> None:
        # Interleave the hostile claims among the honest ones, at positions Hypothesis picks.
        batch: list[tuple[str, str, Any, str, str]] = []
        honest_at: list[int] = []
        positions = sorted(data.draw(st.lists(st.integers(0, len(honest)), min_size=len(mixed),
                                              max_size=len(mixed))))
        hostile_items = iter(zip(positions, mixed, strict=True))
        pending = next(hostile_items, None)
        for i in range(len(honest) + 1):
            while pending is not None and pending[0] == i:
                hostile_deal, user, qty, key = pending[1]
                batch.append((hostile_deal, user, qty, key, f"h{len(batch)}"))
                pending = next(hostile_items, None)
            if i < len(honest):
                user, qty, key = honest[i]
                honest_at.append(len(batch))
                batch.append((deal_id, user, qty, key, f"c{i}"))

        alone_room, mixed_room = ("hc-" + uuid.uuid4().hex[:10] for _ in range(2))

        async def run() -> tuple[list[Any], list[Any]]:
            for room in (alone_room, mixed_room):
                await _open_room(store, client, room, deal_id, stock)
            alone = await _answers(store, alone_room, [batch[i] for i in honest_at], together=False)
            together = await _answers(store, mixed_room, batch, together=True)
            return alone, together

        alone, together = loop.run_until_complete(run())
        assert [together[i] for i in honest_at] == alone
        for i, item in enumerate(batch):
            if i not in honest_at:
                assert together[i] == "no_such_deal", (item, together[i])

    try:
        check()
    finally:
        store.close()
        loop.run_until_complete(client.aclose())
        loop.close()


async def test_a_claim_on_another_key_of_a_deal_is_no_such_deal_over_http(node, room):
    assistant = token("assistant", room, "amy")
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals", assistant,
                             {"product": {"id": "p1", "name": "P"}, "price": 10, "deal_price": 5, "stock": 5,
                              "limit_per_user": 1, "duration_s": 600, "start_at": None})
    assert status == 201
    deal = body["deal"]["id"]
    assert (await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal}/restock", assistant,
                      {"add": 1}))[0] == 200  # now `<deal>:ops` exists
    path = f"/api/rooms/{room}/deals/{{}}/claims"
    hostile = [api(node.port, "POST", path.format(f"{deal}:ops"), token("viewer", room, f"evil{i}"),
                   {"qty": 1, "key": "k"}) for i in range(5)]
    honest = [api(node.port, "POST", path.format(deal), token("viewer", room, f"u{i}"),
                  {"qty": 1, "key": "k"}) for i in range(5)]
    answers = await asyncio.gather(*hostile, *honest)
    assert [(s, b["error"]) for s, b in answers[:5]] == [(404, "no_such_deal")] * 5
    assert [s for s, _ in answers[5:]] == [200] * 5
    for bad in (f"{deal}:external", "x" * 12, deal.upper(), deal + "0"):
        status, body = await api(node.port, "POST", f"/api/rooms/{room}/deals/{bad}/stop", assistant)
        assert (status, body["error"]) == (404, "no_such_deal"), bad


async def test_user_ids_and_keys_with_separators_never_share_an_answer(redis_server, room):
    client = aioredis.Redis.from_url(redis_server.url)
    store = DealStore(client)
    deal_id = new_deal_id()
    await _open_room(store, client, room, deal_id, stock=5)
    # Joined with "\n" (the old field), both pairs were "a\nb\nc": the second got the first's answer.
    first = await as_future(store.claim, room, deal_id, "a\nb", 1, "c", "cx1", 600_000)
    second = await as_future(store.claim, room, deal_id, "a", 1, "b\nc", "cx2", 600_000)
    assert (first.status, second.status) == ("ok", "ok")
    assert first.parsed()["claim"]["id"] != second.parsed()["claim"]["id"]
    # The node's shortcut (refuse_once) names a pair's answer exactly as claim.lua does, in any script.
    for user, key in (("a\nb", "c"), ("a", "b\nc"), ("名字", "键")):
        if user == "名字":
            assert (await as_future(store.claim, room, deal_id, user, 1, key, "cx3", 600_000)).status == "ok"
        answer = await as_future(store.refuse_once, room, deal_id, user, key, SOLD_OUT)
        assert answer.status == "again" and answer.parsed()["ok"] is True, (user, key)
    store.close()
    await client.aclose()
