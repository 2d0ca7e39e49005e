"""What the access decision costs a request: server CPU per 4 KiB GET, with and without it.

`python -m bench.access [--duration S] [--rounds N]` starts two gateways with one key pair:
this tree, and a copy of it whose dispatcher never asks the access decision (what every
request cost before owners, ACLs and bucket policies). It measures signed GETs on a bucket with
no ACL or policy, on one with a public-read ACL and a bucket policy (this tree only), and
anonymous GETs of a public-read object there, alternating the servers each round, and prints
the server CPU per request (gateway and pfsd together) and the ratios. The machine is shared:
compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import psutil
from botocore.config import Config

from bench.common import ACCESS_KEY, HOST, ROOT, SECRET_KEY, free_port, raw_load, raw_put_many, wait_http

DISPATCH_CALL = "        await authorization.check(scope, op.name, bucket, key, query)\n"
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ReadPublic", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::master.shared/public/*"},
    {"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
     "Resource": "arn:aws:s3:::master.shared/locked/*"}]}


class Gateway:
    def __init__(self, source: Path, workdir: Path, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--host", HOST, "--port", str(self.port),
             "--data-dir", str(workdir / f"{name}-data"), "--no-access-log"],
            cwd=source, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "S3GW_ACCESS_KEY": ACCESS_KEY, "S3GW_SECRET_KEY": SECRET_KEY})
        wait_http(self.port, "/~/ready", self.proc)
        time.sleep(0.5)
        self.ps = psutil.Process(self.proc.pid)

    @property
    def procs(self) -> list[psutil.Process]:
        return [self.ps, *self.ps.children(recursive=True)]

    def s3(self):
        return boto3.client("s3", endpoint_url=f"http://{HOST}:{self.port}", region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(s3={"addressing_style": "path"}))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def copy_without_decision(dest: Path) -> Path:
    """This tree (sources and generated stubs), with the dispatcher's access check removed."""
    for part in ("gateway", "handlers", "spec", "pfsd", "generated", "codegen"):
        shutil.copytree(ROOT / part, dest / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    dispatch = dest / "gateway" / "server" / "dispatch.py"
    text = dispatch.read_text()
    if DISPATCH_CALL not in text:
        raise SystemExit("bench.access: the dispatcher's access check moved; update DISPATCH_CALL")
    dispatch.write_text(text.replace(DISPATCH_CALL, ""))
    return dest


def prepare(gw: Gateway, decided: bool) -> None:
    s3 = gw.s3()
    s3.create_bucket(Bucket="master.plain")
    raw_put_many(gw.port, "/master.plain/k", 64, 4096)
    if decided:
        s3.create_bucket(Bucket="master.shared", ACL="public-read", ObjectOwnership="ObjectWriter")
        s3.put_bucket_policy(Bucket="master.shared", Policy=json.dumps(POLICY))
        raw_put_many(gw.port, "/master.shared/k", 64, 4096)
        for i in range(64):
            s3.put_object(Bucket="master.shared", Key=f"public/{i:06d}", Body=b"p" * 4096, ACL="public-read")


def anonymous_load(port: int, duration: float) -> dict:
    """Unsigned GETs of public-read objects (raw_load signs every request, so a loop here)."""
    import http.client

    conn = http.client.HTTPConnection(HOST, port)
    end, ops = time.monotonic() + duration, 0
    while time.monotonic() < end:
        conn.request("GET", f"/master.shared/public/{ops % 64:06d}")
        r = conn.getresponse()
        if r.status != 200 or len(r.read()) != 4096:
            raise RuntimeError(f"anonymous GET answered {r.status}")
        ops += 1
    return {"ops": ops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        work = Path(tmp)
        before_src = copy_without_decision(work / "before-src")
        before = Gateway(before_src, work, "before")
        after = Gateway(ROOT, work, "after")
        try:
            prepare(before, False)
            prepare(after, True)
            cases = [("before: no decision, plain bucket", before, "/master.plain/k"),
                     ("after: plain bucket (owner only)", after, "/master.plain/k"),
                     ("after: bucket with ACL + policy", after, "/master.shared/k")]
            for _ in range(args.rounds):
                for label, gw, prefix in cases:
                    r = raw_load(gw.port, prefix, "get", concurrency=8, duration=args.duration,
                                 keys=64, watch=gw.procs)
                    if r["errors"]:
                        raise RuntimeError(f"{label}: {r['errors']} errors")
                    results.setdefault(label, []).append(r["cpu_ms_per_op"])
                cpu0 = sum(p.cpu_times().user + p.cpu_times().system for p in after.procs)
                ops = anonymous_load(after.port, args.duration)["ops"]
                cpu1 = sum(p.cpu_times().user + p.cpu_times().system for p in after.procs)
                results.setdefault("after: anonymous GET of a public-read object", []).append(
                    1000 * (cpu1 - cpu0) / max(ops, 1))
        finally:
            before.stop()
            after.stop()
    base = statistics.median(results["before: no decision, plain bucket"])
    print(f"{'case':48} {'server CPU ms/GET (median)':>28} {'ratio':>7}")
    for label, values in results.items():
        m = statistics.median(values)
        print(f"{label:48} {m:28.3f} {m / base:7.2f}   runs: {', '.join(f'{v:.3f}' for v in values)}")


if __name__ == "__main__":
    main()
