"""An async client over the generated ``pfs_v2`` stubs: the gateway's only way to reach PFS.

It speaks to the embedded server and to a real pachd alike. gRPC failures leave here as the
typed errors of :mod:`gateway.pfs.errors`; handlers never see ``grpc`` types.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import grpc
from google.protobuf import empty_pb2, wrappers_pb2

from gateway.pfs.errors import PFSError, from_rpc_error, translate
from gateway.pfs.wire import DeleteFileOp, GetFileArgs, bytes_value, serialize
from generated.pfs import pfs_pb2 as pb
from generated.pfs import pfs_pb2_grpc
from generated.pfsd.pages_pb2 import FileInfoPage

MiB = 1 << 20
LOCAL_CHUNK = MiB  # bytes per read of a local blob file served as ordinary body messages
UNARY_TIMEOUT = 30.0  # seconds; every unary call has a deadline
# Calls that only read: gRPC retries them once on UNAVAILABLE (a connection found broken, e.g.
# after the backend restarted), and only before any response arrived. ModifyFile and the
# other writes are never retried: the client sees the failure and decides.
IDEMPOTENT = ("InspectProject", "ListProject", "InspectRepo", "ListRepo", "InspectBranch",
              "ListBranch", "InspectCommit", "ListCommit", "InspectFile", "ListFile", "WalkFile",
              "GlobFile", "GetFile", "FindCommits")
SERVICE_CONFIG = {"methodConfig": [{
    "name": [*({"service": "pfs_v2.API", "method": m} for m in IDEMPOTENT),
             # pfsd's listing pages (gateway/file_pages.py): reads too
             *({"service": "pfsd.Pages", "method": m} for m in ("ListFile", "WalkFile"))],
    "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.1s", "maxBackoff": "0.5s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
}]}
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * MiB),
    ("grpc.max_send_message_length", 64 * MiB),
    # Calls never wait for a connection (wait_for_ready is off): while the backend is down
    # they fail at once with UNAVAILABLE (503 to the client). Reconnection attempts back off
    # to at most 1 s apart, so a backend that comes back is used within about a second.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
]
COMMIT_ID_KEY = "pfs-commit-id"  # pfsd's trailing metadata on ModifyFile (pachd sends none)
FILE_INFO_KEY = "pfs-file-info-bin"  # pfsd's initial metadata on GetFile: the FileInfo (pachd: none)
# GetFile request metadata (pfsd): send this path's one-entry ListFile page as PAGE_KEY too
PAGE_OF_KEY = "pfs-page-of-bin"
PAGE_KEY = "pfs-page-bin"
# GetFile request metadata (pfsd in this process only): answer a blob with an open descriptor
# of it (initial metadata, same key) instead of data messages; see FileReader.local
LOCAL_FD_KEY = "pfs-local-fd"
# pfsd's request metadata on ModifyFile and CreateBranch: the description of the commit the call
# creates (a -bin key: UTF-8 text). pachd ignores it; its commits stay without one (docs/pfsd.md).
DESCRIPTION_KEY = "pfs-commit-description-bin"
DESCRIPTION_MAX = 4096  # bytes (pfsd keeps no more; keys are at most 1,024)
AUTH_TOKEN_KEY = "authn-token"  # pachd's metadata key for a Pachyderm auth token
# pfsd's request metadata on ModifyFile: conditions checked in the commit's transaction (pachd
# ignores it; callers check beforehand too, see gateway.ops.conditional)
REQUIRE_KEY = "pfs-require-bin"
# pfsd's ModifyFile checks (request metadata, docs/pfsd.md): the branch must exist; a path must
# not be a directory. Sent only once the backend is known to be pfsd.
EXISTING_BRANCH_KEY = "pfs-existing-branch"
NOT_DIRECTORY_KEY = "pfs-not-directory-bin"
# pfsd's MD5 report on ModifyFile (docs/pfsd.md): the MD5 of what the stream wrote at a path,
# answered as a trailer, and optionally required (a Content-MD5) before anything applies.
MD5_OF_KEY = "pfs-md5-of-bin"
MD5_EXPECT_KEY = "pfs-md5-expect"
MD5_KEY = "pfs-md5"

# Called with (ref, commit ID) after each ModifyFile that succeeded (gateway.pfs.metacache watches
# for writes into commits it holds).
COMMIT_HOOKS: list[Callable[[Ref, str], None]] = []

# The Pachyderm auth token of the request being served (set by the auth middleware when pachd
# enforces auth): every call made through ``PFS.api`` while it is set carries it.
request_token: ContextVar[str | None] = ContextVar("pfs_request_token", default=None)


@dataclass(frozen=True)
class Requirement:
    """A condition for a ModifyFile to commit: the file at ``path`` is absent (``md5`` None) or
    holds content with that MD5 (hex), just before the stream's changes apply."""

    path: str
    md5: str | None = None


