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
    _event("viewers", count=st.integers(min_value=0, max_value=10**9),
           platform=st.sampled_from(["tiktok", "bilibili", "douyin-2", "x.y_z"])),
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


# --- websocket frames (framing.py's fuzzing) ---------------------------------------------------------

def _raw_frame(first: int, payload: bytes, masked: bool, length_form: int | None) -> bytes:
    """A frame's bytes, any first byte (opcode, FIN, RSV bits), with a chosen length encoding (126 or 127
    even for short payloads: legal to write, and a parser must read it)."""
    n = len(payload)
    form = length_form if length_form is not None else (n if n < 126 else 126 if n < 65536 else 127)
    mask_bit = 0x80 if masked else 0
    if form < 126:
        head = bytes((first, mask_bit | n))
    elif form == 126:
        head = bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = b"\x11\x22\x33\x44"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


_payloads = st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode),
                      st.just(b"\x80\xff"), st.binary(min_size=126, max_size=70_000))


@st.composite
def ws_frames(draw: st.DrawFn, masked: bool) -> bytes:
    """One frame as a peer might send it: mostly valid data frames, sometimes control frames,
    fragments, reserved opcodes or bits, the other masking, odd length forms, or raw garbage."""
    kind = draw(st.sampled_from(["data"] * 6 + ["ping", "pong", "close", "fragment", "odd", "garbage"]))
    if kind == "garbage":
        return draw(st.binary(max_size=20))
    payload = draw(_payloads)
    if kind == "data":
        first = draw(st.sampled_from([0x81, 0x82]))
    elif kind in ("ping", "pong"):
        first, payload = (0x89 if kind == "ping" else 0x8A), payload[:125]
    elif kind == "close":
        first, payload = 0x88, draw(st.sampled_from([b"", b"\x03\xe8", b"\x03\xe8bye", b"\x00"]))
    elif kind == "fragment":
        first = draw(st.sampled_from([0x01, 0x02, 0x00, 0x80]))
    else:
        first = draw(st.integers(0, 255))
    flip = kind == "odd" and draw(st.booleans())
    form = draw(st.sampled_from([None, None, None, 126, 127]))
    return _raw_frame(first, payload, masked != flip, form)


def stream_chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given positions (as reads of a socket would cut it)."""
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
