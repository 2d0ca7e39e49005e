"""ModifyFile: stage a stream's changes, then apply them atomically when it ends.

Nothing reaches the metadata before the stream ends, so a broken stream changes nothing (its
partial blob is deleted; a crash leaves only temp files, swept at startup). Consecutive AddFile
messages to one path append, so big files arrive as many chunks and stream to disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import grpc
from google.protobuf import empty_pb2

from generated.pfs import pfs_pb2
from pfsd import errors
from pfsd.api.base import DESCRIPTION_KEY, DESCRIPTION_MAX, Backend, find_commit, repo_key, rpc
from pfsd.names import clean_path, commit_str, dir_prefix, prefix_end, validate_name
from pfsd.store import changes as ch
from pfsd.store import meta, views
from pfsd.store.content import EMPTY, INLINE_MAX, Content, ContentBuilder
from pfsd.store.meta import CommitRec

Ctx = grpc.aio.ServicerContext
COMMIT_ID_KEY = "pfs-commit-id"  # trailing metadata: the commit a ModifyFile wrote (pfsd extension)
# request metadata (pfsd extension): conditions on the target's files, checked in the transaction
REQUIRE_KEY = "pfs-require-bin"
# Request metadata (pfsd extensions, docs/pfsd.md), checked when the stream is applied:
# "pfs-existing-branch: 1": never create the branch (NOT_FOUND instead); "pfs-not-directory-bin:
# <path>" (repeatable): FAILED_PRECONDITION if the path is a directory. An S3 PUT is then one
# RPC, with no InspectFile first to check the bucket and what the key is.
EXISTING_BRANCH_KEY = "pfs-existing-branch"
NOT_DIRECTORY_KEY = "pfs-not-directory-bin"
# Request metadata (pfsd extension): "pfs-md5-of-bin: <path>" answers the MD5 pfsd computed of
# the content this stream wrote at that path, as trailing metadata "pfs-md5: <hex>"; with
# "pfs-md5-expect: <hex>" a stream whose content there has another MD5 (or none) applies
# nothing (FAILED_PRECONDITION). A client need not hash an upload itself for its ETag or to
# check a Content-MD5: pfsd hashes every byte once anyway.
MD5_OF_KEY = "pfs-md5-of-bin"
MD5_EXPECT_KEY = "pfs-md5-expect"
MD5_KEY = "pfs-md5"
STAGED_INLINE_MAX = 64 * 1024 * 1024  # past this, small files of one stream go to blobs


class _Staging:
    """The changes of one ModifyFile stream, with at most one file being received."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.changes: list[ch.Change] = []
        # path -> (position in `changes`, staged content or None when deleted)
        self.latest: dict[str, tuple[int, Content | None]] = {}
        self.held: list[str] = []
        self.inline_bytes = 0
        self.builder: ContentBuilder | None = None
        self.builder_path = ""
        self.cleared: dict[str, int] = {}  # directory prefix -> position of its last DeleteFile
        # the target's view once looked up (None: a branch ModifyFile will create; False: not yet)
        self.view: views.Chain | None | bool = False

    async def close_file(self) -> None:
        if self.builder is None:
            return
        # Still ours while it seals: if the stream is cancelled meanwhile, abort() reaches it.
        content = await self.builder.finish()
        self.builder = None
        if content.blob is not None:
            self.held.append(content.blob)
        else:
            self.inline_bytes += content.size
        self.put(self.builder_path, content)

    def put(self, path: str, content: Content) -> None:
        self.latest[path] = (len(self.changes), content)
        self.changes.append(ch.Put(path, content))

    def delete(self, path: str) -> None:
        self.latest[path] = (len(self.changes), None)
        self.cleared[dir_prefix(path)] = len(self.changes)
        self.changes.append(ch.Delete(path))

    def staged(self, path: str) -> tuple[bool, Content | None]:
        """(whether this stream decided `path`'s content, that content): its last put, or None
        when a later DeleteFile removed it or a directory above it. O(depth), not O(changes)."""
        cleared_at = -1
        if self.cleared:
            i = path.find("/")
            while i != -1:
                cleared_at = max(cleared_at, self.cleared.get(path[: i + 1], -1))
                i = path.find("/", i + 1)
        entry = self.latest.get(path)
        if entry is not None and entry[0] > cleared_at:
            return True, entry[1]
        return cleared_at >= 0, None

    async def put_small(self, path: str, raw, pieces: list | None) -> bool:
        """Stage a new file whose whole content one AddFile carries, if it is small enough to
        stay inline (what a builder would make of it, without one); False to build it."""
        if pieces is None and raw.ByteSize() > INLINE_MAX + 16:
            return False  # a big message's value is not copied out to be measured
        value = raw.value if pieces is None else None
        size = len(value) if value is not None else sum(map(len, pieces or ()))
        if size > INLINE_MAX or self.inline_bytes > STAGED_INLINE_MAX:
            return False
        if self.builder is not None:
            await self.close_file()
        if size:
            data = value if value is not None else b"".join(pieces or ())
            content = Content(size, hashlib.md5(data).digest(), None, data)
        else:
            content = EMPTY  # an empty file (a metadata sidecar)
        self.inline_bytes += size
        self.put(path, content)
        return True

    async def append(self, path: str, data: bytes, base: Content | None) -> None:
        if self.builder is None or self.builder_path != path:
            await self.close_file()
            self.builder = self.backend.content.builder()
            self.builder_path = path
            # past the budget even small files go to blobs: bounds this stream's memory
            self.builder.force_blob = self.inline_bytes > STAGED_INLINE_MAX
            if base is not None:
                await self.builder.add_content(base)
        await self.builder.add(data)

    def abort(self) -> None:
        if self.builder is not None:
            self.builder.abort()
            self.builder = None

    def release(self) -> None:
        for sha in self.held:
            self.backend.content.release(sha)
        self.held.clear()


