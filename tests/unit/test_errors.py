"""The one error -> wire table (errors.wire_error), checked without sockets."""

from __future__ import annotations

import pytest

from livecart import js_tables
from livecart.client import RESUMABLE, _temporary
from livecart.errors import (
    BadRequest,
    Busy,
    CloseCode,
    Conflict,
    Forbidden,
    InProgress,
    Internal,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    RequestLineTooLong,
    RequestTimeout,
    StoreUnavailable,
    TooLarge,
    TooManyConnections,
    Unauthorized,
    wire_error,
)

# (error, status, code, temporary, Retry-After header, close code when it ends a socket)
TABLE = [
    (BadRequest("bad_field", "x"), 400, "bad_field", False, None, CloseCode.POLICY),
    (Unauthorized("token expired"), 401, "unauthorized", False, None, CloseCode.UNAUTHORIZED),
    (Forbidden("no"), 403, "forbidden", False, None, CloseCode.POLICY),
    (NotFound("no_such_deal", "x"), 404, "no_such_deal", False, None, CloseCode.POLICY),
    (MethodNotAllowed("method_not_allowed", "x"), 405, "method_not_allowed", False, None, CloseCode.POLICY),
    (RequestTimeout("request_timeout", "x"), 408, "request_timeout", False, None, CloseCode.POLICY),
    (Conflict("deal_closed", "x"), 409, "deal_closed", False, None, CloseCode.POLICY),
    (InProgress("idempotency_in_progress", "x"), 409, "idempotency_in_progress", True, None,
     CloseCode.POLICY),
    (TooLarge("x"), 413, "too_large", False, None, CloseCode.TOO_BIG),
    (TooLarge("x", "too_many_events"), 413, "too_many_events", False, None, CloseCode.TOO_BIG),
    (RequestLineTooLong("request_line_too_long", "x"), 414, "request_line_too_long", False, None,
     CloseCode.POLICY),
    (RateLimited(0.2), 429, "rate_limited", True, "1", CloseCode.POLICY),
    (RateLimited(2.6), 429, "rate_limited", True, "3", CloseCode.POLICY),
    (TooManyConnections(8), 429, "too_many_connections", True, "10", CloseCode.POLICY),
    (Busy("x", 20), 503, "busy", True, "20", CloseCode.TRY_AGAIN),
    (Busy("too many batches waiting"), 503, "busy", True, None, CloseCode.TRY_AGAIN),
    (StoreUnavailable("redis said no"), 503, "unavailable", True, "1", CloseCode.TRY_AGAIN),
    (Internal(), 500, "internal", True, None, CloseCode.SERVER_ERROR),
    (KeyError("a bug"), 500, "internal", True, None, CloseCode.SERVER_ERROR),
]


@pytest.mark.parametrize(("exc", "status", "code", "temporary", "retry_after", "close"), TABLE,
                         ids=[f"{type(row[0]).__name__}-{row[2]}" for row in TABLE])
def test_every_error_has_one_status_code_temporary_flag_and_close(
        exc: BaseException, status: int, code: str, temporary: bool, retry_after: str | None,
        close: CloseCode) -> None:
    wire = wire_error(exc)
    assert (wire.status, wire.code, wire.temporary, wire.close) == (status, code, temporary, close)
    assert wire.headers() == ({} if retry_after is None else {"Retry-After": retry_after})
    assert wire.body() == {"error": code, "detail": wire.detail, "temporary": temporary}
    assert wire.detail and isinstance(wire.detail, str)


def test_the_error_frame_carries_req_and_retry_after_only_when_there_are_some() -> None:
    assert wire_error(BadRequest("bad_field", "text must be 1-4096 characters")).frame() == {
        "type": "error", "error": "bad_field", "detail": "text must be 1-4096 characters", "temporary": False}
    assert wire_error(RateLimited(0.9954)).frame("s6") == {
        "type": "error", "error": "rate_limited", "detail": "too many requests, retry after 1.0 s",
        "temporary": True, "req": "s6", "retry_after": 0.995}
    assert wire_error(StoreUnavailable("x")).frame(7)["retry_after"] == 1


def test_the_store_outage_says_the_same_everywhere_and_fits_a_close_reason() -> None:
    detail = wire_error(StoreUnavailable("connection refused")).detail
    assert "connection refused" not in detail  # the store's message is for logs
    assert len(detail.encode()) <= 123  # a websocket close reason's limit


def test_close_codes_are_temporary_terminal_or_normal() -> None:
    for code in CloseCode:
        assert [code.temporary, code.terminal].count(True) == (0 if code is CloseCode.NORMAL else 1), code
        assert code.meaning
    assert {c for c in CloseCode if c.temporary} == {1001, 1011, 1012, 1013, 4000}


def test_the_python_client_resumes_after_the_temporary_closes_and_1006() -> None:
    assert RESUMABLE == {1001, 1006, 1011, 1012, 1013, 4000}


@pytest.mark.parametrize(("status", "answer", "temporary"), [
    (503, {"error": "busy", "detail": "x", "temporary": True}, True),
    (429, {"error": "rate_limited", "detail": "x", "temporary": True}, True),
    (409, {"error": "idempotency_in_progress", "detail": "x", "temporary": True}, True),
    (400, {"error": "bad_field", "detail": "x", "temporary": False}, False),
    (409, {"ok": False, "reason": "sold_out"}, False),
    (503, None, True),  # not livecart's answer (a balancer's): 5xx and 429 are worth another try
    (502, {"error": "bad gateway"}, True),
    (404, None, False),
])
def test_the_python_client_reads_temporary_from_the_answer(status: int, answer: object,
                                                             temporary: bool) -> None:
    assert _temporary(status, answer) is temporary


def test_the_browser_close_code_table_is_generated_from_the_servers() -> None:
    assert js_tables.TARGET.read_text() == js_tables.close_codes_js(), (
        "client_web/lib/close_codes.js is stale: run `python -m livecart.js_tables`")
