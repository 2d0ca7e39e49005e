"""Pick the S3 operation of a request from the spec's table and forward it to that route.

S3 tells operations apart by subresource query keys and headers, not by path alone. This ASGI
middleware runs before connexion's router: it reads the operation table built from the spec
(:mod:`gateway.server.spec`), chooses the most specific operation whose selectors all hold, refuses
unknown or unsupported subresources with ``501 NotImplemented``, and rewrites the request path
to that operation's spec path, once the access decision
(:mod:`gateway.server.authorization`) lets the request's principal do that operation.
Keys are forwarded still percent-encoded (from ``raw_path``), so
no key can contain the ``?`` or ``#`` that mark selectors; handlers get them decoded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.s3 import errors
from gateway.server import authorization
from gateway.server.spec import Operation, operations, unsupported_subresources

INTERNAL_PREFIX = "/~"  # docs, health, metrics: no bucket name can hold "~"
DOCS_PATHS = ("/~/docs", "/~/openapi.json")  # served by connexion's Swagger UI, after us
OPERATION_ID = "s3_operation_id"  # scope["state"] key: the operationId chosen (see tuning)
QUERY = "s3_query"  # scope["state"] key: the query's (key, value) pairs (see plans)
# scope["state"] key: the request's own Content-Type, hidden from connexion (see below)
HIDDEN_CONTENT_TYPE = "content_type"
S3_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})


class OperationTable:
    """The spec's operations, indexed by (resource, method), most specific first."""

    def __init__(self, ops: Iterable[Operation], unsupported: frozenset[str]) -> None:
        self.by_route: dict[tuple[str, str], list[Operation]] = defaultdict(list)
        for op in ops:  # already ordered most specific first
            self.by_route[(op.resource, op.method)].append(op)
        # each route's operations with their selector keys as a set (most requests carry no
        # query: every operation that needs one is passed over by one set comparison)
        self._candidates = {route: [(op, frozenset(op.query)) for op in ops]
                            for route, ops in self.by_route.items()}
        self.unsupported = unsupported
        # the routes where a header tells operations apart (the request's names are read there)
        self.header_routes = frozenset(route for route, ops in self.by_route.items()
                                       if any(op.header for op in ops))

    def choose(self, resource: str, method: str, query: list[tuple[str, str]],
               headers: set[str]) -> Operation:
        """The operation for a request, or the S3 error it deserves."""
        present = dict(query)
        keys = present.keys()
        for op, needed in self._candidates.get((resource, method), ()):
            if op.header and op.header not in headers:
                continue
            if needed and not (needed <= keys and all(
                    v is None or present[k] == v for k, v in op.query.items())):
                continue
            self._check_subresources(op, query)
            return op
        if method not in S3_METHODS:
            raise errors.method_not_allowed(method, resource.upper())
        raise errors.not_implemented()

    def _check_subresources(self, op: Operation, query: list[tuple[str, str]]) -> None:
        for key, value in query:
            if key in op.query or key in op.params:
                continue
            # A valueless key is a subresource (?acl, ?tagging, ?foo); valued ones that the
            # operation does not declare (botocore's x-id=GetObject) are ignored, as S3 does.
            if key in self.unsupported or value == "":
                raise errors.not_implemented(
                    f"The subresource '{key}' is not implemented by this gateway.")


def split_path(raw_path: str) -> tuple[str, str, str]:
    """``/b/some/key`` -> ("object", "b", "some/key"); ``/b`` and ``/b/`` are the bucket."""
    bucket, _, key = raw_path.lstrip("/").partition("/")
    if not bucket:
        return "service", "", ""
    return ("object" if key else "bucket"), bucket, key


def forwarded_path(op: Operation, bucket: str, key: str) -> str:
    """The concrete path of the operation's route: its spec key with the values filled in."""
    return op.spec_path.replace("{Bucket}", bucket).replace("{Key}", key)


def _hide_content_type(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, list[tuple[bytes, bytes]]]:
    """Take the Content-Type out of connexion's sight.

    connexion parses form and multipart bodies by their Content-Type before a handler runs, but
    an S3 body is the object's bytes whatever its type (and the type is object metadata), so
    handlers read the original from ``scope["state"]["content_type"]``.
    """
    content_type = None
    kept = []
    for name, value in headers:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        else:
            kept.append((name, value))
    kept.append((b"content-type", b"application/octet-stream"))
    return content_type, kept


class Dispatcher:
    """ASGI middleware: choose the S3 operation, then forward to its route."""

    def __init__(self, app: ASGIApp, table: OperationTable | None = None) -> None:
        self.app = app
        self.table = table or OperationTable(operations(), unsupported_subresources())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else quote(scope["path"])
        if path == INTERNAL_PREFIX or path.startswith(INTERNAL_PREFIX + "/"):
            if not path.startswith(DOCS_PATHS):
                who = authorization.principal(scope)
                if who is not None and who.anonymous:
                    raise errors.access_denied()
                raise errors.S3Error(404, "NotFound", "Not Found")
            await self.app(scope, receive, send)
            return
        resource, bucket, key = split_path(path)
        raw_query = scope["query_string"]
        query = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True) if raw_query else []
        headers = {name.decode("latin-1").lower() for name, _ in scope["headers"]} \
            if (resource, scope["method"]) in self.table.header_routes else frozenset()
        try:
            op = self.table.choose(resource, scope["method"], query, headers)
        except errors.S3Error:
            who = authorization.principal(scope)
            if who is not None and who.anonymous:
                raise errors.access_denied() from None  # unsigned: no more said than before ACLs
            raise
        await authorization.check(scope, op.name, bucket, key, query)
        new_path = forwarded_path(op, bucket, key)
        state = scope.setdefault("state", {})
        state["s3_operation"] = op.name
        state[OPERATION_ID] = op.operation_id  # connexion's route, without trying the others
        state[QUERY] = query  # parsed as Starlette would: the plan's query parameters
        state[HIDDEN_CONTENT_TYPE], request_headers = _hide_content_type(scope["headers"])
        scope = dict(scope, path=new_path, raw_path=new_path.encode("latin-1"), headers=request_headers)
        await self.app(scope, receive, send)
