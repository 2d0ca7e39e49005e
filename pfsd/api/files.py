"""Reading files: GetFile, InspectFile, ListFile, WalkFile, GlobFile; and DeleteAll."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator

import grpc
from google.protobuf import empty_pb2

from generated.pfs import pfs_pb2
from pfsd import errors
from pfsd.api.base import Backend, find_commit, rpc
from pfsd.api.convert import bytes_value, commit_field_of, file_info_bytes, page_bytes
from pfsd.names import DEFAULT_PROJECT, clean_path, dir_prefix, prefix_end
from pfsd.store import meta, views
from pfsd.store.content import READ_CHUNK, Content
from pfsd.store.meta import CommitRec, RepoRec
from pfsd.store.views import Entry

Ctx = grpc.aio.ServicerContext
# Initial metadata of GetFile (pfsd extension): the file's serialized FileInfo, as InspectFile
# would answer it at the same resolved commit, so a GET needs no InspectFile round trip.
FILE_INFO_KEY = "pfs-file-info-bin"
# Request metadata of GetFile (pfsd extension): a path whose ListFile page of one entry, at the
# same resolved commit, comes back beside the FileInfo as ``pfs-page-bin`` (a FileInfoPage; empty
# when the path does not exist). The gateway reads an object's metadata sidecar that way: a
# first GET of an object at a commit is then one RPC, not two.
PAGE_OF_KEY = "pfs-page-of-bin"
PAGE_KEY = "pfs-page-bin"
# Request metadata of GetFile (pfsd extension, in-process callers only): with "1", a file kept
# as a blob is answered with the same key in the initial metadata, the number of a descriptor
# open on the blob (read-only) that the caller now owns and must close, and no data messages.
# A blob is never changed once stored, and an open descriptor keeps its bytes readable even if
# garbage collection unlinks it, so the caller can send them with sendfile(2). Only a caller
# in pfsd's own process can use a descriptor number: pfsd honours the request only when the
# call's context says so (``local_process``, set by gateway.pfs.local), never over gRPC.
LOCAL_FD_KEY = "pfs-local-fd"
GLOB_META = re.compile(r"[*?\[{]")
# A resolved commit: its repo, its record, its view, and its encoded `File.commit` field
Resolved = tuple[RepoRec, CommitRec, views.Chain, bytes]


def _commit_key(commit: pfs_pb2.Commit) -> tuple[str, str, str, str, str]:
    """What resolving ``commit`` depends on (the fields `find_commit` reads), as a memo key."""
    repo = commit.repo if commit.repo.name else commit.branch.repo  # as base.commit_repo
    return repo.project.name, repo.name, repo.type, commit.branch.name, commit.id


def glob_regex(pattern: str) -> re.Pattern[str]:
    """PFS glob (`*`, `**`, `?`, `[..]`, `{a,b}`, `/`-separated) as an anchored regex."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise errors.invalid(f"invalid glob pattern {pattern}")
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        elif c == "{":
            end = pattern.find("}", i + 1)
            if end < 0:
                raise errors.invalid(f"invalid glob pattern {pattern}")
            alts = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(re.escape(a) for a in alts) + ")")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


