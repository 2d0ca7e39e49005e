"""Folder markers: the zero-byte objects ``mkdir`` tools PUT at keys ending in ``/``.

PFS has no empty directories, and a file cannot sit at a directory's path, so a marker lives
in the gateway's hidden tree (``/.s3g/folders/``, see :func:`gateway.s3.names.folder_path`),
written, replaced and deleted in one commit like any object; the PFS view of the real files
is untouched. As in S3, a marker stays until it is deleted itself: objects put under it or
deleted from it do not change it, and deleting it leaves them alone.

Listings merge the markers into the keys: the marker tree mirrors the key tree (one hidden
directory per folder that holds markers), so a page asks it for what the page could hold,
exactly as it asks the real tree, never for all the bucket's markers.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.pfs import pages as file_pages
from gateway.pfs.client import PFS, Ref
from gateway.pfs.errors import NotFound
from gateway.s3 import errors
from gateway.s3.names import folder_dir, folder_key, folder_path
from generated.pfs import pfs_pb2 as pb

_DIR = pb.FileType.DIR


def not_empty(key: str) -> errors.S3Error:
    return errors.invalid_argument(
        "A key ending in '/' is a folder marker and must be empty (0 bytes): PFS cannot store "
        "a file at a directory's path. Drop the trailing '/' to store these bytes.", "key", key)


def refuse_declared_body(headers: Mapping[str, str], key: str) -> None:
    """Refuse a folder PUT that announces a body before reading it (the stream checks too)."""
    for name in ("x-amz-decoded-content-length", "content-length"):
        value = headers.get(name)
        if value is not None:
            if value.strip().isdigit() and int(value) > 0:
                raise not_empty(key)
            return  # the decoded length decides for aws-chunked bodies


def _mapped(cursor: str | None) -> str | None:
    return folder_path(cursor) if cursor else None


async def list_markers(pfs: PFS, ref: Ref, directory: str, cursor: str | None, number: int,
                       until: str | None) -> list[tuple[str, pb.FileInfo | None]]:
    """The markers and folders one directory listing (delimiter ``/``) shows, after ``cursor``.

    ``directory`` is the listed key directory ("" or ending in ``/``). Each entry is
    ``(key, info)``: the directory's own marker (a key, with its FileInfo), or a folder under
    it that holds markers (a common prefix ending in ``/``, info None).
    """
    try:
        batch = await file_pages.list_file(pfs, ref, folder_dir(directory), _mapped(cursor), number,
                                           _mapped(until))
    except NotFound as e:
        if e.kind in ("file", None):
            return []
        raise
    out: list[tuple[str, pb.FileInfo | None]] = []
    for info in batch:
        key = folder_key(info.file.path)
        if key is not None:
            out.append((key, None if info.file_type == _DIR else info))
    return out


async def walk_markers(pfs: PFS, ref: Ref, directory: str, cursor: str | None, number: int,
                       until: str | None) -> list[tuple[str, pb.FileInfo]]:
    """Up to ``number`` marker keys under ``directory``, in key order, after ``cursor`` and
    before ``until`` (the walk also meets the tree's directories: it goes on past them)."""
    start = folder_dir(directory)
    after = _mapped(cursor)
    end = _mapped(until)
    out: list[tuple[str, pb.FileInfo]] = []
    while len(out) < number:
        try:
            batch = await file_pages.walk_file(pfs, ref, start, after, number, end)
        except NotFound as e:
            if e.kind in ("file", None):
                return out
            raise
        for info in batch:
            if info.file_type != _DIR:
                key = folder_key(info.file.path)
                if key is not None:
                    out.append((key, info))
        if len(batch) < number:
            break
        after = batch[-1].file.path
    return out[:number]
