"""FindCommits: the commits that modified a path, newest first, with pachd's closing message."""

from __future__ import annotations

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import at, branch_msg, head
from tests.pfsd.helpers import delete, modify, put


def find(stub: pfs_pb2_grpc.APIStub, start: pfs_pb2.Commit, path: str, limit: int = 0):
    out = list(stub.FindCommits(pfs_pb2.FindCommitsRequest(start=start, file_path=path, limit=limit)))
    found = [r.found_commit.id for r in out if r.HasField("found_commit")]
    last = out[-1]
    assert last.HasField("last_searched_commit")
    assert all(r.HasField("found_commit") for r in out[:-1])
    return found, last.last_searched_commit.id, last.commits_searched


def test_find_commits_lists_the_commits_that_modified_a_path(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    c1 = put(stub, repo, "/a", b"1")
    c2 = put(stub, repo, "/b", b"1")
    c3 = put(stub, repo, "/a", b"1")  # same bytes: still a modification, as in pachd
    c4 = modify(stub, repo, [delete("/a")])
    c5 = put(stub, repo, "/b", b"2")
    found, last, searched = find(stub, head(repo), "/a")
    assert found == [c4, c3, c1]
    assert (last, searched) == (c1, 5)  # every commit down to the root was searched
    found, last, searched = find(stub, head(repo), "a", limit=2)
    assert found == [c4, c3]
    assert (last, searched) == (c3, 3)  # c5, c4, c3
    found, last, _ = find(stub, at(repo, c3), "/b")
    assert found == [c2]
    assert find(stub, at(repo, c2), "/nothing")[0] == []
    assert find(stub, head(repo), "/b")[0] == [c5, c2]


def test_find_commits_follows_a_forked_branch_into_its_parent(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    c1 = put(stub, repo, "/k", b"1")
    put(stub, repo, "/k", b"2")  # on master only
    stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "dev"), head=at(repo, c1)))
    d1 = put(stub, repo, "/k", b"3", commit=head(repo, "dev"))
    found, _, _ = find(stub, head(repo, "dev"), "/k")
    assert found == [d1, c1]
