"""Wire encoding: round trips in both formats, garbage in gives BadRequest, frames parse as RFC 6455."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

import livecart.protocol as protocol
from livecart.errors import BadRequest
from livecart.events import validate_event
from livecart.protocol import Format, decode, encode, ws_frame
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


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_ws_frame_is_a_valid_unmasked_frame_at_every_length_boundary(size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for text, opcode in ((False, Opcode.BINARY), (True, Opcode.TEXT)):
        data = payload if not text else b"a" * size
        reader = StreamReader()
        reader.feed_data(ws_frame(data, text))
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
        assert frame.opcode is opcode and frame.fin and frame.data == data


def test_the_protocol_module_exports_exactly_the_wire_api():
    assert sorted(protocol.__all__) == ["Format", "claim_result_frame", "client_messages", "decode",
                                        "encode", "encode_frame", "encode_json", "encode_msgpack",
                                        "load_json", "ws_frame"]


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


def _open_server(max_size: int = 1 << 20):
    """A websockets server protocol past the handshake, as a socket is when it reads frames."""
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri

    client, server = ClientProtocol(parse_uri("ws://127.0.0.1/ws")), ServerProtocol(max_size=max_size)
    client.send_request(client.connect())
    server.receive_data(b"".join(client.data_to_send()))
    server.send_response(server.accept(server.events_received()[0]))
    assert server.state is State.OPEN
    return server


def _websockets_messages(data: bytes, max_size: int) -> list[tuple[bool, bytes]] | None:
    """What websockets' own server parser makes of `data` (None: it refused it or holds a partial frame)."""
    server = _open_server(max_size)
    server.receive_data(data)
    frames = server.events_received()
    if server.parser_exc is not None or server.reader.buffer or server.current_size is not None:
        return None
    if any(f.opcode not in (Opcode.TEXT, Opcode.BINARY) or not f.fin for f in frames):
        return None
    return [(f.opcode is Opcode.TEXT, bytes(f.data)) for f in frames]


def _client_frames(messages: list[tuple[bool, bytes]]) -> bytes:
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://127.0.0.1/ws"))
    client.state = State.OPEN
    for is_text, payload in messages:
        if is_text:
            client.send_text(payload)
        else:
            client.send_binary(payload)
    return b"".join(client.data_to_send())


_payloads = st.one_of(st.text(max_size=300).map(lambda t: (True, t.encode())),
                      st.binary(max_size=300).map(lambda b: (False, b)),
                      st.sampled_from([125, 126, 127, 65535]).map(lambda n: (False, b"x" * n)))


@given(st.lists(_payloads, max_size=5))
def test_the_fast_frame_path_reads_what_websockets_reads(messages):
    data = _client_frames(messages)
    assert protocol.client_messages(data, 1 << 20) == messages == _websockets_messages(data, 1 << 20)


@given(st.lists(_payloads, max_size=5))
def test_the_python_client_frames_messages_as_websockets_reads_them(messages):
    """livecart.client writes its data frames itself (no Frame object per message): websockets' server
    parser, masks and all, must read back exactly what was sent."""
    from livecart.client import client_frame

    data = b"".join(client_frame(payload, is_text) for is_text, payload in messages)
    assert _websockets_messages(data, 1 << 20) == messages


def test_the_python_client_frames_a_64_bit_length():
    from livecart.client import client_frame

    payload = bytes(range(256)) * 300
    assert _websockets_messages(client_frame(payload, False), 1 << 20) == [(False, payload)]


def test_frames_with_a_64_bit_length_take_the_websockets_path():
    data = _client_frames([(False, b"x" * 65536)])
    assert protocol.client_messages(data, 1 << 20) is None
    assert _websockets_messages(data, 1 << 20) == [(False, b"x" * 65536)]


@given(st.lists(_payloads, min_size=1, max_size=3), st.data())
def test_the_fast_frame_path_never_accepts_what_websockets_would_not(messages, data):
    """Cut, mutated or oversized input: the fast path says None, or exactly what websockets says."""
    raw = bytearray(_client_frames(messages))
    for _ in range(data.draw(st.integers(0, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    max_size = data.draw(st.sampled_from([10, 200, 1 << 20]))
    fast = protocol.client_messages(bytes(raw), max_size)
    if fast is not None:
        assert fast == _websockets_messages(bytes(raw), max_size)


def test_the_socket_knows_when_websockets_holds_part_of_a_frame():
    """The fast path is only taken between frames; if this ever says False where it should say True,
    sockets silently lose the fast path, so it is checked here."""
    from livecart.web.ws import _between_frames

    server = _open_server()
    assert _between_frames(server)
    frame = _client_frames([(True, b'{"type":"ping"}')])
    for cut in (1, 2, 5, len(frame) - 1):  # header, mask or payload half read
        server.receive_data(frame[:cut])
        assert not _between_frames(server), cut
        server.receive_data(frame[cut:])
        server.events_received()
        assert _between_frames(server), cut
