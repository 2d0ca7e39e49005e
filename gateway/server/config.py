"""Configuration: command-line flags, each with an environment-variable equivalent."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from gateway.auth.authenticator import load_credentials_file
from gateway.server.cors import DEFAULT_METHODS, default_rules

CREDENTIALS_HELP = """\
credentials:
  With no credentials the gateway is anonymous: anyone who reaches the port may read and
  write, so it listens on 127.0.0.1 and refuses any other address unless --allow-anonymous.
  With credentials, every request but /~/health, /~/ready and /~/docs (and /~/metrics
  with --metrics-public) must carry an AWS
  Signature V4 (Authorization header or presigned URL; signed aws-chunked uploads are checked
  chunk by chunk). Key pairs come from any of:
    --access-key KEY --secret-key SECRET   (env S3GW_ACCESS_KEY / S3GW_SECRET_KEY)
    --credentials-file FILE                (env S3GW_CREDENTIALS_FILE)
  The file has one ACCESS_KEY:SECRET_KEY per line; blank lines and lines starting with '#'
  are ignored. Prefer the file or the environment: flags show up in process listings.

  Against a pachd with auth active, the access key is a Pachyderm auth token and the secret
  key must be the same token; pachd's permissions decide what each request may do, and the
  configured key pairs are not used.
