"""A key's PFS commit log beside its S3 view: every commit that wrote the key, and what S3
clients see of it (a version, a delete marker, a deleted version, the null version, or no
version at all). The explorer's object history page shows it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.ops.objects import committed_at, etag_of
from gateway.ops.versions import NULL, _file_at, at, current_id, gone
from gateway.pfs import metacache
from gateway.pfs.client import PFS, Ref
from generated.pfs import pfs_pb2 as pb


@dataclass(frozen=True)
class LogEntry:
    commit: str
    time: datetime
    info: pb.FileInfo | None  # None: the commit removed the key
    etag: str
    version_id: str | None  # the S3 version this commit is; None: not one
    marker: bool  # a delete marker
    deleted: bool  # a version deleted from the S3 view (DELETE ?versionId=)
    latest: bool  # the key's current S3 version
    note: str  # why a commit is no version: "restores <id>", "replaced null version", ...

    @property
    def size(self) -> int | None:
        return self.info.size_bytes if self.info is not None else None


async def _when(client: PFS, ref: Ref, commit: str, info: pb.FileInfo | None) -> datetime:
    if info is not None and info.HasField("committed"):
        return committed_at(info)
    c = await client.inspect_commit(at(ref, commit))
    for ts in (c.finished, c.started):
        if ts.seconds or ts.nanos:
            return ts.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


async def commit_log(client: PFS, ref: Ref, head: str, path: str, start: str | None,
                     limit: int) -> tuple[list[LogEntry], str | None]:
    """Up to ``limit`` commits that wrote ``path``, after ``start`` (the last commit of the
    previous page; default: from the head), and the next page's ``start`` (None: no more)."""
    found, _ = await client.find_commits(at(ref, start or head), path, limit + 2)
    if start and found[:1] == [start]:
        found = found[1:]
    more = len(found) > limit
    found = found[:limit]
    head_meta = await metacache.read_at(client, ref, head, path)
    head_file = await _file_at(client, ref, head, path)
    dead, latest, metas, infos = await asyncio.gather(
        gone(client, at(ref, head), path),
        current_id(client, ref, head, path, head_meta, head_file is not None),
        asyncio.gather(*(metacache.read_at(client, ref, c, path) for c in found)),
        asyncio.gather(*(_file_at(client, ref, c, path) for c in found)))
    times = await asyncio.gather(*(_when(client, ref, c, i) for c, i in zip(found, infos, strict=True)))
    rows: list[LogEntry] = []
    null_seen = start is not None and start != head  # later pages: a newer null may exist
    for commit, meta, info, when in zip(found, metas, infos, times, strict=True):
        mode, vid, note = meta.version, None, ""
        if mode == "c":
            vid = commit
        elif mode in (None, NULL):
            if null_seen:
                note = "replaced null version" if info is not None or mode == NULL else "unversioned delete"
            elif info is None and mode is None:
                note = "unversioned delete"
            else:
                vid = NULL
            null_seen = True
        else:
            note = f"restores {mode[:12]}" if mode != "x" else "last version deleted"
        etag = (meta.etag or etag_of(info)) if info is not None else ""
        rows.append(LogEntry(commit, when, info, etag, vid, meta.marker and vid is not None,
                             commit in dead, vid is not None and vid == latest and commit not in dead,
                             note))
    return rows, (found[-1] if more else None)
