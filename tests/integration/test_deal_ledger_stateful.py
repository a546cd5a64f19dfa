"""A Hypothesis state machine drives random create/start/claim/pay/cancel/expire/restock/stop sequences
against the real Lua scripts and checks the ledger's invariants after every step."""

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

from livecart.deals import check_claim, parse_spec
from livecart.errors import Conflict
from livecart.store.batcher import as_future
from livecart.store.deal_store import DealStore
from livecart.store.keys import RoomKeys, claim_answer_field
from livecart.store.values import ClaimAnswer
from tests.redis_machine import RedisMachine, run_machine

USERS = st.sampled_from(["ann", "bo", "cy", "di"])


class DealLedger(RedisMachine):
    claims = Bundle("claims")

    def __init__(self) -> None:
        super().__init__()
        self.store = DealStore(self.client)
        self.to_close.append(self.store)
        self.room = "sm-" + uuid.uuid4().hex[:10]
        self.deal = ""
        self.limit = 0
        self.expected_stock = 0

    @initialize(stock=st.integers(1, 8), limit=st.integers(1, 3), scheduled=st.booleans())
    def create(self, stock: int, limit: int, scheduled: bool) -> None:
        now = self.run(self.client.time())[0] * 1000
        spec = parse_spec({"product": {"id": "p", "name": "P"}, "price": 10, "deal_price": 5, "stock": stock,
                           "limit_per_user": limit, "duration_s": 600,
                           "start_at": now + 600_000 if scheduled else None}, now)
        self.deal = uuid.uuid4().hex[:8]
        self.run(self.store.create(self.room, self.deal, spec, "test", start_now=not scheduled))
        self.limit, self.expected_stock = limit, stock

    @rule(target=claims, hold_ms=st.sampled_from([1, 600_000]),
          batch=st.lists(st.tuples(USERS, st.integers(0, 4), st.sampled_from(["k1", "k2", "k3"])),
                         min_size=1, max_size=5))
    def claim(self, hold_ms: int, batch: list[tuple[str, int, str]]) -> MultipleResults[str]:
        """Claims submitted in the same loop pass go to Redis as ONE script call; each must get the
        answer the pure rules give when the claims are taken one after another."""
        keys = RoomKeys(self.room)
        stored = self.run(self.client.hgetall(keys.deal(self.deal)))
        fields = {k.decode(): v.decode() for k, v in stored.items()}
        held = {user: int(self.run(self.client.hget(keys.deal(self.deal) + ":users", user)) or 0)
                for user, _, _ in batch}
        answered = {(user, key) for user, _, key in batch
                    if self.run(self.client.hexists(keys.deal(self.deal) + ":keys",
                                                      claim_answer_field(user, key)))}
        seconds, micros = self.run(self.client.time())
        now = seconds * 1000 + micros // 1000

        async def together() -> list[ClaimAnswer]:
            return await asyncio.gather(*(as_future(self.store.claim, self.room, self.deal, user, qty, key,
                                                           uuid.uuid4().hex, hold_ms)
                                          for user, qty, key in batch))

        ids = []
        first_in_batch: dict[tuple[str, str], dict] = {}
        for (user, qty, key), answer in zip(batch, self.run(together()), strict=True):
            reply = answer.parsed()
            if (user, key) in answered:  # a repeated key answers as it first did, by design
                assert answer.status == "again", answer
                continue
            if (user, key) in first_in_batch:  # a closed deal's "ended" is the same answer, not stored
                assert reply == first_in_batch[user, key], (reply, first_in_batch[user, key])
                continue
            first_in_batch[user, key] = reply
            if reply.get("reason") != "ended":
                answered.add((user, key))
            # The pure rules (deals.check_claim) and the Lua script must give the same answer.
            expected = check_claim(fields, held[user], qty, now)
            assert reply.get("reason") == (expected.value if expected else None), (reply, expected)
            if expected is None:
                fields["left"] = str(int(fields["left"]) - qty)
                held[user] += qty
                ids.append(reply["claim"]["id"])
        return multiple(*ids)

    @rule(claim_id=claims, outcome=st.sampled_from(["paid", "cancelled", "refunded", "expired"]))
    def settle(self, claim_id: str, outcome: str) -> None:
        self.run(self.store.settle(self.room, claim_id, outcome))

    @rule()
    def expire(self) -> None:
        self.run(self.store.expire(self.room))

    @rule(add=st.integers(1, 5))
    def restock(self, add: int) -> None:
        try:
            self.run(self.store.control(self.room, self.deal, "restock", "test", add))
            self.expected_stock += add
        except Conflict:
            pass

    @rule(op=st.sampled_from(["start", "stop"]))
    def control(self, op: str) -> None:
        try:
            self.run(self.store.control(self.room, self.deal, op, "test"))
        except Conflict:
            pass

    @invariant()
    def stock_is_conserved_and_limits_hold(self) -> None:
        if not self.deal:
            return
        keys = RoomKeys(self.room)
        deal = {k.decode(): int(v) for k, v in self.run(self.client.hgetall(keys.deal(self.deal))).items()
                if k.decode() in ("stock", "left", "held", "sold", "buyers")}
        assert deal["left"] + deal["held"] + deal["sold"] == deal["stock"] == self.expected_stock, deal
        assert min(deal["left"], deal["held"], deal["sold"]) >= 0, deal
        per_user = {k.decode(): int(v) for k, v in
                    self.run(self.client.hgetall(keys.deal(self.deal) + ":users")).items()}
        assert all(0 <= n <= self.limit for n in per_user.values()), per_user
        assert sum(per_user.values()) == deal["held"] + deal["sold"], (per_user, deal)
        # A user's field stays once they have claimed (at 0 after a release): it is how buyers are counted.
        assert deal["buyers"] == len(per_user), (per_user, deal)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_the_deal_ledger_keeps_its_invariants(redis_server):
    run_machine(DealLedger, redis_server.url, max_examples=60, steps=25)
