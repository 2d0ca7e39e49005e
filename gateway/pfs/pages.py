"""A page of ListFile/WalkFile in one gRPC message when the backend is pfsd; the stream otherwise.

pfs_v2 streams one FileInfo per message, and on this stack each message costs more CPU at
both ends than everything else a listing does (about 0.15 ms apiece, measured: a 1,000-key
page spent ~150 ms receiving them). pfsd also serves ``/pfsd.Pages/ListFile`` and
``/pfsd.Pages/WalkFile`` (docs/pfsd.md): the same request, answered with one
``FileInfoPage`` (codegen/proto/pfsd/pages.proto) holding exactly what the stream
would have sent, with the same errors. pachd answers those UNIMPLEMENTED: then, and for a
while after, the pfs_v2 stream is used, so the gateway behaves the same against either.

``until`` ends a page before the first path that sorts at or after it (the end of an S3
prefix): pfsd stops there (request metadata ``pfs-page-until-bin``), and a stream is cancelled
there, so a narrow prefix costs what it lists rather than a full page.
"""

from __future__ import annotations

import time
import weakref

import grpc

from gateway.pfs.client import AUTH_TOKEN_KEY, PFS, UNARY_TIMEOUT, Ref, request_token
from gateway.pfs.errors import from_rpc_error
from generated.pfs import pfs_pb2 as pb
from generated.pfsd.pages_pb2 import DESCRIPTOR as PAGES
from generated.pfsd.pages_pb2 import FileInfoPage

SERVICE = PAGES.services_by_name["Pages"].full_name  # codegen/proto/pfsd/pages.proto
UNTIL_KEY = "pfs-page-until-bin"
RETRY_AFTER = 60.0  # seconds before a backend that lacked the extension is asked again


class _Backend:
    """Per PFS client: the two page methods, and until when the backend is known to lack them."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.methods = {
            name: channel.unary_unary(f"/{SERVICE}/{name}", request_serializer=req.SerializeToString,
                                      response_deserializer=FileInfoPage.FromString)
            for name, req in (("ListFile", pb.ListFileRequest), ("WalkFile", pb.WalkFileRequest))}
        self.lacking_until = 0.0


_backends: weakref.WeakKeyDictionary[PFS, _Backend] = weakref.WeakKeyDictionary()


def _backend(pfs: PFS) -> _Backend:
    b = _backends.get(pfs)
    if b is None:
        b = _backends[pfs] = _Backend(pfs.channel)
    return b


async def _page(pfs: PFS, name: str, request, until: str | None) -> list[pb.FileInfo] | None:
    """The page from pfsd's extension, or None when the backend does not serve it."""
    b = _backend(pfs)
    if b.lacking_until > time.monotonic():
        return None
    token = request_token.get()
    metadata = ((AUTH_TOKEN_KEY, token),) if token is not None else ()
    if until is not None:
        metadata += ((UNTIL_KEY, until.encode()),)
    try:
        page = await b.methods[name](request, timeout=UNARY_TIMEOUT, metadata=metadata or None)
    except grpc.aio.AioRpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            b.lacking_until = time.monotonic() + RETRY_AFTER
            return None
        raise from_rpc_error(e) from None
    return list(page.file_info)


async def _stream(pfs: PFS, name: str, request, until: str | None) -> list[pb.FileInfo]:
    """The page from the pfs_v2 stream, cancelled at ``until``."""
    call = getattr(pfs.api, name)(request, timeout=UNARY_TIMEOUT)
    out = []
    try:
        async for info in call:
            if until is not None and info.file.path >= until:
                break
            out.append(info)
    except grpc.aio.AioRpcError as e:
        raise from_rpc_error(e) from None
    finally:
        call.cancel()
    return out


async def list_file(pfs: PFS, ref: Ref, path: str, after: str | None, number: int,
                    until: str | None = None) -> list[pb.FileInfo]:
    """A directory's children after ``after`` (and before ``until``), at most ``number``."""
    req = pb.ListFileRequest(file=ref.file_pb(path), number=number)
    if after:
        req.paginationMarker.CopyFrom(ref.file_pb(after))
    page = await _page(pfs, "ListFile", req, until)
    return page if page is not None else await _stream(pfs, "ListFile", req, until)


async def walk_file(pfs: PFS, ref: Ref, path: str, after: str | None, number: int,
                    until: str | None = None) -> list[pb.FileInfo]:
    """A subtree after ``after`` (and before ``until``), depth first, at most ``number``."""
    req = pb.WalkFileRequest(file=ref.file_pb(path), number=number)
    if after:
        req.paginationMarker.CopyFrom(ref.file_pb(after))
    page = await _page(pfs, "WalkFile", req, until)
    return page if page is not None else await _stream(pfs, "WalkFile", req, until)
