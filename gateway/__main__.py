"""``python -m gateway``: run the gateway, starting the embedded PFS server when no pachd is given."""

from __future__ import annotations

import logging
import sys

import uvicorn

from gateway import lean  # lean before gateway.app: see gateway/lean.py
from gateway.auth.authenticator import Authenticator, PachdAuth
from gateway.server import logs
from gateway.server.app import create_app
from gateway.server.config import Config, is_loopback, parse_args
from gateway.server.embedded import EmbeddedPFS
from gateway.server.security import HostPolicy

log = logging.getLogger("gateway")


def serve(config: Config) -> int:
    logs.configure(config.log_level, config.log_json, config.access_log)
    embedded = None
    address = config.pachd_address
    if config.embedded:
        embedded = EmbeddedPFS(config.data_dir)
        address = embedded.start()
        log.info("embedded PFS server ready at %s (data in %s)", address, config.data_dir)
    try:
        # Against pfsd too: the probe finds its auth "not activated", as it would a pachd's.
        app = create_app(address, Authenticator(config.credentials, PachdAuth(address)),
                         HostPolicy(config.host, config.port, config.allowed_hosts),
                         config.metrics_public, config.session_idle)
        uv = uvicorn.Config(app, host=config.host, port=config.port, loop="uvloop",
                            http="httptools", access_log=False, log_level=config.log_level,
                            lifespan="on", server_header=False, date_header=True,
                            # longer than clients keep idle connections (httpx: 5 s), so the
                            # client, not a timer racing its next request, ends them
                            timeout_keep_alive=config.keep_alive,
                            # X-Forwarded-* only from proxies named: no per-request look otherwise
                            proxy_headers=config.forwarded_allow_ips is not None,
                            forwarded_allow_ips=config.forwarded_allow_ips,
                            # under --log-json uvicorn's own lines go through our JSON handler
                            **({"log_config": None} if config.log_json else {}),
                            timeout_graceful_shutdown=config.shutdown_grace)
        log.info("S3 gateway listening on http://%s:%d (PFS at %s; %s)", config.host, config.port,
                 address, f"{len(config.credentials)} credential(s), SigV4 required"
                 if config.credentials else "anonymous unless pachd auth is active")
        if not config.allowed_hosts and not is_loopback(config.host):
            log.warning("listening on %s: browsers (explorer, /~/ endpoints%s) are answered only "
                        "under IP addresses and localhost; add the names they use with "
                        "--allowed-hosts", config.host,
                        "" if config.credentials else ", S3 requests")
        _Server(uv).run()
    finally:
        if embedded:
            embedded.stop()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, but a stop asked for by SIGTERM/SIGINT is a clean exit (status 0).

    uvicorn re-raises the captured signal once it has shut down, which would kill the process
    before the embedded PFS server is stopped in order and make the exit status 143/130.
    """

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        lean.settle()

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    refusal = config.exposure_error()
    if refusal:
        print(f"python -m gateway: {refusal}", file=sys.stderr)
        return 2
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
