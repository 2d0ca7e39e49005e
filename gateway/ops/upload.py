"""One object write: a streamed body, its metadata and version index, in one ModifyFile commit.

PutObject, POST Object (form uploads) and the explorer's uploads all write through
:func:`write_object`: the body's checks (digests, a form policy's length range, a folder
marker's emptiness) settle before the stream completes, so a failed check cancels the stream
and PFS commits nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from gateway.ops import conditional, folders, versioning, versions
from gateway.ops.body import UploadBody
from gateway.ops.objects import existing_file, is_directory
from gateway.pfs import metacache, metadata
from gateway.pfs.client import PFS, Ref, Requirement
from gateway.pfs.errors import FailedPrecondition
from gateway.s3 import errors
from gateway.s3.names import is_folder_key
from generated.pfs import pfs_pb2 as pb


async def write_object(client: PFS, ref: Ref, path: str, key: str, body: UploadBody,
                       meta: metadata.ObjectMeta, description: str,
                       require: Sequence[Requirement] = (),
                       cond: conditional.WriteCondition | None = None) -> str:
    """Stream ``body`` to ``path`` with ``meta``, in one commit described by ``description``;
    the commit's ID. ``meta.version`` is set to how the bucket versions the write."""
    known, cached = versioning.peek(ref)  # the status as read less than a few seconds ago
    status = None if known else asyncio.ensure_future(versioning.status(client, ref))
    folder = is_folder_key(key)
    if client.can_check:
        try:
            commit = await conditional.guarded(_write_checked_by_pfsd(
                client, ref, path, key, body, meta, require, status, cached, description), cond)
        finally:
            _settle(status)
        await body.settle_md5(client, ref, commit)
        metacache.remember(client, ref, commit, path, meta)
        return commit
    # One look-up checks the bucket (PFS would create a missing branch; S3 never does) and
    # what the key is now: PFS's DeleteFile of a directory is recursive, so a directory is
    # refused. pfsd applies nothing of a stream before it ends, so there the look-up runs
    # while the body streams and the stream completes only once it passed; against pachd it
    # comes first, as pachd may act on a stream's first messages.
    check = asyncio.ensure_future(existing_file(client, ref, path))
    if not client.is_pfsd:
        await asyncio.wait((check,))
        _refuse_unless_writable(check, key)

    async def ops():
        async for op in body.file_ops(path):
            yield op
            if check.done():
                _refuse_unless_writable(check, key)  # a missing bucket fails before the last byte
        meta.version = versioning.version_mode(await status if status is not None else cached)
        meta.checksum = body.stored_checksum()  # the body is all read: its digests are final
        for op in (*metadata.write_ops(path, meta), *versions.index_ops(path, meta.version)):
            yield op  # write_ops also drops a stale sidecar
        await asyncio.wait((check,))
        _refuse_unless_writable(check, key)
        body.verify()  # raising here cancels the stream: PFS commits nothing
        if folder and body.size:
            raise folders.not_empty(key)

    try:
        commit = await conditional.guarded(
            client.modify_file(ref, ops(), description, require=require, md5=body.md5_report(path)),
            cond)
    finally:
        _settle(check)
        _settle(status)
    await body.settle_md5(client, ref, commit)
    metacache.remember(client, ref, commit, path, meta)
    return commit


def _settle(task: asyncio.Future | None) -> None:
    if task is None:
        return
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()  # retrieved: an upload that failed first must not log it


async def _write_checked_by_pfsd(client: PFS, ref: Ref, path: str, key: str, body: UploadBody,
                                 meta: metadata.ObjectMeta, require: Sequence[Requirement],
                                 status: asyncio.Future | None, cached: str | None,
                                 description: str) -> str:
    """The write in one RPC: pfsd refuses the stream if the branch is missing or the key is a
    directory (checked as it applies it), so no look-up is needed first. A small body is read
    whole first and its operations go as one list (see UploadBody.read_small)."""

    def finish() -> list[pb.ModifyFileRequest]:
        """The operations after the body's, once it is all read and its checks passed."""
        meta.checksum = body.stored_checksum()  # the body is all read: its digests are final
        body.verify()  # raising here cancels the stream (or sends none): PFS commits nothing
        if is_folder_key(key) and body.size:
            raise folders.not_empty(key)
        # write_ops also drops a stale sidecar
        return [*metadata.write_ops(path, meta), *versions.index_ops(path, meta.version)]

    pieces = await body.read_small()
    if pieces is not None:
        meta.version = versioning.version_mode(await status if status is not None else cached)
        ops = [*body.small_ops(path, pieces), *finish()]
    else:
        ops = _streamed_ops(body, path, meta, status, cached, finish)
    try:
        return await client.modify_file(ref, ops, description, require=list(require),
                                        checks=(path,), md5=body.md5_report(path))
    except FailedPrecondition as e:
        if "is a directory" in e.message:
            raise errors.path_conflict(key) from None
        raise body.md5_refused(e) or e from None


async def _streamed_ops(body: UploadBody, path: str, meta: metadata.ObjectMeta,
                        status: asyncio.Future | None, cached: str | None,
                        finish: Callable[[], list[pb.ModifyFileRequest]]):
    async for op in body.file_ops(path):
        yield op
    meta.version = versioning.version_mode(await status if status is not None else cached)
    for op in finish():
        yield op


def _refuse_unless_writable(check: asyncio.Future, key: str) -> None:
    existing = check.result()  # raises the look-up's error (NoSuchBucket, ...)
    if existing is not None and is_directory(existing):
        raise errors.path_conflict(key)
