"""Extension: a ListFile/WalkFile page in one message (``/pfsd.Pages/ListFile``, ``/WalkFile``).

pfs_v2 streams one FileInfo per message; through gRPC's Python stack each message costs
about as much CPU as a small unary call's payload work, at both ends, so a 1,000-entry
listing page was dominated by message overhead. These methods take the pfs_v2
``ListFileRequest`` / ``WalkFileRequest`` and answer one message, encoded as
``FileInfoPage`` (codegen/proto/pfsd/pages.proto), holding exactly the
FileInfos the pfs_v2 RPC would stream, in order; errors are the statuses it would end with.
``number`` must be 1..MAX_NUMBER (a page, not a whole tree, is held in memory). Optional
request metadata ``pfs-page-until-bin`` (a UTF-8 path) ends a forward page before the first
entry that sorts at or after it: a listing of a narrow S3 prefix then costs what it returns,
not ``number`` entries. pachd has no such service (UNIMPLEMENTED): clients fall back to the
stream.
"""

from __future__ import annotations

from typing import Any

import grpc

from generated.pfs import pfs_pb2
from generated.pfsd.pages_pb2 import DESCRIPTOR as PAGES
from pfsd import errors
from pfsd.api.base import rpc
from pfsd.api.convert import page_bytes

SERVICE = PAGES.services_by_name["Pages"].full_name  # codegen/proto/pfsd/pages.proto
MAX_NUMBER = 10_000
UNTIL_KEY = "pfs-page-until-bin"


class PageServicer:
    """The two page methods over a FileServicer's listing (the same code the streams run)."""

    def __init__(self, files: Any) -> None:
        self.files = files

    async def _page(self, request: Any, context: Any, recursive: bool) -> bytes:
        if not 0 < request.number <= MAX_NUMBER:
            raise errors.invalid(f"number must be between 1 and {MAX_NUMBER}")
        until = next((v.decode() for k, v in context.invocation_metadata() or () if k == UNTIL_KEY), None)
        if until is not None and request.reverse:
            raise errors.invalid(f"{UNTIL_KEY} bounds forward listings only")
        entries, commit = self.files._listing(request, recursive)  # the encoded File.commit
        return page_bytes(commit, entries, request.number, until)

    @rpc
    async def ListFile(self, request: pfs_pb2.ListFileRequest, context: Any) -> bytes:
        return await self._page(request, context, recursive=False)

    @rpc
    async def WalkFile(self, request: pfs_pb2.WalkFileRequest, context: Any) -> bytes:
        return await self._page(request, context, recursive=True)


def register(server: grpc.aio.Server, files: Any) -> None:
    pages = PageServicer(files)
    handlers = {
        "ListFile": grpc.unary_unary_rpc_method_handler(
            pages.ListFile, request_deserializer=pfs_pb2.ListFileRequest.FromString),
        "WalkFile": grpc.unary_unary_rpc_method_handler(
            pages.WalkFile, request_deserializer=pfs_pb2.WalkFileRequest.FromString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
