"""``python -m gateway``: run the gateway, starting the embedded PFS server when no pachd is given."""

from __future__ import annotations

import logging
import sys

from gateway import lean  # noqa: F401 - first, before connexion: see gateway/lean.py
from gateway.server import logs, workers
from gateway.server.config import Config, is_loopback, parse_args
from gateway.server.embedded import EmbeddedPFS
from gateway.server.inproc import InProcessPFS

log = logging.getLogger("gateway")


def serve(config: Config) -> int:
    logs.configure(config.log_level, config.log_json, config.access_log)
    embedded = host = None
    address = config.pachd_address
    if config.in_process:
        # pfsd inside this process (gateway.server.inproc): the lock now, the rest on the loop
        host = InProcessPFS(config.data_dir)
        host.lock()
        address = host.address
        log.info("embedded PFS server in this process, gRPC at %s (data in %s)", address,
                 config.data_dir)
    elif config.embedded:
        embedded = EmbeddedPFS(config.data_dir)
        address = embedded.start()
        log.info("embedded PFS server ready at %s (data in %s)", address, config.data_dir)
    try:
        log.info("S3 gateway listening on http://%s:%d (PFS at %s; %s; %d worker%s)", config.host,
                 config.port, address, f"{len(config.credentials)} credential(s), SigV4 required"
                 if config.credentials else "anonymous unless pachd auth is active",
                 config.workers, "s" if config.workers > 1 else "")
        if not config.allowed_hosts and not is_loopback(config.host):
            log.warning("listening on %s: browsers (explorer, /~/ endpoints%s) are answered only "
                        "under IP addresses and localhost; add the names they use with "
                        "--allowed-hosts", config.host,
                        "" if config.credentials else ", S3 requests")
        workers.serve(config, address, host)
    finally:
        if embedded:
            embedded.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    refusal = config.exposure_error()
    if refusal:
        print(f"python -m gateway: {refusal}", file=sys.stderr)
        return 2
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
