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
