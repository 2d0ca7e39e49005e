"""What browsers may do with the gateway's origin: Host checking and protective headers.

* **Host checking** (DNS rebinding): a web page whose domain the attacker points at 127.0.0.1
  makes the victim's browser send ``Host: attacker.example`` to the gateway, with the page's
  own origin, so it could read everything an anonymous gateway serves. Only Host names that
  mean this listener are answered: ``localhost`` and loopback addresses (and the listening
  address itself, or any IP literal when listening on a wildcard address), with the listening
  port; ``--allowed-hosts`` adds names. An IP literal cannot be rebound: a browser sending it
  has that address as its origin.
* **Headers on every S3 response**: ``nosniff`` and ``Content-Security-Policy: sandbox``, so
  object bytes (HTML, SVG, anything a browser could run) opened by URL render, if at all, in an
  opaque origin without script: they can never act as a page of the gateway (the explorer
  shares its origin). Swagger UI under ``/~/docs`` gets a CSP of its own that lets it run.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.s3.errors import S3Error

# On every S3 response: object bytes never run as a page of this origin (see module doc).
S3_HEADERS = [(b"x-content-type-options", b"nosniff"),
              (b"content-security-policy", b"default-src 'none'; sandbox")]
# Swagger UI: its own scripts and styles (React sets inline styles), its spec and "Try it out"
# calls to this origin only; never framed.
_DOCS_CSP = ("default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'")
DOCS_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"same-origin")]
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
MAX_DOCS_PAGE = 1 << 20  # the Swagger UI page is a few KiB; never buffer more than this


def misdirected(host: str) -> S3Error:
    return S3Error(400, "InvalidRequest",
                   f"The Host header {host!r} is not a name of this gateway (DNS rebinding "
                   "protection); an operator can add it with --allowed-hosts "
                   "(S3GW_ALLOWED_HOSTS).")


def split_host(value: str) -> tuple[str, int | None]:
    """``name[:port]`` or ``[v6][:port]`` as (lower-case name without brackets, port)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, colon, port = value.rpartition(":")
        if not colon or not port.isdigit():
            name, port = value, ""
    return name.rstrip("."), int(port) if port.isdigit() else None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class HostPolicy:
    """Which ``Host`` headers this listener answers (see the module doc)."""

    def __init__(self, listen_host: str, port: int, allowed: Iterable[str] = ()) -> None:
        self.port = port
        listen = _ip(listen_host.strip("[]"))
        self.any_ip = listen is not None and listen.is_unspecified
        self.listen_ip = listen
        self.any_host = False
        self.names: set[str] = set()  # any port
        self.name_ports: set[tuple[str, int]] = set()
        self.suffixes: list[str] = []  # ".example.com": the domain and everything under it
        # the usual answers, found with one set lookup (this runs on every request)
        self.common = {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        for entry in allowed:
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry == "*":
                self.any_host = True
            elif entry.startswith(("*.", ".")):
                self.suffixes.append("." + entry.lstrip("*."))
            else:
                name, p = split_host(entry)
                (self.name_ports.add((name, p)) if p is not None else self.names.add(name))

    def allows(self, host: str | None) -> bool:
        if host is None or self.any_host or host in self.common:
            return True  # (no Host at all: HTTP/1.0, never a browser)
        name, port = split_host(host)
        if name in self.names or (name, port if port is not None else 80) in self.name_ports:
            return True
        if any(name.endswith(s) or name == s[1:] for s in self.suffixes):
            return True
        if (port if port is not None else 80) != self.port:
            return False
        if name == "localhost":
            return True
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or self.any_ip or ip == self.listen_ip)


def host_of(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value.decode("latin-1")
    return None


async def docs(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve a ``/~/docs`` path with security headers; the HTML page's inline script (Swagger
    UI's start-up call) is allowed by its hash, so no other inline script could run."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def send_headers(message: Message, csp: bytes | None) -> None:
        headers = [*message.get("headers", ()), *DOCS_HEADERS]
        headers.append((b"content-security-policy",
                        csp or _DOCS_CSP.format(hashes="").replace(" ;", ";").encode()))
        await send({**message, "headers": headers})

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            ctype = dict(message.get("headers", ())).get(b"content-type", b"")
            if ctype.startswith(b"text/html"):
                start = message  # held until the page is whole: its CSP depends on it
                return
            await send_headers(message, None)
        elif start is not None:
            chunks.append(message.get("body", b""))
            size = sum(map(len, chunks))
            if message.get("more_body", False) and size <= MAX_DOCS_PAGE:
                return
            page = b"".join(chunks)
            hashes = " ".join(
                "'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
                for m in _INLINE_SCRIPT.findall(page))
            await send_headers(start, _DOCS_CSP.format(hashes=hashes).encode())
            start = None
            await send({"type": "http.response.body", "body": page,
                        "more_body": message.get("more_body", False)})
        else:
            await send(message)

    await app(scope, receive, wrapped)
