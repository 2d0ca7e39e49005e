"""A bucket's S3 versioning status (none, Enabled, Suspended), kept in PFS on its branch.

The status is one empty hidden file, ``/.s3g/versioning/<Status>``, written by
PutBucketVersioning in a commit of its own: every gateway copy reads the same answer, and a
restart loses nothing. A bucket without the file has the deployment's default
(``--versioning-default``; none unless set).

Writes need the status on every request. Reading it costs one ListFile, so each process keeps
what it read for ``TTL`` seconds: a change made through another gateway copy is seen within
that time (S3 itself documents that a versioning change may take a while to propagate). The
copy that made the change sees it at once. Reads (GET/HEAD) never need it: what a version is
comes with the object (gateway.ops.versions).
"""

from __future__ import annotations

import time

from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref, add_file, delete_file
from gateway.pfs.errors import NotFound
from gateway.s3.names import RESERVED_PREFIX

STATUS_DIR = "/" + RESERVED_PREFIX + "versioning/"
ENABLED, SUSPENDED = "Enabled", "Suspended"
TTL = 5.0  # seconds a process trusts the status it read
_MAX_CACHED = 4096

_default: str | None = None
_cache: dict[tuple[str, str, str], tuple[float, str | None]] = {}


def set_default(status: str | None) -> None:
    """The status of buckets that have none stored (``--versioning-default``)."""
    global _default
    _default = status
    _cache.clear()


def default() -> str | None:
    return _default


async def stored(client: PFS, ref: Ref) -> str | None:
    """The status file's name at ``ref`` (a branch head or a commit), None when there is none.

    A missing branch raises NotFound (NoSuchBucket)."""
    try:
        if client.use_extensions:
            entries = await file_pages.list_file(client, ref, STATUS_DIR, None, 1)
        else:
            entries = await client.list_file(ref, STATUS_DIR, None, 1)
    except NotFound as e:
        if e.kind != "file":
            raise
        return None
    for info in entries:
        name = info.file.path.rstrip("/").rsplit("/", 1)[-1]
        if name in (ENABLED, SUSPENDED):
            return name
    return None


def peek(ref: Ref) -> tuple[bool, str | None]:
    """``(True, status)`` when this process read the branch's status less than ``TTL`` ago
    (a write then needs no task to learn it), else ``(False, None)``."""
    hit = _cache.get((ref.project, ref.repo, ref.branch)) if not ref.commit else None
    if hit is not None and hit[0] > time.monotonic():
        return True, hit[1]
    return False, None


async def status(client: PFS, ref: Ref) -> str | None:
    """The bucket's effective status: stored, else the default; cached ``TTL`` seconds."""
    known, value = peek(ref)
    if known:
        return value
    key = (ref.project, ref.repo, ref.branch)
    now = time.monotonic()
    value = await stored(client, ref) or _default
    if not ref.commit:
        if len(_cache) >= _MAX_CACHED:
            _cache.clear()
        _cache[key] = (now + TTL, value)
    return value


def created(ref: Ref) -> None:
    """A bucket was just created (a new, empty branch): it has no stored status."""
    _cache[(ref.project, ref.repo, ref.branch)] = (time.monotonic() + TTL, _default)


async def put_status(client: PFS, ref: Ref, value: str) -> str:
    """Store ``value`` on the branch (one commit); returns the commit."""
    commit = await client.modify_file(ref, [delete_file(STATUS_DIR), add_file(STATUS_DIR + value, b"")],
                                      f"PutBucketVersioning {value}")
    _cache[(ref.project, ref.repo, ref.branch)] = (time.monotonic() + TTL, value)
    return commit


def version_mode(value: str | None) -> str | None:
    """What a write on a bucket with status ``value`` records as its version (see ObjectMeta)."""
    if value == ENABLED:
        return "c"
    if value == SUSPENDED:
        return "null"
    return None


def write_headers(commit: str, mode: str | None) -> dict[str, str]:
    """The headers every write answers: the PFS commit it made, and S3's version ID if any."""
    out = {"x-pfs-commit": commit}
    if mode == "c":
        out["x-amz-version-id"] = commit
    elif mode == "null":
        out["x-amz-version-id"] = "null"
    return out
