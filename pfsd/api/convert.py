"""Building pfs_v2 response messages from store records."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from generated.pfs import pfs_pb2
from pfsd.store.meta import CommitRec, RepoRec
from pfsd.store.views import Entry


def ts(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    out = Timestamp()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def repo_msg(repo: RepoRec) -> pfs_pb2.Repo:
    return pfs_pb2.Repo(name=repo.name, type=repo.type, project=pfs_pb2.Project(name=repo.project))


def branch_msg(repo: RepoRec, name: str) -> pfs_pb2.Branch:
    return pfs_pb2.Branch(repo=repo_msg(repo), name=name)


def commit_msg(repo: RepoRec, commit_id: str, branch: str) -> pfs_pb2.Commit:
    return pfs_pb2.Commit(repo=repo_msg(repo), id=commit_id, branch=branch_msg(repo, branch))


def commit_info(
    repo: RepoRec, c: CommitRec, parent_branch: str | None, children: list[tuple[str, str]]
) -> pfs_pb2.CommitInfo:
    info = pfs_pb2.CommitInfo(
        commit=commit_msg(repo, c.id, c.branch),
        origin=pfs_pb2.CommitOrigin(kind=pfs_pb2.USER),
        description=c.description,
        child_commits=[commit_msg(repo, cid, br) for cid, br in children],
        started=ts(c.started),
        finishing=ts(c.finishing),
        finished=ts(c.finished),
        error=c.error,
        size_bytes_upper_bound=c.size,
        details=pfs_pb2.CommitInfo.Details(size_bytes=c.size),
    )
    if c.parent is not None:
        info.parent_commit.CopyFrom(commit_msg(repo, c.parent, parent_branch or c.branch))
    return info


# Hand-encoded FileInfo: building the message (a copy of the commit per entry, a Timestamp) took
# ~15 us of a listing's ~20 us per entry; these bytes take ~2 us and equal SerializeToString's
# output (fields in number order, defaults omitted; tests/pfsd/test_wire.py checks it).
def commit_field(commit: pfs_pb2.Commit) -> bytes:
    """`File.commit` (field 1) encoded once per request, for `file_info_bytes`."""
    data = commit.SerializeToString()
    return b"\x0a" + varint(len(data)) + data


@functools.lru_cache(maxsize=4096)
def commit_field_of(repo: RepoRec, commit_id: str, branch: str) -> bytes:
    """`commit_field` of `commit_msg`, built once per (repo, commit ID, branch): these never
    change, and the message and its encoding cost ~8 us, as much as the query that resolved it."""
    return commit_field(commit_msg(repo, commit_id, branch))


def file_info_bytes(commit: bytes, entry: Entry) -> bytes:
    """The serialized FileInfo of `entry` at the commit encoded by `commit_field`."""
    path = entry.path.encode()
    file = commit + b"\x12" + varint(len(path)) + path
    out = b"\x0a" + varint(len(file)) + file
    row = entry.row
    if row is None:
        return out + b"\x10\x02"  # file_type DIR
    out += b"\x10\x01" + _committed(row.committed)  # file_type FILE, committed
    if row.size:
        out += b"\x20" + varint(row.size)
    if row.md5:
        out += b"\x2a" + varint(len(row.md5)) + row.md5
    return out


def page_bytes(commit: bytes, entries: Iterable[Entry], number: int, until: str | None = None) -> bytes:
    """A serialized FileInfoPage (codegen/proto/pfsd/pages.proto): the first ``number`` of
    ``entries`` (stopping before a path >= ``until``), each as `file_info_bytes` encodes it.

    `file_info_bytes` inlined, with the usual sizes' varints taken from a
    table: a listing page is 1,000 of them, and the calls and intermediate bytes of the
    general form were a third of its cost. A run of files written by one commit (a bulk
    load) encodes its time once."""
    out = bytearray()
    small = _SMALL
    head = commit + b"\x12"
    count = 0
    last, stamp = None, b""
    for path, row in entries:
        if until is not None and path >= until:
            break
        p = path.encode()
        n = len(p)
        file = head + small[n] + p if n < 0x80 else head + varint(n) + p
        n = len(file)
        tag = b"\x0a" + small[n] if n < 0x80 else b"\x0a" + varint(n)
        if row is None:
            info = tag + file + b"\x10\x02"  # file_type DIR
        else:
            if row.committed != last:  # file_type FILE, then `committed`
                last = row.committed
                stamp = b"\x10\x01" + _committed(last)
            info = tag + file + stamp
            size, md5 = row.size, row.md5
            if size:
                info += b"\x20" + (small[size] if size < 0x80 else varint(size))
            if md5:
                info += b"\x2a\x10" + md5 if len(md5) == 16 else b"\x2a" + varint(len(md5)) + md5
        n = len(info)
        out += b"\x0a" + small[n] if n < 0x80 else b"\x0a" + varint(n)  # FileInfoPage field 1
        out += info
        count += 1
        if count == number:
            break
    return bytes(out)


def bytes_value(data: bytes) -> bytes:
    """A serialized google.protobuf.BytesValue: one copy of `data`, where building the message
    and serializing it made two (GetFile's chunks are 1 MiB)."""
    return b"\x0a" + varint(len(data)) + data if data else b""


def _committed(seconds: float) -> bytes:
    """Field 3, a Timestamp, as Timestamp.FromNanoseconds(int(seconds * 1e9)) sets it.

    Every PUT is its own commit, so a listing page's times are nearly all distinct: no cache of
    whole encodings (an LRU of them missed on every entry of a 10,000-key listing), only of the
    seconds' field, which the files of one second share."""
    whole, nanos = divmod(int(seconds * 1e9), 1_000_000_000)
    head = _SECONDS.get(whole)
    if head is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        head = _SECONDS[whole] = b"\x08" + varint(whole) if whole else b""
    stamp = head + b"\x10" + varint(nanos) if nanos else head
    return b"\x1a" + _SMALL[len(stamp)] + stamp  # at most 2 + 10 + 1 + 5 bytes


_SECONDS: dict[int, bytes] = {}


def varint(n: int) -> bytes:
    """Protobuf's base-128 varint of ``n`` >= 0 (up to 5 bytes without a loop: lengths, sizes,
    a Timestamp's seconds and nanos)."""
    if n < 0x80:
        return _SMALL[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0x200000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
    if n < 0x10000000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80, n >> 21))
    if n < 0x800000000:
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14 & 0x7F | 0x80,
                      n >> 21 & 0x7F | 0x80, n >> 28))
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes([i]) for i in range(0x80)]


def file_info(commit: pfs_pb2.Commit, entry: Entry) -> pfs_pb2.FileInfo:
    """A FileInfo: files carry size, MD5 digest and commit time; directories only their path.

    The reference form; the read RPCs send `file_info_bytes`, its serialization built faster.
    """
    file = pfs_pb2.File(commit=commit, path=entry.path)
    row = entry.row
    if row is None:
        return pfs_pb2.FileInfo(file=file, file_type=pfs_pb2.DIR)
    return pfs_pb2.FileInfo(
        file=file,
        file_type=pfs_pb2.FILE,
        committed=ts(row.committed),
        size_bytes=row.size,
        hash=row.md5 or b"",
    )
