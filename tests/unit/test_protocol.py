"""Wire encoding: round trips in both formats, garbage in gives BadRequest, frames parse as RFC 6455."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

import livecart.protocol as protocol
from livecart.errors import BadRequest
from livecart.events import validate_event
from livecart.protocol import Format, decode, encode
from tests.strategies import valid_events


@given(valid_events, st.sampled_from(list(Format)))
def test_decode_encode_round_trips_every_event_type(raw, fmt):
    event = validate_event(raw, 1)
    assert decode(encode(event, fmt), fmt) == event


@given(st.binary(max_size=300), st.sampled_from(list(Format)))
def test_any_bytes_decode_to_a_value_or_bad_request(data, fmt):
    try:
        decode(data, fmt)
    except BadRequest as exc:
        assert exc.code == "bad_encoding"


def test_format_parse():
    assert Format.parse(None) is Format.JSON and Format.parse("msgpack") is Format.MSGPACK
    with pytest.raises(BadRequest):
        Format.parse("xml")


def test_the_protocol_module_exports_exactly_the_wire_api():
    assert sorted(protocol.__all__) == ["Format", "claim_result_frame", "decode", "decode_body",
                                        "echo_req", "encode", "encode_frame", "encode_json", "encode_msgpack",
                                        "load_json"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", "application/x-msgpack"])
def test_a_request_body_is_json_unless_it_says_msgpack(content_type):
    assert protocol.decode_body(b'{"a": [1]}', content_type) == {"a": [1]}
    with pytest.raises(BadRequest, match="not valid json"):
        protocol.decode_body(protocol.encode_msgpack({"a": [1]}), content_type)


def test_a_msgpack_request_body_is_read_as_msgpack():
    assert protocol.decode_body(protocol.encode_msgpack({"a": [1]}), "application/msgpack") == {"a": [1]}
    with pytest.raises(BadRequest, match="not valid msgpack"):
        protocol.decode_body(b"\xc1", "application/msgpack")


def _payload(frame: bytes) -> tuple[Opcode, bytes]:
    reader = StreamReader()
    reader.feed_data(frame)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value.opcode, done.value.data
    raise AssertionError("incomplete frame")


@given(st.text(min_size=1, max_size=100), st.sampled_from(list(Format)),
       st.sampled_from([{"ok": True, "claim": {"id": "c1", "deal": "d1", "qty": 2, "expires_at": 17}},
                        {"ok": False, "reason": "sold_out"}]))
def test_a_spliced_claim_result_is_the_same_map_as_an_encoded_one(req, fmt, reply):
    """Sockets get the stored JSON answer spliced into their frame; any `req` (quotes, unicode,
    control characters) must still give exactly {"type", "req", **answer} in either format."""
    opcode, data = _payload(protocol.claim_result_frame(req, protocol.encode_json(reply), fmt))
    assert opcode is (Opcode.TEXT if fmt is Format.JSON else Opcode.BINARY)
    assert decode(data, fmt) == {"type": "claim_result", "req": req, **reply}


def test_a_failed_msgpack_encode_leaves_nothing_behind_for_the_next():
    # encode_msgpack reuses one Packer per thread: what a failed encode had packed so far must not
    # become the start of the next frame.
    with pytest.raises(TypeError):
        protocol.encode_msgpack({"partial": "yes", "bad": object()})
    assert protocol.encode_msgpack({"a": 1}) == msgpack.packb({"a": 1}, use_bin_type=True)

