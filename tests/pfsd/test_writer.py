"""The writer: jobs share a transaction, run on the loop unless slow, and survive each other."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from pfsd.store import writer as writer_mod
from pfsd.store.writer import Writer


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
        return await asyncio.gather(*(w.submit(_insert(f"k{i}", i)) for i in range(20)))

    try:
        threads = asyncio.run(main())
    finally:
        w.close()
    assert set(threads) == {threading.main_thread().name}
    assert _rows(db) == {f"k{i}": i for i in range(20)}


def test_a_failing_job_undoes_only_itself(tmp_path: Path) -> None:
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t(k, v) VALUES ('bad', 1)")
        raise ValueError("refused")

    async def main() -> list[object]:
        return await asyncio.gather(w.submit(_insert("a", 1)), w.submit(half_then_fail),
                                    w.submit(_insert("b", 2)), return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        w.close()
    assert isinstance(results[1], ValueError)
    assert _rows(db) == {"a": 1, "b": 2}


def test_a_slow_job_moves_to_the_commit_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over its loop budget, a job is interrupted, rolled back and run again off the loop;
    its partial first run leaves nothing behind and the jobs around it still commit."""
    monkeypatch.setattr(writer_mod, "INLINE_BUDGET", 0.0)  # every job is over budget at once
    db = tmp_path / "meta.db"
    w = Writer(db)
    w.conn.execute("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)")
    runs: list[str] = []

    def slow(conn: sqlite3.Connection) -> str:
        runs.append(threading.current_thread().name)
        conn.execute("INSERT INTO t(k, v) VALUES ('slow', 1)")
        # a statement that runs many VM steps: the progress handler interrupts it on the loop
        conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 200000) "
                     "SELECT count(*) FROM c").fetchone()
        return threading.current_thread().name

    async def main() -> list[str]:
        return await asyncio.gather(w.submit(_insert("before", 0)), w.submit(slow), w.submit(_insert("after", 2)))

    try:
        before, where, after = asyncio.run(main())
    finally:
        w.close()
    assert runs[0] == threading.main_thread().name  # it started on the loop ...
    assert where.startswith("pfsd-writer")  # ... and finished on the commit thread
    assert len(runs) == 2
    assert _rows(db) == {"before": 0, "slow": 1, "after": 2}


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
