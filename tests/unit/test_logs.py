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


def test_serve_prints_page_tokens_only_when_asked_and_masks_redis_passwords(tmp_path, capsys):
    from livecart.cli import _print_urls
    from livecart.config import Settings

    settings = Settings.from_env({}, {"secret": "s", "data_dir": str(tmp_path),
                                      "redis_url": "redis://app:hunter2@10.0.0.5:6379/0"})
    _print_urls(settings, 8080, with_tokens=False)  # stdout not a terminal, no --print-urls: a log
    out = capsys.readouterr().out
    assert "livecart serving on http://127.0.0.1:8080" in out and "app:***@10.0.0.5" in out
    assert "token=" not in out and "hunter2" not in out
    _print_urls(settings, 8080, with_tokens=True)
    out = capsys.readouterr().out
    assert "/console?room=demo&token=" in out and "hunter2" not in out


def test_passwords_in_redis_urls_are_masked():
    from livecart.config import mask_password

    assert mask_password("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_password("rediss://user:secret@[::1]:6380") == "rediss://user:***@[::1]:6380"
    assert mask_password("unix:///tmp/r.sock?db=1&password=x") == "unix:///tmp/r.sock?db=1&password=***"
    assert mask_password("redis://h:1/0") == "redis://h:1/0"


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