@dataclass(frozen=True)
class Ref:
    """A place to read or write in PFS: a branch head, or one commit when ``commit`` is set."""

    project: str
    repo: str
    branch: str
    commit: str | None = None

    def repo_pb(self) -> pb.Repo:
        return pb.Repo(name=self.repo, type="user", project=pb.Project(name=self.project))

    def branch_pb(self) -> pb.Branch:
        return pb.Branch(repo=self.repo_pb(), name=self.branch)

    def commit_pb(self) -> pb.Commit:
        """The Commit message (shared between calls: copy it, never change it)."""
        return _commit_message(self)

    def set_commit_pb(self) -> pb.ModifyFileRequest:
        """ModifyFile's first message, ``set_commit`` of :meth:`commit_pb` (shared alike)."""
        return _set_commit_message(self)

    def file_pb(self, path: str) -> pb.File:
        return pb.File(commit=self.commit_pb(), path=path)


@dataclass
class Md5Report:
    """Asks ModifyFile for the MD5 of what it writes at ``path`` (pfsd): filled into ``md5``
    once the stream committed. With ``expect`` the stream applies only if they are equal."""

    path: str
    expect: bytes | None = None
    md5: bytes | None = None


# Five nested messages cost ~15 us to build; every file call needs one, and the same few
# branches come back request after request: built once per Ref (immutable, hashable).
@functools.lru_cache(maxsize=1024)
def _commit_message(ref: Ref) -> pb.Commit:
    if ref.commit:
        return pb.Commit(repo=ref.repo_pb(), id=ref.commit, branch=ref.branch_pb())
    return pb.Commit(repo=ref.repo_pb(), branch=ref.branch_pb())


@functools.lru_cache(maxsize=1024)
def _set_commit_message(ref: Ref) -> pb.ModifyFileRequest:
    return pb.ModifyFileRequest(set_commit=_commit_message(ref))


