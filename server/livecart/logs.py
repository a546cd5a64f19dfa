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

__all__ = ["configure_logging", "set_node"]

NODE_ID = ""  # every line names the node that wrote it (several nodes log into one place)


def set_node(node_id: str) -> None:
    global NODE_ID
    NODE_ID = node_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        if NODE_ID:
            entry["node"] = NODE_ID
        for key in ("room", "conn", "code", "client"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The websockets library logs every connection open/close at INFO: thousands of lines per minute.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
