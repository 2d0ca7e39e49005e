"""Checksums of multipart uploads: each part's, kept in staging, and the object's, made on Complete.

An upload created with ``x-amz-checksum-algorithm`` records ``[algorithm, "", type]`` in its
metadata (see :mod:`gateway.ops.multipart`). Every part written to it then has its checksum
computed (and checked, when the request sends one) and kept beside it, in the part's commit::

    /.s3g/uploads/<branch>/data/<uploadId>/sums/<00001>/<ALGORITHM>.<base64url(digest)>  empty

(a directory per part, so writing a part again replaces its checksum with one DeleteFile).
An upload created without an algorithm keeps the CRC a part is sent with (the AWS SDK for C++,
and so pyarrow, trails a CRC64NVME on every part): when every part of the completed object has
one of the same algorithm, the object gets their FULL_OBJECT combination, as S3 gives such
uploads a whole-object CRC.
CompleteMultipartUpload checks the checksums the client lists against these, then computes the
object's (:mod:`gateway.s3.mpchecksums`) without reading any byte again, and the object's
metadata keeps it, with the parts' checksums in the sidecar's parts file.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from xml.etree import ElementTree

from gateway.ops.multipart import Layout, Part
from gateway.pfs.client import PFS, Ref, add_file, delete_file
from gateway.pfs.errors import NotFound
from gateway.s3 import checksums, errors, mpchecksums
from gateway.s3.mpchecksums import COMPOSITE, b64
from generated.pfs import pfs_pb2 as pb

PAGE = 1000


def sums_dir(layout: Layout, upload_id: str) -> str:
    return layout.upload_dir(upload_id) + "sums/"


def part_dir(layout: Layout, upload_id: str, number: int) -> str:
    return f"{sums_dir(layout, upload_id)}{number:05d}/"


def write_ops(layout: Layout, upload_id: str, number: int, algorithm: str,
              digest: bytes) -> list[pb.ModifyFileRequest]:
    """Replace part ``number``'s checksum (to go in the part's commit)."""
    name = algorithm + "." + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return [delete_file(part_dir(layout, upload_id, number)),
            add_file(part_dir(layout, upload_id, number) + name, b"")]


def algorithm_of(upload: list[str]) -> str | None:
    """The algorithm an upload was created with (its metadata's ``checksum``), or None."""
    return upload[0] if len(upload) == 3 else None


def kept_algorithm(upload: list[str], sent: str | None) -> str | None:
    """The checksum a part of the upload keeps: the upload's, else a CRC the part was sent with."""
    return algorithm_of(upload) or (sent if sent in mpchecksums.CRCS else None)


def check_part_algorithm(upload: list[str], sent: str | None) -> None:
    """A part must carry the upload's algorithm, if it carries one."""
    expected = algorithm_of(upload)
    if expected is not None and sent is not None and sent != expected:
        raise errors.invalid_request(f"Checksum Type mismatch occurred, expected checksum Type: "
                                     f"{expected.lower()}, actual checksum Type: {sent.lower()}")


async def part_sums(client: PFS, staging: Ref, layout: Layout, upload_id: str, after: int = 0,
                    until: int | None = None) -> dict[int, tuple[str, bytes]]:
    """The part checksums numbered above ``after`` (up to ``until``): number -> (algorithm, digest)."""
    root = sums_dir(layout, upload_id)
    marker = f"{root}{after:05d}/~" if after > 0 else None
    out: dict[int, bytes] = {}
    while True:
        try:
            page = await client.walk_file(staging, root, marker, PAGE)
        except NotFound:
            return out
        for info in page:
            path = info.file.path
            marker = path
            if info.file_type != pb.FileType.FILE:
                continue
            number, _, name = path[len(root):].lstrip("/").partition("/")
            if not number.isdigit():
                continue
            if until is not None and int(number) > until:
                return out
            algorithm, _, value = name.partition(".")
            out[int(number)] = algorithm, base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(page) < PAGE:
            return out


def parse_requested(body: bytes) -> dict[int, dict[str, str]]:
    """The ``Checksum<ALG>`` values a CompleteMultipartUpload document lists, by part number
    (the document was checked by :func:`gateway.ops.multipart.parse_complete`)."""
    out: dict[int, dict[str, str]] = {}
    for part in ElementTree.fromstring(body):
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in part}
        sums = {name[len("Checksum"):]: value for name, value in fields.items()
                if name.startswith("Checksum") and name[len("Checksum"):] in checksums.ALGORITHMS}
        if sums and fields.get("PartNumber", "").isdigit():
            out[int(fields["PartNumber"])] = sums
    return out


def implied(chosen: list[Part], stored: dict[int, tuple[str, bytes]]) -> list[str]:
    """For an upload created without an algorithm: ``[CRC, "", FULL_OBJECT]`` when every chosen
    part was sent with a CRC of one algorithm, else ``[]`` (the object gets no checksum)."""
    found = {stored[p.number][0] if p.number in stored else None for p in chosen}
    if len(found) != 1 or None in found:
        return []
    return [found.pop(), "", mpchecksums.FULL_OBJECT]


def settle(upload: list[str], chosen: list[Part], stored: dict[int, tuple[str, bytes]],
           requested: dict[int, dict[str, str]], headers: Mapping[str, str]) -> tuple[list, bytes]:
    """The object's ``[algorithm, value, type]`` and its parts file, once every check holds:
    each part checksum the client lists matches (else InvalidPart); a COMPOSITE upload needs one
    for every part (InvalidRequest); a type or whole-object value sent on Complete must match
    (BadDigest)."""
    algorithm, _, kind = upload
    sent_type = headers.get("x-amz-checksum-type")
    if sent_type is not None and sent_type.strip().upper() != kind:
        raise errors.bad_digest(f"The upload was created using the {kind} checksum mode. The "
                                f"complete request must use the same checksum mode.")
    digests = []
    for part in chosen:
        algorithm_and_digest = stored.get(part.number)
        digest = algorithm_and_digest[1] if algorithm_and_digest and algorithm_and_digest[0] == algorithm else None
        listed = requested.get(part.number, {})
        value = listed.get(algorithm)
        if digest is None or any(a != algorithm for a in listed) or (
                value is not None and value != b64(digest)):
            raise errors.invalid_part(part.number, part.etag)
        if value is None and kind == COMPOSITE:
            raise errors.invalid_request(f"The upload was created using a {algorithm.lower()} "
                                         f"checksum. The complete request must include the checksum "
                                         f"for each part. It was missing for part {part.number} in "
                                         f"the request.")
        digests.append(digest)
    if kind == COMPOSITE:
        value = mpchecksums.composite(algorithm, digests)
    else:
        value = mpchecksums.full_object(algorithm, [(d, p.size) for d, p in zip(digests, chosen, strict=True)])
    for other in checksums.ALGORITHMS:
        sent = headers.get(checksums.checksum_header(other))
        if sent is None:
            continue
        if other != algorithm or sent.strip() not in (value, value.split("-")[0]):
            raise errors.bad_digest(f"The {other} you specified did not match the calculated "
                                    "checksum.")
    parts = json.dumps([[b64(d), p.size] for d, p in zip(digests, chosen, strict=True)],
                       separators=(",", ":")).encode()
    return [algorithm, value, kind, sum(p.size for p in chosen), ""], parts
