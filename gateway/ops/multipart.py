"""Multipart uploads kept in PFS: where uploads and parts live, and the rules S3 sets for them.

Nothing is held in the gateway's memory, so any gateway copy can continue an upload. Uploads
are staged in the bucket's own repo, on the hidden branch :data:`STAGING_BRANCH` (the user's
branch gets only the completed object, in one commit)::

    /.s3g/uploads/<branch>/index/<hex(key)>.<uploadId>     empty; one per upload, for listings
    /.s3g/uploads/<branch>/data/<uploadId>/upload/<info>    empty; its name: base64url JSON
                                                           {key, metadata} given at creation
    /.s3g/uploads/<branch>/data/<uploadId>/parts/<00001>    a part's bytes (5 digits: numeric
                                                           order is path order)
    /.s3g/uploads/<branch>/done/<uploadId>/<info>          empty; written when the upload
                                                           completes: base64url JSON {key, ETag,
                                                           version}, so that a retried Complete
                                                           (SDKs retry on timeouts) answers the
                                                           same result instead of NoSuchUpload

Hex keeps key order (and prefixes) in path order and fits any key in one path component, so
ListMultipartUploads is one ListFile of ``index/`` a page. An upload ID starts with its
creation time in microseconds (14 hex digits), so uploads of one key list oldest first, as
S3 lists them, and ``Initiated`` needs no lookup.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree

from gateway.ops.objects import committed_at, etag_of
from gateway.pfs.client import PFS, Ref, delete_file
from gateway.pfs.errors import NotFound, PFSError, to_s3
from gateway.pfs.metadata import ObjectMeta
from gateway.s3 import errors
from gateway.s3.names import RESERVED_BRANCH, RESERVED_PREFIX
from gateway.s3.xml import DECLARATION, error_document
from generated.pfs import pfs_pb2 as pb

log = logging.getLogger("gateway.multipart")

STAGING_BRANCH = RESERVED_BRANCH  # hidden from ListBuckets, refused as a bucket name
MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_PART_NUMBER = 10_000
MAX_LIST = 1000  # max-parts and max-uploads cap
MAX_COMPLETE_BODY = 4 * 1024 * 1024  # 10,000 <Part> elements fit with room to spare
_UPLOAD_ID = re.compile(r"[0-9a-f]{46}")
_ETAG = re.compile(r'\s*"?([0-9a-fA-F]+)"?\s*')
_AFTER_HEX = "g"  # sorts after every hex digit and "."
# A completion still concatenating after this many seconds answers 200 at once and keeps the
# connection alive with spaces, as S3 does (the outcome, even an error, ends the body).
KEEPALIVE_AFTER = float(os.environ.get("S3GW_COMPLETE_KEEPALIVE_AFTER", "5"))
KEEPALIVE_EVERY = 5.0


def staging_ref(ref: Ref) -> Ref:
    """The hidden branch, in the bucket's repo, where its uploads are staged."""
    return Ref(ref.project, ref.repo, STAGING_BRANCH)


