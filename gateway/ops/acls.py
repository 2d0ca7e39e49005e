"""ACLs, owners and ownership controls kept in PFS.

* A bucket's owner (the canonical ID of the key that created it), its ACL and its ownership
  controls are documents of :mod:`gateway.ops.bucketconfig` (``owner``, ``acl``,
  ``ownership``).
* An object's ACL lives in its metadata sidecar (:class:`gateway.pfs.metadata.ObjectMeta`
  ``acl``), written in the same commit as the object when a PUT, copy or completed multipart
  upload sets one, and only when it differs from the default (the bucket owner's
  FULL_CONTROL), so an ordinary write stores nothing more.

Who asks comes from the request state the middleware fills (:mod:`gateway.server.authorization`):
its :class:`~gateway.auth.access.Principal` (none on a gateway without keys), and the
configured keys' canonical IDs, for display names and for checking grants.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping

from gateway.auth import access, pachdroles
from gateway.auth.access import BUCKET_OWNER_ENFORCED, BUCKET_OWNER_PREFERRED, Principal
from gateway.context import pfs, request
from gateway.ops import bucketconfig
from gateway.ops.objects import current_object, replace_metadata
from gateway.pfs import metadata
from gateway.pfs.client import Requirement
from gateway.pfs.errors import PFSError
from gateway.pfs.refs import at_version, read_ref, write_ref
from gateway.s3 import acl, errors, publicaccess
from gateway.s3.aclmodel import ACL, private
from gateway.s3.names import object_path

PRINCIPAL = "principal"  # scope["state"] keys (set by the middleware)
DIRECTORY = "key_directory"  # canonical ID -> access key, of the configured keys
PACHD_AUTH = "pachd_auth"  # the PachdAuth of a request that Pachyderm's roles decide
LOOKUPS_AT_ONCE = 64  # bucket owners ListBuckets looks up concurrently


def _state() -> dict:
    return request().scope.get("state", {})


def principal() -> Principal | None:
    """The request's principal; None when no keys are configured (everyone may do everything)."""
    return _state().get(PRINCIPAL)


def directory() -> Mapping[str, str]:
    return _state().get(DIRECTORY) or {}


def name_of(canonical_id: str) -> str:
    """The display name of a canonical ID: its access key (the ID itself when unknown)."""
    return directory().get(canonical_id) or (acl.OWNER_ID if canonical_id == acl.OWNER_ID else canonical_id)


def caller_id() -> str | None:
    """The caller's canonical ID (None: anonymous, or a gateway with no keys)."""
    who = principal()
    return who.canonical_id if who is not None else None


def owner_id(config: bucketconfig.BucketConfig) -> str:
    """The bucket owner's canonical ID (``pachyderm`` for a bucket no key owns)."""
    return access.owner_of(config) or acl.OWNER_ID


def pachyderm_decides() -> bool:
    """Whether pachd's auth decides this request (its access key is a Pachyderm token)."""
    identity = _state().get("identity")
    return identity is not None and identity.token is not None


def refuse_under_pachyderm_auth(what: str) -> None:
    if pachyderm_decides():
        raise errors.not_implemented(
            f"{what} is not available while Pachyderm's auth is active: Pachyderm's roles on the "
            "repo decide who may do what (pachctl auth set repo ...).")


def _known() -> object:
    return acl.is_known_default(directory())


async def requested(headers: Mapping[str, str], body: bytes = b"") -> acl.Requested | None:
    """The ACL a request asks for: its headers, or an AccessControlPolicy body (not both)."""
    refuse_under_pachyderm_auth("Setting an ACL")
    from_headers = acl.from_headers(headers, _known())
    if body.strip():
        if from_headers is not None:
            raise errors.S3Error(400, "UnexpectedContent", "This request does not support content")
        return acl.from_body(body, _known())
    return from_headers


def _check_public(config: bucketconfig.BucketConfig, result: ACL) -> None:
    block = config.parsed(publicaccess.KIND, publicaccess.parse)
    if block is not None and block.block_public_acls and result.is_public():
        raise errors.access_denied("Access Denied: the bucket's public access block refuses "
                                   "public ACLs (BlockPublicAcls)")


def _enforced_allows(ask: acl.Requested, writer: str, bucket_owner: str) -> bool:
    """What BucketOwnerEnforced still accepts: bucket-owner-full-control, or an ACL that grants
    the bucket owner alone FULL_CONTROL (``private`` from the owner)."""
    if ask.canned == "bucket-owner-full-control":
        return True
    return ask.build(writer, bucket_owner) == private(bucket_owner)


