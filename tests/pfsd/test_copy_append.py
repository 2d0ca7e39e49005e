"""CopyFile with append, as multipart completion uses it: parts staged on another branch are
concatenated, in stream order, into one file of one commit."""

from __future__ import annotations

import hashlib

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import at, head
from tests.pfsd.helpers import add, delete, get, modify, put


def _append(dst: str, src: pfs_pb2.Commit, path: str) -> pfs_pb2.ModifyFileRequest:
    return pfs_pb2.ModifyFileRequest(copy_file=pfs_pb2.CopyFile(
        dst=dst, src=pfs_pb2.File(commit=src, path=path), append=True))


def test_consecutive_appends_from_another_branch(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    parts = [bytes([i]) * (300_000 + i) for i in range(12)]  # blobs, not inline contents
    staged = modify(stub, repo, [op for i, p in enumerate(parts) for op in add(f"/parts/{i:05d}", p)],
                    commit=head(repo, "staging"))
    put(stub, repo, "/obj", b"old")
    ops = [delete("/obj"), *(_append("/obj", at(repo, staged), f"/parts/{i:05d}") for i in range(len(parts)))]
    modify(stub, repo, ops)
    whole = b"".join(parts)
    assert get(stub, head(repo), "/obj") == whole
    info = stub.InspectFile(pfs_pb2.InspectFileRequest(file=pfs_pb2.File(commit=head(repo), path="/obj")))
    assert info.size_bytes == len(whole) and info.hash == hashlib.md5(whole).digest()
    # the staging branch is untouched; master never saw the parts
    assert get(stub, head(repo, "staging"), "/parts/00003") == parts[3]


def test_appends_mix_with_add_file_in_order(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    src = modify(stub, repo, [*add("/a", b"A" * 70_000), *add("/b", b"b")], commit=head(repo, "src"))
    ops = [*add("/x", b"1"), _append("/x", at(repo, src), "/a"), *add("/x", b"2"),
           _append("/x", at(repo, src), "/b"), _append("/y", at(repo, src), "/b"),
           _append("/x", at(repo, src), "/b")]
    modify(stub, repo, ops)
    assert get(stub, head(repo), "/x") == b"1" + b"A" * 70_000 + b"2" + b"bb"
    assert get(stub, head(repo), "/y") == b"b"
