"""S3 versions of one key, over the PFS commits that wrote it.

A version of a key is a commit that modified its path (pfs_v2 ``FindCommits``: pfsd answers
it from an index, pachd by walking the branch's commits). What S3 says about that commit is
read from the key's metadata sidecar *at that commit*, written in the same commit by the
gateway (``ObjectMeta.version``, ``ObjectMeta.marker``):

- no version: an unversioned write (or one made outside the gateway). Unversioned writes
  replace each other, so the newest of them is the key's ``null`` version and nothing older
  is looked at;
- ``"c"``: a version whose ID is the commit; with ``marker``, a delete marker;
- ``"null"``: the null version (written while Suspended): only the newest counts;
- a commit ID: the commit restored that version as the current one after the newer current
  version was deleted (``DELETE ?versionId=``): not a version of its own.

A deleted version is recorded as an empty hidden file ``/.s3g/gone/<key>/<commit>`` at the
branch head, in the commit that deletes it: PFS history is never rewritten, every gateway copy
agrees, and the bytes stay in PFS until Pachyderm's own tools reclaim them.

Keys that have versions but no current object (a delete marker) must still be listed: every
versioned write also writes ``/.s3g/vidx/<key> `` (a trailing space keeps the index in key
order), which ListObjectVersions walks beside the keys themselves (gateway.ops.history).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from gateway.ops.objects import committed_at, etag_of, existing_file, is_directory
from gateway.pfs import metacache, metadata
from gateway.pfs.client import PFS, Ref, add_file, copy_file, delete_file
from gateway.pfs.errors import NotFound
from gateway.pfs.metadata import ObjectMeta
from gateway.s3 import errors
from gateway.s3.names import RESERVED_PREFIX, is_commit_id
from generated.pfs import pfs_pb2 as pb

GONE_DIR = "/" + RESERVED_PREFIX + "gone"
INDEX_DIR = "/" + RESERVED_PREFIX + "vidx"
NULL = "null"
_BATCH = 32  # commits asked of FindCommits at a time


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str  # a commit ID, or "null"
    commit: str  # the commit that wrote it
    latest: bool
    info: pb.FileInfo | None  # None: a delete marker
    meta: ObjectMeta
    last_modified: datetime

    @property
    def marker(self) -> bool:
        return self.info is None

    delete_marker = marker

    @property
    def etag(self) -> str:
        if self.info is None:
            return ""
        return self.meta.etag or etag_of(self.info)


def at(ref: Ref, commit: str) -> Ref:
    return Ref(ref.project, ref.repo, ref.branch, commit)


def index_path(path: str) -> str:
    return INDEX_DIR + path + " "


def index_ops(path: str, mode: str | None) -> list[pb.ModifyFileRequest]:
    """A versioned write's entry in the key index (nothing for an unversioned write)."""
    return [add_file(index_path(path), b"")] if mode else []


def gone_op(path: str, commit: str) -> pb.ModifyFileRequest:
    return add_file(f"{GONE_DIR}{path}/{commit}", b"")


async def gone(client: PFS, head: Ref, path: str) -> set[str]:
    """The commits of the key's versions that were deleted."""
    out: set[str] = set()
    after = None
    while True:
        try:
            page = await client.list_file(head, f"{GONE_DIR}{path}/", after, 1000)
        except NotFound as e:
            if e.kind != "file":
                raise
            return out
        out.update(info.file.path.rsplit("/", 1)[-1] for info in page)
        if len(page) < 1000:
            return out
        after = page[-1].file.path


async def _file_at(client: PFS, ref: Ref, commit: str, path: str) -> pb.FileInfo | None:
    info = await existing_file(client, at(ref, commit), path)
    return None if info is None or is_directory(info) else info


async def _finished(client: PFS, ref: Ref, commit: str) -> datetime:
    info = await client.inspect_commit(at(ref, commit))
    for ts in (info.finished, info.started):
        if ts.seconds or ts.nanos:
            return ts.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


async def _version(client: PFS, ref: Ref, key: str, path: str, vid: str, commit: str,
                   meta: ObjectMeta, latest: bool) -> Version:
    info = None if meta.marker else await _file_at(client, ref, commit, path)
    when = committed_at(info) if info is not None else await _finished(client, ref, commit)
    return Version(key, vid, commit, latest, info, meta, when)


