"""CORS at the edge of the S3 stack: preflights answered, actual responses given their headers.

Both run in :class:`~gateway.server.middleware.RequestContext`, outside the dispatcher:
preflights before authentication, actual responses' headers as each answer starts, because:

* a browser never signs a preflight (``OPTIONS`` carries no credentials, by the Fetch
  standard), so S3 answers it from the bucket's rules alone, whatever URL it names (a presigned
  URL's query included): it is not an S3 operation of the spec, and it would be refused by
  SigV4 if it went through authentication;
* the CORS headers of an actual request belong on every answer to it, errors included (a
  refused signature, a missing key): a browser hides from the page any response without them.

The rules are the bucket's (PutBucketCors, read through :mod:`gateway.ops.bucketconfig`: one
cached look-up, a hit when the access decision has just read the same configuration), else the
gateway's default rule (``--cors-allow-origin``), else none. A request without ``Origin`` costs
nothing here; the explorer and ``/~/`` paths never get CORS headers. Against pachd with auth
active, a preflight (which carries no token) cannot read a bucket's rules: the default rule
answers it.
"""

from __future__ import annotations

import logging

from starlette.types import Scope, Send

from gateway.context import pfs
from gateway.ops import bucketconfig
from gateway.pfs.errors import NotFound, PermissionDenied, PFSError, to_s3
from gateway.pfs.refs import read_ref
from gateway.s3 import cors
from gateway.s3.errors import S3Error

log = logging.getLogger("gateway")

# What the default rule shows to scripts besides the CORS-safelisted response headers.
DEFAULT_EXPOSE = ("ETag", "x-amz-version-id", "x-amz-delete-marker", "x-amz-request-id", "x-pfs-commit")
DEFAULT_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
DEFAULT_MAX_AGE = 600


def default_rules(origins: list[str], methods: list[str] | None = None) -> cors.Configuration | None:
    """The gateway-wide rule for buckets without a configuration of their own: ``origins``
    (``*`` for any) may use ``methods`` with any request header, see the headers of
    :data:`DEFAULT_EXPOSE`, and cache a preflight's answer for 10 minutes. None: no origins.

    Checked by the same rules as a PutBucketCors document (ValueError with S3's message)."""
    if not origins:
        return None
    rule = cors.Rule(methods=tuple(methods or DEFAULT_METHODS), origins=tuple(origins),
                     headers=("*",), expose=DEFAULT_EXPOSE, max_age=DEFAULT_MAX_AGE)
    try:
        return cors.parse(cors.render(cors.Configuration((rule,))))
    except S3Error as e:
        raise ValueError(e.message) from None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _bucket(path: str) -> str:
    return path.lstrip("/").partition("/")[0]


async def _exists(bucket: str) -> bool:
    ref = read_ref(bucket)
    try:
        if ref.commit:
            await pfs().inspect_commit(ref)
        else:
            await pfs().inspect_branch(ref)
    except NotFound:
        return False
    return True


class CorsPolicy:
    """Where a request's rules come from, and what they answer."""

    def __init__(self, default: cors.Configuration | None = None) -> None:
        self.default = default

    async def rules(self, bucket: str) -> cors.Configuration | None:
        """The bucket's rules, else the default ones (None: CORS is not enabled for it)."""
        if not bucket:
            return self.default  # the service (ListBuckets): no bucket to configure
        try:
            config = await bucketconfig.load(bucket)
        except PermissionDenied:
            # pachd with auth active, asked without a token (a preflight carries none): its
            # rules cannot be read, so only the gateway's default rule can answer
            return self.default
        own = config.parsed("cors", cors.parse)
        return own if own is not None else self.default

    async def actual_headers(self, scope: Scope, origin: str) -> list[tuple[bytes, bytes]]:
        """The CORS headers of the response to a request with ``Origin`` (none when no rule
        allows it, or its bucket cannot be read: the response says what went wrong)."""
        try:
            rules = await self.rules(_bucket(scope["path"]))
        except (S3Error, PFSError):
            return []
        except Exception:
            log.exception("CORS rules of %s could not be read", scope["path"])
            return []
        if rules is None:
            return []
        # S3 matches an actual request by Access-Control-Request-Method when it names one
        method = _header(scope, b"access-control-request-method") or scope["method"]
        answer = rules.actual(origin, method)
        if answer is None:
            return []
        return [(k.lower().encode(), v.encode("latin-1")) for k, v in answer]

    async def preflight(self, scope: Scope, origin: str | None, send: Send) -> None:
        """Answer an ``OPTIONS`` request (raises the S3 error of a refused one)."""
        if origin is None:
            raise cors.origin_needed()
        requested = _header(scope, b"access-control-request-method")
        asked = requested or "OPTIONS"
        path = scope["path"]
        bucket = _bucket(path)
        resource_type = "OBJECT" if path.lstrip("/").partition("/")[2] else "BUCKET"
        try:
            rules = await self.rules(bucket)
            # (a bucket without rules may not exist at all: S3 tells the two apart)
            exists = rules is not None or not bucket or await _exists(bucket)
        except PFSError as e:  # the backend failed (503 when unreachable): not the client's fault
            raise to_s3(e, bucket) from e
        except S3Error:  # not a bucket name at all
            raise cors.bucket_not_found(asked, "BUCKET") from None
        if rules is None:
            raise cors.not_enabled(asked, "BUCKET") if exists else cors.bucket_not_found(asked, "BUCKET")
        if requested is None:
            raise cors.method_needed(None)
        names = cors.request_headers(_header(scope, b"access-control-request-headers"))
        answer = rules.preflight(origin, requested, names)
        if answer is None:
            raise cors.not_allowed(requested, resource_type)
        headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in answer]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*headers, (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
