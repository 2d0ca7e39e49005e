"""Content-addressed file contents.

Small contents (<= INLINE_MAX) live in SQLite next to the metadata, so a small write costs no
fsync of its own: the metadata COMMIT (shared by concurrent writers) makes it durable. Larger
contents stream into `tmp/`, are fsynced, and are linked to `blobs/<md5[:2]>/<md5>` before the
metadata that references them commits; identical contents share one blob.

The address is the MD5 that `FileInfo.hash` needs anyway, so each byte is hashed once. MD5 is
not collision-resistant, so it only *proposes* a blob: one found at that name is shared only if
its bytes are the same (compared in full), and different bytes with the same MD5 take the next
free name, `<md5>-1`, `<md5>-2`, ... Names are claimed with `link`, which fails when the name
exists, so two racing writers can never replace each other's blob. Blobs named by SHA-256 (data
directories written before) stay readable: a file row names its blob.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

from pfsd.libc import start_writeback
from pfsd.store.lanes import Lane

INLINE_MAX = 64 * 1024
FLUSH_SIZE = 1024 * 1024  # bytes buffered before a write to the temp file
WRITE_BEHIND = 8 * 1024 * 1024  # written bytes handed to the disk before the final fsync
AHEAD = 8 * 1024 * 1024  # bytes an upload may queue in each of its lanes (hash, write)
AHEAD_TOTAL = 24 * 1024 * 1024  # ... and all uploads together: each gets its share of this
READ_CHUNK = 1024 * 1024  # GetFile message size: well under gRPC's 4 MiB default cap
EMPTY_MD5 = hashlib.md5(b"").digest()


class Content(NamedTuple):
    """A file's bytes: either inline `data` or the name of a blob file (`blob`). (A NamedTuple:
    every file a stream writes makes one, and a tuple is built ~3x faster than a frozen
    dataclass.)"""

    size: int
    md5: bytes
    blob: str | None = None
    data: bytes | None = None


EMPTY = Content(0, EMPTY_MD5, None, b"")


class ContentStore:
    """Blob files under `root/blobs`, temp files under `root/tmp`."""

    def __init__(self, root: Path) -> None:
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        # Blobs written but not yet referenced by committed metadata: GC must not take them.
        self.pending: dict[str, int] = {}
        self.streaming = 0  # builders whose lanes are open (on the event loop only)
        self._lock = threading.Lock()  # hold() runs in worker threads, release() in the loop
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for i in range(256):
            (self.blobs / f"{i:02x}").mkdir(exist_ok=True)
        _fsync_dir(self.blobs)
        _fsync_dir(root)

    def blob_path(self, name: str) -> Path:
        return self.blobs / name[:2] / name

    def builder(self) -> ContentBuilder:
        return ContentBuilder(self)

    def hold(self, name: str) -> None:
        with self._lock:
            self.pending[name] = self.pending.get(name, 0) + 1

    def release(self, name: str) -> None:
        with self._lock:
            left = self.pending.get(name, 0) - 1
            if left > 0:
                self.pending[name] = left
            else:
                self.pending.pop(name, None)

    def unlink_unless_held(self, name: str) -> bool:
        """Remove a blob nothing committed references, unless a write holds it (GC): under the
        lock, so a writer that holds the name and then finds the blob can rely on it staying."""
        with self._lock:
            if name in self.pending:
                return False
            try:
                os.unlink(self.blob_path(name))
            except FileNotFoundError:
                return False
            return True

    def place(self, tmp: Path, md5: bytes, size: int) -> str:
        """Make the fsynced temp file `tmp` a blob; returns its name, held (release it once the
        metadata naming it committed). The temp file is gone afterwards."""
        base = md5.hex()
        for n in range(1_000_000):
            name = base if n == 0 else f"{base}-{n}"
            self.hold(name)
            final = self.blob_path(name)
            try:
                os.link(tmp, final)
            except FileExistsError:
                if _same_bytes(tmp, final, size):
                    tmp.unlink()  # deduplicated: the same bytes are already stored
                    return name
                self.release(name)  # an MD5 collision: different bytes, next name
                continue
            except BaseException:
                self.release(name)
                raise
            tmp.unlink()
            _fsync_dir(final.parent)
            return name
        raise RuntimeError(f"no free blob name for MD5 {base}")

    def read(self, content: Content, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (blocking for blobs: call from a thread)."""
        if content.blob is None:
            return (content.data or b"")[offset : offset + length]
        with open(self.blob_path(content.blob), "rb") as f:
            return os.pread(f.fileno(), length, offset)

    async def stream(self, content: Content, offset: int = 0) -> AsyncIterator[bytes]:
        """Yield the content from `offset` in READ_CHUNK pieces; blob reads run in a thread."""
        if content.blob is None:
            data = content.data or b""
            for pos in range(offset, len(data), READ_CHUNK):
                yield data[pos : pos + READ_CHUNK]
            return
        fd = await asyncio.to_thread(os.open, self.blob_path(content.blob), os.O_RDONLY)
        try:
            pos = offset
            while pos < content.size:
                chunk = await asyncio.to_thread(os.pread, fd, READ_CHUNK, pos)
                if not chunk:
                    break
                pos += len(chunk)
                yield chunk
        finally:
            os.close(fd)


