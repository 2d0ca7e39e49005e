"""What an object's metadata sidecar says at a commit, remembered so a read costs no RPC.

A finished commit never changes, so the metadata at (project, repo, commit ID, path) can be
cached forever: a moved head is simply a new key, nothing is ever invalidated, and gateway
copies cannot disagree. The cache is a bounded LRU, filled by reads and by the writes of this
gateway (a PUT knows what it wrote in the commit it made).

Only pfsd's commits are known to be finished when read or written (a pachd head may be an open
commit), so against pachd nothing is cached. pfsd leaves a commit open only when a client other
than the gateway opened it (StartCommit); such a commit shows itself when a ModifyFile writes
into a commit the cache already holds (pfsd gives every other stream a new commit): its entries
are dropped and it is never cached again.
"""

from __future__ import annotations

from collections import OrderedDict

from gateway.pfs import client as pfs_module
from gateway.pfs.client import PFS, Ref
from gateway.pfs.metadata import ObjectMeta, read
from gateway.pfs.metadata import from_page as from_page_entries

Key = tuple[str, str, str, str]  # project, repo, commit ID, path
CommitKey = tuple[str, str, str]  # project, repo, commit ID

EMPTY = ObjectMeta()  # the one entry for every object without metadata
MAX_OPEN = 1024  # open commits remembered as such (they are rare: a bound, not a working set)


class MetaCache:
    """(project, repo, commit ID, path) -> ObjectMeta, least recently used first out.

    What it returns is shared between requests: read it, never change it. Bounded by an
    estimate of the bytes it holds, so a burst of keys with 2 KB of metadata each cannot grow
    the gateway past its memory budget.
    """

    ENTRY_OVERHEAD = 400  # bytes: the key tuple, its strings, the dict slot, the meta object

    def __init__(self, max_bytes: int = 4 << 20) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Key, tuple[ObjectMeta, int]] = OrderedDict()
        self._commits: dict[CommitKey, int] = {}  # entries per commit
        self._open: set[CommitKey] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._commits.clear()
        self._open.clear()
        self.bytes = 0

    def get(self, key: Key) -> ObjectMeta | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        self._entries.move_to_end(key)
        return hit[0]

    def put(self, key: Key, meta: ObjectMeta) -> None:
        commit = key[:3]
        if commit in self._open:
            return
        cost = self.ENTRY_OVERHEAD + len(key[1]) + len(key[3])
        if not meta.empty():
            cost += 2 * len(meta.encode())  # the decoded dicts hold about twice the encoded text
        old = self._entries.pop(key, None)
        if old is None:
            self._commits[commit] = self._commits.get(commit, 0) + 1
        else:
            self.bytes -= old[1]
        self._entries[key] = (EMPTY if meta.empty() else meta, cost)
        self.bytes += cost
        while self.bytes > self.max_bytes and self._entries:
            evicted, (_, freed) = self._entries.popitem(last=False)
            self.bytes -= freed
            self._uncount(evicted[:3])

    def written(self, commit: CommitKey) -> None:
        """A ModifyFile wrote ``commit``: if entries of it are held, it is open (see above)."""
        if commit not in self._commits:
            return
        if len(self._open) >= MAX_OPEN:
            self._open.clear()
        self._open.add(commit)
        for key in [k for k in self._entries if k[:3] == commit]:
            _, freed = self._entries.pop(key)
            self.bytes -= freed
        del self._commits[commit]

    def _uncount(self, commit: CommitKey) -> None:
        left = self._commits[commit] - 1
        if left:
            self._commits[commit] = left
        else:
            del self._commits[commit]


CACHE = MetaCache()


def _written(ref: Ref, commit: str) -> None:
    CACHE.written((ref.project, ref.repo, commit))


pfs_module.COMMIT_HOOKS.append(_written)


def cached(pfs: PFS, ref: Ref, commit: str, path: str) -> ObjectMeta | None:
    """The object's metadata at ``commit`` if this gateway already knows it."""
    if not commit or not pfs.is_pfsd:
        return None
    return CACHE.get((ref.project, ref.repo, commit, path))


def remember(pfs: PFS, ref: Ref, commit: str, path: str, meta: ObjectMeta | None) -> None:
    """Record the object's metadata at ``commit`` (read there, or just written in it)."""
    if commit and pfs.is_pfsd:  # pfsd: that commit is finished
        CACHE.put((ref.project, ref.repo, commit, path), meta or EMPTY)


def from_page(pfs: PFS, ref: Ref, commit: str, path: str, page: list | None) -> ObjectMeta | None:
    """The object's metadata at ``commit`` from the cache, else from a page of its sidecar that
    came with a GetFile (remembered); None when neither has it."""
    meta = cached(pfs, ref, commit, path)
    if meta is None and page is not None:
        meta = from_page_entries(page)
        remember(pfs, ref, commit, path, meta)
    return meta


async def read_at(pfs: PFS, ref: Ref, commit: str, path: str) -> ObjectMeta:
    """The object's metadata at ``commit`` (resolved: an ID), from the cache or one ListFile."""
    meta = cached(pfs, ref, commit, path)
    if meta is None:
        meta = await read(pfs, Ref(ref.project, ref.repo, ref.branch, commit), path)
        remember(pfs, ref, commit, path, meta)
    return meta
