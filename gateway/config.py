"""Configuration: command-line flags, each with an environment-variable equivalent."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 30600
    pachd_address: str | None = None  # None: start the embedded PFS server
    data_dir: Path = Path("data")
    log_level: str = "info"
    access_log: bool = True

    @property
    def embedded(self) -> bool:
        return not self.pachd_address


def parse_args(argv: list[str] | None = None) -> Config:
    env = os.environ.get
    ap = argparse.ArgumentParser(prog="python -m gateway",
                                 description="S3-compatible gateway to Pachyderm PFS")
    ap.add_argument("--host", default=env("S3GW_HOST", "127.0.0.1"),
                    help="listen address (env S3GW_HOST; default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=int(env("S3GW_PORT", "30600")),
                    help="listen port (env S3GW_PORT; default 30600)")
    ap.add_argument("--pachd-address", default=env("PACHD_ADDRESS") or None,
                    help="pachd gRPC address, host:port or unix:///path (env PACHD_ADDRESS); "
                         "without it the embedded PFS server is started")
    ap.add_argument("--data-dir", type=Path, default=Path(env("S3GW_DATA_DIR", "data")),
                    help="the embedded PFS server's data directory (env S3GW_DATA_DIR)")
    ap.add_argument("--log-level", default=env("S3GW_LOG_LEVEL", "info"))
    ap.add_argument("--no-access-log", action="store_true",
                    default=env("S3GW_ACCESS_LOG", "1") == "0",
                    help="do not log one line per request (env S3GW_ACCESS_LOG=0)")
    a = ap.parse_args(argv)
    return Config(host=a.host, port=a.port, pachd_address=a.pachd_address, data_dir=a.data_dir,
                  log_level=a.log_level, access_log=not a.no_access_log)