async def for_object_write(bucket: str, headers: Mapping[str, str]) -> str | None:
    """The ACL to store with an object a request writes (None: the default, store nothing).

    Raises ``AccessControlListNotSupported`` for ACL headers a BucketOwnerEnforced bucket
    refuses, ``AccessDenied`` for a public ACL under BlockPublicAcls.
    """
    ask = acl.from_headers(headers, _known())
    if ask is None and principal() is None:
        return None  # no keys, no ACL asked for: nothing to look up
    if ask is not None:
        refuse_under_pachyderm_auth("Setting an ACL")
    config = await bucketconfig.load(bucket)
    ownership = access.ownership_of(config)
    bucket_owner = owner_id(config)
    writer = caller_id() or bucket_owner  # what an anonymous writer puts is the bucket owner's
    if ownership == BUCKET_OWNER_ENFORCED:
        if ask is not None and not _enforced_allows(ask, writer, bucket_owner):
            raise acl.access_control_list_not_supported()
        return None
    owner = writer
    if ownership == BUCKET_OWNER_PREFERRED and ask is not None and ask.canned == "bucket-owner-full-control":
        owner = bucket_owner
    result = (ask or acl.Requested(canned="private")).build(owner, bucket_owner)
    _check_public(config, result)
    if owner == bucket_owner and result.is_private():
        return None
    return result.encode().decode()


# -- buckets -------------------------------------------------------------------------------

async def bucket_acl(bucket: str) -> bytes:
    """GetBucketAcl's document: what was set, or the owner's FULL_CONTROL."""
    ref = read_ref(bucket)
    await (pfs().inspect_commit(ref) if ref.commit else pfs().inspect_branch(ref))
    if pachyderm_decides():
        return await _pachyderm_acl(bucket)
    config = await bucketconfig.load(bucket)
    owner = owner_id(config)
    stored = access.bucket_acl(config)
    if stored is None or not access.acls_enabled(config):
        stored = private(owner)
    return acl.render(stored, name_of)


async def _pachyderm_acl(bucket: str) -> bytes:
    """The caller's Pachyderm permissions on the bucket's repo, as an ACL (pachdroles)."""
    state, ref = _state(), read_ref(bucket)
    return acl.render(await pachdroles.caller_acl(state[PACHD_AUTH], state["identity"].token,
                                                  ref.project, ref.repo), str)


async def set_bucket_acl(bucket: str, ask: acl.Requested | None) -> None:
    refuse_under_pachyderm_auth("PutBucketAcl")
    if ask is None:
        raise errors.S3Error(400, "MissingSecurityHeader",
                             "Your request was missing a required header", MissingHeaderName="x-amz-acl")
    write_ref(bucket)  # a pinned view is read-only
    config = await bucketconfig.load(bucket)
    owner = owner_id(config)
    if not access.acls_enabled(config):
        if not _enforced_allows(ask, owner, owner):
            raise acl.access_control_list_not_supported()
        return
    result = ask.build(owner, owner)
    _check_public(config, result)
    document = None if result.is_private() else result.encode()
    if document is None and config.get("acl") is None:
        await pfs().inspect_branch(write_ref(bucket))  # NoSuchBucket, else nothing to change
        return
    await bucketconfig.store(bucket, "acl", document, "PutBucketAcl")


def creation_documents(headers: Mapping[str, str]) -> dict[str, bytes]:
    """The documents CreateBucket stores with a new bucket: its owner (the creating key), its
    ownership controls (``x-amz-object-ownership``, else BucketOwnerEnforced, as AWS since
    2023), and the ACL ``x-amz-acl`` / ``x-amz-grant-*`` ask for."""
    who = principal()
    docs: dict[str, bytes] = {}
    owner = acl.OWNER_ID
    if who is not None and who.canonical_id:
        owner = who.canonical_id
        docs["owner"] = owner.encode()
    ownership = acl.check_ownership(headers.get("x-amz-object-ownership", BUCKET_OWNER_ENFORCED))
    ask = acl.from_headers(headers, _known())
    if ask is not None:
        refuse_under_pachyderm_auth("Setting an ACL")
    if ask is not None and not (ask.build(owner, owner).is_private()):
        if ownership == BUCKET_OWNER_ENFORCED:
            raise acl.invalid_bucket_acl_with_object_ownership()
        docs["acl"] = ask.build(owner, owner).encode()
    if who is not None:  # a gateway with no keys keeps buckets as they were (ACLs decide nothing)
        docs["ownership"] = ownership.encode()
    return docs


async def already_exists(bucket: str) -> errors.S3Error:
    """CreateBucket of an existing bucket: yours (or no key's), or another owner's."""
    owner = access.owner_of(await bucketconfig.load(bucket))
    if owner is None or owner == caller_id():
        return errors.bucket_already_owned_by_you(bucket)
    return errors.S3Error(409, "BucketAlreadyExists", "The requested bucket name is not available. "
                          "The bucket namespace is shared by all users of the system. Please "
                          "select a different name and try again.", BucketName=bucket)


async def create_branch_with(bucket: str, documents: dict[str, bytes]) -> None:
    """Create a new bucket's branch by its first commit, which holds its documents (ModifyFile
    creates a missing branch), so a bucket never exists without its owner. Against pfsd the
    commit requires that no owner is recorded yet (two racing creators: one wins, the other
    gets ConditionFailed); pachd cannot check that, as CreateBranch could not either."""
    ops = [op for kind, doc in documents.items() for op in bucketconfig.ops(kind, doc)]
    ref = write_ref(bucket)
    await pfs().modify_file(ref, ops, f"CreateBucket {bucket}",
                            require=[Requirement(bucketconfig.CONFIG_DIR + "owner")])
    bucketconfig.forget(ref)


