"""ListObjectVersions: the versions of a bucket's keys, read from its branch's commit history."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from gateway.context import pfs
from gateway.ops import history, listing
from gateway.pfs.refs import read_ref
from gateway.s3.xml import document, element, timestamp

OWNER = "<Owner><ID>pachyderm</ID><DisplayName>pachyderm</DisplayName></Owner>"


async def list_object_versions(bucket: str, prefix: str = "", delimiter: str | None = None,
                               key_marker: str | None = None, version_id_marker: str | None = None,
                               max_keys: int | None = None, encoding_type: str | None = None,
                               versions: str | None = None) -> Response:
    """One page: at most ``history.MAX_COMMITS_PER_PAGE`` commits compared, newest first."""
    listing.check_delimiter(delimiter)
    history.check_markers(key_marker, version_id_marker)
    ref = read_ref(bucket)
    limit = listing.MAX_KEYS if max_keys is None else min(max_keys, listing.MAX_KEYS)
    client = pfs()
    head = ref.commit or (await client.inspect_branch(ref)).head.id
    page = await history.list_versions(client, ref, head, prefix or "", delimiter, key_marker,
                                       version_id_marker, limit)
    enc = (lambda s: quote(s, safe="/")) if encoding_type == "url" else (lambda s: s)
    parts = [element("Name", bucket), element("Prefix", enc(prefix or "")),
             element("KeyMarker", enc(key_marker or "")),
             element("VersionIdMarker", version_id_marker or ""), element("MaxKeys", limit)]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if encoding_type:
        parts.append(element("EncodingType", encoding_type))
    parts.append(element("IsTruncated", page.truncated))
    if page.truncated:
        parts += [element("NextKeyMarker", enc(page.next_key)),
                  element("NextVersionIdMarker", page.next_commit)]
    for v in page.versions:
        common = (f"{element('Key', enc(v.key))}{element('VersionId', v.commit)}"
                  f"{element('IsLatest', v.latest)}{element('LastModified', timestamp(v.last_modified))}")
        if v.delete_marker:
            parts.append(f"<DeleteMarker>{common}{OWNER}</DeleteMarker>")
        else:
            parts.append(f"<Version>{common}{element('ETag', chr(34) + v.etag + chr(34))}"
                         f"{element('Size', v.info.size_bytes)}<StorageClass>STANDARD</StorageClass>"
                         f"{OWNER}</Version>")
    parts += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes]
    return Response(document("ListVersionsResult", parts), media_type="application/xml")
