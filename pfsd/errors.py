"""PFS errors with pachd's gRPC status codes and message wording.

pachd formats most errors with `Repo.String()` (``project/repo``) and `Commit.String()`
(``project/repo@id``); the helpers in :mod:`pfsd.names` reproduce those so clients that match
on message patterns (the gateway's error map, the official SDK) see what pachd would say.
"""

from __future__ import annotations

import grpc


class PfsError(Exception):
    """An error the servicer turns into a gRPC status (code + message)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(message: str) -> PfsError:
    return PfsError(grpc.StatusCode.NOT_FOUND, message)


def already_exists(message: str) -> PfsError:
    return PfsError(grpc.StatusCode.ALREADY_EXISTS, message)


def invalid(message: str) -> PfsError:
    return PfsError(grpc.StatusCode.INVALID_ARGUMENT, message)


def precondition(message: str) -> PfsError:
    return PfsError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unimplemented(message: str) -> PfsError:
    return PfsError(grpc.StatusCode.UNIMPLEMENTED, message)


def repo_not_found(repo: str) -> PfsError:
    return not_found(f"repo {repo} not found")


def repo_exists(repo: str) -> PfsError:
    return already_exists(f"repo {repo} already exists")


def branch_not_found(branch: str, repo: str) -> PfsError:
    return not_found(f'branch "{branch}" not found in repo {repo}')


def branch_exists(branch: str, repo: str) -> PfsError:
    return already_exists(f'branch "{branch}" already exists in repo {repo}')


def project_not_found(project: str) -> PfsError:
    return not_found(f'project "{project}" not found')


def project_exists(project: str) -> PfsError:
    return already_exists(f"project {project} already exists")


def commit_not_found(commit: str) -> PfsError:
    return not_found(f"commit {commit} not found")


def commit_set_not_found(commit_set: str) -> PfsError:
    return not_found(f"no commits found for commitset {commit_set}")


def commit_finished(commit: str) -> PfsError:
    return precondition(f"commit {commit} has already finished")


def file_not_found(path: str, repo: str, commit_id: str) -> PfsError:
    return not_found(f"file {path} not found in repo {repo} at commit {commit_id}")


def squash_without_children(commit: str) -> PfsError:
    return precondition(
        "cannot squash a commit that has no children as that would cause data loss, "
        f"use the drop operation instead: {commit}"
    )


def drop_with_children(commit: str) -> PfsError:
    return precondition(f"cannot drop a commit that has children: {commit}")


AUTH_NOT_ACTIVATED = "the auth service is not activated"
