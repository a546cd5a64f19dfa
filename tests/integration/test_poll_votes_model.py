"""poll.lua against a model: any sequence of votes (some by muted users, some out of range), one by one
or pipelined in one batch, leaves the real script's tallies exactly where "one vote per user, the first
stands (or the last, with change_vote), muted users never count" says, with every answer as the model
predicts."""

from __future__ import annotations

import asyncio
import uuid

import hypothesis.strategies as st
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings

from livecart.polls import parse_poll_spec
from livecart.store.keys import RoomKeys
from livecart.store.poll_store import PollStore

VOTES = st.lists(st.tuples(st.sampled_from(["ann", "bo", "cy", "di", "muted"]), st.integers(-1, 3)),
                 max_size=30)


def model(votes: list[tuple[str, int]], change_vote: bool) -> tuple[list[str], list[int]]:
    """The statuses each vote should get, and the final tally of a 3-option poll."""
    standing: dict[str, int] = {}
    statuses = []
    for user, option in votes:
        if not 0 <= option < 3:
            statuses.append("bad_option")
        elif user == "muted":
            statuses.append("muted")
        elif user in standing and standing[user] != option and not change_vote:
            statuses.append("already_voted")
        else:
            standing[user] = option
            statuses.append("ok")
    return statuses, [sum(1 for o in standing.values() if o == i) for i in range(3)]


def test_the_vote_script_agrees_with_the_model(redis_server):
    loop = asyncio.new_event_loop()
    client = aioredis.Redis.from_url(redis_server.url)
    store = PollStore(client)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(VOTES, st.booleans(), st.booleans())
    def check(votes: list[tuple[str, int]], change_vote: bool, batched: bool) -> None:
        room = "pm-" + uuid.uuid4().hex[:10]
        poll_id = uuid.uuid4().hex[:12]
        spec = parse_poll_spec({"question": "Q", "options": ["a", "b", "c"], "duration_s": 600,
                                "change_vote": change_vote})

        async def run() -> tuple[list[str], dict]:
            await store.create(room, poll_id, spec, "amy")
            await client.hset(RoomKeys(room).muted, "muted", "1 amy")
            if batched:  # one pipeline, as a pass of socket votes or an ingest batch's comments
                answers = await store.vote_many(room, [(poll_id, user, option) for user, option in votes])
                statuses = [a[0] for a in answers]
            else:
                statuses = [(await store.vote(room, poll_id, user, option))[0] for user, option in votes]
            return statuses, await store.get(room, poll_id, 0)

        statuses, poll = loop.run_until_complete(run())
        expected_statuses, expected_votes = model(votes, change_vote)
        assert statuses == expected_statuses
        assert poll["votes"] == expected_votes
        assert poll["voters"] == sum(expected_votes)

    try:
        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