async def _confirm_not_cancelled(context: Ctx) -> None:
    """Make sure the stream ended by the client's half-close, not by a cancel or lost peer.

    grpc.aio's server ends the request iterator the same way for both: a cancel that arrives
    while the handler waits for the next message reads as a clean end of stream. Sending the
    initial metadata is a real transport operation, and on a cancelled call it fails (the
    handler is cancelled), so nothing that a client gave up on is ever committed.
    """
    await context.send_initial_metadata(())
    if context.cancelled():
        raise asyncio.CancelledError


class ModifyServicer:
    """ModifyFile."""

    backend: Backend

    @rpc
    async def ModifyFile(
        self, request_iterator: AsyncIterator[pfs_pb2.ModifyFileRequest], context: Ctx
    ) -> empty_pb2.Empty:
        staging = _Staging(self.backend)
        target: pfs_pb2.Commit | None = None
        opts = _options(context)  # a malformed requirement fails before the stream is read
        try:
            async for req in request_iterator:
                which = req.WhichOneof("body")
                if which == "set_commit":
                    if staging.builder is not None:
                        await staging.close_file()
                    target = req.set_commit
                    staging.view = False
                    continue
                if target is None:
                    raise errors.invalid("ModifyFile: set_commit must come first")
                if which == "add_file":
                    add = req.add_file
                    if add.WhichOneof("source") == "url":
                        raise errors.unimplemented("AddFile from a URL is not supported by pfsd")
                    path = clean_path(add.path)
                    base = None
                    # A caller in this process (the gateway hosting pfsd) may hand the value
                    # over as the list of buffers it read (`raw.pieces`): taken without a copy.
                    pieces = getattr(add.raw, "pieces", None)
                    if staging.builder is None or staging.builder_path != path:
                        base = self._current(staging, target, path)
                        if base is None and await staging.put_small(path, add.raw, pieces):
                            continue
                    if pieces is None:
                        await staging.append(path, add.raw.value, base)
                    else:
                        for piece in pieces or (b"",):
                            await staging.append(path, piece, base)
                elif which == "delete_file":
                    if staging.builder is not None:
                        await staging.close_file()
                    staging.delete(clean_path(req.delete_file.path))
                elif which == "copy_file":
                    await self._copy(staging, target, req.copy_file)
            # Before sealing the last file: a cancelled stream must leave no blob or temp file.
            await _confirm_not_cancelled(context)
            await staging.close_file()
            if target is None:
                raise errors.invalid("ModifyFile: no commit was set")
            md5 = _md5_of(staging, opts.md5_of, opts.md5_expect)
            commit_id = await self._apply(target, staging.changes, opts.description, opts.requires,
                                          opts.existing_branch, opts.not_dirs)
        except BaseException:
            staging.abort()
            raise
        finally:
            staging.release()
        trailing = ((COMMIT_ID_KEY, commit_id),)
        if md5 is not None:
            trailing += ((MD5_KEY, md5),)
        context.set_trailing_metadata(trailing)
        return empty_pb2.Empty()

    def _view(self, target: pfs_pb2.Commit) -> views.Chain | None:
        """The view AddFile appends to / CopyFile reads from before the stream ends."""
        try:
            _, commit = find_commit(self.backend.db, target)
        except errors.PfsError:
            return None  # a branch that ModifyFile will create
        return meta.chain(self.backend.db, commit)

    def _current(self, staging: _Staging, target: pfs_pb2.Commit, path: str) -> Content | None:
        """What an AddFile to `path` appends to: staged, deleted by this stream, or stored."""
        known, content = staging.staged(path)
        if known:
            return content  # the gateway's PUTs delete first: no look-up
        if staging.view is False:
            staging.view = self._view(target)  # one snapshot per stream: a lookup per new path
        view = staging.view
        row = views.lookup(self.backend.db, view, path) if view else None
        return views.content_of(self.backend.db, row) if row else None

    async def _copy(self, staging: _Staging, target: pfs_pb2.Commit, req: pfs_pb2.CopyFile) -> None:
        conn = self.backend.db
        repo, src_commit = find_commit(conn, req.src.commit)
        src_view = meta.chain(conn, src_commit)
        src, dst = clean_path(req.src.path), clean_path(req.dst)
        row = views.lookup(conn, src_view, src) if src != "/" else None
        if row is not None:
            pairs = [(dst, row)]
        else:
            below = dir_prefix(src)
            pairs = []
            lo, hi = below, prefix_end(below)
            while (found := views.next_live(conn, src_view, lo, hi)) is not None:
                pairs.append((dir_prefix(dst) + found.path[len(below) :], found))
                lo = found.path + "\x00"
            if not pairs:
                raise errors.file_not_found(src, str(repo), src_commit.id)
        for dst_path, src_row in pairs:
            content = views.content_of(conn, src_row)
            if req.append:
                if staging.builder is not None and staging.builder_path == dst_path:
                    # consecutive appends to one file extend it: n appends cost n copies, not n^2
                    await staging.builder.add_content(content)
                    continue
                base = self._current(staging, target, dst_path)
                if base is not None:
                    await staging.append(dst_path, b"", base)
                    await staging.builder.add_content(content)  # type: ignore[union-attr]
                    continue
            await staging.close_file()
            if content.blob is not None:
                self.backend.content.hold(content.blob)
                staging.held.append(content.blob)
            staging.put(dst_path, content)

    async def _apply(self, target: pfs_pb2.Commit, changes: list[ch.Change], description: str,
                     requires: Sequence[Requirement] = (), existing_branch: bool = False,
                     not_dirs: Sequence[str] = ()) -> str:
        key = repo_key(target.repo if target.repo.name else target.branch.repo)
        branch, commit_id = target.branch.name, target.id
        backend = self.backend

        def job(conn: sqlite3.Connection) -> str:
            commit: CommitRec | None = None
            tree: ch.Tree | None = None
            if commit_id:
                repo, commit = meta.resolve(conn, key, branch, commit_id)
                if commit.finished is not None:
                    raise errors.commit_finished(commit_str(str(repo), commit.id))
                _check(conn, commit, requires)
                if not_dirs:
                    tree = _refuse_directories(conn, commit, not_dirs)
            else:
                repo, commit = meta.repo_and_head(conn, key, branch)
                validate_name("branch", branch)
                _check(conn, commit, requires)  # against the head this stream builds on
                if commit is None and existing_branch:
                    raise errors.branch_not_found(branch, str(repo))
                if not_dirs and commit is not None:
                    tree = _refuse_directories(conn, commit, not_dirs)
                if commit is None or commit.finished is not None:
                    # pachd: writing to a branch whose head is finished opens and closes a commit
                    # the description (pfsd extension) names only a commit this stream creates;
                    # an open commit keeps the one its StartCommit/FinishCommit gives it
                    commit = meta.create_commit(conn, backend.seqs, repo, branch, commit, finished=True,
                                                description=description, insert=False)
                    if tree is not None:  # what the check read is the new commit's view too
                        tree = ch.Tree(conn, commit, known=tree)
                    # its row written once, with the size the changes leave
                    size = ch.apply(conn, commit, changes, tree, record_size=False)
                    meta.insert_commit(conn, (*commit[:10], size, commit.error))  # its size set
                    return commit.id
            ch.apply(conn, commit, changes, tree)
            return commit.id

        return await backend.writer.submit(job, on_loop=True)  # changes.apply checks its budget


