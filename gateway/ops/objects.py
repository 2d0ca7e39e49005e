"""What S3 says about an object, derived from PFS's FileInfo: ETag, size, dates, headers."""

from __future__ import annotations

import asyncio
import functools
import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from google.protobuf.timestamp_pb2 import Timestamp

from gateway.pfs import metacache, metadata
from gateway.pfs.client import PFS, FileReader, Ref, Requirement
from gateway.pfs.errors import ConditionFailed, NotFound
from gateway.pfs.metadata import ObjectMeta
from gateway.s3 import errors
from generated.pfs import pfs_pb2 as pb


def etag_of(info: pb.FileInfo) -> str:
    """The hex MD5 PFS reports as the file's hash (pfsd stores MD5, as S3's ETag wants)."""
    raw = info.hash
    if len(raw) == 32:
        try:
            return raw.decode("ascii").lower()
        except UnicodeDecodeError:
            pass
    return raw.hex()


def committed_at(info: pb.FileInfo) -> datetime:
    if info.HasField("committed"):
        return _datetime_of(info.committed.seconds, info.committed.nanos)
    return datetime.now(UTC)


@functools.lru_cache(maxsize=4096)
def _datetime_of(seconds: int, nanos: int) -> datetime:
    # Timestamp.ToDatetime costs ~3 us; one commit's files share it
    return Timestamp(seconds=seconds, nanos=nanos).ToDatetime(tzinfo=UTC)


def http_date(when: datetime) -> str:
    """``when`` as an HTTP date (Last-Modified), to the second."""
    return _http_date(when.replace(microsecond=0))


@functools.lru_cache(maxsize=4096)
def _http_date(second: datetime) -> str:
    return format_datetime(second, usegmt=True)  # ~4 us


@functools.lru_cache(maxsize=4096)
def content_type_of(key: str) -> str:
    """The Content-Type guessed from the key's name (for objects stored without one)."""
    return mimetypes.guess_type(key, strict=False)[0] or "binary/octet-stream"  # ~4 us


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # without quotes
    last_modified: datetime
    commit: str

    meta: ObjectMeta = field(default_factory=ObjectMeta)
    pfs_hash: str = ""  # the file's own hash in PFS (hex; pfsd: its MD5), whatever the ETag says

    @classmethod
    def from_file_info(cls, key: str, info: pb.FileInfo, meta: ObjectMeta | None = None) -> ObjectInfo:
        meta = meta or ObjectMeta()
        return cls(key=key, size=info.size_bytes, etag=meta.etag or etag_of(info),
                   last_modified=committed_at(info), commit=info.file.commit.id, meta=meta,
                   pfs_hash=etag_of(info))

    def checksum(self) -> tuple[str, str, str] | None:
        """The stored (algorithm, value, type), while it describes these bytes."""
        return self.meta.current_checksum(self.size, self.pfs_hash, self.last_modified.timestamp())

    def headers(self) -> dict[str, str]:
        """The response headers GET and HEAD share; stored metadata wins over guesses."""
        h = {
            "ETag": f'"{self.etag}"',
            "Last-Modified": http_date(self.last_modified),
            "Content-Type": content_type_of(self.key),
            "Accept-Ranges": "bytes",
        }
        h.update(self.meta.response_headers())
        return h


def is_directory(info: pb.FileInfo) -> bool:
    return info.file_type == _DIR


_DIR = pb.FileType.DIR  # (an attribute of the enum's wrapper is looked up in Python each time)


async def existing_file(client: PFS, ref: Ref, path: str) -> pb.FileInfo | None:
    """The FileInfo at ``path``, or None when there is none (a missing bucket still raises)."""
    try:
        return await client.inspect_file(ref, path)
    except NotFound as e:
        if e.kind == "file":
            return None
        raise


