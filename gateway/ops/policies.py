"""Bucket policies and public access blocks over the bucket configuration store.

The documents are hidden files of the bucket's branch (:mod:`gateway.ops.bucketconfig`); the
policy is validated by :mod:`gateway.auth.policy` before it is stored and evaluated by
:mod:`gateway.auth.bucketpolicy` on every request.
"""

from __future__ import annotations

from starlette.types import Scope

from gateway.auth import policy
from gateway.auth.access import canonical_id
from gateway.auth.bucketpolicy import POLICY, bucket_names, stored_policy
from gateway.context import access_keys, pfs
from gateway.ops import bucketconfig
from gateway.pfs.refs import read_ref
from gateway.s3 import errors, publicaccess

MAX_POLICY_BYTES = policy.MAX_POLICY_BYTES


def malformed_policy(message: str) -> errors.S3Error:
    return errors.S3Error(400, "MalformedPolicy", message)


def policy_too_large() -> errors.S3Error:
    return malformed_policy("Policies must be no larger than 20 KB")


def no_such_bucket_policy(bucket: str) -> errors.S3Error:
    return errors.S3Error(404, "NoSuchBucketPolicy", "The bucket policy does not exist",
                          BucketName=bucket)


def no_such_public_access_block(bucket: str) -> errors.S3Error:
    return errors.S3Error(404, "NoSuchPublicAccessBlockConfiguration",
                          "The public access block configuration was not found",
                          BucketName=bucket)


def refuse_when_pachyderm_decides(scope: Scope) -> None:
    """Against pachd with auth active (the request carries a Pachyderm token), Pachyderm's
    roles decide who may do what: policy and public access block writes are refused."""
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


def principal_ids() -> set[str] | None:
    """The names a policy's Principal may use: each configured key and its canonical ID
    (None on a gateway without keys: it has no users to check against, and evaluates no
    policy either)."""
    keys = access_keys()
    if not keys:
        return None
    return set(keys) | {canonical_id(k) for k in keys}


async def get_policy(bucket: str) -> bytes:
    """The stored policy, exactly as it was put."""
    stored = (await bucketconfig.load(bucket)).get(POLICY)
    if stored is None:
        raise await _missing(bucket, no_such_bucket_policy(bucket))
    return stored


async def put_policy(bucket: str, document: bytes) -> None:
    """Validate and store a policy; MalformedPolicy (or, under BlockPublicPolicy, AccessDenied
    for a public one) stores nothing."""
    config = await bucketconfig.load(bucket)
    try:
        parsed = policy.parse(document, bucket_names(bucket), principal_ids())
    except policy.PolicyError as e:
        raise malformed_policy(str(e)) from None
    if publicaccess.of(config).block_public_policy and parsed.public:
        raise errors.access_denied("Access Denied: the bucket's public access block "
                                   "(BlockPublicPolicy) refuses a public policy")
    await bucketconfig.store(bucket, POLICY, document, "PutBucketPolicy")


async def delete_policy(bucket: str) -> None:
    await bucketconfig.store(bucket, POLICY, None, "DeleteBucketPolicy")


async def policy_is_public(bucket: str) -> bool:
    """GetBucketPolicyStatus: whether the policy is public as AWS defines it."""
    parsed = (await bucketconfig.load(bucket)).parsed(POLICY, stored_policy)
    if parsed is None:
        raise await _missing(bucket, no_such_bucket_policy(bucket))
    return parsed.public


async def get_public_access_block(bucket: str) -> publicaccess.PublicAccessBlock:
    config = await bucketconfig.load(bucket)
    if config.get(publicaccess.KIND) is None:
        raise await _missing(bucket, no_such_public_access_block(bucket))
    return publicaccess.of(config)


async def put_public_access_block(bucket: str, block: publicaccess.PublicAccessBlock) -> None:
    await bucketconfig.store(bucket, publicaccess.KIND, block.render(), "PutPublicAccessBlock")


async def delete_public_access_block(bucket: str) -> None:
    await bucketconfig.store(bucket, publicaccess.KIND, None, "DeletePublicAccessBlock")
