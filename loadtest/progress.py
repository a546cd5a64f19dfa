"""Live progress on stderr: one line a second (rewritten in place on a terminal), quiet when asked."""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        # Not a terminal (CI, a pipe): no progress unless a line per tick is wanted, which it is not.
        self.enabled = not quiet and self.tty
        self.shown = False

    def show(self, scenario: str, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        lat = row["latency_ms"]
        claims = row["claims"]
        cpu = row["worker_cpu_pct"]
        line = (f"{scenario} {row['t']:6.1f}s {row['phase']:<5} | sockets {row['connections']:>6}"
                f" | {_k(row['deliveries_per_s'])} deliveries/s | pub {row['published_per_s']}/s"
                f" | p50 {lat['p50']:.1f} p99 {lat['p99']:.1f} max {lat['max']:.0f} ms")
        if claims:
            line += f" | claims ok {claims.get('ok', 0)} refused {sum(claims.values()) - claims.get('ok', 0)}"
        line += (f" | errors {row['errors']} closes {row['closes']}"
                 f" | loader cpu {max(cpu, default=0):.0f}% max/worker")
        if row.get("server_cpu_pct") is not None:
            line += f" | node cpu {row['server_cpu_pct']:.0f}%"
        self.stream.write("\r\x1b[2K" + line)
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _k(n: float) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(round(n))
