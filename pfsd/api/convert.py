"""Building pfs_v2 response messages from store records."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from generated.pfs import pfs_pb2
from pfsd.store.meta import CommitRec, RepoRec
from pfsd.store.views import Entry


def ts(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    out = Timestamp()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def repo_msg(repo: RepoRec) -> pfs_pb2.Repo:
    return pfs_pb2.Repo(name=repo.name, type=repo.type, project=pfs_pb2.Project(name=repo.project))


def branch_msg(repo: RepoRec, name: str) -> pfs_pb2.Branch:
    return pfs_pb2.Branch(repo=repo_msg(repo), name=name)


def commit_msg(repo: RepoRec, commit_id: str, branch: str) -> pfs_pb2.Commit:
    return pfs_pb2.Commit(repo=repo_msg(repo), id=commit_id, branch=branch_msg(repo, branch))


def commit_info(
    repo: RepoRec, c: CommitRec, parent_branch: str | None, children: list[tuple[str, str]]
) -> pfs_pb2.CommitInfo:
    info = pfs_pb2.CommitInfo(
        commit=commit_msg(repo, c.id, c.branch),
        origin=pfs_pb2.CommitOrigin(kind=pfs_pb2.USER),
        description=c.description,
        child_commits=[commit_msg(repo, cid, br) for cid, br in children],
        started=ts(c.started),
        finishing=ts(c.finishing),
        finished=ts(c.finished),
        error=c.error,
        size_bytes_upper_bound=c.size,
        details=pfs_pb2.CommitInfo.Details(size_bytes=c.size),
    )
    if c.parent is not None:
        info.parent_commit.CopyFrom(commit_msg(repo, c.parent, parent_branch or c.branch))
    return info


def file_info(commit: pfs_pb2.Commit, entry: Entry) -> pfs_pb2.FileInfo:
    """A FileInfo: files carry size, MD5 digest and commit time; directories only their path."""
    file = pfs_pb2.File(commit=commit, path=entry.path)
    row = entry.row
    if row is None:
        return pfs_pb2.FileInfo(file=file, file_type=pfs_pb2.DIR)
    return pfs_pb2.FileInfo(
        file=file,
        file_type=pfs_pb2.FILE,
        committed=ts(row.committed),
        size_bytes=row.size,
        hash=row.md5 or b"",
    )
