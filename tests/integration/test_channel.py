"""Every producer of the room channel, Lua and Python, against a real Redis: what each publishes is
read back with the one decoder (store/channel.py), so a script that drifts from the written shape fails
here rather than as an "undecodable message" line in a node's log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from livecart.cues import Cue
from livecart.deals import DealSpec
from livecart.errors import Conflict
from livecart.polls import parse_poll_spec
from livecart.shows import parse_show
from livecart.store import channel
from livecart.store.batcher import as_future
from livecart.store.channel import (
    BuyerPrompt,
    ChannelMessage,
    CuePosted,
    DealChanged,
    InviteBoard,
    LiveStats,
    RoomEvents,
    ShowChanged,
    StageChanged,
    TokensRevoked,
)
from livecart.store.cue_store import CueStore
from livecart.store.deal_store import DealStore
from livecart.store.goal_store import GoalStore
from livecart.store.invite_store import InviteStore
from livecart.store.keys import RoomKeys
from livecart.store.poll_store import PollStore
from livecart.store.redis_store import RedisStore
from livecart.store.show_store import ShowStore


class Published:
    """The room channel as a subscriber sees it, decoded."""

    def __init__(self, client: aioredis.Redis, room: str) -> None:
        self.pubsub = client.pubsub()
        self.channel = RoomKeys(room).channel

    async def __aenter__(self) -> Published:
        await self.pubsub.subscribe(self.channel)
        assert (await self.pubsub.get_message(timeout=2))["type"] == "subscribe"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pubsub.aclose()

    async def next(self) -> ChannelMessage:
        message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None, "nothing published"
        return channel.decode(message["data"])


@pytest.fixture
async def client(redis_server) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def published(client, room) -> AsyncIterator[Published]:
    async with Published(client, room) as published:
        yield published


def spec(stock: int = 5) -> DealSpec:
    return DealSpec(product_id="p1", product_name="Silk scarf", image_url="", sku="s1", price_cents=1000,
                    deal_price_cents=500, stock=stock, limit_per_user=5, duration_ms=60_000, starts_at=0,
                    keyword="", currency="CNY")


async def test_append_lua_publishes_events_with_the_counters_after_them(client, published, room):
    store = RedisStore(client, history_max=100, history_max_age_s=60, dedup_window_s=60)
    body = orjson.dumps({"id": "c1", "type": "comment", "user": {"id": "u", "name": "u"}, "ts": 1,
                         "text": "hi"})
    result = await store.append(room, [("c1", body, {"comments": 1})], now_ms=1000)
    message = await published.next()
    assert message == RoomEvents(result.epoch, 1, {"comments": 1}, [{**orjson.loads(body), "offset": 1}])


async def test_set_currency_lua_publishes_a_stage_change(client, published, room):
    store = RedisStore(client, history_max=100, history_max_age_s=60, dedup_window_s=60)
    assert (await store.set_currency(room, "EUR"))[0]
    assert await published.next() == StageChanged("currency", "EUR")


async def test_every_deal_script_publishes_the_deals_fields(client, published, room):
    deals = DealStore(client)
    fields = await deals.create(room, "d1", spec(), "amy", start_now=True)
    assert await published.next() == DealChanged(fields)  # deal_create.lua

    after = await deals.control(room, "d1", "restock", "amy", 2)
    assert await published.next() == DealChanged(after)  # deal_control.lua

    await as_future(deals.claim, room, "d1", "lin", 1, "k1", "c1", 1)
    message = await published.next()  # claim.lua
    assert isinstance(message, DealChanged) and message.fields["held"] == "1"

    await asyncio.sleep(0.01)
    assert await deals.expire(room) == 1
    message = await published.next()  # expire.lua
    assert isinstance(message, DealChanged) and message.fields["held"] == "0"

    await asyncio.sleep(0.05)  # claim.lua publishes a deal at most every 40 ms
    await as_future(deals.claim, room, "d1", "mei", 1, "k2", "c2", 60_000)
    await published.next()
    assert (await deals.settle(room, "c2", "paid"))[1]
    message = await published.next()  # settle.lua
    assert isinstance(message, DealChanged) and message.fields["sold"] == "1"

    assert await deals.external_sale(room, "p1", 1, "order-1", 500) == 1
    message = await published.next()  # external_sale.lua
    assert isinstance(message, DealChanged) and message.fields["sold"] == "2"
    deals.close()


async def test_cue_emit_lua_and_an_ack_publish_the_cue(client, published, room):
    cues = CueStore(client, retention_days=1)
    cue = Cue(id="q1", kind="manual", priority="normal", text="smile", created_at=1, expires_at=2)
    assert await cues.emit(room, [cue], now_ms=1) == [cue]
    assert await published.next() == CuePosted(cue.to_wire())  # cue_emit.lua
    acked = await cues.ack(room, "q1", "amy", now_ms=5)
    assert await published.next() == CuePosted(acked) and acked["acked_by"] == "amy"


async def test_python_producers_publish_stage_stats_and_revocations(client, published, room):
    store = RedisStore(client, history_max=100, history_max_age_s=60, dedup_window_s=60)
    await store.show(room, "pinned", {"name": "Silk scarf"})
    assert await published.next() == StageChanged("pinned", {"name": "Silk scarf"})
    await store.show(room, "announcement", None)
    assert await published.next() == StageChanged("announcement", None)
    await CueStore(client, retention_days=1).publish_stats(room, {"viewers": 3})
    assert await published.next() == LiveStats({"viewers": 3})
    await store.revoke(room, "role:host", 1700000000.5)
    assert await published.next() == TokensRevoked("role:host", 1700000000.5)


async def test_poll_and_show_scripts_publish_stage_fields_show_and_prompt_messages(client, published, room):
    polls = PollStore(client)
    poll = await polls.create(room, "a" * 12, parse_poll_spec(
        {"question": "Q", "options": ["x", "y"], "duration_s": 60}), "amy")
    assert await published.next() == StageChanged("poll", poll)  # poll.lua create
    status, voted, _ = await polls.vote(room, "a" * 12, "lin", 1)
    assert status == "ok" and await published.next() == StageChanged("poll", voted)  # poll.lua vote
    answers = await polls.vote_many(room, [("a" * 12, "mei", 0), ("a" * 12, "max", 5)])
    assert [a[0] for a in answers] == ["ok", "bad_option"]
    assert await published.next() == StageChanged("poll", answers[0][1])  # one publish for the batch
    assert answers[0][1]["votes"] == [1, 1]
    shows = ShowStore(client)
    await shows.note_buyer(room, "lin", "Lin")
    await shows.prompt(room, "lin", {"product_id": "p1", "qty": 1})
    assert await published.next() == BuyerPrompt("lin", {"product_id": "p1", "qty": 1})
    show = await shows.post(room, "b" * 12, "lin", parse_show({"text": "nice"}), hidden=False)
    assert await published.next() == ShowChanged(show)  # show.lua post
    reviewed, _ = await shows.review(room, "b" * 12, "approved", "amy")
    assert await published.next() == ShowChanged(reviewed)  # show.lua review
    wall = await published.next()  # show.lua's wall rebuild
    assert isinstance(wall, StageChanged) and wall.name == "wall"
    assert [s["text"] for s in wall.value["shows"]] == ["nice"]


async def test_goal_lua_publishes_the_goal_list_and_what_its_action_changed(client, published, room):
    goals = GoalStore(client)
    await client.hset(RoomKeys(room).counters, "likes", 5)
    spec = {"metric": "likes", "target": 9, "action": {"type": "none"}}
    made = await goals.create(room, "0123456789ab", spec, "amy", 0)
    message = await published.next()  # goal.lua create
    assert isinstance(message, StageChanged) and message.name == "goals" and message.value == [made]
    await client.hset(RoomKeys(room).counters, "likes", 9)
    assert (await goals.check(room, "n1"))[1] == ["0123456789ab"]
    message = await published.next()  # goal.lua check: fired
    assert isinstance(message, StageChanged) and message.value[0]["state"] == "fired"
    await goals.create(room, "0123456789ac", {"metric": "likes", "target": 1,
                                             "action": {"type": "announce", "text": "hi"}}, "amy", 0)
    message = await published.next()  # the announce action
    assert isinstance(message, StageChanged) and message.name == "announcement"
    assert message.value["text"] == "hi"
    message = await published.next()
    assert isinstance(message, StageChanged) and message.name == "goals"
    with pytest.raises(Conflict):  # a fired goal cannot be cancelled: nothing changes
        await goals.cancel(room, "0123456789ab", "amy")


async def test_invites_lua_publishes_the_board(client, published, room):
    invites = InviteStore(client)
    await invites.register_code(room, "ann", "a" * 16)  # registering a code publishes nothing
    await invites.open(room, "a" * 16, "bo")
    message = await published.next()
    assert isinstance(message, InviteBoard)
    assert message.board["funnel"] == {"opens": 1, "joins": 1, "buyers": 0, "gmv_minor": 0}
    assert message.board["top"] == [{"user": "ann", "joins": 1, "buyers": 0, "gmv_minor": 0}]
    await invites.order(room, "bo", "o1", "paid", 990)
    message = await published.next()
    assert isinstance(message, InviteBoard) and message.board["top"][0]["gmv_minor"] == 990
