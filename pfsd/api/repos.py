"""Projects and repos."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2

from generated.pfs import pfs_pb2
from pfsd import errors
from pfsd.api.base import Backend, find_repo, repo_key, rpc
from pfsd.api.convert import branch_msg, repo_msg, ts
from pfsd.names import DEFAULT_PROJECT, USER_TYPE, validate_name, validate_project
from pfsd.store import meta
from pfsd.store.meta import RepoRec

Ctx = grpc.aio.ServicerContext


def _repo_info(conn: sqlite3.Connection, repo: RepoRec) -> pfs_pb2.RepoInfo:
    branches = [r[0] for r in conn.execute("SELECT name FROM branches WHERE repo_id=? ORDER BY name", (repo.id,))]
    size = 0
    head = meta.branch_head(conn, repo, "master")
    if head is not None:
        commit = meta.get_commit(conn, head)
        size = commit.size if commit else 0
    return pfs_pb2.RepoInfo(
        repo=repo_msg(repo),
        created=ts(repo.created),
        size_bytes_upper_bound=size,
        description=repo.description,
        branches=[branch_msg(repo, b) for b in branches],
        details=pfs_pb2.RepoInfo.Details(size_bytes=size),
    )


def _project_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM projects WHERE name=?", (name,)).fetchone() is not None


class RepoServicer:
    """CreateProject .. DeleteProject, CreateRepo .. DeleteRepos."""

    backend: Backend

    @rpc
    async def CreateProject(self, request: pfs_pb2.CreateProjectRequest, context: Ctx) -> empty_pb2.Empty:
        name, description, update = request.project.name, request.description, request.update
        validate_project(name)

        def create(conn: sqlite3.Connection) -> None:
            if _project_exists(conn, name):
                if not update:
                    raise errors.project_exists(name)
                conn.execute("UPDATE projects SET description=? WHERE name=?", (description, name))
                return
            conn.execute(
                "INSERT INTO projects(name, description, created) VALUES (?,?,?)",
                (name, description, time.time()),
            )

        await self.backend.writer.submit(create)
        return empty_pb2.Empty()

    @rpc
    async def InspectProject(self, request: pfs_pb2.InspectProjectRequest, context: Ctx) -> pfs_pb2.ProjectInfo:
        row = self.backend.db.execute(
            "SELECT name, description, created FROM projects WHERE name=?", (request.project.name,)
        ).fetchone()
        if row is None:
            raise errors.project_not_found(request.project.name)
        return pfs_pb2.ProjectInfo(project=pfs_pb2.Project(name=row[0]), description=row[1], created_at=ts(row[2]))

    @rpc
    async def ListProject(
        self, request: pfs_pb2.ListProjectRequest, context: Ctx
    ) -> AsyncIterator[pfs_pb2.ProjectInfo]:
        rows = self.backend.db.execute("SELECT name, description, created FROM projects ORDER BY name").fetchall()
        for name, description, created in rows:
            yield pfs_pb2.ProjectInfo(
                project=pfs_pb2.Project(name=name), description=description, created_at=ts(created)
            )

    @rpc
    async def DeleteProject(self, request: pfs_pb2.DeleteProjectRequest, context: Ctx) -> empty_pb2.Empty:
        name, force = request.project.name, request.force
        if name == DEFAULT_PROJECT:
            raise errors.precondition("cannot delete the default project")
        blobs: set[str] = set()

        def delete(conn: sqlite3.Connection) -> None:
            if not _project_exists(conn, name):
                raise errors.project_not_found(name)
            repos = conn.execute(
                "SELECT id, project, name, type, description, created FROM repos WHERE project=?",
                (name,),
            ).fetchall()
            if repos and not force:
                raise errors.precondition(f"cannot delete project {name}: it still contains {len(repos)} repo(s)")
            for row in repos:
                blobs.update(meta.delete_repo(conn, RepoRec(*row)))
            conn.execute("DELETE FROM projects WHERE name=?", (name,))
            self.backend.writer.after_commit(self.backend.collect(blobs))

        await self.backend.writer.submit(delete)
        return empty_pb2.Empty()

    @rpc
    async def CreateRepo(self, request: pfs_pb2.CreateRepoRequest, context: Ctx) -> empty_pb2.Empty:
        project, name, rtype = repo_key(request.repo)
        validate_name("repo", name)
        description, update = request.description, request.update

        def create(conn: sqlite3.Connection) -> None:
            if not _project_exists(conn, project):
                raise errors.project_not_found(project)
            try:
                repo = meta.get_repo(conn, project, name, rtype)
            except errors.PfsError:
                conn.execute(
                    "INSERT INTO repos(project, name, type, description, created) VALUES (?,?,?,?,?)",
                    (project, name, rtype, description, time.time()),
                )
                return
            if not update:
                raise errors.repo_exists(str(repo))
            conn.execute("UPDATE repos SET description=? WHERE id=?", (description, repo.id))

        await self.backend.writer.submit(create)
        return empty_pb2.Empty()

    @rpc
    async def InspectRepo(self, request: pfs_pb2.InspectRepoRequest, context: Ctx) -> pfs_pb2.RepoInfo:
        repo = find_repo(self.backend.db, request.repo)
        return _repo_info(self.backend.db, repo)

    @rpc
    async def ListRepo(self, request: pfs_pb2.ListRepoRequest, context: Ctx) -> AsyncIterator[pfs_pb2.RepoInfo]:
        rtype = request.type or USER_TYPE
        projects = {p.name for p in request.projects if p.name}
        conn = self.backend.db
        rows = conn.execute(
            "SELECT id, project, name, type, description, created FROM repos ORDER BY created DESC"
        ).fetchall()
        for row in rows:
            repo = RepoRec(*row)
            if rtype != "all" and repo.type != rtype:
                continue
            if projects and repo.project not in projects:
                continue
            yield _repo_info(conn, repo)

    @rpc
    async def DeleteRepo(self, request: pfs_pb2.DeleteRepoRequest, context: Ctx) -> empty_pb2.Empty:
        key = repo_key(request.repo)

        def delete(conn: sqlite3.Connection) -> None:
            repo = meta.get_repo(conn, *key)
            blobs = meta.delete_repo(conn, repo)
            self.backend.writer.after_commit(self.backend.collect(blobs))

        await self.backend.writer.submit(delete)
        return empty_pb2.Empty()

    @rpc
    async def DeleteRepos(self, request: pfs_pb2.DeleteReposRequest, context: Ctx) -> pfs_pb2.DeleteReposResponse:
        projects = {p.name for p in request.projects}
        if not projects and not request.all:
            raise errors.invalid("either projects or all must be specified")

        def delete(conn: sqlite3.Connection) -> list[RepoRec]:
            rows = conn.execute("SELECT id, project, name, type, description, created FROM repos").fetchall()
            gone: list[RepoRec] = []
            blobs: set[str] = set()
            for row in rows:
                repo = RepoRec(*row)
                if request.all or repo.project in projects:
                    blobs.update(meta.delete_repo(conn, repo))
                    gone.append(repo)
            self.backend.writer.after_commit(self.backend.collect(blobs))
            return gone

        gone = await self.backend.writer.submit(delete)
        return pfs_pb2.DeleteReposResponse(repos=[repo_msg(r) for r in gone])
