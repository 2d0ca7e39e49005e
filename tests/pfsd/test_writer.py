"""The writer: jobs share a transaction, run on the loop unless slow, and survive each other."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pfsd.api.base import Backend
from pfsd.store import changes as ch
from pfsd.store import meta, views
from pfsd.store import writer as writer_mod
from pfsd.store.content import EMPTY_MD5, Content
from pfsd.store.writer import Writer, check_budget


def _rows(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT k, v FROM t").fetchall())
    finally:
        conn.close()


def _insert(key: str, value: int):
    def job(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t(k, v) VALUES (?, ?)", (key, value))
        return threading.current_thread().name

    return job


def test_small_jobs_run_on_the_loop_and_commit_together(tmp_path: Path) -> None:
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")

    async def main() -> list[str]:
        jobs = [w.submit(_insert(f"k{i}", i), on_loop=i % 2 == 0) for i in range(20)]
        return await asyncio.gather(*jobs)

    try:
        threads = asyncio.run(main())
    finally:
        w.close()
    assert set(threads[0::2]) == {threading.main_thread().name}  # on_loop: on the loop
    assert all(name.startswith("pfsd-writer") for name in threads[1::2])  # the rest: off it
    assert _rows(db) == {f"k{i}": i for i in range(20)}


def test_a_failing_job_undoes_only_itself(tmp_path: Path) -> None:
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t(k, v) VALUES ('bad', 1)")
        raise ValueError("refused")

    async def main() -> list[object]:
        return await asyncio.gather(w.submit(_insert("a", 1), on_loop=True), w.submit(half_then_fail, on_loop=True),
                                    w.submit(_insert("b", 2), on_loop=True), return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        w.close()
    assert isinstance(results[1], ValueError)
    assert _rows(db) == {"a": 1, "b": 2}


def test_a_slow_job_moves_to_the_commit_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of loop time, a job is rolled back to its savepoint and run again off the loop; its
    partial first run leaves nothing behind, and the jobs before and after it still commit."""
    monkeypatch.setattr(writer_mod, "INLINE_BUDGET", -1.0)  # every job is out of time at once
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")
    runs: list[str] = []

    def slow(conn: sqlite3.Connection) -> str:
        runs.append(threading.current_thread().name)
        conn.execute("INSERT INTO t(k, v) VALUES ('slow', 1)")  # a write before the check
        check_budget()
        return threading.current_thread().name

    async def main() -> list[str]:
        return await asyncio.gather(w.submit(_insert("before", 0), on_loop=True), w.submit(slow, on_loop=True),
                                    w.submit(_insert("after", 2), on_loop=True))

    try:
        before, where, after = asyncio.run(main())
    finally:
        w.close()
    assert before == after == threading.main_thread().name
    assert runs[0] == threading.main_thread().name  # it started on the loop ...
    assert where.startswith("pfsd-writer")  # ... and finished on the commit thread
    assert len(runs) == 2
    assert _rows(db) == {"before": 0, "slow": 1, "after": 2}


def test_a_big_recursive_delete_moves_off_the_loop_and_keeps_the_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case SQLite's own interrupt got wrong: a write job that runs long must not take the
    batch's other writes with it."""
    backend = Backend(tmp_path / "data")
    monkeypatch.setattr(writer_mod, "INLINE_BUDGET", 0.0)
    conn = backend.writer.conn
    conn.execute("INSERT INTO repos(project, name, type, created) VALUES ('default', 'r', 'user', 0)")
    repo = meta.get_repo(conn, "default", "r", "user")

    def job(changes: list) -> object:
        def run(c: sqlite3.Connection) -> str:
            _, head = meta.repo_and_head(c, ("default", "r", "user"), "master")
            commit = meta.create_commit(c, backend.seqs, repo, "master", head, finished=True)
            ch.apply(c, commit, changes)
            return threading.current_thread().name
        return run

    empty = Content(0, EMPTY_MD5, None, None)
    many = [ch.Put(f"/big/{i:04d}", empty) for i in range(300)]

    async def main() -> list[str]:
        await backend.writer.submit(job(many))  # on the commit thread: nothing to defer
        return await asyncio.gather(backend.writer.submit(job([ch.Put("/a", empty)]), on_loop=True),
                                    backend.writer.submit(job([ch.Delete("/big")]), on_loop=True))

    try:
        a, big = asyncio.run(main())
        _, head = meta.repo_and_head(backend.db, ("default", "r", "user"), "master")
        view = meta.chain(backend.db, head)
        assert views.lookup(backend.db, view, "/a") is not None
        assert views.next_live(backend.db, view, "/big/", "/big0") is None
        assert a == threading.main_thread().name
        assert big.startswith("pfsd-writer")
    finally:
        backend.close()


def test_close_runs_what_is_queued(tmp_path: Path) -> None:
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")

    async def main() -> None:
        first = asyncio.ensure_future(w.submit(_insert("x", 1)))
        await asyncio.sleep(0)  # queued, its batch scheduled but not started
        w.close()
        assert await first == threading.main_thread().name

    asyncio.run(main())
    assert _rows(db) == {"x": 1}


def test_time_the_loop_waited_is_not_the_jobs(tmp_path: Path) -> None:
    """A job the OS set aside (a loaded machine) has used no budget while it waited: it stays on
    the loop; only its own CPU time moves it."""
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")

    def waits(conn: sqlite3.Connection) -> str:
        time.sleep(3 * writer_mod.INLINE_BUDGET)  # wall time passes, no CPU
        check_budget()
        conn.execute("INSERT INTO t(k, v) VALUES ('w', 1)")
        return threading.current_thread().name

    try:
        where = asyncio.run(w.submit(waits, on_loop=True))
    finally:
        w.close()
    assert where == threading.main_thread().name
    assert _rows(db) == {"w": 1}
