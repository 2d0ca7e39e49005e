"""The single writer: serializes every metadata change and shares COMMITs.

Writes queue up while the previous transaction commits; the next batch then runs all of them in
one transaction (each inside a SAVEPOINT, so one failing write does not undo the others) and
commits once. Concurrent small writes thus share one WAL fsync (group commit), and readers,
on their own WAL connections, never wait for the writer.

Where each part runs is chosen for the GIL. A job is Python that calls SQLite dozens of times,
and the sqlite3 module drops and retakes the GIL around every call: on a thread of its own, each
retake waits for the busy event loop to let go (up to the 5 ms switch interval), so a batch of
eight 4 KiB PUTs took ~11 ms of waiting for ~1 ms of work, and every writer waited on that. So
a job submitted with ``on_loop=True`` runs on the event loop, where it holds the GIL anyway, and
only what blocks goes to the commit thread: the COMMIT (its fsync) and the after-commit hooks
(file unlinks). Such a job calls :func:`check_budget` in its long loops: once it has used
INLINE_BUDGET of CPU it raises :class:`Deferred`, the job is rolled back to its savepoint and runs again
on the commit thread before the COMMIT, so no job stalls the loop. Other jobs (repo deletions,
commit drops: rare, and as big as a repo) run on the commit thread from the start. (SQLite's own
interrupt is no substitute: an interrupted write statement rolls back the whole transaction,
the batch's other jobs with it.)
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pfsd.store import meta
from pfsd.store.db import connect

T = TypeVar("T")
log = logging.getLogger("pfsd.writer")
MAX_BATCH = 256
# CPU seconds one job may run on the event loop before it moves to the commit thread (the loop
# thread's own: time the OS gave other processes does not count)
INLINE_BUDGET = 0.002

_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], asyncio.AbstractEventLoop, bool]
_Outcome = tuple[bool, Any]
_budget = threading.local()  # .deadline: when the job running on this thread must move off the loop


class Deferred(Exception):  # noqa: N818 - a signal, not an error
    """Raised by :func:`check_budget`: the job has run long enough on the loop."""


def check_budget() -> None:
    """From a job's long loops: raise Deferred once the job has used its time on the loop."""
    if time.perf_counter() > getattr(_budget, "deadline", math.inf):
        # Out of wall time; but time the OS gave other processes (a loaded machine preempts
        # the loop mid-job) is not the job's: only its own CPU time counts (one look at it)
        used = time.thread_time() - _budget.cpu_start
        if used >= INLINE_BUDGET:
            raise Deferred
        _budget.deadline = time.perf_counter() + INLINE_BUDGET - used


