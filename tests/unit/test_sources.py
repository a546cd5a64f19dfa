"""Sources: how an ingest client names itself, and the list the console reads."""

from __future__ import annotations

import pytest

from livecart.sources import source_id, sources_to_wire, webhook_source


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
