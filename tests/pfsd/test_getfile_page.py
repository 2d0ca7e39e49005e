"""GetFile's ``pfs-page-of-bin`` request metadata (pfsd extension): the one-entry ListFile page
of another path at the same resolved commit comes back as ``pfs-page-bin`` beside the FileInfo."""

from __future__ import annotations

from generated.pfs import pfs_pb2
from generated.pfsd.pages_pb2 import FileInfoPage
from tests.pfsd.conftest import head
from tests.pfsd.helpers import put


def initial(stub, repo, path, page_of=None) -> dict:
    req = pfs_pb2.GetFileRequest(file=pfs_pb2.File(commit=head(repo), path=path))
    md = [("pfs-page-of-bin", page_of.encode())] if page_of is not None else None
    call = stub.GetFile(req, metadata=md)
    got = dict(call.initial_metadata())
    b"".join(m.value for m in call)
    return got


def test_the_page_comes_with_the_file(stub, repo):
    put(stub, repo, "/k", b"data")
    put(stub, repo, "/side/k/b", b"")
    put(stub, repo, "/side/k/a", b"")
    got = initial(stub, repo, "/k", page_of="/side/k/")
    info = pfs_pb2.FileInfo.FromString(got["pfs-file-info-bin"])
    page = FileInfoPage.FromString(got["pfs-page-bin"]).file_info
    assert [f.file.path for f in page] == ["/side/k/a"]  # the first entry, in path order
    assert page[0].file.commit.id == info.file.commit.id  # the same resolved commit
    # a path with nothing: an empty page; no request key: no page
    assert FileInfoPage.FromString(initial(stub, repo, "/k", page_of="/none/")["pfs-page-bin"]).file_info == []
    assert "pfs-page-bin" not in initial(stub, repo, "/k")


def test_the_page_is_what_list_file_answers_first(stub, repo):
    """For every shape of ``page_of`` (a file, a directory whose first child is a file or a
    directory, deleted entries, nothing, the root): the entry ListFile(number=1) answers first
    at the same commit, or none where ListFile finds nothing."""
    import grpc

    from tests.pfsd.helpers import delete, modify

    put(stub, repo, "/k", b"data")
    put(stub, repo, "/f", b"a file named as the page")
    put(stub, repo, "/d/sub/x", b"")
    put(stub, repo, "/d/z", b"")
    put(stub, repo, "/g/a", b"")
    put(stub, repo, "/g/b", b"")
    modify(stub, repo, [delete("/g/a")])
    for page_of in ["/f", "/d/", "/d", "/d/sub/", "/g/", "/none/", "/", "/d/sub/x/"]:
        got = initial(stub, repo, "/k", page_of=page_of)
        info = pfs_pb2.FileInfo.FromString(got["pfs-file-info-bin"])
        req = pfs_pb2.ListFileRequest(file=pfs_pb2.File(commit=info.file.commit, path=page_of), number=1)
        try:
            want = list(stub.ListFile(req))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, page_of
            want = []
        assert list(FileInfoPage.FromString(got["pfs-page-bin"]).file_info) == want, page_of
    # the cases above cover a file, a directory first, a deletion skipped, and nothing
    paths = {p: [f.file.path for f in FileInfoPage.FromString(
        initial(stub, repo, "/k", page_of=p)["pfs-page-bin"]).file_info] for p in ["/f", "/d/", "/g/"]}
    assert paths == {"/f": ["/f"], "/d/": ["/d/sub/"], "/g/": ["/g/b"]}
