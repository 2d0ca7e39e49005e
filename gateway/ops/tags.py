"""Tags kept in PFS: an object's in its metadata sidecar (changed in one commit that touches
nothing else), a bucket's in the hidden file :data:`BUCKET_TAGS` of the branch."""

from __future__ import annotations

import dataclasses
import json

from gateway.ops.objects import current_object, replace_metadata
from gateway.pfs.client import PFS, Ref, add_file, delete_file
from gateway.pfs.errors import NotFound
from gateway.s3.names import RESERVED_PREFIX

BUCKET_TAGS = f"/{RESERVED_PREFIX}bucket/tagging"  # JSON {"key": "value", ...}


async def set_object_tags(client: PFS, ref: Ref, path: str, key: str, tags: dict[str, str],
                          description: str) -> str:
    """Replace the object's tags (its bytes and other metadata stay); the commit's ID.

    The sidecar is rewritten whole, so against pfsd the commit requires the object to still
    hold the bytes it held when read: a PUT that lands in between is not given stale metadata.
    """
    info, meta = await current_object(client, ref, path, key)
    return await replace_metadata(client, ref, path, info, dataclasses.replace(meta, tags=dict(tags)),
                                  description)


async def bucket_tags(client: PFS, ref: Ref) -> dict[str, str] | None:
    """The bucket's tag set, or None when it has none (a missing bucket raises)."""
    try:
        raw = b"".join([chunk async for chunk in client.get_file(ref, BUCKET_TAGS)])
    except NotFound as e:
        if e.kind != "file":
            raise
        await client.inspect_branch(ref)  # a missing file, or a missing bucket?
        return None
    return json.loads(raw)


async def set_bucket_tags(client: PFS, ref: Ref, tags: dict[str, str] | None, description: str) -> None:
    """Replace (or with None, remove) the bucket's tag set in one commit on its branch."""
    await client.inspect_branch(ref)  # ModifyFile would create a missing branch
    ops = [delete_file(BUCKET_TAGS)]
    if tags is not None:
        ops.append(add_file(BUCKET_TAGS, json.dumps(tags).encode()))
    elif await bucket_tags(client, ref) is None:
        return  # nothing to delete: no commit
    await client.modify_file(ref, ops, description)
