"""Where an idle socket's bytes and a connect's CPU go (issue 16, points 2 and 3).

Not a test: a measurement to run by hand. It starts `livecart serve --workers 1` with its embedded
redis-server (as `loadtest/bench_peers.sh` does), opens `--clients` room sockets from a second process
(raw websocket handshakes, `--concurrency` in flight, like shared/bench's fanout.js), waits, and prints:

- the connect phase's wall time and the node's CPU per connect (node and its redis-server, from /proc);
- RSS growth per socket of the node and of its redis-server, as the bench counts them (the sum);
- Redis `used_memory` growth and the keys it holds;
- with `--trace`: the node under tracemalloc, the Python-traced growth per socket by allocation site,
  and the growth in live objects per type (gc);
- with `--profile`: cProfile of the node over the connect phase, top functions by own time.

    .venv/bin/python -m tests.reliability.idle_probe [--clients 8000] [--trace] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

# Runs inside the node: SIGUSR1 marks the start (a tracemalloc snapshot, live objects per type, a
# profiler started), SIGUSR2 writes what grew since to PROBE_OUT.
BOOT = """
import collections, gc, os, signal, sys, tracemalloc
trace = os.environ.get("PROBE_TRACE") == "1"
profile = os.environ.get("PROBE_PROFILE") == "1"
state = {}
def types():
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())
def mark(*_):
    if trace:  # traced from here: what the sockets allocate, not the node's start
        tracemalloc.start(int(os.environ.get("PROBE_FRAMES", "1")))
        state["snap"], state["types"] = tracemalloc.take_snapshot(), types()
    if profile:
        import cProfile
        state["prof"] = cProfile.Profile()
        state["prof"].enable()
def dump(*_):
    with open(os.environ["PROBE_OUT"] + ".tmp", "w") as out:
        if profile and "prof" in state:
            import pstats
            state["prof"].disable()
            stats = pstats.Stats(state["prof"], stream=out)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(45)
        if trace and "snap" in state:
            n = int(os.environ["PROBE_N"])
            snap = tracemalloc.take_snapshot()
            diff = snap.compare_to(state["snap"], "lineno")
            total = sum(d.size_diff for d in diff)
            out.write(f"traced growth: {total / n:.0f} B per socket\\n")
            for d in diff[:30]:
                out.write(f"{d.size_diff / n:8.0f} B {d.count_diff / n:6.2f} blocks  {d.traceback}\\n")
            now = types()
            out.write("live objects per socket (growth by type):\\n")
            for name, count in sorted(((k, now[k] - state["types"].get(k, 0)) for k in now),
                                      key=lambda kv: -kv[1])[:25]:
                out.write(f"{count / n:8.2f}  {name}\\n")
    os.rename(os.environ["PROBE_OUT"] + ".tmp", os.environ["PROBE_OUT"])
signal.signal(signal.SIGUSR1, mark)
signal.signal(signal.SIGUSR2, dump)
from livecart.cli import main
sys.exit(main(sys.argv[1:]))
"""

CLIENT = """
import asyncio, base64, os, sys, time
host, port, path, n, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
class Conn(asyncio.Protocol):
    def __init__(self, done):
        self.done, self.head = done, b""
    def connection_made(self, t):
        key = base64.b64encode(os.urandom(16)).decode()
        t.write((f"GET {path} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nUpgrade: websocket\\r\\n"
                 f"Connection: Upgrade\\r\\nSec-WebSocket-Key: {key}\\r\\n"
                 "Sec-WebSocket-Version: 13\\r\\n\\r\\n").encode())
    def data_received(self, data):
        if self.done.done():
            return
        self.head += data
        if b"\\r\\n\\r\\n" in self.head:
            self.done.set_result(self.head.startswith(b"HTTP/1.1 101"))
    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(False)
async def main():
    loop = asyncio.get_running_loop()
    sem, ok, keep = asyncio.Semaphore(conc), [0, 0], []
    async def one():
        async with sem:
            done = loop.create_future()
            t, _ = await loop.create_connection(lambda: Conn(done), host, port)
            keep.append(t)
            ok[0 if await done else 1] += 1
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    print(f"{time.perf_counter() - started:.3f} {ok[0]} {ok[1]}", flush=True)
    sys.stdin.readline()  # hold the sockets until told
try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def settled(pid: int) -> None:
    """Until the node's RSS stops growing (it warms jieba's dictionary in a thread at start)."""
    last = rss_kb(pid)
    while True:
        await asyncio.sleep(1.0)
        now = rss_kb(pid)
        if abs(now - last) < 512:
            return
        last = now


def redis_info(sock: Path) -> tuple[int, int]:
    out = subprocess.run(["redis-cli", "-s", str(sock), "info", "memory"], capture_output=True, text=True,
                         check=True).stdout
    used = next(int(x.split(":")[1]) for x in out.splitlines() if x.startswith("used_memory:"))
    keys = subprocess.run(["redis-cli", "-s", str(sock), "dbsize"], capture_output=True, text=True,
                          check=True).stdout
    return used, int(keys)


