"""A lane: one function applied to a stream of items, in order, on a worker thread.

A big upload's bytes are hashed (MD5) and written to their temp file by two lanes while the
event loop receives the next ones. Each lane runs at most one worker job at a time (order
matters to a hash and to a file), and that job drains what is queued (up to :data:`SLICE`
bytes, then it queues itself again behind the executor's other jobs), so a steady stream
costs one thread hand-off per burst, not one per chunk, and the hash seldom waits for the
event loop between chunks (hashlib and os.write release the GIL: the hash runs on the second
core while the loop and the write share the first).

The loop only queues: :meth:`Lane.submit` never blocks, :meth:`Lane.wait` suspends until at
most so many bytes are left queued (the caller's bound on memory), and :meth:`Lane.close`
drops what is queued and calls back once the worker is done (a dropped upload deletes its
temp file only after the last write into it).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

SLICE = 16 * 1024 * 1024  # bytes one worker job takes before it yields its thread


class Lane:
    """``fn(item)`` for each submitted item, in order, on the loop's default executor."""

    def __init__(self, fn: Callable[[Any], None], loop: asyncio.AbstractEventLoop) -> None:
        self._fn = fn
        self._loop = loop
        self._lock = threading.Lock()  # the loop submits and waits, the worker drains
        self._items: deque[tuple[Any, int]] = deque()
        self._running = False
        self._closed = False
        self._on_idle: Callable[[], None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._limit = 0
        self.pending = 0  # bytes queued or being processed
        self.error: BaseException | None = None

    def submit(self, item: Any, size: int) -> None:
        """Queue ``item`` (``size`` bytes); raises the error of an item that failed before."""
        with self._lock:
            if self.error is not None:
                raise self.error
            self._items.append((item, size))
            self.pending += size
            if self._running:
                return
            self._running = True
        self._loop.run_in_executor(None, self._drain)

    def _drain(self) -> None:
        """The worker: queued items until none is left (or the lane is closed), or until it
        has done SLICE bytes: then it queues itself again behind the executor's other jobs,
        so that lanes kept busy by fast uploads never hold the shared workers from the rest
        (GetFile's reads, other uploads' lanes, seals)."""
        done = 0
        while True:
            with self._lock:
                if not self._items or self._closed or self.error is not None:
                    self._items.clear()
                    self.pending = 0
                    self._running = False
                    notify = self._waiter is not None or self._on_idle is not None
                    break
                if done >= SLICE:
                    self._loop.call_soon_threadsafe(self._resume)
                    return
                item, size = self._items.popleft()
            try:
                self._fn(item)
            except BaseException as e:  # noqa: BLE001 - kept, raised to the loop at its next call
                with self._lock:
                    self.error = e
                continue
            done += size
            with self._lock:
                self.pending -= size
                notify = self._waiter is not None and self.pending <= self._limit
            if notify:
                self._loop.call_soon_threadsafe(self._notify)
        if notify:
            self._loop.call_soon_threadsafe(self._notify)

    def _resume(self) -> None:
        """On the loop: the worker's next slice, queued behind whatever the executor holds."""
        self._loop.run_in_executor(None, self._drain)

    def _notify(self) -> None:
        """On the loop: wake a waiter, or run the close callback once the worker is done."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        with self._lock:
            idle = not self._running
            callback = self._on_idle if idle else None
            if callback is not None:
                self._on_idle = None
        if callback is not None:
            callback()

    async def wait(self, limit: int = 0) -> None:
        """Until at most ``limit`` bytes are queued (0: until the worker is done with all);
        raises the error of a failed item."""
        while True:
            with self._lock:
                if self.error is not None:
                    raise self.error
                if self.pending <= limit and (limit or not self._running):
                    return
                self._limit = limit
                self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self, on_idle: Callable[[], None]) -> None:
        """Drop what is queued; ``on_idle()`` runs on the loop once no worker runs (now, if
        none does)."""
        with self._lock:
            self._closed = True
            self._items.clear()
            if self._running:
                self._on_idle = on_idle
                return
        on_idle()
