"""Listing a bucket a page at a time: S3's keys, prefixes and markers over PFS paths.

PFS orders paths by their bytes, with a directory's path ending in ``/``; that is S3's key
order, so a page is one bounded PFS call (ListFile for ``delimiter=/``, WalkFile without)
that starts just before the first possible match and stops at the first key past the prefix.
The gateway's hidden tree (``.s3g/``) is skipped without being listed when it can be.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.ops.objects import etag_of
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.s3 import errors
from gateway.s3.names import RESERVED_PREFIX
from gateway.s3.xml import Timestamps, text, timestamp
from generated.pfs import pfs_pb2 as pb

MAX_KEYS = 1000
_TOP = "\U0010ffff"  # sorts after every character a key can hold
_PAST_HIDDEN = RESERVED_PREFIX + _TOP  # a cursor after every path of the hidden tree
_DIR = pb.FileType.DIR


@dataclass
class Page:
    files: list[tuple[str, pb.FileInfo]] = field(default_factory=list)  # (key, info)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or prefix on the page (the next page starts after it)
    # PFS answered for this ref (a listing, or "no such file"), so the bucket exists: the
    # handler need not ask again with InspectBranch.
    found: bool = False


def encode_token(last: str) -> str:
    """An opaque continuation token: the last key or prefix of the page, base64url."""
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise errors.invalid_argument("The continuation token provided is incorrect",
                                      "continuation-token", token) from None


def check_delimiter(delimiter: str | None) -> None:
    if delimiter not in (None, "", "/"):
        raise errors.invalid_argument(
            "Only the delimiter '/' is supported: PFS groups keys by directory.",
            "delimiter", delimiter)


def _just_before(prefix: str) -> str:
    """A marker that sorts after everything below ``prefix`` and before everything it starts."""
    if not prefix:
        return ""
    return prefix[:-1] + chr(ord(prefix[-1]) - 1) + _TOP


def _past(prefix: str) -> str | None:
    """The first string after every key that starts with ``prefix`` (None: no such bound)."""
    if not prefix or ord(prefix[-1]) >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _start_after(prefix: str, marker: str | None) -> str:
    before = _just_before(prefix)
    return max(before, marker or "")


async def _hidden_next(pfs: PFS, ref: Ref, prefix: str, cursor: str) -> bool:
    """Whether a walk from the root after ``cursor`` would meet the hidden tree first.

    A walk streams every path of ``.s3g/`` (metadata sidecars, staged uploads: often more
    than the keys) before the keys that sort after it; one ListFile of a single root entry
    tells whether to start past it instead. Only for walks from the root that can reach it.
    """
    if not RESERVED_PREFIX.startswith(prefix) or "/" in cursor or cursor >= RESERVED_PREFIX:
        return False
    first = await file_pages.list_file(pfs, ref, "/", "/" + cursor if cursor else None, 1)
    return bool(first) and first[0].file.path == "/" + RESERVED_PREFIX


async def list_page(pfs: PFS, ref: Ref, prefix: str, delimiter: str | None,
                    after: str | None, max_keys: int) -> Page:
    """Up to ``max_keys`` keys and common prefixes that start with ``prefix``, after ``after``."""
    page = Page()
    if max_keys <= 0:
        return page
    directory = prefix[: prefix.rfind("/") + 1]
    grouped = delimiter == "/"
    cursor = _start_after(prefix, after)
    want = max_keys + 1  # one more than the page tells whether it is truncated
    if not grouped and not directory and await _hidden_next(pfs, ref, prefix, cursor):
        cursor = _PAST_HIDDEN
    fetch = file_pages.list_file if grouped else file_pages.walk_file
    end = _past(prefix)
    until = "/" + end if end is not None else None  # PFS stops there: a narrow prefix lists little
    files, prefixes = page.files, page.prefixes
    while True:
        try:
            batch = await fetch(pfs, ref, "/" + directory, "/" + cursor if cursor else None, want, until)
        except NotFound as e:
            if e.kind in ("file", None):
                page.found = page.found or e.kind == "file"
                return page  # no such directory: nothing to list
            raise
        page.found = True
        for info in batch:
            key = info.file.path[1:]
            cursor = key
            if not key or not key.startswith(prefix):
                if key and key > prefix and not prefix.startswith(key):
                    return page  # past every key with the prefix
                continue
            if key.startswith(RESERVED_PREFIX):
                continue  # the hidden tree (the rest of it is skipped below)
            is_dir = info.file_type == _DIR
            if is_dir and not grouped:
                continue
            if len(files) + len(prefixes) == max_keys:
                page.truncated = True
                return page
            if is_dir:
                page.last = key if key.endswith("/") else key + "/"
                prefixes.append(page.last)
            else:
                files.append((key, info))
                page.last = key
        if len(batch) < want:
            return page
        if cursor.startswith(RESERVED_PREFIX):
            cursor = _PAST_HIDDEN  # the batch ended inside the hidden tree: jump past it


def render_contents(files: list[tuple[str, pb.FileInfo]], enc: Callable[[str], str],
                    owner: bool = False) -> list[str]:
    """The ``<Contents>`` elements of a page, built in one pass (1,000 keys a page)."""
    stamp = Timestamps()
    tail = (OWNER if owner else "") + "<StorageClass>STANDARD</StorageClass></Contents>"
    out = []
    for key, info in files:
        if info.HasField("committed"):
            c = info.committed
            modified = stamp(c.seconds, c.nanos)
        else:
            modified = timestamp(datetime.now(UTC))
        out.append(f"<Contents><Key>{text(enc(key))}</Key><LastModified>{modified}</LastModified>"
                   f'<ETag>"{etag_of(info)}"</ETag><Size>{info.size_bytes}</Size>{tail}')
    return out


OWNER = "<Owner><ID>pachyderm</ID><DisplayName>pachyderm</DisplayName></Owner>"
