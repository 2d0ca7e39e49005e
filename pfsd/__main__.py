"""`python -m pfsd --listen HOST:PORT|unix:///path --data-dir DIR`: the embedded PFS server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from pfsd.server import serve

DEFAULT_LISTEN = "127.0.0.1:30650"  # pachd's gRPC port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pfsd", description=__doc__)
    parser.add_argument(
        "--listen",
        default=os.environ.get("PFSD_LISTEN", DEFAULT_LISTEN),
        help="HOST:PORT (port 0 picks a free one) or unix:///path.sock [env PFSD_LISTEN]",
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("PFSD_DATA_DIR", "data"),
        help="directory for metadata and contents [env PFSD_DATA_DIR]",
    )
    parser.add_argument(
        "--metrics-listen",
        default=os.environ.get("PFSD_METRICS_LISTEN") or None,
        help="serve Prometheus metrics over HTTP on HOST:PORT (e.g. 127.0.0.1:9650); "
             "off by default [env PFSD_METRICS_LISTEN]",
    )
    parser.add_argument("--log-level", default=os.environ.get("PFSD_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The default asyncio loop on purpose: measured, grpc.aio under uvloop did about half the
    # small ModifyFile calls per second.
    asyncio.run(serve(args.listen, Path(args.data_dir), args.metrics_listen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