class PFS:
    """Typed async calls onto one pachd or pfsd address (``host:port`` or ``unix:///path``)."""

    def __init__(self, address: str, extensions: bool = True, channel=None) -> None:
        self.address = address
        # ``channel``: a gateway.pfs.local.LocalChannel when this process hosts pfsd itself
        # (gateway.server.inproc); the calls below are the same either way.
        self.channel = channel or grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self.api = _TokenStub(_stub(self.channel))
        # Whether the backend is pfsd, learned from the extension metadata it sends (None until
        # a GetFile or ModifyFile answered). ``extensions=False`` ignores that metadata: the
        # client then behaves exactly as it does against pachd (tests of the fallback use it).
        self.use_extensions = extensions
        self.is_pfsd: bool | None = None if extensions else False
        # pfsd runs in this process (a LocalChannel): GetFile may hand over blob descriptors
        self.local = getattr(channel, "local_process", False)
        # Whether ModifyFile answers the MD5 of what it wrote (pfsd's trailer), learned from
        # the first stream that asked: until then, and against pachd, the gateway hashes.
        self.reports_md5: bool | None = None if extensions else False
        if self.local and extensions:
            # pfsd in this very process: nothing to learn, so even the first upload after a
            # start is hashed once (by pfsd), not by both
            self.is_pfsd = self.reports_md5 = True

    async def close(self) -> None:
        await self.channel.close()

    @property
    def can_check(self) -> bool:
        """Whether ModifyFile can check the branch and paths itself (pfsd, extensions on)."""
        return bool(self.is_pfsd and self.use_extensions)

    @property
    def hashes_uploads(self) -> bool:
        """Whether an upload's MD5 (its ETag, a Content-MD5 check) can be left to the backend:
        pfsd hashes every byte it stores, and has shown that it reports it."""
        return bool(self.can_check and self.reports_md5)

    # -- projects, repos, branches -------------------------------------------------------

    async def ready(self) -> bool:
        """Whether the backend answers (the readiness probe)."""
        try:
            await self.api.InspectProject(pb.InspectProjectRequest(project=pb.Project(name="default")),
                                          timeout=2.0)
            return True
        except grpc.aio.AioRpcError:
            return False

    @translate
    async def list_repos(self) -> list[pb.RepoInfo]:
        req = pb.ListRepoRequest(type="user")
        return [r async for r in self.api.ListRepo(req, timeout=UNARY_TIMEOUT)]

    @translate
    async def create_project(self, project: str) -> None:
        await self.api.CreateProject(pb.CreateProjectRequest(project=pb.Project(name=project)),
                                     timeout=UNARY_TIMEOUT)

    @translate
    async def create_repo(self, ref: Ref) -> None:
        await self.api.CreateRepo(pb.CreateRepoRequest(repo=ref.repo_pb()), timeout=UNARY_TIMEOUT)

    @translate
    async def inspect_repo(self, ref: Ref) -> pb.RepoInfo:
        return await self.api.InspectRepo(pb.InspectRepoRequest(repo=ref.repo_pb()),
                                          timeout=UNARY_TIMEOUT)

    @translate
    async def delete_repo(self, ref: Ref) -> None:
        await self.api.DeleteRepo(pb.DeleteRepoRequest(repo=ref.repo_pb(), force=True),
                                  timeout=UNARY_TIMEOUT)

    @translate
    async def create_branch(self, ref: Ref, description: str = "") -> None:
        """Create the branch; a new one starts at an empty commit that ``description`` names."""
        await self.api.CreateBranch(pb.CreateBranchRequest(branch=ref.branch_pb()),
                                    timeout=UNARY_TIMEOUT, metadata=self._describe(description))

    @translate
    async def inspect_branch(self, ref: Ref) -> pb.BranchInfo:
        return await self.api.InspectBranch(pb.InspectBranchRequest(branch=ref.branch_pb()),
                                            timeout=UNARY_TIMEOUT)

    @translate
    async def delete_branch(self, ref: Ref) -> None:
        await self.api.DeleteBranch(pb.DeleteBranchRequest(branch=ref.branch_pb()),
                                    timeout=UNARY_TIMEOUT)

    @translate
    async def inspect_commit(self, ref: Ref) -> pb.CommitInfo:
        return await self.api.InspectCommit(pb.InspectCommitRequest(commit=ref.commit_pb()),
                                            timeout=UNARY_TIMEOUT)

    @translate
    async def find_commits(self, ref: Ref, path: str, limit: int) -> tuple[list[str], str]:
        """The commits from ``ref`` back that modified ``path``, newest first (at most ``limit``,
        0: no limit), and the last commit searched (the root when the search ran out)."""
        req = pb.FindCommitsRequest(start=ref.commit_pb(), file_path=path, limit=limit)
        found, last = [], ""
        async for r in self.api.FindCommits(req, timeout=UNARY_TIMEOUT):
            if r.HasField("found_commit"):
                found.append(r.found_commit.id)
            else:
                last = r.last_searched_commit.id
        return found, last

    # -- files -----------------------------------------------------------------------------

    @translate
    async def inspect_file(self, ref: Ref, path: str) -> pb.FileInfo:
        return await self.api.InspectFile(pb.InspectFileRequest(file=ref.file_pb(path)),
                                          timeout=UNARY_TIMEOUT)

    @translate
    async def list_file(self, ref: Ref, path: str, after: str | None, number: int) -> list[pb.FileInfo]:
        """One page of a directory's children, in path order, strictly after ``after``."""
        req = pb.ListFileRequest(file=ref.file_pb(path), number=number)
        if after:
            req.paginationMarker.CopyFrom(ref.file_pb(after))
        return [f async for f in self.api.ListFile(req, timeout=UNARY_TIMEOUT)]

    @translate
    async def walk_file(self, ref: Ref, path: str, after: str | None, number: int) -> list[pb.FileInfo]:
        """One page of a subtree, depth first in path order, strictly after ``after``."""
        req = pb.WalkFileRequest(file=ref.file_pb(path), number=number)
        if after:
            req.paginationMarker.CopyFrom(ref.file_pb(after))
        return [f async for f in self.api.WalkFile(req, timeout=UNARY_TIMEOUT)]

    def open_file(self, ref: Ref, path: str, offset: int = 0, page_of: str | None = None,
                  local: bool = False) -> FileReader:
        """Start a GetFile from ``offset``; nothing is awaited yet (see :class:`FileReader`).

        ``page_of``: a path whose first ListFile entry pfsd sends with the FileInfo (see
        :meth:`FileReader.page`); ignored unless extensions are on. ``local``: when pfsd runs
        in this process, ask for the blob's descriptor instead of its bytes (see
        :attr:`FileReader.local`; the caller must then await :meth:`FileReader.info`).
        """
        if self.local:  # pfsd in this process reads the request as it is: no messages built
            req = GetFileArgs(ref.commit_pb(), path, offset)
        else:
            req = pb.GetFileRequest(file=ref.file_pb(path), offset=offset)
        if not self.use_extensions:
            return FileReader(self, self.api.GetFile(req), offset)
        metadata: tuple[tuple[str, str | bytes], ...] = ()
        if page_of is not None:
            metadata += ((PAGE_OF_KEY, page_of.encode()),)
        if local and self.local:
            metadata += ((LOCAL_FD_KEY, "1"),)
        return FileReader(self, self.api.GetFile(req, metadata=metadata or None), offset)

    async def get_file(self, ref: Ref, path: str, offset: int = 0) -> AsyncIterator[bytes]:
        """Stream a file's bytes from ``offset``; the caller may stop early (the call is cancelled)."""
        call = self.api.GetFile(pb.GetFileRequest(file=ref.file_pb(path), offset=offset))
        try:
            async for data in _translated_stream(call):
                yield bytes(data)
        finally:
            call.cancel()

    def _describe(self, description: str) -> tuple[tuple[str, bytes], ...]:
        if not description or not self.use_extensions:
            return ()
        return ((DESCRIPTION_KEY, description.encode()[:DESCRIPTION_MAX]),)

    @translate
    async def modify_file(self, ref: Ref, ops: AsyncIterator[pb.ModifyFileRequest] | Iterable,
                          description: str = "", require: Sequence[Requirement] = (),
                          checks: tuple[str, ...] | None = None,
                          md5: Md5Report | None = None) -> str:
        """Run one ModifyFile stream as one commit on ``ref``; returns the commit ID.

        ``description`` names the commit in the history: the S3 operation and its key or count
        (``"PutObject images/cat.png"``, ``"DeleteObjects 3 keys"``). pfsd stores it; pachd
        ignores it (its commits stay undescribed: a StartCommit/FinishCommit pair would cost two
        more calls and serialize writers on the open commit).

        If ``ops`` raises, the stream is cancelled before it completes, so PFS applies none of
        it, and the exception propagates. ``require``: conditions pfsd checks atomically with
        the commit (a failure raises :class:`~gateway.pfs.errors.ConditionFailed`); pachd
        ignores them, and with extensions off they are not sent. ``checks`` (pfsd only: see
        :meth:`can_check`): the stream applies only if ``ref``'s branch exists (else NotFound)
        and none of these paths is a directory (else FailedPrecondition "... is a directory").
        ``md5``: asks pfsd for the MD5 of what the stream writes at a path (filled in on
        success; left None by pachd); its ``expect`` is sent only when :attr:`hashes_uploads`
        (a mismatch raises FailedPrecondition naming ``pfs-md5-expect``, nothing applied).
        """
        metadata = self._describe(description)
        if require and self.use_extensions:
            doc = [{"path": r.path, "md5": r.md5} for r in require]
            metadata += ((REQUIRE_KEY, json.dumps(doc).encode()),)
        if checks is not None:
            metadata = (*metadata, (EXISTING_BRANCH_KEY, "1"),
                        *((NOT_DIRECTORY_KEY, p.encode()) for p in checks))
        if md5 is not None and self.use_extensions:
            metadata = (*metadata, (MD5_OF_KEY, md5.path.encode()))
            if md5.expect is not None and self.hashes_uploads:
                metadata = (*metadata, (MD5_EXPECT_KEY, md5.expect.hex()))
        call = self.api.ModifyFile(metadata=metadata)
        try:
            await call.write(ref.set_commit_pb())
            if hasattr(ops, "__aiter__"):
                async for op in ops:
                    await call.write(op)
            else:
                for op in ops:
                    await call.write(op)
            await call.done_writing()
        except asyncio.InvalidStateError:
            # The RPC ended while we were still writing (the backend went away, or refused the
            # stream): its status, raised by awaiting it, says why.
            await call
            raise PFSError("ModifyFile ended before its stream was written") from None
        except BaseException:
            call.cancel()
            raise
        await call
        commit = None
        if self.use_extensions:
            for key, value in await call.trailing_metadata() or ():
                if key == COMMIT_ID_KEY:
                    self.is_pfsd = True
                    commit = value
                elif key == MD5_KEY and md5 is not None:
                    md5.md5 = bytes.fromhex(value)
            if md5 is not None and commit is not None:  # pfsd answered: does it report?
                if md5.md5 is not None:
                    self.reports_md5 = True
                elif self.reports_md5 is None:
                    self.reports_md5 = False
        if commit is None:
            if self.is_pfsd is None:
                self.is_pfsd = False  # pfsd always sends the commit ID
            # pachd sends no commit ID: the branch head is the best answer it gives us.
            info = await self.api.InspectBranch(pb.InspectBranchRequest(branch=ref.branch_pb()),
                                                timeout=UNARY_TIMEOUT)
            commit = info.head.id
        for hook in COMMIT_HOOKS:
            hook(ref, commit)
        return commit


