"""Sources: how an ingest client names itself, and the list the console reads."""

from __future__ import annotations

import pytest

from livecart.errors import BadRequest
from livecart.sources import source_id, sources_to_wire


@pytest.mark.parametrize(("declared", "user", "expected"), [
    ("tiktok:@streamer", None, "tiktok:@streamer"),
    ("bilibili:21452505", "bridge", "bilibili:21452505"),
    (None, "erp-sync", "erp-sync"),
    (None, "a user with spaces", "ingest"),
    (None, "webhook:shopify", "ingest"),
    (None, None, "ingest"),
])
def test_a_source_is_the_declared_name_else_the_token_user_else_ingest(declared, user, expected):
    assert source_id(declared, user) == expected


@pytest.mark.parametrize("declared", ["", "x" * 65, "a b", "<script>", "webhook:shopify", "名字"])
def test_a_bad_or_webhook_name_is_refused(declared):
    with pytest.raises(BadRequest) as refused:
        source_id(declared, None)
    assert refused.value.code == "bad_source"


def test_the_list_is_newest_delivery_first_with_every_count():
    rows = [("a", {"via": "http", "first_at": "1", "last_at": "5", "accepted": "3"}),
            ("webhook:shopify", {"via": "webhook", "first_at": "2", "last_at": "9", "unmapped": "1",
                                 "deliveries": "2"}),
            ("b", {"last_at": "junk"})]
    wire = sources_to_wire(rows)
    assert [s["id"] for s in wire] == ["webhook:shopify", "a", "b"]
    assert wire[0] == {"id": "webhook:shopify", "via": "webhook", "first_at": 2, "last_at": 9,
                       "deliveries": 2, "accepted": 0, "duplicates": 0, "rejected": 0, "unmapped": 1}
    assert wire[2]["last_at"] == 0 and wire[2]["via"] == "http"