async def probe(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="livecart-idle-"))
    out = work / "probe.txt"
    port = args.port or 20000 + os.getpid() % 5000
    env = dict(os.environ, LIVECART_SECRET="probe-secret", PROBE_OUT=str(out), PROBE_N=str(args.clients),
               PROBE_TRACE="1" if args.trace else "0", PROBE_PROFILE="1" if args.profile else "0")
    token, node = start_node(env, port, work, args.cpu)
    try:
        await asyncio.sleep(1.0)
        redis_pid = child_of(node.pid)
        sock = next((work / "node").rglob("*.sock"))
        # one socket first: the room is open and the first snapshot read, as in the bench's warm node
        path = f"/ws/rooms/bench?token={token}"
        warm, _ = await start_clients(port, path, 1, 1, args.client_cpu)
        await settled(node.pid)
        node_rss0, redis_rss0 = rss_kb(node.pid), rss_kb(redis_pid)
        used0, keys0 = redis_info(sock)
        fanout0 = fanout_s(port)
        node_cpu0, redis_cpu0 = cpu_s(node.pid), cpu_s(redis_pid)
        os.kill(node.pid, signal.SIGUSR1)
        await asyncio.sleep(0.5 if not args.trace else 3.0)
        client, line = await start_clients(port, path, args.clients, args.concurrency, args.client_cpu)
        wall, ok, failed = line.split()
        node_cpu, redis_cpu = cpu_s(node.pid) - node_cpu0, cpu_s(redis_pid) - redis_cpu0
        fanout = fanout_s(port) - fanout0
        await asyncio.sleep(args.settle)
        node_cpu_all, redis_cpu_all = cpu_s(node.pid) - node_cpu0, cpu_s(redis_pid) - redis_cpu0
        node_rss, redis_rss = rss_kb(node.pid), rss_kb(redis_pid)
        used, keys = redis_info(sock)
        n = int(ok)
        print(f"connected {ok} (failed {failed}) in {wall} s: {n / float(wall):.0f}/s")
        print(f"CPU during connect: node {node_cpu * 1e6 / n:.0f} µs + redis {redis_cpu * 1e6 / n:.0f} µs "
              f"per connect; incl. {args.settle:g} s settle: node {node_cpu_all * 1e6 / n:.0f} + redis "
              f"{redis_cpu_all * 1e6 / n:.0f} µs")
        both = (node_rss + redis_rss - node_rss0 - redis_rss0) / n
        # The viewer-count frames to every socket joined so far cost more the longer the connect phase
        # lasts (a slow client): a connect's own CPU leaves that fan-out out.
        print(f"  of which fan-out of state frames (livecart_tick_seconds): {fanout * 1e6 / n:.0f} µs; "
              f"the connect itself: node {(node_cpu - fanout) * 1e6 / n:.0f} µs")
        print(f"RSS per socket: node {(node_rss - node_rss0) / n * 1024:.0f} B + redis "
              f"{(redis_rss - redis_rss0) / n * 1024:.0f} B = {both:.2f} KB "
              f"(node {node_rss0 / 1024:.1f} -> {node_rss / 1024:.1f} MB)")
        print(f"redis used_memory per socket: {(used - used0) / n:.1f} B; keys {keys0} -> {keys}")
        if args.trace or args.profile:
            os.kill(node.pid, signal.SIGUSR2)
            for _ in range(300):
                await asyncio.sleep(0.5)
                if out.exists():
                    break
            print(out.read_text())
        for clients in (client, warm):
            assert clients.stdin is not None
            clients.stdin.close()
            await clients.wait()
    finally:
        stop(node)


def start_node(env: dict[str, str], port: int, work: Path, cpu: str | None
               ) -> tuple[str, subprocess.Popen[bytes]]:
    """A viewer token for room `bench`, and `livecart serve` (under BOOT) once it serves."""
    token = subprocess.run([sys.executable, "-m", "livecart", "token", "--room", "bench", "--role", "viewer"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    cmd = [sys.executable, "-c", BOOT, "serve", "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(work / "node")]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    node = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert node.stdout is not None
    while not (line := node.stdout.readline()).startswith(b"livecart serving on"):
        if not line:
            raise SystemExit("the node did not start")
    return token, node


def fanout_s(port: int) -> float:
    """Seconds the node spent fanning batches out (its `livecart_tick_seconds` sum)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("livecart_tick_seconds_sum"))


def child_of(pid: int) -> int:
    """The node's embedded redis-server."""
    return int(subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()[0])


def stop(node: subprocess.Popen[bytes]) -> None:
    node.send_signal(signal.SIGTERM)
    try:
        node.wait(timeout=20)
    except subprocess.TimeoutExpired:
        node.kill()


async def start_clients(port: int, path: str, n: int, conc: int, cpu: str | None
                        ) -> tuple[asyncio.subprocess.Process, str]:
    cmd = [sys.executable, "-c", CLIENT, "127.0.0.1", str(port), path, str(n), str(conc)]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode().strip()
    return proc, line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", default="0", help="taskset CPU list of the node ('' for none)")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--trace", action="store_true", help="tracemalloc and gc counts in the node")
    parser.add_argument("--profile", action="store_true", help="cProfile the node over the connects")
    args = parser.parse_args()
    args.cpu = args.cpu or None
    args.client_cpu = args.client_cpu or None
    asyncio.run(probe(args))


if __name__ == "__main__":
    main()
