"""The managed redis-server behind `livecart serve` without --redis-url.

We use Debian's `redis-server` found on PATH (the README's set-up command installs it): a maintained,
security-patched Redis 7 build, instead of a pip package that bundles an old binary or compiles one.
It listens on a unix socket inside the data dir (no TCP port at all when the path fits), keeps an
append-only file there, is restarted if it dies, and is stopped when livecart stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
from pathlib import Path

import redis.asyncio as aioredis

__all__ = ["EmbeddedRedis", "die_with_parent"]

log = logging.getLogger("livecart.redis")
MAX_UNIX_PATH = 100  # sun_path is 108 bytes on Linux
READY_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1


class EmbeddedRedis:
    def __init__(self, data_dir: Path, binary: str = "redis-server", maxmemory: str = "1gb") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.binary = binary
        # noeviction: at the limit writes fail (StoreUnavailable-like errors, 503) instead of Redis
        # silently dropping keys, which could be a claim, a hold or a deal.
        self.maxmemory = maxmemory
        self._proc: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        sock = self.data_dir / "redis.sock"
        self._unix_path: str | None = str(sock) if len(str(sock)) <= MAX_UNIX_PATH else None
        self._port = 0 if self._unix_path else _free_port()
        self.restarts = 0

    @property
    def url(self) -> str:
        if self._unix_path:
            return f"unix://{self._unix_path}"
        return f"redis://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        if shutil.which(self.binary) is None:
            raise RuntimeError(f"{self.binary} not found on PATH: install Debian's redis-server "
                               "(see README) or pass --redis-url")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="embedded-redis")

    async def _spawn(self) -> None:
        await _stop_orphan(self.data_dir)
        args = [self.binary, "--pidfile", str(self.data_dir / "redis.pid"),
                "--port", str(self._port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--daemonize", "no", "--loglevel", "warning", "--logfile", str(self.data_dir / "redis.log"),
                "--protected-mode", "yes", "--maxmemory", self.maxmemory,
                "--maxmemory-policy", "noeviction"]
        if self._unix_path:
            _remove_stale(self._unix_path)
            args += ["--unixsocket", self._unix_path, "--unixsocketperm", "700"]
        self._proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent)
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        client = aioredis.Redis.from_url(self.url)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + READY_TIMEOUT_S
            while True:
                try:
                    # AOF loading answers LOADING errors until done; PING succeeds only once ready.
                    await client.ping()
                    return
                except Exception:
                    if self._proc is not None and self._proc.returncode is not None:
                        raise RuntimeError(f"redis-server exited ({self._proc.returncode}); "
                                           f"see {self.data_dir / 'redis.log'}") from None
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:  # set by stop() while we awaited
                return
            log.error("embedded redis-server exited with %s; restarting in %.1f s", code, backoff)
            await asyncio.sleep(backoff)
            self.restarts += 1  # counted when started: it may serve clients before _spawn sees it ready
            try:
                await self._spawn()
                backoff = 0.1
            except Exception:
                log.exception("embedded redis-server failed to restart")
                backoff = min(backoff * 2, 5.0)

    def stopping(self) -> None:
        """Say that a stop is coming: a redis-server exiting from now on (say, from a SIGTERM sent to
        the whole process group) is not a crash to restart."""
        self._stopping = True

    async def stop(self) -> None:
        self._stopping = True
        if self._watch:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._proc and self._proc.returncode is None:
            self._proc.terminate()  # redis flushes its AOF on SIGTERM
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _remove_stale(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


def die_with_parent() -> None:
    """In the child: get SIGTERM when livecart dies, even by SIGKILL, so no redis-server is orphaned."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the pidfile check below still catches an orphan on the next start


def _orphan_pid(data_dir: Path) -> int | None:
    """The pid of a redis-server still working in `data_dir` (from its pidfile), if there is one."""
    try:
        pid = int((data_dir / "redis.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (OSError, ValueError):
        return None
    # A reused pid (another program, or a redis-server elsewhere) is left alone.
    return pid if b"redis-server" in cmdline and Path(cwd) == data_dir else None


async def _stop_orphan(data_dir: Path) -> None:
    """Stop a redis-server left running on this data dir by a livecart that died, before starting ours:
    two servers on one append-only file would corrupt it."""
    pid = _orphan_pid(data_dir)
    if pid is None:
        return
    log.warning("stopping an orphaned redis-server (pid %s) on this data dir", pid)
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if _orphan_pid(data_dir) != pid:
            return
        await asyncio.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
