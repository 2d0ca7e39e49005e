"""ListObjectVersions over PFS commit history: a key's versions are the commits that changed it.

A version of a key is a commit of the branch's ancestry in which the key's content changed
(a different hash) and a delete marker one in which it disappeared. PFS keeps no per-key
history, so a page compares consecutive commits' trees: it walks at most
``MAX_COMMITS_PER_PAGE`` commits (newest first, from one ListCommit) and lists the files under
the prefix once per commit. A page therefore costs about ``MAX_COMMITS_PER_PAGE + 2`` listings
of the prefix, whatever ``max-keys`` asks for: narrow prefixes make it cheap.

Order and markers: versions come newest commit first, and by key within a commit (S3 orders
by key first; that would need the whole history for every page). ``version-id-marker`` is a
commit ID and ``key-marker`` the last key returned from it: the next page resumes with that
commit's later keys, then its ancestors. An empty ``key-marker`` with a commit ID starts at
that commit.

IsLatest is exact on a page that starts at the head. On later pages it compares with the
head's hash, so a key that went A, B, A (or was deleted, re-created and deleted again) in
commits of earlier pages may show an older version as latest too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc

from gateway.ops import listing
from gateway.ops.objects import committed_at, etag_of
from gateway.pfs.client import PFS, UNARY_TIMEOUT, Ref
from gateway.pfs.errors import NotFound, from_rpc_error
from gateway.s3 import errors
from gateway.s3.names import is_commit_id
from generated.pfs import pfs_pb2 as pb

MAX_COMMITS_PER_PAGE = 32
_WALK_PAGE = 1000


@dataclass(frozen=True)
class Version:
    key: str
    commit: str
    latest: bool
    last_modified: datetime
    info: pb.FileInfo | None  # None for a delete marker

    @property
    def delete_marker(self) -> bool:
        return self.info is None

    @property
    def etag(self) -> str:
        return etag_of(self.info) if self.info is not None else ""


@dataclass
class VersionPage:
    versions: list[Version] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_key: str = ""
    next_commit: str = ""


async def list_commits(client: PFS, ref: Ref, start: str, number: int) -> list[pb.CommitInfo]:
    """``start`` and its ancestors, newest first, at most ``number`` (one ListCommit)."""
    req = pb.ListCommitRequest(repo=ref.repo_pb(), number=number,
                               to=Ref(ref.project, ref.repo, ref.branch, start).commit_pb())
    try:
        return [c async for c in client.api.ListCommit(req, timeout=UNARY_TIMEOUT)]
    except grpc.aio.AioRpcError as e:
        raise from_rpc_error(e) from None


Snapshot = dict[str, tuple[bytes, pb.FileInfo]]  # key -> (content hash, file)


async def snapshot(client: PFS, ref: Ref, commit: str, prefix: str) -> Snapshot:
    """Every visible file under ``prefix`` at ``commit``, by key (paged WalkFiles)."""
    at = Ref(ref.project, ref.repo, ref.branch, commit)
    out: Snapshot = {}
    after = None
    while True:
        page = await listing.list_page(client, at, prefix, None, after, _WALK_PAGE)
        out.update((key, (info.hash, info)) for key, info in page.files)
        if not page.truncated:
            return out
        after = page.last


def _changed(current: Snapshot, parent: Snapshot) -> list[str]:
    """The keys whose content differs between two snapshots, sorted (a commit changes few)."""
    keys = [k for k, (h, _) in current.items() if (p := parent.get(k)) is None or p[0] != h]
    keys += parent.keys() - current.keys()
    return sorted(keys)


def _finished(info: pb.CommitInfo) -> datetime:
    for ts in (info.finished, info.started):
        if ts.seconds or ts.nanos:
            return ts.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


def check_markers(key_marker: str | None, version_marker: str | None) -> None:
    if version_marker is None:
        return
    if key_marker is None:
        raise errors.invalid_argument("A version-id marker cannot be specified without a key "
                                      "marker.", "version-id-marker", version_marker)
    if not is_commit_id(version_marker):
        raise errors.invalid_argument("Invalid version id specified", "version-id-marker",
                                      version_marker)


async def list_versions(client: PFS, ref: Ref, head: str, prefix: str, delimiter: str | None,
                        key_marker: str | None, version_marker: str | None,
                        max_keys: int) -> VersionPage:
    """One page of versions under ``prefix``, from ``version_marker`` (or ``head``) backwards."""
    check_markers(key_marker, version_marker)
    page = VersionPage()
    start = version_marker or head
    try:
        commits = await list_commits(client, ref, start, MAX_COMMITS_PER_PAGE + 1)
    except NotFound as e:
        if version_marker and e.kind == "commit":
            raise errors.invalid_argument("Invalid version id specified", "version-id-marker",
                                          version_marker) from None
        raise
    if max_keys <= 0 or not commits:
        return page
    newer: set[str] = set()  # keys with a version newer than the commit being compared
    at_head = start == head
    head_files = None if at_head else await snapshot(client, ref, head, prefix)
    current = await snapshot(client, ref, commits[0].commit.id, prefix)
    if at_head:
        head_files = current
    count = 0
    for i, info in enumerate(commits[:MAX_COMMITS_PER_PAGE]):
        commit = info.commit.id
        parent = (await snapshot(client, ref, commits[i + 1].commit.id, prefix)
                  if i + 1 < len(commits) else {})
        skip_to = key_marker if (i == 0 or version_marker is None) else None
        for key in _changed(current, parent):
            now = current[key][1] if key in current else None
            if skip_to is not None and key <= skip_to:
                newer.add(key)
                continue
            if count == max_keys:
                page.truncated = True  # resume after the last version returned
                return page
            common = _common_prefix(key, prefix, delimiter)
            if common is not None:
                if common not in page.prefixes:
                    page.prefixes.append(common)
                    count += 1
            else:
                at = head_files.get(key)
                if now is not None:
                    latest = key not in newer and at is not None and at[0] == current[key][0]
                    page.versions.append(Version(key, commit, latest, committed_at(now), now))
                else:
                    latest = key not in newer and at is None
                    page.versions.append(Version(key, commit, latest, _finished(info), None))
                count += 1
            newer.add(key)
            page.next_key, page.next_commit = key, commit
        current = parent
    if len(commits) > MAX_COMMITS_PER_PAGE:
        # the commit budget ran out: resume at the next unvisited commit, from its first key
        page.truncated, page.next_key, page.next_commit = True, "", commits[-1].commit.id
    return page


def _common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    if delimiter != "/":
        return None
    cut = key.find("/", len(prefix))
    return key[:cut + 1] if cut >= 0 else None
