"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

user_ids = st.text(min_size=1, max_size=20)
users = st.fixed_dictionaries({"id": user_ids, "name": st.text(max_size=30)})
ids = st.text(min_size=1, max_size=40)
# Money is whole cents (events.to_cents): any amount of cents, as the number a platform sends.
money = st.integers(min_value=0, max_value=10**8).map(lambda cents: cents / 100)
counts = st.integers(min_value=1, max_value=1000)


def _event(kind: str, **fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({"id": ids, "type": st.just(kind), "user": users, **fields})


valid_events = st.one_of(
    _event("comment", text=st.text(min_size=1, max_size=200)),
    _event("like", count=counts),
    _event("share"), _event("follow"), _event("join"), _event("leave"),
    _event("gift", gift=st.text(min_size=1, max_size=20), count=counts, value=money),
    _event("order", order_id=ids, product_id=ids, qty=counts, amount=money,
           status=st.sampled_from(["placed", "paid", "cancelled", "refunded"])),
)

# Anything JSON or msgpack can carry, for "never anything but a value or BadRequest" checks.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children,
                                                                        max_size=5),
    max_leaves=20,
)


def hostile_deal_ids(deal_id: str) -> st.SearchStrategy[str]:
    """Deal ids a hostile viewer may send for a room whose real deal is `deal_id`: the names of the deal's
    other keys (a set, hashes that are not a deal), and any text at all."""
    return st.one_of(
        st.sampled_from([f"{deal_id}:{suffix}" for suffix in ("ops", "external", "keys", "users", "buyers")]),
        st.sampled_from(["", ":", deal_id + ":", deal_id.upper(), "../" + deal_id]),
        st.text(max_size=80),
    )


claim_users = st.sampled_from(["ann", "bo", "cy", "id"]) | st.text(min_size=1, max_size=20)
claim_keys = st.text(min_size=1, max_size=30)
claim_qtys = st.integers(-2, 5) | st.sampled_from(["1", "nan", "1e9", "", "-1"])
