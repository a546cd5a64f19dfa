"""What each role sees (audience.py), without sockets: the shop's numbers and buyers' order data stay with
staff; viewers and overlays get an order only as a ticker needs it."""

from __future__ import annotations

import copy

from livecart.audience import Audience, audience_of, deal_view, view

PAID = {"id": "ORD-9-paid", "type": "order", "offset": 7, "ts": 1, "user": {"id": "buyer-9", "name": "Lin"},
        "order_id": "ORD-9", "product_id": "p1", "qty": 2, "amount": 19.9, "status": "paid",
        "claim_id": "c-9"}
PLACED = dict(PAID, id="ORD-9-placed", offset=6, status="placed")
COMMENT = {"id": "c1", "type": "comment", "offset": 5, "ts": 1, "user": {"id": "u", "name": "U"},
           "text": "hi"}
DEAL = {"id": "d", "state": "live", "stock": 5, "left": 3, "held": 1, "sold": 1, "buyers": 2, "gmv": 9.9,
        "attempts": 40, "rejections": {"sold_out": 30}, "paid": 1, "released": 2, "claims": 2}
FRAME = {"type": "snapshot", "offset": 7, "recent": [COMMENT, PLACED, PAID], "events": [PAID],
         "counters": {"likes": 3, "orders": 1, "gmv": 19.9, "refunds": 0}, "deals": [DEAL]}


def test_viewers_and_overlays_are_public_and_staff_see_everything():
    assert audience_of("viewer") is audience_of("overlay") is Audience.PUBLIC
    assert audience_of("host") is audience_of("assistant") is audience_of("ingest") is Audience.STAFF
    assert audience_of("anything-else") is Audience.PUBLIC  # unknown means least


def test_staff_get_the_frame_unchanged():
    assert view(FRAME, Audience.STAFF) is FRAME
    assert deal_view(DEAL, Audience.STAFF) is DEAL


def test_the_public_see_a_paid_order_as_a_ticker_line_and_no_order_data():
    before = copy.deepcopy(FRAME)
    public = view(FRAME, Audience.PUBLIC)
    assert FRAME == before  # the shared frame is not changed
    assert public["events"] == [{"type": "order", "offset": 7, "ts": 1, "ticker": True,
                                 "user": {"name": "Lin"}, "product_id": "p1", "qty": 2}]
    comment, placed, paid = public["recent"]
    assert comment is COMMENT
    assert placed == {"type": "order", "offset": 6, "ts": 1, "ticker": False}
    assert paid == public["events"][0]


def test_the_public_never_see_gmv_refunds_or_a_deals_funnel():
    public = view(FRAME, Audience.PUBLIC)
    assert public["counters"] == {"likes": 3, "orders": 1}
    assert public["deals"] == [{"id": "d", "state": "live", "stock": 5, "left": 3, "held": 1, "sold": 1,
                                "buyers": 2, "claims": 2}]
    assert deal_view(DEAL, Audience.PUBLIC) == public["deals"][0]


def test_every_role_and_format_has_its_wire_number_and_staff_and_public_never_share_one():
    from livecart.audience import WIRES, wire_of
    from livecart.protocol import Format

    for fmt in Format:
        staff = {wire_of(role, fmt) for role in ("host", "assistant", "ingest")}
        public = {wire_of(role, fmt) for role in ("viewer", "overlay")}
        assert len(staff) == len(public) == 1 and staff != public
        assert WIRES[staff.pop()] == (Audience.STAFF, fmt) and WIRES[public.pop()] == (Audience.PUBLIC, fmt)
    assert len(set(WIRES)) == len(WIRES) == len(Audience) * len(Format)


def test_a_hidden_comment_reaches_the_public_without_its_text_or_author_and_staff_see_it_all():
    hidden = dict(COMMENT, text="buy elsewhere", hidden="blocked")
    frame = {"type": "batch", "events": [hidden, COMMENT]}
    public = view(frame, Audience.PUBLIC)["events"]
    assert public[0] == {"type": "comment", "offset": 5, "ts": 1, "hidden": True}
    assert public[1] == COMMENT
    assert view(frame, Audience.STAFF)["events"][0]["text"] == "buy elsewhere"
    assert frame["events"][0]["text"] == "buy elsewhere"  # the shared frame is never changed