def new_upload_id() -> str:
    """Creation time (µs, 14 hex digits) then 128 random bits: unique, and sorts by age."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(16)}"


def initiated(upload_id: str) -> datetime:
    return datetime.fromtimestamp(int(upload_id[:14], 16) / 1e6, UTC)


def check_upload_id(upload_id: str) -> None:
    """An ID this gateway could have made; anything else never reaches a PFS path."""
    if not _UPLOAD_ID.fullmatch(upload_id or ""):
        raise errors.no_such_upload(upload_id)


def check_upload_id_marker(marker: str) -> None:
    if not _UPLOAD_ID.fullmatch(marker):
        raise errors.invalid_argument("Invalid uploadId marker", "upload-id-marker", marker)


def check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PART_NUMBER:
        raise errors.invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
            "partNumber", str(number))


@dataclass(frozen=True)
class Layout:
    """The staging paths of one user branch."""

    branch: str

    @property
    def root(self) -> str:
        return f"/{RESERVED_PREFIX}uploads/{self.branch}/"

    @property
    def index_dir(self) -> str:
        return self.root + "index/"

    def index_name(self, key: str, upload_id: str) -> str:
        return f"{key.encode().hex()}.{upload_id}"

    def index_file(self, key: str, upload_id: str) -> str:
        return self.index_dir + self.index_name(key, upload_id)

    def upload_dir(self, upload_id: str) -> str:
        return f"{self.root}data/{upload_id}/"

    def info_dir(self, upload_id: str) -> str:
        return self.upload_dir(upload_id) + "upload/"

    def done_dir(self, upload_id: str) -> str:
        return f"{self.root}done/{upload_id}/"

    def parts_dir(self, upload_id: str) -> str:
        return self.upload_dir(upload_id) + "parts/"

    def part_file(self, upload_id: str, number: int) -> str:
        return f"{self.parts_dir(upload_id)}{number:05d}"


def encode_info(key: str, meta: ObjectMeta) -> str:
    raw = json.dumps({"k": key, "m": meta.encode()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_info(name: str) -> tuple[str, ObjectMeta]:
    doc = json.loads(base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)))
    return doc["k"], ObjectMeta.decode(doc["m"])


@dataclass(frozen=True)
class Completion:
    """What a completed upload answered: its object's ETag and the commit that wrote it."""

    key: str
    etag: str
    version: str
    checksum: list[str] = field(default_factory=list)  # [algorithm, value, type], if any

    def encode(self) -> str:
        doc = {"k": self.key, "e": self.etag, "v": self.version}
        if self.checksum:
            doc["c"] = self.checksum
        raw = json.dumps(doc, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, name: str) -> Completion:
        doc = json.loads(base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)))
        return cls(doc["k"], doc["e"], doc["v"], doc.get("c", []))


async def load_completion(client: PFS, staging: Ref, layout: Layout, key: str,
                          upload_id: str) -> Completion | None:
    """The record of the upload's completion, if it completed (for ``key``)."""
    try:
        entries = await client.list_file(staging, layout.done_dir(upload_id), None, 1)
    except NotFound:
        return None
    for info in entries:
        try:
            done = Completion.decode(_name(info))
        except (ValueError, KeyError):
            return None
        return done if done.key == key else None
    return None


def _name(info: pb.FileInfo) -> str:
    return info.file.path.rstrip("/").rsplit("/", 1)[-1]


async def load_upload(client: PFS, staging: Ref, layout: Layout, key: str, upload_id: str) -> ObjectMeta:
    """The metadata an upload was created with; ``NoSuchUpload`` unless it exists for ``key``."""
    check_upload_id(upload_id)
    try:
        entries = await client.list_file(staging, layout.info_dir(upload_id), None, 1)
    except NotFound:
        raise errors.no_such_upload(upload_id) from None
    for info in entries:
        try:
            owner, meta = decode_info(_name(info))
        except (ValueError, KeyError):
            break
        if owner == key:
            return meta
    raise errors.no_such_upload(upload_id)


async def forget_branch(client: PFS, ref: Ref) -> None:
    """Drop every upload staged for the branch of ``ref`` (for DeleteBucket: a bucket created
    again under the same name must not inherit them). No staging branch: nothing to do."""
    staging = staging_ref(ref)
    try:
        await client.inspect_branch(staging)  # ModifyFile would create a missing branch
    except NotFound:
        return
    await client.modify_file(staging, [delete_file(Layout(ref.branch).root)],
                             f"DeleteBucket: drop the uploads of branch {ref.branch}")


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str  # hex, without quotes
    last_modified: datetime


def _part(info: pb.FileInfo) -> Part | None:
    name = _name(info)
    if info.file_type != pb.FileType.FILE or not name.isdigit():
        return None
    return Part(int(name), info.size_bytes, etag_of(info), committed_at(info))


