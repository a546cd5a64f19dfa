"""Structured logs: one JSON object per line on stderr, via the standard library.

We use stdlib logging with a small JSON formatter rather than structlog: livecart logs per room and per
connection event, never per delivered frame, so the formatter's cost does not matter, and one fewer
dependency does.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson
from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["JsonFormatter", "configure_logging", "quiet_bad_requests"]


class JsonFormatter(logging.Formatter):
    """`node`: every line names the node that wrote it (several nodes log into one place). Given to the
    formatter of a process's handler, not kept in a global: nodes started in one process (the tests)
    would otherwise leave their id on every later line."""

    def __init__(self, node: str = "") -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        if self.node:
            entry["node"] = self.node
        for key in ("room", "conn", "code", "client"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class _BadRequestLine(logging.Filter):
    """aiohttp logs every request it cannot parse at ERROR with a traceback, though it answers the
    client 400: bad input from outside, not a fault of the node. One info line says what it was."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args, record.exc_info = "bad HTTP request answered %s: %s", (
                exc.code, str(exc.message)[:200]), None
        return True


def quiet_bad_requests() -> None:
    """Install the filter above on aiohttp's server logger (once)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _BadRequestLine) for f in server_log.filters):
        server_log.addFilter(_BadRequestLine())


def configure_logging(level: int = logging.INFO, node: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The websockets library logs every connection open/close at INFO: thousands of lines per minute.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    quiet_bad_requests()
    logging.Formatter.converter = time.gmtime
