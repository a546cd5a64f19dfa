"""Where a node's memory goes when big comments flow toward a client that never reads (issue 13, point 5).

Not a test: a measurement to run by hand, printing the node's RSS growth and the top tracemalloc sites
at its peak. The node runs in its own process (so the clients' memory is not counted), under
tracemalloc, and writes its peak snapshot's top sites to a file when it gets SIGUSR2.

    .venv/bin/python -m tests.reliability.memory_probe [--posts 240] [--comments 100] [--size 4096]

tests/reliability/test_memory.py checks the same scenario's outcome (RSS growth, every comment once
to the fast reader) without tracemalloc.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

from tests.reliability.memory_scenario import run_scenario
from tests.support import RedisProcess, free_port

# Run inside the node's process: tracemalloc from the start, a sampler thread that keeps the snapshot
# taken at the highest traced total, and SIGUSR2 writing that snapshot's top sites to a file.
BOOT = """
import os, signal, sys, threading, time, tracemalloc
tracemalloc.start(int(os.environ.get("PROBE_FRAMES", "1")))
best = [0, None]
timeline = []
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
def sample():
    while True:
        current, _ = tracemalloc.get_traced_memory()
        timeline.append((time.monotonic(), rss(), current))
        if current > best[0]:
            best[0], best[1] = current, tracemalloc.take_snapshot()
        time.sleep(0.25)
threading.Thread(target=sample, daemon=True).start()
def dump(*_):
    with open(os.environ["PROBE_OUT"], "w") as out:
        out.write(f"peak traced: {best[0] / 2**20:.1f} MiB\\n")
        for t, r, c in timeline[::8]:
            out.write(f"  t={t - timeline[0][0]:6.1f}s rss={r / 2**20:7.1f} MiB "
                      f"traced={c / 2**20:7.1f} MiB\\n")
        if best[1] is not None:
            for stat in best[1].statistics("lineno")[:15]:
                out.write(f"{stat.size / 2**20:8.1f} MiB {stat.count:7d} blocks  {stat.traceback}\\n")
signal.signal(signal.SIGUSR2, dump)
from livecart.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def probe(posts: int, comments: int, size: int, trace: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="livecart-memory-"))
    redis = RedisProcess(workdir / "redis", appendonly=False)
    redis.start()
    out = workdir / "tracemalloc.txt"
    port = free_port()
    env = dict(os.environ, LIVECART_SECRET="test-secret", PROBE_OUT=str(out))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *(["-c", BOOT] if trace else ["-m", "livecart"]), "serve", "--workers", "1",
        "--port", str(port), "--redis-url", redis.url, "--data-dir", str(workdir / "node"),
        stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        while not (await proc.stdout.readline()).startswith(b"  host:"):
            pass
        result = await run_scenario(port, proc.pid, posts=posts, comments=comments, size=size,
                                    slow=not os.environ.get("PROBE_NO_SLOW"))
        print(result)
        print(f"RSS growth: {result.growth_mb:.1f} MB")
        if trace:
            os.kill(proc.pid, signal.SIGUSR2)
            for _ in range(120):
                await asyncio.sleep(1)
                if out.exists() and out.stat().st_size:
                    await asyncio.sleep(1)
                    break
            print(out.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=240)
    parser.add_argument("--comments", type=int, default=100)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--trace", action="store_true", help="run the node under tracemalloc")
    args = parser.parse_args()
    asyncio.run(probe(args.posts, args.comments, args.size, args.trace))


if __name__ == "__main__":
    main()