async def list_parts(client: PFS, staging: Ref, layout: Layout, upload_id: str, after: int,
                     number: int) -> list[Part]:
    """Up to ``number`` parts numbered above ``after``, in numeric order (one ListFile)."""
    marker = layout.part_file(upload_id, after) if after > 0 else None
    try:
        infos = await client.list_file(staging, layout.parts_dir(upload_id), marker, number)
    except NotFound:
        return []
    return [p for p in map(_part, infos) if p is not None]


async def all_parts(client: PFS, staging: Ref, layout: Layout, upload_id: str) -> dict[int, Part]:
    parts: dict[int, Part] = {}
    after = 0
    while True:
        page = await list_parts(client, staging, layout, upload_id, after, MAX_LIST)
        for p in page:
            parts[p.number] = p
        if len(page) < MAX_LIST:
            return parts
        after = page[-1].number


# -- CompleteMultipartUpload ---------------------------------------------------------------


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """The (PartNumber, ETag) pairs of a CompleteMultipartUpload document, in document order."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if _local(root.tag) != "CompleteMultipartUpload":
        raise errors.malformed_xml()
    out = []
    for part in root:
        if _local(part.tag) != "Part":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in part}
        number, etag = fields.get("PartNumber"), fields.get("ETag")
        if number is None or etag is None or not number.isdigit():
            raise errors.malformed_xml()
        out.append((int(number), etag))
    if not out:
        raise errors.malformed_xml()
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def normalize_etag(etag: str) -> str | None:
    m = _ETAG.fullmatch(etag)
    return m.group(1).lower() if m else None


def choose_parts(requested: list[tuple[int, str]], stored: dict[int, Part]) -> list[Part]:
    """Check the client's part list against the stored parts, as S3 does, in S3's order:
    ascending numbers, then each part present with its ETag, then the minimum part size."""
    numbers = [n for n, _ in requested]
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise errors.invalid_part_order()
    chosen = []
    for number, etag in requested:
        part = stored.get(number)
        if part is None or normalize_etag(etag) != part.etag:
            raise errors.invalid_part(number, etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise errors.entity_too_small(
                f"Your proposed upload is smaller than the minimum allowed size: part "
                f"{part.number} is {part.size} bytes; every part but the last must be at least "
                f"{MIN_PART_SIZE} bytes.")
    return chosen


def requested_etag(requested: list[tuple[int, str]]) -> str:
    """The multipart ETag a Complete request's part list leads to (for a retried Complete)."""
    now = datetime.now(UTC)
    return multipart_etag([Part(n, 0, normalize_etag(e) or e, now) for n, e in requested])


def part_runs(parts: list[Part]) -> list[list[int]]:
    """The part sizes as ``[size, count]`` runs (all parts but the last usually share a size):
    what GetObject's partNumber needs, in a few bytes of the object's metadata."""
    runs: list[list[int]] = []
    for p in parts:
        if runs and runs[-1][0] == p.size:
            runs[-1][1] += 1
        else:
            runs.append([p.size, 1])
    return runs


def multipart_etag(parts: list[Part]) -> str:
    """S3's ETag of a multipart object: MD5 of the parts' binary MD5s, then ``-<count>``."""
    digest = hashlib.md5()
    for p in parts:
        try:
            digest.update(bytes.fromhex(p.etag))
        except ValueError:
            digest.update(p.etag.encode())
    return f"{digest.hexdigest()}-{len(parts)}"


# -- UploadPartCopy ------------------------------------------------------------------------