class FileReader:
    """One GetFile call: the FileInfo pfsd sends ahead of the bytes, then the bytes.

    :meth:`info` waits for the call's initial metadata, so a handler can decide status and
    headers (and give up, with :meth:`cancel`) before any byte is read.
    """

    def __init__(self, client: PFS, call, offset: int = 0) -> None:
        self._client = client
        self._call = call
        self._page: bytes | None = None
        # The blob file itself, when pfsd in this process handed over its descriptor (then no
        # data messages follow): an immutable file, readable from any offset, and ours to close.
        self.local: io.FileIO | None = None
        self.offset = offset  # where chunks() and read() start (settable while ``local``)
        # The file's size, once info() returned it: a read that reaches it runs the call to
        # its own end rather than cancelling it (a cancel costs a task, see _drains)
        self.size: int | None = None

    def page(self) -> list[pb.FileInfo] | None:
        """The ListFile page pfsd sent beside the FileInfo (``page_of``), once :meth:`info`
        returned one; None when none came."""
        if self._page is None:
            return None
        return list(FileInfoPage.FromString(self._page).file_info)

    async def info(self) -> pb.FileInfo | None:
        """The file's FileInfo at the commit this call reads, or None when the backend sent none.

        None means pachd (which never sends it), or a call that failed before answering (its
        error is left for a look-up to explain: a missing key, a directory, a missing commit).
        """
        client = self._client
        if not client.use_extensions or client.is_pfsd is False:
            return None
        try:
            metadata = await self._call.initial_metadata()
        except grpc.aio.AioRpcError:
            return None
        info = None
        for key, value in metadata or ():
            if key == FILE_INFO_KEY:
                client.is_pfsd = True
                info = pb.FileInfo.FromString(value)
            elif key == PAGE_KEY:
                self._page = value
            elif key == LOCAL_FD_KEY:
                self.local = io.FileIO(int(value), "rb", closefd=True)
        if info is not None:
            self.size = info.size_bytes
            return info
        if not self._call.done():
            client.is_pfsd = False  # it answered without the header: not pfsd
        return None

    async def chunks(self, length: int) -> AsyncIterator[memoryview]:
        """At most ``length`` bytes from the call's offset; the call ends when they are read.

        The pieces are views of the received messages (no copy): bytes-like, not bytes.
        """
        if self.local is not None:
            async for chunk in self._local_chunks(length):
                yield chunk
            return
        remaining = length
        drain = self._drains(length)
        try:
            if remaining > 0:
                async for chunk in self._call:
                    if remaining <= 0:
                        return  # more than the FileInfo said: the finally ends the call
                    if len(chunk) >= remaining:
                        yield chunk if len(chunk) == remaining else chunk[:remaining]
                        if not drain:
                            return
                        remaining = 0
                        continue
                    remaining -= len(chunk)
                    yield chunk
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e) from None
        finally:
            self._call.cancel()

    def _drains(self, length: int) -> bool:
        """Whether ``length`` bytes from the offset reach the end of the file: the call is then
        read to its end (one more message read: none) instead of cancelled. A cancel of a
        stream still open costs the backend more than its end: an RST_STREAM over gRPC, a
        task closing the handler's generator with pfsd in this process."""
        return self.size is not None and self.offset + length >= self.size

    async def _local_chunks(self, length: int) -> AsyncIterator[bytes]:
        """From the local blob file, in LOCAL_CHUNK reads on a worker thread (a disk may be slow)."""
        assert self.local is not None
        fd, pos, end = self.local.fileno(), self.offset, self.offset + length
        try:
            while pos < end:
                data = await asyncio.to_thread(os.pread, fd, min(LOCAL_CHUNK, end - pos), pos)
                if not data:
                    break
                pos += len(data)
                yield data
        finally:
            self.cancel()

    async def read(self, length: int) -> bytes:
        """At most ``length`` bytes, whole (for small bodies).

        What :meth:`chunks` yields, read here without a generator of its own (a GET of a
        small object reads once: an async generator's setup and finalization cost as much).
        """
        if self.local is not None:
            parts = [chunk async for chunk in self._local_chunks(length)]
            return b"".join(parts)
        parts, remaining = [], length
        drain = self._drains(length)
        try:
            if remaining > 0:
                async for chunk in self._call:
                    if remaining <= 0:
                        break  # more than the FileInfo said: the finally ends the call
                    if len(chunk) > remaining:
                        chunk = chunk[:remaining]
                    parts.append(chunk)
                    remaining -= len(chunk)
                    if remaining == 0 and not drain:
                        break
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e) from None
        finally:
            self._call.cancel()
        return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)

    def cancel(self) -> None:
        """End the call (and close the local file): the reader is not used afterwards."""
        self._call.cancel()
        if self.local is not None:
            self.local.close()


