"""Bucket policies and public access blocks: stored in the bucket's configuration (a hidden
file of its branch, :mod:`gateway.ops.bucketconfig`), evaluated by :mod:`gateway.auth.access`."""

from __future__ import annotations

from starlette.responses import Response

from gateway.auth import policy
from gateway.auth.access import canonical_id
from gateway.auth.bucketpolicy import POLICY, bucket_names, stored_policy
from gateway.context import access_keys, pfs, request
from gateway.ops import bucketconfig
from gateway.ops.body import UploadBody
from gateway.pfs.refs import read_ref
from gateway.s3 import errors, publicaccess
from gateway.s3.xml import document, element


async def _document(limit: int, too_large: errors.S3Error) -> bytes:
    """The request body (small by S3's rules), checked against Content-MD5 / checksums."""
    body = UploadBody(request())
    data = bytearray()
    async for chunk in body.chunks():
        data += chunk
        if len(data) > limit:
            raise too_large
    body.verify()
    return bytes(data)


def _pachd_roles_decide(scope: dict | None = None) -> None:
    """Against pachd with auth active (the request carries a Pachyderm token), Pachyderm's
    roles decide who may do what: policy writes are refused."""
    scope = request().scope if scope is None else scope
    identity = scope.get("state", {}).get("identity")
    if identity is not None and getattr(identity, "token", None) is not None:
        raise errors.not_implemented("Pachyderm auth is active: access is decided by Pachyderm's "
                                     "roles on the repo (pachctl auth), not by bucket policies.")


async def _missing(bucket: str, error: errors.S3Error) -> errors.S3Error:
    """A bucket without the document: NoSuchBucket if the bucket itself is missing (checked
    only then: the configuration's look-up already answered the common case)."""
    ref = read_ref(bucket)
    if ref.commit:
        await pfs().inspect_commit(ref)
    else:
        await pfs().inspect_branch(ref)
    return error


def _principal_ids() -> set[str]:
    """The names a policy's Principal may use: each configured key and its canonical ID."""
    keys = access_keys()
    return set(keys) | {canonical_id(k) for k in keys}


def malformed_policy(message: str) -> errors.S3Error:
    return errors.S3Error(400, "MalformedPolicy", message)


def no_such_bucket_policy(bucket: str) -> errors.S3Error:
    return errors.S3Error(404, "NoSuchBucketPolicy", "The bucket policy does not exist",
                          BucketName=bucket)


async def get_bucket_policy(bucket: str) -> Response:
    stored = (await bucketconfig.load(bucket)).get(POLICY)
    if stored is None:
        raise await _missing(bucket, no_such_bucket_policy(bucket))
    return Response(stored, media_type="application/json")


async def put_bucket_policy(bucket: str) -> Response:
    _pachd_roles_decide()
    body = await _document(policy.MAX_POLICY_BYTES,
                           malformed_policy("Policies must be no larger than 20 KB"))
    config = await bucketconfig.load(bucket)
    try:
        parsed = policy.parse(body, bucket_names(bucket), _principal_ids())
    except policy.PolicyError as e:
        raise malformed_policy(str(e)) from None
    if publicaccess.of(config).block_public_policy and parsed.public:
        raise errors.access_denied("Access Denied: the bucket's public access block "
                                   "(BlockPublicPolicy) refuses a public policy")
    await bucketconfig.store(bucket, POLICY, body, "PutBucketPolicy")
    return Response(status_code=204)


async def delete_bucket_policy(bucket: str) -> Response:
    _pachd_roles_decide()
    await bucketconfig.store(bucket, POLICY, None, "DeleteBucketPolicy")
    return Response(status_code=204)


async def get_bucket_policy_status(bucket: str) -> Response:
    config = await bucketconfig.load(bucket)
    parsed = config.parsed(POLICY, stored_policy)
    if parsed is None:
        raise await _missing(bucket, no_such_bucket_policy(bucket))
    return Response(document("PolicyStatus", element("IsPublic", parsed.public)),
                    media_type="application/xml")


async def get_public_access_block(bucket: str) -> Response:
    stored = (await bucketconfig.load(bucket)).get(publicaccess.KIND)
    if stored is None:
        raise await _missing(bucket, errors.S3Error(
            404, "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found", BucketName=bucket))
    return Response(publicaccess.parse(stored).render(), media_type="application/xml")


async def put_public_access_block(bucket: str) -> Response:
    _pachd_roles_decide()
    body = await _document(publicaccess.MAX_DOCUMENT, errors.malformed_xml())
    block = publicaccess.parse(body)
    await bucketconfig.store(bucket, publicaccess.KIND, block.render(), "PutPublicAccessBlock")
    return Response(status_code=200)


async def delete_public_access_block(bucket: str) -> Response:
    _pachd_roles_decide()
    await bucketconfig.store(bucket, publicaccess.KIND, None, "DeletePublicAccessBlock")
    return Response(status_code=204)
