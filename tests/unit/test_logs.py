"""Log lines are JSON objects that name the node, and the room and connection where there is one."""

from __future__ import annotations

import logging

import orjson

from livecart import logs


def test_a_log_line_is_one_json_object_with_its_context():
    logs.set_node("node-a")
    try:
        record = logging.LogRecord("livecart.ws", logging.INFO, __file__, 1, "closing socket: %s", ("slow",),
                                   None)
        record.room, record.conn, record.code = "demo", "7f3a", 1013
        line = orjson.loads(logs.JsonFormatter().format(record))
    finally:
        logs.set_node("")
    assert (line["msg"], line["level"], line["logger"]) == ("closing socket: slow", "info", "livecart.ws")
    assert (line["node"], line["room"], line["conn"], line["code"]) == ("node-a", "demo", "7f3a", 1013)


def test_context_is_left_out_where_there_is_none():
    record = logging.LogRecord("livecart.node", logging.WARNING, __file__, 1, "hello", (), None)
    assert set(orjson.loads(logs.JsonFormatter().format(record))) == {"ts", "level", "logger", "msg"}


def test_a_request_aiohttp_could_not_parse_is_one_info_line_not_an_error_with_a_traceback():
    import logging

    from aiohttp.http_exceptions import BadHttpMessage

    logs.quiet_bad_requests()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    server_log = logging.getLogger("aiohttp.server")
    keep = Keep()
    server_log.addHandler(keep)
    try:
        try:
            raise BadHttpMessage("Invalid char in url path")
        except BadHttpMessage:
            server_log.exception("Error handling request from %s", "127.0.0.1")
        try:
            raise RuntimeError("a real bug")
        except RuntimeError:
            server_log.exception("Error handling request from %s", "127.0.0.1")
    finally:
        server_log.removeHandler(keep)
    assert seen[0].levelno == logging.INFO and seen[0].exc_info is None
    assert "Invalid char" in seen[0].getMessage()
    assert seen[1].levelno == logging.ERROR and seen[1].exc_info is not None  # bugs still shout
