"""ListObjectVersions: the versions of the keys under a prefix, in S3's order.

Keys come in key order, each with its versions newest first (gateway.ops.versions: one
FindCommits per key, then what each version needs), so a page costs what it returns, plus
one look-up per key it passes. The keys are those of the branch head merged with the hidden
key index (``/.s3g/vidx/<key> ``), which also holds the keys whose current version is a
delete marker. Markers are S3's: ``key-marker`` alone resumes after that key (or after that
common prefix), with ``version-id-marker`` after that version of it. Any delimiter rolls keys
up into common prefixes, each counted once against ``max-keys``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc

from gateway.ops import listing
from gateway.ops.versions import INDEX_DIR, Version, at, history
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, UNARY_TIMEOUT, Ref
from gateway.pfs.errors import NotFound, from_rpc_error
from gateway.s3 import errors
from gateway.s3.names import RESERVED_PREFIX, folder_path, is_commit_id, is_folder_key
from generated.pfs import pfs_pb2 as pb

_PAGE = 1000


@dataclass
class VersionPage:
    versions: list[Version] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_key: str = ""
    next_commit: str = ""  # the next version-id-marker ("" after a common prefix)


async def list_commits(client: PFS, ref: Ref, start: str, number: int) -> list[pb.CommitInfo]:
    """``start`` and its ancestors, newest first, at most ``number`` (one ListCommit)."""
    req = pb.ListCommitRequest(repo=ref.repo_pb(), number=number,
                               to=Ref(ref.project, ref.repo, ref.branch, start).commit_pb())
    try:
        return [c async for c in client.api.ListCommit(req, timeout=UNARY_TIMEOUT)]
    except grpc.aio.AioRpcError as e:
        raise from_rpc_error(e) from None


def check_markers(key_marker: str | None, version_marker: str | None) -> None:
    if not version_marker:
        return
    if not key_marker:
        raise errors.invalid_argument("A version-id marker cannot be specified without a key "
                                      "marker.", "version-id-marker", version_marker)
    if version_marker != "null" and not is_commit_id(version_marker):
        raise errors.invalid_argument("Invalid version id specified", "version-id-marker",
                                      version_marker)


async def _data_keys(client: PFS, head: Ref, prefix: str, after: str | None,
                     size: int) -> AsyncIterator[str]:
    while True:
        page = await listing.list_page(client, head, prefix, None, after, size)
        for key, _ in page.files:
            yield key
        if not page.truncated:
            return
        after = page.last


async def _index_keys(client: PFS, head: Ref, prefix: str, after: str | None,
                      size: int) -> AsyncIterator[str]:
    root = INDEX_DIR + "/" + prefix[: prefix.rfind("/") + 1]
    base = len(INDEX_DIR) + 1
    if after is not None and after >= prefix:
        cursor: str | None = INDEX_DIR + "/" + after + " "
    else:
        cursor = INDEX_DIR + "/" + prefix if prefix else None
    while True:
        try:
            if client.use_extensions:
                batch = await file_pages.walk_file(client, head, root, cursor, size)
            else:
                batch = await client.walk_file(head, root, cursor, size)
        except NotFound as e:
            if e.kind in ("file", None):
                return
            raise
        for info in batch:
            path = info.file.path
            if info.file_type == pb.FileType.DIR or not path.endswith(" "):
                continue
            key = path[base:-1]
            if not key.startswith(prefix):
                if key > prefix:
                    return
                continue
            if key.startswith(RESERVED_PREFIX):
                # a folder marker's entry (its path is in the hidden marker tree): the marker
                # is listed from the head's keys, which hold it while it exists
                continue
            yield key
        if len(batch) < size:
            return
        cursor = batch[-1].file.path


async def keys(client: PFS, head: Ref, prefix: str, after: str | None,
               size: int = _PAGE) -> AsyncIterator[str]:
    """Every key under ``prefix`` after ``after`` that has versions, in key order, once each."""
    a = _data_keys(client, head, prefix, after, size)
    b = _index_keys(client, head, prefix, after, size)
    x, y = await anext(a, None), await anext(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x < y):
            key, x = x, await anext(a, None)
        elif x is None or y < x:
            key, y = y, await anext(b, None)
        else:
            key, x, y = x, await anext(a, None), await anext(b, None)
        yield key


def _path(key: str) -> str:
    """The PFS path whose history is the key's versions (a folder marker's hidden file)."""
    return folder_path(key) if is_folder_key(key) else "/" + key


def common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    if not delimiter:
        return None
    cut = key.find(delimiter, len(prefix))
    return key[: cut + len(delimiter)] if cut >= 0 else None


async def list_versions(client: PFS, ref: Ref, head: str, prefix: str, delimiter: str | None,
                        key_marker: str | None, version_marker: str | None,
                        max_keys: int) -> VersionPage:
    """One page of versions and common prefixes under ``prefix``, after the markers."""
    check_markers(key_marker, version_marker)
    page = VersionPage()
    if max_keys <= 0:
        return page
    count = 0

    def full() -> bool:
        nonlocal count
        if count == max_keys:
            page.truncated = True
            return True
        count += 1
        return False

    if version_marker and key_marker and key_marker.startswith(prefix):
        seen = False  # the rest of the marker key's versions come first
        async for v in history(client, ref, head, key_marker, _path(key_marker)):
            if seen:
                if full():
                    return page
                page.versions.append(v)
                page.next_key, page.next_commit = key_marker, v.version_id
            seen = seen or v.version_id == version_marker
    after = key_marker
    if delimiter and after and common_prefix(after, prefix, delimiter) == after:
        after += listing.TOP  # resuming after a common prefix: past every key it rolled up
    size = min(_PAGE, max_keys + 1)
    while True:
        rolled = None
        async for key in keys(client, at(ref, head), prefix, after, size):
            rolled = common_prefix(key, prefix, delimiter)
            if rolled is not None:
                if full():
                    return page
                page.prefixes.append(rolled)
                page.next_key, page.next_commit = rolled, ""
                break
            async for v in history(client, ref, head, key, _path(key)):
                if full():
                    return page
                page.versions.append(v)
                page.next_key, page.next_commit = key, v.version_id
        if rolled is None:
            return page
        after = rolled + listing.TOP
