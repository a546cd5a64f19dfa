"""What a websocket upgrade's query carries, from anybody: any value is accepted or refused with a
BadRequest (a 4xx), never another exception (which reached a traceback and a dropped connection)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, quote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from livecart.auth import verify
from livecart.errors import BadRequest
from livecart.protocol import Format
from livecart.web.room_socket import _offset

KEYS = ("secret",)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
json_ish = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)
depths = st.one_of(st.integers(1, 5000), st.sampled_from([999, 1000, 2000, 5000]))
token_parts = st.one_of(
    st.text(max_size=40),
    json_ish.map(lambda v: _b64(json.dumps(v).encode())),
    depths.map(lambda depth: _b64(b"[" * depth)),  # nesting that broke json.loads (RecursionError)
    depths.map(lambda depth: _b64(b'{"a":' * depth)),
    st.binary(max_size=40).map(_b64),
)


tokens = st.one_of(st.lists(token_parts, max_size=4).map(".".join),
                   st.tuples(token_parts, token_parts, token_parts).map(".".join))  # the shape of a JWT


@given(tokens)
def test_any_token_is_claims_or_unauthorized(token):
    try:
        verify(KEYS, token)
    except BadRequest as exc:
        assert exc.status == 401


@given(st.text(max_size=40))
def test_any_since_is_an_offset_or_bad_since(value):
    try:
        offset = _offset(value)
    except BadRequest as exc:
        assert exc.code == "bad_since" and exc.status == 400
    else:
        assert isinstance(offset, int) and offset >= 0


@given(st.dictionaries(st.sampled_from(["since", "epoch", "format", "token", "stats"]), st.text(max_size=30),
                       max_size=5))
def test_any_query_string_parses_into_values_or_a_4xx(query):
    raw = "&".join(f"{quote(k)}={quote(v, safe='%&=')}" for k, v in query.items())
    parsed = dict(parse_qsl(urlsplit(f"/ws/rooms/r?{raw}").query))
    for check in (lambda: _offset(parsed.get("since")), lambda: Format.parse(parsed.get("format")),
                  lambda: verify(KEYS, parsed.get("token"))):
        try:
            check()
        except BadRequest as exc:
            assert 400 <= exc.status < 500
