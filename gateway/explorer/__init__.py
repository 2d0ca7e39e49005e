"""A web explorer of buckets, folders, objects and history, at ``/~/explorer/``; it also uploads
files into a folder and creates folders (:mod:`gateway.explorer.uploads`).

Server-rendered (jinja2, autoescaped), no JavaScript. It is a small Starlette app that
:func:`mount` puts beside the S3 stack, in its own :class:`~gateway.server.middleware.RequestContext`
(request IDs, access log, metrics) without SigV4: browsers cannot sign, so the explorer has
its own login (:mod:`gateway.explorer.session`). S3 routing never sees its paths.

A browser's unsigned ``GET /`` (``Accept: text/html``; no S3 client sends that) goes to the
explorer too, which redirects it to ``/~/explorer/``; every other ``GET /`` is ListBuckets.

May import: ``gateway.s3``, ``gateway.auth``, ``gateway.pfs``, ``gateway.ops``, ``gateway.context``.
Never imports ``gateway.server`` (the server mounts it) or ``handlers``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.authenticator import Authenticator

PREFIX = "/~/explorer"


def is_browser_root(scope: Scope) -> bool:
    """An unsigned ``GET /`` that asks for HTML: a browser at the gateway's root."""
    if scope["method"] != "GET" or scope["path"] != "/":
        return False
    accept = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return False
        if name == b"accept":
            accept = value
    if b"text/html" not in accept.lower():
        return False
    query = scope.get("query_string", b"").lower()
    return b"x-amz-signature" not in query and b"x-amz-credential" not in query


def mount(s3: ASGIApp, explorer: ASGIApp) -> ASGIApp:
    """One app: ``explorer`` for paths under :data:`PREFIX` (and a browser's root), else ``s3``."""

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == PREFIX or path.startswith(PREFIX + "/") or is_browser_root(scope):
                await explorer(scope, receive, send)
                return
        await s3(scope, receive, send)

    return router


def create_explorer(auth: Authenticator | None, idle: float = 0) -> ASGIApp:
    """The explorer's Starlette app; ``auth`` decides whether it asks for a login; ``idle``
    seconds without a page end a session (0: only the 8-hour limit)."""
    from gateway.explorer.routes import build

    return build(auth, idle)
