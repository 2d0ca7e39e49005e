"""Branches and commits."""

from __future__ import annotations

import threading
import time

import grpc

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import at, branch_msg, head, repo_msg
from tests.pfsd.helpers import add, code_of, get, modify, put


def inspect(stub: pfs_pb2_grpc.APIStub, commit: pfs_pb2.Commit, **kw: object) -> pfs_pb2.CommitInfo:
    return stub.InspectCommit(pfs_pb2.InspectCommitRequest(commit=commit, **kw))  # type: ignore[arg-type]


def test_branch_lifecycle(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "dev")))
    info = stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo, "dev")))
    assert len(info.head.id) == 32  # a new branch starts at an empty commit, like pachd 2.x
    c1 = put(stub, repo, "/x", b"1")
    stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "pinned"), head=at(repo, c1)))
    pinned = stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo, "pinned")))
    assert pinned.head.id == c1
    names = sorted(b.branch.name for b in stub.ListBranch(pfs_pb2.ListBranchRequest(repo=repo_msg(repo))))
    assert names == ["dev", "master", "pinned"]
    stub.DeleteBranch(pfs_pb2.DeleteBranchRequest(branch=branch_msg(repo, "dev")))
    code, msg = code_of(stub.InspectBranch, pfs_pb2.InspectBranchRequest(branch=branch_msg(repo, "dev")))
    assert code == grpc.StatusCode.NOT_FOUND
    assert msg == f'branch "dev" not found in repo default/{repo}'
    code, _ = code_of(stub.DeleteBranch, pfs_pb2.DeleteBranchRequest(branch=branch_msg(repo, "dev")))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(stub.CreateBranch, pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "a/b")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(stub.CreateBranch, pfs_pb2.CreateBranchRequest(branch=branch_msg("nosuchrepo", "x")))
    assert code == grpc.StatusCode.NOT_FOUND


