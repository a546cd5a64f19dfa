"""A node's stop ends its background loops even when a cancel is lost on the way: Python 3.11's
asyncio.wait_for (redis-py sends every command under one) drops a cancel that arrives just as the
command's write completes, and the loop then goes on as if it had never been cancelled."""

from __future__ import annotations

import asyncio
import contextlib

from livecart.shutdown import cancel_and_wait


async def test_a_loop_that_lost_its_cancel_is_cancelled_again_and_ends():
    lost = 0

    async def loop_that_swallows_one_cancel() -> None:
        nonlocal lost
        with contextlib.suppress(asyncio.CancelledError):  # as 3.11's wait_for does, at the wrong moment
            await asyncio.sleep(3600)
        lost += 1
        await asyncio.Event().wait()  # the loop's next pass, which nothing ends but a cancel

    plain = asyncio.create_task(asyncio.sleep(3600))
    swallower = asyncio.create_task(loop_that_swallows_one_cancel())
    await asyncio.sleep(0)
    # The bound is far beyond the test's patience: a single cancel would leave the task running to it.
    await asyncio.wait_for(cancel_and_wait([plain, swallower], 600), 60)
    assert lost == 1
    assert plain.cancelled() and swallower.cancelled()


async def test_a_task_that_will_not_end_is_given_up_on_at_the_timeout():
    stop = False

    async def stubborn() -> None:
        while not stop:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], 0.2), 60)  # returns: a stop never hangs on it
    assert not task.done()
    stop = True
    await task
