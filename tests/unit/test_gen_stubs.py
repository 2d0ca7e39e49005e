"""Codegen of the PFS stubs: from the pinned wheel's descriptors, and from a source tree."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from codegen import gen_stubs
from generated.pfs import pfs_pb2

EXPECTED_RPCS = {"CreateRepo", "InspectRepo", "ListRepo", "DeleteRepo", "StartCommit", "FinishCommit",
                 "InspectCommit", "ListCommit", "CreateBranch", "InspectBranch", "ListBranch", "DeleteBranch",
                 "ModifyFile", "GetFile", "InspectFile", "ListFile", "WalkFile", "GlobFile", "CreateProject",
                 "InspectProject", "ListProject", "DeleteProject", "DeleteAll"}


def test_generated_api_lists_pachyderms_rpcs():
    service = pfs_pb2.DESCRIPTOR.services_by_name["API"]
    assert service.full_name == "pfs_v2.API"
    assert EXPECTED_RPCS <= {m.name for m in service.methods}
    assert len(service.methods) == 49  # Pachyderm 2.7's pfs_v2.API


def test_generated_stubs_import_under_current_protobuf():
    out = subprocess.run([sys.executable, "-c", "import google.protobuf, grpc; "
                          "from generated.pfs import pfs_pb2_grpc; from generated.auth import auth_pb2_grpc; "
                          "from generated.version.versionpb import version_pb2_grpc; "
                          "print(google.protobuf.__version__)"],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=True)
    assert int(out.stdout.split(".")[0]) >= 5


def test_rerun_is_a_no_op(capsys):
    assert gen_stubs.main([]) == 0
    assert "up to date" in capsys.readouterr().out


def test_source_tree_input(tmp_path):
    """A Pachyderm-style src/ tree (here a tiny synthetic one) compiles to importable stubs."""
    src = tmp_path / "src"
    protos = {
        "task/task.proto": 'syntax = "proto3"; package taskapi; message Group { string name = 1; }',
        "auth/auth.proto": 'syntax = "proto3"; package auth_v2; message WhoAmIRequest {} '
                           "message WhoAmIResponse { string username = 1; } "
                           "service API { rpc WhoAmI(WhoAmIRequest) returns (WhoAmIResponse); }",
        "version/versionpb/version.proto": 'syntax = "proto3"; package versionpb_v2; '
                                            "message Version { uint32 major = 1; }",
        "pfs/pfs.proto": textwrap.dedent('''
            syntax = "proto3"; package pfs_v2;
            import "auth/auth.proto"; import "task/task.proto";
            import "google/protobuf/empty.proto";
            message Repo { string name = 1; auth_v2.WhoAmIRequest who = 2; taskapi.Group g = 3; }
            message FileInfo { string path = 1; }
            message ListFileRequest { string path = 1; }
            message WalkFileRequest { string path = 1; }
            service API { rpc DeleteAll(google.protobuf.Empty) returns (google.protobuf.Empty); }
        '''),
    }
    for name, text in protos.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    root = tmp_path / "out"
    root.mkdir()
    assert gen_stubs.main(["--root", str(root), "--proto-src", str(src)]) == 0
    out = subprocess.run([sys.executable, "-c", "from generated.pfs import pfs_pb2, pfs_pb2_grpc; "
                          "print(pfs_pb2.Repo.DESCRIPTOR.fields_by_name['who'].message_type.full_name); "
                          "from generated.pfsd import pages_pb2, pages_pb2_grpc; "
                          "print(pages_pb2.FileInfoPage.DESCRIPTOR.fields_by_name['file_info'].message_type"
                          ".full_name)"],
                         capture_output=True, text=True, cwd=root, check=True)
    # pfsd's extension (codegen/proto/pfsd/pages.proto) compiles against the given tree too
    assert out.stdout.split() == ["auth_v2.WhoAmIRequest", "pfs_v2.FileInfo"]
