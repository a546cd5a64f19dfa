"""Sources: how an ingest client names itself, and the list the console reads."""

from __future__ import annotations

import pytest

from livecart.sources import Delivery, Source, SourceTally, source_id, sources_to_wire, webhook_source


@pytest.mark.parametrize(("declared", "user", "expected"), [
    ("tiktok:@streamer", None, "tiktok:@streamer"),
    ("bilibili:21452505", "bridge", "bilibili:21452505"),
    ("tiktok:@小林", None, "tiktok:@小林"),
    (None, "erp-sync", "erp-sync"),
    (None, "a user with spaces", "ingest"),
    (None, "shopify:fake.myshopify.com", "ingest"),
    (None, None, "ingest"),
])
def test_a_source_is_the_declared_name_else_the_token_user_else_ingest(declared, user, expected):
    assert source_id(declared, user) == expected


@pytest.mark.parametrize("declared", ["", "tiktok", "TikTok:@x", "a" * 21 + ":x", "tiktok:" + "x" * 101,
                                      "tiktok:a b", "tiktok:\x00", "shopify:jsmith.myshopify.com",
                                      "orders:webhook", ":x"])
def test_a_bad_or_webhook_name_is_ignored_never_refused(declared):
    # A bridge's typo must not lose a stream: its events still count, under its token's identity.
    assert source_id(declared, "bridge-7") == "bridge-7"
    assert source_id(declared, None) == "ingest"


def test_a_webhook_is_named_by_its_kind_and_the_shop():
    assert webhook_source("shopify", "jsmith.myshopify.com") == "shopify:jsmith.myshopify.com"
    assert webhook_source("shopify", None) == "shopify:webhook"
    assert webhook_source("shopify", "bad name") == "shopify:webhook"
    assert webhook_source("orders", None) == "orders:webhook"


def test_the_list_is_newest_delivery_first_with_every_count():
    rows = [("a", {"via": "http", "first_at": "1", "last_at": "5", "accepted": "3"}),
            ("shopify:webhook", {"via": "webhook", "first_at": "2", "last_at": "9", "unmapped": "1",
                                 "deliveries": "2"}),
            ("b", {"last_at": "junk"})]
    wire = sources_to_wire(rows)
    assert [s["id"] for s in wire] == ["shopify:webhook", "a", "b"]
    assert wire[0] == {"id": "shopify:webhook", "via": "webhook", "first_at": 2, "last_at": 9,
                       "deliveries": 2, "accepted": 0, "duplicates": 0, "rejected": 0, "unmapped": 1}
    assert wire[2]["last_at"] == 0 and wire[2]["via"] == "http"


def test_the_tally_adds_up_deliveries_per_room_and_source_until_drained():
    tally = SourceTally(max_entries=2)
    tiktok = Source("tiktok:@a", "http")
    tally.add("r1", tiktok, Delivery(3, 1, 0), 10)
    tally.add("r1", tiktok, Delivery(2, 0, 1), 7)  # an earlier clock reading: the latest time stays
    tally.add("r2", tiktok, Delivery(1), 12)
    tally.add("r3", tiktok, Delivery(1), 13)  # past max_entries: not listed (the events still count)
    drained = {(t.room, t.source.id): t for t in tally.drain()}
    assert len(tally) == 0 and set(drained) == {("r1", "tiktok:@a"), ("r2", "tiktok:@a")}
    r1 = drained["r1", "tiktok:@a"]
    assert (r1.deliveries, r1.accepted, r1.duplicates, r1.rejected, r1.last_ms) == (2, 5, 1, 1, 10)
    tally.add("r1", tiktok, Delivery(1), 20)
    tally.restore(list(drained.values()))  # Redis was away: kept for the next flush, nothing lost
    again = {(t.room, t.source.id): t for t in tally.drain()}
    assert (again["r1", "tiktok:@a"].deliveries, again["r1", "tiktok:@a"].accepted) == (3, 6)
    assert again["r1", "tiktok:@a"].last_ms == 20