async def inspect(client: PFS, ref: Ref, path: str) -> tuple[pb.FileInfo, ObjectMeta]:
    """The file's FileInfo and its stored metadata.

    Against pfsd the metadata is read at the commit InspectFile resolved, so it can come from
    the cache (then this is one RPC); against pachd both calls run at once at ``ref``.
    """
    if not client.is_pfsd:
        info, meta = await asyncio.gather(client.inspect_file(ref, path),
                                          metadata.read(client, ref, path))
        return info, meta
    info = await client.inspect_file(ref, path)
    if is_directory(info):
        return info, ObjectMeta()
    return info, await metacache.read_at(client, ref, info.file.commit.id, path)


async def open_object(client: PFS, ref: Ref, path: str,
                      offset: int) -> tuple[pb.FileInfo, ObjectMeta, FileReader] | None:
    """Start reading the file from ``offset``; its FileInfo comes with the bytes (pfsd).

    None when the call brought no FileInfo (pachd, or a failure such as a missing key): the
    caller then asks InspectFile, which also explains failures. The reader is the caller's
    to cancel when it answers without the body (a 304, 412 or 416).
    """
    if client.is_pfsd is False:
        return None
    # the metadata sidecar's page comes with the bytes: one RPC even when it is not cached
    # and, with pfsd in this process, the blob's descriptor instead of its bytes (gateway.ops.download)
    reader = client.open_file(ref, path, offset, page_of=metadata.sidecar_dir(path), local=True)
    try:
        info = await reader.info()
        if info is None or is_directory(info):
            reader.cancel()
            return None
        commit = info.file.commit.id
        meta = metacache.cached(client, ref, commit, path)  # else the page is parsed
        if meta is None:
            meta = metacache.from_page(client, ref, commit, path, reader.page())
        if meta is None:
            meta = await metacache.read_at(client, ref, commit, path)
    except BaseException:
        reader.cancel()
        raise
    return info, meta, reader


async def current_object(client: PFS, ref: Ref, path: str, key: str) -> tuple[pb.FileInfo, ObjectMeta]:
    """The object and its metadata; NoSuchKey when there is none."""
    try:
        info, meta = await inspect(client, ref, path)
    except NotFound as e:
        if e.kind == "file":
            raise errors.no_such_key(key) from None
        raise
    if is_directory(info):
        raise errors.no_such_key(key)
    return info, meta


async def replace_metadata(client: PFS, ref: Ref, path: str, info: pb.FileInfo, meta: ObjectMeta,
                           description: str) -> str:
    """Rewrite the object's metadata sidecar whole (tags, ACL: its bytes stay), in one commit;
    the commit's ID. ``info`` is the object as read: against pfsd the commit requires it to
    still hold those bytes, so a PUT that lands in between is not given stale metadata (409).
    Its part checksums are carried over from the commit it was read at."""
    try:
        read_at = Ref(ref.project, ref.repo, ref.branch, info.file.commit.id)
        ops = metadata.write_ops(path, meta, metadata.parts_source(read_at, path, meta))
        commit = await client.modify_file(ref, ops, description,
                                          require=[Requirement(path, etag_of(info))])
    except ConditionFailed:
        raise errors.S3Error(409, "OperationAborted", "A conflicting operation is currently in "
                             "progress against this resource. Please try again.") from None
    metacache.remember(client, ref, commit, path, meta)
    return commit


def part_sizes(runs: list[list[int]]) -> list[int]:
    """A multipart object's part sizes from the ``[size, count]`` runs in its metadata."""
    return [size for size, count in runs for _ in range(count)]


def part_range(obj: ObjectInfo, number: int) -> tuple[int, int, int]:
    """(first byte, last byte, parts count) of part ``number``: a multipart object's parts as
    completed, any other object is one part. 416 InvalidPartNumber past the last part."""
    runs = obj.meta.parts or [[obj.size, 1]]
    count = sum(c for _, c in runs)
    if not 1 <= number <= count:
        raise errors.S3Error(416, "InvalidPartNumber", "The requested partnumber is not satisfiable",
                             PartNumberRequested=str(number), ActualPartCount=str(count))
    start, index = 0, number - 1
    for size, c in runs:
        if index < c:
            first = start + index * size
            return first, first + size - 1, count
        start += size * c
        index -= c
    raise AssertionError("unreachable")
