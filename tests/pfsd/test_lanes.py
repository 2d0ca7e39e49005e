"""Lane: items applied in order on one worker at a time, bounded waits, errors and close."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pfsd.store.lanes import Lane


def test_items_run_in_order_one_at_a_time_and_wait_drains():
    seen: list[int] = []
    running = []
    overlap = []

    def work(item: int) -> None:
        running.append(item)
        if len(running) > 1:
            overlap.append(item)
        time.sleep(0.001)
        seen.append(item)
        running.remove(item)

    async def main() -> None:
        lane = Lane(work, asyncio.get_running_loop())
        for i in range(50):
            lane.submit(i, 10)
        assert lane.pending > 0  # the loop only queued: the worker runs meanwhile
        await lane.wait()
        assert lane.pending == 0

    asyncio.run(main())
    assert seen == list(range(50)) and not overlap


def test_wait_returns_once_at_most_limit_bytes_are_queued():
    gate = threading.Event()

    def work(_item) -> None:
        gate.wait(5)

    async def main() -> None:
        lane = Lane(work, asyncio.get_running_loop())
        for i in range(4):
            lane.submit(i, 100)
        waiting = asyncio.ensure_future(lane.wait(150))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # 400 bytes queued, the worker blocked
        gate.set()
        await asyncio.wait_for(waiting, 5)
        assert lane.pending <= 150
        await lane.wait()

    asyncio.run(main())


def test_a_failed_item_is_raised_at_the_next_call_and_drops_the_rest():
    done: list[int] = []

    def work(item: int) -> None:
        if item == 2:
            raise OSError(28, "No space left on device")
        done.append(item)

    async def main() -> None:
        lane = Lane(work, asyncio.get_running_loop())
        for i in range(6):
            lane.submit(i, 1)
        with pytest.raises(OSError, match="No space"):
            await lane.wait()
        with pytest.raises(OSError):
            lane.submit(7, 1)

    asyncio.run(main())
    assert done == [0, 1]


def test_close_drops_the_queue_and_calls_back_after_the_running_item():
    gate = threading.Event()
    finished: list[int] = []
    order: list[str] = []

    def work(item: int) -> None:
        gate.wait(5)
        finished.append(item)
        order.append(f"item {item}")

    async def main() -> None:
        lane = Lane(work, asyncio.get_running_loop())
        for i in range(5):
            lane.submit(i, 1)
        await asyncio.sleep(0.05)  # item 0 is running
        closed = asyncio.get_running_loop().create_future()
        lane.close(lambda: (order.append("closed"), closed.set_result(None)))
        assert not closed.done()  # the worker still holds item 0
        gate.set()
        await asyncio.wait_for(closed, 5)
        idle = Lane(work, asyncio.get_running_loop())
        called = []
        idle.close(lambda: called.append(True))
        assert called  # nothing running: at once

    asyncio.run(main())
    assert finished == [0] and order == ["item 0", "closed"]


def test_a_busy_lane_yields_its_worker_between_slices(monkeypatch):
    """A lane that always has work still lets other jobs of the shared executor run."""
    from concurrent.futures import ThreadPoolExecutor

    from pfsd.store import lanes

    monkeypatch.setattr(lanes, "SLICE", 3)
    log: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        lane = Lane(lambda item: (log.append(f"item {item}"), time.sleep(0.002)), loop)
        for i in range(9):
            lane.submit(i, 1)
        other = loop.run_in_executor(None, log.append, "other job")
        await lane.wait()
        await other

    asyncio.run(main())
    assert [x for x in log if x.startswith("item")] == [f"item {i}" for i in range(9)]
    assert 0 < log.index("other job") < len(log) - 1  # ran between slices, not after them all