class _TokenStub:
    """The generated stub, adding the request's auth token (if any) to each call's metadata."""

    def __init__(self, stub) -> None:
        self._stub = stub

    def __getattr__(self, name: str):
        method = getattr(self._stub, name)
        if request_token.get() is None:
            return method  # no token: the stub's own callable, no wrapper per call

        def call(*args, **kwargs):
            token = request_token.get()
            if token is not None:
                kwargs["metadata"] = (*(kwargs.get("metadata") or ()), (AUTH_TOKEN_KEY, token))
            return method(*args, **kwargs)

        return call


async def _translated_stream(call):
    try:
        async for msg in call:
            yield msg
    except grpc.aio.AioRpcError as e:
        raise from_rpc_error(e) from None


def add_file(path: str, data: bytes) -> pb.ModifyFileRequest:
    return pb.ModifyFileRequest(add_file=pb.AddFile(path=path, raw=wrappers_pb2.BytesValue(value=data)))


def _stub(channel: grpc.aio.Channel) -> pfs_pb2_grpc.APIStub:
    """The generated stub, with ModifyFile and GetFile (de)serializing bodies without copies."""
    stub = pfs_pb2_grpc.APIStub(channel)
    stub.ModifyFile = channel.stream_unary(
        "/pfs_v2.API/ModifyFile", request_serializer=serialize,
        response_deserializer=empty_pb2.Empty.FromString, _registered_method=True)
    stub.GetFile = channel.unary_stream(
        "/pfs_v2.API/GetFile", request_serializer=serialize,
        response_deserializer=bytes_value, _registered_method=True)
    return stub


def delete_file(path: str) -> DeleteFileOp:
    """ModifyFile's DeleteFile of ``path`` (see gateway.pfs.wire.DeleteFileOp)."""
    return DeleteFileOp(path)


def copy_file(dst: str, src: Ref, src_path: str, append: bool = False) -> pb.ModifyFileRequest:
    """CopyFile, server-side: ``src_path`` at ``src`` (any branch or commit) onto ``dst``.

    With ``append`` the source's bytes are added after what ``dst`` already holds in this
    stream; without, ``dst`` is replaced.
    """
    return pb.ModifyFileRequest(copy_file=pb.CopyFile(dst=dst, src=src.file_pb(src_path), append=append))
