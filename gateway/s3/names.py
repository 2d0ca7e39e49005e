"""Bucket names to PFS branches, object keys to PFS paths.

Bucket forms (dot-separated, each part a PFS name ``[a-zA-Z0-9_-]+``)::

    repo                            master branch of repo, project "default"
    branch.repo                     project "default"
    branch.repo.project
    <commit>.branch.repo            read-only view of the branch at a commit
    <commit>.branch.repo.project

A commit ID is 32 lowercase hex digits (a UUID without dashes). pachd refuses branch names of
that form ("branch name cannot be a UUID V4"), so a leading 32-hex part of a three-part name is
always a commit and ``a.b.c`` is otherwise ``branch.repo.project``.

Keys follow pachd's file path rules (``storage.ValidateFilename``): printable ASCII only, none
of the glob characters ``*?[]{}!()@+^``, no ``.`` or ``..`` component. We also refuse what PFS
would silently alias (``a//b`` and ``/a`` are cleaned to ``/a/b`` and ``/a``), what it cannot
store (a path ending in ``/``), backslashes (pachd reads paths as glob patterns, where ``\\``
escapes), and the gateway's own hidden prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.s3.errors import S3Error, invalid_argument, invalid_bucket_name, key_too_long

DEFAULT_PROJECT = "default"
DEFAULT_BRANCH = "master"
MAX_BUCKET_NAME = 255  # botocore accepts [a-zA-Z0-9.\-_]{1,255} for bucket names
MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 length
RESERVED_PREFIX = ".s3g/"  # multipart staging and metadata live here, hidden from S3
RESERVED_BRANCH = "s3g-uploads"  # each repo's hidden branch where multipart parts are staged

_PFS_NAME = re.compile(r"[a-zA-Z0-9_-]+")  # pachd ancestry.ValidateName
_COMMIT_ID = re.compile(r"[0-9a-f]{32}")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")  # pachd's validRangeRegex
_GLOB = re.compile(r"[*?\[\]{}!()@+^]")  # pachd's globRegex


@dataclass(frozen=True)
class BucketRef:
    """The PFS branch (optionally pinned to a commit) that a bucket name designates."""

    project: str
    repo: str
    branch: str
    commit: str | None = None

    @property
    def read_only(self) -> bool:
        """Pinned to a commit: a view of history, not a writable branch head."""
        return self.commit is not None

    @property
    def name(self) -> str:
        """Canonical bucket name: ``branch.repo`` in the default project, else
        ``branch.repo.project``; prefixed by ``<commit>.`` when pinned."""
        parts = [self.branch, self.repo]
        if self.project != DEFAULT_PROJECT:
            parts.append(self.project)
        if self.commit is not None:
            parts.insert(0, self.commit)
        return ".".join(parts)


def is_commit_id(value: str) -> bool:
    """Whether ``value`` has the form of a PFS commit ID (32 lowercase hex digits)."""
    return _COMMIT_ID.fullmatch(value) is not None


def parse_bucket(bucket: str) -> BucketRef:
    """Parse a bucket name into a :class:`BucketRef`; ``InvalidBucketName`` otherwise."""
    if not 1 <= len(bucket) <= MAX_BUCKET_NAME:
        raise invalid_bucket_name(bucket, f"Bucket names must be 1 to {MAX_BUCKET_NAME} "
                                  "characters long.")
    parts = bucket.split(".")
    if any(not p for p in parts):
        raise invalid_bucket_name(bucket, "Bucket names must not start or end with a dot or "
                                  "contain two dots in a row.")
    for part in parts:
        if not _PFS_NAME.fullmatch(part):
            raise invalid_bucket_name(bucket, "Bucket name parts may only contain letters, "
                                      "digits, '_' and '-', separated by dots: "
                                      "[<commit>.]<branch>.<repo>[.<project>] or <repo>.")
    commit = None
    if len(parts) == 4 or (len(parts) == 3 and is_commit_id(parts[0])):
        commit, parts = parts[0], parts[1:]
        if not is_commit_id(commit):
            raise invalid_bucket_name(bucket, "A four-part bucket name must be "
                                      "<commit>.<branch>.<repo>.<project>, with a 32-hex "
                                      "commit ID.")
    if len(parts) > 3:
        raise invalid_bucket_name(bucket, "Too many dot-separated parts: use "
                                  "[<commit>.]<branch>.<repo>[.<project>].")
    if len(parts) == 1:
        return BucketRef(DEFAULT_PROJECT, parts[0], DEFAULT_BRANCH, commit)
    branch, repo = parts[0], parts[1]
    if is_commit_id(branch):
        raise invalid_bucket_name(bucket, "A branch name cannot be a commit ID: use "
                                  "<commit>.<branch>.<repo> to read a commit.")
    if branch == RESERVED_BRANCH:
        raise invalid_bucket_name(bucket, f"The branch name {RESERVED_BRANCH} is reserved by the "
                                  "gateway for multipart uploads in progress.")
    project = parts[2] if len(parts) == 3 else DEFAULT_PROJECT
    return BucketRef(project, repo, branch, commit)


def validate_key(key: str) -> str:
    """Check an object key against PFS's path rules; return its PFS path (``/`` + key)."""
    problem = _key_problem(key)
    if problem is not None:
        raise problem
    return "/" + key


def is_reserved(key: str) -> bool:
    """Whether ``key`` is inside the gateway's hidden prefix (or is its directory)."""
    return key.startswith(RESERVED_PREFIX) or key == RESERVED_PREFIX.rstrip("/")


def _key_problem(key: str) -> S3Error | None:
    if not key:
        return _bad_key(key, "Object keys must not be empty.")
    if not _PRINTABLE_ASCII.fullmatch(key):
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
            return _bad_key(key, "Object keys must not contain control characters.")
        return _bad_key(key, "Object keys may only contain printable ASCII characters "
                        "(a PFS path rule).")
    if len(key) > MAX_KEY_BYTES:  # ASCII by now, so characters are bytes
        return key_too_long()
    glob = _GLOB.search(key)
    if glob is not None:
        return _bad_key(key, f"Object keys must not contain the character '{glob.group()}' "
                        "(PFS reserves *?[]{}!()@+^ for glob patterns).")
    if "\\" in key:
        return _bad_key(key, "Object keys must not contain a backslash (PFS reads paths as "
                        "glob patterns, where it escapes).")
    if key.endswith("/"):
        return _bad_key(key, "Object keys must not end with '/': PFS stores files, not "
                        "directory markers.")
    if key.startswith("/") or "//" in key:
        return _bad_key(key, "Object keys must not start with '/' or contain '//' (PFS would "
                        "store them under the same path as the key without).")
    if any(part in (".", "..") for part in key.split("/")):
        return _bad_key(key, "Object keys must not contain '.' or '..' path components.")
    if is_reserved(key):
        return _bad_key(key, f"Object keys under '{RESERVED_PREFIX}' are reserved by the "
                        "gateway.")
    return None


def _bad_key(key: str, message: str) -> S3Error:
    return invalid_argument(message, "key", key)
