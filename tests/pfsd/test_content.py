"""ContentBuilder: big contents hashed and written by two threads, written behind, sealed or dropped
whole; blobs named by MD5, shared only by the same bytes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

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
    assert sealed.blob == hashlib.md5(data).hexdigest()  # the one hash pfsd computes
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


# A published MD5 collision (Wang et al., 2004): two 128-byte blocks, different bytes, one MD5.
# Followed by the same suffix they still collide (MD5 hashes block by block).
_COLLISION = [bytes.fromhex(h) for h in (
    "d131dd02c5e6eec4693d9a0698aff95c2fcab58712467eab4004583eb8fb7f89"
    "55ad340609f4b30283e488832571415a085125e8f7cdc99fd91dbdf280373c5b"
    "d8823e3156348f5bae6dacd436c919c6dd53e2b487da03fd02396306d248cda0"
    "e99f33420f577ee8ce54b67080a80d1ec69821bcb6a8839396f9652b6ff72a70",
    "d131dd02c5e6eec4693d9a0698aff95c2fcab50712467eab4004583eb8fb7f89"
    "55ad340609f4b30283e4888325f1415a085125e8f7cdc99fd91dbd7280373c5b"
    "d8823e3156348f5bae6dacd436c919c6dd53e23487da03fd02396306d248cda0"
    "e99f33420f577ee8ce54b67080280d1ec69821bcb6a8839396f965ab6ff72a70")]


def _seal(store: ContentStore, data: bytes) -> content.Content:
    async def build() -> content.Content:
        builder = store.builder()
        for pos in range(0, len(data), MiB):
            await builder.add(data[pos : pos + MiB])
        return await builder.finish()

    return asyncio.run(build())


def test_same_bytes_share_a_blob_and_an_md5_collision_does_not(tmp_path: Path) -> None:
    suffix = os.urandom(content.INLINE_MAX + 1000)
    a, b = (block + suffix for block in _COLLISION)
    assert a != b and len(a) == len(b) and hashlib.md5(a).digest() == hashlib.md5(b).digest()
    store = ContentStore(tmp_path)
    first, again, other = _seal(store, a), _seal(store, a), _seal(store, b)
    assert first.blob == again.blob == hashlib.md5(a).hexdigest()  # deduplicated
    assert other.md5 == first.md5 and other.blob == first.blob + "-1"  # same MD5, own blob
    assert store.blob_path(first.blob).read_bytes() == a
    assert store.blob_path(other.blob).read_bytes() == b
    assert _seal(store, b).blob == other.blob  # found again past the collision
    assert not list(store.tmp.iterdir())
    assert store.pending == {first.blob: 2, other.blob: 2}  # held until their commits release them


def test_gc_spares_a_blob_a_write_holds(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    sealed = _seal(store, os.urandom(content.INLINE_MAX + 1))
    assert not store.unlink_unless_held(sealed.blob)  # held: a commit will name it
    store.release(sealed.blob)
    assert store.unlink_unless_held(sealed.blob) and not store.blob_path(sealed.blob).exists()


def test_lanes_run_ahead_and_a_dropped_upload_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    """Chunks queue in the hash and write lanes (up to AHEAD each) while more arrive; dropped
    while writes are still queued, the temp file goes once the last write into it is done."""
    store = ContentStore(tmp_path)
    slow = []
    real_write = content.os.write

    def slow_write(fd, data):
        slow.append(len(data))
        time.sleep(0.02)
        return real_write(fd, data)

    monkeypatch.setattr(content.os, "write", slow_write)

    async def build_and_drop() -> int:
        builder = store.builder()
        block = os.urandom(MiB)
        for _ in range(12):
            await builder.add(block)
        queued = builder._lanes[1].pending
        builder.abort()
        while list(store.tmp.iterdir()) and builder.fd is not None:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        return queued

    queued = asyncio.run(build_and_drop())
    assert queued >= 4 * MiB  # the loop went on while writes were queued
    assert sum(slow) < 12 * MiB  # the rest of the queue was dropped, not written
    assert not list(store.tmp.iterdir())


def test_a_failed_write_fails_the_upload_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    store = ContentStore(tmp_path)
    calls = []
    real_write = content.os.write

    def failing_write(fd, data):
        calls.append(len(data))
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(content.os, "write", failing_write)

    async def build() -> None:
        builder = store.builder()
        try:
            for _ in range(40):
                await builder.add(os.urandom(MiB))
            await builder.finish()
        except OSError:
            builder.abort()
            await asyncio.sleep(0.1)
            raise

    with pytest.raises(OSError, match="No space"):
        asyncio.run(build())
    assert not list(store.tmp.iterdir())


def test_appending_blobs_reads_them_whole_and_in_order(tmp_path: Path) -> None:
    """CompleteMultipartUpload's concatenation: blobs of several reads each, appended."""
    store = ContentStore(tmp_path)
    parts = [os.urandom(2 * content.READ_CHUNK + 12345), os.urandom(content.READ_CHUNK), b"tail"]
    sealed = [_seal(store, p) for p in parts[:2]]

    async def concat() -> content.Content:
        builder = store.builder()
        for c in sealed:
            await builder.add_content(c)
        await builder.add(parts[2])
        return await builder.finish()

    whole = b"".join(parts)
    out = asyncio.run(concat())
    assert out.md5 == hashlib.md5(whole).digest() and store.blob_path(out.blob).read_bytes() == whole



def test_concurrent_uploads_share_one_bound_on_queued_bytes(tmp_path: Path, monkeypatch) -> None:
    """Six uploads at once against a slow disk: once all six stream, each queues at most its
    share of AHEAD_TOTAL (not AHEAD each), and each still seals to its own bytes."""
    store = ContentStore(tmp_path)
    real_write = content.os.write

    def slow_write(fd, data):
        time.sleep(0.003)
        return real_write(fd, data)

    monkeypatch.setattr(content.os, "write", slow_write)
    blocks = [os.urandom(MiB) for _ in range(6)]
    share = content.AHEAD_TOTAL // 6
    assert share < content.AHEAD  # else this test shows nothing
    seen: list[int] = []

    async def upload(block: bytes) -> content.Content:
        builder = store.builder()
        for _ in range(16):
            await builder.add(block)
            if store.streaming == 6:
                seen.append(max(lane.pending for lane in builder._lanes))
        return await builder.finish()

    async def main() -> list:
        return await asyncio.gather(*(upload(b) for b in blocks))

    sealed = asyncio.run(main())
    assert [s.md5 for s in sealed] == [hashlib.md5(b * 16).digest() for b in blocks]
    assert store.streaming == 0
    assert seen and max(seen) <= share
