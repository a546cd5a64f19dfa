"""A Hypothesis state machine drives a group buy (a deal with price tiers) through the real scripts:
claims in batches, payments, cancellations, refunds, expiry, restocks, and goals that unlock the next
tier. After every step: `left + held + sold == stock`; the price is the tier the buyers (or goals)
reached, and only ever drops; and the money adds up to every paid unit at the current tier, with the
difference each buyer paid above it counted as owed back. At the close that is the final tier."""

from __future__ import annotations

import asyncio
import uuid

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    initialize,
    invariant,
    multiple,
    rule,
)

from livecart.deals import parse_spec
from livecart.errors import Conflict
from livecart.goals import new_goal_id, parse_goal
from livecart.protocol import load_json
from livecart.store.batcher import as_future
from livecart.store.deal_store import DealStore
from livecart.store.goal_store import GoalStore
from livecart.store.keys import RoomKeys
from livecart.tiers import tier_for
from tests.redis_machine import RedisMachine, run_machine

USERS = st.sampled_from([f"u{i}" for i in range(8)])


@st.composite
def tier_lists(draw: st.DrawFn) -> list[dict]:
    thresholds = sorted(draw(st.sets(st.integers(1, 7), min_size=1, max_size=4)))
    prices = sorted(draw(st.sets(st.integers(10, 98), min_size=len(thresholds), max_size=len(thresholds))),
                    reverse=True)
    return [{"buyers": b, "price": p} for b, p in zip(thresholds, prices, strict=True)]


class GroupBuy(RedisMachine):
    claims = Bundle("claims")

    def __init__(self) -> None:
        super().__init__()
        self.store = DealStore(self.client)
        self.to_close.append(self.store)
        self.goals = GoalStore(self.client)
        self.room = "gb-" + uuid.uuid4().hex[:10]
        self.keys = RoomKeys(self.room)
        self.deal = ""
        self.stock = 0
        self.last_price = 0
        self.refund_rebates = 0  # what refunded buyers had been owed back before their refund
        self.boost = 0

    @initialize(tiers=tier_lists(), stock=st.integers(3, 12))
    def create(self, tiers: list[dict], stock: int) -> None:
        now = self.run(self.client.time())[0] * 1000
        spec = parse_spec({"product": {"id": "p", "name": "P"}, "price": 120, "deal_price": 99,
                           "stock": stock, "limit_per_user": 2, "duration_s": 600, "tiers": tiers,
                           "confirm": True}, now)
        self.deal = uuid.uuid4().hex[:12]
        self.run(self.store.create(self.room, self.deal, spec, "test", start_now=True))
        self.stock, self.last_price = stock, 9900

    def fields(self) -> dict[str, str]:
        stored = self.run(self.client.hgetall(self.keys.deal(self.deal)))
        return {k.decode(): v.decode() for k, v in stored.items()}

    def claim_records(self) -> list[dict]:
        ids = [i.decode() for i in self.run(self.client.smembers(self.keys.deal(self.deal) + ":claimids"))]
        raws = self.run(self.client.hmget(self.keys.claims, ids)) if ids else []
        return [load_json(r) for r in raws if r]

    @rule(target=claims, batch=st.lists(st.tuples(USERS, st.integers(1, 2)), min_size=1, max_size=6),
          hold_ms=st.sampled_from([1, 600_000]))
    def claim(self, batch: list[tuple[str, int]], hold_ms: int) -> MultipleResults[str]:
        async def together() -> list:
            return await asyncio.gather(*(as_future(self.store.claim, self.room, self.deal, user, qty,
                                                    uuid.uuid4().hex, uuid.uuid4().hex, hold_ms)
                                          for user, qty in batch))

        return multiple(*[a.parsed()["claim"]["id"] for a in self.run(together()) if a.status == "ok"])

    @rule(claim_id=claims, outcome=st.sampled_from(["paid", "paid", "cancelled", "refunded", "expired"]))
    def settle(self, claim_id: str, outcome: str) -> None:
        before = load_json(self.run(self.client.hget(self.keys.claims, claim_id)))
        price_now = int(self.fields()["deal_price_cents"])
        state, changed = self.run(self.store.settle(self.room, claim_id, outcome))
        if changed and before["state"] == "sold" and state == "refunded":
            self.refund_rebates += (before["price"] - price_now) * before["qty"]

    @rule()
    def expire(self) -> None:
        self.run(self.store.expire(self.room))

    @rule(add=st.integers(1, 3))
    def restock(self, add: int) -> None:
        self.run(self.store.control(self.room, self.deal, "restock", "test", add))
        self.stock += add

    @rule()
    def goal_unlocks_the_next_tier(self) -> None:
        """A goal whose target is already reached fires in its create call: next_tier at once."""
        action = {"type": "next_tier", "deal": self.deal}
        spec = parse_goal({"metric": "likes", "target": 1, "action": action})
        self.run(self.client.hset(self.keys.counters, "likes", 1))
        tier_before = int(self.fields()["tier"])
        try:
            goal = self.run(self.goals.create(self.room, new_goal_id(), spec, "test", 0))
        except Conflict as exc:
            assert exc.code == "deal_closed"
            return
        if goal["result"]["ok"]:  # "the next tier" is the one after the tier the deal was at
            self.boost = tier_before + 1

    @invariant()
    def stock_price_and_money_add_up(self) -> None:
        if not self.deal:
            return
        f = self.fields()
        stock, left, held, sold = (int(f[n]) for n in ("stock", "left", "held", "sold"))
        assert left + held + sold == stock == self.stock, f
        tiers = load_json(f["tiers"])
        tier, price = int(f["tier"]), int(f["deal_price_cents"])
        assert tier == tier_for(tiers, int(f["buyers"]), self.boost), f
        assert price == tiers[tier][1], f
        assert price <= self.last_price, (price, self.last_price)  # tiers only drop
        self.last_price = price
        # Every buyer pays the current (at the close: the final) tier: GMV is every paid unit at that
        # price, and what each paid above it is owed back.
        records = self.claim_records()
        paid = [c for c in records if c["state"] == "sold"]
        assert int(f.get("gmv_cents", 0)) == sum(c["qty"] for c in paid) * price, (f, paid)
        owed = sum((c["price"] - price) * c["qty"] for c in paid)
        assert int(f.get("rebate_cents", 0)) == owed + self.refund_rebates, (f, paid)
        assert all(c["price"] >= price for c in paid)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_tier_repricing_keeps_stock_and_charges_every_buyer_the_final_tier(redis_server):
    run_machine(GroupBuy, redis_server.url, max_examples=50, steps=30)
