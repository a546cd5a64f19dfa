"""A Hypothesis state machine drives random arrivals (through any viewer's link, a made-up code, one's
own link, or none), interleaved with goal changes, against the real invites.lua, and holds it to
invites.InviteModel: one credit per invited user, never to themselves, the first touch wins; the board's
numbers add up after every step."""

from __future__ import annotations

import asyncio
import uuid

import hypothesis.strategies as st
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import invariant, rule

from livecart.invites import InviteGoal, InviteModel, invite_code, rewards_due
from livecart.store.invite_store import InviteStore
from tests.redis_machine import RedisMachine, run_machine

USERS = ["ann", "bo", "cy", "di", "ed"]
SECRET = "stateful-secret"


class Attribution(RedisMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = InviteStore(self.client)
        self.room = "sm-" + uuid.uuid4().hex[:10]
        self.model = InviteModel()
        self.goal: InviteGoal | None = None

    def code(self, user: str) -> str:
        return invite_code(SECRET, self.room, user)

    @rule(user=st.sampled_from(USERS))
    def share(self, user: str) -> None:
        self.run(self.store.register_code(self.room, user, self.code(user)))
        self.model.codes[self.code(user)] = user

    @rule(inviter=st.sampled_from(USERS), user=st.one_of(st.none(), st.sampled_from(USERS)))
    def arrive_through_a_link(self, inviter: str, user: str | None) -> None:
        code = self.code(inviter)
        got = self.run(self.store.open(self.room, code, user))
        assert got.answer == self.model.open(code, user)
        if got.answer == "joined":
            assert got.inviter == inviter != user

    @rule(user=st.sampled_from(USERS))
    def arrive_directly(self, user: str) -> None:
        assert self.run(self.store.open(self.room, "", user)).answer == self.model.open(None, user)

    @rule(user=st.sampled_from(USERS))
    def arrive_with_a_made_up_code(self, user: str) -> None:
        code = invite_code("another secret", self.room, user)
        assert self.run(self.store.open(self.room, code, user)).answer == "unknown"

    @rule(every=st.integers(1, 3), cap=st.integers(1, 2))
    def set_goal(self, every: int, cap: int) -> None:
        self.goal = InviteGoal(every, "claim_slot", cap)
        self.run(self.store.configure(self.room, overlay=None, goal=self.goal, set_goal=True, by="amy"))

    @invariant()
    def credits_match_the_model(self) -> None:
        found = self.run(self.store.board(self.room))
        assert found["funnel"]["joins"] == sum(self.model.joins.values())
        assert found["funnel"]["opens"] == self.model.opens
        assert {row["user"]: row["joins"] for row in found["top"]} == {
            u: n for u, n in self.model.joins.items() if n}
        for user in USERS:
            progress = self.run(self.store.progress(self.room, user))
            assert progress.invited_by == self.model.touched.get(user, "")
            assert progress.invited_by != user
            assert progress.joins == self.model.joins.get(user, 0)
            # Rewards only ever grow (a lower goal later does not take any back) and never pass the cap
            # of the goal they were given under.
            assert progress.slots == progress.rewards
            if self.goal is not None:
                assert rewards_due(progress.joins, self.goal, progress.rewards) == 0


def test_attribution_is_one_credit_per_invited_user_under_any_interleaving(redis_server):
    run_machine(Attribution, redis_server.url, max_examples=60, steps=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(arrivals=st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(USERS)), min_size=1, max_size=40))
def test_concurrent_arrivals_credit_each_invitee_once_to_one_of_its_links(redis_server, arrivals):
    """All the arrivals at once, each on its own connection: whatever order Redis runs them in, each
    invitee is credited once, to an inviter whose link it used, never to itself."""

    async def race() -> None:
        room = "race-" + uuid.uuid4().hex[:10]
        clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(4)]
        stores = [InviteStore(c) for c in clients]
        for user in USERS:
            await stores[0].register_code(room, user, invite_code(SECRET, room, user))
        answers = await asyncio.gather(*(
            stores[i % 4].open(room, invite_code(SECRET, room, inviter), invitee)
            for i, (inviter, invitee) in enumerate(arrivals)))
        used: dict[str, set[str]] = {}
        for (inviter, invitee), got in zip(arrivals, answers, strict=True):
            if inviter == invitee:
                assert got.answer == "self"
            else:
                used.setdefault(invitee, set()).add(inviter)
        joined = [(invitee, got.inviter) for (_i, invitee), got in zip(arrivals, answers, strict=True)
                  if got.answer == "joined"]
        assert sorted(invitee for invitee, _ in joined) == sorted(used)
        assert all(inviter in used[invitee] for invitee, inviter in joined)
        found = await stores[0].board(room)
        assert found["funnel"]["joins"] == len(used)
        for client in clients:
            await client.aclose()

    asyncio.run(race())
