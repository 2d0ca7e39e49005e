"""FindCommits: the commits of a commit's ancestry that modified one path, newest first.

pachd walks the ancestry from ``start`` and checks each commit's diff for the path; it sends a
``found_commit`` per hit and, when it stops (``limit`` hits, or the root was searched), one
``last_searched_commit`` with ``commits_searched``. pfsd answers the same, but from the
``files`` table: a path's versions in a lineage are its rows (index seeks on
``(lineage, path, seq)``), so the cost follows the hits, not the commits searched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import grpc

from generated.pfs import pfs_pb2
from pfsd import errors
from pfsd.api.base import Backend, find_commit, rpc
from pfsd.api.convert import commit_msg
from pfsd.names import clean_path, commit_str
from pfsd.store import meta
from pfsd.store.meta import RepoRec

Ctx = grpc.aio.ServicerContext

_ROW_SEQS = "SELECT seq FROM files WHERE lineage=? AND path=? AND seq<=? ORDER BY seq DESC"
# The commit a row belongs to: its own seq, or (its commit squashed away) the next one kept.
_OWNER = ("SELECT id, seq, branch FROM commits WHERE repo_id=? AND lineage=? AND seq>=? AND seq<=? "
          "ORDER BY seq LIMIT 1")
_COUNT = "SELECT COUNT(*) FROM commits WHERE repo_id=? AND lineage=? AND seq>=? AND seq<=?"
_OLDEST = "SELECT id, branch FROM commits WHERE repo_id=? AND lineage=? AND seq<=? ORDER BY seq LIMIT 1"


class HistoryServicer:
    """FindCommits."""

    backend: Backend

    @rpc
    async def FindCommits(self, request: pfs_pb2.FindCommitsRequest,
                          context: Ctx) -> AsyncIterator[pfs_pb2.FindCommitsResponse]:
        conn = self.backend.db
        repo, start = find_commit(conn, request.start)
        if start.finishing is None:
            raise errors.precondition(f"commit {commit_str(str(repo), start.id)} is not finished")
        path = clean_path(request.file_path)
        limit = request.limit or None
        found = searched = 0
        last: tuple[str, str] = (start.id, start.branch)
        for lineage, top in meta.chain(conn, start):
            hi = top  # commits of this lineage with seq <= hi are not searched yet
            for (seq,) in conn.execute(_ROW_SEQS, (lineage, path, top)).fetchall():
                if seq > hi:
                    continue  # another row of a commit already reported (squashed commits)
                owner = conn.execute(_OWNER, (repo.id, lineage, seq, hi)).fetchone()
                if owner is None:
                    continue
                cid, cseq, branch = owner
                searched += _count(conn, repo, lineage, cseq, hi)
                found += 1
                yield pfs_pb2.FindCommitsResponse(found_commit=commit_msg(repo, cid, branch),
                                                  commits_searched=searched)
                hi = cseq - 1
                last = (cid, branch)
                if limit is not None and found >= limit:
                    yield _last(repo, last, searched)
                    return
            searched += _count(conn, repo, lineage, 0, hi)
            oldest = conn.execute(_OLDEST, (repo.id, lineage, top)).fetchone()
            if oldest is not None:
                last = (oldest[0], oldest[1])
        yield _last(repo, last, searched)


def _count(conn: sqlite3.Connection, repo: RepoRec, lineage: int, lo: int, hi: int) -> int:
    if hi < lo:
        return 0
    return int(conn.execute(_COUNT, (repo.id, lineage, lo, hi)).fetchone()[0])


def _last(repo: RepoRec, last: tuple[str, str], searched: int) -> pfs_pb2.FindCommitsResponse:
    return pfs_pb2.FindCommitsResponse(last_searched_commit=commit_msg(repo, last[0], last[1]),
                                       commits_searched=searched)
