"""From a bucket name to the PFS place it names, for reading or for writing."""

from __future__ import annotations

import functools

from gateway.pfs.client import Ref
from gateway.s3 import errors
from gateway.s3.names import BucketRef, is_commit_id, parse_bucket


def to_ref(b: BucketRef) -> Ref:
    return Ref(project=b.project, repo=b.repo, branch=b.branch, commit=b.commit)


@functools.lru_cache(maxsize=1024)  # a name's parse never changes (a Ref is immutable)
def read_ref(bucket: str) -> Ref:
    """The branch head, or the pinned commit, that reads of ``bucket`` see."""
    return to_ref(parse_bucket(bucket))


def write_ref(bucket: str) -> Ref:
    """The branch that writes to ``bucket`` commit on; pinned buckets are read-only."""
    b = parse_bucket(bucket)
    if b.commit:
        raise errors.S3Error(
            400, "InvalidRequest",
            f"The bucket {bucket} is a read-only view of commit {b.commit}; "
            f"write to {b.branch}.{b.repo} instead.", BucketName=bucket)
    return to_ref(b)


def at_version(ref: Ref, version_id: str | None) -> Ref:
    """``ref`` read at the commit a ``versionId`` names (a version is the commit that wrote it);
    ``ref`` itself without one."""
    if version_id is None:
        return ref
    if not is_commit_id(version_id):
        raise errors.invalid_argument("Invalid version id specified", "versionId", version_id)
    return Ref(ref.project, ref.repo, ref.branch, version_id)
