"""ContentBuilder: big contents hashed by two threads, written behind, sealed or dropped whole."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from pfsd import libc
from pfsd.store import content
from pfsd.store.content import ContentStore

MiB = 1024 * 1024


def test_big_content_seals_to_its_hashes(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple[int, int]] = []
    real = content.start_writeback
    monkeypatch.setattr(content, "start_writeback", lambda fd, off, n: (calls.append((off, n)), real(fd, off, n)))
    store = ContentStore(tmp_path)
    data = os.urandom(3 * MiB + 5) * 7  # ~21 MiB in uneven chunks: three write-behinds

    async def build() -> content.Content:
        builder = store.builder()
        for pos in range(0, len(data), 700_001):
            await builder.add(data[pos : pos + 700_001])
        return await builder.finish()

    sealed = asyncio.run(build())
    assert sealed.size == len(data) and sealed.md5 == hashlib.md5(data).digest()
    assert sealed.blob == hashlib.sha256(data).hexdigest()
    assert store.blob_path(sealed.blob).read_bytes() == data
    assert not list(store.tmp.iterdir())
    assert calls and calls[0][0] == 0 and all(n >= content.WRITE_BEHIND for _, n in calls)
    assert all(a + n == b for (a, n), (b, _) in zip(calls, calls[1:], strict=False))  # contiguous ranges


def test_aborted_content_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)

    async def build_and_drop() -> None:
        builder = store.builder()
        for _ in range(5):
            await builder.add(os.urandom(MiB))
        builder.abort()  # a flush is in flight: its temp file goes once both threads are done
        await asyncio.sleep(0.5)

    asyncio.run(build_and_drop())
    assert not list(store.tmp.iterdir())


def test_libc_calls_are_safe() -> None:
    libc.tune_malloc()
    libc.start_writeback(-1, 0, 1)  # a bad descriptor is an error code, never an exception
