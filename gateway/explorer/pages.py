"""What the explorer's pages show, gathered from PFS: no HTTP here, only data for templates."""

from __future__ import annotations

import asyncio
import bisect
import csv
import json
import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway.ops import history, listetags, listing, versionlog
from gateway.ops.objects import ObjectInfo, is_directory
from gateway.ops.versionlog import LogEntry
from gateway.pfs import metadata
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.pfs.refs import to_ref
from gateway.s3.names import RESERVED_BRANCH, BucketRef, parse_bucket
from generated.pfs import pfs_pb2 as pb

PAGE_SIZE = 100  # entries of a folder page
FOLDER_SCAN = 5000  # entries listed to count a folder and jump to its pages (bounded)
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
        visible = [br for br in repo.branches if br.name != RESERVED_BRANCH]  # gateway state
        if repo.branches and not visible:
            continue  # only the gateway's hidden branch: no bucket (e.g. s3g-sessions)
        rows.append(row)
        for branch in visible:
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
    """One page of a folder, with where it sits among the folder's (first ``FOLDER_SCAN``)
    entries."""

    entries: list[tuple[str, pb.FileInfo | None]]  # key order; None marks a folder
    next_after: str | None  # the next page starts after this entry
    prev_before: str | None = None  # the previous page ends before this entry
    start: int | None = None  # 0-based position of the first entry (None: past the scan)
    total: int = 0  # entries counted (all of them unless ``more``)
    more: bool = False  # the folder holds more than ``FOLDER_SCAN`` entries
    jumps: list[tuple[int, str | None]] = field(default_factory=list)  # (page number, after=)
    etags: dict[str, str] = field(default_factory=dict)  # stored ETags (multipart), as S3 lists them

    @property
    def empty(self) -> bool:
        return not self.entries


def _entries(page: listing.Page, folder: str) -> list[tuple[str, pb.FileInfo | None]]:
    """A listing's folders and files merged back into key order (None marks a folder); the
    folder's own marker (the key ``folder``, see gateway.ops.folders) is the folder itself."""
    out: list[tuple[str, pb.FileInfo | None]] = [(p, None) for p in page.prefixes]
    out += [f for f in page.files if f[0] != folder]
    out.sort(key=lambda e: e[0])
    return out


async def folder(client: PFS, ref: Ref, prefix: str, after: str | None = None, before: str | None = None,
                 starts: str = "", contains: str = "") -> FolderPage:
    """One page of a folder, filtered by a name prefix (``starts``: PFS narrows the listing) or a
    substring (``contains``: over the scanned range only).

    One listing of at most ``FOLDER_SCAN`` entries gives the count, the page's position and the
    jumps to every page; past it, pages continue with bounded listings from ``after``.
    """
    scan = await listing.list_page(client, ref, prefix + starts, "/", None, FOLDER_SCAN)
    entries = _entries(scan, prefix)
    if contains:
        needle = contains.lower()
        entries = [e for e in entries if needle in e[0][len(prefix):].lower()]
    names = [name for name, _ in entries]
    if after is not None and scan.truncated and after >= scan.last and not contains:
        page = await listing.list_page(client, ref, prefix + starts, "/", after, PAGE_SIZE)
        shown = _entries(page, prefix)
        return FolderPage(shown, page.last if page.truncated else None, total=len(names), more=True,
                          etags=await _etags(client, ref, shown))
    if before is not None:
        end = bisect.bisect_left(names, before)
        start = max(0, end - PAGE_SIZE)
    else:
        start = bisect.bisect_right(names, after) if after is not None else 0
    shown = entries[start:start + PAGE_SIZE]
    end = start + len(shown)
    more = scan.truncated
    following = names[end - 1] if shown and (end < len(names) or (more and not contains)) else None
    jumps = [(i // PAGE_SIZE + 1, names[i - 1] if i else None) for i in range(0, len(names), PAGE_SIZE)]
    return FolderPage(shown, following, names[start] if start > 0 and shown else None, start, len(names),
                      more, jumps, await _etags(client, ref, shown))


async def _etags(client: PFS, ref: Ref, shown: list[tuple[str, pb.FileInfo | None]]) -> dict[str, str]:
    return await listetags.stored_etags(client, ref, [(k, info) for k, info in shown if info is not None])


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
    """One commit of a branch's history. (Rows for S3 delete markers and deleted versions can
    join this list as further kinds of row.)"""

    id: str
    time: datetime | None
    description: str
    size: int | None
    change: int | None  # total size change against the parent (None: unknown)
    parent: str | None = None


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
                              c.description, size, change, c.parent_commit.id or None))
    following = infos[COMMITS_PER_PAGE].commit.id if len(infos) > COMMITS_PER_PAGE else None
    return rows, following


async def versions(client: PFS, ref: Ref, head: str, key: str, key_marker: str | None,
                   commit_marker: str | None) -> tuple[list[LogEntry], tuple[str, str] | None]:
    """The PFS commits that wrote the object, newest first, each with what S3 clients see of
    it (gateway.ops.versionlog), a bounded page at a time."""
    rows, nxt = await versionlog.commit_log(client, ref, head, "/" + key, commit_marker,
                                            VERSIONS_PER_PAGE)
    return rows, ((key, nxt) if nxt else None)


@dataclass
class LastChange:
    commit: str | None  # None: not within the commits searched
    time: datetime | None = None
    description: str = ""
    searched: int = 0  # commits looked at


async def last_change(client: PFS, ref: Ref, head: str, key: str) -> LastChange:
    """The commit that last changed ``key`` at or before ``head``: one FindCommits (pfsd answers
    it from an index; pachd walks the commits until it finds one)."""
    found, _ = await client.find_commits(Ref(ref.project, ref.repo, ref.branch, head), "/" + key, 1)
    if not found:
        return LastChange(None)
    info = await client.inspect_commit(Ref(ref.project, ref.repo, ref.branch, found[0]))
    when = info.finished if info.finished.seconds else info.started
    return LastChange(found[0], when.ToDatetime(tzinfo=UTC), info.description)
