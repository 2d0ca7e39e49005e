"""What the explorer's pages show, gathered from PFS: no HTTP here, only data for templates."""

from __future__ import annotations

import asyncio
import csv
import json
import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.ops import history, listing
from gateway.ops.objects import ObjectInfo, etag_of, is_directory
from gateway.pfs import metadata
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.pfs.refs import to_ref
from gateway.s3.names import BucketRef, parse_bucket
from generated.pfs import pfs_pb2 as pb

PAGE_SIZE = 100  # entries of a folder page
COMMITS_PER_PAGE = 25
VERSIONS_PER_PAGE = 20
PREVIEW_BYTES = 64 * 1024
CSV_ROWS = 50
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})  # no SVG: it runs script
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml", "application/yaml",
                        "application/javascript", "application/x-sh", "application/toml"})


def timestamp_of(ts) -> datetime | None:
    if ts is None or not (ts.seconds or ts.nanos):
        return None
    return ts.ToDatetime(tzinfo=UTC)


@dataclass
class BranchRow:
    bucket: str
    branch: str
    head: str
    head_time: datetime | None


@dataclass
class RepoRow:
    project: str
    repo: str
    branches: list[BranchRow] = field(default_factory=list)


async def buckets(client: PFS) -> list[RepoRow]:
    """Every user repo with its branches and each head commit's time (one InspectBranch and one
    InspectCommit per branch, concurrently)."""
    repos = await client.list_repos()
    rows: list[RepoRow] = []
    lookups = []
    for repo in repos:
        project = repo.repo.project.name or "default"
        row = RepoRow(project, repo.repo.name)
        rows.append(row)
        for branch in repo.branches:
            b = BucketRef(project, repo.repo.name, branch.name)
            row.branches.append(BranchRow(b.name, branch.name, "", None))
            lookups.append((row.branches[-1], to_ref(b)))

    async def fill(cell: BranchRow, ref: Ref) -> None:
        try:
            info = await client.inspect_branch(ref)
            cell.head = info.head.id
            commit = await client.inspect_commit(Ref(ref.project, ref.repo, ref.branch, info.head.id))
            cell.head_time = timestamp_of(commit.finished) or timestamp_of(commit.started)
        except NotFound:
            pass

    await asyncio.gather(*(fill(cell, ref) for cell, ref in lookups))
    rows.sort(key=lambda r: (r.project, r.repo))
    for r in rows:
        r.branches.sort(key=lambda b: b.branch)
    return rows


async def check_bucket(client: PFS, bucket: str) -> tuple[BucketRef, Ref, str]:
    """The bucket's parts, its PFS ref and the commit it shows now (raises NotFound)."""
    b = parse_bucket(bucket)
    ref = to_ref(b)
    if b.commit:
        info = await client.inspect_commit(ref)
        return b, ref, info.commit.id
    info = await client.inspect_branch(ref)
    return b, ref, info.head.id


@dataclass
class FolderPage:
    folders: list[str]
    files: list[tuple[str, pb.FileInfo]]
    next_after: str | None


async def folder(client: PFS, ref: Ref, prefix: str, after: str | None) -> FolderPage:
    """One page of a folder: a single bounded ListFile, whatever the bucket holds."""
    page = await listing.list_page(client, ref, prefix, "/", after, PAGE_SIZE)
    files = [f for f in page.files if f[0] != prefix]  # the folder's own marker is the folder
    return FolderPage(page.prefixes, files, page.last if page.truncated else None)


@dataclass
class Preview:
    kind: str  # "text", "json", "csv", "image", "none"
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    truncated: bool = False


async def object_info(client: PFS, ref: Ref, key: str) -> ObjectInfo:
    path = "/" + key
    info, meta = await asyncio.gather(client.inspect_file(ref, path), metadata.read(client, ref, path))
    if is_directory(info):
        raise NotFound(f"{key} is a folder", "file")
    return ObjectInfo.from_file_info(key, info, meta)


def content_type(obj: ObjectInfo) -> str:
    return obj.headers()["Content-Type"]


def preview_kind(obj: ObjectInfo) -> str:
    ctype = content_type(obj).split(";")[0].strip().lower()
    guessed = (mimetypes.guess_type(obj.key, strict=False)[0] or "").lower()
    if ctype in IMAGE_TYPES:
        return "image"
    if ctype in ("text/csv", "application/csv") or guessed == "text/csv":
        return "csv"
    if ctype == "application/json" or guessed == "application/json":
        return "json"
    if ctype.startswith("text/") or ctype in TEXT_TYPES or guessed.startswith("text/"):
        return "text"
    return "none"


async def head_bytes(client: PFS, ref: Ref, key: str, limit: int) -> bytes:
    """At most ``limit`` bytes from the start of the file (the stream is cancelled there)."""
    out = bytearray()
    async for chunk in client.get_file(ref, "/" + key):
        out += chunk[: limit - len(out)]
        if len(out) >= limit:
            break
    return bytes(out)


async def preview(client: PFS, ref: Ref, obj: ObjectInfo) -> Preview:
    kind = preview_kind(obj)
    if kind in ("none", "image") or obj.size == 0:
        return Preview(kind)
    pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)
    data = await head_bytes(client, pinned, obj.key, PREVIEW_BYTES)
    truncated = obj.size > len(data)
    text = data.decode("utf-8", errors="replace")
    if kind == "json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    if kind == "csv":
        lines = text.splitlines()
        if truncated and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut
        rows = list(csv.reader(lines[: CSV_ROWS + 1]))
        more = truncated or len(lines) > CSV_ROWS + 1
        return Preview("csv", rows=rows, truncated=more)
    return Preview(kind, text=text, truncated=truncated)


@dataclass
class CommitRow:
    id: str
    time: datetime | None
    description: str
    size: int | None
    change: int | None


async def commits(client: PFS, ref: Ref, start: str) -> tuple[list[CommitRow], str | None]:
    """A page of the branch's commits from ``start`` back (one ListCommit), and where the next
    page starts."""
    infos = await history.list_commits(client, ref, start, COMMITS_PER_PAGE + 2)
    rows = []
    for i, c in enumerate(infos[:COMMITS_PER_PAGE]):
        size = c.details.size_bytes if c.HasField("details") else None
        parent = infos[i + 1] if i + 1 < len(infos) else None
        change = None
        if size is not None and parent is not None and parent.HasField("details"):
            change = size - parent.details.size_bytes
        elif size is not None and parent is None and not c.HasField("parent_commit"):
            change = size
        rows.append(CommitRow(c.commit.id, timestamp_of(c.finished) or timestamp_of(c.started),
                              c.description, size, change))
    following = infos[COMMITS_PER_PAGE].commit.id if len(infos) > COMMITS_PER_PAGE else None
    return rows, following


@dataclass
class VersionRow:
    commit: str
    time: datetime
    size: int | None
    etag: str
    latest: bool
    deleted: bool


async def versions(client: PFS, ref: Ref, head: str, key: str, key_marker: str | None,
                   commit_marker: str | None) -> tuple[list[VersionRow], tuple[str, str] | None]:
    """The object's versions, newest first, a bounded page at a time (gateway.ops.history's
    ListObjectVersions walk, narrowed to the key's own path)."""
    page = await history.list_versions(client, ref, head, key, None, key_marker, commit_marker,
                                       VERSIONS_PER_PAGE)
    rows = [VersionRow(v.commit, v.last_modified, v.info.size_bytes if v.info else None,
                       etag_of(v.info) if v.info else "", v.latest, v.delete_marker)
            for v in page.versions if v.key == key]
    nxt = (page.next_key, page.next_commit) if page.truncated else None
    return rows, nxt