async def history(client: PFS, ref: Ref, head: str, key: str, path: str,
                  gone_ids: set[str] | None = None) -> AsyncIterator[Version]:
    """The key's S3 versions and delete markers at ``head``, newest first."""
    if gone_ids is None:
        gone_ids = await gone(client, at(ref, head), path)
    start: str | None = head
    null_seen = False
    latest: str | None = None  # the current version's ID, once known
    decided = False
    while start is not None:
        try:
            found, _ = await client.find_commits(at(ref, start), path, _BATCH)
        except NotFound:
            return  # the parent of the root
        start = f"{found[-1]}^" if len(found) == _BATCH else None
        metas = await asyncio.gather(*(metacache.read_at(client, ref, c, path) for c in found))
        for commit, meta in zip(found, metas, strict=True):
            mode = meta.version
            if mode is None:  # unversioned writes: the newest is the null version, and the last
                if not null_seen and commit not in gone_ids:
                    info = await _file_at(client, ref, commit, path)
                    if info is not None:
                        yield Version(key, NULL, commit, not decided or latest == NULL, info,
                                      meta, committed_at(info))
                return
            if mode not in ("c", NULL):  # a restoration: names the current version
                if not decided:
                    latest, decided = mode, True
                continue
            if mode == NULL:
                if null_seen:
                    continue  # replaced by a newer null version
                null_seen = True
            vid = commit if mode == "c" else NULL
            if commit in gone_ids:
                continue
            if not decided:
                latest, decided = vid, True
            yield await _version(client, ref, key, path, vid, commit, meta, latest == vid)


async def current_id(client: PFS, ref: Ref, head: str, path: str, meta: ObjectMeta,
                     exists: bool) -> str | None:
    """The version ID of what the key holds at ``head`` (``meta``: its sidecar there)."""
    mode = meta.version
    if mode is None:
        return NULL if exists else None
    if mode == "c":
        found, _ = await client.find_commits(at(ref, head), path, 1)
        return found[0] if found else None
    return mode


async def resolve(client: PFS, ref: Ref, head: str, key: str, path: str,
                  version_id: str) -> Version:
    """The version ``version_id`` of the key (NoSuchVersion when it is not one); ``latest`` is
    left False except for the null version (ask :func:`is_current`)."""
    if version_id == NULL:
        async for v in history(client, ref, head, key, path):
            if v.version_id == NULL:
                return v
        raise errors.no_such_version(key, version_id)
    if not is_commit_id(version_id):
        raise errors.invalid_argument("Invalid version id specified", "versionId", version_id)
    try:
        (found, _), meta, dead = await asyncio.gather(
            client.find_commits(at(ref, version_id), path, 1),
            metacache.read_at(client, ref, version_id, path),
            existing_file(client, at(ref, head), f"{GONE_DIR}{path}/{version_id}"))
    except NotFound:
        raise errors.no_such_version(key, version_id) from None
    if found[:1] != [version_id] or meta.version != "c" or dead is not None:
        raise errors.no_such_version(key, version_id)
    return await _version(client, ref, key, path, version_id, version_id, meta, False)


async def is_current(client: PFS, ref: Ref, head: str, path: str, version_id: str) -> bool:
    meta = await metacache.read_at(client, ref, head, path)
    exists = await _file_at(client, ref, head, path) is not None
    return await current_id(client, ref, head, path, meta, exists) == version_id


async def delete_version(client: PFS, ref: Ref, key: str, path: str,
                         version_id: str) -> tuple[str | None, Version | None]:
    """Remove one version from the S3 view; returns (commit made, the version) or (None, None).

    An older version only gains its ``gone`` record. The current one also makes the newest
    remaining version current again, written back (bytes by CopyFile, and metadata) in the
    same commit, or removes the key when none remains.

    What is written depends on the head it read, so deletes of one key's versions take turns
    in this process (clients such as rclone delete a key's versions concurrently).
    """
    key_of = (ref.project, ref.repo, ref.branch, path)
    entry = _locks.setdefault(key_of, [asyncio.Lock(), 0])
    entry[1] += 1
    try:
        async with entry[0]:
            return await _delete_version(client, ref, key, path, version_id)
    finally:
        entry[1] -= 1
        if not entry[1]:
            _locks.pop(key_of, None)


_locks: dict[tuple[str, str, str, str], list] = {}  # key -> [its lock, requests using it]


