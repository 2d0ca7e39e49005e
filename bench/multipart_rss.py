"""Peak memory of the gateway (and its embedded pfsd) while boto3 uploads 1 GiB multipart.

`python -m bench.multipart_rss [--quick]` prints the figures; `make bench` imports `run()`.
Parts stream through the gateway and completion concatenates them inside PFS, so the
gateway's RSS should stay flat (well under 200 MB) whatever the object size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import ACCESS_KEY, SECRET_KEY, GatewayServer, Sampler, write_random_file

MiB = 1024 * 1024
PART = 5 * MiB


def run(quick: bool = False) -> dict:
    """Upload then download 1 GiB (256 MiB when quick) in 5 MiB parts, 10 at a time."""
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    size = (256 if quick else 1024) * MiB
    with tempfile.TemporaryDirectory(prefix="multipart-bench-") as tmp:
        work = Path(tmp)
        src = work / "src.bin"
        write_random_file(src, size)
        server = GatewayServer(work)
        try:
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{server.port}", region_name="us-east-1",
                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                              config=Config(s3={"addressing_style": "path"}, read_timeout=300))
            s3.create_bucket(Bucket="bench")
            config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=10)
            idle = server.ps.memory_info().rss
            with Sampler(server.procs) as up:
                t0 = time.perf_counter()
                s3.upload_file(str(src), "bench", "big.bin", Config=config)
                upload_s = time.perf_counter() - t0
            etag = s3.head_object(Bucket="bench", Key="big.bin")["ETag"]
            assert etag.endswith(f'-{-(-size // PART)}"'), etag
            with Sampler(server.procs) as down:
                t0 = time.perf_counter()
                s3.download_file("bench", "big.bin", str(work / "dst.bin"), Config=config)
                download_s = time.perf_counter() - t0
        finally:
            server.stop()
    pfsd = server.pfsd.pid if server.pfsd else None
    return {
        "size_MiB": size / MiB,
        "gateway_idle_rss_MB": idle / 1e6,
        "gateway_peak_rss_upload_MB": up.peaks[server.ps.pid] / 1e6,
        # 0: pfsd runs inside the gateway process (the default), counted in the gateway's
        "pfsd_peak_rss_upload_MB": up.peaks.get(pfsd, 0) / 1e6,
        "gateway_peak_rss_download_MB": down.peaks[server.ps.pid] / 1e6,
        "pfsd_peak_rss_download_MB": down.peaks.get(pfsd, 0) / 1e6,
        "upload_s": upload_s,
        "upload_MB_per_s": size / 1e6 / upload_s,
        "download_s": download_s,
        "download_MB_per_s": size / 1e6 / download_s,
    }


def table(results: dict) -> str:
    rows = [f"{'metric':<30} {'value':>10}", "-" * 41]
    rows += [f"{k:<30} {v:>10.1f}" for k, v in results.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 1 GiB")
    print(table(run(parser.parse_args().quick)))
