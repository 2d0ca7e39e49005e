"""S3 operations on a bucket, a PFS branch: create, head, delete, list."""

from __future__ import annotations

from urllib.parse import quote
from xml.etree import ElementTree

from starlette.responses import Response

from gateway.context import pfs, request
from gateway.ops import acls, listetags, listing, multipart, versioning
from gateway.pfs.client import Ref
from gateway.pfs.errors import AlreadyExists, ConditionFailed, NotFound
from gateway.pfs.refs import read_ref, write_ref
from gateway.s3 import errors
from gateway.s3.names import RESERVED_BRANCH
from gateway.s3.xml import document, element

MAX_CONFIG_BYTES = 64 * 1024


async def create_bucket(bucket: str) -> Response:
    """Create the repo (and project) if missing, then the branch (its first commit holding the
    bucket's owner and ownership controls when keys are configured)."""
    ref = write_ref(bucket)
    documents = acls.creation_documents(request().headers)  # owner, ownership controls, ACL
    await _check_configuration()
    client = pfs()
    try:
        await client.inspect_branch(ref)
        raise await acls.already_exists(bucket)
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
        if documents:
            await acls.create_branch_with(bucket, documents)
        else:
            await client.create_branch(ref, f"CreateBucket {bucket}")
    except (AlreadyExists, ConditionFailed):
        raise await acls.already_exists(bucket) from None
    versioning.created(ref)  # a new branch holds no status: its first writes need not ask
    return Response(status_code=200, headers={"Location": f"/{bucket}"})


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


async def head_bucket(bucket: str) -> Response:
    """200 if the branch exists; one InspectBranch (or InspectCommit when pinned)."""
    ref = read_ref(bucket)
    if ref.commit:
        await pfs().inspect_commit(ref)
    else:
        await pfs().inspect_branch(ref)
    return Response(status_code=200, headers={"x-amz-bucket-region": "us-east-1"})


async def delete_bucket(bucket: str) -> Response:
    """Delete the branch, and its repo when no branch is left; refuse a non-empty bucket."""
    ref = write_ref(bucket)
    client = pfs()
    await client.inspect_branch(ref)
    page = await listing.list_page(client, ref, "", None, None, 1)
    if page.files:
        raise errors.bucket_not_empty(bucket)
    await client.delete_branch(ref)
    repo = await client.inspect_repo(ref)
    if all(b.name == RESERVED_BRANCH for b in repo.branches):
        await client.delete_repo(ref)  # the last bucket: uploads still staged go with the repo
    else:
        await multipart.forget_branch(client, ref)  # a bucket made again must not inherit them
    return Response(status_code=204)


async def list_objects(bucket: str, prefix: str = "", delimiter: str | None = None,
                       marker: str | None = None, max_keys: int | None = None,
                       encoding_type: str | None = None) -> Response:
    """ListObjects (version 1): one page of keys and common prefixes."""
    ref = read_ref(bucket)
    limit = listing.MAX_KEYS if max_keys is None else min(max_keys, listing.MAX_KEYS)
    page = await _page(ref, prefix or "", delimiter, marker, limit)
    enc = (lambda s: quote(s, safe="/")) if encoding_type == "url" else (lambda s: s)
    parts = [element("Name", bucket), element("Prefix", enc(prefix or "")),
             element("Marker", enc(marker or "")), element("MaxKeys", limit)]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if encoding_type:
        parts.append(element("EncodingType", encoding_type))
    parts.append(element("IsTruncated", page.truncated))
    if page.truncated and delimiter:
        parts.append(element("NextMarker", enc(page.last)))
    etags = await listetags.stored_etags(pfs(), ref, page.files)
    parts += listing.render_contents(page.files, enc, etags=etags)
    parts += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes]
    return Response(document("ListBucketResult", parts), media_type="application/xml")


async def _page(ref: Ref, prefix: str, delimiter: str | None, after: str | None,
                limit: int) -> listing.Page:
    """One listing page; NoSuchBucket rather than an empty page for a missing branch (the
    listing's own PFS call usually tells, else one InspectBranch does)."""
    page = await listing.list_page(pfs(), ref, prefix, delimiter, after, limit)
    if not page.found and not ref.commit:
        await pfs().inspect_branch(ref)
    return page


async def list_objects_v2(bucket: str, prefix: str = "", delimiter: str | None = None,
                          max_keys: int | None = None, encoding_type: str | None = None,
                          continuation_token: str | None = None, start_after: str | None = None,
                          fetch_owner: bool = False, list_type: str = "2") -> Response:
    """ListObjectsV2: one page, resumed from an opaque continuation token."""
    ref = read_ref(bucket)
    limit = listing.MAX_KEYS if max_keys is None else min(max_keys, listing.MAX_KEYS)
    after = listing.decode_token(continuation_token) if continuation_token else start_after
    page = await _page(ref, prefix or "", delimiter, after, limit)
    enc = (lambda s: quote(s, safe="/")) if encoding_type == "url" else (lambda s: s)
    parts = [element("Name", bucket), element("Prefix", enc(prefix or "")), element("MaxKeys", limit),
             element("KeyCount", len(page.files) + len(page.prefixes))]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    if encoding_type:
        parts.append(element("EncodingType", encoding_type))
    if continuation_token:
        parts.append(element("ContinuationToken", continuation_token))
    if start_after:
        parts.append(element("StartAfter", enc(start_after)))
    parts.append(element("IsTruncated", page.truncated))
    if page.truncated:
        parts.append(element("NextContinuationToken", listing.encode_token(page.last)))
    parts += listing.render_contents(page.files, enc,
                                     await acls.owner_element(bucket) if fetch_owner else False,
                                     await listetags.stored_etags(pfs(), ref, page.files))
    parts += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in page.prefixes]
    return Response(document("ListBucketResult", parts), media_type="application/xml")


async def get_bucket_location(bucket: str) -> Response:
    """An empty LocationConstraint: us-east-1, the only region the gateway names."""
    ref = read_ref(bucket)
    if ref.commit:
        await pfs().inspect_commit(ref)
    else:
        await pfs().inspect_branch(ref)
    body = document("LocationConstraint", "")
    return Response(body, media_type="application/xml")
