"""Ask the access decision (:mod:`gateway.auth.access`) about one S3 request.

The request context puts the request's :class:`~gateway.auth.access.Principal` in
``scope["state"]`` when the gateway's own key pairs decide (a gateway without keys, or pachd
with auth active, puts none, and nothing here runs). The dispatcher, once it knows the
operation, calls :func:`check`: it loads the bucket's configuration (one cached look-up,
:mod:`gateway.ops.bucketconfig`), and reads the object's sidecar (its ACL and tags) only if the
decision asks for it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from urllib.parse import parse_qsl, quote, unquote

from starlette.types import Scope

from gateway import context
from gateway.auth import access, bucketpolicy
from gateway.auth.access import ACTIONS, VERSION_ACTIONS, Principal, RequestFacts
from gateway.ops import bucketconfig, deletes
from gateway.ops.acls import PRINCIPAL
from gateway.pfs import metadata
from gateway.pfs.errors import PFSError
from gateway.pfs.refs import at_version, read_ref
from gateway.s3.aclmodel import ACL
from gateway.s3.errors import S3Error
from gateway.s3.names import object_path

# Bucket policies and the public access block take part in every decision.
access.POLICY_HOOK = bucketpolicy.evaluate
access.IGNORE_PUBLIC_ACLS = bucketpolicy.ignore_public_acls
COPY_SOURCE_OPERATIONS = ("CopyObject", "UploadPartCopy")


class LazyHeaders(Mapping[str, str]):
    """The request's headers by lower-case name, decoded only if a decision reads one (most
    decisions never do: the owner's requests, buckets without policy conditions)."""

    __slots__ = ("_raw", "_decoded")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._decoded: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._decoded is None:
            self._decoded = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._raw}
        return self._decoded

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def principal(scope: Scope) -> Principal | None:
    return scope.get("state", {}).get(PRINCIPAL)


async def check(scope: Scope, operation: str, bucket: str, key: str,
                query: list[tuple[str, str]]) -> None:
    """Raise 403 AccessDenied unless the request's principal may do ``operation``.

    ``bucket`` and ``key`` are still percent-encoded (as the dispatcher has them).
    """
    who = principal(scope)
    if who is None:
        return
    params = dict(query)
    headers = LazyHeaders(scope["headers"])
    action = ACTIONS.get(operation, "s3:" + operation)
    version_id = params.get("versionId")
    if version_id is not None:
        action = VERSION_ACTIONS.get(action, action)
    bucket, key = unquote(bucket), unquote(key) or None
    config = await _config(bucket)
    if operation == "DeleteObjects":
        facts = await _facts(scope, who, operation, action, bucket, key, version_id, headers,
                             params, config)
        try:
            await access.authorize(facts)
        except S3Error:
            if facts.config is None or facts.config.get(bucketpolicy.POLICY) is None:
                raise  # nothing could let one of its keys be deleted: refused whole, as before
        # then each key, as the handler reads them (a policy may allow some keys, deny others)
        scope.setdefault("state", {})[deletes.KEY_CHECK] = functools.partial(
            _check_deleted_key, scope, who, bucket, headers, params)
    elif not _owner_without_policy(who, bucket, config):  # (that one is allowed, facts unread)
        await access.authorize(await _facts(scope, who, operation, action, bucket, key, version_id,
                                            headers, params, config))
    if operation in COPY_SOURCE_OPERATIONS and "x-amz-copy-source" in headers:  # (reads them)
        source = _copy_source(headers["x-amz-copy-source"])
        if source is not None:
            src_bucket, src_key, src_version = source
            src_action = "s3:GetObject" if src_version is None else "s3:GetObjectVersion"
            await access.authorize(await _facts(scope, who, operation, src_action, src_bucket,
                                                src_key, src_version, headers, params))


async def _check_deleted_key(scope: Scope, who: Principal, bucket: str, headers: Mapping[str, str],
                             params: Mapping[str, str], key: str, version_id: str | None) -> None:
    """One key of a DeleteObjects request, decided as DeleteObject of that key (and version)."""
    action = "s3:DeleteObjectVersion" if version_id else "s3:DeleteObject"
    await access.authorize(await _facts(scope, who, "DeleteObject", action, bucket, key, version_id,
                                        headers, params))


async def _config(bucket: str) -> bucketconfig.BucketConfig | None:
    if not bucket:
        return None
    try:
        return await bucketconfig.load(bucket)
    except (S3Error, PFSError):
        return bucketconfig.EMPTY  # a bad name or unreachable backend: no grants


def _owner_without_policy(who: Principal, bucket: str, config: bucketconfig.BucketConfig | None) -> bool:
    """Whether ``who`` owns the bucket (or is a configured key, where no owner is recorded) and
    the bucket has no policy: :func:`access.authorize` allows every such request (no policy to
    deny it, see :func:`bucketpolicy.evaluate`; the owner may do everything), so the common
    case is decided without building its :class:`RequestFacts`."""
    if not bucket or config is None or who.anonymous or access.POLICY_HOOK is not bucketpolicy.evaluate \
            or config.get(bucketpolicy.POLICY) is not None:
        return False
    owner = access.owner_of(config)
    return owner is None or owner == who.canonical_id


async def _facts(scope: Scope, who: Principal, operation: str, action: str, bucket: str,
                 key: str | None, version_id: str | None, headers: Mapping[str, str],
                 params: Mapping[str, str], config: bucketconfig.BucketConfig | None = None
                 ) -> RequestFacts:
    if config is None:
        config = await _config(bucket)
    sidecar: dict[str, metadata.ObjectMeta | None] = {}

    async def meta() -> metadata.ObjectMeta | None:
        if "m" not in sidecar:
            try:
                ref = at_version(read_ref(bucket), version_id)
                sidecar["m"] = await metadata.read(context.pfs(), ref, object_path(key or ""))
            except (S3Error, PFSError):
                sidecar["m"] = None
        return sidecar["m"]

    async def object_acl() -> ACL | None:
        m = await meta()
        return ACL.decode(m.acl) if m is not None and m.acl else None

    async def object_tags() -> dict[str, str] | None:
        m = await meta()
        return dict(m.tags) if m is not None else None

    state = scope.get("state", {})
    identity = state.get("identity")
    client = scope.get("client")
    return RequestFacts(
        action=action, bucket=bucket, key=key, principal=who, config=config,
        source_ip=client[0] if client else None, secure=scope.get("scheme") == "https",
        headers=headers, query=params,
        signature_version=getattr(identity, "signature_version", None),
        operation=operation, object_tags=object_tags, object_acl=object_acl)


async def check_form(scope: Scope, access_key: str | None, bucket: str, key: str) -> None:
    """POST Object's decision, asked by its handler once the form's signature is checked (the
    request itself is unsigned): may ``access_key`` (None: anonymous) put ``key``? Only when
    the gateway's own key pairs decide (against pachd with auth, pachd does)."""
    scope.setdefault("state", {})[PRINCIPAL] = Principal.of(access_key)
    await check(scope, "PostObject", quote(bucket, safe=""), quote(key, safe="/"), [])


def _copy_source(value: str) -> tuple[str, str, str | None] | None:
    """``/bucket/key?versionId=v`` (leading slash optional, percent-encoded) -> its parts."""
    path, _, query = value.partition("?")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        return None  # the handler refuses it with S3's error
    version = dict(parse_qsl(query)).get("versionId")
    return bucket, key, version