class FileServicer:
    """GetFile, InspectFile, ListFile, WalkFile, GlobFile, DeleteAll."""

    backend: Backend

    def _resolve(self, commit: pfs_pb2.Commit, version: int | None = None) -> Resolved:
        """The commit's repo and record, its view, and its `File.commit` field (`commit_field`).

        Taken from the snapshot memo (pfsd.store.snapshot) while no commit has landed since it
        was resolved; ``version``: the data version this RPC checked already."""
        snapshot = self.backend.snapshot
        if version is None:
            version = snapshot.current()
        key = _commit_key(commit)
        found = snapshot.get(key)
        if found is None:
            conn = self.backend.db
            repo, rec = find_commit(conn, commit)
            found = (repo, rec, meta.chain(conn, rec), commit_field_of(repo, rec.id, rec.branch))
            snapshot.put(version, key, found)
        return found

    def _is_dir(self, view: views.Chain, path: str) -> bool:
        below = dir_prefix(path)
        return path == "/" or views.next_live(self.backend.db, view, below, prefix_end(below)) is not None

    @rpc
    async def GetFile(self, request: pfs_pb2.GetFileRequest, context: Ctx) -> AsyncIterator[bytes]:
        if request.URL:
            raise errors.unimplemented("GetFile to a URL is not supported by pfsd")
        page_of = want_fd = None
        for k, v in context.invocation_metadata() or ():
            if k == PAGE_OF_KEY:
                page_of = v
            elif k == LOCAL_FD_KEY:
                want_fd = v
        snapshot = self.backend.snapshot
        version = snapshot.current()
        file = request.file
        key = ("GetFile", _commit_key(file.commit), file.path, page_of)
        found = snapshot.get(key)
        if found is None:
            found = self._opened(file, page_of, version)
            snapshot.put(version, key, found, len(found[1].data or b""))
        initial, content = found
        if want_fd == "1" and content.blob is not None and getattr(context, "local_process", False):
            # opened here, before the answer: the descriptor holds these bytes from now on
            fd = os.open(self.backend.content.blob_path(content.blob), os.O_RDONLY | os.O_CLOEXEC)
            try:
                await context.send_initial_metadata((*initial, (LOCAL_FD_KEY, str(fd))))
            except BaseException:
                os.close(fd)
                raise
            return  # the caller reads the descriptor (and closes it): no data messages
        await context.send_initial_metadata(initial)
        offset = max(0, request.offset)
        if content.blob is None:  # inline (small): its messages from here, no generator to close
            data = content.data or b""
            for pos in range(offset, len(data), READ_CHUNK):
                yield bytes_value(data[pos : pos + READ_CHUNK] if pos or len(data) > READ_CHUNK else data)
            return
        chunks = self.backend.content.stream(content, offset)
        try:
            async for chunk in chunks:
                yield bytes_value(chunk)
        finally:
            await chunks.aclose()  # now, if the call ended early (see pfsd.api.base.rpc)

    def _opened(self, file: pfs_pb2.File, page_of: bytes | None,
                version: int) -> tuple[tuple[tuple[str, bytes], ...], Content]:
        """What a GetFile of ``file`` answers before its data: its initial metadata (the
        FileInfo, and the page of ``page_of`` when asked), and where its content is."""
        repo, rec, view, commit = self._resolve(file.commit, version)
        path = clean_path(file.path)
        found = views.lookup_content(self.backend.db, view, path)
        if found is None:
            if self._is_dir(view, path):
                raise errors.invalid("cannot get directory or non-regular file. Use GetFileTAR instead")
            raise errors.file_not_found(path, str(repo), rec.id)
        row, content = found
        # Sent before any data, even when no data message follows (empty file, offset past the end).
        info = file_info_bytes(commit, Entry(path, row))
        if page_of is None:
            return ((FILE_INFO_KEY, info),), content
        page = self._first_entry(view, commit, page_of.decode("utf-8", "replace"))
        return ((FILE_INFO_KEY, info), (PAGE_KEY, page)), content

    def _first_entry(self, view: views.Chain, commit: bytes, path: str) -> bytes:
        """A FileInfoPage holding the first entry ListFile would answer for ``path`` in ``view``
        (at the commit ``commit`` encodes), or no entry when there is none.

        What `_listing` answers first, read directly in the GetFile's own view: the file at
        ``path``, else the first live file below it (or its top directory there). Two index
        seeks; no second resolve of the commit, and no error raised for a missing directory
        (the usual case: most objects have no metadata sidecar)."""
        conn = self.backend.db
        try:
            path = clean_path(path)
        except errors.PfsError:
            return b""
        row = views.lookup(conn, view, path) if path != "/" else None
        if row is not None:
            entry = Entry(path, row)
        else:
            below = dir_prefix(path)
            first = views.next_live(conn, view, below, prefix_end(below))
            if first is None:
                return b""
            cut = first.path.find("/", len(below))
            entry = Entry(first.path, first) if cut < 0 else Entry(first.path[: cut + 1], None)
        return page_bytes(commit, (entry,), 1)

    @rpc
    async def InspectFile(self, request: pfs_pb2.InspectFileRequest, context: Ctx) -> bytes:
        """A serialized FileInfo (servicer.RAW_METHODS sends bytes as they are); remembered
        until the next commit, as GetFile's answer is."""
        snapshot = self.backend.snapshot
        version = snapshot.current()
        file = request.file
        key = ("InspectFile", _commit_key(file.commit), file.path)
        info = snapshot.get(key)
        if info is None:
            repo, rec, view, commit = self._resolve(file.commit, version)
            path = clean_path(file.path)
            row = views.lookup(self.backend.db, view, path)
            if row is not None:
                info = file_info_bytes(commit, Entry(path, row))
            elif self._is_dir(view, path):
                info = file_info_bytes(commit, Entry(dir_prefix(path), None))
            else:
                raise errors.file_not_found(path, str(repo), rec.id)
            snapshot.put(version, key, info)
        return info

    def _listing(
        self, request: pfs_pb2.ListFileRequest | pfs_pb2.WalkFileRequest, recursive: bool
    ) -> tuple[Iterator[Entry], bytes]:
        repo, rec, view, commit = self._resolve(request.file.commit)
        conn = self.backend.db
        path = clean_path(request.file.path)
        marker = request.paginationMarker.path or None
        if marker is not None and not marker.startswith("/"):
            marker = "/" + marker
        row = views.lookup(conn, view, path) if path != "/" else None
        if row is not None:
            hit = marker is None or (path < marker if request.reverse else path > marker)
            return iter([Entry(path, row)] if hit else []), commit
        if not self._is_dir(view, path):
            raise errors.file_not_found(path, str(repo), rec.id)
        prefix = dir_prefix(path)
        if recursive:
            entries = self._walk(conn, view, prefix, marker, request.reverse)
        elif request.reverse:
            entries = views.walk_reverse(conn, view, prefix, after=marker)
        else:
            entries = views.walk(conn, view, prefix, max_depth=1, after=marker)
        return entries, commit

    @staticmethod
    def _walk(
        conn: sqlite3.Connection, view: views.Chain, prefix: str, marker: str | None, reverse: bool
    ) -> Iterator[Entry]:
        if reverse:  # reverse walks materialize the subtree: rare, and pachd pages them too
            every = [Entry(prefix, None), *views.walk(conn, view, prefix)]
            every.reverse()
            return (e for e in every if marker is None or e.path < marker)
        head = [Entry(prefix, None)] if marker is None or prefix > marker else []
        rest = views.walk(conn, view, prefix, after=marker)
        return _chain(head, rest)

    async def _page(
        self, request: pfs_pb2.ListFileRequest | pfs_pb2.WalkFileRequest, recursive: bool
    ) -> AsyncIterator[bytes]:
        entries, commit = self._listing(request, recursive)
        number = request.number or None
        sent = 0
        for entry in entries:
            yield file_info_bytes(commit, entry)
            sent += 1
            if number is not None and sent >= number:
                return

    @rpc
    async def ListFile(self, request: pfs_pb2.ListFileRequest, context: Ctx) -> AsyncIterator[bytes]:
        async for info in self._page(request, recursive=False):
            yield info

    @rpc
    async def WalkFile(self, request: pfs_pb2.WalkFileRequest, context: Ctx) -> AsyncIterator[bytes]:
        async for info in self._page(request, recursive=True):
            yield info

    @rpc
    async def GlobFile(self, request: pfs_pb2.GlobFileRequest, context: Ctx) -> AsyncIterator[bytes]:
        _, _, view, commit = self._resolve(request.commit)
        pattern = clean_path(request.pattern)
        regex = glob_regex(pattern)
        meta_at = GLOB_META.search(pattern)
        literal = pattern if meta_at is None else pattern[: meta_at.start()]
        base = literal[: literal.rfind("/") + 1] or "/"
        if pattern == "/":
            yield file_info_bytes(commit, Entry("/", None))
        depth = None
        if "**" not in pattern:
            depth = pattern.count("/") - base.count("/") + 1
        lower, upper = request.path_range.lower, request.path_range.upper
        for entry in views.walk(self.backend.db, view, base, max_depth=depth):
            name = entry.path.rstrip("/") if entry.is_dir else entry.path
            if lower and entry.path < lower or upper and entry.path >= upper:
                continue
            if regex.match(name):
                yield file_info_bytes(commit, entry)

    @rpc
    async def DeleteAll(self, request: empty_pb2.Empty, context: Ctx) -> empty_pb2.Empty:
        backend = self.backend

        def delete(conn: sqlite3.Connection) -> None:
            rows = conn.execute("SELECT id, project, name, type, description, created FROM repos").fetchall()
            blobs: set[str] = set()
            for row in rows:
                blobs.update(meta.delete_repo(conn, RepoRec(*row)))
            conn.execute("DELETE FROM projects WHERE name != ?", (DEFAULT_PROJECT,))
            backend.writer.after_commit(backend.collect(blobs))

        await backend.writer.submit(delete)
        return empty_pb2.Empty()


def _chain(head: list[Entry], rest: Iterator[Entry]) -> Iterator[Entry]:
    yield from head
    yield from rest
