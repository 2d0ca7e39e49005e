"""The read RPCs' memo of what they found at the database's current version
(pfsd.store.snapshot): exact, because any commit empties it before the next read uses it."""

from __future__ import annotations

import sqlite3

import grpc

from generated.pfs import pfs_pb2
from pfsd.store.snapshot import Snapshot
from tests.pfsd.conftest import at, branch_msg, head
from tests.pfsd.helpers import code_of, delete, get, modify, put


def connections(tmp_path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    writer = sqlite3.connect(tmp_path / "db", isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t(a)")
    return writer, sqlite3.connect(tmp_path / "db", isolation_level=None)


def test_a_commit_by_another_connection_empties_the_memo(tmp_path):
    writer, reader = connections(tmp_path)
    snap = Snapshot(reader)
    version = snap.current()
    snap.put(version, "k", "v")
    assert snap.current() == version and snap.get("k") == "v"  # nothing committed: kept
    writer.execute("BEGIN")
    writer.execute("INSERT INTO t VALUES (1)")
    assert snap.current() == version and snap.get("k") == "v"  # not committed yet: kept
    writer.execute("COMMIT")
    newer = snap.current()
    assert newer != version and snap.get("k") is None
    # what an RPC read under the older version is not kept once a newer one was seen
    snap.put(version, "k", "old")
    assert snap.get("k") is None
    snap.put(newer, "k", "new")
    assert snap.get("k") == "new"


def test_the_memo_is_bounded(tmp_path):
    _, reader = connections(tmp_path)
    snap = Snapshot(reader, max_entries=3, max_bytes=100)
    version = snap.current()
    for i in range(10):
        snap.put(version, i, i)
        assert len(snap) <= 3
    snap.put(version, "big", b"x", size=60)
    snap.put(version, "big2", b"x", size=60)
    assert snap.bytes <= 100 and snap.get("big") is None and snap.get("big2") == b"x"


def inspect(stub, commit, path) -> pfs_pb2.FileInfo:
    return stub.InspectFile(pfs_pb2.InspectFileRequest(file=pfs_pb2.File(commit=commit, path=path)))


def test_reads_follow_every_write(stub, repo):
    """The same reads, repeated (the memo answers them), see each write, a drop of the head
    commit (the branch moves back) and a squash, as soon as the write returned."""
    first = put(stub, repo, "/k", b"one")
    assert get(stub, head(repo), "/k") == b"one"
    assert get(stub, head(repo), "/k") == b"one"
    second = put(stub, repo, "/k", b"two")
    assert get(stub, head(repo), "/k") == b"two"
    assert inspect(stub, head(repo), "/k").file.commit.id == second
    assert get(stub, at(repo, first), "/k") == b"one"  # a commit's files never change
    stub.DropCommitSet(pfs_pb2.DropCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=second)))
    assert get(stub, head(repo), "/k") == b"one"
    assert inspect(stub, head(repo), "/k").file.commit.id == first
    modify(stub, repo, [delete("/k")])
    assert code_of(get, stub, head(repo), "/k")[0] == grpc.StatusCode.NOT_FOUND
    third = put(stub, repo, "/k", b"three")
    stub.SquashCommitSet(pfs_pb2.SquashCommitSetRequest(commit_set=pfs_pb2.CommitSet(id=first)))
    assert get(stub, head(repo), "/k") == b"three"
    assert inspect(stub, head(repo), "/k").file.commit.id == third
    stub.CreateBranch(pfs_pb2.CreateBranchRequest(branch=branch_msg(repo, "other"), head=at(repo, third)))
    assert get(stub, head(repo, "other"), "/k") == b"three"
    stub.DeleteRepo(pfs_pb2.DeleteRepoRequest(repo=head(repo).repo, force=True))
    assert code_of(get, stub, head(repo), "/k")[0] == grpc.StatusCode.NOT_FOUND


def test_inspect_file_follows_writes(stub, repo):
    put(stub, repo, "/d/x", b"x")
    for _ in range(2):  # the second answer is the memo's
        assert inspect(stub, head(repo), "/d").file_type == pfs_pb2.DIR
        assert inspect(stub, head(repo), "/d/x").size_bytes == 1
    put(stub, repo, "/d/x", b"xyz")
    assert inspect(stub, head(repo), "/d/x").size_bytes == 3
    modify(stub, repo, [delete("/d/x")])
    assert code_of(inspect, stub, head(repo), "/d")[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(inspect, stub, head(repo), "/d/x")[0] == grpc.StatusCode.NOT_FOUND


def test_the_read_connection_refuses_writes(tmp_path):
    """The memo relies on every commit being another connection's (data_version does not
    change for a connection's own commits): the read connection cannot write."""
    import pytest

    from pfsd.api.base import Backend

    backend = Backend(tmp_path / "data")
    try:
        with pytest.raises(sqlite3.OperationalError):
            backend.db.execute("DELETE FROM projects")
        assert backend.db.execute("SELECT COUNT(*) FROM projects").fetchone()[0] >= 1
    finally:
        backend.close()
