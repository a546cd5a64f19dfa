"""handshake.py reads the common upgrade request itself; websockets' ServerProtocol is the oracle: the
fast path may take a request only if websockets would accept it, and must take the requests real
clients send (browsers offer compression and send Connection lists)."""

from __future__ import annotations

import email.utils

from hypothesis import given
from hypothesis import strategies as st
from websockets.http11 import Request
from websockets.server import ServerProtocol

from livecart.handshake import RequestHeaders, accept_response, read_upgrade

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key


def websockets_accepts(head: bytes) -> bool:
    proto = ServerProtocol()
    proto.receive_data(head)
    requests = [e for e in proto.events_received() if isinstance(e, Request)]
    return bool(requests) and proto.accept(requests[0]).status_code == 101


def head_of(lines: list[str], target: str = "/ws/rooms/r?token=t") -> bytes:
    request = f"GET {target} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
    return request.encode("latin-1")


BROWSER = ["Host: shop.example:8080", "Connection: Upgrade", "Pragma: no-cache", "Cache-Control: no-cache",
           "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "Upgrade: websocket",
           "Origin: https://shop.example", "Sec-WebSocket-Version: 13",
           "Accept-Encoding: gzip, deflate, br", "Accept-Language: zh-CN,zh;q=0.9",
           f"Sec-WebSocket-Key: {KEY}",
           "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]


def test_a_browsers_upgrade_is_read_with_its_target_and_headers():
    upgrade = read_upgrade(head_of(BROWSER))
    assert upgrade is not None and websockets_accepts(head_of(BROWSER))
    assert upgrade.target == "/ws/rooms/r?token=t" and upgrade.key == KEY
    assert upgrade.headers.get("ORIGIN") == "https://shop.example"
    assert upgrade.headers.get("host") == "shop.example:8080"
    assert upgrade.headers.get("X-Forwarded-For") is None


def test_the_answer_carries_rfc_6455s_accept_value_and_a_date():
    response = accept_response(KEY)
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and response.endswith(b"\r\n\r\n")
    fields = dict(line.split(": ", 1) for line in response.decode().split("\r\n")[1:-2])
    assert fields["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3
    assert fields["Upgrade"] == "websocket" and fields["Connection"] == "Upgrade"
    assert email.utils.parsedate_to_datetime(fields["Date"]) is not None


def test_repeated_headers_keep_every_value_in_order():
    headers = RequestHeaders([("X-Forwarded-For", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2, 3.3.3.3")])
    assert headers.get_all("X-FORWARDED-FOR") == ["1.1.1.1", "2.2.2.2, 3.3.3.3"]
    assert headers.get("x-forwarded-for") == "1.1.1.1" and headers.get_all("origin") == []


CANONICAL = ["Host: x", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
             "Sec-WebSocket-Version: 13"]


@given(order=st.permutations(range(len(CANONICAL))), upper=st.lists(st.booleans(), min_size=5, max_size=5),
       connection=st.sampled_from(["Upgrade", "keep-alive, Upgrade", "upgrade", "Upgrade,keep-alive"]),
       extra=st.lists(st.sampled_from(["X-Forwarded-For: 10.0.0.1", "Origin: http://a", "Cookie: a=b",
                                       "Sec-WebSocket-Protocol: chat, superchat",
                                       "Sec-WebSocket-Extensions: permessage-deflate"]), unique=True))
def test_every_spelling_of_a_valid_upgrade_is_taken(order, upper, connection, extra):
    lines = [CANONICAL[i] for i in order]
    lines = [line.replace("Upgrade", connection) if line.startswith("Connection") else line for line in lines]
    lines = [line.split(":")[0].upper() + line[line.index(":"):] if up else line
             for line, up in zip(lines, upper, strict=True)]
    head = head_of(lines + extra)
    assert websockets_accepts(head)
    assert read_upgrade(head) is not None


@given(mangle=st.lists(st.tuples(st.integers(0, 220), st.binary(max_size=4)), min_size=1, max_size=3),
       extra=st.lists(st.sampled_from(["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==", "Origin: a",
                                       "Content-Length: 0", "Transfer-Encoding: chunked", "Host: y",
                                       "Upgrade: h2c", "Sec-WebSocket-Version: 8", "Connection: close",
                                       "Sec-WebSocket-Protocol: ,"]), max_size=2))
def test_the_fast_path_never_takes_a_request_websockets_refuses(mangle, extra):
    data = bytearray(head_of(CANONICAL + extra))
    for pos, insert in mangle:
        pos = min(pos, len(data))
        data[pos:pos + len(insert)] = insert
    head = bytes(data)
    end = head.find(b"\r\n\r\n")
    if end < 0:
        head += b"\r\n\r\n"
    else:
        head = head[:end + 4]  # the node hands read_upgrade exactly one complete head
    if read_upgrade(head) is not None:
        assert websockets_accepts(head), head


def test_irregular_requests_are_left_to_websockets():
    for head in (head_of(CANONICAL).replace(b"GET", b"POST"),
                 head_of(CANONICAL).replace(b"HTTP/1.1", b"HTTP/1.0"),
                 head_of([line for line in CANONICAL if not line.startswith("Sec-WebSocket-Key")]),
                 head_of([*CANONICAL, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
                 head_of([*CANONICAL, "Host: y"]),
                 head_of([line.replace("13", "8") for line in CANONICAL]),
                 head_of(CANONICAL)[:-2],  # not a complete head
                 head_of(CANONICAL, target="/ws/rooms/r?x=" + "a" * 9000)):
        assert read_upgrade(head) is None, head[:80]
