"""Listing a bucket a page at a time: S3's keys, prefixes and markers over PFS paths.

PFS orders paths by their bytes, with a directory's path ending in ``/``; that is S3's key
order, so a page is one bounded PFS call (ListFile for ``delimiter=/``, WalkFile without)
that starts just before the first possible match and stops at the first key past the prefix.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from gateway import errors
from gateway.names import RESERVED_PREFIX
from gateway.pfs import PFS, Ref
from gateway.pfs_errors import NotFound
from generated.pfs import pfs_pb2 as pb

MAX_KEYS = 1000
_TOP = "\U0010ffff"  # sorts after every character a key can hold


@dataclass
class Page:
    files: list[tuple[str, pb.FileInfo]] = field(default_factory=list)  # (key, info)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""  # the last key or prefix on the page (the next page starts after it)


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


def _start_after(prefix: str, marker: str | None) -> str:
    before = _just_before(prefix)
    return max(before, marker or "")


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
    while True:
        marker = "/" + cursor if cursor else None
        try:
            if grouped:
                batch = await pfs.list_file(ref, "/" + directory, marker, want)
            else:
                batch = await pfs.walk_file(ref, "/" + directory, marker, want)
        except NotFound as e:
            if e.kind in ("file", None):
                return page  # no such directory: nothing to list
            raise
        jumped = False
        for info in batch:
            path = info.file.path
            key = path[1:]
            cursor = key
            if not key or not key.startswith(prefix):
                if key and key > prefix and not prefix.startswith(key):
                    return page  # past every key with the prefix
                continue
            if key.startswith(RESERVED_PREFIX):
                cursor, jumped = RESERVED_PREFIX + _TOP, True  # skip the hidden tree in one step
                break
            is_dir = info.file_type == pb.FileType.DIR
            if is_dir and not grouped:
                continue
            if len(page.files) + len(page.prefixes) == max_keys:
                page.truncated = True
                return page
            if is_dir:
                page.prefixes.append(key if key.endswith("/") else key + "/")
            else:
                page.files.append((key, info))
            page.last = page.prefixes[-1] if is_dir else key
        if not jumped and len(batch) < want:
            return page
