"""Files: ModifyFile semantics, reads, listings, globs and their errors."""

from __future__ import annotations

import hashlib

import grpc

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import at, branch_msg, head
from tests.pfsd.helpers import add, code_of, delete, get, modify, put


def fileof(repo: str, path: str, commit: pfs_pb2.Commit | None = None) -> pfs_pb2.File:
    return pfs_pb2.File(commit=commit or head(repo), path=path)


def ls(stub: pfs_pb2_grpc.APIStub, repo: str, path: str = "/", **kw: object) -> list[str]:
    req = pfs_pb2.ListFileRequest(file=fileof(repo, path), **kw)  # type: ignore[arg-type]
    return [f.file.path for f in stub.ListFile(req)]


def walk(stub: pfs_pb2_grpc.APIStub, repo: str, path: str = "/", **kw: object) -> list[str]:
    req = pfs_pb2.WalkFileRequest(file=fileof(repo, path), **kw)  # type: ignore[arg-type]
    return [f.file.path for f in stub.WalkFile(req)]


def test_put_get_inspect(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: stored as a blob, streamed in chunks
    cid = put(stub, repo, "dir/big.bin", big)
    put(stub, repo, "/small", b"hello")
    assert get(stub, head(repo), "/dir/big.bin") == big
    assert get(stub, at(repo, cid), "dir/big.bin", offset=1_000_000) == big[1_000_000:]
    assert get(stub, head(repo), "/small", offset=2) == b"llo"
    info = stub.InspectFile(pfs_pb2.InspectFileRequest(file=fileof(repo, "/dir/big.bin")))
    assert info.file_type == pfs_pb2.FILE and info.size_bytes == len(big)
    assert info.hash == hashlib.md5(big).digest() and info.committed.seconds > 0
    d = stub.InspectFile(pfs_pb2.InspectFileRequest(file=fileof(repo, "/dir")))
    assert d.file_type == pfs_pb2.DIR and d.file.path == "/dir/"
    code, msg = code_of(stub.InspectFile, pfs_pb2.InspectFileRequest(file=fileof(repo, "/nope")))
    assert code == grpc.StatusCode.NOT_FOUND
    assert msg.startswith(f"file /nope not found in repo default/{repo} at commit ")
    code, _ = code_of(get, stub, head(repo), "/dir")
    assert code != grpc.StatusCode.OK


def test_modify_semantics(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    c1 = modify(stub, repo, [*add("/a", b"x"), *add("/a", b"y")])  # consecutive adds append
    assert get(stub, head(repo), "/a") == b"xy"
    c2 = modify(stub, repo, add("/a", b"z"))  # AddFile onto an existing file appends, like pachd
    assert get(stub, head(repo), "/a") == b"xyz" and c2 != c1
    put(stub, repo, "/a", b"new")
    assert get(stub, head(repo), "/a") == b"new"
    assert get(stub, at(repo, c1), "/a") == b"xy"  # history stays readable
    modify(stub, repo, [delete("/a")])
    code, _ = code_of(get, stub, head(repo), "/a")
    assert code == grpc.StatusCode.NOT_FOUND


def test_empty_file_and_delete_directory(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    modify(stub, repo, [*add("/d/e/1", b"1"), *add("/d/2", b""), *add("/keep", b"k")])
    info = stub.InspectFile(pfs_pb2.InspectFileRequest(file=fileof(repo, "/d/2")))
    assert info.size_bytes == 0 and info.hash == hashlib.md5(b"").digest()
    modify(stub, repo, [delete("/d/")])
    assert walk(stub, repo) == ["/", "/keep"]


def test_path_collisions(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    put(stub, repo, "/f", b"file")
    code, _ = code_of(put, stub, repo, "/f/child", b"x")
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    put(stub, repo, "/dir/x", b"x")
    code, _ = code_of(modify, stub, repo, add("/dir", b"x"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    put(stub, repo, "/dir", b"x")  # DeleteFile first removes the directory (pachd semantics)
    code, _ = code_of(put, stub, repo, "/dir/x", b"x")
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert walk(stub, repo) == ["/", "/dir", "/f"]  # the failed streams changed nothing


def test_deletes_and_adds_in_one_stream(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    """A stream's later operations see its earlier ones (the writer answers some from memory)."""
    modify(stub, repo, [*add("/a", b"file"), *add("/d/x", b"1"), *add("/d/y/z", b"2"), *add("/m/k/old", b"o")])
    # a file deleted, then a directory made at its path; a directory deleted, then a file at its path
    modify(stub, repo, [delete("/a"), *add("/a/b", b"b"), delete("/d/"), *add("/d", b"now a file")])
    assert walk(stub, repo) == ["/", "/a/", "/a/b", "/d", "/m/", "/m/k/", "/m/k/old"]
    # the gateway's PUT: the object and its sidecar directory deleted first, then both added
    modify(stub, repo, [delete("/k"), *add("/k", b"v1"), delete("/m/k/"), *add("/m/k/new", b"")])
    assert walk(stub, repo, "/m") == ["/m/", "/m/k/", "/m/k/new"] and get(stub, head(repo), "/k") == b"v1"
    # a file added below a cleared directory, then the directory's own path as a file: collision
    code, _ = code_of(modify, stub, repo, [delete("/x/"), *add("/x/y", b"1"), *add("/x", b"2")])
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    # added then deleted below a directory: the directory's path is free again
    modify(stub, repo, [*add("/p/q", b"1"), delete("/p/"), *add("/p", b"2")])
    # a file under a file made in the same stream: collision, named at the parent
    code, msg = code_of(modify, stub, repo, [delete("/f"), *add("/f", b"1"), *add("/f/g/h", b"2")])
    assert code == grpc.StatusCode.FAILED_PRECONDITION and msg.endswith("(/f)")
    # AddFile after a DeleteFile of an enclosing directory starts from nothing, not the old bytes
    modify(stub, repo, [delete("/m/"), *add("/m/k/new", b"fresh")])
    assert get(stub, head(repo), "/m/k/new") == b"fresh" and get(stub, head(repo), "/p") == b"2"
    assert walk(stub, repo) == ["/", "/a/", "/a/b", "/d", "/k", "/m/", "/m/k/", "/m/k/new", "/p"]
    # replacing files keeps the commit's size exact (the replaced rows' tombstones are elided)
    modify(stub, repo, [delete("/k"), *add("/k", b"v22"), delete("/m/"), *add("/m/k/new", b"x")])
    infos = stub.WalkFile(pfs_pb2.WalkFileRequest(file=fileof(repo, "/")))
    total = sum(i.size_bytes for i in infos if i.file_type == pfs_pb2.FILE)
    commit = stub.InspectCommit(pfs_pb2.InspectCommitRequest(commit=head(repo)))
    assert commit.details.size_bytes == total == len(b"b" b"now a file" b"v22" b"x" b"2")


def test_copy_file(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    c1 = modify(stub, repo, [*add("/src/a", b"A" * 100_000), *add("/src/b", b"B")])
    copy = pfs_pb2.CopyFile(dst="/dst", src=fileof(repo, "/src", at(repo, c1)))
    modify(stub, repo, [pfs_pb2.ModifyFileRequest(copy_file=copy)])
    assert get(stub, head(repo), "/dst/a") == b"A" * 100_000
    one = pfs_pb2.CopyFile(dst="/dst/b", src=fileof(repo, "/src/b"), append=True)
    modify(stub, repo, [pfs_pb2.ModifyFileRequest(copy_file=one)])
    assert get(stub, head(repo), "/dst/b") == b"BB"
    missing = pfs_pb2.CopyFile(dst="/x", src=fileof(repo, "/nope"))
    code, _ = code_of(modify, stub, repo, [pfs_pb2.ModifyFileRequest(copy_file=missing)])
    assert code == grpc.StatusCode.NOT_FOUND


def test_list_walk_pagination(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    names = ["/a/x", "/a/y/z", "/a-b", "/a0", "/b", "/c/d/e/f"]
    modify(stub, repo, [op for n in names for op in add(n, n.encode())])
    assert ls(stub, repo) == ["/a-b", "/a/", "/a0", "/b", "/c/"]
    assert ls(stub, repo, "/a") == ["/a/x", "/a/y/"]
    assert ls(stub, repo, "/b") == ["/b"]
    assert ls(stub, repo, number=2) == ["/a-b", "/a/"]
    marker = pfs_pb2.File(commit=head(repo), path="/a/")
    assert ls(stub, repo, paginationMarker=marker, number=2) == ["/a0", "/b"]
    assert ls(stub, repo, reverse=True) == ["/c/", "/b", "/a0", "/a/", "/a-b"]
    assert ls(stub, repo, reverse=True, paginationMarker=marker) == ["/a-b"]
    full = ["/", "/a-b", "/a/", "/a/x", "/a/y/", "/a/y/z", "/a0", "/b", "/c/", "/c/d/", "/c/d/e/", "/c/d/e/f"]
    assert walk(stub, repo) == full
    for i in range(1, len(full)):
        m = pfs_pb2.File(commit=head(repo), path=full[i - 1])
        assert walk(stub, repo, paginationMarker=m, number=3) == full[i : i + 3]
    assert walk(stub, repo, "/c") == ["/c/", "/c/d/", "/c/d/e/", "/c/d/e/f"]
    code, _ = code_of(ls, stub, repo, "/missing")
    assert code == grpc.StatusCode.NOT_FOUND


def test_glob(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    modify(stub, repo, [op for n in ["/a.txt", "/b.csv", "/d/c.txt", "/d/e/f.txt"] for op in add(n, b"1")])

    def glob(pattern: str) -> list[str]:
        req = pfs_pb2.GlobFileRequest(commit=head(repo), pattern=pattern)
        return [f.file.path for f in stub.GlobFile(req)]

    assert glob("/*") == ["/a.txt", "/b.csv", "/d/"]
    assert glob("/*.txt") == ["/a.txt"]
    assert glob("/d/*") == ["/d/c.txt", "/d/e/"]
    assert glob("/**.txt") == ["/a.txt", "/d/c.txt", "/d/e/f.txt"]
    assert glob("/{a,b}.*") == ["/a.txt", "/b.csv"]
    assert glob("/?.csv") == ["/b.csv"]


def test_open_commit_reads_and_missing_targets(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    commit = stub.StartCommit(pfs_pb2.StartCommitRequest(branch=branch_msg(repo)))
    modify(stub, repo, add("/o", b"open"), commit=commit)
    assert get(stub, commit, "/o") == b"open"
    stub.FinishCommit(pfs_pb2.FinishCommitRequest(commit=commit))
    code, _ = code_of(put, stub, "nosuchrepo", "/x", b"1")
    assert code == grpc.StatusCode.NOT_FOUND
    # ModifyFile on a branch that does not exist yet creates it (pachd does the same)
    put(stub, repo, "/n", b"new", commit=head(repo, "fresh"))
    assert get(stub, head(repo, "fresh"), "/n") == b"new"


def test_broken_stream_applies_nothing(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    put(stub, repo, "/keep", b"k")

    def requests():  # type: ignore[no-untyped-def]
        yield pfs_pb2.ModifyFileRequest(set_commit=head(repo))
        yield from add("/partial", b"p" * 3_000_000)
        raise RuntimeError("client dies mid-stream")

    try:
        stub.ModifyFile(requests())
    except (grpc.RpcError, RuntimeError):
        pass
    assert walk(stub, repo) == ["/", "/keep"]


def _get_with_info(stub: pfs_pb2_grpc.APIStub, commit: pfs_pb2.Commit, path: str, offset: int = 0
                   ) -> tuple[pfs_pb2.FileInfo, bytes]:
    call = stub.GetFile(pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=commit, path=path), offset=offset))
    raw = dict(call.initial_metadata())["pfs-file-info-bin"]
    data = b"".join(m.value for m in call)
    return pfs_pb2.FileInfo.FromString(raw), data


def test_get_file_sends_file_info(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    """pfsd extension: GetFile's initial metadata carries InspectFile's FileInfo."""
    big = bytes(range(256)) * 4096  # 1 MiB: a blob, two-plus messages
    cid = put(stub, repo, "/d/big", big + b"tail")
    put(stub, repo, "/small", b"hello")
    put(stub, repo, "/empty", b"")
    cases = [(head(repo), "/d/big", 0), (at(repo, cid), "d/big", 5), (head(repo), "/small", 0),
             (head(repo), "/small", 99), (head(repo), "/empty", 0)]
    for commit, path, offset in cases:
        info, data = _get_with_info(stub, commit, path, offset)
        expect = stub.InspectFile(pfs_pb2.InspectFileRequest(file=pfs_pb2.File(commit=commit, path=path)))
        assert info == expect and info.file.commit.id  # the resolved commit, not the branch alone
        assert data == get(stub, commit, path, offset)
    # errors stay plain statuses
    code, _ = code_of(get, stub, head(repo), "/nope")
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(get, stub, head(repo), "/d")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
