"""Branches and commits."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2

from generated.pfs import pfs_pb2
from pfsd import errors
from pfsd.api.base import Backend, commit_description, commit_repo, find_commit, find_repo, repo_key, rpc
from pfsd.api.convert import branch_msg, commit_info, commit_msg
from pfsd.names import commit_str, validate_name
from pfsd.store import meta
from pfsd.store.meta import CommitRec, RepoRec

Ctx = grpc.aio.ServicerContext


def info_of(conn: sqlite3.Connection, repo: RepoRec, c: CommitRec) -> pfs_pb2.CommitInfo:
    parent_branch = None
    if c.parent is not None:
        parent = meta.get_commit(conn, c.parent)
        parent_branch = parent.branch if parent else None
    kids = conn.execute("SELECT id, branch FROM commits WHERE parent=?", (c.id,)).fetchall()
    return commit_info(repo, c, parent_branch, [(k[0], k[1]) for k in kids])


class CommitServicer:
    """CreateBranch .. DeleteBranch, StartCommit .. DropCommitSet."""

    backend: Backend

    @rpc
    async def CreateBranch(self, request: pfs_pb2.CreateBranchRequest, context: Ctx) -> empty_pb2.Empty:
        name = request.branch.name
        validate_name("branch", name)
        key = repo_key(request.branch.repo)
        head = request.head
        has_head = bool(head.id or head.branch.name)
        description = commit_description(context)
        backend = self.backend

        def create(conn: sqlite3.Connection) -> None:
            repo = meta.get_repo(conn, *key)
            if has_head:
                head_repo, commit = find_commit(conn, head)
                if head_repo.id != repo.id:
                    raise errors.invalid("branch and head commit must belong to the same repo")
                meta.set_branch(conn, repo, name, commit.id)
            elif meta.branch_head(conn, repo, name) is None:
                # pachd 2.x gives every branch a head: a new branch starts at an empty commit
                meta.create_commit(conn, backend.seqs, repo, name, None, finished=True,
                                   description=description)

        await backend.writer.submit(create)
        return empty_pb2.Empty()

    @rpc
    async def InspectBranch(self, request: pfs_pb2.InspectBranchRequest, context: Ctx) -> pfs_pb2.BranchInfo:
        conn = self.backend.db
        repo = find_repo(conn, request.branch.repo)
        head = meta.branch_head(conn, repo, request.branch.name)
        if head is None:
            raise errors.branch_not_found(request.branch.name, str(repo))
        return self._branch_info(conn, repo, request.branch.name, head)

    @staticmethod
    def _branch_info(conn: sqlite3.Connection, repo: RepoRec, name: str, head: str) -> pfs_pb2.BranchInfo:
        commit = meta.get_commit(conn, head)
        return pfs_pb2.BranchInfo(
            branch=branch_msg(repo, name),
            head=commit_msg(repo, head, commit.branch if commit else name),
        )

    @rpc
    async def ListBranch(self, request: pfs_pb2.ListBranchRequest, context: Ctx) -> AsyncIterator[pfs_pb2.BranchInfo]:
        conn = self.backend.db
        repo = find_repo(conn, request.repo)
        order = "ASC" if request.reverse else "DESC"
        rows = conn.execute(
            "SELECT b.name, b.head FROM branches b JOIN commits c ON c.id=b.head "
            f"WHERE b.repo_id=? ORDER BY c.seq {order}, b.name",
            (repo.id,),
        ).fetchall()
        for name, head in rows:
            yield self._branch_info(conn, repo, name, head)

    @rpc
    async def DeleteBranch(self, request: pfs_pb2.DeleteBranchRequest, context: Ctx) -> empty_pb2.Empty:
        key, name = repo_key(request.branch.repo), request.branch.name

        def delete(conn: sqlite3.Connection) -> None:
            repo = meta.get_repo(conn, *key)
            if meta.branch_head(conn, repo, name) is None:
                raise errors.branch_not_found(name, str(repo))
            conn.execute("DELETE FROM branches WHERE repo_id=? AND name=?", (repo.id, name))

        await self.backend.writer.submit(delete)
        return empty_pb2.Empty()

    @rpc
    async def StartCommit(self, request: pfs_pb2.StartCommitRequest, context: Ctx) -> pfs_pb2.Commit:
        branch = request.branch.name or request.parent.branch.name
        if not branch:
            raise errors.invalid("branch must be specified")
        validate_name("branch", branch)
        key = repo_key(request.branch.repo if request.branch.repo.name else commit_repo(request.parent))
        parent_msg, description = request.parent, request.description
        backend = self.backend

        def start(conn: sqlite3.Connection) -> tuple[RepoRec, CommitRec]:
            repo = meta.get_repo(conn, *key)
            parent: CommitRec | None = None
            if parent_msg.id:
                parent = meta.resolve_commit(conn, repo, parent_msg.branch.name, parent_msg.id)
            else:
                head = meta.branch_head(conn, repo, branch)
                parent = meta.get_commit(conn, head) if head else None
            if parent is not None and parent.finished is None:
                raise errors.precondition(f"parent commit {commit_str(str(repo), parent.id)} has not been finished")
            commit = meta.create_commit(
                conn, backend.seqs, repo, branch, parent, finished=False, description=description
            )
            return repo, commit

        repo, commit = await backend.writer.submit(start)
        return commit_msg(repo, commit.id, commit.branch)

    @rpc
    async def FinishCommit(self, request: pfs_pb2.FinishCommitRequest, context: Ctx) -> empty_pb2.Empty:
        target, description = request.commit, request.description

        def finish(conn: sqlite3.Connection) -> None:
            repo, commit = find_commit(conn, target)
            if commit.finished is not None:
                raise errors.commit_finished(commit_str(str(repo), commit.id))
            meta.finish_commit(conn, commit, description)
            if request.error:
                conn.execute("UPDATE commits SET error=? WHERE id=?", (request.error, commit.id))

        await self.backend.writer.submit(finish)
        await self.backend.notify_finished()
        return empty_pb2.Empty()

    @rpc
    async def InspectCommit(self, request: pfs_pb2.InspectCommitRequest, context: Ctx) -> pfs_pb2.CommitInfo:
        conn = self.backend.db
        repo, commit = find_commit(conn, request.commit)
        if request.wait in (pfs_pb2.FINISHING, pfs_pb2.FINISHED) and commit.finished is None:
            async with self.backend.finished:
                while True:
                    current = meta.get_commit(conn, commit.id)
                    if current is None:
                        raise errors.commit_not_found(commit_str(str(repo), commit.id))
                    if current.finished is not None:
                        commit = current
                        break
                    await self.backend.finished.wait()
        return info_of(conn, repo, commit)

    @rpc
    async def ListCommit(self, request: pfs_pb2.ListCommitRequest, context: Ctx) -> AsyncIterator[pfs_pb2.CommitInfo]:
        conn = self.backend.db
        repo = find_repo(conn, request.repo)
        number = request.number or None
        commits: list[CommitRec] = []
        if request.to.id or request.to.branch.name:
            _, cur = find_commit(conn, request.to)
            current: CommitRec | None = cur
            while current is not None and (number is None or len(commits) < number):
                commits.append(current)
                current = meta.get_commit(conn, current.parent) if current.parent else None
            if request.reverse:
                commits.reverse()
        else:
            order = "ASC" if request.reverse else "DESC"
            limit = f"LIMIT {int(number)}" if number else ""
            rows = conn.execute(
                f"SELECT id FROM commits WHERE repo_id=? ORDER BY seq {order} {limit}", (repo.id,)
            ).fetchall()
            commits = [c for r in rows if (c := meta.get_commit(conn, r[0])) is not None]
        for c in commits:
            yield info_of(conn, repo, c)

    @rpc
    async def InspectCommitSet(
        self, request: pfs_pb2.InspectCommitSetRequest, context: Ctx
    ) -> AsyncIterator[pfs_pb2.CommitInfo]:
        conn = self.backend.db
        commit = meta.get_commit(conn, request.commit_set.id)
        if commit is None:
            raise errors.commit_set_not_found(request.commit_set.id)
        yield info_of(conn, meta.repo_by_id(conn, commit.repo_id), commit)

    @rpc
    async def ListCommitSet(
        self, request: pfs_pb2.ListCommitSetRequest, context: Ctx
    ) -> AsyncIterator[pfs_pb2.CommitSetInfo]:
        conn = self.backend.db
        rows = conn.execute("SELECT id FROM commits ORDER BY seq DESC").fetchall()
        for (cid,) in rows:
            c = meta.get_commit(conn, cid)
            if c is None:
                continue
            repo = meta.repo_by_id(conn, c.repo_id)
            if request.project.name and repo.project != request.project.name:
                continue
            yield pfs_pb2.CommitSetInfo(commit_set=pfs_pb2.CommitSet(id=cid), commits=[info_of(conn, repo, c)])

    @rpc
    async def SquashCommitSet(self, request: pfs_pb2.SquashCommitSetRequest, context: Ctx) -> empty_pb2.Empty:
        cid = request.commit_set.id

        def squash(conn: sqlite3.Connection) -> None:
            commit = meta.get_commit(conn, cid)
            if commit is None:
                raise errors.commit_set_not_found(cid)
            repo = meta.repo_by_id(conn, commit.repo_id)
            kids = meta.children(conn, cid)
            if not kids:
                raise errors.squash_without_children(commit_str(str(repo), cid))
            # Children's views already include this commit's rows (seq <= child seq): only the
            # commit record goes; its changes live on in its children.
            conn.execute("UPDATE commits SET parent=? WHERE parent=?", (commit.parent, cid))
            conn.execute("UPDATE branches SET head=? WHERE head=?", (kids[0], cid))
            conn.execute("DELETE FROM commits WHERE id=?", (cid,))

        await self.backend.writer.submit(squash)
        return empty_pb2.Empty()

    @rpc
    async def DropCommitSet(self, request: pfs_pb2.DropCommitSetRequest, context: Ctx) -> empty_pb2.Empty:
        cid = request.commit_set.id
        backend = self.backend

        def drop(conn: sqlite3.Connection) -> None:
            commit = meta.get_commit(conn, cid)
            if commit is None:
                raise errors.commit_set_not_found(cid)
            repo = meta.repo_by_id(conn, commit.repo_id)
            if meta.children(conn, cid):
                raise errors.drop_with_children(commit_str(str(repo), cid))
            blobs = {
                r[0]
                for r in conn.execute(
                    "SELECT blob FROM files WHERE lineage=? AND seq=? AND blob IS NOT NULL",
                    (commit.lineage, commit.seq),
                )
            }
            meta.delete_lineage_rows(conn, commit.lineage, commit.seq)
            parent = meta.get_commit(conn, commit.parent) if commit.parent else None
            if parent is not None and parent.lineage == commit.lineage:
                conn.execute("UPDATE lineages SET tip_seq=? WHERE id=?", (parent.seq, commit.lineage))
            conn.execute("DELETE FROM commits WHERE id=?", (cid,))
            heads = conn.execute("SELECT name FROM branches WHERE head=?", (cid,)).fetchall()
            for (name,) in heads:
                if parent is not None:
                    meta.set_branch(conn, repo, name, parent.id)
                else:
                    meta.create_commit(conn, backend.seqs, repo, name, None, finished=True)
            backend.writer.after_commit(backend.collect(blobs))

        await backend.writer.submit(drop)
        await backend.notify_finished()
        return empty_pb2.Empty()
