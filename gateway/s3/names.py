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

A key ending in ``/`` is a folder marker (what ``mkdir`` tools PUT): PFS has no empty
directories, so a marker is a hidden empty file, ``/.s3g/folders/_<c1>/_<c2>/.../.folder`` for
the key ``c1/c2/.../``. Each component gets a leading ``_`` so that no component can be named
``.folder``; the mapping keeps S3's key order (see :func:`folder_path`), so markers list in
order beside the keys, and a folder's markers are one hidden directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.s3.errors import S3Error, invalid_argument, invalid_bucket_name, key_too_long

DEFAULT_PROJECT = "default"
DEFAULT_BRANCH = "master"
MAX_BUCKET_NAME = 255  # botocore accepts [a-zA-Z0-9.\-_]{1,255} for bucket names
S3_BUCKET_NAME = (3, 63)  # S3's length rule, on the name without a pinned commit's "<commit>."
MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 length
RESERVED_PREFIX = ".s3g/"  # multipart staging and metadata live here, hidden from S3
FOLDERS_DIR = "/" + RESERVED_PREFIX + "folders"  # folder markers (keys ending in "/")
FOLDER_FILE = ".folder"  # a marker's file name: no escaped component can be named so
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
    named = len(bucket) - (len(commit) + 1 if commit else 0)
    if not S3_BUCKET_NAME[0] <= named <= S3_BUCKET_NAME[1]:
        raise invalid_bucket_name(bucket, "Bucket names must be between 3 and 63 characters long "
                                  "(for a commit view, the name after '<commit>.').")
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


def is_folder_key(key: str) -> bool:
    """Whether ``key`` names a folder marker (it ends in ``/``)."""
    return key.endswith("/")


def object_path(key: str) -> str:
    """The PFS path that holds the object ``key``: its own path, or its folder marker's."""
    if not is_folder_key(key):
        return validate_key(key)
    if key == "/" or key.endswith("//"):
        raise _bad_key(key, "A folder key must name a folder: not '/' alone, and no '//'.")
    problem = _key_problem(key[:-1])  # the folder's name follows the key rules
    if problem is not None:
        raise problem
    return folder_path(key)


def folder_path(key: str) -> str:
    """The hidden marker file of the folder ``key`` (``a/b/`` -> ``/.s3g/folders/_a/_b/.folder``).

    Also maps any string (a listing cursor) into the marker tree with the order kept: for a
    marker key ``m`` and any string ``s``, ``m < s`` exactly when ``folder_path(m) <
    folder_path(s)`` (``/`` is followed by ``_`` in both, and a marker's end ``/.folder``
    sorts before every ``/_...``). A string not ending in ``/`` maps without the file name.
    """
    parts = key.split("/")
    tail = ("/" + FOLDER_FILE) if parts[-1] == "" else ""
    if parts[-1] == "":
        parts.pop()
    return FOLDERS_DIR + "".join("/_" + p for p in parts) + tail


def folder_dir(prefix_dir: str) -> str:
    """The marker tree's directory for the key directory ``prefix_dir`` ("" or ending in ``/``)."""
    return FOLDERS_DIR + "".join("/_" + p for p in prefix_dir.split("/")[:-1]) + "/"


def folder_key(path: str) -> str | None:
    """The folder key a marker-tree path stands for (``None``: not a marker file or directory).

    A marker file gives its key (``a/b/``); a directory of the tree (``/.s3g/folders/_a/_b/``)
    gives the folder it holds markers under, also ``a/b/``.
    """
    if not path.startswith(FOLDERS_DIR + "/"):
        return None
    parts = path[len(FOLDERS_DIR) + 1:].rstrip("/").split("/")
    if parts[-1] == FOLDER_FILE:
        parts.pop()
    if not parts or any(not p.startswith("_") for p in parts):
        return None
    return "".join(p[1:] + "/" for p in parts)


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
