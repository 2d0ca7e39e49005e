"""What a handler reaches besides its arguments: the PFS client and the current request."""

from __future__ import annotations

from connexion import context
from starlette.requests import Request

from gateway.pfs.client import PFS

_pfs: PFS | None = None
_access_keys: frozenset[str] = frozenset()


def set_pfs(client: PFS | None) -> None:
    global _pfs
    _pfs = client


def pfs() -> PFS:
    """The process's PFS client (one channel, shared by every request)."""
    if _pfs is None:
        raise RuntimeError("the PFS client is not connected yet")
    return _pfs


def set_access_keys(keys) -> None:
    """The gateway's configured access keys (its S3 users), as the app was started with."""
    global _access_keys
    _access_keys = frozenset(keys)


def access_keys() -> frozenset[str]:
    """The configured access keys (a bucket policy may name only these)."""
    return _access_keys


def request() -> Request:
    """The request being handled (headers, the raw body stream).

    A request object of its own: connexion's ``context.request`` proxy built a new one, and
    parsed the headers again, on every attribute read.
    """
    return Request(context.scope._get_current_object(), context.receive._get_current_object())


def content_type() -> str | None:
    """The request's own Content-Type (the dispatcher hides it from connexion)."""
    return context.scope.get("state", {}).get("content_type")
