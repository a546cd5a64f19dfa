"""Log lines are JSON objects that name the node, and the room and connection where there is one."""

from __future__ import annotations

import logging

import orjson

from livecart import logs


def test_a_log_line_is_one_json_object_with_its_context():
    record = logging.LogRecord("livecart.ws", logging.INFO, __file__, 1, "closing socket: %s", ("slow",),
                               None)
    record.room, record.conn, record.code = "demo", "7f3a", 1013
    line = orjson.loads(logs.JsonFormatter("node-a").format(record))
    assert (line["msg"], line["level"], line["logger"]) == ("closing socket: slow", "info", "livecart.ws")
    assert (line["node"], line["room"], line["conn"], line["code"]) == ("node-a", "demo", "7f3a", 1013)


def test_context_is_left_out_where_there_is_none():
    record = logging.LogRecord("livecart.node", logging.WARNING, __file__, 1, "hello", (), None)
    assert set(orjson.loads(logs.JsonFormatter().format(record))) == {"ts", "level", "logger", "msg"}
