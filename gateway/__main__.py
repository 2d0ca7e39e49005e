"""``python -m gateway``: run the gateway, starting the embedded PFS server when no pachd is given."""

from __future__ import annotations

import logging
import sys

import uvicorn

from gateway.app import create_app
from gateway.config import Config, parse_args
from gateway.embedded import EmbeddedPFS

log = logging.getLogger("gateway")


def serve(config: Config) -> int:
    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not config.access_log:
        logging.getLogger("gateway.access").setLevel(logging.WARNING)
    embedded = None
    address = config.pachd_address
    if config.embedded:
        embedded = EmbeddedPFS(config.data_dir)
        address = embedded.start()
        log.info("embedded PFS server ready at %s (data in %s)", address, config.data_dir)
    try:
        app = create_app(address)
        uv = uvicorn.Config(app, host=config.host, port=config.port, loop="uvloop",
                            http="httptools", access_log=False, log_level=config.log_level,
                            lifespan="on", server_header=False, date_header=True)
        log.info("S3 gateway listening on http://%s:%d (PFS at %s)", config.host, config.port,
                 address)
        uvicorn.Server(uv).run()
    finally:
        if embedded:
            embedded.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
