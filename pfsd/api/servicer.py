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
from pfsd.api.modify import ModifyServicer
from pfsd.api.repos import RepoServicer
from pfsd.errors import AUTH_NOT_ACTIVATED

VERSION = (2, 7, 0)


class PfsServicer(RepoServicer, CommitServicer, ModifyServicer, FileServicer, pfs_pb2_grpc.APIServicer):
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


def register(server: grpc.aio.Server, backend: Backend) -> None:
    pfs = PfsServicer(backend)
    pfs_pb2_grpc.add_APIServicer_to_server(pfs, server)
    pages.register(server, pfs)  # extension: listing pages in one message
    auth_pb2_grpc.add_APIServicer_to_server(AuthServicer(), server)
    version_pb2_grpc.add_APIServicer_to_server(VersionServicer(), server)
