"""ModifyFile's request-metadata checks (pfsd extension): ``pfs-existing-branch: 1`` refuses to
create the branch, ``pfs-not-directory-bin: <path>`` refuses a stream if the path is a
directory; a refused stream applies nothing. Without them, pachd's behaviour (tested elsewhere)."""

from __future__ import annotations

import hashlib

import grpc
from google.protobuf import wrappers_pb2

from generated.pfs import pfs_pb2
from tests.pfsd.conftest import branch_msg, head
from tests.pfsd.helpers import add, delete, get, put


def checked(stub, commit, ops, existing_branch=True, not_dirs=()) -> tuple[grpc.StatusCode, str]:
    md = ([("pfs-existing-branch", "1")] if existing_branch else []) + [
        ("pfs-not-directory-bin", p.encode()) for p in not_dirs]
    code, out = modify(stub, commit, ops, md)
    return code, out["pfs-commit-id"] if code == grpc.StatusCode.OK else out


def modify(stub, commit, ops, md) -> tuple[grpc.StatusCode, dict | str]:
    """One ModifyFile of ``ops`` into ``commit`` with metadata ``md``: (OK, its trailers) or
    (the error code, its details)."""

    def requests():
        yield pfs_pb2.ModifyFileRequest(set_commit=commit)
        yield from ops

    try:
        _, call = stub.ModifyFile.with_call(requests(), metadata=md)
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, dict(call.trailing_metadata())


def test_existing_branch_is_required(stub, repo):
    code, details = checked(stub, head(repo, "nobranch"), [*add("/a", b"x")])
    assert code == grpc.StatusCode.NOT_FOUND and 'branch "nobranch" not found' in details
    names = [b.branch.name for b in stub.ListBranch(pfs_pb2.ListBranchRequest(repo=branch_msg(repo).repo))]
    assert "nobranch" not in names
    code, _ = checked(stub, head("nosuchrepo"), [*add("/a", b"x")])
    assert code == grpc.StatusCode.NOT_FOUND
    put(stub, repo, "/a", b"old")
    code, commit = checked(stub, head(repo), [delete("/a"), *add("/a", b"new")])
    assert code == grpc.StatusCode.OK and get(stub, head(repo), "/a") == b"new" and len(commit) == 32


def test_a_directory_is_refused_and_nothing_applies(stub, repo):
    put(stub, repo, "/d/inner", b"x")
    before = stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo))).head.id
    code, details = checked(stub, head(repo), [delete("/d"), *add("/d", b"file")], not_dirs=["/d"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "/d is a directory" in details
    assert get(stub, head(repo), "/d/inner") == b"x"
    assert stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo))).head.id == before
    # a file, or a path that does not exist, passes; other deletes stay recursive
    put(stub, repo, "/meta/k/v", b"")
    code, _ = checked(stub, head(repo), [delete("/f"), *add("/f", b"1"), delete("/meta/k")],
                      not_dirs=["/f"])
    assert code == grpc.StatusCode.OK and get(stub, head(repo), "/f") == b"1"
    code, _ = checked(stub, head(repo), [delete("/f"), *add("/f", b"2")], not_dirs=["/f"])
    assert code == grpc.StatusCode.OK and get(stub, head(repo), "/f") == b"2"
    listed = stub.ListFile(pfs_pb2.ListFileRequest(file=pfs_pb2.File(commit=head(repo), path="/")))
    assert "/meta/" not in {f.file.path for f in listed}


def test_what_the_directory_check_read_is_not_reused_past_a_write(stub, repo):
    """The check's look-up of ``/q/`` answers the stream's own DeleteFile of ``/q`` only while
    nothing was written since: a file added below first must be deleted by it."""
    put(stub, repo, "/s/k/old", b"")  # the sidecar a PUT replaces (found, then tombstoned)
    code, _ = checked(stub, head(repo), [*add("/q/x", b"1"), delete("/q"), *add("/q", b"file"),
                                         delete("/s/k"), *add("/s/k/new", b"")], not_dirs=["/q"])
    assert code == grpc.StatusCode.OK and get(stub, head(repo), "/q") == b"file"
    names = {f.file.path for f in stub.WalkFile(pfs_pb2.WalkFileRequest(
        file=pfs_pb2.File(commit=head(repo), path="/")))}
    assert "/q/x" not in names and "/s/k/old" not in names and "/s/k/new" in names
    # the same PUT again: the sidecar found proves /s and /s/k directories, and a file at /s is
    # still refused by the check of its own stream
    code, _ = checked(stub, head(repo), [delete("/q"), *add("/q", b"again"), delete("/s/k"),
                                         *add("/s/k/new", b"")], not_dirs=["/q"])
    assert code == grpc.StatusCode.OK and get(stub, head(repo), "/q") == b"again"
    code, _ = checked(stub, head(repo), [*add("/s", b"x")], not_dirs=["/s"])
    assert code == grpc.StatusCode.FAILED_PRECONDITION