async def owner_element(bucket: str) -> str:
    """``<Owner>`` as listings name it: the bucket owner (every object of a bucket is listed as
    its owner's, as under BucketOwnerEnforced)."""
    if principal() is None:
        return acl.owner_element(acl.OWNER_ID, name_of)
    return acl.owner_element(owner_id(await bucketconfig.load(bucket)), name_of)


def caller_element() -> str:
    """``<Owner>`` of ListBuckets: the caller."""
    return acl.owner_element(caller_id() or acl.OWNER_ID, name_of)


async def callers_buckets(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (name, ...) rows of the buckets ListBuckets shows the caller: as in S3, the buckets
    it owns, and (as before owners existed) the buckets no key owns. With one key (or none)
    configured that is every bucket, and nothing is looked up; with several, each bucket's
    owner is one cached look-up (:mod:`gateway.ops.bucketconfig`)."""
    who = principal()
    if who is None or who.canonical_id is None or len(directory()) < 2:
        return rows
    kept: list[tuple[str, str]] = []
    for start in range(0, len(rows), LOOKUPS_AT_ONCE):
        chunk = rows[start:start + LOOKUPS_AT_ONCE]
        owners = await asyncio.gather(*(_owner_or_none(row[0]) for row in chunk))
        kept += [row for row, owner in zip(chunk, owners, strict=True)
                 if owner is None or owner == who.canonical_id]
    return kept


async def _owner_or_none(bucket: str) -> str | None:
    try:
        return access.owner_of(await bucketconfig.load(bucket))
    except errors.S3Error:
        return None  # a branch whose name is no bucket name: listed as before


# -- ownership controls ----------------------------------------------------------------------

async def ownership_controls(bucket: str) -> bytes:
    config = await bucketconfig.load(bucket)
    raw = config.get("ownership")
    if raw is None:
        await pfs().inspect_branch(read_ref(bucket))
        raise acl.ownership_controls_not_found(bucket)
    return acl.render_ownership(raw.decode())


async def set_ownership_controls(bucket: str, value: str | None) -> None:
    refuse_under_pachyderm_auth("Ownership controls")
    if value == BUCKET_OWNER_ENFORCED:
        config = await bucketconfig.load(bucket)
        stored = access.bucket_acl(config)
        if stored is not None and not stored.is_private():
            raise acl.invalid_bucket_acl_with_object_ownership()
    name = "PutBucketOwnershipControls" if value is not None else "DeleteBucketOwnershipControls"
    await bucketconfig.store(bucket, "ownership", None if value is None else value.encode(), name)


# -- objects -------------------------------------------------------------------------------

def object_acl_reader(bucket: str, key: str | None,
                      version_id: str | None = None) -> Callable[[], Awaitable[ACL | None]]:
    """For :class:`~gateway.auth.access.RequestFacts`: the object's stored ACL, read (from its
    sidecar) only if the decision asks; None when it has none or cannot be read."""

    async def read() -> ACL | None:
        if key is None:
            return None
        try:
            ref = at_version(read_ref(bucket), version_id)
            meta = await metadata.read(pfs(), ref, object_path(key))
        except (errors.S3Error, PFSError):
            return None
        return ACL.decode(meta.acl) if meta.acl else None

    return read


async def object_acl(bucket: str, key: str, version_id: str | None) -> bytes:
    ref = at_version(read_ref(bucket), version_id)
    _, meta = await current_object(pfs(), ref, object_path(key), key)
    if pachyderm_decides():
        return await _pachyderm_acl(bucket)  # an object has its repo's permissions
    config = await bucketconfig.load(bucket)
    owner = owner_id(config)
    if meta.acl and access.acls_enabled(config):
        return acl.render(ACL.decode(meta.acl), name_of)
    return acl.render(private(owner), name_of)


async def set_object_acl(bucket: str, key: str, version_id: str | None, ask: acl.Requested | None) -> str:
    """Replace the object's ACL (its bytes and other metadata stay) in one commit; its ID."""
    refuse_under_pachyderm_auth("PutObjectAcl")
    if version_id is not None:
        raise errors.not_implemented("PFS history is immutable: only the current version's ACL "
                                     "can be changed.")
    if ask is None:
        raise errors.S3Error(400, "MissingSecurityHeader",
                             "Your request was missing a required header", MissingHeaderName="x-amz-acl")
    ref = write_ref(bucket)
    path = object_path(key)
    client = pfs()
    info, meta = await current_object(client, ref, path, key)
    config = await bucketconfig.load(bucket)
    bucket_owner = owner_id(config)
    if not access.acls_enabled(config):
        if not _enforced_allows(ask, bucket_owner, bucket_owner):
            raise acl.access_control_list_not_supported()
        return info.file.commit.id
    owner = ACL.decode(meta.acl).owner if meta.acl else bucket_owner
    result = ask.build(owner, bucket_owner)
    _check_public(config, result)
    encoded = None if owner == bucket_owner and result.is_private() else result.encode().decode()
    meta = dataclasses.replace(meta, acl=encoded)
    return await replace_metadata(client, ref, path, info, meta, f"PutObjectAcl {key}")
