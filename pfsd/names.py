"""Name validation, path cleaning and pachd's string forms of repos, branches and commits."""

from __future__ import annotations

import posixpath
import re

from pfsd import errors

DEFAULT_PROJECT = "default"
USER_TYPE = "user"
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_COMMIT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
# pachd keeps project names short enough to prefix Kubernetes resources (63 - 8 - len("-v99")).
PROJECT_NAME_LIMIT = 63 - 8 - 4


def repo_str(project: str, name: str, rtype: str = USER_TYPE) -> str:
    """pachd's `Repo.String()`: ``project/name`` (``project/name.type`` for system repos)."""
    base = f"{project}/{name}" if project else name
    return base if rtype == USER_TYPE else f"{base}.{rtype}"


def commit_str(repo: str, commit_id: str) -> str:
    """pachd's `Commit.String()`: ``project/repo@id``."""
    return f"{repo}@{commit_id}"


def validate_name(kind: str, name: str) -> None:
    """Repo and branch names: `[a-zA-Z0-9_-]+` like pachd's ancestry.ValidateName."""
    if not _NAME_RE.match(name):
        raise errors.invalid(
            f"{kind} name ({name}) invalid: only alphanumeric characters, underscores, and dashes are allowed"
        )


def validate_project(name: str) -> None:
    """Project names follow repo rules, are length-limited and start alphanumeric."""
    if name == DEFAULT_PROJECT:
        return
    if len(name) > PROJECT_NAME_LIMIT:
        over = len(name) - PROJECT_NAME_LIMIT
        raise errors.invalid(f'project name "{name}" is {over} characters longer than the {PROJECT_NAME_LIMIT} max')
    validate_name("project", name)
    if not name[0].isalnum():
        raise errors.invalid("project names must start with an alphanumeric character")


def is_commit_id(text: str) -> bool:
    return bool(_COMMIT_ID_RE.match(text))


def clean_path(path: str) -> str:
    """pachd's CleanPath: absolute, no trailing slash, `.`/`..`/`//` resolved; root is `/`."""
    cleaned = posixpath.normpath("/" + path)
    # normpath keeps a leading "//" (POSIX allows it to be special); PFS does not.
    return "/" + cleaned.lstrip("/")


def dir_prefix(path: str) -> str:
    """The key prefix of everything below a directory path (`/a` -> `/a/`, `/` -> `/`)."""
    return path if path.endswith("/") else path + "/"


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (ends with `/`)."""
    return prefix[:-1] + "0"  # "0" is the character right after "/"


def parent_dirs(path: str) -> list[str]:
    """Ancestor directories of a cleaned file path, root excluded: `/a/b/c` -> [`/a`, `/a/b`]."""
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def covered(path: str, prefixes: set[str] | dict[str, int]) -> bool:
    """Whether `path` starts with one of the directory `prefixes` (each ending with `/`): a look-up
    per `/` in the path, however many prefixes there are."""
    i = path.find("/")
    while i != -1:
        if path[: i + 1] in prefixes:
            return True
        i = path.find("/", i + 1)
    return False
