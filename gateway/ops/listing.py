"""Listing a bucket a page at a time: S3's keys, prefixes and markers over PFS paths.

PFS orders paths by their bytes, with a directory's path ending in ``/``; that is S3's key
order, so a page is one bounded PFS call (ListFile for ``delimiter=/``, WalkFile without)
that starts just before the first possible match and stops at the first key past the prefix.
The gateway's hidden tree (``.s3g/``) is skipped without being listed when it can be; the
folder markers kept there (:mod:`gateway.ops.folders`) are merged in by a second bounded call
that runs beside the first. Any other delimiter walks the prefix, jumping past each group.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.ops import folders
from gateway.ops.objects import etag_of
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.s3 import errors
from gateway.s3.names import RESERVED_PREFIX
from gateway.s3.xml import Timestamps, text, timestamp
from generated.pfs import pfs_pb2 as pb

MAX_KEYS = 1000
FIRST_BATCH = 32  # keys a walk grouped by another delimiter asks for first, and after each jump
TOP = "\U0010ffff"  # sorts after every character a key can hold
_PAST_HIDDEN = RESERVED_PREFIX + TOP  # a cursor after every path of the hidden tree
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
    """ListObjectVersions still groups by ``/`` only (ListObjects takes any delimiter)."""
    if delimiter not in (None, "", "/"):
        raise errors.invalid_argument(
            "Only the delimiter '/' is supported: PFS groups keys by directory.",
            "delimiter", delimiter)


def _just_before(prefix: str) -> str:
    """A marker that sorts after everything below ``prefix`` and before everything it starts."""
    if not prefix:
        return ""
    return prefix[:-1] + chr(ord(prefix[-1]) - 1) + TOP


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


Entry = tuple[str, "pb.FileInfo | None"]  # (key, its FileInfo) or (common prefix, None)


async def _real(pfs: PFS, ref: Ref, prefix: str, grouped: bool, cursor: str,
                want: int, page: Page) -> list[Entry]:
    """Up to ``want`` entries of the real tree (no folder markers) after ``cursor``."""
    directory = prefix[: prefix.rfind("/") + 1]
    if not grouped and not directory and await _hidden_next(pfs, ref, prefix, cursor):
        cursor = _PAST_HIDDEN
    fetch = file_pages.list_file if grouped else file_pages.walk_file
    end = _past(prefix)
    until = "/" + end if end is not None else None  # PFS stops there: a narrow prefix lists little
    # A walk's first entry is the walked directory itself when the cursor is before it: one
    # more than the page holds, so that a full page is still one call.
    ask = want if grouped else want + 1
    out: list[Entry] = []
    while True:
        try:
            batch = await fetch(pfs, ref, "/" + directory, "/" + cursor if cursor else None, ask, until)
        except NotFound as e:
            if e.kind in ("file", None):
                page.found = page.found or e.kind == "file"
                return out  # no such directory: nothing to list
            raise
        page.found = True
        for info in batch:
            key = info.file.path[1:]
            cursor = key
            if not key or not key.startswith(prefix):
                if key and key > prefix and not prefix.startswith(key):
                    return out  # past every key with the prefix
                continue
            if key.startswith(RESERVED_PREFIX):
                continue  # the hidden tree (the rest of it is skipped below)
            is_dir = info.file_type == _DIR
            if is_dir and not grouped:
                continue
            out.append((key if key.endswith("/") else key + "/", None) if is_dir else (key, info))
            if len(out) == want:
                return out  # (not one more batch to learn that the page is full)
        if len(batch) < ask:
            return out
        if cursor.startswith(RESERVED_PREFIX):
            cursor = _PAST_HIDDEN  # the batch ended inside the hidden tree: jump past it


async def _entries(pfs: PFS, ref: Ref, prefix: str, grouped: bool, cursor: str, want: int,
                   page: Page) -> list[Entry]:
    """The first ``want`` entries after ``cursor``: the real tree's and the folder markers'
    merged in key order (each source is asked for ``want``, so the merge's first ``want`` are
    exact), at once."""
    directory = prefix[: prefix.rfind("/") + 1]
    markers = folders.list_markers if grouped else folders.walk_markers
    real, marks = await asyncio.gather(
        _real(pfs, ref, prefix, grouped, cursor, want, page),
        markers(pfs, ref, directory, cursor or None, want, _past(prefix)))
    marks = [m for m in marks if m[0].startswith(prefix) and m[0] > cursor]
    if not marks:
        return real
    merged: dict[tuple[str, bool], Entry] = {}
    for entry in heapq.merge(real, marks, key=lambda e: e[0]):
        merged.setdefault((entry[0], entry[1] is None), entry)  # a folder both trees hold: once
    return list(merged.values())[:want]


async def list_page(pfs: PFS, ref: Ref, prefix: str, delimiter: str | None,
                    after: str | None, max_keys: int) -> Page:
    """Up to ``max_keys`` keys and common prefixes that start with ``prefix``, after ``after``.

    ``/`` (or no delimiter) lists one PFS directory (or walks the prefix); any other delimiter
    walks the keys and skips each common prefix's keys with one jump (:func:`_grouped_by`).
    """
    page = Page()
    if max_keys <= 0:
        return page
    if delimiter and delimiter != "/":
        return await _grouped_by(pfs, ref, prefix, delimiter, after, max_keys, page)
    entries = await _entries(pfs, ref, prefix, delimiter == "/", _start_after(prefix, after),
                             max_keys + 1, page)
    _fill(page, entries, max_keys)
    return page


def _fill(page: Page, entries: list[Entry], max_keys: int) -> None:
    page.truncated = len(entries) > max_keys
    for key, info in entries[:max_keys]:
        if info is None:
            page.prefixes.append(key)
        else:
            page.files.append((key, info))
        page.last = key


async def _grouped_by(pfs: PFS, ref: Ref, prefix: str, delimiter: str, after: str | None,
                      max_keys: int, page: Page) -> Page:
    """Keys grouped by any delimiter: a walk of the prefix, where each common prefix costs one
    jump past its keys (the next batch starts after ``prefix + ... + delimiter`` + the top
    character), so a page costs at most one batch per entry it holds, never the group's keys.

    Batches start small (a group's keys are usually many, and all but the first are skipped)
    and grow fourfold while they hold no group, up to the page.
    """
    want = max_keys + 1
    cursor = _start_after(prefix, after)
    floor = after or ""
    out: list[Entry] = []
    size = min(want, FIRST_BATCH)
    while len(out) < want:
        batch = await _entries(pfs, ref, prefix, False, cursor, size, page)
        jumped = False
        for key, info in batch:
            if key <= cursor:
                continue  # inside a group already skipped
            cut = key.find(delimiter, len(prefix))
            if cut < 0:
                out.append((key, info))
                cursor = key
            else:
                group = key[: cut + len(delimiter)]
                if group > floor:  # a group the marker is inside was listed before it
                    out.append((group, None))
                cursor = group + TOP
                jumped = True
            if len(out) == want:
                break
        if len(batch) < size:
            break
        size = min(want, FIRST_BATCH) if jumped else min(want, size * 4)
    _fill(page, out, max_keys)
    return page


def render_contents(files: list[tuple[str, pb.FileInfo]], enc: Callable[[str], str],
                    owner: bool | str = False, etags: Mapping[str, str] | None = None) -> list[str]:
    """The ``<Contents>`` elements of a page, built in one pass (1,000 keys a page).

    ``owner``: an ``<Owner>`` element for every key (True: :data:`OWNER`). Keys are checked for
    characters to escape all at once (a page rarely has any), and a 16-byte hash, what pfsd
    stores, is hex as it is: a quarter of the per-key work went to those two. ``etags``: the
    ETags stored for keys whose ETag is not their content's MD5 (:mod:`gateway.ops.listetags`)."""
    stamp = Timestamps()
    owner = owner if isinstance(owner, str) else OWNER if owner else ""
    tail = owner + "<StorageClass>STANDARD</StorageClass></Contents>"
    keys = [enc(key) for key, _ in files]
    if not _plain("".join(keys)):
        keys = [text(key) for key in keys]
    out = []
    for key, (raw_key, info) in zip(keys, files, strict=True):
        if info.HasField("committed"):
            c = info.committed
            modified = stamp(c.seconds, c.nanos)
        else:
            modified = timestamp(datetime.now(UTC))
        raw = info.hash
        etag = raw.hex() if len(raw) == 16 else etag_of(info)
        if etags and raw_key in etags:
            etag = etags[raw_key]
        out.append(f"<Contents><Key>{key}</Key><LastModified>{modified}</LastModified>"
                   f'<ETag>"{etag}"</ETag><Size>{info.size_bytes}</Size>{tail}')
    return out


def _plain(keys: str) -> bool:
    """Whether :func:`gateway.s3.xml.text` leaves every key of ``keys`` as it is."""
    return not ("&" in keys or "<" in keys or ">" in keys or "\r" in keys)


OWNER = "<Owner><ID>pachyderm</ID><DisplayName>pachyderm</DisplayName></Owner>"