"""


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 30600
    pachd_address: str | None = None  # None: start the embedded PFS server
    data_dir: Path = Path("data")
    log_level: str = "info"
    access_log: bool = True
    log_json: bool = False  # one JSON object per log line
    credentials: dict[str, str] = field(default_factory=dict, repr=False)  # access -> secret
    allow_anonymous: bool = False
    shutdown_grace: float = 30.0  # seconds in-flight requests get after SIGTERM/Ctrl-C
    keep_alive: float = 60.0  # seconds an idle client connection stays open
    forwarded_allow_ips: str | None = None  # proxies whose X-Forwarded-Proto/-For are believed
    workers: int = 1  # gateway processes on the port (see gateway.server.workers)
    allowed_hosts: list[str] = field(default_factory=list)  # Host names answered besides ours
    metrics_public: bool = False  # /~/metrics without a signature even with credentials
    session_idle: float = 0  # seconds without an explorer page that end its session (0: off)
    versioning_default: str | None = None  # "Enabled": buckets with no stored status are versioned
    cors_allow_origins: list[str] = field(default_factory=list)  # default CORS rule's origins
    cors_allow_methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    pfsd_process: bool = False  # the embedded PFS server as a child process (not in this one)

    @property
    def embedded(self) -> bool:
        return not self.pachd_address

    @property
    def in_process(self) -> bool:
        """Whether this process hosts the embedded PFS server itself (see gateway.server.inproc):
        the default; with --pfsd-process, or with more than one worker, it is a child process."""
        return self.embedded and not self.pfsd_process and self.workers == 1

    def exposure_error(self) -> str | None:
        """Why this configuration must not start (anonymous on a non-loopback address)."""
        if self.credentials or self.allow_anonymous or is_loopback(self.host):
            return None
        return (f"refusing to listen on {self.host} without credentials: anyone reaching it "
                "could read and write. Configure --access-key/--secret-key, "
                "--credentials-file or S3GW_ACCESS_KEY/S3GW_SECRET_KEY, or pass "
                "--allow-anonymous (env S3GW_ALLOW_ANONYMOUS=1) to accept anonymous access "
                "(e.g. when pachd's own auth is active).")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _items(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> Config:
    env = os.environ.get
    ap = argparse.ArgumentParser(prog="python -m gateway",
                                 description="S3-compatible gateway to Pachyderm PFS",
                                 epilog=CREDENTIALS_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
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
    ap.add_argument("--log-json", action="store_true", default=_truthy(env("S3GW_LOG_JSON")),
                    help="log one JSON object per line (env S3GW_LOG_JSON=1)")
    ap.add_argument("--access-key", default=env("S3GW_ACCESS_KEY") or None,
                    help="access key of one credential pair (env S3GW_ACCESS_KEY)")
    ap.add_argument("--secret-key", default=env("S3GW_SECRET_KEY") or None,
                    help="its secret key (env S3GW_SECRET_KEY)")
    ap.add_argument("--credentials-file", type=Path,
                    default=Path(env("S3GW_CREDENTIALS_FILE")) if env("S3GW_CREDENTIALS_FILE") else None,
                    help="file of ACCESS_KEY:SECRET_KEY lines (env S3GW_CREDENTIALS_FILE)")
    ap.add_argument("--allow-anonymous", action="store_true",
                    default=_truthy(env("S3GW_ALLOW_ANONYMOUS")),
                    help="without credentials, listen on a non-loopback address anyway "
                         "(env S3GW_ALLOW_ANONYMOUS=1)")
    ap.add_argument("--shutdown-grace", type=float, default=float(env("S3GW_SHUTDOWN_GRACE", "30")),
                    help="seconds in-flight requests may take to finish after SIGTERM or Ctrl-C "
                         "(env S3GW_SHUTDOWN_GRACE; default 30)")
    ap.add_argument("--keep-alive", type=float, default=float(env("S3GW_KEEP_ALIVE", "60")),
                    help="seconds an idle keep-alive connection stays open (env S3GW_KEEP_ALIVE; "
                         "default 60). Short ones race with clients reusing them: uvicorn's "
                         "default of 5 s made a pooled client's request meet a closing socket.")
    ap.add_argument("--forwarded-allow-ips", default=env("S3GW_FORWARDED_ALLOW_IPS") or None,
                    help="behind a reverse proxy: the addresses (comma-separated, or *) whose "
                         "X-Forwarded-Proto and X-Forwarded-For headers are believed (env "
                         "S3GW_FORWARDED_ALLOW_IPS; default none: the headers are ignored)")
    ap.add_argument("--workers", type=int, default=int(env("S3GW_WORKERS", "1")),
                    help="gateway processes serving the port, sharing one PFS backend (env "
                         "S3GW_WORKERS; default 1). Each uses one core and ~65 MB: see "
                         "docs/benchmarks.md")
    ap.add_argument("--pfsd-process", action="store_true", default=_truthy(env("S3GW_PFSD_PROCESS")),
                    help="run the embedded PFS server as a child process, reached over gRPC, "
                         "instead of inside the gateway process (env S3GW_PFSD_PROCESS=1); "
                         "always so with --workers above 1")
    ap.add_argument("--allowed-hosts", default=env("S3GW_ALLOWED_HOSTS", ""),
                    help="comma-separated Host names answered besides localhost and this "
                         "listener's addresses (DNS rebinding protection): NAME (any port), "
                         "NAME:PORT, .DOMAIN or *.DOMAIN (it and its subdomains), or * (any: "
                         "turns the check off) (env S3GW_ALLOWED_HOSTS)")
    ap.add_argument("--metrics-public", action="store_true",
                    default=_truthy(env("S3GW_METRICS_PUBLIC")),
                    help="serve /~/metrics without a signature even when credentials are "
                         "configured (env S3GW_METRICS_PUBLIC=1)")
    ap.add_argument("--session-idle-timeout", type=float,
                    default=float(env("S3GW_SESSION_IDLE_TIMEOUT", "0")),
                    help="seconds without an explorer page after which its login ends (env "
                         "S3GW_SESSION_IDLE_TIMEOUT; default 0: only the 8-hour limit)")
    ap.add_argument("--versioning-default", choices=("enabled", "none"),
                    default=(env("S3GW_VERSIONING_DEFAULT") or "none").lower(),
                    help="S3 versioning of buckets that were never given a status with "
                         "PutBucketVersioning (env S3GW_VERSIONING_DEFAULT; default none: "
                         "unversioned, as S3 creates buckets)")
    ap.add_argument("--cors-allow-origin", action="append", metavar="ORIGIN",
                    help="serve browser apps on ORIGIN (e.g. https://app.example.com, "
                         "http://*.example.com, or * for any): the CORS rule of every bucket "
                         "that has none of its own (PutBucketCors). Repeat it, or give a "
                         "comma-separated list (env S3GW_CORS_ALLOW_ORIGINS; default none: "
                         "only buckets' own rules)")
    ap.add_argument("--cors-allow-methods", default=env("S3GW_CORS_ALLOW_METHODS", ",".join(DEFAULT_METHODS)),
                    help="the methods that default rule allows (env S3GW_CORS_ALLOW_METHODS; "
                         "default GET,PUT,POST,DELETE,HEAD)")
    a = ap.parse_args(argv)
    origins = [o for arg in (a.cors_allow_origin or [env("S3GW_CORS_ALLOW_ORIGINS")]) for o in _items(arg)]
    methods = _items(a.cors_allow_methods)
    try:
        default_rules(origins, methods)
    except ValueError as e:
        ap.error(f"--cors-allow-origin/--cors-allow-methods: {e}")
    if a.workers < 1:
        ap.error("--workers must be at least 1")
    credentials: dict[str, str] = {}
    if (a.access_key is None) != (a.secret_key is None):
        ap.error("--access-key and --secret-key (S3GW_ACCESS_KEY/S3GW_SECRET_KEY) go together")
    if a.access_key is not None:
        credentials[a.access_key] = a.secret_key
    if a.credentials_file is not None:
        try:
            credentials.update(load_credentials_file(a.credentials_file))
        except (OSError, ValueError) as e:
            ap.error(f"cannot read the credentials file: {e}")
        if not credentials:
            ap.error(f"the credentials file {a.credentials_file} holds no key pair")
    return Config(host=a.host, port=a.port, pachd_address=a.pachd_address, data_dir=a.data_dir,
                  log_level=a.log_level, access_log=not a.no_access_log, log_json=a.log_json,
                  credentials=credentials,
                  allow_anonymous=a.allow_anonymous, shutdown_grace=a.shutdown_grace,
                  keep_alive=a.keep_alive, forwarded_allow_ips=a.forwarded_allow_ips,
                  workers=a.workers,
                  allowed_hosts=[h.strip() for h in a.allowed_hosts.split(",") if h.strip()],
                  metrics_public=a.metrics_public, session_idle=max(0.0, a.session_idle_timeout),
                  versioning_default="Enabled" if a.versioning_default == "enabled" else None,
                  cors_allow_origins=origins, cors_allow_methods=methods,
                  pfsd_process=a.pfsd_process)
