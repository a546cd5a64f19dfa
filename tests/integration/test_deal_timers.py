"""deal_timers.py against a real Redis: deal states that change with the clock, the once-a-second
re-read, and holds that come back even when the node that took them is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from livecart.clock import Clock
from livecart.deal_timers import DealTimers
from livecart.deals import DealSpec, DealState
from livecart.store.batcher import as_future
from livecart.store.deal_store import ORPHAN_MS, DealStore
from livecart.store.keys import HOLD_ROOMS
from tests.integration.rooms_here import RoomsHere


@pytest.fixture
async def deal_store(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    store = DealStore(client)
    yield store
    store.close()
    await client.aclose()


def spec(starts_at: int = 0, duration_ms: int = 60_000) -> DealSpec:
    return DealSpec(product_id="p1", product_name="Silk scarf", image_url="", sku="s1", price_cents=1000,
                    deal_price_cents=500, stock=5, limit_per_user=5, duration_ms=duration_ms,
                    starts_at=starts_at, keyword="", currency="CNY")


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not within the timeout")


def timers(deal_store: DealStore) -> tuple[DealTimers, RoomsHere]:
    clock = Clock()
    hub = RoomsHere(clock)
    return DealTimers(deal_store, hub, clock=clock), hub


async def test_a_scheduled_deal_goes_live_and_then_ends_at_its_times(deal_store, room):
    deal_timers, hub = timers(deal_store)
    now = hub.clock.now_ms()
    fields = await deal_store.create(room, "d1", spec(starts_at=now + 50, duration_ms=400), "amy",
                                     start_now=False)
    here = hub.open(room)
    hub.apply_deal(here, fields)
    assert here.sent_states["d1"] is DealState.SCHEDULED
    deal_timers.watch(here)
    await until(lambda: here.sent_states["d1"] is not DealState.SCHEDULED)
    assert here.sent_states["d1"] is DealState.LIVE and hub.flushes == [(room, True)]
    await until(lambda: here.sent_states["d1"] is not DealState.LIVE)
    assert here.sent_states["d1"] is DealState.ENDED and hub.flushes == [(room, True)] * 2
    assert here.transition_handle is None  # nothing left to wait for


async def test_refresh_rereads_open_deals_and_releases_this_nodes_expired_holds(deal_store, room):
    deal_timers, hub = timers(deal_store)
    await deal_store.create(room, "d1", spec(), "amy", start_now=True)
    await as_future(deal_store.claim, room, "d1", "lin", 2, "k1", "c1", 1)
    deal_timers.note_hold(room)
    here = hub.open(room)
    here.deals["d1"] = {"id": "d1", "starts_at": "0", "ends_at": str(2 * hub.clock.now_ms()), "left": "5"}
    await asyncio.sleep(0.01)
    await deal_timers.refresh()
    assert here.deals["d1"]["left"] == "5" and here.deals["d1"]["held"] == "0"  # re-read after release
    assert deal_timers.hold_rooms == set()  # no hold left: no longer looked after
    assert await deal_store.client.zscore(HOLD_ROOMS, room) is None


async def test_holds_of_a_node_that_stopped_heartbeating_are_released_by_another(deal_store, room):
    dead, _ = timers(deal_store)
    await deal_store.create(room, "d1", spec(), "amy", start_now=True)
    await as_future(deal_store.claim, room, "d1", "lin", 1, "k1", "c1", 1)
    await asyncio.sleep(0.01)  # the 1 ms hold has expired (a claim is answered within it now)
    await deal_store.register_hold_rooms({room}, dead.clock.now_ms() - ORPHAN_MS - 1000)  # its last word

    survivor, _ = timers(deal_store)  # knows nothing of the room
    await survivor.refresh()
    assert await deal_store.holds_left(room) == 0
    assert (await deal_store.get(room, ["d1"]))[0]["left"] == "5"


async def test_refresh_rereads_the_open_deals_of_every_room_in_one_pass(deal_store, room):
    """A deal change whose message was lost reaches each room's state with the next refresh, whatever
    the number of rooms (read in one pipelined round trip); a room without open deals is not read."""
    deal_timers, hub = timers(deal_store)
    rooms = [f"{room}-{i}" for i in range(3)]
    for name in rooms:
        fields = await deal_store.create(name, "d1", spec(), "amy", start_now=True)
        hub.apply_deal(hub.open(name), fields)
    hub.open(f"{room}-none")  # no deal: nothing to re-read
    for i, name in enumerate(rooms):  # changes no message announced
        await deal_store.client.hset(f"lc:{{{name}}}:deal:d1", "rej_sold_out", i + 1)
    await deal_timers.refresh()
    assert [hub.rooms[n].deals["d1"].get("rej_sold_out") for n in rooms] == ["1", "2", "3"]