def _md5_of(staging: _Staging, path: str | None, expect: str | None) -> str | None:
    """The hex MD5 of what the stream wrote at ``path`` (``pfs-md5-of-bin``), checked against
    ``pfs-md5-expect``; None when not asked or nothing was written there."""
    if path is None:
        if expect is not None:
            raise errors.invalid(f"{MD5_EXPECT_KEY} needs {MD5_OF_KEY}")
        return None
    _, content = staging.staged(path)
    md5 = content.md5.hex() if content is not None else None
    if expect is not None and md5 != expect:
        raise errors.precondition(f"content MD5 of {path} is {md5 or 'none'}, not {expect} ({MD5_EXPECT_KEY})")
    return md5


@dataclass(frozen=True)
class Requirement:
    """A condition on one file of the target, as it is just before the stream's changes apply:
    absent (``md5`` None), or present with that content MD5 (hex)."""

    path: str
    md5: str | None


class _Options(NamedTuple):
    """What a ModifyFile's request metadata asks (pfsd extensions, docs/pfsd.md)."""

    requires: list[Requirement]
    description: str
    existing_branch: bool
    not_dirs: list[str]
    md5_of: str | None
    md5_expect: str | None


def _options(context: Ctx) -> _Options:
    """The request metadata, read in one pass (the first ``pfs-require-bin`` and description
    count, as do the last ``pfs-md5-of-bin`` and ``pfs-md5-expect``)."""
    raw: bytes | None = None
    description: str | None = None
    existing_branch, not_dirs, md5_of, md5_expect = False, [], None, None
    for k, v in context.invocation_metadata() or ():
        if k == REQUIRE_KEY:
            if raw is None:
                raw = v
        elif k == DESCRIPTION_KEY:
            if description is None:
                text = v if isinstance(v, bytes) else v.encode()
                description = text[:DESCRIPTION_MAX].decode("utf-8", errors="ignore")
        elif k == EXISTING_BRANCH_KEY:
            existing_branch = v == "1"
        elif k == NOT_DIRECTORY_KEY:
            not_dirs.append(clean_path(v.decode("utf-8", "replace")))
        elif k == MD5_OF_KEY:
            md5_of = clean_path(v.decode("utf-8", "replace"))
        elif k == MD5_EXPECT_KEY:
            md5_expect = v.lower()
    return _Options(_requirements(raw), description or "", existing_branch, not_dirs, md5_of,
                    md5_expect)


