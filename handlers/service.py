"""S3 operations on the service: ListBuckets."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs
from gateway.ops.listing import decode_token, encode_token
from gateway.s3.names import RESERVED_BRANCH
from gateway.s3.xml import document, element, timestamp

OWNER = "<Owner><ID>pachyderm</ID><DisplayName>pachyderm</DisplayName></Owner>"
REGION = "us-east-1"  # the only region the gateway names


async def list_buckets(max_buckets: int | None = None, continuation_token: str | None = None,
                       prefix: str | None = None, bucket_region: str | None = None) -> Response:
    """One bucket per branch of every user repo, in every project (one ListRepo call), in name
    order; a page of ``max_buckets`` after the continuation token, if asked for."""
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
    rows.sort()
    more = max_buckets is not None and len(rows) > max_buckets
    if max_buckets is not None:
        rows = rows[:max_buckets]
    buckets = "".join(f"<Bucket>{element('Name', n)}{element('CreationDate', c)}"
                      f"{element('BucketRegion', REGION)}</Bucket>" for n, c in rows)
    parts = [OWNER, f"<Buckets>{buckets}</Buckets>"]
    if more:
        parts.append(element("ContinuationToken", encode_token(rows[-1][0])))
    if prefix is not None:
        parts.append(element("Prefix", prefix))
    return Response(document("ListAllMyBucketsResult", parts), media_type="application/xml")
