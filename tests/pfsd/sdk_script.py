"""Run inside a pachyderm_sdk==2.12.2 virtualenv against pfsd: `python sdk_script.py HOST PORT`.

Prints one `key=value` line per check; test_sdk.py asserts on them.
"""

from __future__ import annotations

import sys

from pachyderm_sdk import Client
from pachyderm_sdk.api import pfs


def main(host: str, port: int) -> None:
    client = Client(host=host, port=port)
    project = pfs.Project(name="sdkproj")
    client.pfs.create_project(project=project, description="from the sdk")
    print("project_exists=" + str(client.pfs.project_exists(project)))
    repo = pfs.Repo(name="images", type="user", project=project)
    client.pfs.create_repo(repo=repo, description="sdk repo")
    print("repo_exists=" + str(client.pfs.repo_exists(repo)))
    master = pfs.Branch(repo=repo, name="master")
    with client.pfs.commit(branch=master) as commit:
        commit.put_file_from_bytes(path="/a.txt", data=b"hello sdk")
        commit.put_file_from_bytes(path="/dir/b.bin", data=bytes(range(256)) * 1000)
    first = commit.id
    print("commit_id_len=" + str(len(first)))
    info = client.pfs.inspect_commit(commit=commit, wait=pfs.CommitState.FINISHED)
    print("commit_finished=" + str(info.finished is not None))
    with client.pfs.pfs_file(file=pfs.File(commit=commit, path="/a.txt")) as f:
        print("read_a=" + f.read().decode())
    with client.pfs.pfs_file(file=pfs.File(commit=commit, path="/dir/b.bin")) as f:
        print("read_b_ok=" + str(f.read() == bytes(range(256)) * 1000))
    head = pfs.Commit(branch=master, repo=repo)
    names = [i.file.path for i in client.pfs.list_file(file=pfs.File(commit=head, path="/"))]
    print("list_root=" + ",".join(names))
    fi = client.pfs.inspect_file(file=pfs.File(commit=head, path="/a.txt"))
    print(f"inspect_a={pfs.FileType(fi.file_type).name}:{fi.size_bytes}")
    client.pfs.create_branch(branch=pfs.Branch(repo=repo, name="dev"), head=commit)
    branches = sorted(b.branch.name for b in client.pfs.list_branch(repo=repo))
    print("branches=" + ",".join(branches))
    with client.pfs.commit(branch=master) as commit2:
        commit2.delete_file(path="/a.txt")
    print("path_exists_after_delete=" + str(client.pfs.path_exists(pfs.File(commit=head, path="/a.txt"))))
    commits = [c.commit.id for c in client.pfs.list_commit(repo=repo)]
    print(f"commits={len(commits)} first_listed_last={commits[-1] == first}")
    repos = [r.repo.name for r in client.pfs.list_repo(projects=[project])]
    print("repos=" + ",".join(repos))
    client.pfs.delete_repo(repo=repo, force=True)
    print("repo_exists_after_delete=" + str(client.pfs.repo_exists(repo)))
    print("done=1")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
