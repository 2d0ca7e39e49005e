"""Small client-side helpers for driving ModifyFile and reading files back."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import wrappers_pb2

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import head

CHUNK = 1024 * 1024


def add(path: str, data: bytes) -> Iterable[pfs_pb2.ModifyFileRequest]:
    """AddFile messages for `data` (several chunks when large)."""
    for pos in range(0, max(len(data), 1), CHUNK):
        yield pfs_pb2.ModifyFileRequest(
            add_file=pfs_pb2.AddFile(path=path, raw=wrappers_pb2.BytesValue(value=data[pos : pos + CHUNK]))
        )


def delete(path: str) -> pfs_pb2.ModifyFileRequest:
    return pfs_pb2.ModifyFileRequest(delete_file=pfs_pb2.DeleteFile(path=path))


def modify(
    stub: pfs_pb2_grpc.APIStub,
    repo: str,
    ops: Iterable[pfs_pb2.ModifyFileRequest],
    commit: pfs_pb2.Commit | None = None,
) -> str:
    """One ModifyFile stream against `commit` (default: master's head); returns the commit id."""
    target = commit if commit is not None else head(repo)

    def requests() -> Iterable[pfs_pb2.ModifyFileRequest]:
        yield pfs_pb2.ModifyFileRequest(set_commit=target)
        yield from ops

    _, call = stub.ModifyFile.with_call(requests())
    return dict(call.trailing_metadata()).get("pfs-commit-id", "")


def put(stub: pfs_pb2_grpc.APIStub, repo: str, path: str, data: bytes, **kw: object) -> str:
    """Overwrite one file the way the gateway does: DeleteFile then AddFile chunks."""
    return modify(stub, repo, [delete(path), *add(path, data)], **kw)  # type: ignore[arg-type]


def get(stub: pfs_pb2_grpc.APIStub, commit: pfs_pb2.Commit, path: str, offset: int = 0) -> bytes:
    req = pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=commit, path=path), offset=offset)
    return b"".join(m.value for m in stub.GetFile(req))


def code_of(fn: object, *args: object) -> tuple[grpc.StatusCode, str]:
    """Call and return the (status code, details) of the expected RpcError."""
    try:
        result = fn(*args)  # type: ignore[operator]
        if hasattr(result, "__iter__") and not isinstance(result, bytes):
            list(result)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    raise AssertionError("expected an RpcError")
