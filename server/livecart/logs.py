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

__all__ = ["JsonFormatter", "configure_logging"]


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


def configure_logging(level: int = logging.INFO, node: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The websockets library logs every connection open/close at INFO: thousands of lines per minute.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
