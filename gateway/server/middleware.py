"""The outermost ASGI layer: request IDs, one log line per request, metrics, health,
Host checking, authentication, security headers and S3 XML errors.

Everything here runs on every request, so it stays a single plain ASGI callable (no
``BaseHTTPMiddleware``) doing a few dictionary operations. Authentication (SigV4, see
:mod:`gateway.auth.authenticator`) runs here, before the dispatcher, for every path but health and docs.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.auth import postform
from gateway.auth.access import Principal
from gateway.auth.authenticator import CHUNK_VALIDATOR, PAYLOAD_VERIFIED, Authenticator, verify_payload
from gateway.ops import acls
from gateway.pfs.client import request_token
from gateway.pfs.errors import PFSError
from gateway.s3 import errors
from gateway.s3.errors import S3Error
from gateway.s3.xml import error_document
from gateway.server import authorization, logs, security
from gateway.server.cors import CorsPolicy
from gateway.server.security import HostPolicy
from gateway.server.spec import operations

log = logging.getLogger("gateway.access")
_access = logs.AccessLog(log)
error_log = logging.getLogger("gateway")

ReadyCheck = Callable[[], Awaitable[bool]]
HEALTH_PATHS = ("/~/health", "/~/ready")
# S3 refuses request headers past 8 KiB; we allow twice that (SigV4, checksums, metadata).
# uvicorn's httptools parser has no limit of its own: this bounds what reaches the app.
MAX_HEADER_BYTES = 16 * 1024
METRICS_PATH = "/~/metrics"
PREFLIGHT = "PreflightRequest"  # the operation name of an OPTIONS (in logs and metrics)
DOCS_PREFIX = "/~/docs"
# no signature needed (/~/metrics is answered before this is looked at: see metrics_public)
PUBLIC_PREFIXES = ("/~/health", "/~/ready", "/~/docs", "/~/openapi.json")


def new_request_id() -> str:
    return os.urandom(8).hex().upper()


async def send_error(send: Send, err: S3Error, resource: str, request_id: str,
                     head: bool = False) -> None:
    """Send an S3 error as a whole response (304 carries no body, HEAD neither)."""
    body = b"" if err.status == 304 or head else error_document(err, resource, request_id)
    # (x-amz-request-id: added by RequestContext's send, as to every response)
    headers = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    if body:
        headers += [(b"content-type", b"application/xml"),
                    (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _scan_headers(scope: Scope) -> tuple[int, str | None, bool]:
    """The header section's size, the ``Origin`` header (None: not a CORS request), and
    whether a body follows (the first of Content-Length and Transfer-Encoding says): one pass."""
    size, origin, body = 0, None, None
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
        if name == b"origin":
            origin = value.decode("latin-1")
        elif body is None:
            if name == b"content-length":
                body = value != b"0"
            elif name == b"transfer-encoding":
                body = True
    return size, origin, bool(body)


class RequestContext:
    """Request ID on every response, access log, health endpoints, last-resort error XML.

    ``hosts``: the Host names answered (None: any). With configured key pairs, S3 requests
    are signed, Host included, so only ``/~/`` paths are held to the list then; ``browser``
    (the explorer) always is. ``headers`` go on every response but ``/~/docs``'s, which get
    their own (:func:`gateway.server.security.docs`). ``cors``: S3's CORS (preflights answered
    before authentication, CORS headers on answers to requests with ``Origin``); None for the
    explorer, which never serves other origins.
    """

    def __init__(self, app: ASGIApp, ready: ReadyCheck | None = None,
                 auth: Authenticator | None = None, hosts: HostPolicy | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None, browser: bool = False,
                 metrics_public: bool = False, cors: CorsPolicy | None = None) -> None:
        self.app = app
        self.ready = ready
        self.auth = auth  # None: anonymous
        self.hosts = hosts
        self.headers = headers or []
        self.cors = cors
        self.all_hosts_checked = browser or auth is None or not auth.credentials
        # with key pairs configured, /~/metrics wants a signature unless opened on purpose
        self.metrics_open = metrics_public or auth is None
        metrics.bind_operations(sorted({op.name for op in operations()} | {PREFLIGHT}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        path = scope["path"]
        sent = {"status": 0, "bytes": 0}
        header_bytes, origin, has_body = _scan_headers(scope)
        body = {"pending": has_body, "bytes": 0}

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body["bytes"] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    body["pending"] = False
            else:
                body["pending"] = False
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                headers = [*message.get("headers", ()), (b"x-amz-request-id", request_id.encode()),
                           *extra_headers]
                if cors_origin is not None:
                    # found as the answer starts: after authentication (a pachd token may be
                    # needed to read the rules), and usually a cache hit (the access decision
                    # read the bucket's configuration already)
                    headers += await self.cors.actual_headers(scope, cors_origin)
                if body["pending"]:
                    # Answered before reading the whole body (an early error): the rest of it
                    # would be parsed as the next request, so this connection must end here.
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            elif message["type"] == "http.response.zerocopysend":  # a file (gateway.ops.download)
                sent["bytes"] += message.get("count") or 0
            await send(message)

        token = None
        docs = path.startswith(DOCS_PREFIX)
        extra_headers = () if docs else self.headers
        cors_origin: str | None = None  # a request with Origin, on an S3 path
        metrics.state.in_flight += 1
        try:
            if header_bytes > MAX_HEADER_BYTES:
                raise S3Error(400, "RequestHeaderSectionTooLarge",
                              f"Your request header section exceeds the maximum allowed size "
                              f"({MAX_HEADER_BYTES} bytes).")
            # (health and readiness say only "ok": probes may use any Host)
            if self.hosts is not None and path not in HEALTH_PATHS and (
                    self.all_hosts_checked or path.startswith("/~")):
                host = security.host_of(scope)
                if not self.hosts.allows(host):
                    raise security.misdirected(host or "")
            s3_path = self.cors is not None and not path.startswith("/~")
            if s3_path and scope["method"] == "OPTIONS":
                state["s3_operation"] = PREFLIGHT
                await self.cors.preflight(scope, origin, send_wrapper)
                return
            if s3_path:
                cors_origin = origin
            if path in HEALTH_PATHS:
                await self._health(path, send_wrapper)
            elif path == METRICS_PATH:
                if not self.metrics_open:
                    await self.auth.authenticate(scope)
                await _metrics(send_wrapper)
            elif docs:
                await security.docs(self.app, scope, receive_wrapper, send_wrapper)
            else:
                receive_app = receive_wrapper
                if path.startswith(PUBLIC_PREFIXES):
                    pass
                elif scope["method"] == "POST" and postform.is_form_upload(scope):
                    # a browser form upload: its signature is inside the body, checked by the
                    # handler, which then asks the access decision (POST Object)
                    state[postform.FORM_AUTH] = postform.FormAuth(
                        self.auth, functools.partial(authorization.check_form, scope),
                        self._cors_allows_post)
                    if self.auth is not None:
                        state[acls.DIRECTORY] = self.auth.directory
                elif self.auth is None:
                    pass
                else:
                    identity = await self.auth.authenticate(scope, anonymous=True)
                    if identity is not None:
                        state["identity"] = identity
                        if identity.token is None:  # the gateway's keys decide: see dispatch
                            state[acls.PRINCIPAL] = Principal.of(identity.access_key)
                            state[acls.DIRECTORY] = self.auth.directory
                        else:
                            state[acls.PACHD_AUTH] = self.auth.pachd
                        if identity.token is not None:
                            token = request_token.set(identity.token)
                        if identity.chunk_validator is not None:
                            state[CHUNK_VALIDATOR] = identity.chunk_validator
                        if identity.payload_sha256 is not None:
                            receive_app = verify_payload(receive_wrapper, identity.payload_sha256)
                            state[PAYLOAD_VERIFIED] = True
                await self.app(scope, receive_app, send_wrapper)
        except S3Error as err:
            if sent["status"]:
                raise
            await send_error(send_wrapper, err, path, request_id, scope["method"] == "HEAD")
        except Exception:
            error_log.exception("request %s failed", request_id)
            if sent["status"]:
                raise  # headers are out: uvicorn closes the connection, the client sees it cut
            await send_error(send_wrapper, errors.internal_error(), path, request_id,
                             scope["method"] == "HEAD")
        finally:
            metrics.state.in_flight -= 1
            if token is not None:
                request_token.reset(token)
            elapsed = time.perf_counter() - started
            operation = state.get("s3_operation", metrics.NO_OPERATION)
            metrics.series(operation).observe(sent["status"], elapsed, body["bytes"], sent["bytes"])
            if log.isEnabledFor(logging.INFO):
                _access_log(scope, operation, sent["status"], body["bytes"], sent["bytes"],
                            elapsed, request_id)

    async def _cors_allows_post(self, origin: str, bucket: str) -> bool:
        """Whether the bucket's CORS rules (or the default rule) let ``origin`` POST."""
        if self.cors is None:
            return False
        try:
            rules = await self.cors.rules(bucket)
        except (S3Error, PFSError):
            return False
        return rules is not None and rules.actual(origin, "POST") is not None

    async def _health(self, path: str, send: Send) -> None:
        ok = True
        if path == "/~/ready" and self.ready is not None:
            ok = await self.ready()
        body = b"ok\n" if ok else b"not ready\n"
        await send({"type": "http.response.start", "status": 200 if ok else 503,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _metrics(send: Send) -> None:
    body, content_type = metrics.exposition()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _access_log(scope: Scope, operation: str, status: int, received: int, sent: int,
                elapsed: float, request_id: str) -> None:
    """The request's one log line; under ``--log-json`` its fields are the JSON keys."""
    method, path = scope["method"], scope["path"]
    bucket = path[1:].partition("/")[0] if not path.startswith("/~") else ""
    fields = {"method": method, "path": path, "operation": operation, "bucket": bucket,
              "status": status, "bytes_in": received, "bytes_out": sent,
              "duration_ms": round(elapsed * 1000, 2), "request_id": request_id}
    _access.write(f"{method} {path} {operation} {status:d} in={received:d} out={sent:d} "
                  f"{elapsed * 1000:.1f}ms {request_id}", fields)
