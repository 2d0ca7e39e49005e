"""S3 operations on a bucket, a PFS branch: create, head, delete, list."""

from __future__ import annotations

from urllib.parse import quote
from xml.etree import ElementTree

from starlette.responses import Response

from gateway import errors, listing
from gateway.context import pfs, request
from gateway.objects import committed_at, etag_of
from gateway.pfs_errors import AlreadyExists, NotFound
from gateway.refs import read_ref, write_ref
from gateway.xml import document, element, timestamp

MAX_CONFIG_BYTES = 64 * 1024


async def create_bucket(Bucket: str) -> Response:
    """Create the repo (and project) if missing, then the branch."""
    ref = write_ref(Bucket)
    await _check_configuration()
    client = pfs()
    try:
        await client.inspect_branch(ref)
        raise errors.bucket_already_owned_by_you(Bucket)
    except NotFound:
        pass
    if ref.project != "default":
        try:
            await client.create_project(ref.project)
        except AlreadyExists:
            pass
    try:
        await client.create_repo(ref)
    except AlreadyExists:
        pass
    try:
        await client.create_branch(ref)
    except AlreadyExists:
        raise errors.bucket_already_owned_by_you(Bucket) from None
    return Response(status_code=200, headers={"Location": f"/{Bucket}"})


async def _check_configuration() -> None:
    """Accept a CreateBucketConfiguration body (any region); refuse what is not one."""
    body = b""
    async for chunk in request().stream():
        body += chunk
        if len(body) > MAX_CONFIG_BYTES:
            raise errors.malformed_xml()
    if not body.strip():
        return
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml() from None
    if root.tag.rsplit("}", 1)[-1] != "CreateBucketConfiguration":
        raise errors.malformed_xml()


async def head_bucket(Bucket: str) -> Response:
    """200 if the branch exists; one InspectBranch (or InspectCommit when pinned)."""
    ref = read_ref(Bucket)
    if ref.commit:
        await pfs().inspect_commit(ref)
    else:
        await pfs().inspect_branch(ref)
    return Response(status_code=200, headers={"x-amz-bucket-region": "us-east-1"})


async def delete_bucket(Bucket: str) -> Response:
    """Delete the branch, and its repo when no branch is left; refuse a non-empty bucket."""
    ref = write_ref(Bucket)
    client = pfs()
    await client.inspect_branch(ref)
    page = await listing.list_page(client, ref, "", None, None, 1)
    if page.files:
        raise errors.bucket_not_empty(Bucket)
    await client.delete_branch(ref)
    repo = await client.inspect_repo(ref)
    if not repo.branches:
        await client.delete_repo(ref)
    return Response(status_code=204)


async def list_objects(Bucket: str, prefix: str = "", delimiter: str | None = None,
                       marker: str | None = None, max_keys: int | None = None,
                       encoding_type: str | None = None) -> Response:
    """ListObjects (version 1): one page of keys and common prefixes."""
    listing.check_delimiter(delimiter)
    ref = read_ref(Bucket)
    limit = listing.MAX_KEYS if max_keys is None else min(max_keys, listing.MAX_KEYS)
    if not ref.commit:
        await pfs().inspect_branch(ref)  # NoSuchBucket rather than an empty page
    page = await listing.list_page(pfs(), ref, prefix or "", delimiter, marker, limit)
    enc = (lambda s: quote(s, safe="/")) if encoding_type == "url" else (lambda s: s)
    parts = [element("Name", Bucket), element("Prefix", enc(prefix or "")),
             element("Marker", enc(marker or "")), element("MaxKeys", limit)]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if encoding_type:
        parts.append(element("EncodingType", encoding_type))
    parts.append(element("IsTruncated", page.truncated))
    if page.truncated and delimiter:
        parts.append(element("NextMarker", enc(page.last)))
    parts += [_content(enc(key), info) for key, info in page.files]
    parts += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes]
    return Response(document("ListBucketResult", parts), media_type="application/xml")


def _content(key: str, info) -> str:
    return (f"<Contents>{element('Key', key)}"
            f"{element('LastModified', timestamp(committed_at(info)))}"
            f"{element('ETag', chr(34) + etag_of(info) + chr(34))}"
            f"{element('Size', info.size_bytes)}<StorageClass>STANDARD</StorageClass></Contents>")
