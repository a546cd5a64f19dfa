"""framing.py: frames written as the RFC says, and read exactly as websockets' own parser reads them.

The oracle is a websockets `Protocol` fed the whole stream by itself. Against any mix of frames (valid,
control, fragments, oversized, wrongly masked, reserved bits, garbage) cut into any reads, `FrameReader`
must give the same messages in the same order, the same refusal (or none), and leave websockets with the
same answers to send (pongs, close frames)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from livecart.framing import FrameReader, client_frame, server_frame
from tests.strategies import stream_chunks, ws_frames

MAX_SIZE = 65_536


def sent(side: Side, data: bytes) -> list[tuple[int, bytes]]:
    """What `side` queued to send, as frames (a client masks with random keys: compare contents)."""
    peer = Protocol(Side.CLIENT if side is Side.SERVER else Side.SERVER, state=State.OPEN, max_size=None)
    peer.receive_data(data)
    return [(f.opcode.value, bytes(f.data)) for f in peer.events_received() if isinstance(f, Frame)]


Outcome = tuple[list[tuple[int, bytes, bool]], object, list[tuple[int, bytes]]]


def reference(side: Side, chunks: list[bytes]) -> Outcome:
    proto = Protocol(side, state=State.OPEN, max_size=MAX_SIZE)
    events: list[tuple[int, bytes, bool]] = []
    for chunk in chunks:
        proto.receive_data(chunk)
        events += [(f.opcode.value, bytes(f.data), f.fin) for f in proto.events_received()
                   if isinstance(f, Frame)]
    return events, type(proto.parser_exc), sent(side, b"".join(proto.data_to_send()))


def ours(side: Side, chunks: list[bytes]) -> Outcome:
    proto = Protocol(side, state=State.OPEN, max_size=MAX_SIZE)
    reader = FrameReader(proto, masked=side is Side.SERVER, max_size=MAX_SIZE)
    events: list[tuple[int, bytes, bool]] = []
    for chunk in chunks:
        for item in reader.receive(chunk):
            if isinstance(item, Frame):
                events.append((item.opcode.value, bytes(item.data), item.fin))
            elif isinstance(item, tuple):
                events.append((Opcode.TEXT.value if item[0] else Opcode.BINARY.value, bytes(item[1]), True))
    return events, type(proto.parser_exc), sent(side, b"".join(proto.data_to_send()))


@settings(max_examples=int(os.environ.get("LIVECART_FUZZ_EXAMPLES", "400")), deadline=None)
@given(side=st.sampled_from([Side.SERVER, Side.CLIENT]), data=st.data())
def test_the_reader_reads_any_stream_exactly_as_websockets_does(side, data):
    frames = data.draw(st.lists(ws_frames(masked=side is Side.SERVER), max_size=8))
    stream = b"".join(frames)
    chunks = stream_chunks(stream, data.draw(st.lists(st.integers(0, max(0, len(stream))), max_size=6)))
    assert ours(side, chunks) == reference(side, chunks)


@given(payload=st.binary(max_size=70_000), text=st.booleans())
def test_written_frames_are_read_back_by_websockets(payload, text):
    written = ((Side.CLIENT, server_frame(payload, text)), (Side.SERVER, client_frame(payload, text)))
    for side, frame in written:
        proto = Protocol(side, state=State.OPEN, max_size=None)
        proto.receive_data(frame)
        if text:  # websockets checks UTF-8 of text frames: only compare what it accepts
            try:
                payload.decode()
            except UnicodeDecodeError:
                continue
        (got,) = proto.events_received()
        assert isinstance(got, Frame) and got.fin and bytes(got.data) == payload
        assert got.opcode is (Opcode.TEXT if text else Opcode.BINARY)


def test_a_client_frame_is_masked_with_a_fresh_key_each_time():
    a, b = client_frame(b"same", True), client_frame(b"same", True)
    assert a[1] & 0x80 and a[2:6] != b[2:6]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_length_forms_at_their_boundaries(size):
    frame = server_frame(b"a" * size, False)
    assert frame[1] == (size if size < 126 else 126 if size < 65536 else 127)
