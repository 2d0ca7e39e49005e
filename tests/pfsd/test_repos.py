"""Projects and repos: happy paths and pachd's status codes."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import empty_pb2

from generated.pfs import pfs_pb2, pfs_pb2_grpc
from tests.pfsd.conftest import repo_msg
from tests.pfsd.helpers import code_of, put


def test_default_project_exists(stub: pfs_pb2_grpc.APIStub) -> None:
    names = [p.project.name for p in stub.ListProject(pfs_pb2.ListProjectRequest())]
    assert "default" in names
    info = stub.InspectProject(pfs_pb2.InspectProjectRequest(project=pfs_pb2.Project(name="default")))
    assert info.project.name == "default"


def test_project_lifecycle(stub: pfs_pb2_grpc.APIStub) -> None:
    name = "p" + uuid.uuid4().hex[:8]
    proj = pfs_pb2.Project(name=name)
    stub.CreateProject(pfs_pb2.CreateProjectRequest(project=proj, description="one"))
    code, msg = code_of(stub.CreateProject, pfs_pb2.CreateProjectRequest(project=proj))
    assert code == grpc.StatusCode.ALREADY_EXISTS and msg == f"project {name} already exists"
    stub.CreateProject(pfs_pb2.CreateProjectRequest(project=proj, description="two", update=True))
    info = stub.InspectProject(pfs_pb2.InspectProjectRequest(project=proj))
    assert info.description == "two" and info.created_at.seconds > 0
    stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg("inproj", name)))
    code, _ = code_of(stub.DeleteProject, pfs_pb2.DeleteProjectRequest(project=proj))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    stub.DeleteProject(pfs_pb2.DeleteProjectRequest(project=proj, force=True))
    code, msg = code_of(stub.InspectProject, pfs_pb2.InspectProjectRequest(project=proj))
    assert code == grpc.StatusCode.NOT_FOUND and msg == f'project "{name}" not found'


def test_invalid_names(stub: pfs_pb2_grpc.APIStub) -> None:
    code, msg = code_of(stub.CreateRepo, pfs_pb2.CreateRepoRequest(repo=repo_msg("bad name")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "bad name" in msg
    code, _ = code_of(stub.CreateProject, pfs_pb2.CreateProjectRequest(project=pfs_pb2.Project(name="a.b")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, msg = code_of(stub.CreateRepo, pfs_pb2.CreateRepoRequest(repo=repo_msg("ok", "nosuchproj")))
    assert code == grpc.StatusCode.NOT_FOUND and msg == 'project "nosuchproj" not found'


def test_repo_lifecycle(stub: pfs_pb2_grpc.APIStub, repo: str) -> None:
    code, msg = code_of(stub.CreateRepo, pfs_pb2.CreateRepoRequest(repo=repo_msg(repo)))
    assert code == grpc.StatusCode.ALREADY_EXISTS and msg == f"repo default/{repo} already exists"
    stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg(repo), description="d", update=True))
    put(stub, repo, "/f", b"12345")
    info = stub.InspectRepo(pfs_pb2.InspectRepoRequest(repo=repo_msg(repo)))
    assert info.description == "d" and info.details.size_bytes == 5
    assert [b.name for b in info.branches] == ["master"]
    listed = {r.repo.name for r in stub.ListRepo(pfs_pb2.ListRepoRequest())}
    assert repo in listed
    stub.DeleteRepo(pfs_pb2.DeleteRepoRequest(repo=repo_msg(repo), force=True))
    code, msg = code_of(stub.InspectRepo, pfs_pb2.InspectRepoRequest(repo=repo_msg(repo)))
    assert code == grpc.StatusCode.NOT_FOUND and msg == f"repo default/{repo} not found"
    code, _ = code_of(stub.DeleteRepo, pfs_pb2.DeleteRepoRequest(repo=repo_msg(repo)))
    assert code == grpc.StatusCode.NOT_FOUND


def test_list_repo_filters_projects(stub: pfs_pb2_grpc.APIStub) -> None:
    name = "p" + uuid.uuid4().hex[:8]
    stub.CreateProject(pfs_pb2.CreateProjectRequest(project=pfs_pb2.Project(name=name)))
    stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg("only", name)))
    req = pfs_pb2.ListRepoRequest(projects=[pfs_pb2.Project(name=name)])
    assert [(r.repo.name, r.repo.project.name) for r in stub.ListRepo(req)] == [("only", name)]
    resp = stub.DeleteRepos(pfs_pb2.DeleteReposRequest(projects=[pfs_pb2.Project(name=name)]))
    assert [r.name for r in resp.repos] == ["only"]


def test_delete_all(tmp_path: object) -> None:
    from tests.pfsd.conftest import start_pfsd

    server = start_pfsd(tmp_path)  # type: ignore[arg-type]
    try:
        with grpc.insecure_channel(server.address) as ch:
            stub = pfs_pb2_grpc.APIStub(ch)
            stub.CreateRepo(pfs_pb2.CreateRepoRequest(repo=repo_msg("gone")))
            put(stub, "gone", "/big", b"z" * 200_000)
            stub.DeleteAll(empty_pb2.Empty())
            assert list(stub.ListRepo(pfs_pb2.ListRepoRequest())) == []
            projects = [p.project.name for p in stub.ListProject(pfs_pb2.ListProjectRequest())]
            assert projects == ["default"]
            blobs = [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]
            assert blobs == []  # unreferenced content is collected
    finally:
        assert server.stop() == 0
