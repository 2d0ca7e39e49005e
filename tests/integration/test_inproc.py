"""The embedded PFS server inside the gateway process (the default; gateway/server/inproc.py).

One process serves S3 and, on ``<data dir>/pfsd.sock``, pfs_v2 over gRPC for everyone else:
what one side writes the other reads; the process holds the data directory's lock; a kill -9
loses no acknowledged write; ``--pfsd-process`` (or S3GW_PFSD_PROCESS=1, or ``--workers 2``)
brings back the child process.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import grpc
import psutil
import pytest
from botocore.config import Config

from generated.pfs import pfs_pb2 as pb
from generated.pfs import pfs_pb2_grpc
from tests.conftest import ROOT, Gateway, free_port, unique_repo

AK, SK = "inprocAK", "inprocSK"
CREDS = {"S3GW_ACCESS_KEY": AK, "S3GW_SECRET_KEY": SK}


def client(gw: Gateway):
    return boto3.client("s3", endpoint_url=gw.url, region_name="us-east-1",
                        aws_access_key_id=AK, aws_secret_access_key=SK,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def pfsd_children(gw: Gateway) -> list[psutil.Process]:
    return [p for p in psutil.Process(gw.proc.pid).children(recursive=True)
            if "pfsd" in " ".join(p.cmdline())]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("inproc") / "data", env=CREDS)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def api(gw):
    with grpc.insecure_channel(f"unix://{gw.data_dir / 'pfsd.sock'}") as ch:
        yield pfs_pb2_grpc.APIStub(ch)


def branch(repo: str) -> pb.Branch:
    return pb.Branch(repo=pb.Repo(name=repo, type="user", project=pb.Project(name="default")),
                     name="master")


def test_one_process_serves_s3_and_grpc(gw, api):
    assert pfsd_children(gw) == []
    assert not psutil.Process(gw.proc.pid).children()
    info = api.InspectProject(pb.InspectProjectRequest(project=pb.Project(name="default")))
    assert info.project.name == "default"


def test_grpc_clients_see_s3_writes_and_s3_sees_theirs(gw, api):
    s3, repo = client(gw), unique_repo()
    s3.create_bucket(Bucket=f"master.{repo}")
    s3.put_object(Bucket=f"master.{repo}", Key="from/s3.txt", Body=b"written through S3")
    commit = pb.Commit(repo=branch(repo).repo, branch=branch(repo))
    got = b"".join(m.value for m in api.GetFile(pb.GetFileRequest(
        file=pb.File(commit=commit, path="/from/s3.txt"))))
    assert got == b"written through S3"

    api.ModifyFile(iter([
        pb.ModifyFileRequest(set_commit=commit),
        pb.ModifyFileRequest(add_file=pb.AddFile(path="/from/grpc.txt",
                                                 raw={"value": b"written through gRPC"})),
    ]))
    body = s3.get_object(Bucket=f"master.{repo}", Key="from/grpc.txt")["Body"].read()
    assert body == b"written through gRPC"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=f"master.{repo}")["Contents"]]
    assert keys == ["from/grpc.txt", "from/s3.txt"]

    # a repo made over gRPC is a bucket; errors reach gRPC clients with pachd's codes
    other = unique_repo()
    api.CreateRepo(pb.CreateRepoRequest(repo=branch(other).repo))
    assert f"master.{other}" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # no branch yet
    with pytest.raises(grpc.RpcError) as e:
        api.InspectFile(pb.InspectFileRequest(file=pb.File(commit=commit, path="/missing")))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_s3_errors_and_cancelled_upload_through_the_local_channel(gw):
    s3, repo = client(gw), unique_repo()
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket=f"master.{repo}", Key="k")
    s3.create_bucket(Bucket=f"master.{repo}")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=f"master.{repo}", Key="k")
    with pytest.raises(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=f"master.{repo}")
    # an upload whose client goes away half way commits nothing (presigned: a raw socket)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": f"master.{repo}", "Key": "gone"})
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    conn.putrequest("PUT", url.removeprefix(gw.url))
    conn.putheader("Content-Length", str(1 << 20))
    conn.endheaders()
    conn.send(b"x" * (256 << 10))
    conn.close()
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.head_object(Bucket=f"master.{repo}", Key="gone")
    assert e.value.response["Error"]["Code"] == "404"
    s3.put_object(Bucket=f"master.{repo}", Key="gone", Body=b"later")  # nothing stuck either


def test_the_gateway_holds_the_data_dir_lock(gw):
    pid = str(gw.proc.pid)
    for cmd in (["-m", "pfsd", "--listen", "127.0.0.1:0", "--data-dir", str(gw.data_dir)],
                ["-m", "gateway", "--port", str(free_port()), "--data-dir", str(gw.data_dir)]):
        r = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode != 0, out
        assert str(gw.data_dir) in out and f"PID {pid}" in out, out


def test_kill9_loses_no_acknowledged_write_and_a_restart_recovers(tmp_path):
    data = tmp_path / "data"
    gw = Gateway(data, env=CREDS)
    s3, repo = client(gw), unique_repo()
    bucket = f"master.{repo}"
    s3.create_bucket(Bucket=bucket)
    acked: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        w = client(gw)
        i = 0
        while not stop.is_set():
            try:
                w.put_object(Bucket=bucket, Key=f"k{i:05d}", Body=f"v{i}".encode())
            except Exception:  # noqa: BLE001 - the gateway died under this PUT
                return
            acked.append(f"k{i:05d}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    while len(acked) < 20:
        t.join(0.05)
        assert t.is_alive()
    os.kill(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(timeout=30)
    stop.set()
    t.join(30)
    gw.log.close()
    # kill -9 ran no cleanup: the socket file stays, and the lock died with the process
    assert (data / "pfsd.sock").exists()

    again = Gateway(data, env=CREDS)
    try:
        s3 = client(again)
        for key in acked:
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"v{int(key[1:])}".encode()
        s3.put_object(Bucket=bucket, Key="after", Body=b"restarted")
        assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"restarted"
    finally:
        again.stop()


@pytest.mark.parametrize("how", ["flag", "env", "workers"])
def test_opt_out_runs_pfsd_as_a_child_process(tmp_path, how):
    extra = {"flag": ["--pfsd-process"], "env": [], "workers": ["--workers", "2"]}[how]
    env = {**CREDS, **({"S3GW_PFSD_PROCESS": "1"} if how == "env" else {})}
    gw = Gateway(tmp_path / "data", *extra, env=env)
    try:
        (child,) = pfsd_children(gw)
        assert child.ppid() == gw.proc.pid
        s3, bucket = client(gw), f"master.{unique_repo()}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"through the child")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"through the child"
    finally:
        gw.stop()


def test_a_restart_in_the_other_mode_reads_the_same_data(tmp_path):
    data: Path = tmp_path / "data"
    gw = Gateway(data, "--pfsd-process", env=CREDS)
    bucket = f"master.{unique_repo()}"
    try:
        s3 = client(gw)
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"from the child")
    finally:
        gw.stop()
    gw = Gateway(data, env=CREDS)
    try:
        assert client(gw).get_object(Bucket=bucket, Key="k")["Body"].read() == b"from the child"
    finally:
        gw.stop()
