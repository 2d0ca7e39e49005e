"""S3 operations on the service: ListBuckets."""

from __future__ import annotations

from starlette.responses import Response

from gateway.context import pfs
from gateway.s3.names import RESERVED_BRANCH
from gateway.s3.xml import document, element, timestamp

OWNER = "<Owner><ID>pachyderm</ID><DisplayName>pachyderm</DisplayName></Owner>"


async def list_buckets() -> Response:
    """One bucket per branch of every user repo, in every project (one ListRepo call)."""
    rows = []
    for repo in await pfs().list_repos():
        project = repo.repo.project.name or "default"
        created = timestamp(repo.created.ToDatetime())
        for branch in repo.branches:
            if branch.name == RESERVED_BRANCH:
                continue  # multipart staging, not a bucket
            name = f"{branch.name}.{repo.repo.name}"
            if project != "default":
                name += f".{project}"
            rows.append((name, created))
    rows.sort()
    buckets = "".join(f"<Bucket>{element('Name', n)}{element('CreationDate', c)}</Bucket>"
                      for n, c in rows)
    body = document("ListAllMyBucketsResult", [OWNER, f"<Buckets>{buckets}</Buckets>"])
    return Response(body, media_type="application/xml")