def test_explicit_commit(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    commit = stub.StartCommit(pfs_pb2.StartCommitRequest(branch=branch_msg(repo), description="d"))
    assert len(commit.id) == 32
    info = inspect(stub, commit)
    assert not info.HasField("finished") and info.started.seconds > 0
    # writes into the open head go into that commit
    assert modify(stub, repo, add("/a", b"aa")) == commit.id
    assert modify(stub, repo, add("/b", b"bb")) == commit.id
    code, _ = code_of(stub.StartCommit, pfs_pb2.StartCommitRequest(branch=branch_msg(repo)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    stub.FinishCommit(pfs_pb2.FinishCommitRequest(commit=commit))
    info = inspect(stub, commit)
    assert info.HasField("finished") and info.details.size_bytes == 4 and info.description == "d"
    code, msg = code_of(stub.FinishCommit, pfs_pb2.FinishCommitRequest(commit=commit))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "has already finished" in msg
    code, msg = code_of(modify, stub, repo, add("/c", b"c"), at(repo, commit.id))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert msg == f"commit default/{repo}@{commit.id} has already finished"


def test_inspect_commit_wait(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    commit = stub.StartCommit(pfs_pb2.StartCommitRequest(branch=branch_msg(repo)))
    threading.Timer(0.3, lambda: stub.FinishCommit(pfs_pb2.FinishCommitRequest(commit=commit))).start()
    t0 = time.monotonic()
    info = inspect(stub, commit, wait=pfs_pb2.FINISHED)
    assert info.HasField("finished") and time.monotonic() - t0 >= 0.2


def test_commit_not_found(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    code, msg = code_of(inspect, stub, at(repo, "0" * 32))
    assert code == grpc.StatusCode.NOT_FOUND and msg == f"commit default/{repo}@{'0' * 32} not found"
    code, _ = code_of(inspect, stub, head(repo, "nobranch"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(inspect, stub, at("nosuchrepo", "0" * 32))
    assert code == grpc.StatusCode.NOT_FOUND


def test_list_commit_and_ancestry(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    ids = [put(stub, repo, "/f", str(i).encode()) for i in range(4)]
    listed = [c.commit.id for c in stub.ListCommit(pfs_pb2.ListCommitRequest(repo=repo_msg(repo)))]
    assert listed == ids[::-1]
    two = stub.ListCommit(pfs_pb2.ListCommitRequest(repo=repo_msg(repo), number=2))
    assert [c.commit.id for c in two] == ids[:1:-1]
    to = stub.ListCommit(pfs_pb2.ListCommitRequest(repo=repo_msg(repo), to=at(repo, ids[2])))
    assert [c.commit.id for c in to] == ids[2::-1]
    info = inspect(stub, at(repo, ids[3]))
    assert info.parent_commit.id == ids[2]
    assert [c.id for c in inspect(stub, at(repo, ids[2])).child_commits] == [ids[3]]
    assert inspect(stub, head(repo, "master^")).commit.id == ids[2]
    assert inspect(stub, head(repo, "master~2")).commit.id == ids[1]
    assert get(stub, at(repo, ids[1]), "/f") == b"1"


def test_fork_reads_history(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    c1 = put(stub, repo, "/a", b"a1")
    put(stub, repo, "/a", b"a2")
    put(stub, repo, "/b", b"b2")
    stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "old"), head=at(repo, c1)))
    put(stub, repo, "/c", b"c-old", commit=head(repo, "old"))
    assert get(stub, head(repo, "old"), "/a") == b"a1"
    assert get(stub, head(repo, "old"), "/c") == b"c-old"
    code, _ = code_of(get, stub, head(repo, "old"), "/b")
    assert code == grpc.StatusCode.NOT_FOUND
    assert get(stub, head(repo), "/a") == b"a2"
    code, _ = code_of(get, stub, head(repo), "/c")
    assert code == grpc.StatusCode.NOT_FOUND


def test_squash_and_drop(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    c1 = put(stub, repo, "/a", b"1")
    c2 = put(stub, repo, "/b", b"2")
    c3 = put(stub, repo, "/c", b"3")
    code, msg = code_of(stub.SquashCommitSet, pfs_pb2.SquashCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=c3)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "cannot squash" in msg
    code, _ = code_of(stub.DropCommitSet, pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=c2)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    stub.SquashCommitSet(pfs_pb2.SquashCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=c2)))
    assert inspect(stub, at(repo, c3)).parent_commit.id == c1
    assert get(stub, at(repo, c3), "/b") == b"2"
    stub.DropCommitSet(pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=c3)))
    info = stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo)))
    assert info.head.id == c1
    code, _ = code_of(get, stub, head(repo), "/c")
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(stub.DropCommitSet, pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=c3)))
    assert code == grpc.StatusCode.NOT_FOUND
    put(stub, repo, "/d", b"4")  # the branch is writable again
    assert get(stub, head(repo), "/a") == b"1"


def test_description_metadata_names_the_commit_a_call_creates(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    """pfsd extension: request metadata ``pfs-commit-description-bin`` on ModifyFile/CreateBranch."""
    key = "pfs-commit-description-bin"

    def described(ops, text: str, commit: pfs_pb2.Commit | None = None) -> str:
        def requests():
            yield pfs_pb2.ModifyFileRequest(set_commit=commit or head(repo))
            yield from ops

        _, call = stub.ModifyFile.with_call(requests(), metadata=((key, text.encode()),))
        return dict(call.trailing_metadata())["pfs-commit-id"]

    stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "dev")), metadata=((key, b"made dev"),))
    dev = stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo, "dev"))).head
    assert inspect(stub, dev).description == "made dev"
    c1 = described(add("/a", b"a"), "PutObject a · é")
    assert inspect(stub, at(repo, c1)).description == "PutObject a · é"
    assert inspect(stub, at(repo, put(stub, repo, "/b", b"b"))).description == ""  # none asked
    # into an open commit: its StartCommit/FinishCommit own the description
    open_commit = stub.StartCommit(pfs_pb2.StartCommitRequest(branch=branch_msg(repo), description="mine"))
    assert described(add("/c", b"c"), "ignored", open_commit) == open_commit.id
    stub.FinishCommit(pfs_pb2.FinishCommitRequest(commit=open_commit))
    assert inspect(stub, open_commit).description == "mine"
