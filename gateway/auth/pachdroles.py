"""GetBucketAcl against pachd with auth active: the caller's Pachyderm permissions on the repo,
as far as an S3 ACL can say them.

Pachyderm's roles (repoReader, repoWriter, repoOwner, project and cluster roles) decide who
may do what there; the gateway stores no ACL of its own then. An S3 ACL has one owner and
grants, so the answer is a one-grantee ACL naming the caller (their Pachyderm subject, e.g.
``user:alice``): FULL_CONTROL when they may read, write and change the repo's role bindings
(repoOwner or above), else READ and/or WRITE as their permissions allow. The owner is the
caller when they may change bindings, else ``pachyderm``.
"""

from __future__ import annotations

from collections.abc import Collection

import grpc

from gateway.auth.authenticator import TOKEN_METADATA, PachdAuth
from gateway.s3 import errors
from gateway.s3.aclmodel import ACL, FULL_CONTROL, READ, WRITE, Grant

OWNER_ID = "pachyderm"
UNARY_TIMEOUT = 10.0


def acl_of(subject: str, permissions: Collection[str]) -> ACL:
    """The ACL a Pachyderm subject's permissions on a repo amount to (names of auth_v2.Permission)."""
    read, write = "REPO_READ" in permissions, "REPO_WRITE" in permissions
    admin = "REPO_MODIFY_BINDINGS" in permissions
    if read and write and admin:
        return ACL(subject, (Grant("id", subject, FULL_CONTROL),))
    grants = []
    if read:
        grants.append(Grant("id", subject, READ))
    if write:
        grants.append(Grant("id", subject, WRITE))
    return ACL(subject if admin else OWNER_ID, tuple(grants))


async def caller_acl(pachd: PachdAuth, token: str, project: str, repo: str) -> ACL:
    """Ask pachd who the token is (WhoAmI) and what it may do on the repo (GetPermissions)."""
    from generated.auth import auth_pb2

    api = pachd._api()
    metadata = ((TOKEN_METADATA, token),)
    resource = auth_pb2.Resource(type=auth_pb2.REPO, name=f"{project}/{repo}")
    try:
        who = await api.WhoAmI(auth_pb2.WhoAmIRequest(), timeout=UNARY_TIMEOUT, metadata=metadata)
        answer = await api.GetPermissions(auth_pb2.GetPermissionsRequest(resource=resource),
                                          timeout=UNARY_TIMEOUT, metadata=metadata)
    except grpc.aio.AioRpcError as e:
        if e.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            raise errors.access_denied() from None
        if e.code() == grpc.StatusCode.NOT_FOUND:
            raise errors.no_such_bucket(f"{repo}") from None
        raise errors.service_unavailable("The Pachyderm auth service is unavailable.") from None
    names = {auth_pb2.Permission.Name(p) for p in answer.permissions}
    return acl_of(who.username or OWNER_ID, names)
