"""The room channel's messages (store/channel.py): one encoder, one decoder, nothing else gets through."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.store import channel
from livecart.store.channel import (
    ChannelMessage,
    CuePosted,
    DealChanged,
    InviteBoard,
    LiveStats,
    RoomEvents,
    StageChanged,
    TokensRevoked,
    UndecodableMessage,
)
from livecart.store.values import ROOM_FIELDS

names = st.text(min_size=1, max_size=12)
# What JSON carries exactly (orjson refuses integers beyond 64 bits).
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=4),
    max_leaves=12,
)
messages = st.one_of(
    st.builds(RoomEvents, epoch=st.text(max_size=32), offset=st.integers(0, 2**53),
              counters=st.dictionaries(names, st.integers(-(2**53), 2**53), max_size=11),
              events=st.lists(st.fixed_dictionaries({"offset": st.integers(1, 2**53), "id": names}),
                              max_size=5)),
    st.builds(DealChanged,
              fields=st.dictionaries(names, st.text(max_size=20)).map(lambda f: {**f, "id": "d1"})),
    st.builds(StageChanged, name=st.sampled_from(ROOM_FIELDS),
              value=values),
    st.builds(CuePosted, cue=st.dictionaries(names, values, max_size=5)),
    st.builds(LiveStats, stats=st.dictionaries(names, values, max_size=5)),
    st.builds(TokensRevoked, field=names, before=st.floats(0, 2e9)),
    st.builds(InviteBoard, board=st.dictionaries(names, values, max_size=5)),
)


@given(messages)
def test_every_message_decodes_to_what_was_encoded(message):
    assert channel.decode(channel.encode(message)) == message


@given(messages)
def test_every_message_is_tagged_first_with_its_type(message):
    assert channel.encode(message).startswith(b'{"type":"')


@given(st.binary(max_size=200) | values.map(orjson.dumps))
def test_any_bytes_are_a_message_or_undecodable_never_anything_else(data):
    try:
        message = channel.decode(data)
    except UndecodableMessage:
        return
    assert isinstance(message, ChannelMessage)


def test_an_empty_redis_hash_from_lua_is_an_empty_map():
    # cjson writes an empty table as {}: a room whose only events counted nothing has no counters yet.
    message = channel.decode(b'{"type":"events","epoch":"e","offset":3,"counters":{},"events":[]}')
    assert message == RoomEvents("e", 3, {}, [])


@pytest.mark.parametrize("data", [
    b'{"epoch":"e","offset":1,"counters":[],"events":[]}',  # untagged: a node of the previous version
    b'{"type":"deal","deal":{}}',  # a deal deleted before its message was read: no id
    b'{"type":"events","epoch":"e","offset":"1","counters":[],"events":[]}',
    b'{"type":"deal","deal":["id"]}',
    b'{"type":"cue","cue":[]}',
    b'{"type":"revoked","field":"role:host","before":"soon"}',
    b'{"type":"gossip"}',
    b'{"type":"stage","name":"banner","value":"x"}',  # no such room field: the hub would store it
    b'{"type":"stage","name":["pinned"],"value":null}',
])
def test_malformed_or_unknown_messages_are_undecodable(data):
    with pytest.raises(UndecodableMessage):
        channel.decode(data)
