"""CPU seconds of a local process and its descendants, from /proc (Linux): the server's side of a run.

With `--server-pid` the tool reports the node's CPU next to its own, so a reader can tell which side
was the limit. A node with its embedded redis-server counts both, as the shared bench does.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` and every process below it, or None when it is not running."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        child = int(entry.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / _TICK
    if pid not in times:
        return None
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += times.get(p, 0.0)
        todo.extend(c for c, parent in parents.items() if parent == p)
    return total
