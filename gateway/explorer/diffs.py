"""What a commit changed, and how a text object changed between two versions: data for templates.

A commit's changes come from comparing two bounded listings (the commit's tree and its
parent's, in key order from the same point): a page reads at most ``DIFF_SCAN`` keys of each
tree, so it costs the same whatever the bucket holds, and pages continue where the shorter
listing stopped. PFS has no per-commit change log that both pfsd and pachd serve (pfsd does
not implement ``DiffFile``), so a commit that changed one key among many may need several pages
to reach it. Only object contents are compared (size and hash): the gateway's hidden metadata is
not shown.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field

from gateway.explorer.pages import head_bytes, preview_kind
from gateway.ops import listing
from gateway.ops.objects import ObjectInfo, etag_of
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from generated.pfs import pfs_pb2 as pb

DIFF_SCAN = 1000  # keys of each tree read by one page of a commit's changes
DIFF_BYTES = 256 * 1024  # of each version compared by a text diff
DIFF_LINES = 4000  # lines of a text diff shown


@dataclass
class Change:
    key: str
    kind: str  # "added", "changed", "removed"
    old: pb.FileInfo | None
    new: pb.FileInfo | None

    @property
    def size_change(self) -> int:
        return (self.new.size_bytes if self.new else 0) - (self.old.size_bytes if self.old else 0)


@dataclass
class CommitChanges:
    commit: pb.CommitInfo
    parent: str | None
    changes: list[Change] = field(default_factory=list)
    next_after: str | None = None  # compare on after this key (None: the whole tree was compared)


def at(ref: Ref, commit: str) -> Ref:
    return Ref(ref.project, ref.repo, ref.branch, commit)


async def commit_changes(client: PFS, ref: Ref, commit: str, after: str | None) -> CommitChanges:
    """The keys ``commit`` added, changed or removed, from ``after`` on (bounded, see above)."""
    info = await client.inspect_commit(at(ref, commit))
    parent = info.parent_commit.id or None
    out = CommitChanges(info, parent)
    new = await listing.list_page(client, at(ref, info.commit.id), "", None, after, DIFF_SCAN)
    old = await listing.list_page(client, at(ref, parent), "", None, after, DIFF_SCAN) if parent else listing.Page()
    # Both listings are complete up to the smaller of their last keys: compare only that far.
    ends = [p.last for p in (new, old) if p.truncated]
    bound = min(ends) if ends else None
    after_files = {k: i for k, i in new.files if bound is None or k <= bound}
    before_files = {k: i for k, i in old.files if bound is None or k <= bound}
    for key in sorted(after_files.keys() | before_files.keys()):
        a, b = after_files.get(key), before_files.get(key)
        if b is None:
            out.changes.append(Change(key, "added", None, a))
        elif a is None:
            out.changes.append(Change(key, "removed", b, None))
        elif a.hash != b.hash or a.size_bytes != b.size_bytes:
            out.changes.append(Change(key, "changed", b, a))
    out.next_after = bound
    return out


@dataclass
class DiffLine:
    kind: str  # "hunk", "add", "del", "ctx"
    text: str


@dataclass
class TextDiff:
    old_commit: str
    new_commit: str
    old_exists: bool
    new_exists: bool
    lines: list[DiffLine] = field(default_factory=list)
    truncated: bool = False  # a version was longer than DIFF_BYTES, or the diff than DIFF_LINES
    diffable: bool = True  # both versions are text, CSV or JSON
    same: bool = False


async def _version_text(client: PFS, ref: Ref, key: str) -> tuple[bool, str, bool, str]:
    """(exists, text, truncated, preview kind) of ``key`` at ``ref``'s commit."""
    try:
        info = await client.inspect_file(ref, "/" + key)
    except NotFound as e:
        if e.kind in ("file", "commit"):
            return False, "", False, "text"
        raise
    obj = ObjectInfo.from_file_info(key, info)
    kind = preview_kind(obj)
    if kind not in ("text", "json", "csv"):
        return True, "", False, kind
    data = await head_bytes(client, ref, key, DIFF_BYTES + 1)
    truncated = len(data) > DIFF_BYTES
    text = data[:DIFF_BYTES].decode("utf-8", errors="replace")
    if kind == "json" and not truncated:
        try:  # compare the documents, not their formatting
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        except ValueError:
            pass
    return True, text, truncated, kind


async def text_diff(client: PFS, ref: Ref, key: str, old_commit: str, new_commit: str) -> TextDiff:
    """A unified diff of ``key`` between two commits (a missing version counts as empty)."""
    old_exists, old, old_cut, old_kind = await _version_text(client, at(ref, old_commit), key)
    new_exists, new, new_cut, new_kind = await _version_text(client, at(ref, new_commit), key)
    out = TextDiff(old_commit, new_commit, old_exists, new_exists, truncated=old_cut or new_cut)
    if old_kind not in ("text", "json", "csv") or new_kind not in ("text", "json", "csv"):
        out.diffable = False
        return out
    if old == new:
        out.same = True
        return out
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3)
    for line in list(lines)[2:]:  # past the "---"/"+++" file header
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "ctx")
        if len(out.lines) == DIFF_LINES:
            out.truncated = True
            break
        out.lines.append(DiffLine(kind, line))
    return out


def etag(info: pb.FileInfo | None) -> str:
    return etag_of(info) if info is not None else ""
