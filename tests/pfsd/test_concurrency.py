"""Concurrent writers to one branch are serialized without lost updates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import head, repo_msg
from tests.pfsd.helpers import get, put


def test_concurrent_writers_lose_nothing(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    def write(i: int) -> str:
        return put(stub, repo, f"/w/{i:03d}", f"v{i}".encode() * (1 if i % 4 else 30_000))

    with ThreadPoolExecutor(16) as pool:
        commits = list(pool.map(write, range(96)))
    assert len(set(commits)) == 96  # one commit per stream
    walk = pfs_pb2.WalkFileRequest(file=pfs_pb2.File(commit=head(repo), path="/w"))
    paths = [f.file.path for f in stub.WalkFile(walk) if f.file_type == pfs_pb2.FILE]
    assert paths == [f"/w/{i:03d}" for i in range(96)]
    assert get(stub, head(repo), "/w/005") == b"v5"
    history = list(stub.ListCommit(pfs_pb2.ListCommitRequest(repo=repo_msg(repo))))
    # a linear history: every commit's parent is the next older one
    for newer, older in zip(history, history[1:], strict=False):
        assert newer.parent_commit.id == older.commit.id