def parse_copy_range(value: str | None, size: int) -> tuple[int, int] | None:
    """``x-amz-copy-source-range: bytes=first-last`` within the source, inclusive."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*bytes=(\d+)-(\d+)\s*", value)
    if not m:
        raise errors.invalid_argument("The x-amz-copy-source-range value must be of the form "
                                      "bytes=first-last where first and last are the zero-based "
                                      "offsets of the first and last bytes to copy",
                                      "x-amz-copy-source-range", value)
    first, last = int(m.group(1)), int(m.group(2))
    if first > last or last >= size:
        raise errors.invalid_argument(f"Range specified is not valid for source object of size: {size}",
                                      "x-amz-copy-source-range", value)
    return first, last


# -- ListMultipartUploads ------------------------------------------------------------------


@dataclass
class UploadsPage:
    uploads: list[tuple[str, str]]  # (key, upload ID)
    prefixes: list[str]
    truncated: bool = False


def _start(layout: Layout, prefix: str, key_marker: str | None, upload_id_marker: str | None) -> str:
    after = ""
    if key_marker:
        hexkey = key_marker.encode().hex()
        after = f"{hexkey}.{upload_id_marker}" if upload_id_marker else f"{hexkey}.{_AFTER_HEX}"
    return max(after, prefix.encode().hex())


async def list_uploads(client: PFS, staging: Ref, layout: Layout, prefix: str, delimiter: str | None,
                       key_marker: str | None, upload_id_marker: str | None, limit: int) -> UploadsPage:
    """One page of in-progress uploads in key order (oldest first per key), with common
    prefixes when a delimiter groups keys; a ListFile per page (plus one per prefix skipped)."""
    page = UploadsPage([], [])
    cursor = _start(layout, prefix, key_marker, upload_id_marker)
    want = limit + 1
    while True:
        marker = layout.index_dir + cursor if cursor else None
        try:
            batch = await client.list_file(staging, layout.index_dir, marker, want)
        except NotFound:
            return page
        jumped = False
        for info in batch:
            name = _name(info)
            cursor = name
            hexkey, _, upload_id = name.rpartition(".")
            try:
                key = bytes.fromhex(hexkey).decode()
            except (ValueError, UnicodeDecodeError):
                continue
            if not key.startswith(prefix):
                return page  # hex order is key order: past the prefix, nothing more matches
            entry: str | tuple[str, str] = (key, upload_id)
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    cursor, jumped = common.encode().hex() + _AFTER_HEX, True  # skip the group
                    if key_marker and common <= key_marker:
                        break
                    entry = common
            if len(page.uploads) + len(page.prefixes) == limit:
                page.truncated = True
                return page
            if isinstance(entry, str):
                page.prefixes.append(entry)
            else:
                page.uploads.append(entry)
            if jumped:
                break
        if not jumped and len(batch) < want:
            return page


# -- CompleteMultipartUpload's long wait -------------------------------------------------


async def finish_or_keep_alive(work: Awaitable[str], render: Callable[[str], bytes],
                               error: Callable[[Exception], bytes]) -> tuple[str | None, AsyncIterator[bytes] | None]:
    """Run ``work`` (returns a commit ID). Done within :data:`KEEPALIVE_AFTER` seconds: its
    commit ID (errors raise as usual). Otherwise: a body to stream with status 200 at once:
    the XML declaration, a space every few seconds, then ``render(commit)`` or ``error(exc)``
    (without their declarations), which S3 clients read as the outcome."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_AFTER)
    if done:
        return task.result(), None

    async def body() -> AsyncIterator[bytes]:
        yield DECLARATION.encode()
        while True:
            done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_EVERY)
            if done:
                break
            yield b" "
        try:
            doc = render(task.result())
        except Exception as e:  # the status line is gone: the error travels in the body
            doc = error(e)
        yield doc[len(DECLARATION):] if doc.startswith(DECLARATION.encode()) else doc

    return None, body()


def error_body(exc: Exception, bucket: str, key: str, resource: str, request_id: str) -> bytes:
    """The ``<Error>`` document for a failure found after the 200 status line was sent."""
    if isinstance(exc, errors.S3Error):
        err = exc
    elif isinstance(exc, PFSError):
        err = to_s3(exc, bucket, key)
    else:
        log.error("request %s: completion failed", request_id, exc_info=exc)
        err = errors.internal_error()
    return error_document(err, resource, request_id)
