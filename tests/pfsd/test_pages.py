"""Extension: /pfsd.Pages/ListFile and /WalkFile answer one message holding the pfs_v2 stream."""

from __future__ import annotations

import grpc
import pytest

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from generated.pfsd.pages_pb2 import FileInfoPage
from tests.pfsd.conftest import at, head
from tests.pfsd.helpers import add, code_of, delete, modify

NAMES = ["/a/x", "/a/y/z", "/a-b", "/a0", "/b", "/c/d/e/f", "/.s3g/meta/b/e30"]


def page_of(channel: grpc.Channel, rpc: str, request, until: str | None = None) -> list[pfs_pb2.FileInfo]:
    call = channel.unary_unary(f"/pfsd.Pages/{rpc}", request_serializer=type(request).SerializeToString,
                               response_deserializer=FileInfoPage.FromString)
    metadata = (("pfs-page-until-bin", until.encode()),) if until is not None else None
    return list(call(request, metadata=metadata).file_info)


@pytest.fixture
def filled(stub: pfs_pb2_grpc.APIStub, repo: str) -> tuple[str, str]:
    first = modify(stub, repo, [op for n in NAMES for op in add(n, n.encode())])
    modify(stub, repo, [delete("/a/y/"), *add("/d", b"later")])
    return repo, first


def test_pages_hold_what_the_streams_send(stub, channel, filled) -> None:
    repo, first = filled
    paths = ["/", "/a-b", "/a/", "/a/x", "/b", "/c/d/", "/.s3g/", "/d"]
    for commit in (head(repo), at(repo, first)):
        for path in ["/", "/a", "/c/", "/b", "/.s3g/meta/"]:
            for marker in [None, *paths]:
                for number in (1, 2, 3, 100):
                    for reverse in (False, True):
                        file = pfs_pb2.File(commit=commit, path=path)
                        pm = pfs_pb2.File(commit=commit, path=marker) if marker else None
                        for rpc, req_type, stream in (("ListFile", pfs_pb2.ListFileRequest, stub.ListFile),
                                                      ("WalkFile", pfs_pb2.WalkFileRequest, stub.WalkFile)):
                            req = req_type(file=file, paginationMarker=pm, number=number, reverse=reverse)
                            assert page_of(channel, rpc, req) == list(stream(req)), (rpc, req)


def test_pages_fail_as_the_streams_do(stub, channel, filled) -> None:
    repo, _ = filled
    cases = [pfs_pb2.File(commit=head(repo), path="/missing"),
             pfs_pb2.File(commit=head(repo, "nobranch"), path="/"),
             pfs_pb2.File(commit=head("norepo" + repo), path="/"),
             pfs_pb2.File(commit=at(repo, "0" * 32), path="/")]
    for file in cases:
        for rpc, req_type, stream in (("ListFile", pfs_pb2.ListFileRequest, stub.ListFile),
                                      ("WalkFile", pfs_pb2.WalkFileRequest, stub.WalkFile)):
            req = req_type(file=file, number=10)
            assert code_of(page_of, channel, rpc, req) == code_of(stream, req)


def test_pages_are_bounded(channel, filled) -> None:
    repo, _ = filled
    for number in (0, 10_001):
        req = pfs_pb2.WalkFileRequest(file=pfs_pb2.File(commit=head(repo), path="/"), number=number)
        assert code_of(page_of, channel, "WalkFile", req)[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_until_ends_a_page_before_a_path(stub, channel, filled) -> None:
    repo, _ = filled
    for until in ["/", "/a", "/a/", "/a/y", "/a0", "/c/d/e/f", "/zz", "/\u00e9"]:
        for number in (1, 3, 100):
            for rpc, req_type, stream in (("ListFile", pfs_pb2.ListFileRequest, stub.ListFile),
                                          ("WalkFile", pfs_pb2.WalkFileRequest, stub.WalkFile)):
                req = req_type(file=pfs_pb2.File(commit=head(repo), path="/"), number=number)
                every = list(stream(req))
                want = every[: next((i for i, f in enumerate(every) if f.file.path >= until), len(every))]
                assert page_of(channel, rpc, req, until) == want, (rpc, until, number)
    req = pfs_pb2.ListFileRequest(file=pfs_pb2.File(commit=head(repo), path="/"), number=5, reverse=True)
    assert code_of(page_of, channel, "ListFile", req, "/b")[0] == grpc.StatusCode.INVALID_ARGUMENT
