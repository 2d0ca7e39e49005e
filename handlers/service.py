"""S3 operations on the service: ListBuckets."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs
from gateway.ops import acls
from gateway.ops.listing import decode_token, encode_token
from gateway.s3.names import RESERVED_BRANCH
from gateway.s3.xml import document, element, timestamp

REGION = "us-east-1"  # the only region the gateway names


async def list_buckets(max_buckets: int | None = None, continuation_token: str | None = None,
                       prefix: str | None = None, bucket_region: str | None = None) -> Response:
    """One bucket per branch of every user repo, in every project (one ListRepo call), in name
    order; a page of ``max_buckets`` after the continuation token, if asked for. With several
    keys configured, only the caller's buckets and those no key owns (see acls.callers_buckets)."""
    after = decode_token(continuation_token) if continuation_token else None
    rows = []
    if bucket_region in (None, REGION):
        for repo in await pfs().list_repos():
            project = repo.repo.project.name or "default"
            created = timestamp(repo.created.ToDatetime())
            for branch in repo.branches:
                if branch.name == RESERVED_BRANCH:
                    continue  # multipart staging, not a bucket
                name = f"{branch.name}.{repo.repo.name}"
                if project != "default":
                    name += f".{project}"
                if (prefix and not name.startswith(prefix)) or (after is not None and name <= after):
                    continue
                rows.append((name, created))
    rows = await acls.callers_buckets(sorted(rows))
    more = max_buckets is not None and len(rows) > max_buckets
    if max_buckets is not None:
        rows = rows[:max_buckets]
    buckets = "".join(f"<Bucket>{element('Name', n)}{element('CreationDate', c)}"
                      f"{element('BucketRegion', REGION)}</Bucket>" for n, c in rows)
    parts = [acls.caller_element(), f"<Buckets>{buckets}</Buckets>"]
    if more:
        parts.append(element("ContinuationToken", encode_token(rows[-1][0])))
    if prefix is not None:
        parts.append(element("Prefix", prefix))
    return Response(document("ListAllMyBucketsResult", parts), media_type="application/xml")
