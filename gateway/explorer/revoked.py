"""Ended explorer sessions, kept in PFS so that a logout holds on every gateway copy.

A key-pair session cookie is signed, not stored: before this, logging out only dropped the
cookie from the browser, and a copy of it stayed valid for its 8 hours. Now a logout writes
one empty file named after the session's random ID::

    repo s3g-sessions (project default), hidden branch s3g-uploads:
        /.s3g/sessions/revoked/<session id>

and every explorer request asks PFS whether that file exists (one InspectFile; "not found",
of the file, branch or repo, means the session is live). The repo has no other branch, so it
is no bucket: ListBuckets skips the hidden branch, and its name cannot be a bucket's branch.
A revoked ID never comes back, so this process remembers the ones it has seen revoked;
"still live" is never cached (another copy may end it at any moment).
"""

from __future__ import annotations

import logging

from gateway.pfs.client import PFS, Ref, add_file
from gateway.pfs.errors import AlreadyExists, NotFound
from gateway.s3.names import RESERVED_BRANCH, RESERVED_PREFIX

log = logging.getLogger("gateway.explorer")

STATE = Ref("default", "s3g-sessions", RESERVED_BRANCH)
DIRECTORY = f"/{RESERVED_PREFIX}sessions/revoked/"
MAX_REMEMBERED = 65536

_known: set[str] = set()  # IDs seen revoked (a revocation is permanent)


async def is_revoked(client: PFS, sid: str) -> bool:
    if sid in _known:
        return True
    try:
        await client.inspect_file(STATE, DIRECTORY + sid)
    except NotFound:
        return False
    _remember(sid)
    return True


async def revoke(client: PFS, sid: str) -> None:
    """Write the revocation (one commit on the hidden branch), creating its repo if needed."""
    for attempt in (1, 2):
        try:
            await client.modify_file(STATE, [add_file(DIRECTORY + sid, b"")],
                                     description="Explorer logout")
            break
        except NotFound:
            if attempt == 2:
                raise
            try:
                await client.create_repo(STATE)
            except AlreadyExists:
                pass
            try:
                await client.create_branch(STATE, description="Explorer sessions")
            except AlreadyExists:
                pass
    _remember(sid)


def _remember(sid: str) -> None:
    if len(_known) >= MAX_REMEMBERED:
        _known.clear()  # only a cache: PFS still answers for the IDs forgotten
    _known.add(sid)