class ContentBuilder:
    """Accumulates one file's bytes: in memory while small, then a hashed, fsynced temp file.

    Large contents are hashed and written by two lanes (pfsd.store.lanes: MD5 in one worker
    thread, the write in another, each in order) while the next chunks arrive, and every
    WRITE_BEHIND bytes the kernel is asked to start writing them to disk, so the final fsync
    finds little left. Up to AHEAD bytes may wait in each lane: the hash runs on without
    waiting for the loop between chunks, and a short stall of the disk does not stop it;
    memory stays about AHEAD + FLUSH_SIZE per upload, AHEAD_TOTAL for all of them together.
    """

    __slots__ = ("store", "chunks", "buffered", "size", "md5", "fd", "written", "synced", "tmp_path",
                 "force_blob", "_lanes", "_done_streaming", "_sealing")

    def __init__(self, store: ContentStore) -> None:
        self.store = store
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.size = 0
        self.md5 = hashlib.md5()
        self.fd: int | None = None
        self.written = 0  # bytes in the temp file
        self.synced = 0  # bytes of it handed to the disk (write-behind)
        self.tmp_path: Path | None = None
        self.force_blob = False
        self._lanes: tuple[Lane, Lane] | None = None  # (MD5, write) once the content is big
        self._done_streaming = False
        self._sealing: asyncio.Future[Content] | None = None

    async def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        self.size += len(chunk)
        if self.size > INLINE_MAX and self.buffered >= FLUSH_SIZE:
            hashing, writing = self._flush()
            # Bounded: wait only once a lane holds more than this upload's share of AHEAD_TOTAL
            # (AHEAD for one or two uploads; concurrent ones queue less each).
            ahead = self._share()
            while True:
                await hashing.wait(ahead)
                await writing.wait(ahead)
                if (share := self._share()) >= ahead:  # uploads that started meanwhile
                    break
                ahead = share

    def _share(self) -> int:
        """The bytes this upload may queue in each lane now."""
        return max(FLUSH_SIZE, min(AHEAD, AHEAD_TOTAL // self.store.streaming))

    def _flush(self) -> tuple[Lane, Lane]:
        """Hand the buffered chunks to both lanes (started on the first flush)."""
        if self._lanes is None:
            loop = asyncio.get_running_loop()
            self._lanes = (Lane(self._md5_update, loop), Lane(self._write, loop))
            self.store.streaming += 1
        chunks, size, self.chunks, self.buffered = self.chunks, self.buffered, [], 0
        for lane in self._lanes:
            lane.submit(chunks, size)
        return self._lanes

    async def add_content(self, content: Content) -> None:
        """Append an existing content (CopyFile append, AddFile onto an existing file)."""
        if content.blob is None:
            await self.add(content.data or b"")
            return
        async for chunk in self.store.stream(content):
            await self.add(chunk)

    def _md5_update(self, chunks: list[bytes]) -> None:
        for data in chunks:
            self.md5.update(data)

    def _write(self, chunks: list[bytes]) -> None:
        """Write `chunks` to the temp file (the MD5 lane hashes them meanwhile)."""
        if self.fd is None:
            self.tmp_path = self.store.tmp / secrets.token_hex(16)
            self.fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        for data in chunks:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
                self.written += written
        if self.written - self.synced >= WRITE_BEHIND:
            start_writeback(self.fd, self.synced, self.written - self.synced)
            self.synced = self.written

    async def finish(self) -> Content:
        """Seal the content: inline when small, else a durable blob (held from GC until released)."""
        if self.size <= INLINE_MAX and self.fd is None and self._lanes is None and not self.force_blob:
            if not self.size:
                return EMPTY  # an empty file (every metadata sidecar): no hash to compute
            data = b"".join(self.chunks)
            self.chunks.clear()
            return Content(len(data), hashlib.md5(data).digest(), None, data)
        hashing, writing = self._flush()
        # Not shielded: a cancel here leaves the lanes running, and abort() closes them.
        await hashing.wait()
        await writing.wait()
        self._stop_streaming()
        # Shielded: a cancel leaves the seal running, and abort() undoes it after.
        self._sealing = asyncio.ensure_future(asyncio.to_thread(self._seal))
        content = await asyncio.shield(self._sealing)
        self._sealing = None
        return content

    def _seal(self) -> Content:
        if self.fd is None:  # an empty content forced into a blob: no write created the file
            self._write([])
        assert self.fd is not None and self.tmp_path is not None
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        md5 = self.md5.digest()
        name = self.store.place(self.tmp_path, md5, self.size)
        self.tmp_path = None
        return Content(self.size, md5, name, None)

    def abort(self) -> None:
        """Drop a partial content (stream broke); its temp file goes away now or once the
        write in flight (which may be the one creating it) completes."""
        self.chunks.clear()
        if self._sealing is not None:
            self._sealing.add_done_callback(self._unseal)
            self._sealing = None
        elif self._lanes is not None:
            hashing, writing = self._lanes
            hashing.close(lambda: None)
            writing.close(self._discard)
        else:
            self._discard()
        self._stop_streaming()

    def _stop_streaming(self) -> None:
        """This builder's lanes have done their work (or been closed): out of the count."""
        if self._lanes is not None and not self._done_streaming:
            self._done_streaming = True
            self.store.streaming -= 1

    def _unseal(self, sealing: asyncio.Future[Content]) -> None:
        """A seal finished for a stream that was given up: drop its temp file, or let its blob
        go (unreferenced, the next sweep of blobs removes it)."""
        if sealing.cancelled() or sealing.exception() is not None:
            self._discard()
        elif sealing.result().blob is not None:
            self.store.release(sealing.result().blob)

    def _discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp_path is not None:
            self.tmp_path.unlink(missing_ok=True)
            self.tmp_path = None


def _same_bytes(a: Path, b: Path, size: int) -> bool:
    """Whether files `a` (`size` bytes) and `b` hold the same bytes, read a MiB at a time."""
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        if os.fstat(fb.fileno()).st_size != size:
            return False
        while True:
            x, y = fa.read(READ_CHUNK), fb.read(READ_CHUNK)
            if x != y:
                return False
            if not x:
                return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
