"""State shared by the pfs_v2 servicers, request decoding, and error translation."""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from generated.pfs import pfs_pb2
from pfsd import errors
from pfsd.errors import PfsError
from pfsd.names import DEFAULT_PROJECT, USER_TYPE, clean_path
from pfsd.store import gc, meta
from pfsd.store.content import ContentStore
from pfsd.store.db import connect
from pfsd.store.meta import CommitRec, RepoRec
from pfsd.store.snapshot import Snapshot
from pfsd.store.writer import Writer

F = TypeVar("F", bound=Callable[..., Any])
# Request metadata (pfsd extension): the description of the commit a ModifyFile or CreateBranch
# creates. A -bin key, so any UTF-8 text (object keys) passes; pachd ignores unknown metadata.
DESCRIPTION_KEY = "pfs-commit-description-bin"
DESCRIPTION_MAX = 4096  # bytes kept; metadata is small by design (gRPC's default limit is 8 KiB)


class Backend:
    """The data dir: a read connection for the event loop, the writer, and the blob store."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.content = ContentStore(data_dir)
        gc.sweep_tmp(self.content)
        self.writer = Writer(data_dir / "meta.db")
        # Reads run on the event loop thread: SQLite index seeks take microseconds, less than a
        # hop to a thread pool; WAL means they never wait for the writer.
        self.db = connect(data_dir / "meta.db")
        # Read-only (SQLite refuses a write through it): the snapshot memo below relies on every
        # commit being another connection's
        self.db.execute("PRAGMA query_only=1")
        # What the read RPCs resolved, reused until the writer commits (pfsd.store.snapshot)
        self.snapshot = Snapshot(self.db)
        self.seqs = meta.SeqCounter(self.writer.conn)
        self.finished = asyncio.Condition()
        self.writer.conn.execute(
            "INSERT OR IGNORE INTO projects(name, description, created) VALUES (?, '', strftime('%s','now'))",
            (DEFAULT_PROJECT,),
        )
        gc.sweep_blobs(self.content, self.writer.conn)

    def close(self) -> None:
        self.writer.close()
        self.db.close()

    async def notify_finished(self) -> None:
        async with self.finished:
            self.finished.notify_all()

    def collect(self, blobs: set[str]) -> Callable[[], None]:
        """An after-commit hook that unlinks those of `blobs` nothing references any more."""
        conn = self.writer.conn
        return lambda: gc.sweep_blobs(self.content, conn, blobs) and None


def rpc(fn: F) -> F:
    """Turn PfsError into the gRPC status pachd would send (unary and streaming handlers)."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def gen(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            items = fn(self, request, context)
            try:
                async for item in items:
                    yield item
            except PfsError as exc:
                await context.abort(exc.code, exc.message)
            except (OSError, sqlite3.OperationalError) as exc:
                if not _out_of_space(exc):
                    raise
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "no space left on device")
            finally:
                # A call ended early (cancelled, or its caller stopped reading) closes ``items``
                # here, now: left to the garbage collector, asyncio's finalizer hook would wake
                # the loop from another thread's way (its self-pipe) and start a task to do it.
                await items.aclose()

        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except PfsError as exc:
            await context.abort(exc.code, exc.message)
        except (OSError, sqlite3.OperationalError) as exc:
            if not _out_of_space(exc):
                raise
            if hasattr(request, "__aiter__"):
                # The client may still be streaming: were we to end the call now, its next
                # write would fail and it would see "Internal error from Core", not this status.
                async for _ in request:
                    pass
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "no space left on device")

    return unary  # type: ignore[return-value]


def _out_of_space(exc: BaseException) -> bool:
    """A full disk (or quota), from the file system or from SQLite (SQLITE_FULL)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return "disk is full" in str(exc)


def repo_key(repo: pfs_pb2.Repo) -> tuple[str, str, str]:
    """(project, name, type) with pachd's defaults for unset fields."""
    return (repo.project.name or DEFAULT_PROJECT, repo.name, repo.type or USER_TYPE)


def commit_repo(commit: pfs_pb2.Commit) -> pfs_pb2.Repo:
    """pachd's Commit.AccessRepo: the commit's repo, else its branch's."""
    return commit.repo if commit.repo.name else commit.branch.repo


def find_repo(conn: sqlite3.Connection, repo: pfs_pb2.Repo) -> RepoRec:
    if not repo.name:
        raise errors.invalid("repo must be specified")
    return meta.get_repo(conn, *repo_key(repo))


def find_commit(conn: sqlite3.Connection, commit: pfs_pb2.Commit) -> tuple[RepoRec, CommitRec]:
    """Resolve a Commit message (id, or branch head, with optional ancestry) in its repo."""
    repo = commit_repo(commit)
    if not repo.name:
        raise errors.invalid("repo must be specified")
    if not commit.id and not commit.branch.name:
        find_repo(conn, repo)  # a missing repo is reported first
        raise errors.invalid("commit must specify an id or a branch")
    return meta.resolve(conn, repo_key(repo), commit.branch.name, commit.id)


def file_path(file: pfs_pb2.File) -> str:
    return clean_path(file.path)


def commit_description(context: grpc.aio.ServicerContext) -> str:
    """The ``pfs-commit-description-bin`` request metadata as text ('' when absent)."""
    for key, value in context.invocation_metadata() or ():
        if key == DESCRIPTION_KEY:
            raw = value if isinstance(value, bytes) else value.encode()
            return raw[:DESCRIPTION_MAX].decode("utf-8", errors="ignore")
    return ""
