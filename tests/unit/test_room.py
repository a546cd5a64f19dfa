"""Room state without sockets or Redis: deal updates, clock transitions, full-state frames, claim rate."""

from __future__ import annotations

from livecart.clock import Clock
from livecart.room import Room
from livecart.store.values import Snapshot

NOW = 1_800_000_000_000


def deal(**overrides):
    f = {"id": "d1", "status": "open", "starts_at": NOW, "ends_at": NOW + 60_000, "left": 5, "stock": 5,
         "held": 0, "sold": 0, "claims": 0, "limit_per_user": 2, "price_cents": 1000, "deal_price_cents": 500,
         "product_id": "p", "product_name": "P"}
    f.update(overrides)
    return {k: str(v) for k, v in f.items()}


def snapshot(**overrides):
    values = {"epoch": "e1", "offset": 7, "counters": {"likes": 3}, "recent": [], "deals": []}
    stage = {"pinned": overrides.pop("pinned", None), "highlight": None, "announcement": None}
    values.update(overrides)
    return Snapshot(**values, stage=stage)


async def test_a_deal_update_is_queued_once_per_change():
    room = Room("r")
    room.load(snapshot(), NOW)
    assert room.update_deal(deal(), NOW) is True
    assert room.update_deal(deal(), NOW + 10) is False  # nothing a client sees changed
    assert room.update_deal(deal(left=4, held=1), NOW + 20) is True
    [queued] = room.batch.flush().deals
    assert (queued["left"], queued["held"]) == (4, 1)  # one update per tick per deal: the latest


async def test_the_clock_alone_moves_scheduled_deals_live_then_ended():
    room = Room("r")
    room.load(snapshot(deals=[deal(starts_at=NOW + 1000)]), NOW)
    assert room.next_transition(NOW) == NOW + 1000
    assert room.retime_deals(NOW + 500) is False
    assert room.retime_deals(NOW + 1000) is True
    assert room.batch.flush().deals[0]["state"] == "live"
    assert room.retime_deals(NOW + 61_000) is True
    assert room.batch.flush().deals[0]["state"] == "ended"
    assert room.next_transition(NOW + 61_000) is None


async def test_state_only_frames_carry_the_whole_room_state():
    room = Room("r")
    room.load(snapshot(deals=[deal(), deal(id="d2")], pinned={"name": "Tea"}), NOW)
    room.online = 12
    room.batch.set_online(12)
    batch = room.batch.flush()
    room.complete_state(batch, NOW + 1)
    frame = batch.frame(NOW + 1)
    assert frame["counters"]["likes"] == 3 and frame["counters"]["online"] == 12
    assert {d["id"] for d in frame["deals"]} == {"d1", "d2"} and frame["pinned"] == {"name": "Tea"}


async def test_full_state_frames_carry_overlay_presence_and_every_stage_part():
    room = Room("r")
    room.load(snapshot(pinned={"name": "Tea"}), NOW)
    room.overlays = 1
    room.batch.set_overlays(1)
    room.stage["highlight"] = {"text": "<b>hi</b>", "name": "Lin"}
    room.batch.set_field("highlight", room.stage["highlight"])
    batch = room.batch.flush()
    assert batch.counters == {"overlays": 1}  # only what changed, until completed
    room.complete_state(batch, NOW + 1)
    frame = batch.frame(NOW + 1)
    assert frame["counters"]["overlays"] == 1 and frame["counters"]["online"] == 0
    assert frame["highlight"]["text"] == "<b>hi</b>" and frame["pinned"] == {"name": "Tea"}
    assert "announcement" in frame and frame["announcement"] is None


async def test_claims_per_second_is_measured_over_a_second():
    room = Room("r")
    room.load(snapshot(), NOW)
    room.update_deal(deal(claims=0), NOW)
    room.update_deal(deal(claims=30, left=5), NOW + 500)
    assert room.deal_wire("d1", NOW + 500)["claims_per_s"] == 0.0
    assert room.update_deal(deal(claims=40, left=5), NOW + 2000) is True
    assert room.deal_wire("d1", NOW + 2000)["claims_per_s"] == 20.0
    assert room.update_deal(deal(claims=40, left=5), NOW + 3000) is True  # the rate fell to 0
    assert room.deal_wire("d1", NOW + 3000)["claims_per_s"] == 0.0


async def test_a_closed_deal_sells_nothing_and_its_falling_rate_makes_no_frame():
    room = Room("r")
    room.load(snapshot(), NOW)
    room.update_deal(deal(claims=0), NOW)
    assert room.update_deal(deal(claims=40, left=1), NOW + 2000) is True
    assert room.deal_wire("d1", NOW + 2000)["claims_per_s"] == 20.0
    assert room.update_deal(deal(claims=41, left=0, held=5), NOW + 2100) is True  # sold out
    assert room.deal_wire("d1", NOW + 2100)["claims_per_s"] == 0.0
    room.batch.flush()
    # A second later the measure would fall from 20 to 0: for a closed deal, not a frame.
    assert room.update_deal(deal(claims=41, left=0, held=5), NOW + 3500) is False
    # Units back (a hold expired): live again, measured again.
    assert room.update_deal(deal(claims=41, left=1, held=4), NOW + 3600) is True
    assert room.deal_wire("d1", NOW + 3600)["state"] == "live"


async def test_a_change_only_staff_see_makes_a_staff_only_batch():
    room = Room("r")
    room.load(snapshot(), NOW)
    room.update_deal(deal(left=0, held=5), NOW)
    room.batch.flush()
    # Refusals after the sell-out move the funnel (attempts, rejections): only staff see those.
    assert room.update_deal(deal(left=0, held=5, attempts=300, rej_sold_out=295), NOW + 10) is True
    batch = room.batch.flush()
    assert batch is not None and batch.staff_only and batch.deals[0]["attempts"] == 300
    # Units back: viewers see that.
    room.update_deal(deal(left=2, held=3, attempts=300, rej_sold_out=295), NOW + 20)
    batch = room.batch.flush()
    assert batch is not None and not batch.staff_only
    # A staff-only change beside anything public (here the viewers online) goes to everybody.
    room.update_deal(deal(left=2, held=3, attempts=310, rej_sold_out=295), NOW + 30)
    room.batch.set_online(12)
    batch = room.batch.flush()
    assert batch is not None and not batch.staff_only


def test_clock_takes_the_reference_time_at_the_middle_of_the_round_trip():
    clock = Clock()
    clock.observe(reference_ms=10_050, sent_ms=1_000, received_ms=1_100)
    assert clock.offset_ms == 9_000
