"""The ETags a listing page shows for objects whose ETag is not their content's MD5.

A listing's ETag comes from PFS's file hash (the content MD5), which is the S3 ETag of every
object but a multipart one (``<md5 of part md5s>-<parts>``, kept in the object's metadata
sidecar, :mod:`gateway.pfs.metadata`). S3 lists the same ETag GET and HEAD return, and clients
rely on it: s3fs, under pandas, reads a file it found by listing with ``If-Match: <listed
ETag>``. So a page with objects that can be multipart reads their sidecars: one by one when
they are few among the page's keys (a one-entry ListFile each, or the metadata cache), else
in one bounded walk of the hidden tree over their key range (~17 us per sidecar entry in
process, measured: about the cost of the page itself). A page without one pays nothing.

Every part of a multipart upload but the last has at least 5 MiB, so an object of two or more
parts is bigger than that; an upload of one part can be smaller and is then listed with its
content MD5 (the one case left, see docs/s3-compatibility.md).
"""

from __future__ import annotations

import asyncio

from gateway.ops import listing
from gateway.pfs import metadata
from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from generated.pfs import pfs_pb2 as pb

MULTIPART_MIN = 5 * 1024 * 1024  # an object of two or more parts is bigger than this
_BATCH = 256
SPARSE = 8  # one read per candidate while they are at most 1 in SPARSE of the range's keys


async def stored_etags(pfs: PFS, ref: Ref, files: list[tuple[str, pb.FileInfo]]) -> dict[str, str]:
    """``{key: ETag}`` for the keys of ``files`` whose sidecar names an ETag of its own."""
    at = [i for i, (_, info) in enumerate(files) if info.size_bytes > MULTIPART_MIN]
    if not at:
        return {}
    big = [files[i][0] for i in at]
    if len(at) * SPARSE <= at[-1] - at[0] + 1:
        metas = await asyncio.gather(*(metadata.read(pfs, ref, "/" + key) for key in big))
        return {key: meta.etag for key, meta in zip(big, metas, strict=True) if meta.etag}
    first, last = big[0], big[-1]
    directory = first[: first.rfind("/") + 1]
    while not last.startswith(directory):  # the deepest directory holding both
        directory = directory[: directory[:-1].rfind("/") + 1]
    wanted = set(big)
    until = f"{metadata.META_DIR}/{last}/{listing.TOP}"
    cursor: str | None = f"{metadata.META_DIR}/{first}"  # sorts just before the first key's sidecar dir
    out: dict[str, str] = {}
    while True:
        try:
            batch = await file_pages.walk_file(pfs, ref, f"{metadata.META_DIR}/{directory}", cursor, _BATCH, until)
        except NotFound:
            return out  # no sidecars under that directory
        for info in batch:
            path = info.file.path
            if info.file_type == pb.FileType.DIR:
                continue
            key, _, name = path[len(metadata.META_DIR) + 1:].rpartition("/")
            if key in wanted and name != metadata.PARTS_FILE:
                try:
                    etag = metadata.ObjectMeta.decode(name).etag
                except ValueError:
                    continue
                if etag:
                    out[key] = etag
        if len(batch) < _BATCH:
            return out
        cursor = batch[-1].file.path