class Writer:
    """Runs `fn(conn)` jobs in shared write transactions; `submit` resolves after they commit."""

    def __init__(self, db_path: Path) -> None:
        self.conn = connect(db_path, writer=True)
        # the commit thread's work: (batch, outcomes, hooks), None to stop; a plain queue (an
        # executor's submit, with its future and locks, cost more than the COMMIT's own Python)
        self._commits: queue.SimpleQueue[tuple[list[_Job], list[_Outcome | None], list[Callable[[], None]]] | None]
        self._commits = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._commit_loop, name="pfsd-writer", daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._busy = False  # a batch is running or committing; the next starts when it is done
        self._after_commit: list[Callable[[], None]] = []
        self._closed = False

    async def submit(self, fn: Callable[[sqlite3.Connection], T], *, on_loop: bool = False) -> T:
        """Run `fn` in a write transaction; return its result once durably committed.

        `on_loop`: `fn` is short and calls :func:`check_budget` wherever it may run long."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._pending.append((fn, fut, loop, on_loop))
            start, self._busy = not self._busy, True
        if start:
            loop.call_soon(self._start)  # writes submitted in this turn of the loop join the batch
        return await fut

    def after_commit(self, hook: Callable[[], None]) -> None:
        """From inside a job: run `hook` on the commit thread once the batch commits."""
        self._after_commit.append(hook)

    def close(self) -> None:
        """Wait for the batch in flight; run what is still queued; close the connection."""
        self._closed = True
        self._commits.put(None)
        self._thread.join()
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._commit(batch, [None] * len(batch), [], begun=False)
        self.conn.close()

    # -- on the event loop ---------------------------------------------------------------

    def _start(self) -> None:
        if self._closed:  # close() ran what was queued
            return
        with self._lock:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        conn = self.conn
        outcomes: list[_Outcome | None] = []
        hooks: list[Callable[[], None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _fut, _loop, on_loop in batch:
                outcomes.append(self._run_job(conn, fn, hooks, inline=True) if on_loop else None)
        except BaseException as exc:  # noqa: BLE001 - BEGIN or a savepoint failed: all fail
            self._fail(batch, exc)
            return
        self._commits.put((batch, outcomes, hooks))

    # -- on either ------------------------------------------------------------------------

    def _run_job(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any],
                 hooks: list[Callable[[], None]], *, inline: bool) -> _Outcome | None:
        """One job in its savepoint: its outcome, or None when it ran out of loop time."""
        conn.execute("SAVEPOINT job")
        self._after_commit = []
        if inline:  # (otherwise the deadline is infinite: set only here, reset below)
            _budget.cpu_start = time.thread_time()
            _budget.deadline = time.perf_counter() + INLINE_BUDGET
        try:
            outcome: _Outcome | None = (True, fn(conn))
        except Deferred:
            outcome = None
        except BaseException as exc:  # noqa: BLE001 - delivered to the caller
            outcome = (False, exc)
        finally:
            _budget.deadline = math.inf
        if outcome is not None and outcome[0]:
            conn.execute("RELEASE job")
            hooks.extend(self._after_commit)
            return outcome
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        meta.forget_uncommitted()
        return outcome

    # -- on the commit thread -------------------------------------------------------------

    def _commit_loop(self) -> None:
        while (work := self._commits.get()) is not None:
            try:
                self._commit(*work, begun=True)
            except BaseException:  # noqa: BLE001 - never lose the thread
                log.exception("commit failed")

    def _commit(self, batch: list[_Job], outcomes: list[_Outcome | None], hooks: list[Callable[[], None]],
                *, begun: bool) -> None:
        """Run the jobs without an outcome yet (deferred, or never on the loop), COMMIT, run the
        hooks, answer. ``begun``: the loop already ran the batch's BEGIN."""
        conn = self.conn
        final: list[_Outcome]
        try:
            if not begun:
                conn.execute("BEGIN IMMEDIATE")
            final = [
                out if out is not None else self._run_job(conn, fn, hooks, inline=False)  # type: ignore[misc]
                for (fn, _fut, _loop, _on_loop), out in zip(batch, outcomes, strict=True)
            ]
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the whole batch failed to commit
            log.exception("write batch failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            meta.forget_uncommitted()
            final = [(False, exc)] * len(batch)
            hooks = []
        for hook in hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001
                log.exception("after-commit hook failed")
        self._finish(batch, final)

    def _fail(self, batch: list[_Job], exc: BaseException) -> None:
        log.error("write batch failed to begin: %s", exc)
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self._finish(batch, [(False, exc)] * len(batch))

    def _finish(self, batch: list[_Job], outcomes: list[_Outcome]) -> None:
        """Start the next batch if writes are waiting, then wake each caller's loop once."""
        with self._lock:
            nxt = self._pending[0][2] if self._pending else None
            self._busy = nxt is not None
        if nxt is not None:
            _call(nxt, self._start)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_fn, fut, loop, _on_loop), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((fut, ok, value))
        for loop, results in by_loop.items():
            _call(loop, _deliver, results)


def _call(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # that loop is closed: nobody is waiting any more
        pass


def _deliver(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in results:
        if fut.cancelled():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
