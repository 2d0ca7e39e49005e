"""S3 versioning of a bucket: its status (Get/PutBucketVersioning) and ListObjectVersions."""

from __future__ import annotations

from urllib.parse import quote
from xml.etree import ElementTree

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import acls, history, listing, versioning
from gateway.ops.body import UploadBody
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3 import errors
from gateway.s3.xml import document, element, timestamp

MAX_CONFIG_BYTES = 64 * 1024


async def get_bucket_versioning(bucket: str) -> Response:
    """The status stored on the branch (or the deployment's default); none: no Status."""
    ref = read_ref(bucket)
    client = pfs()
    if ref.commit:
        await client.inspect_commit(ref)
        value = await versioning.stored(client, ref) or versioning.default()
    else:
        await client.inspect_branch(ref)
        value = await versioning.status(client, ref)
    parts = [element("Status", value)] if value else []
    return Response(document("VersioningConfiguration", parts), media_type="application/xml")


async def put_bucket_versioning(bucket: str) -> Response:
    """Store Enabled or Suspended on the branch, in one commit of its own."""
    ref = write_ref(bucket)
    body = UploadBody(request())
    data = b""
    async for chunk in body.chunks():
        data += chunk
        if len(data) > MAX_CONFIG_BYTES:
            raise errors.malformed_xml()
    body.verify()
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if root.tag.rsplit("}", 1)[-1] != "VersioningConfiguration":
        raise errors.malformed_xml()
    fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
    if fields.get("MfaDelete") == "Enabled" or request().headers.get("x-amz-mfa"):
        raise errors.not_implemented("MFA delete is not implemented by this gateway.")
    value = fields.get("Status")
    if value not in (versioning.ENABLED, versioning.SUSPENDED):
        raise errors.malformed_xml()
    client = pfs()
    await client.inspect_branch(ref)  # NoSuchBucket (ModifyFile would create the branch)
    commit = await versioning.put_status(client, ref, value)
    return Response(status_code=200, headers={"x-pfs-commit": commit})

async def list_object_versions(bucket: str, prefix: str = "", delimiter: str | None = None,
                               key_marker: str | None = None, version_id_marker: str | None = None,
                               max_keys: int | None = None, encoding_type: str | None = None,
                               versions: str | None = None) -> Response:
    """One page of versions in key order, each key's newest first (see gateway.ops.history)."""
    history.check_markers(key_marker, version_id_marker)
    ref = read_ref(bucket)
    limit = listing.MAX_KEYS if max_keys is None else min(max_keys, listing.MAX_KEYS)
    client = pfs()
    head = ref.commit or (await client.inspect_branch(ref)).head.id
    page = await history.list_versions(client, ref, head, prefix or "", delimiter, key_marker,
                                       version_id_marker, limit)
    enc = (lambda s: quote(s, safe="/")) if encoding_type == "url" else (lambda s: s)
    owner = await acls.owner_element(bucket)
    parts = [element("Name", bucket), element("Prefix", enc(prefix or "")),
             element("KeyMarker", enc(key_marker or "")),
             element("VersionIdMarker", version_id_marker or ""), element("MaxKeys", limit)]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if encoding_type:
        parts.append(element("EncodingType", encoding_type))
    parts.append(element("IsTruncated", page.truncated))
    if page.truncated:
        parts.append(element("NextKeyMarker", enc(page.next_key)))
        if page.next_commit:
            parts.append(element("NextVersionIdMarker", page.next_commit))
    for v in page.versions:
        common = (f"{element('Key', enc(v.key))}{element('VersionId', v.version_id)}"
                  f"{element('IsLatest', v.latest)}{element('LastModified', timestamp(v.last_modified))}")
        if v.marker:
            parts.append(f"<DeleteMarker>{common}{owner}</DeleteMarker>")
        else:
            parts.append(f"<Version>{common}{element('ETag', chr(34) + v.etag + chr(34))}"
                         f"{element('Size', v.info.size_bytes if v.info else 0)}<StorageClass>STANDARD</StorageClass>"
                         f"{owner}</Version>")
    parts += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes]
    return Response(document("ListVersionsResult", parts), media_type="application/xml")
