"""The single writer thread: serializes every metadata change and shares COMMITs.

Writes queue up while the previous transaction commits; the thread then runs all of them in
one transaction (each inside a SAVEPOINT, so one failing write does not undo the others) and
commits once. Concurrent small writes thus share one WAL fsync (group commit), and readers,
on their own WAL connections, never wait for the writer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pfsd.store.db import connect

T = TypeVar("T")
log = logging.getLogger("pfsd.writer")
MAX_BATCH = 256

_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class Writer:
    """Runs `fn(conn)` jobs on a dedicated thread; `submit` resolves after they commit."""

    def __init__(self, db_path: Path) -> None:
        self.conn = connect(db_path, writer=True)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pfsd-writer", daemon=True)
        self._after_commit: list[Callable[[], None]] = []
        self._thread.start()

    async def submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in a write transaction; return its result once durably committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, fut, loop))
        return await fut

    def after_commit(self, hook: Callable[[], None]) -> None:
        """From inside a job: run `hook` on the writer thread once the batch commits."""
        self._after_commit.append(hook)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self.conn.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Job]) -> None:
        conn = self.conn
        outcomes: list[tuple[bool, Any]] = []
        hooks: list[Callable[[], None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _fut, _loop in batch:
                conn.execute("SAVEPOINT job")
                self._after_commit = []
                try:
                    outcomes.append((True, fn(conn)))
                    conn.execute("RELEASE job")
                    hooks.extend(self._after_commit)
                except BaseException as exc:  # noqa: BLE001 - delivered to the caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed to commit
            log.exception("write batch failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(False, exc)] * len(batch)
            hooks = []
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001
                log.exception("after-commit hook failed")
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_fn, fut, loop), (ok, value) in zip(batch, outcomes, strict=False):
            by_loop.setdefault(loop, []).append((fut, ok, value))
        for loop, results in by_loop.items():  # one wake-up of each loop per batch
            loop.call_soon_threadsafe(_deliver, results)


def _deliver(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in results:
        if fut.cancelled():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