def test_deleting_a_directory_past_deleted_files(stub, repo):
    """The writer reads a directory's paths two at a time: deleted ones (tombstones) among
    them, first or second or both, are skipped and every live file below is deleted."""
    for layout, gone in ((("a", "b", "c", "d"), ("a", "b")), (("a", "b", "c"), ("a",)),
                         (("a", "b", "c"), ("b",)), (("a", "b"), ("a", "b"))):
        base = f"/t{len(layout)}{''.join(gone)}"
        put(stub, repo, base + "/keep-out", b"")  # a file past the directory's range
        for name in layout:
            put(stub, repo, f"{base}/dir/{name}", b"x")
        for name in gone:
            code, _ = checked(stub, head(repo), [delete(f"{base}/dir/{name}")])
            assert code == grpc.StatusCode.OK
        code, _ = checked(stub, head(repo), [delete(f"{base}/dir"), *add(f"{base}/dir", b"file")],
                          not_dirs=[f"{base}/dir"] if set(gone) == set(layout) else [])
        assert code == grpc.StatusCode.OK
        names = {f.file.path for f in stub.WalkFile(pfs_pb2.WalkFileRequest(
            file=pfs_pb2.File(commit=head(repo), path=base)))}
        assert names == {base + "/", base + "/dir", base + "/keep-out"}, (layout, gone, names)


def test_without_the_keys_a_missing_branch_is_created(stub, repo):
    raw = wrappers_pb2.BytesValue(value=b"x")
    ops = [pfs_pb2.ModifyFileRequest(add_file=pfs_pb2.AddFile(path="/a", raw=raw))]
    code, _ = checked(stub, head(repo, "fresh"), ops, existing_branch=False)
    assert code == grpc.StatusCode.OK and get(stub, head(repo, "fresh"), "/a") == b"x"


def md5_call(stub, commit, ops, md5_of=None, expect=None) -> tuple[grpc.StatusCode, dict | str]:
    md = ([("pfs-md5-of-bin", md5_of.encode())] if md5_of else []) + (
        [("pfs-md5-expect", expect)] if expect else [])
    return modify(stub, commit, ops, md)


def test_md5_of_the_written_content_is_answered_and_can_be_required(stub, repo):
    big = bytes(range(256)) * 1000  # past the inline size: a blob, hashed as it streams
    for data in (b"small", big, b""):
        code, trailer = md5_call(stub, head(repo), [delete("/k"), *add("/k", data)], md5_of="/k")
        assert code == grpc.StatusCode.OK and trailer["pfs-md5"] == hashlib.md5(data).hexdigest()
    code, trailer = md5_call(stub, head(repo), [delete("/k"), *add("/k", big)], md5_of="/k",
                             expect=hashlib.md5(big).hexdigest().upper())
    assert code == grpc.StatusCode.OK and get(stub, head(repo), "/k") == big
    before = stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo))).head.id
    code, details = md5_call(stub, head(repo), [delete("/k"), *add("/k", b"other")], md5_of="/k",
                             expect=hashlib.md5(big).hexdigest())
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "pfs-md5-expect" in details
    assert get(stub, head(repo), "/k") == big  # nothing applied
    assert stub.InspectBranch(pfs_pb2.InspectBranchRequest(branch=branch_msg(repo))).head.id == before
    # a path the stream did not write: no MD5 answered, and an expectation fails
    code, trailer = md5_call(stub, head(repo), [*add("/other", b"x")], md5_of="/k")
    assert code == grpc.StatusCode.OK and "pfs-md5" not in trailer
    code, _ = md5_call(stub, head(repo), [*add("/other2", b"x")], md5_of="/k", expect="00" * 16)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = md5_call(stub, head(repo), [*add("/other3", b"x")], expect="00" * 16)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
