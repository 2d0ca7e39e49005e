"""GetObjectAttributes: an object's ETag, checksum, size, storage class and (multipart) parts in one call."""

from __future__ import annotations

from email.utils import format_datetime

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import versions
from gateway.ops.objects import ObjectInfo, current_object, part_sizes
from gateway.pfs import metadata
from gateway.pfs.client import Ref
from gateway.pfs.refs import read_ref
from gateway.s3 import errors
from gateway.s3.names import object_path
from gateway.s3.xml import document, element

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def _int_header(name: str, default: int) -> int:
    value = request().headers.get(name)
    if value is None:
        return default
    if not value.strip().isdigit():
        raise errors.invalid_argument(f"Invalid {name} value", name, value)
    return int(value)


async def get_object_attributes(bucket: str, key: str, version_id: str | None = None,
                                **_params: str) -> Response:
    headers = request().headers
    wanted = {a.strip() for a in headers.get("x-amz-object-attributes", "").split(",") if a.strip()}
    if not wanted or not wanted <= set(ATTRIBUTES):
        raise errors.invalid_argument("Invalid attribute name specified.", "x-amz-object-attributes",
                                      headers.get("x-amz-object-attributes", ""))
    max_parts = min(_int_header("x-amz-max-parts", MAX_PARTS), MAX_PARTS)
    marker = _int_header("x-amz-part-number-marker", 0)
    client = pfs()
    path = object_path(key)  # a folder marker is an object too
    ref = await versions.target(client, read_ref(bucket), key, path, version_id)
    info, meta = await current_object(client, ref, path, key)
    obj = ObjectInfo.from_file_info(key, info, meta)
    out = []
    if "ETag" in wanted:
        out.append(element("ETag", obj.etag))  # without quotes, as S3 writes it here
    current = obj.checksum()
    if "Checksum" in wanted and current is not None:
        algorithm, value, kind = current
        # the composite value without its "-<parts>" suffix, as S3 writes it here
        out.append(f"<Checksum>{element('Checksum' + algorithm, value.split('-')[0])}"
                   f"{element('ChecksumType', kind)}</Checksum>")
    if "ObjectParts" in wanted and meta.parts:  # only multipart objects have parts to list
        sizes = part_sizes(meta.parts)
        page = list(enumerate(sizes, 1))[marker:marker + max_parts]
        sums: list[list] = []
        if meta.part_checksums and current is not None and page:
            pinned = Ref(ref.project, ref.repo, ref.branch, obj.commit or ref.commit)
            sums = await metadata.read_parts(client, pinned, path)
        algorithm = meta.checksum[0] if sums else ""
        truncated = marker + len(page) < len(sizes)
        body = [element("PartsCount", len(sizes)), element("PartNumberMarker", marker),
                element("NextPartNumberMarker", page[-1][0] if page else marker),
                element("MaxParts", max_parts), element("IsTruncated", truncated)]
        body += [f"<Part>{element('PartNumber', n)}{element('Size', size)}"
                 f"{element('Checksum' + algorithm, sums[n - 1][0]) if n <= len(sums) else ''}</Part>"
                 for n, size in page]
        out.append(f"<ObjectParts>{''.join(body)}</ObjectParts>")
    if "StorageClass" in wanted:
        out.append(element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        out.append(element("ObjectSize", obj.size))
    response_headers = {
        "Last-Modified": format_datetime(obj.last_modified.replace(microsecond=0), usegmt=True)}
    response_headers.update(await versions.read_headers(client, ref, path, meta, obj.commit, version_id))
    return Response(document("GetObjectAttributesResponse", out), media_type="application/xml",
                    headers=response_headers)
