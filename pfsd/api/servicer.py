"""The pfs_v2.API servicer (composed from per-resource parts) and the auth/version stand-ins."""

from __future__ import annotations

from typing import Any

import grpc

from generated.auth import auth_pb2_grpc
from generated.pfs import pfs_pb2_grpc
from generated.version.versionpb import version_pb2, version_pb2_grpc
from pfsd.api import pages
from pfsd.api.base import Backend
from pfsd.api.commits import CommitServicer
from pfsd.api.files import FileServicer
from pfsd.api.history import HistoryServicer
from pfsd.api.modify import ModifyServicer
from pfsd.api.repos import RepoServicer
from pfsd.errors import AUTH_NOT_ACTIVATED

VERSION = (2, 7, 0)


class PfsServicer(RepoServicer, CommitServicer, ModifyServicer, FileServicer, HistoryServicer,
                  pfs_pb2_grpc.APIServicer):
    """pfs_v2.API; RPCs not listed in the parts answer UNIMPLEMENTED (the generated default)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend


class AuthServicer(auth_pb2_grpc.APIServicer):
    """auth_v2.API of a cluster without auth: every call gets pachd's ErrNotActivated."""


async def _not_activated(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, AUTH_NOT_ACTIVATED)


for _name in [n for n in vars(auth_pb2_grpc.APIServicer) if n[0].isupper()]:
    setattr(AuthServicer, _name, _not_activated)


class VersionServicer(version_pb2_grpc.APIServicer):
    """versionpb_v2.API: report the pachd protocol version pfsd speaks."""

    async def GetVersion(self, request: Any, context: grpc.aio.ServicerContext) -> version_pb2.Version:
        major, minor, micro = VERSION
        return version_pb2.Version(major=major, minor=minor, micro=micro, additional="pfsd")


# Methods whose handlers may answer already-serialized bytes (hand-encoded FileInfos, GetFile's
# BytesValues).
RAW_METHODS = frozenset({"InspectFile", "ListFile", "WalkFile", "GlobFile", "GetFile"})


class _Capture:
    """Stands in for the server to catch the handler table the generated code registers."""

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.service, self.handlers = service, handlers


def _serialize_or_pass(message: Any) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


def _add_pfs(servicer: PfsServicer, server: grpc.aio.Server) -> None:
    """pfs_v2.API as generated, except that RAW_METHODS may answer bytes as they are."""
    table = _Capture()
    pfs_pb2_grpc.add_APIServicer_to_server(servicer, table)
    handlers = dict(table.handlers)
    for name in RAW_METHODS:
        h = handlers[name]
        make = grpc.unary_stream_rpc_method_handler if h.response_streaming else grpc.unary_unary_rpc_method_handler
        handlers[name] = make(h.unary_stream or h.unary_unary, request_deserializer=h.request_deserializer,
                              response_serializer=_serialize_or_pass)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(table.service, handlers),))
    server.add_registered_method_handlers(table.service, handlers)


def register(server: grpc.aio.Server, backend: Backend) -> None:
    pfs = PfsServicer(backend)
    _add_pfs(pfs, server)
    pages.register(server, pfs)  # extension: listing pages in one message
    auth_pb2_grpc.add_APIServicer_to_server(AuthServicer(), server)
    version_pb2_grpc.add_APIServicer_to_server(VersionServicer(), server)