def _requirements(raw: bytes | None) -> list[Requirement]:
    """The ``pfs-require-bin`` metadata: JSON ``[{"path": "/a", "md5": "<hex>" | null}, ...]``."""
    if raw is None:
        return []
    try:
        doc = json.loads(raw)
        return [Requirement(clean_path(r["path"]), r.get("md5")) for r in doc]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise errors.invalid(f"malformed {REQUIRE_KEY} metadata") from None


def _check(conn: sqlite3.Connection, commit: CommitRec | None, requires: Sequence[Requirement]) -> None:
    """Raise FAILED_PRECONDITION ``precondition failed: ...`` unless every requirement holds.

    Runs inside the writer's transaction, so no other write can come between the check and
    the changes: of two racing streams that require a path to be absent, exactly one commits.
    """
    if not requires:
        return
    view = meta.chain(conn, commit) if commit is not None else None
    for req in requires:
        row = views.lookup(conn, view, req.path) if view else None
        if req.md5 is None:
            if row is not None:
                raise errors.precondition(f"precondition failed: file {req.path} exists")
        elif row is None:
            raise errors.precondition(f"precondition failed: file {req.path} does not exist")
        elif (row.md5 or b"").hex() != req.md5.lower():
            raise errors.precondition(f"precondition failed: file {req.path} has changed")


def _refuse_directories(conn: sqlite3.Connection, base: CommitRec, paths: Sequence[str]) -> ch.Tree:
    """FAILED_PRECONDITION if one of ``paths`` is a directory in ``base``; else the Tree that
    read it (the changes' delete of such a path then asks the same range of it, not SQLite)."""
    tree = ch.Tree(conn, base)
    for path in paths:
        if path != "/" and tree.probe(path):
            raise errors.precondition(f"{path} is a directory ({NOT_DIRECTORY_KEY})")
    return tree
