"""`livecart serve --workers N`: N node processes on one port and one embedded redis-server, supervised.

A node is one Python process on one core; the workers let one `livecart serve` use every core. The
supervisor serves nothing itself:

- **The port.** It reserves the port with a socket bound with `SO_REUSEPORT` that never listens (the
  kernel hands connections only to listening sockets): this picks the port for `--port 0` and keeps it
  ours while a worker restarts. Each worker binds the same port with `SO_REUSEPORT`, so each has its own
  accept queue and the kernel spreads new connections over them by a hash of the addresses. (Handing
  the workers one listening socket instead would leave them racing for every accept: the busiest
  process tends to win, and a herd of reconnects lands on one core.) Before reserving, a plain bind
  checks that nothing listens there yet, so a second `livecart serve` on the port fails as it always
  did instead of quietly sharing it.
- **Redis.** Without `--redis-url` it starts the embedded redis-server once and gives every worker its
  URL (the unix socket); with one, every worker uses it.
- **The workers** are `python -m livecart serve ... --worker`, each with the node id `<node_id>-<slot>`
  (logs, director leases, presence). A worker prints `ready PORT` on its stdout (a pipe to us) once it
  listens; once all have, the supervisor prints the serving line and page URLs, once.
- **Restarts.** A worker that exits is started again in its slot, with its node id, after a backoff
  (`RestartBackoff`): 0.5 s, doubling while it keeps dying within 30 s of its start, up to 30 s; at the
  cap the log line is critical and it keeps trying every 30 s, so a crash loop costs one start every 30 s
  per slot, not a busy loop. A worker that never becomes ready at start-up stops the whole serve (exit
  1): that is a configuration error, not a crash.
- **Metrics.** With `--metrics-port P`, worker k answers /metrics and /healthz on P + k, and the
  supervisor its own /metrics (workers alive, worker restarts, embedded redis-server restarts) on P + N.
- **Stopping.** On SIGTERM or SIGINT it sends SIGTERM to every worker (each closes its sockets with 1001
  and stops as a lone node does), waits up to `shutdown_timeout_s` + 1 s, SIGKILLs what is left, stops
  the redis-server (which flushes its append-only file) and returns 0. Workers get SIGTERM from the
  kernel if the supervisor dies (`PR_SET_PDEATHSIG`), as the redis-server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from livecart.config import Settings
from livecart.metrics import SupervisorMetrics
from livecart.store.embedded import EmbeddedRedis, die_with_parent

__all__ = ["READY", "RestartBackoff", "Supervisor", "cores", "reserve_port"]

log = logging.getLogger("livecart.supervisor")
READY = "ready"  # the first line a worker prints on its stdout, with its port, once it listens
START_TIMEOUT_S = 60.0


def cores() -> int:
    """The cores this process may run on (its affinity mask, as `taskset` or a container's cpuset sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class RestartBackoff:
    """Pure: how long to wait before starting a worker again after it exited.

    Calling contract: call `delay(ran_for_s)` once per exit, with how long that run lasted; it returns
    the seconds to wait, and never raises. A run of `healthy_after_s` or more starts the series over at
    `first_s`; a worker that keeps dying sooner waits twice as long each time, up to `max_s`.
    `crash_looping` is true once the wait has reached `max_s`."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0, healthy_after_s: float = 30.0) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.healthy_after_s = healthy_after_s
        self._next = first_s
        self.last_s = 0.0

    def delay(self, ran_for_s: float) -> float:
        if ran_for_s >= self.healthy_after_s:
            self._next = self.first_s
        self.last_s = self._next
        self._next = min(self._next * 2, self.max_s)
        return self.last_s

    @property
    def crash_looping(self) -> bool:
        return self.last_s >= self.max_s


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT that never listens: it holds the port (picking
    a free one for port 0) for workers that bind it with SO_REUSEPORT. OSError when something already
    listens there."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as probe:  # fails like a lone node's bind would
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
        port = probe.getsockname()[1]
    held = socket.socket(family, kind, proto)
    try:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind((address[0], port, *address[2:]))
    except OSError:
        held.close()
        raise
    return held


class Supervisor:
    """Runs `count` workers of `livecart serve` (whose flags, as given, are `serve_args`) until a signal."""

    def __init__(self, settings: Settings, serve_args: Sequence[str], count: int) -> None:
        self.settings = settings
        self.serve_args = list(serve_args)  # "serve" and its flags: each worker gets them, then ours
        self.count = count
        self.port = 0
        self.redis_url = settings.redis_url
        self.embedded: EmbeddedRedis | None = None
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._started_at: dict[int, float] = {}
        self._stop = asyncio.Event()
        self._readers: set[asyncio.Task[None]] = set()

    @property
    def stopping(self) -> bool:
        """A signal came (or run() is ending): from now on a worker's exit is not a crash."""
        return self._stop.is_set()

    def node_id(self, slot: int) -> str:
        return f"{self.settings.node_id}-{slot}"

    async def run(self, announce: Callable[[int], None]) -> int:
        """Serve until SIGTERM/SIGINT; `announce(port)` once every worker listens. Returns the exit
        status: 0 after a stop, 1 when a worker could not start. OSError when the port is taken,
        RuntimeError when the embedded redis-server does not start."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        s = self.settings
        reservation = reserve_port(s.host, s.port)
        self.port = reservation.getsockname()[1]
        watchers: list[asyncio.Task[None]] = []
        starts: list[asyncio.Future[bool]] = []
        probe: web.AppRunner | None = None
        try:
            if self.redis_url is None:
                self.embedded = EmbeddedRedis(s.data_dir, s.redis_server, s.redis_maxmemory)
                if self.stopping:
                    self.embedded.stopping()
                await self.embedded.start()
                self.redis_url = self.embedded.url
            starts = [asyncio.ensure_future(self._start(slot)) for slot in range(self.count)]
            # The first worker that cannot start stops the serve, without waiting for the others to be
            # ready (each may take seconds on a loaded machine, up to START_TIMEOUT_S).
            for started in asyncio.as_completed(starts):
                if not await started and not self.stopping:
                    failed = [self.node_id(slot) for slot, task in enumerate(starts)
                              if task.done() and not task.result()]
                    print(f"livecart serve: worker {', '.join(failed)} did not start (its log is above)",
                          file=sys.stderr)
                    return 1
            watchers = [asyncio.create_task(self._watch(slot), name=f"worker-{slot}")
                        for slot in range(self.count)]
            if s.metrics_port:
                probe = await self._serve_metrics(s.host, s.metrics_port + self.count)
            if not self.stopping:
                announce(self.port)
            await self._stop.wait()
            log.info("stopping %d workers", self.count)
            return 0
        finally:
            self._on_signal()  # from here on, an exit is not a crash
            await self._stop_workers(watchers)
            # Starts still under way end as their workers exit (stopped above, or told to as they spawn).
            await asyncio.gather(*starts, return_exceptions=True)
            if probe is not None:
                await probe.cleanup()
            if self.embedded is not None:
                await self.embedded.stop()
            reservation.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _serve_metrics(self, host: str, port: int) -> web.AppRunner:
        """/metrics of the supervisor itself (worker and redis-server restarts), after the workers' ports."""
        metrics = SupervisorMetrics()

        async def get_metrics(_request: web.Request) -> web.Response:
            metrics.workers.set(sum(p.returncode is None for p in self.procs.values()))
            metrics.worker_restarts.set(self.restarts)
            metrics.redis_restarts.set(self.embedded.restarts if self.embedded else 0)
            return web.Response(body=metrics.render(), content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", get_metrics)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_address=True).start()
        return runner

    def _on_signal(self) -> None:
        self._stop.set()
        if self.embedded is not None:
            self.embedded.stopping()  # a SIGINT from the terminal reaches redis-server too: not a crash

    async def _spawn(self, slot: int) -> asyncio.Future[bool]:
        """Start the worker of `slot`; the future says whether it became ready (False: it exited first)."""
        assert self.redis_url is not None
        # The URL goes by the environment, not argv: a password in it would show in `ps`.
        env = dict(os.environ, LIVECART_NODE_ID=self.node_id(slot), LIVECART_REDIS_URL=self.redis_url)
        metrics_port = self.settings.metrics_port
        probe = ["--metrics-port", str(metrics_port + slot)] if metrics_port else []
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livecart", *self.serve_args, "--workers", "1", "--port", str(self.port),
            *probe, "--worker", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, env=env,
            preexec_fn=die_with_parent)
        self.procs[slot] = proc
        self._started_at[slot] = asyncio.get_running_loop().time()
        if self.stopping:  # a signal came while it was being started
            _send(proc, signal.SIGTERM)
        ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        reader = asyncio.create_task(self._read(proc, ready), name=f"worker-{slot}-stdout")
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        return ready

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, ready: asyncio.Future[bool]) -> None:
        # Its stdout is read to the end, so that the pipe never fills and closes with the process.
        assert proc.stdout is not None
        async for line in proc.stdout:
            if line.startswith(READY.encode()) and not ready.done():
                ready.set_result(True)
        if not ready.done():
            ready.set_result(False)

    async def _start(self, slot: int) -> bool:
        ready = await self._spawn(slot)
        try:
            return await asyncio.wait_for(ready, START_TIMEOUT_S)
        except TimeoutError:
            return False

    async def _watch(self, slot: int) -> None:
        """Start the slot's worker again whenever it exits, until the supervisor stops."""
        loop = asyncio.get_running_loop()
        backoff = RestartBackoff()
        while True:
            proc = self.procs[slot]
            code = await proc.wait()
            if self.stopping:
                return
            ran = loop.time() - self._started_at[slot]
            wait = backoff.delay(ran)
            log.log(logging.CRITICAL if backoff.crash_looping else logging.ERROR,
                    "worker %s (pid %s) exited with %s after %.1f s; restarting in %.1f s%s",
                    self.node_id(slot), proc.pid, code, ran, wait,
                    " (it keeps dying: see its log)" if backoff.crash_looping else "")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            if self._stop.is_set():  # (not `stopping`: mypy would take it for the value read above)
                return
            self.restarts += 1
            try:
                await self._spawn(slot)
            except OSError:  # fork failed (out of memory or processes): the next round tries again
                log.exception("worker %s could not be started", self.node_id(slot))

    async def _stop_workers(self, watchers: list[asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_timeout_s + 1.0
        for proc in self.procs.values():
            _send(proc, signal.SIGTERM)
        waits = [asyncio.ensure_future(p.wait()) for p in self.procs.values()]
        if waits:
            await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()))
        for proc in self.procs.values():
            if proc.returncode is None:
                log.error("worker pid %s did not stop in time: killed", proc.pid)
                _send(proc, signal.SIGKILL)
        if waits:
            await asyncio.wait(waits)
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, *self._readers, return_exceptions=True)


def _send(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