async def _delete_version(client: PFS, ref: Ref, key: str, path: str,
                          version_id: str) -> tuple[str | None, Version | None]:
    head = (await client.inspect_branch(ref)).head.id
    try:
        target = await resolve(client, ref, head, key, path, version_id)
    except errors.S3Error as e:
        if e.code == "NoSuchVersion":
            return None, None  # already gone (or never was): deleting it again succeeds
        raise
    ops = [gone_op(path, target.commit)]
    if await is_current(client, ref, head, path, target.version_id):
        remaining = [v async for v in history(client, ref, head, key, path)
                     if v.commit != target.commit]
        ops += restore_ops(ref, path, remaining[0] if remaining else None)
    commit = await client.modify_file(ref, ops, f"DeleteObject {key} version {version_id}")
    return commit, target


def restore_ops(ref: Ref, path: str, prev: Version | None) -> list[pb.ModifyFileRequest]:
    """Make ``prev`` the key's current state again (None: the key has no version left)."""
    if prev is None:
        return [delete_file(path), delete_file(metadata.sidecar_dir(path)), delete_file(index_path(path))]
    meta = dataclasses.replace(prev.meta, version=prev.version_id, marker=prev.marker)
    ops = [delete_file(path)]
    if not prev.marker:
        ops.append(copy_file(path, at(ref, prev.commit), path))
    return ops + metadata.write_ops(path, meta, metadata.parts_source(at(ref, prev.commit), path, meta))


# -- what GET, HEAD and DELETE need ------------------------------------------------------------

async def head_of(client: PFS, ref: Ref) -> str:
    return ref.commit or (await client.inspect_branch(ref)).head.id


async def pick(client: PFS, ref: Ref, key: str, path: str, version_id: str) -> Ref:
    """Where GET/HEAD ``?versionId=`` read: the version's commit. A delete marker answers 405
    MethodNotAllowed (with ``x-amz-delete-marker``), as S3 does."""
    v = await resolve(client, ref, await head_of(client, ref), key, path, version_id)
    if v.marker:
        err = errors.method_not_allowed("GET", "DeleteMarker")
        err.headers.update({"x-amz-delete-marker": "true", "x-amz-version-id": version_id,
                            "Last-Modified": format_datetime(v.last_modified, usegmt=True)})
        raise err
    return at(ref, v.commit)


async def target(client: PFS, ref: Ref, key: str, path: str, version_id: str | None) -> Ref:
    """Where a read of ``?versionId=`` looks: ``ref`` without one, else the version's commit
    (``null`` and deleted versions as :func:`pick` finds them); a malformed ID is 400."""
    if version_id is None:
        return ref
    if version_id != NULL and not is_commit_id(version_id):
        raise errors.invalid_argument("Invalid version id specified", "versionId", version_id)
    return await pick(client, ref, key, path, version_id)


async def read_headers(client: PFS, ref: Ref, path: str, meta: ObjectMeta, commit: str,
                       version_id: str | None) -> dict[str, str]:
    """``x-amz-version-id`` of what GET/HEAD read at ``commit``: none for an unversioned object
    (no RPC: what the object is comes with its metadata), else its version's ID."""
    if version_id is not None:
        return {"x-amz-version-id": version_id}
    mode = meta.version
    if mode is None or mode == "x":
        return {}
    vid = await current_id(client, ref, commit, path, meta, True)
    return {"x-amz-version-id": vid} if vid else {}


async def missing(client: PFS, ref: Ref, key: str, path: str) -> errors.S3Error:
    """NoSuchKey, with ``x-amz-delete-marker`` when the key's current version is a marker."""
    err = errors.no_such_key(key)
    try:
        head = await head_of(client, ref)
        meta = await metacache.read_at(client, ref, head, path)
        if meta.marker:
            err.headers["x-amz-delete-marker"] = "true"
            vid = await current_id(client, ref, head, path, meta, False)
            if vid:
                err.headers["x-amz-version-id"] = vid
    except NotFound:
        pass
    return err


def marker_ops(path: str, mode: str) -> list[pb.ModifyFileRequest]:
    """A delete marker: the file goes, its sidecar says so, in one commit."""
    return [delete_file(path), *metadata.write_ops(path, ObjectMeta(version=mode, marker=True)),
            *index_ops(path, mode)]
