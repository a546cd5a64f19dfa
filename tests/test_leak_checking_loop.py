"""The suite's event loop (conftest.LeakCheckingLoop): a handle left open fails its test, never hangs the run.

The hang it replaces: uvloop's close() warns ResourceWarning for each handle still open *before* closing
it, inside a callback that cannot raise. With warnings turned into errors (this suite's
`filterwarnings = error`, or `python -W error`) the handle is never closed and close() waits in epoll for
it forever. The first test shows that on plain uvloop, in a child process; when it starts to fail, uvloop
has fixed it and LeakCheckingLoop can go.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import uvloop

from tests.conftest import LeakCheckingLoop

LEAK = textwrap.dedent("""
    import asyncio, sys, warnings
    import uvloop
    warnings.simplefilter("error")
    loop = uvloop.new_event_loop()

    async def leave_a_connection_open():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        return server, await asyncio.open_connection("127.0.0.1", port)

    kept = loop.run_until_complete(leave_a_connection_open())
    print("closing", flush=True)
    loop.close()
    print("closed", flush=True)
""")


# epoll_wait and epoll_pwait's numbers (the timeout is their 4th argument), by machine.
EPOLL_WAITS = {"x86_64": {232, 281}, "aarch64": {22}}


def waits_forever(pid: int) -> bool:
    """Whether process `pid` is blocked in an epoll wait without a timeout, read from /proc."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return False
    if len(fields) < 5 or fields[0] == "running" or int(fields[0]) not in EPOLL_WAITS[platform.machine()]:
        return False
    return int(fields[4], 16) & 0xFFFFFFFF == 0xFFFFFFFF  # an int timeout of -1: forever


def test_plain_uvloop_under_warnings_as_errors_never_returns_from_close():
    child = subprocess.Popen([sys.executable, "-c", LEAK], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "closing\n"
        if EPOLL_WAITS.get(platform.machine()) and os.path.exists(f"/proc/{child.pid}/syscall"):
            # The hang itself, seen at once: close() blocked in an epoll wait with no timeout (-1),
            # for handles it will never close. (10 s is only a bound on failure.)
            deadline = time.monotonic() + 10
            while not waits_forever(child.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert waits_forever(child.pid), "close() is not blocked in an untimed epoll wait"
            assert child.poll() is None
        else:  # no /proc/PID/syscall to look at: a close that works takes microseconds, 10 s is a hang
            with pytest.raises(subprocess.TimeoutExpired):
                child.wait(10)
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()


def test_a_handle_left_open_fails_the_test_by_name_and_the_loop_still_closes():
    loop = LeakCheckingLoop()

    async def leave_a_connection_open() -> object:
        # A plain protocol on the server's side: a stream there would make a StreamWriter that the loop's
        # close leaves to the garbage collector, whose warning then lands in whichever test runs then.
        server = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        return server, await asyncio.open_connection("127.0.0.1", port)

    kept = loop.run_until_complete(leave_a_connection_open())
    try:
        # (?s): in asyncio's debug mode each leak also carries where it was made, over several lines.
        with pytest.raises(AssertionError, match=r"(?s)TCPTransport.*StreamReaderProtocol sockname=") as info:
            loop.close()
        assert "TCPServer" in str(info.value)
        assert loop.is_closed()
    finally:
        with warnings.catch_warnings():  # the streams, collected after their loop closed, warn once more
            warnings.simplefilter("ignore", ResourceWarning)
            del kept
            gc.collect()


def test_a_loop_with_nothing_left_open_closes_quietly():
    loop = LeakCheckingLoop()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def open_and_close() -> None:
        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(open_and_close())
    loop.close()
    assert loop.is_closed() and isinstance(loop, uvloop.Loop)
