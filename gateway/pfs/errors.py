"""PFS failures, typed once: gRPC status code first, pachd's message wording second.

:func:`from_rpc_error` is the single place a gRPC error becomes a :class:`PFSError`;
:func:`to_s3` is the single place a :class:`PFSError` becomes an S3 error.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import grpc

from gateway import metrics
from gateway.s3 import errors
from gateway.s3.errors import S3Error

P = ParamSpec("P")
T = TypeVar("T")

# pachd's NotFound messages name the missing thing first: "repo x not found",
# "branch master not found in repo x", "file /a not found in repo x at commit c".
_NOT_FOUND = re.compile(r"\b(project|repo|branch|commit|file)\b.*?\bnot found", re.IGNORECASE)
_NO_HEAD = re.compile(r"has no head", re.IGNORECASE)
_COLLISION = re.compile(r"path collision|is a directory|not a directory", re.IGNORECASE)


class PFSError(Exception):
    """A PFS call failed; ``code`` is the gRPC status name."""

    code = "UNKNOWN"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PFSError):
    code = "NOT_FOUND"

    def __init__(self, message: str, kind: str | None) -> None:
        super().__init__(message)
        self.kind = kind  # "project", "repo", "branch", "commit", "file" or None


class AlreadyExists(PFSError):
    code = "ALREADY_EXISTS"


class InvalidArgument(PFSError):
    code = "INVALID_ARGUMENT"


class FailedPrecondition(PFSError):
    code = "FAILED_PRECONDITION"


class ConditionFailed(FailedPrecondition):
    """A ModifyFile's requirement (pfsd's ``pfs-require-bin``) did not hold at commit time."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.missing = "does not exist" in message  # else: exists, or has changed


class Unavailable(PFSError):
    code = "UNAVAILABLE"


class PermissionDenied(PFSError):
    code = "PERMISSION_DENIED"


class ResourceExhausted(PFSError):
    """The backend ran out of something (pfsd: disk space); retrying later may succeed."""

    code = "RESOURCE_EXHAUSTED"


def from_rpc_error(e: grpc.aio.AioRpcError) -> PFSError:
    """Type a gRPC error by its status code, then by pachd's wording where the code is shared."""
    code, message = e.code(), e.details() or ""
    metrics.count_pfs_error(code.name)
    if code == grpc.StatusCode.NOT_FOUND:
        m = _NOT_FOUND.search(message)
        return NotFound(message, m.group(1).lower() if m else None)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return AlreadyExists(message)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        return InvalidArgument(message)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        if message.startswith("precondition failed:"):
            return ConditionFailed(message)
        return FailedPrecondition(message)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(message)
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return PermissionDenied(message)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(message)
    if code == grpc.StatusCode.UNKNOWN and _NO_HEAD.search(message):
        return NotFound(message, "commit")
    err = PFSError(f"{code.name}: {message}")
    err.code = code.name
    return err


def translate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Decorate a client coroutine so that gRPC errors leave it typed."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except grpc.aio.AioRpcError as e:
            raise from_rpc_error(e) from None

    return wrapper


def to_s3(err: PFSError, bucket: str = "", key: str = "") -> S3Error:
    """The S3 error a PFS failure means for a request on ``bucket``/``key``."""
    if isinstance(err, NotFound):
        if err.kind == "file" and key:
            return errors.no_such_key(key)
        if err.kind in ("project", "repo", "branch", "commit", None) and bucket:
            return errors.no_such_bucket(bucket)
        return errors.S3Error(404, "NoSuchKey" if key else "NoSuchBucket", err.message)
    if isinstance(err, InvalidArgument):
        return errors.invalid_argument(err.message)
    if isinstance(err, ConditionFailed):
        return errors.precondition_failed("If-Match" if err.missing or "changed" in err.message
                                          else "If-None-Match")
    if isinstance(err, FailedPrecondition):
        if _COLLISION.search(err.message):
            return errors.path_conflict(key, err.message)
        return errors.invalid_bucket_state(err.message)
    if isinstance(err, AlreadyExists):
        return errors.S3Error(409, "OperationAborted", err.message)
    if isinstance(err, Unavailable):
        return errors.service_unavailable("The PFS backend is unavailable; retry shortly.")
    if isinstance(err, PermissionDenied):
        return errors.access_denied(err.message)
    if isinstance(err, ResourceExhausted):
        # S3 has no "storage full" error: 503 makes clients back off and retry, which succeeds
        # once an operator frees space; nothing was written.
        return errors.service_unavailable(f"The PFS backend is out of resources ({err.message}); "
                                          "retry later.")
    return errors.internal_error()
