"""What a handler reaches besides its arguments: the PFS client and the current request."""

from __future__ import annotations

import functools
from contextvars import ContextVar

from connexion import context
from starlette.datastructures import Headers
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


# The current request's Request (see request()); not kept in its scope: the Request holds the
# scope, and that cycle left every request (its uvicorn cycle, closures, state) to the cycle
# collector, ~5% of the gateway's CPU under load.
_request: ContextVar[Request | None] = ContextVar("gateway.request", default=None)


class IndexedHeaders(Headers):
    """Starlette's read-only ``Headers``, with look-ups by name in a dict built once.

    Starlette finds a header by scanning the whole list and decoding as it goes; a PutObject
    looks up ~20 names (metadata, checksums, conditions, ACL, tagging), most of them absent.
    The first of repeated headers wins, as in Starlette; the rest of the API is Starlette's.
    """

    def __init__(self, scope) -> None:
        super().__init__(scope=scope)
        self._index: dict[bytes, bytes] = dict(reversed(self._list))

    def get(self, key: str, default=None):
        value = self._index.get(_raw_name(key))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, key: str) -> str:
        value = self._index.get(_raw_name(key))
        if value is None:
            raise KeyError(key)
        return value.decode("latin-1")

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and _raw_name(key) in self._index


@functools.lru_cache(maxsize=1024)  # the names handlers ask for (a few dozen)
def _raw_name(key: str) -> bytes:
    return key.lower().encode("latin-1")  # as sent


def request() -> Request:
    """The request being handled (headers, the raw body stream).

    One request object per request, kept in a context variable, with :class:`IndexedHeaders`:
    connexion's ``context.request`` proxy built a new one, and parsed the headers again, on
    every attribute read, and a handler asks several times.
    """
    scope = context.scope._get_current_object()
    req = _request.get()
    if req is None or req.scope is not scope:
        req = Request(scope, context.receive._get_current_object())
        req._headers = IndexedHeaders(scope)
        _request.set(req)
    return req


def content_type() -> str | None:
    """The request's own Content-Type (the dispatcher hides it from connexion)."""
    return context.scope.get("state", {}).get("content_type")
