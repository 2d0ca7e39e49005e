"""Conditional writes: ``If-None-Match: *`` and ``If-Match: <etag>`` on PutObject, CopyObject
(the destination) and CompleteMultipartUpload.

Each is checked twice. First before anything is written, against the object as it is (so a
failing request fails early: 412, or 404 NoSuchKey for If-Match on a missing key). Then, against
pfsd, atomically with the commit: the ModifyFile carries requirements (the key is absent, or
still holds the content whose ETag matched) that pfsd checks inside its write transaction, so of
many racing ``If-None-Match: *`` writes of one key exactly one commits. A requirement that held
at the first check and fails at the second means another write landed meanwhile: 412 for
If-None-Match (the key now exists), 409 ConditionalRequestConflict for If-Match, as S3 answers.
Against pachd only the first check exists: two writers can both pass it (documented race).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gateway.ops.objects import etag_of, inspect, is_directory
from gateway.pfs.client import PFS, Ref, Requirement
from gateway.pfs.errors import ConditionFailed, NotFound
from gateway.s3 import errors

T = TypeVar("T")


@dataclass(frozen=True)
class WriteCondition:
    if_match: str | None  # an ETag without quotes, or "*" (any current object)
    if_none_match: bool  # If-None-Match: * (no current object)


def parse(headers: Mapping[str, str]) -> WriteCondition | None:
    """The write's conditions, or None. S3 accepts only ``*`` in If-None-Match on a write."""
    if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
    if if_match is None and if_none_match is None:
        return None
    if if_none_match is not None and if_none_match.strip() != "*":
        raise errors.not_implemented("If-None-Match on a write accepts only '*'.")
    etag = None
    if if_match is not None:
        etag = if_match.strip()
        if etag.startswith("W/"):
            etag = etag[2:]
        etag = etag.strip('"').lower()
    return WriteCondition(etag, if_none_match is not None)


async def check(client: PFS, ref: Ref, path: str, key: str,
                cond: WriteCondition | None) -> list[Requirement]:
    """Check ``cond`` against the current object; the requirements for the commit to hold it."""
    if cond is None:
        return []
    try:
        info, meta = await inspect(client, ref, path)
        current = None if is_directory(info) else (info, meta)
    except NotFound as e:
        if e.kind != "file":
            raise
        current = None
    if cond.if_none_match and current is not None:
        raise errors.precondition_failed("If-None-Match")
    out = []
    if cond.if_none_match:
        out.append(Requirement(path, None))
    if cond.if_match is not None:
        if current is None:
            raise errors.no_such_key(key)
        info, meta = current
        if cond.if_match != "*" and cond.if_match != (meta.etag or etag_of(info)).lower():
            raise errors.precondition_failed("If-Match")
        out.append(Requirement(path, etag_of(info)))
    return out


async def guarded(write: Awaitable[T], cond: WriteCondition | None) -> T:
    """Await the write; a requirement that failed at commit time becomes S3's answer."""
    try:
        return await write
    except ConditionFailed:
        if cond is not None and cond.if_match is not None:
            raise errors.conditional_request_conflict() from None
        raise errors.precondition_failed("If-None-Match") from None
