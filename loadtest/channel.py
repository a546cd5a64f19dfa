"""A pipe between the conductor and a worker process, read by a thread, delivered to the event loop.

Not `loop.add_reader(conn.fileno())`: libuv makes a polled descriptor non-blocking, and a pickled
message read or written half-way on a non-blocking pipe raises BlockingIOError and corrupts the
stream. A blocking reader thread keeps the pipe as multiprocessing expects it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Channel"]


class Channel:
    def __init__(self, conn: Connection, on_message: Callable[[Any], None]) -> None:
        self.conn = conn
        self.loop = asyncio.get_running_loop()
        self.on_message = on_message
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True, name="loadtest-channel")
        self.thread.start()

    def send(self, message: Any) -> None:
        with self.lock:
            self.conn.send(message)

    def _read(self) -> None:
        while True:
            try:
                message: Any = self.conn.recv()
            except (EOFError, OSError) as exc:
                message = EOFError(f"the other end went away: {exc}")
            try:
                self.loop.call_soon_threadsafe(self.on_message, message)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return
            if isinstance(message, EOFError):
                return
