"""The application: connexion over the spec, wrapped in the S3 protocol layers.

Request path, outermost first::

    RequestContext (request ID, access log, health)  ->  connexion: ExceptionMiddleware
    -> Dispatcher (S3 operation from the spec's table)  ->  SwaggerUI (/~/docs)  ->  routing
    -> the operation's plan (parameter validation, arguments)  ->  handlers.<resource>.<operation>
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import unquote

import connexion
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.utils import get_function_from_name
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp

from gateway import context
from gateway.auth.authenticator import Authenticator
from gateway.explorer import create_explorer, mount
from gateway.ops import versioning
from gateway.pfs.client import PFS
from gateway.pfs.errors import PFSError, to_s3
from gateway.s3 import errors
from gateway.s3.cors import Configuration as CorsConfiguration
from gateway.s3.errors import S3Error
from gateway.s3.xml import error_document
from gateway.server import tuning
from gateway.server.cors import CorsPolicy
from gateway.server.dispatch import DOCS_PATHS, Dispatcher
from gateway.server.inproc import InProcessPFS
from gateway.server.middleware import RequestContext
from gateway.server.security import S3_HEADERS, HostPolicy
from gateway.server.spec import ordered_spec

log = logging.getLogger("gateway")

# Object bodies of any content type pass through untouched and unread: connexion validates
# no request body (S3's XML bodies are parsed and checked by their handlers).
VALIDATORS = {"body": MediaTypeDict({}), "parameter": tuning.CachedParameterValidator}


def s3_handler(fn: Callable) -> Callable:
    """Wrap a handler: its ``key`` arrives decoded (the dispatcher forwards it percent-encoded),
    and a PFS failure leaves it as the S3 error it means for this bucket and key."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        if "key" in kwargs:
            kwargs["key"] = decode_key(kwargs["key"])
        try:
            return await fn(*args, **kwargs)
        except PFSError as e:
            err = to_s3(e, kwargs.get("bucket", ""), kwargs.get("key", ""))
            if err.status >= 500:
                log.error("PFS error %s: %s", e.code, e.message)
            raise err from e
        except ClientDisconnect:
            # The client left while its (XML) body was read: nothing was done, and no one
            # hears the answer; S3's code for a body cut short, not a 500 and a traceback.
            raise errors.incomplete_body() from None

    return wrapper


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def decode_key(raw: str) -> str:
    """The key, percent-decoded; a ``%`` that starts no escape, or bytes that are not UTF-8,
    make the URI unparseable (S3: 400 InvalidURI), rather than a key with a literal ``%``."""
    try:
        if "%" in raw and _BAD_ESCAPE.search(raw):
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "bad percent-escape")
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise S3Error(400, "InvalidURI", "Couldn't parse the specified URI.") from None


def resolve_handler(operation_id: str) -> Callable:
    return s3_handler(get_function_from_name(operation_id))


def as_s3_error(request, exc: Exception) -> S3Error:
    """Whatever went wrong, as the S3 error the client gets."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, PFSError):
        return to_s3(exc)
    if isinstance(exc, ProblemException):
        if exc.status == 400:
            return errors.invalid_argument(str(exc.detail or exc.title).split("\n", 1)[0])
        if exc.status == 405:
            return errors.method_not_allowed(request.method, "OBJECT")
        if exc.status == 404:
            return S3Error(404, "NotFound", "Not Found")
        return S3Error(exc.status, "InvalidRequest", str(exc.detail or exc.title))
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            return errors.method_not_allowed(request.method, "OBJECT")
        return S3Error(exc.status_code, "InvalidRequest", str(exc.detail))
    return errors.internal_error()


async def error_response(request, exc: Exception) -> ConnexionResponse:
    err = as_s3_error(request, exc)
    request_id = request.scope.get("state", {}).get("request_id", "")
    if err.status >= 500 and not isinstance(exc, S3Error):
        log.error("request %s failed", request_id, exc_info=exc)
    head = request.method == "HEAD" or err.status == 304
    body = b"" if head else error_document(err, request.url.path, request_id)
    return ConnexionResponse(status_code=err.status, body=body, headers=err.headers,
                             mimetype=None if head else "application/xml")


def create_app(pfs_address: str, auth: Authenticator | None = None,
               hosts: HostPolicy | None = None, metrics_public: bool = False,
               session_idle: float = 0, versioning_default: str | None = None,
               cors_default: CorsConfiguration | None = None,
               host: InProcessPFS | None = None) -> ASGIApp:
    """The gateway as an ASGI app, talking to PFS (pachd or pfsd) at ``pfs_address``.

    ``auth`` checks request signatures (and pachd tokens); None serves everyone. ``hosts``:
    the Host names answered (None: any); ``metrics_public`` opens ``/~/metrics`` to unsigned
    requests when key pairs are configured; ``session_idle``: the explorer's idle timeout.
    ``versioning_default`` ("Enabled" or None) applies to buckets with no stored status.
    ``cors_default``: the CORS rules of buckets without a configuration of their own.
    ``host``: the PFS server this process runs (gateway.server.inproc), started and stopped
    with the app and called in-process; ``pfs_address`` is then its gRPC socket.
    """
    versioning.set_default(versioning_default)
    context.set_access_keys(auth.credentials if auth is not None else ())

    @contextlib.asynccontextmanager
    async def lifespan(_app) -> AsyncIterator[None]:
        channel = await host.start() if host is not None else None
        client = PFS(pfs_address, channel=channel)
        context.set_pfs(client)
        try:
            yield
        finally:
            context.set_pfs(None)
            await client.close()
            if auth is not None:
                await auth.close()
            if host is not None:
                await host.stop()

    spec = ordered_spec()
    cx = connexion.AsyncApp(
        __name__,
        lifespan=lifespan,
        middlewares=tuning.middlewares(spec, Dispatcher, DOCS_PATHS),
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/~/docs", spec_path="/~/openapi.json"),
        uri_parser_class=tuning.S3URIParser,
    )
    tuning.install(cx)
    cx.add_api(spec, resolver=Resolver(function_resolver=resolve_handler),
               validator_map=VALIDATORS, validate_responses=False, strict_validation=False, pythonic_params=True)
    for exc_type in (Exception, ProblemException, HTTPException):
        cx.add_error_handler(exc_type, error_response)

    async def ready() -> bool:
        try:
            return await context.pfs().ready()
        except RuntimeError:
            return False

    # The web explorer (/~/explorer/) sits beside the S3 stack: its own request context without
    # SigV4 (browsers cannot sign; it has a login of its own), never seen by S3 routing.
    explorer = RequestContext(create_explorer(auth, session_idle), hosts=hosts, browser=True)
    return mount(RequestContext(cx, ready=ready, auth=auth, hosts=hosts, headers=S3_HEADERS,
                                metrics_public=metrics_public, cors=CorsPolicy(cors_default)), explorer)
