"""The raw Redis limit of livecart's own claim script, measured with `redis-benchmark`.

What one Redis core can do before any node, socket or Python is involved: a throwaway `redis-server`
on a free loopback port, the node's exact claim script (store/scripts/lib.lua + claim.lua), a deal
with plentiful stock, and `redis-benchmark` (50 clients, no pipelining) calling it with one claim per
call (the worst case) and with `batch` claims per call (a node sends a loop pass's claims of a room as
one call). `deal-rush --redis-limit` runs it after the rush and puts it in the result next to the
node's figure; `python -m loadtest.redis_limit` runs it alone.

With two or more cores the server is pinned to CPU 0 and redis-benchmark to CPU 1 (`taskset`), so
the benchmark client does not take the server's core.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any

from livecart.store.redis_client import lua_source

__all__ = ["available", "measure"]

PREFIX, DEAL = "lc:{bench}:", "d1"


def available() -> bool:
    return all(shutil.which(tool) for tool in ("redis-server", "redis-cli", "redis-benchmark"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pinned(cpu: int, argv: list[str]) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def _script_source() -> str:
    return lua_source("claim.lua", with_lib=True)  # exactly what the node loads (store/deal_store.py)


def measure(batch: int = 32, calls: int = 100_000, clients: int = 50) -> dict[str, Any]:
    """{"one_per_call": claims/s, "batched": claims/s, "batch": batch, ...}: raises RuntimeError when a
    tool is missing or the server does not start."""
    if not available():
        raise RuntimeError("redis-server, redis-cli and redis-benchmark are needed (Debian: redis-server, "
                           "redis-tools)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="livecart-redis-limit-") as workdir:
        server = subprocess.Popen(
            _pinned(0, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", workdir, "--logfile", ""]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
            for _ in range(100):
                if subprocess.run([*cli, "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the throwaway redis-server did not start")
            sha = subprocess.run([*cli, "-x", "script", "load"], input=_script_source(), capture_output=True,
                                 text=True, check=True).stdout.strip()
            deal = f"{PREFIX}deal:{DEAL}"
            subprocess.run([*cli, "hset", deal, "id", DEAL, "status", "open", "starts_at", "0",
                            "ends_at", "99999999999999", "limit_per_user", "1000000000", "left", "1000000000",
                            "stock", "1000000000", "held", "0", "sold", "0", "deal_price_cents", "100"],
                           capture_output=True, check=True)
            result: dict[str, Any] = {"batch": batch, "clients": clients, "pipelining": 1}
            for name, per_call in (("one_per_call", 1), ("batched", batch)):
                claims: list[str] = []
                for _ in range(per_call):
                    claims += [DEAL, "user:__rand_int__", "1", "key:__rand_int__", "claim:__rand_int__"]
                n = max(1000, calls // per_call)
                out = subprocess.run(
                    _pinned(1, ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients),
                                "-n", str(n), "-r", "1000000000", "-q", "EVALSHA", sha, "1",
                                f"{PREFIX}deals", PREFIX, f"{PREFIX}ch", "PUBLISH", "300000", *claims]),
                    capture_output=True, text=True, check=True).stdout
                rates = re.findall(r"([0-9.]+) requests per second", out.replace("\r", "\n"))
                if not rates:
                    raise RuntimeError(f"redis-benchmark printed no rate: {out[-300:]!r}")
                result[name] = round(float(rates[-1]) * per_call)
            held = subprocess.run([*cli, "hget", deal, "held"], capture_output=True, text=True).stdout.strip()
            result["claims_held"] = int(held or 0)  # proof the script claimed (each call holds its units)
            return result
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.redis_limit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="claims per call in the batched run")
    parser.add_argument("--calls", type=int, default=300_000, help="claims to send in each run")
    args = parser.parse_args()
    r = measure(args.batch, args.calls)
    print(f"claim.lua on one Redis core: {r['one_per_call']:,} claims/s with one claim per call, "
          f"{r['batched']:,} claims/s with {r['batch']} per call (redis-benchmark, {r['clients']} clients)")


if __name__ == "__main__":
    main()
