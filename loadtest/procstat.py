"""CPU seconds and resident memory of a local process and its descendants, from /proc (Linux): the
server's side of a run.

With `--server-pid` the tool reports the node's CPU next to its own, so a reader can tell which side
was the limit. A node with its embedded redis-server counts both, as the shared bench does.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "rss_bytes"]

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` and every process below it, or None when it is not running."""
    times: dict[int, float] = {}
    parents = _processes(times)
    if pid not in times:
        return None
    return sum(times.get(p, 0.0) for p in _family(pid, parents))


def rss_bytes(pid: int) -> int | None:
    """Resident memory of `pid` and every process below it (a node with its embedded redis-server counts
    both, as the shared bench does), or None when it is not running."""
    times: dict[int, float] = {}
    parents = _processes(times)
    if pid not in times:
        return None
    total = 0
    for p in _family(pid, parents):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue  # gone meanwhile
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def _family(pid: int, parents: dict[int, int]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(c for c, parent in parents.items() if parent == p)
    return found


def _processes(times: dict[int, float]) -> dict[int, int]:
    """{pid: parent pid} of every process, filling `times` with each one's CPU seconds."""
    parents: dict[int, int] = {}
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
    return parents
